/**
 * Prompt templates with `{variable}` placeholders, batch items with stable ids, and the up-front validation
 * that turns templates × items into rendered rows before any request is sent.
 *
 * - Variables are `{name}` where `name` is letters, digits and `_`, not starting with a digit (`{review}`,
 *   `{review_2}`). Names are flat keys: `{user.name}` is an error, not a nested lookup. `{{` and `}}` are a
 *   literal `{` and `}`; a lone `}` is an error (Python `str.format` rules), so JSON in a prompt is written
 *   `{{"label": "{label}"}}`.
 * - A template's variables are inferred at the type level from a string literal, and parsed at run time
 *   into literal/variable segments once, so rendering is a single join.
 * - Items carry an `id`: given, or derived from a hash of their variables (see {@link items}).
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema } from "effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type * as Types from "effect/Types"
import { InvalidItem, InvalidTemplate, TemplateMismatch } from "./Errors.js"
import * as internal from "./internal/template.js"
import * as Message from "./Message.js"
import { trusted } from "./internal/trusted.js"

// Rendered items are valid by construction (items were checked, templates compiled): they are built without
// parsing them again on this hot path (see internal/trusted).

// ---------------------------------------------------------------------------------------------
// Values and sources
// ---------------------------------------------------------------------------------------------

/**
 * A variable's value: a string, a finite number or a boolean. Numbers and booleans render with `String(value)`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Template } from "@capstan/core"
 *
 * Schema.is(Template.Value)(3) // true
 * Schema.is(Template.Value)(null) // false
 * ```
 * @since 0.1.0
 */
export const Value = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean])

/**
 * @since 0.1.0
 */
export type Value = typeof Value.Type

/**
 * The variables a template needs: one value per name.
 *
 * @example
 * ```ts
 * import type { Template } from "@capstan/core"
 *
 * const vars: Template.Vars<"review" | "stars"> = { review: "Great", stars: 5 }
 * ```
 * @since 0.1.0
 */
export type Vars<Names extends string> = { readonly [K in Names]: Value }

/**
 * One message of a chat template: a role and a content template.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const m: Template.MessageTemplate = { role: "system", content: "You are {persona}" }
 * ```
 * @since 0.1.0
 */
export const MessageTemplate = Schema.Struct({ role: Message.Role, content: Schema.String })

/**
 * @since 0.1.0
 */
export type MessageTemplate = typeof MessageTemplate.Type

/**
 * A template's source as written: a string (a text template) or a list of messages (a chat template).
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * Template.make("Hi {name}").source // "Hi {name}"
 * ```
 * @since 0.1.0
 */
export const Source = Schema.Union([Schema.String, Schema.Array(MessageTemplate)])

/**
 * @since 0.1.0
 */
export type Source = typeof Source.Type

// ---------------------------------------------------------------------------------------------
// Type-level parsing (kept in step with internal/template.ts `parse`)
// ---------------------------------------------------------------------------------------------

type Letter =
  | "a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i" | "j" | "k" | "l" | "m"
  | "n" | "o" | "p" | "q" | "r" | "s" | "t" | "u" | "v" | "w" | "x" | "y" | "z"
type Digit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
type NameStart = Letter | Uppercase<Letter> | "_"
type IsNameRest<S extends string> = S extends `${infer C}${infer Rest}`
  ? C extends NameStart | Digit ? IsNameRest<Rest> : false
  : true
type IsName<S extends string> = S extends `${infer C}${infer Rest}` ? C extends NameStart ? IsNameRest<Rest> : false
  : false
/** Literal text may hold `}` only as `}}`. */
type IsLiteral<S extends string> = S extends `${string}}${infer Rest}`
  ? Rest extends `}${infer After}` ? IsLiteral<After> : false
  : true
interface Scanned<Names extends string> {
  readonly names: Names
}
// Tail-recursive, so templates of up to about a thousand variables and escapes are inferred.
type Scan<S extends string, Names extends string> = S extends `${infer Text}{${infer After}`
  ? IsLiteral<Text> extends false ? TemplateError<"a lone \"}\": write }} for a literal brace">
  : After extends `{${infer Rest}` ? Scan<Rest, Names>
  : After extends `${infer Name}}${infer Rest}`
    ? IsName<Name> extends true ? Scan<Rest, Names | Name>
    : Name extends "" ? TemplateError<"empty variable name \"{}\": write {{}} for literal braces">
    : TemplateError<`invalid variable name "${Name}": use letters, digits and _, or write {{ and }} for braces`>
  : TemplateError<"unclosed \"{\": write {{ for a literal brace">
  : IsLiteral<S> extends false ? TemplateError<"a lone \"}\": write }} for a literal brace">
  : Scanned<Names>

/**
 * The type-level report of an invalid template literal: it shows up in the compiler's error message.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * // @ts-expect-error Argument of type '"Hi {name"' is not assignable to ... TemplateError<"unclosed \"{\" ...">
 * Template.make("Hi {name")
 * ```
 * @since 0.1.0
 */
export interface TemplateError<Reason extends string> {
  readonly "Invalid template": Reason
}

/**
 * The variable names of a template string literal (`string` for a source not known at compile time).
 *
 * @example
 * ```ts
 * import type { Template } from "@capstan/core"
 *
 * type V = Template.Variables<"{greeting}, {name}! {{literal}}"> // "greeting" | "name"
 * ```
 * @since 0.1.0
 */
export type Variables<S extends string> = string extends S ? string
  : Scan<S, never> extends Scanned<infer Names> ? Names
  : never

/**
 * `unknown` for a valid template literal (or any non-literal string), else the {@link TemplateError} that
 * makes the call fail to compile.
 *
 * @example
 * ```ts
 * import type { Template } from "@capstan/core"
 *
 * type Ok = Template.Validate<"Hi {name}"> // unknown
 * ```
 * @since 0.1.0
 */
export type Validate<S extends string> = [Problems<S>] extends [never] ? unknown : Problems<S>
type Problems<S extends string> = string extends S ? never : Exclude<Scan<S, never>, Scanned<string>>

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export const TypeId: "~@capstan/core/Template" = "~@capstan/core/Template"

/**
 * A parsed template. `variables` are its distinct variable names in order of first appearance. `Vars` is
 * covariant, so any template is a `Template<string>`.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t: Template.Template<"review"> = Template.make("Review: {review}")
 * t.variables // ["review"]
 * ```
 * @since 0.1.0
 */
export interface Template<out Vars extends string = string> extends Pipeable {
  readonly [TypeId]: { readonly _Vars: Types.Covariant<Vars> }
  readonly kind: "text" | "chat"
  /** The source as written. */
  readonly source: Source
  /** An optional name, used in row ids by {@link cross}. */
  readonly id?: string
  readonly variables: ReadonlyArray<Vars>
}

/**
 * A text template: renders to one user message (or, with {@link renderText}, a string).
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t: Template.TextTemplate<"name"> = Template.make("Hi {name}")
 * ```
 * @since 0.1.0
 */
export interface TextTemplate<out Vars extends string = string> extends Template<Vars> {
  readonly kind: "text"
  readonly source: string
}

/**
 * A chat template: a list of messages, each content a template; its variables are the union over all messages.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t: Template.ChatTemplate<"persona" | "question"> = Template.chat([
 *   { role: "system", content: "You are {persona}" },
 *   { role: "user", content: "{question}" }
 * ])
 * ```
 * @since 0.1.0
 */
export interface ChatTemplate<out Vars extends string = string> extends Template<Vars> {
  readonly kind: "chat"
  readonly source: ReadonlyArray<MessageTemplate>
}

/**
 * Options of the template constructors.
 *
 * @since 0.1.0
 */
export interface Options {
  /** A name for the template, used as the template part of row ids in {@link cross}. */
  readonly id?: string
}

interface CompiledMessage {
  readonly role: Message.Role
  readonly parts: ReadonlyArray<string>
}

interface TemplateImpl extends Template<string> {
  readonly compiled: ReadonlyArray<CompiledMessage>
}

const TemplateProto = {
  [TypeId]: { _Vars: (_: never) => _ },
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: TemplateImpl) {
    return describeSource(this.source)
  },
  toJSON(this: TemplateImpl) {
    return { _id: "Template", kind: this.kind, id: this.id, source: this.source }
  }
}

/**
 * True for templates.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * Template.isTemplate(Template.make("x")) // true
 * Template.isTemplate("x") // false
 * ```
 * @since 0.1.0
 */
export const isTemplate = (u: unknown): u is Template =>
  typeof u === "object" && u !== null && TypeId in u

const compiledOf = (template: Template<string>): ReadonlyArray<CompiledMessage> => (template as TemplateImpl).compiled

/** Text templates as themselves; chat templates as `[role]: content` lines. */
const describeSource = (source: Source): string =>
  typeof source === "string"
    ? source
    : Array.isArray(source)
    ? source.map((m) => `[${m.role}]: ${m.content}`).join("\n")
    : String(source)

const build = (source: Source, options: Options | undefined): Result.Result<Template<string>, InvalidTemplate> => {
  const text = typeof source === "string"
  const messages: ReadonlyArray<MessageTemplate> = text ? [{ role: "user", content: source }] : source
  if (!text && (!Array.isArray(source) || messages.length === 0)) {
    return Result.fail(
      new InvalidTemplate({ template: describeSource(source), reason: "a chat template is a non-empty list of messages" })
    )
  }
  if (options?.id === "") {
    return Result.fail(new InvalidTemplate({ template: describeSource(source), reason: "the template id is empty" }))
  }
  const compiled: Array<CompiledMessage> = []
  const variables: Array<string> = []
  const seen = new Set<string>()
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    const where = text ? {} : { messageIndex: index }
    if (typeof message !== "object" || message === null || typeof message.content !== "string") {
      return Result.fail(
        new InvalidTemplate({
          template: JSON.stringify(message) ?? String(message),
          reason: "a message is { role, content } with string content",
          ...where
        })
      )
    }
    if (!Schema.is(Message.Role)(message.role)) {
      return Result.fail(
        new InvalidTemplate({
          template: message.content,
          reason: `unknown role "${String(message.role)}": use system, user or assistant`,
          ...where
        })
      )
    }
    const parsed = internal.parse(message.content)
    if (internal.isProblem(parsed)) {
      return Result.fail(
        new InvalidTemplate({
          template: message.content,
          reason: parsed.reason,
          position: parsed.position,
          hint: internal.BRACE_HINT,
          ...where
        })
      )
    }
    compiled.push({ role: message.role, parts: parsed.parts })
    for (const name of parsed.variables) {
      if (!seen.has(name)) {
        seen.add(name)
        variables.push(name)
      }
    }
  }
  const self = Object.create(TemplateProto)
  self.kind = text ? "text" : "chat"
  self.source = text ? source : messages.map((m) => ({ role: m.role, content: m.content }))
  if (options?.id !== undefined) self.id = options.id
  self.variables = variables
  self.compiled = compiled
  return Result.succeed(self)
}

const buildOrThrow = (source: Source, options: Options | undefined): Template<string> => {
  const result = build(source, options)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * A text template from a string literal; its variables are inferred at the type level, and an invalid
 * literal does not compile. It renders to one user message.
 *
 * Throws {@link InvalidTemplate} only when the compile-time check was bypassed (a cast); use {@link parse}
 * for templates read at run time.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t = Template.make("Review: {review} ({stars} stars). Answer as {{\"label\": ...}}")
 * t.variables // ["review", "stars"]: Template.TextTemplate<"review" | "stars">
 * ```
 * @since 0.1.0
 */
export const make = <const S extends string>(source: S & Validate<S>, options?: Options): TextTemplate<Variables<S>> =>
  buildOrThrow(source, options) as TextTemplate<Variables<S>>

/**
 * A chat template: a list of messages whose contents are templates. Variables are inferred at the type
 * level as the union over all messages.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t = Template.chat([
 *   { role: "system", content: "You are {persona}" },
 *   { role: "user", content: "{question}" }
 * ])
 * t.variables // ["persona", "question"]
 * ```
 * @since 0.1.0
 */
export const chat = <const M extends ReadonlyArray<MessageTemplate>>(
  messages: M & Validate<M[number]["content"]>,
  options?: Options
): ChatTemplate<Variables<M[number]["content"]>> =>
  buildOrThrow(messages, options) as ChatTemplate<Variables<M[number]["content"]>>

/**
 * Parses a template known only at run time (read from a file, given on a command line): a string is a text
 * template, a list of `{ role, content }` a chat template. Fails with {@link InvalidTemplate} naming the
 * problem and its position.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const t = Effect.runSync(Template.parse("Summarize: {text}"))
 * t.variables // ["text"]
 * ```
 * @since 0.1.0
 */
export const parse: {
  (source: string, options?: Options): Effect.Effect<TextTemplate, InvalidTemplate>
  (source: ReadonlyArray<MessageTemplate>, options?: Options): Effect.Effect<ChatTemplate, InvalidTemplate>
  (source: Source, options?: Options): Effect.Effect<Template, InvalidTemplate>
} = (source: Source, options?: Options): Effect.Effect<any, InvalidTemplate> =>
  Effect.suspend(() => Effect.fromResult(build(source, options)))

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const isValue = (value: unknown): value is Value =>
  typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))

const describeValue = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : typeof value === "number"
    ? String(value)
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`

const renderCompiled = (
  compiled: ReadonlyArray<CompiledMessage>,
  vars: Readonly<Record<string, unknown>>
): ReadonlyArray<Message.Message> =>
  compiled.map((m) => new Message.Message({ role: m.role, content: internal.renderParts(m.parts, vars) }, trusted))

// Render is for trusted, typed vars; this guards the run-time edge (casts, `Template<string>`).
const assertRenderable = (template: Template<string>, vars: Readonly<Record<string, unknown>>): void => {
  const missing = template.variables.filter((name) => vars[name] === undefined)
  if (missing.length > 0) {
    throw new TemplateMismatch({
      itemId: "",
      missing,
      unexpected: [],
      expected: template.variables,
      template: describeSource(template.source),
      badItems: 1,
      totalItems: 1,
      badItemIds: []
    })
  }
  for (const name of template.variables) {
    if (!isValue(vars[name])) {
      throw new InvalidItem({ index: 0, reason: invalidValueReason(name, vars[name]) })
    }
  }
}

const invalidValueReason = (key: string, value: unknown): string =>
  `variable "${key}" is ${describeValue(value)}; values must be strings, finite numbers or booleans`

/**
 * Renders a template with its variables to messages: one user message for a text template, one message per
 * template message for a chat template. Numbers and booleans are stringified. Keys the template does not use
 * are ignored here (the types reject them in object literals); use {@link validate} for untrusted rows.
 *
 * Throws {@link TemplateMismatch} / {@link InvalidItem} only when the types were bypassed and a variable is
 * missing or not a string, number or boolean.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const t = Template.make("Rate {item} from 1 to {max}")
 * Template.render(t, { item: "this", max: 5 })[0]?.content // "Rate this from 1 to 5"
 * t.pipe(Template.render({ item: "that", max: 10 }))[0]?.role // "user"
 * ```
 * @since 0.1.0
 */
export const render: {
  <Names extends string>(vars: Vars<Names>): (self: Template<Names>) => ReadonlyArray<Message.Message>
  <Names extends string>(self: Template<Names>, vars: NoInfer<Vars<Names>>): ReadonlyArray<Message.Message>
} = dual(2, (self: Template<string>, vars: Readonly<Record<string, unknown>>): ReadonlyArray<Message.Message> => {
  assertRenderable(self, vars)
  return renderCompiled(compiledOf(self), vars)
})

/**
 * Renders a text template to a string.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * Template.renderText(Template.make("{{{word}}}"), { word: "hi" }) // "{hi}"
 * ```
 * @since 0.1.0
 */
export const renderText: {
  <Names extends string>(vars: Vars<Names>): (self: TextTemplate<Names>) => string
  <Names extends string>(self: TextTemplate<Names>, vars: NoInfer<Vars<Names>>): string
} = dual(2, (self: TextTemplate<string>, vars: Readonly<Record<string, unknown>>): string => {
  assertRenderable(self, vars)
  return internal.renderParts(compiledOf(self)[0]!.parts, vars)
})

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

/**
 * One batch item: an id and its variables.
 *
 * @example
 * ```ts
 * import type { Template } from "@capstan/core"
 *
 * const item: Template.Item<"review"> = { id: "r1", vars: { review: "Great" } }
 * ```
 * @since 0.1.0
 */
export interface Item<Names extends string = string> {
  readonly id: string
  readonly vars: Vars<Names>
}

/**
 * What {@link items} accepts: an {@link Item}-shaped `{ id?, vars }` (an object whose only keys are `vars`
 * and optionally `id`), or a plain row whose keys are the variables, its id under `idField`.
 *
 * @since 0.1.0
 */
export type ItemInput =
  | { readonly id?: string | number; readonly vars: Readonly<Record<string, unknown>> }
  | Readonly<Record<string, unknown>>

/**
 * Options of {@link items}.
 *
 * @since 0.1.0
 */
export interface ItemOptions {
  /** The key of a plain row that holds its id (default `"id"`); that key is not a variable. */
  readonly idField?: string
}

/**
 * Options of {@link validate} and {@link cross}.
 *
 * @since 0.1.0
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

/** One input's id (if it gives one) and variables, or why it is not an item. */
const normalizeItem = (
  input: unknown,
  index: number,
  idField: string
): Result.Result<{ readonly given: string | undefined; readonly vars: Record<string, Value> }, InvalidItem> => {
  if (!isPlainObject(input)) {
    return Result.fail(new InvalidItem({ index, reason: `expected an object of variables, got ${describeValue(input)}` }))
  }
  const shaped = isItemShaped(input)
  const rawId = shaped ? input.id : input[idField]
  let given: string | undefined
  if (typeof rawId === "string" && rawId.length > 0) given = rawId
  else if (typeof rawId === "number" && Number.isFinite(rawId)) given = String(rawId)
  else if (rawId !== undefined) {
    const field = shaped ? "id" : idField
    const got = rawId === "" ? "empty" : describeValue(rawId)
    return Result.fail(new InvalidItem({ index, reason: `the id field "${field}" is ${got}; ids are non-empty strings or numbers` }))
  }
  const source = shaped ? input.vars as Readonly<Record<string, unknown>> : input
  const vars: Record<string, Value> = {}
  for (const key in source) {
    if (!shaped && key === idField) continue
    const value = source[key]
    if (value === undefined) continue
    if (!isValue(value)) {
      const itemId = given === undefined ? {} : { itemId: given }
      return Result.fail(new InvalidItem({ index, ...itemId, reason: invalidValueReason(key, value) }))
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
 * import { Template } from "@capstan/core"
 *
 * const items = Effect.runSync(Template.items([{ id: 7, review: "Great" }, { review: "Bad" }]))
 * items[0]?.id // "7"
 * items[1]?.id // 16 hex digits, the same on every run
 * ```
 * @since 0.1.0
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
 * import { Template } from "@capstan/core"
 *
 * const [row] = Effect.runSync(Template.validate(Template.make("Hi {name}"), [{ id: "a", name: "Ada" }]))
 * Schema.encodeSync(Template.RenderedItem)(row!)
 * // { id: "a", template: "Hi {name}", vars: { name: "Ada" }, messages: [{ role: "user", content: "Hi Ada" }] }
 * ```
 * @since 0.1.0
 */
export class RenderedItem extends Schema.Class<RenderedItem>("@capstan/core/Template/RenderedItem")({
  id: Schema.String,
  templateId: Schema.optionalKey(Schema.String),
  template: Source,
  vars: Schema.Record(Schema.String, Value),
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
 * import { Template } from "@capstan/core"
 *
 * const check = Template.checker(Template.make("Review: {review}"))
 * Result.isSuccess(check.check({ id: "r1", review: "Great" })) // true
 * Result.isFailure(check.check({ id: "r2", text: "Bad" })) // true: no "review"
 * Result.isFailure(check.done()) // true: the TemplateMismatch validate reports, counting both items
 * ```
 * @since 0.1.0
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
 * import { Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const check = Template.checker(template, { allowExtra: true })
 * for (const input of [{ review: "Great" }, { review: "Great" }]) {
 *   const item = check.check(input)
 *   if (Result.isSuccess(item)) console.log(item.success.id) // "<hash>", then "<hash>-2"
 * }
 * check.done() // Result.succeed(2)
 * ```
 * @since 0.1.0
 */
export const checker = (
  templates: Template<string> | ReadonlyArray<Template<string>>,
  options?: ValidateOptions
): Checker => {
  const list: ReadonlyArray<Template<string>> = isTemplate(templates) ? [templates] : templates
  const idField = options?.idField ?? "id"
  const allowExtra = options?.allowExtra === true
  const expected = [...new Set(list.flatMap((t) => t.variables))]
  const expectedSet = new Set(expected)
  const assign = internal.makeIdAssigner()
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
      template: needy === undefined ? "" : describeSource(needy.source),
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
    const id = assign(index, given, () => internal.hash(internal.canonicalJson(vars)))
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
        : mismatch(first.id, first.missing, first.unexpected, { badItems, totalItems: count, badItemIds: [...badItemIds] }))
    return error === undefined ? Result.succeed(count) : Result.fail(error)
  }

  return { check, done }
}

/** Checks every input with one {@link checker}: all the items, or the error for them all. */
const checkAll = (
  templates: ReadonlyArray<Template<string>>,
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

const renderedItem = (
  id: string,
  templateId: string | undefined,
  template: Template<string>,
  item: Item
): RenderedItem =>
  new RenderedItem({
    id,
    ...(templateId === undefined ? {} : { templateId }),
    template: template.source,
    vars: item.vars,
    messages: renderCompiled(compiledOf(template), item.vars)
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
 * import { Template } from "@capstan/core"
 *
 * const template = Template.make("Hi {name}")
 * Template.renderItem(template, { id: "a", vars: { name: "Ada" } }).messages[0]?.content // "Hi Ada"
 * template.pipe(Template.renderItem({ id: "b", vars: { name: "Bo" } })).id // "b"
 * ```
 * @since 0.1.0
 */
export const renderItem: {
  <Names extends string>(item: Item<Names>): (self: Template<Names>) => RenderedItem
  <Names extends string>(self: Template<Names>, item: Item<NoInfer<Names>>): RenderedItem
} = dual(2, (self: Template<string>, item: Item): RenderedItem => {
  assertRenderable(self, item.vars)
  return renderedItem(item.id, self.id, self, item)
})

/**
 * Normalizes inputs to items (see {@link items}) and checks EVERY item against the template before anything
 * is sent: an item must give each variable of the template, and (unless `allowExtra`) nothing else. Fails with
 * {@link TemplateMismatch} naming the first bad item, its missing and unexpected keys, and how many items are
 * bad; or with {@link InvalidItem}. On success, every item rendered, in input order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const rows = Effect.runSync(Template.validate(template, [{ id: "r1", review: "Great" }]))
 * rows[0]?.messages[0]?.content // "Review: Great"
 *
 * const error = Effect.runSync(Effect.flip(template.pipe(Template.validate([{ id: "r2", text: "Bad" }]))))
 * error.message // 'Item "r2" does not fit the template "Review: {review}": missing review; unexpected text. ...'
 * ```
 * @since 0.1.0
 */
export const validate: {
  (
    inputs: Iterable<ItemInput>,
    options?: ValidateOptions
  ): (self: Template<string>) => Effect.Effect<ReadonlyArray<RenderedItem>, InvalidItem | TemplateMismatch>
  (
    self: Template<string>,
    inputs: Iterable<ItemInput>,
    options?: ValidateOptions
  ): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidItem | TemplateMismatch>
} = dual(
  (args) => isTemplate(args[0]),
  (self: Template<string>, inputs: Iterable<ItemInput>, options?: ValidateOptions) =>
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
 * import { Template } from "@capstan/core"
 *
 * const rows = Effect.runSync(Template.cross(
 *   [
 *     Template.make("Translate to French: {text}", { id: "fr" }),
 *     Template.make("Translate to German: {text}", { id: "de" })
 *   ],
 *   [{ id: "a", text: "hello" }, { id: "b", text: "bye" }]
 * ))
 * rows.map((row) => row.id) // ["fr:a", "fr:b", "de:a", "de:b"]
 * ```
 * @since 0.1.0
 */
export const cross = (
  templates: ReadonlyArray<Template<string>>,
  argSets: Iterable<ItemInput>,
  options?: ValidateOptions
): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidTemplate | InvalidItem | TemplateMismatch> =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<RenderedItem>, InvalidTemplate | InvalidItem | TemplateMismatch> => {
    const assigned = internal.assignIds(
      templates.map((t) => t.id),
      (i) => internal.hash(JSON.stringify(templates[i]!.source)).slice(0, 8)
    )
    if (Result.isFailure(assigned)) {
      const clash = assigned.failure
      return Effect.fail(
        new InvalidTemplate({
          template: describeSource(templates[clash.index]!.source),
          reason: `duplicate template id "${clash.id}": the template at index ${clash.first} has it too; ids must be unique`
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
