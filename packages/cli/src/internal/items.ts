/**
 * From input records to rendered batch items, with every complaint pointing at `file:line`.
 *
 * @internal
 */
import { type InvalidItem, Template, type TemplateMismatch } from "@capstan/core"
import { Effect, Schema } from "effect"
import { InputError } from "../Errors.js"
import type * as Input from "../Input.js"

/** A rendered item and the line its record starts on. */
export interface Located {
  readonly item: Template.RenderedItem
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

/**
 * Checks every record against the template before anything is sent, and renders them. A CSV header that lacks a
 * variable of the template fails at line 1; a record that lacks one, has a value that is not a string, number
 * or boolean, or repeats an id, fails at its own line.
 */
export const render = (
  input: Input.Input,
  template: Template.Template,
  options: { readonly idField: string }
): Effect.Effect<ReadonlyArray<Located>, InputError> =>
  Effect.gen(function*() {
    if (input.columns !== undefined) {
      const absent = template.variables.filter((name) => !input.columns!.includes(name))
      if (absent.length > 0) {
        return yield* new InputError({
          file: input.file,
          line: 1,
          reason: `the header has no column ${quoted(absent)}, which the template uses`,
          hint: `Columns: ${input.columns.join(", ")}. Template variables: ${template.variables.join(", ")}`
        })
      }
    }
    const used = new Set([...template.variables, options.idField])
    const inputs = input.records.map((record) => variablesOf(record.fields, used))
    const items = yield* Template.validate(template, inputs, { idField: options.idField, allowExtra: true }).pipe(
      Effect.catchTags({
        InvalidItem: (error) => Effect.fail(invalidItem(input, error)),
        TemplateMismatch: (error) =>
          Effect.flatMap(
            Effect.orDie(Template.items(inputs, { idField: options.idField })),
            (all) => Effect.fail(mismatch(input, error, all.findIndex((item) => item.id === error.itemId)))
          )
      })
    )
    return items.map((item, index) => ({ item, line: input.records[index]!.line }))
  })

const lineOf = (input: Input.Input, index: number): number | undefined => input.records[index]?.line

const invalidItem = (input: Input.Input, error: InvalidItem): InputError => {
  const line = lineOf(input, error.index)
  // The reason points at other items by index; the user knows them by line.
  const reason = error.reason.replace(/at index (\d+)/g, (whole, index: string) => {
    const other = lineOf(input, Number(index))
    return other === undefined ? whole : `on line ${other}`
  })
  return new InputError({
    file: input.file,
    ...(line === undefined ? {} : { line }),
    reason: error.itemId === undefined ? reason : `item "${error.itemId}": ${reason}`
  })
}

const mismatch = (input: Input.Input, error: TemplateMismatch, index: number): InputError => {
  const line = lineOf(input, index)
  const others = error.badItems > 1
    ? `; ${error.badItems - 1} more of the ${error.totalItems} items have the same problem`
    : ""
  return new InputError({
    file: input.file,
    ...(line === undefined ? {} : { line }),
    reason: `item "${error.itemId}" has no ${quoted(error.missing)}, which the template uses${others}`,
    hint: `Every item needs ${quoted(error.expected)}`
  })
}
