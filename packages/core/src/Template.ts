/**
 * The template language: prompts with `{variable}` placeholders, as one text (a user message) or as a list of
 * system/user/assistant messages, and rendering them with values to messages. A template knows its variables
 * (at the type level for a literal, at run time for a source read from a file), so a missing or unexpected one
 * is caught before anything is sent. Batch items, their ids, checking many items at once and cross products of
 * templates with argument sets are `Dataset`'s, on top of this module.
 *
 * - Variables are `{name}` where `name` is letters, digits and `_`, not starting with a digit (`{review}`,
 *   `{review_2}`). Names are flat keys: `{user.name}` is an error, not a nested lookup. `{{` and `}}` are a
 *   literal `{` and `}`; a lone `}` is an error (Python `str.format` rules), so JSON in a prompt is written
 *   `{{"label": "{label}"}}`.
 * - A template's variables are inferred at the type level from a string literal, and parsed at run time
 *   into literal/variable segments once, so rendering is a single join.
 * - A template writes instructions and examples: its roles are `system`, `user` and `assistant` ({@link Role}).
 *   Tool calls and their results are what a model and a program exchange, never part of a prompt template.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema } from "effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type * as Types from "effect/Types"
import { InvalidItem, InvalidTemplate, TemplateMismatch } from "./Errors.js"
import * as internal from "./internal/template.js"
import { trusted } from "./internal/trusted.js"
import * as Message from "./Message.js"

// Rendered messages are valid by construction (templates compiled, values checked): they are built without
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
 * The roles a template's messages may have: `system`, `user` and `assistant`. A narrower set than
 * `Message.Role`: a template never produces `tool` messages (tool results answer a model's tool calls, which a
 * prompt written in advance cannot know).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Template } from "@capstan/core"
 *
 * Schema.is(Template.Role)("assistant") // true
 * Schema.is(Template.Role)("tool") // false
 * ```
 * @since 0.2.0
 */
export const Role = Message.Role.pick(["system", "user", "assistant"])

/**
 * @since 0.2.0
 */
export type Role = typeof Role.Type

/**
 * One message of a chat template: a {@link Role} and a content template.
 *
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * const m: Template.MessageTemplate = { role: "system", content: "You are {persona}" }
 * ```
 * @since 0.1.0
 */
export const MessageTemplate = Schema.Struct({ role: Role, content: Schema.String })

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
  | "a"
  | "b"
  | "c"
  | "d"
  | "e"
  | "f"
  | "g"
  | "h"
  | "i"
  | "j"
  | "k"
  | "l"
  | "m"
  | "n"
  | "o"
  | "p"
  | "q"
  | "r"
  | "s"
  | "t"
  | "u"
  | "v"
  | "w"
  | "x"
  | "y"
  | "z"
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
  : After extends `${infer Name}}${infer Rest}` ? IsName<Name> extends true ? Scan<Rest, Names | Name>
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
export const TypeId = "~@capstan/core/Template" as const

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
  /** An optional name, used in row ids by `Dataset.cross`. */
  readonly id?: string
  readonly variables: ReadonlyArray<Vars>
  /** The source as text: a chat template's messages as `[role]: content` lines. */
  toString(): string
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
 * @example
 * ```ts
 * import { Template } from "@capstan/core"
 *
 * Template.make("Translate to French: {text}", { id: "fr" }).id // "fr"
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** A name for the template, used as the template part of row ids in `Dataset.cross`. */
  readonly id?: string
}

interface CompiledMessage {
  readonly role: Role
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
    return internal.describeSource(this.source)
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
export const isTemplate = (u: unknown): u is Template => typeof u === "object" && u !== null && TypeId in u

const compiledOf = (template: Template<string>): ReadonlyArray<CompiledMessage> => (template as TemplateImpl).compiled

const isRole = Schema.is(Role)

const build = (source: Source, options: Options | undefined): Result.Result<Template<string>, InvalidTemplate> => {
  const text = typeof source === "string"
  const messages: ReadonlyArray<MessageTemplate> = text ? [{ role: "user", content: source }] : source
  if (!text && (!Array.isArray(source) || messages.length === 0)) {
    return Result.fail(
      new InvalidTemplate({
        template: internal.describeSource(source),
        reason: "a chat template is a non-empty list of messages"
      })
    )
  }
  if (options?.id === "") {
    return Result.fail(
      new InvalidTemplate({ template: internal.describeSource(source), reason: "the template id is empty" })
    )
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
          template: JSON.stringify(message) ?? typeof message,
          reason: "a message is { role, content } with string content",
          ...where
        })
      )
    }
    if (!isRole(message.role)) {
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
} =
  ((source: Source, options?: Options): Effect.Effect<Template, InvalidTemplate> =>
    Effect.suspend(() => Effect.fromResult(build(source, options)))) as typeof parse

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const renderCompiled = (
  compiled: ReadonlyArray<CompiledMessage>,
  vars: Readonly<Record<string, unknown>>
): ReadonlyArray<Message.Message> =>
  compiled.map((m) => new Message.Message({ role: m.role, content: internal.renderParts(m.parts, vars) }, trusted))

// Render is for trusted, typed vars; this guards the run-time edge (casts, `Template<string>`, items not checked
// against this template). It allocates nothing when all is well: it runs once per item of a batch.
const assertRenderable = (template: Template<string>, vars: Readonly<Record<string, unknown>>): void => {
  let missing: Array<string> | undefined
  for (const name of template.variables) {
    if (vars[name] === undefined) (missing ??= []).push(name)
  }
  if (missing !== undefined) {
    throw new TemplateMismatch({
      itemId: "",
      missing,
      unexpected: [],
      expected: template.variables,
      template: internal.describeSource(template.source),
      badItems: 1,
      totalItems: 1,
      badItemIds: []
    })
  }
  for (const name of template.variables) {
    if (!internal.isValue(vars[name])) {
      throw new InvalidItem({ index: 0, reason: internal.invalidValueReason(name, vars[name]) })
    }
  }
}

/**
 * Renders a template with its variables to messages: one user message for a text template, one message per
 * template message for a chat template. Numbers and booleans are stringified. Keys the template does not use
 * are ignored here (the types reject them in object literals); use `Dataset.validate` for untrusted rows.
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
