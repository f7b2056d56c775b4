/**
 * Batch data for templates: items (an id and the variables of one input), their ids, checking every item against
 * the templates before anything is sent, and rendering templates × items into rows with their provenance.
 *
 * - Inputs are plain rows (`{ id: "r1", review: "..." }`) or items (`{ id?, vars }`). An item without an id gets
 *   a stable one derived from a hash of its variables, the same in any process (see {@link items}), so that a
 *   resumed run finds its rows again.
 * - {@link validate} (one template) and {@link cross} (every template × every argument set) check all items
 *   first and report the first bad one with how many are bad; {@link checker} and {@link renderItem} do the same
 *   one input at a time, for inputs too large to hold.
 * - The rows ({@link RenderedItem}) are what the batch engine sends: the item id, the template as written, the
 *   variables and the rendered messages. The template language itself is `Template`'s; this module only uses it.
 *
 * @since 0.2.0
 */
import { Effect, Result, Schema } from "effect"
import { dual } from "effect/Function"
import { InvalidItem, InvalidTemplate, TemplateMismatch } from "./Errors.js"
import * as ids from "./internal/dataset.js"
import * as internal from "./internal/template.js"
import { trusted } from "./internal/trusted.js"
import * as Message from "./Message.js"
import * as Template from "./Template.js"

// Rows are valid by construction (items were checked, templates compiled): they are built without parsing them
// again on this hot path (see internal/trusted).

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

/**
 * One batch item: an id and its variables.
 *
 * @example
 * ```ts
 * import type { Dataset } from "@capstan/core"
 *
 * const item: Dataset.Item<"review"> = { id: "r1", vars: { review: "Great" } }
 * ```
 * @since 0.2.0
 */
export interface Item<Names extends string = string> {
  readonly id: string
  readonly vars: Template.Vars<Names>
}

/**
 * What {@link items} accepts: an {@link Item}-shaped `{ id?, vars }` (an object whose only keys are `vars`
 * and optionally `id`), or a plain row whose keys are the variables, its id under `idField`.
 *
 * @example
 * ```ts
 * import type { Dataset } from "@capstan/core"
 *
 * const inputs: ReadonlyArray<Dataset.ItemInput> = [{ id: "r1", review: "Great" }, { vars: { review: "Bad" } }]
 * ```
 * @since 0.2.0
 */
export type ItemInput =
  | { readonly id?: string | number; readonly vars: Readonly<Record<string, unknown>> }
  | Readonly<Record<string, unknown>>

/**
 * Options of {@link items}.
 *
 * @example
 * ```ts
 * import { Dataset } from "@capstan/core"
 *
 * Dataset.items([{ key: "k1", review: "Great" }], { idField: "key" }) // one item, id "k1"
 * ```
 * @since 0.2.0
 */
export interface ItemOptions {
  /** The key of a plain row that holds its id (default `"id"`); that key is not a variable. */
  readonly idField?: string
}

/**
 * Options of {@link validate} and {@link cross}.
 *
 * @example
 * ```ts
 * import { Dataset, Template } from "@capstan/core"
 *
 * // "source" is no variable of the template: kept in the row's vars instead of failing
 * Dataset.validate(Template.make("Review: {review}"), [{ review: "Great", source: "web" }], { allowExtra: true })
 * ```
 * @since 0.2.0
 */
export interface ValidateOptions extends ItemOptions {
  /** Keep keys no template uses, as provenance in the rows, instead of failing (default `false`). */
  readonly allowExtra?: boolean
}

const isPlainObject = (u: unknown): u is Readonly<Record<string, unknown>> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const isItemShaped = (u: Readonly<Record<string, unknown>>): boolean => {
  if (!isPlainObject(u.vars)) return false
  for (const key in u) {
    if (key !== "vars" && key !== "id") return false
  }
  return true
}

interface NormalizedItem {
  readonly given: string | undefined
  readonly vars: Record<string, Template.Value>
}

/** One input's id (if it gives one) and variables, or why it is not an item. */
const normalizeItem = (
  input: unknown,
  index: number,
  idField: string
): Result.Result<NormalizedItem, InvalidItem> => {
  if (!isPlainObject(input)) {
    const got = internal.describeValue(input)
    return Result.fail(new InvalidItem({ index, reason: `expected an object of variables, got ${got}` }))
  }
  const shaped = isItemShaped(input)
  const rawId = shaped ? input.id : input[idField]
  let given: string | undefined
  if (typeof rawId === "string" && rawId.length > 0) given = rawId
  else if (typeof rawId === "number" && Number.isFinite(rawId)) given = String(rawId)
  else if (rawId !== undefined) {
    const field = shaped ? "id" : idField
    const got = rawId === "" ? "empty" : internal.describeValue(rawId)
    return Result.fail(
      new InvalidItem({ index, reason: `the id field "${field}" is ${got}; ids are non-empty strings or numbers` })
    )
  }
  const source = shaped ? input.vars as Readonly<Record<string, unknown>> : input
  const vars: Record<string, Template.Value> = {}
  for (const key in source) {
    if (!shaped && key === idField) continue
    const value = source[key]
    if (value === undefined) continue
    if (!internal.isValue(value)) {
      const itemId = given === undefined ? {} : { itemId: given }
      return Result.fail(new InvalidItem({ index, ...itemId, reason: internal.invalidValueReason(key, value) }))
    }
    vars[key] = value
  }
  return Result.succeed({ given, vars })
}

/**
 * Normalizes batch inputs to items with ids. An input is a plain row (`{ id: "r1", review: "..." }`, the id
 * under `idField`, default `"id"`, which is not a variable) or an item (`{ id?, vars }`). Keys whose value is
 * `undefined` are dropped. Fails with {@link InvalidItem} for a non-object, an empty or non-string/number id, a
 * value that is not a string, finite number or boolean, or a duplicate id.
 *
 * An item without an id gets a stable derived id: 16 hex digits of a 64-bit hash of the canonical JSON of its
 * variables (keys sorted). The same variables give the same id in any process, whatever the key order. Items
 * with equal variables are told apart by occurrence, in input order: `<hash>`, `<hash>-2`, `<hash>-3`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset } from "@capstan/core"
 *
 * const items = Effect.runSync(Dataset.items([{ id: 7, review: "Great" }, { review: "Bad" }]))
 * items[0]?.id // "7"
 * items[1]?.id // 16 hex digits, the same on every run
 * ```
 * @since 0.2.0
 */
export const items = (
  inputs: Iterable<ItemInput>,
  options?: ItemOptions
): Effect.Effect<ReadonlyArray<Item>, InvalidItem> =>
  Effect.suspend(() =>
    Effect.fromResult(
      // With no template there is nothing to mismatch: only an InvalidItem can fail.
      checkAll([], inputs, { ...options, allowExtra: true }) as Result.Result<ReadonlyArray<Item>, InvalidItem>
    )
  )

// ---------------------------------------------------------------------------------------------
// Validation: templates × items → rendered rows
// ---------------------------------------------------------------------------------------------

/**
 * A rendered batch item with its provenance: the item id, the template (its id if it has one, and its source
 * as written), the item's variables and the rendered messages. The batch engine turns these into result
 * rows; they encode to JSON with Schema.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const [row] = Effect.runSync(Dataset.validate(Template.make("Hi {name}"), [{ id: "a", name: "Ada" }]))
 * Schema.encodeSync(Dataset.RenderedItem)(row!)
 * // { id: "a", template: "Hi {name}", vars: { name: "Ada" }, messages: [{ role: "user", content: "Hi Ada" }] }
 * ```
 * @since 0.2.0
 */
export class RenderedItem extends Schema.Class<RenderedItem>("@capstan/core/Dataset/RenderedItem")({
  id: Schema.String,
  templateId: Schema.optionalKey(Schema.String),
  template: Template.Source,
  vars: Schema.Record(Schema.String, Template.Value),
  messages: Schema.Array(Message.Message)
}) {}

const MAX_LISTED_IDS = 10

/**
 * Checks batch inputs one at a time, keeping only what spans them: the ids seen (for duplicates and derived-id
 * occurrences), the first problem of each kind and how many items do not fit. Made by {@link checker}.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const check = Dataset.checker(Template.make("Review: {review}"))
 * Result.isSuccess(check.check({ id: "r1", review: "Great" })) // true
 * Result.isFailure(check.check({ id: "r2", text: "Bad" })) // true: no "review"
 * Result.isFailure(check.done()) // true: the TemplateMismatch validate reports, counting both items
 * ```
 * @since 0.2.0
 */
export interface Checker {
  /**
   * Normalizes the next input to an item (see {@link items}) and checks it against the templates: the item, or
   * what is wrong with this one input. Keep checking after a bad one: {@link Checker.done} counts them all.
   */
  readonly check: (input: unknown) => Result.Result<Item, InvalidItem | TemplateMismatch>
  /**
   * After the last input: how many were checked, or the error {@link validate} reports for all of them (the
   * first invalid input, else the first duplicate id, else the first item that does not fit, with the count).
   */
  readonly done: () => Result.Result<number, InvalidItem | TemplateMismatch>
}

/**
 * A {@link Checker} for a stream of inputs to the given templates (all of which apply to each item): the same
 * rules, ids and errors as {@link validate} and {@link cross}, one input at a time, so that a batch too large to
 * hold can be checked in full before anything is sent and then rendered item by item with {@link renderItem}.
 * Make a fresh one per pass over the inputs: derived ids depend on the inputs seen before.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const check = Dataset.checker(template, { allowExtra: true })
 * for (const input of [{ review: "Great" }, { review: "Great" }]) {
 *   const item = check.check(input)
 *   if (Result.isSuccess(item)) console.log(item.success.id) // "<hash>", then "<hash>-2"
 * }
 * check.done() // Result.succeed(2)
 * ```
 * @since 0.2.0
 */
export const checker = (
  templates: Template.Template<string> | ReadonlyArray<Template.Template<string>>,
  options?: ValidateOptions
): Checker => {
  const list: ReadonlyArray<Template.Template<string>> = Template.isTemplate(templates) ? [templates] : templates
  const idField = options?.idField ?? "id"
  const allowExtra = options?.allowExtra === true
  const expected = [...new Set(list.flatMap((t) => t.variables))]
  const expectedSet = new Set(expected)
  const assign = ids.makeIdAssigner()
  let count = 0
  let invalid: InvalidItem | undefined
  let clash: InvalidItem | undefined
  let first: { readonly id: string; readonly missing: Array<string>; readonly unexpected: Array<string> } | undefined
  let badItems = 0
  const badItemIds: Array<string> = []

  const mismatch = (
    itemId: string,
    missing: ReadonlyArray<string>,
    unexpected: ReadonlyArray<string>,
    counts: { readonly badItems: number; readonly totalItems: number; readonly badItemIds: ReadonlyArray<string> }
  ) => {
    const needy = list.find((t) => missing.some((name) => t.variables.includes(name))) ?? list[0]
    return new TemplateMismatch({
      itemId,
      missing,
      unexpected,
      expected,
      template: needy === undefined ? "" : internal.describeSource(needy.source),
      ...counts
    })
  }

  const check = (input: unknown): Result.Result<Item, InvalidItem | TemplateMismatch> => {
    const index = count++
    const normalized = normalizeItem(input, index, idField)
    if (Result.isFailure(normalized)) {
      invalid ??= normalized.failure
      return Result.fail(normalized.failure)
    }
    const { given, vars } = normalized.success
    const id = assign(index, given, () => ids.hash(ids.canonicalJson(vars)))
    if (Result.isFailure(id)) {
      const error = new InvalidItem({
        index,
        itemId: id.failure.id,
        reason: `duplicate id: the item at index ${id.failure.first} has it too; ids must be unique`
      })
      clash ??= error
      return Result.fail(error)
    }
    let missing: Array<string> | undefined
    let unexpected: Array<string> | undefined
    for (const name of expected) {
      if (vars[name] === undefined) (missing ??= []).push(name)
    }
    if (!allowExtra) {
      for (const key in vars) {
        if (!expectedSet.has(key)) (unexpected ??= []).push(key)
      }
    }
    if (missing === undefined && unexpected === undefined) return Result.succeed({ id: id.success, vars })
    badItems++
    if (badItemIds.length < MAX_LISTED_IDS) badItemIds.push(id.success)
    first ??= { id: id.success, missing: missing ?? [], unexpected: unexpected ?? [] }
    return Result.fail(
      mismatch(id.success, missing ?? [], unexpected ?? [], { badItems: 1, totalItems: 1, badItemIds: [id.success] })
    )
  }

  const done = (): Result.Result<number, InvalidItem | TemplateMismatch> => {
    // The order validate has always reported in: an invalid input, then a duplicate id, then a mismatch.
    const error = invalid ?? clash ??
      (first === undefined
        ? undefined
        : mismatch(first.id, first.missing, first.unexpected, {
          badItems,
          totalItems: count,
          badItemIds: [...badItemIds]
        }))
    return error === undefined ? Result.succeed(count) : Result.fail(error)
  }

  return { check, done }
}

/** Checks every input with one {@link checker}: all the items, or the error for them all. */
const checkAll = (
  templates: ReadonlyArray<Template.Template<string>>,
  inputs: Iterable<unknown>,
  options: ValidateOptions | undefined
): Result.Result<ReadonlyArray<Item>, InvalidItem | TemplateMismatch> => {
  const { check, done } = checker(templates, options)
  const list: Array<Item> = []
  for (const input of inputs) {
    const item = check(input)
    if (Result.isSuccess(item)) list.push(item.success)
  }
  return Result.map(done(), () => list)
}

// Template.render checks the item's values again (a loop over the template's variables, nothing allocated): that
// is what refuses an item renderItem is given unchecked, and costs checked ones next to nothing.
const renderedItem = (
  id: string,
  templateId: string | undefined,
  template: Template.Template<string>,
  item: Item
): RenderedItem =>
  new RenderedItem({
    id,
    ...(templateId === undefined ? {} : { templateId }),
    template: template.source,
    vars: item.vars,
    messages: Template.render(template, item.vars)
  }, trusted)

/**
 * Renders one checked item (from a {@link checker}) with the template, as {@link validate} renders each item:
 * the row's id is the item's, its template id the template's.
 *
 * Throws {@link TemplateMismatch} / {@link InvalidItem} only when the item was not checked against this template
 * and a variable is missing or not a string, number or boolean.
 *
 * @example
 * ```ts
 * import { Dataset, Template } from "@capstan/core"
 *
 * const template = Template.make("Hi {name}")
 * Dataset.renderItem(template, { id: "a", vars: { name: "Ada" } }).messages[0]?.content // "Hi Ada"
 * template.pipe(Dataset.renderItem({ id: "b", vars: { name: "Bo" } })).id // "b"
 * ```
 * @since 0.2.0
 */
export const renderItem: {
  <Names extends string>(item: Item<Names>): (self: Template.Template<Names>) => RenderedItem
  <Names extends string>(self: Template.Template<Names>, item: Item<NoInfer<Names>>): RenderedItem
} = dual(
  2,
  (self: Template.Template<string>, item: Item): RenderedItem => renderedItem(item.id, self.id, self, item)
)

/**
 * Normalizes inputs to items (see {@link items}) and checks EVERY item against the template before anything
 * is sent: an item must give each variable of the template, and (unless `allowExtra`) nothing else. Fails with
 * {@link TemplateMismatch} naming the first bad item, its missing and unexpected keys, and how many items are
 * bad; or with {@link InvalidItem}. On success, every item rendered, in input order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const rows = Effect.runSync(Dataset.validate(template, [{ id: "r1", review: "Great" }]))
 * rows[0]?.messages[0]?.content // "Review: Great"
 *
 * const error = Effect.runSync(Effect.flip(template.pipe(Dataset.validate([{ id: "r2", text: "Bad" }]))))
 * error.message // 'Item "r2" does not fit the template "Review: {review}": missing review; unexpected text. ...'
 * ```
 * @since 0.2.0
 */
export const validate: {
  (
    inputs: Iterable<ItemInput>,
    options?: ValidateOptions
  ): (self: Template.Template<string>) => Effect.Effect<ReadonlyArray<RenderedItem>, InvalidItem | TemplateMismatch>
  (
    self: Template.Template<string>,
    inputs: Iterable<ItemInput>,
    options?: ValidateOptions
  ): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidItem | TemplateMismatch>
} = dual(
  (args) => Template.isTemplate(args[0]),
  (self: Template.Template<string>, inputs: Iterable<ItemInput>, options?: ValidateOptions) =>
    Effect.suspend(() =>
      Effect.fromResult(
        Result.map(
          checkAll([self], inputs, options),
          (list) => list.map((item) => renderedItem(item.id, self.id, self, item))
        )
      )
    )
)

/**
 * Every template × every argument set, in template-then-arguments order (batch-prompt's order), validated
 * like {@link validate} before anything is sent: each argument set must give the variables of all templates
 * (they are all applied to it), and nothing else unless `allowExtra`.
 *
 * Row ids are `<templateId>:<itemId>`. A template's id is its `id` option, or 8 hex digits of a hash of its
 * source (so inserting or reordering templates does not change the ids of the others; equal sources are told
 * apart as `<hash>-2`, ...). Item ids follow {@link items}. Two templates given the same id fail with
 * {@link InvalidTemplate}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 *
 * const rows = Effect.runSync(Dataset.cross(
 *   [
 *     Template.make("Translate to French: {text}", { id: "fr" }),
 *     Template.make("Translate to German: {text}", { id: "de" })
 *   ],
 *   [{ id: "a", text: "hello" }, { id: "b", text: "bye" }]
 * ))
 * rows.map((row) => row.id) // ["fr:a", "fr:b", "de:a", "de:b"]
 * ```
 * @since 0.2.0
 */
export const cross = (
  templates: ReadonlyArray<Template.Template<string>>,
  argSets: Iterable<ItemInput>,
  options?: ValidateOptions
): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidTemplate | InvalidItem | TemplateMismatch> =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidTemplate | InvalidItem | TemplateMismatch> => {
    const assigned = ids.assignIds(
      templates.map((t) => t.id),
      (i) => ids.hash(JSON.stringify(templates[i]!.source)).slice(0, 8)
    )
    if (Result.isFailure(assigned)) {
      const clash = assigned.failure
      return Effect.fail(
        new InvalidTemplate({
          template: internal.describeSource(templates[clash.index]!.source),
          reason:
            `duplicate template id "${clash.id}": the template at index ${clash.first} has it too; ids must be unique`
        })
      )
    }
    const templateIds = assigned.success
    const checked = checkAll(templates, argSets, options)
    if (Result.isFailure(checked)) return Effect.fail(checked.failure)
    const list = checked.success
    // Row ids are unique unless a template id holds ":" (then "a" + "b:c" and "a:b" + "c" spell the same id).
    const seen = templateIds.some((id) => id.includes(":")) ? new Map<string, number>() : undefined
    const rows: Array<RenderedItem> = []
    for (let t = 0; t < templates.length; t++) {
      const templateId = templateIds[t]!
      for (let i = 0; i < list.length; i++) {
        const item = list[i]!
        const id = `${templateId}:${item.id}`
        const earlier = seen?.get(id)
        if (earlier !== undefined) {
          return Effect.fail(
            new InvalidItem({
              index: i,
              itemId: item.id,
              reason: `row id "${id}" is also the id of the row for the item at index ${earlier}; avoid ":" in ids`
            })
          )
        }
        seen?.set(id, i)
        rows.push(renderedItem(id, templateId, templates[t]!, item))
      }
    }
    return Effect.succeed(rows)
  })
