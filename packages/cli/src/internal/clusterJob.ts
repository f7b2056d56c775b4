/**
 * The job `capstan runner` handles and `capstan batch --cluster` sends: what a local `capstan batch` decides for each
 * item (how answers are parsed, whether the parse model's instructions go with each item, the requests in flight at
 * once) as plain JSON settings sent with every chunk. The generator identifier (model, params, `n`) travels with the
 * chunk itself; runners take keys from their own environment.
 *
 * @internal
 */
import { ClusterBatch } from "@capstan/cluster"
import { Model } from "@capstan/core"
import { Effect, type FileSystem, Schema } from "effect"
import { InputError, type UsageError } from "../Errors.js"
import * as Input from "../Input.js"
import * as Parse from "./parse.js"
import { instructs } from "./run.js"

/** How answers are parsed: a schema file travels as its document (runners do not have the coordinator's files). */
const ParseSetting = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("json") }),
  Schema.Struct({ kind: Schema.Literal("xml"), tag: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("schema"), name: Schema.String, document: Schema.Json })
])
type ParseSetting = typeof ParseSetting.Type

/** The settings of a `capstan batch --cluster` run, sent with each chunk. */
export const Settings = Schema.Struct({
  parse: Schema.NullOr(ParseSetting),
  /** `--concurrency`: requests in flight at once for one chunk on a runner (null: the engine's default). */
  concurrency: Schema.NullOr(Schema.Int)
})
export type Settings = typeof Settings.Type

/** The model of a parse setting (a runner's side). */
const modelOf = (setting: ParseSetting): Model.Model<unknown> => {
  switch (setting.kind) {
    case "json":
      return Model.json(Schema.Record(Schema.String, Schema.Json), { name: "json" })
    case "xml":
      return Model.xml(setting.tag, Schema.String)
    case "schema":
      return Parse.fromSchemaDocument(setting.document, setting.name)
  }
}

/** The job of the `capstan` command: both `capstan runner` and `capstan batch --cluster` use it. */
export const Job = ClusterBatch.makeWith("capstan-cli", {
  settings: Settings,
  options: (settings) => {
    const model = settings.parse === null ? undefined : modelOf(settings.parse)
    return {
      ...(model === undefined ? {} : { parse: model, instruct: instructs(model) }),
      ...(settings.concurrency === null ? {} : { concurrency: settings.concurrency })
    }
  }
})

/**
 * The parse setting of a `--parse` value (the coordinator's side): checked as a local run checks it, a schema file
 * read into its document.
 */
export const parseSettingOf = (
  spec: string
): Effect.Effect<ParseSetting, InputError | UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    // The same checks, and errors, as a local run's.
    yield* Parse.model(spec)
    if (spec === "json") return { kind: "json" } as const
    if (spec.startsWith("xml:")) return { kind: "xml", tag: spec.slice(4) } as const
    const file = spec.slice(7)
    const text = yield* Input.readText(file)
    const document = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))(text).pipe(
      Effect.mapError((error) => new InputError({ file, reason: `malformed JSON: ${error.message}` }))
    )
    return { kind: "schema", name: Parse.schemaName(file), document } as const
  })
