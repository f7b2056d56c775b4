/**
 * From input records to rendered batch items, with every complaint pointing at `file:line`. The input is read
 * twice, record by record: {@link check} validates every item before anything is sent, keeping only each item's
 * id and line; {@link stream} then reads it again and renders each item as it is needed. Memory stays flat in
 * the number of items, but for those two small values.
 *
 * @internal
 */
import { Dataset, type InvalidItem, Template, type TemplateMismatch } from "@capstan/core"
import { Effect, type FileSystem, Result, Schema, Stream } from "effect"
import { InputError } from "../Errors.js"
import * as Input from "../Input.js"

/** A rendered item and the line its record starts on. */
export interface Located {
  readonly item: Dataset.RenderedItem
  readonly line: number
}

const isValue = Schema.is(Template.Value)

const quoted = (names: ReadonlyArray<string>): string => names.map((name) => `"${name}"`).join(", ")

/**
 * The variables of a record: its fields, less the unused ones that cannot be variables (nested objects, arrays,
 * null). Those cannot be recorded as provenance and the template does not need them, so they are left out
 * rather than failing the whole input.
 */
const variablesOf = (
  fields: Readonly<Record<string, Schema.Json>>,
  used: ReadonlySet<string>
): Record<string, Schema.Json> => {
  const kept: Record<string, Schema.Json> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (used.has(key) || isValue(value)) kept[key] = value
  }
  return kept
}

/** A checker of the records' variables against the template; a fresh one per pass (derived ids count occurrences). */
const checkerFor = (template: Template.Template, idField: string) => {
  const used = new Set([...template.variables, idField])
  const { check, done } = Dataset.checker(template, { idField, allowExtra: true })
  return { check: (record: Input.InputRecord) => check(variablesOf(record.fields, used)), done }
}

/**
 * Checks every record of the input against the template before anything is sent, reading the file once, and
 * returns the id of every item in input order. A CSV header that lacks a variable of the template fails at
 * line 1; a record that lacks one, has a value that is not a string, number or boolean, or repeats an id, fails
 * at its own line. The errors and their order are {@link Dataset.validate}'s: a file that does not parse
 * first, then the header, then an invalid item, a duplicate id, and last the items that lack a variable
 * (counted over the whole file).
 */
export const check = (
  file: string,
  template: Template.Template,
  options: Input.ReadOptions & { readonly idField: string }
): Effect.Effect<ReadonlyArray<string>, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const columns = yield* Input.header(file, options)
    const checker = checkerFor(template, options.idField)
    const ids: Array<string> = []
    // Each item's line: an error found at the end (a duplicate id) names an earlier item by its index.
    const lines: Array<number> = []
    let firstMismatchLine: number | undefined
    yield* Stream.runForEachArray(Input.stream(file, options), (records) =>
      Effect.sync(() => {
        for (const record of records) {
          lines.push(record.line)
          const item = checker.check(record)
          if (Result.isSuccess(item)) ids.push(item.success.id)
          else if (item.failure._tag === "TemplateMismatch") firstMismatchLine ??= record.line
        }
      }))
    if (columns !== undefined) {
      const absent = template.variables.filter((name) => !columns.includes(name))
      if (absent.length > 0) {
        return yield* new InputError({
          file,
          line: 1,
          reason: `the header has no column ${quoted(absent)}, which the template uses`,
          hint: `Columns: ${columns.join(", ")}. Template variables: ${template.variables.join(", ")}`
        })
      }
    }
    const done = checker.done()
    if (Result.isFailure(done)) {
      const error = done.failure
      return yield* error._tag === "InvalidItem"
        ? invalidItem(file, lines, error)
        : mismatch(file, firstMismatchLine, error)
    }
    return ids
  })

/**
 * The items of a checked input ({@link check} gave `ids`), read again record by record and rendered as they are
 * needed; only those whose id passes `include` are rendered and emitted. Fails if the file no longer holds the
 * items that were checked.
 */
export const stream = (
  file: string,
  template: Template.Template,
  options: Input.ReadOptions & {
    readonly idField: string
    readonly ids: ReadonlyArray<string>
    readonly include: (id: string) => boolean
  }
): Stream.Stream<Located, InputError, FileSystem.FileSystem> =>
  Stream.suspend(() => {
    const checker = checkerFor(template, options.idField)
    const changed = (line?: number) =>
      new InputError({
        file,
        ...(line === undefined ? {} : { line }),
        reason: "the file changed after its items were checked",
        hint: "Run the command again; --resume keeps the rows already written"
      })
    let index = 0
    return Input.stream(file, options).pipe(
      Stream.mapArrayEffect((records) => {
        const located: Array<Located> = []
        for (const record of records) {
          const item = checker.check(record)
          if (Result.isFailure(item) || item.success.id !== options.ids[index]) return Effect.fail(changed(record.line))
          index++
          if (options.include(item.success.id)) {
            located.push({ item: Dataset.renderItem(template, item.success), line: record.line })
          }
        }
        return Effect.succeed([located] as const)
      }),
      Stream.flattenIterable,
      Stream.concat(Stream.suspend(() => (index === options.ids.length ? Stream.empty : Stream.fail(changed()))))
    )
  })

const invalidItem = (file: string, lines: ReadonlyArray<number>, error: InvalidItem): InputError => {
  const line = lines[error.index]
  // The reason points at other items by index; the user knows them by line.
  const reason = error.reason.replace(/at index (\d+)/g, (whole, index: string) => {
    const other = lines[Number(index)]
    return other === undefined ? whole : `on line ${other}`
  })
  return new InputError({
    file,
    ...(line === undefined ? {} : { line }),
    reason: error.itemId === undefined ? reason : `item "${error.itemId}": ${reason}`
  })
}

const mismatch = (file: string, line: number | undefined, error: TemplateMismatch): InputError => {
  const others = error.badItems > 1
    ? `; ${error.badItems - 1} more of the ${error.totalItems} items have the same problem`
    : ""
  return new InputError({
    file,
    ...(line === undefined ? {} : { line }),
    reason: `item "${error.itemId}" has no ${quoted(error.missing)}, which the template uses${others}`,
    hint: `Every item needs ${quoted(error.expected)}`
  })
}
