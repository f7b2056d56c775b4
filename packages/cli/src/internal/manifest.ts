/**
 * What defines a run, recorded next to its results file (`results.jsonl.run.json`): the template, the generator
 * (provider and model), the params, `n`, how answers are parsed and the id field. A resumed run must match it, so
 * one file never mixes two runs; engine settings (concurrency, rpm, retries, keys, endpoints, timeouts) may change.
 *
 * @internal
 */
import { GenerateParams, type Identifier, type Model, Template } from "@capstan/core"
import { Effect, FileSystem, Option, Schema } from "effect"
import { InputError, RunChanged } from "../Errors.js"

/** The manifest file of a results file. */
export const manifestOf = (file: string): string => `${file}.run.json`

const Parse = Schema.Struct({
  kind: Schema.Literals(["XmlModel", "JsonModel"]),
  name: Schema.String,
  /** The JSON Schema a JSON model asks for: a schema file's content, not its path. */
  schema: Schema.optionalKey(Schema.Json)
})

/** What defines a run. */
export const Definition = Schema.Struct({
  template: Template.Source,
  /** `provider!model`: settings (keys, endpoints, limits) are not part of a run's definition. */
  generator: Schema.String,
  /** The params sent, `timeout` left out (it changes how long to wait, not what is asked). */
  params: Schema.Record(Schema.String, Schema.Json),
  n: Schema.Int,
  parse: Schema.NullOr(Parse),
  idField: Schema.String
})
export type Definition = typeof Definition.Type

const Manifest = Schema.Struct({
  capstan: Schema.Literal(1),
  createdAt: Schema.String,
  definition: Definition
})

const ManifestJson = Schema.fromJsonString(Manifest)
const encodeParams = Schema.encodeSync(GenerateParams.GenerateParams)

/** The definition of a run from what the command was given. */
export const definitionOf = (options: {
  readonly template: Template.Template
  readonly identifier: Identifier.Identifier
  readonly model: Model.Model<unknown> | undefined
  readonly idField: string
}): Definition => {
  const { timeout: _timeout, ...params } = encodeParams(options.identifier.params) as Record<string, Schema.Json>
  const model = options.model
  return {
    template: options.template.source,
    generator: `${options.identifier.provider}!${options.identifier.model}`,
    params,
    n: options.identifier.params.n ?? 1,
    parse: model === undefined
      ? null
      : {
        kind: model._tag,
        name: model.name,
        ...(model.structured === undefined ? {} : { schema: model.structured.schema as Schema.Json })
      },
    idField: options.idField
  }
}

/** JSON with object keys sorted: two values are the same when their canonical texts are. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === "object" && inner !== null && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner) ?? "undefined"

const shown = (value: unknown): string => {
  const text = value === undefined ? "unset" : JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 59)}…` : text
}

/** What differs between the recorded definition and this run's, one line each (`what: before → now`). */
export const differences = (before: Definition, now: Definition): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const compare = (what: string, a: unknown, b: unknown) => {
    if (canonical(a) !== canonical(b)) lines.push(`${what}: ${shown(a)} → ${shown(b)}`)
  }
  compare("template", before.template, now.template)
  compare("generator", before.generator, now.generator)
  for (const key of new Set([...Object.keys(before.params), ...Object.keys(now.params)])) {
    if (key !== "n") compare(`params.${key}`, before.params[key], now.params[key])
  }
  compare("n", before.n, now.n)
  compare("parse", before.parse === null ? "none" : before.parse.name, now.parse === null ? "none" : now.parse.name)
  if (before.parse !== null && now.parse !== null && before.parse.name === now.parse.name) {
    compare("parse schema", before.parse.schema, now.parse.schema)
  }
  compare("id field", before.idField, now.idField)
  return lines
}

/** The recorded definition of the run that wrote `file`, if there is one. */
export const read = (file: string): Effect.Effect<Option.Option<Definition>, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = manifestOf(file)
    if (!(yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false)))) return Option.none()
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        new InputError({ file: path, reason: `cannot read the run manifest: ${error.message}` })
      )
    )
    return yield* Schema.decodeUnknownEffect(ManifestJson)(text).pipe(
      Effect.map((manifest) => Option.some(manifest.definition)),
      Effect.mapError(() =>
        new InputError({
          file: path,
          reason: "this is not a capstan run manifest",
          hint:
            "It records what the run that wrote the results file asked; remove it only if you know the rows match this run"
        })
      )
    )
  })

/** Records the definition of the run writing `file`, replacing the file in one rename. */
export const write = (file: string, definition: Definition): Effect.Effect<void, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = manifestOf(file)
    const next = `${path}.writing`
    const text = Schema.encodeSync(ManifestJson)({ capstan: 1, createdAt: new Date().toISOString(), definition })
    yield* fs.writeFileString(next, `${text}\n`).pipe(
      Effect.andThen(fs.rename(next, path)),
      Effect.mapError((error) =>
        new InputError({ file: path, reason: `cannot write the run manifest: ${error.message}` })
      )
    )
  })

/**
 * Checks that this run matches the one recorded next to `file` (none recorded: nothing to check), failing with
 * {@link RunChanged} before any request; `force` accepts a difference and records this run instead.
 */
export const check = (
  file: string,
  definition: Definition,
  options: { readonly force: boolean }
): Effect.Effect<void, RunChanged | InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const recorded = yield* read(file)
    if (Option.isNone(recorded)) return
    const changed = differences(recorded.value, definition)
    if (changed.length > 0 && !options.force) return yield* new RunChanged({ file, differences: changed })
  })
