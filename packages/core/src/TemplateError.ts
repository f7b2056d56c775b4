/**
 * Errors of templates and batch items, found before any request: a template that cannot be parsed, an input that
 * is not a usable item, items whose variables do not fit the template.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"

// Long templates and keys are cut in messages only; the fields keep the full text.
const excerpt = (text: string, max = 80): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/**
 * A template that cannot be used: unbalanced braces, an empty or invalid variable name, an unknown role, a
 * duplicate template id. `position` is the 0-based character in the template (or in message `messageIndex` of
 * a chat template) where the problem starts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(Template.parse("Review: {review")))
 * error.position // 8
 * error.message  // 'Invalid template "Review: {review": unclosed "{" (at character 9). Write {{ and }} for literal braces'
 * ```
 * @since 0.1.0
 */
export class InvalidTemplate extends Schema.TaggedError<InvalidTemplate>()("InvalidTemplate", {
  template: Schema.String,
  reason: Schema.String,
  position: Schema.optionalKey(Schema.Int),
  messageIndex: Schema.optionalKey(Schema.Int),
  hint: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const where = this.position === undefined && this.messageIndex === undefined
      ? ""
      : ` (${
        [
          this.position === undefined ? undefined : `at character ${this.position + 1}`,
          this.messageIndex === undefined ? undefined : `in message ${this.messageIndex + 1}`
        ].filter((part) => part !== undefined).join(" ")
      })`
    const hint = this.hint === undefined ? "" : `. ${this.hint}`
    return `Invalid template "${excerpt(this.template)}": ${this.reason}${where}${hint}`
  }
}

/**
 * An input that is not a usable batch item: not an object, an id that is empty or not a string/number, a
 * duplicate id, or a variable whose value is not a string, finite number or boolean. `index` is the item's
 * 0-based position in the input.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(Dataset.items([{ id: "a", x: 1 }, { id: "a", x: 2 }])))
 * error.itemId // "a"
 * error.index  // 1
 * ```
 * @since 0.1.0
 */
export class InvalidItem extends Schema.TaggedError<InvalidItem>()("InvalidItem", {
  index: Schema.Int,
  itemId: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    const id = this.itemId === undefined ? "" : ` "${excerpt(this.itemId)}"`
    return `Invalid item${id} at index ${this.index}: ${this.reason}`
  }
}

/**
 * Batch items whose variables do not fit the template(s), found before any request. Every item is checked:
 * `itemId`, `missing` and `unexpected` describe the first bad item, `badItems` counts all of them and
 * `badItemIds` lists the first few. `expected` is the set of variables every item must give.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const error = Effect.runSync(Effect.flip(Dataset.validate(template, [{ id: "r1", text: "great" }])))
 * if (error._tag === "TemplateMismatch") {
 *   error.itemId     // "r1"
 *   error.missing    // ["review"]
 *   error.unexpected // ["text"]
 * }
 * ```
 * @since 0.1.0
 */
export class TemplateMismatch extends Schema.TaggedError<TemplateMismatch>()("TemplateMismatch", {
  itemId: Schema.String,
  missing: Schema.Array(Schema.String),
  unexpected: Schema.Array(Schema.String),
  expected: Schema.Array(Schema.String),
  template: Schema.String,
  badItems: Schema.Int,
  totalItems: Schema.Int,
  badItemIds: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const list = (keys: ReadonlyArray<string>) => keys.map((key) => excerpt(key, 40)).join(", ")
    const problems = [
      this.missing.length > 0 ? `missing ${list(this.missing)}` : undefined,
      this.unexpected.length > 0 ? `unexpected ${list(this.unexpected)}` : undefined
    ].filter((part) => part !== undefined).join("; ")
    const others = this.badItems > 1
      ? ` ${this.badItems} of ${this.totalItems} items do not fit (${list(this.badItemIds)}${
        this.badItems > this.badItemIds.length ? ", …" : ""
      }).`
      : ""
    const expected = this.expected.length > 0 ? `the variables ${list(this.expected)}` : "no variables"
    const fix = this.itemId === ""
      ? ` Pass a value for each of ${list(this.expected)}.`
      : this.unexpected.length > 0
      ? ` Give each item exactly ${expected}: rename or drop the other keys, or pass allowExtra: true to keep them as provenance.`
      : ` Give each item ${expected}.`
    const subject = this.itemId === "" ? "The variables do" : `Item "${excerpt(this.itemId)}" does`
    return `${subject} not fit the template "${excerpt(this.template)}": ${problems}.${others}${fix}`
  }
}
