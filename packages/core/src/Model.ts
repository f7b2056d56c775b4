/**
 * Models read typed values out of model output. A model is an Effect `Schema` bound to an XML tag
 * (`Model.xml("answer", schema)`, rigging's `Model`) or to JSON (`Model.json(schema)`).
 *
 * XML reading is lenient, for text written by a language model:
 * - the text around the tags is ignored, and so is any markup that does not pair up (`<DIR>`, `a < b`, a
 *   stray `<answer>` in a sentence);
 * - tag names match case-insensitively (`<Answer>` is `<answer>`), and attributes are tolerated;
 * - when tags of the model's name are nested, the innermost wins ("use <answer> tags: <answer>hi</answer>");
 * - text is unescaped (`&amp;`, `&lt;`, numeric references), CDATA is unwrapped, and multi-line text is
 *   dedented (the indentation common to all lines removed) and trimmed;
 * - a scalar schema reads the element's text (`<n> 42 </n>` is `42` for `Schema.Number`; literals and
 *   booleans match case-insensitively); a struct reads each field from the child element of the same name
 *   (or an attribute); an array reads the children of its element, or the field's element repeated.
 *
 * Empty elements (`<answer></answer>`, often an echo of the instructions) are passed over when the text holds
 * a filled one: {@link parse} takes the **first non-empty element that decodes**, in document order, and
 * only reads an empty one when no other exists.
 *
 * JSON reading takes the whole text if it is JSON, else the fenced code blocks holding JSON, else the
 * balanced `{...}` / `[...]` spans of the text that parse, and decodes them with `Schema.toCodecJson`.
 *
 * Failures are {@link ParseError}s whose `reason` is written for the model that produced the text: it names
 * the element or JSON path at fault and repeats the format, so `untilParsedAs` can send it back as is.
 *
 * @since 0.1.0
 */
import { Effect, Option, Result, Schema, SchemaAST, SchemaIssue, SchemaTransformation } from "effect"
import type { Equivalence } from "effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { ParseError } from "./Errors.js"
import type { StructuredOutput } from "./Generation.js"
import * as Json from "./internal/json.js"
import * as Xml from "./internal/xml.js"
import * as XmlSchema from "./internal/xmlSchema.js"

/**
 * Marks model values (see {@link isModel}).
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 *
 * Model.TypeId in Model.Answer // true
 * ```
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@capstan/core/Model"

/**
 * @since 0.1.0
 */
export type TypeId = "~@capstan/core/Model"

/**
 * A schema bound to a format: what pipelines parse, ask for, and (for JSON) request natively.
 *
 * - `name`: the XML tag, or the JSON model's name; it is the `model` of every {@link ParseError}.
 * - `instructions`: a short text telling a model how to format its answer.
 * - `structured`: for JSON models, the native structured-output request (`Generation.StructuredOutput`: a
 *   name matching `[A-Za-z0-9_-]{1,64}`, a description, and the JSON Schema from `Schema.toJsonSchemaDocument`
 *   with objects closed by `additionalProperties: false`, definitions under `$defs` and a root that is not a
 *   bare `$ref`); `undefined` for XML models.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 *
 * Model.YesNoAnswer.name // "yes-no-answer"
 * Model.YesNoAnswer.instructions
 * ```
 * @since 0.1.0
 */
export interface Model<out A> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "XmlModel" | "JsonModel"
  readonly name: string
  readonly schema: Schema.Decoder<A>
  readonly instructions: string
  readonly structured: StructuredOutput | undefined
}

/**
 * A model read from the XML element named by its tag (`name`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Score: Model.XmlModel<number> = Model.xml("score", Schema.Finite)
 * ```
 * @since 0.1.0
 */
export interface XmlModel<out A> extends Model<A> {
  readonly _tag: "XmlModel"
  readonly structured: undefined
}

/**
 * A model read from JSON, with its structured-output request.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Tags: Model.JsonModel<ReadonlyArray<string>> = Model.json(Schema.Array(Schema.String), { name: "tags" })
 * ```
 * @since 0.1.0
 */
export interface JsonModel<out A> extends Model<A> {
  readonly _tag: "JsonModel"
  readonly structured: StructuredOutput
}

/**
 * Options of {@link xml}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Score = Model.xml("score", Schema.Finite, { instructions: "Rate it from 0 to 10 in <score></score> tags." })
 * ```
 * @since 0.1.0
 */
export interface XmlOptions {
  /** Replaces the generated instructions. */
  readonly instructions?: string
}

/**
 * Options of {@link json}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Review = Model.json(Schema.Struct({ stars: Schema.Int }), { name: "review", description: "A product review" })
 * ```
 * @since 0.1.0
 */
export interface JsonOptions {
  /** The model's name; defaults to the schema's `identifier` annotation, then `"json"`. */
  readonly name?: string
  /** The structured-output description; defaults to the schema's `description` annotation. */
  readonly description?: string
  /** Replaces the generated instructions. */
  readonly instructions?: string
}

// ---------------------------------------------------------------------------------------------
// Internals: every model reads a text into occurrences; parse, parseMany and parseSet share the rest.
// ---------------------------------------------------------------------------------------------

/** One candidate value in a text: decoding yields the value, or one line per problem. */
interface Occurrence<A> {
  readonly empty: boolean
  readonly decode: () => Result.Result<A, ReadonlyArray<string>>
}

interface Reading<A> {
  readonly occurrences: ReadonlyArray<Occurrence<A>>
  /** Why nothing was found, for the model to read. */
  readonly missing: string
}

const readerKey = Symbol.for("@capstan/core/Model/reader")

interface ModelImpl<A> extends Model<A> {
  /** What an occurrence is called in messages: `<answer></answer> element`, `JSON value`. */
  readonly subject: string
  readonly [readerKey]: (text: string) => Reading<A>
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Model<unknown>) {
    return { _id: "Model", _tag: this._tag, name: this.name }
  }
}

const make = <A>(fields: Omit<ModelImpl<A>, typeof TypeId | "pipe">): ModelImpl<A> =>
  Object.assign(Object.create(Proto), fields)

const implOf = <A>(model: Model<A>): ModelImpl<A> => model as ModelImpl<A>

/**
 * True for values made by {@link xml} or {@link json}.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 *
 * Model.isModel(Model.Answer) // true
 * Model.isModel("answer")     // false
 * ```
 * @since 0.1.0
 */
export const isModel = (u: unknown): u is Model<unknown> =>
  typeof u === "object" && u !== null && TypeId in u && readerKey in u

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

type Path = ReadonlyArray<PropertyKey>

const valueAt = (input: unknown, path: Path): unknown =>
  path.reduce<unknown>(
    (value, key) => typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    input
  )

const quote = (value: string | number | boolean): string => {
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text
}

// How `Schema.toCodecStringTree` describes a number written as text: in XML every number is text.
const stringTreeNumber = "a string representing a finite number"

/** How a model names places in a value: an XML element path or a JSON path. */
interface PathStyle {
  readonly render: (path: Path) => string
  /** What to say of a missing key. */
  readonly missing: (path: Path) => string
}

/** One line per schema issue: where, what, and the value that was read there. */
const issueLines = (issue: SchemaIssue.Issue, input: unknown, style: PathStyle): ReadonlyArray<string> =>
  standardIssues(issue).issues.map(({ message, path: segments }) => {
    const path = (segments ?? []).map((segment) => typeof segment === "object" ? segment.key : segment)
    if (message === "Missing key") return `- ${style.render(path)}: ${style.missing(path)}`
    const value = valueAt(input, path)
    const got = (typeof value === "string" || typeof value === "number" || typeof value === "boolean") &&
        !message.includes("got ")
      ? `, got ${quote(value)}`
      : ""
    return `- ${style.render(path)}: ${message.replace(stringTreeNumber, "a number")}${got}`
  })

/** Decodes with every issue reported, as lines for the model to read. */
const decoder = <A>(codec: Schema.Decoder<A>, style: PathStyle) => {
  const decode = Schema.decodeUnknownResult(codec)
  return (input: unknown): Result.Result<A, ReadonlyArray<string>> =>
    Result.mapError(decode(input, { errors: "all" }), (error) => issueLines(error.issue, input, style))
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

const tagName = /^[A-Za-z_][\w.:-]*$/

/**
 * Binds a schema to an XML tag. A scalar schema (string, number, boolean, literals, or a transformation from
 * a string) reads the element's text; a struct reads each field from the child element of the same name;
 * an array reads its items from child elements. See the module docs for the reading rules. Throws when
 * `tag` is not an XML name.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Person = Model.xml("person", Schema.Struct({
 *   name: Schema.String,
 *   age: Schema.Int,
 *   hobbies: Schema.Array(Schema.String)
 * }))
 * const person = Model.parse(Person, `
 *   <person>
 *     <name>Ada</name>
 *     <age> 36 </age>
 *     <hobbies><item>math</item><item>poetry</item></hobbies>
 *   </person>`)
 * // Effect succeeding with { name: "Ada", age: 36, hobbies: ["math", "poetry"] }
 * ```
 * @since 0.1.0
 */
export const xml = <A>(tag: string, schema: Schema.Decoder<A>, options?: XmlOptions): XmlModel<A> => {
  if (!tagName.test(tag)) {
    throw new Error(
      `Model.xml: ${JSON.stringify(tag)} is not an XML tag name; use letters, digits, "-", "_", "." or ":", starting with a letter or "_"`
    )
  }
  const key = tag.toLowerCase()
  const codec = Schema.toCodecStringTree(schema)
  const layout = SchemaAST.toEncoded(codec.ast)
  const encoded = SchemaAST.toEncoded(schema.ast)
  const instructions = options?.instructions ??
    `Put your answer inside <${tag}></${tag}> tags, ${XmlSchema.isStructured(encoded) ? "in this format" : "like this"}:\n${
      XmlSchema.example(tag, encoded)
    }`
  const decode = decoder(codec, {
    render: (path) =>
      [`<${tag}>`, ...path.map((key) => typeof key === "number" ? `item ${key + 1}` : `<${String(key)}>`)].join("/"),
    missing: (path) => {
      const last = path[path.length - 1]
      return typeof last === "string" ? `Missing <${last}></${last}> element` : "Missing"
    }
  })
  const opening = new RegExp(`<${tag.replace(/[.]/g, "\\.")}[\\s/>]`, "i")
  return make<A>({
    _tag: "XmlModel",
    name: tag,
    schema,
    instructions,
    structured: undefined,
    subject: `<${tag}></${tag}> element`,
    [readerKey]: (text) => ({
      occurrences: Xml.findInnermost(Xml.scan(text), key).map((element) => ({
        empty: Xml.isEmpty(text, element),
        decode: () => decode(XmlSchema.read(text, element, layout))
      })),
      // A truncated answer opens the tag and stops: point at the missing closing tag.
      missing: `Missing <${tag}></${tag}> tags in your response${
        opening.test(text) ? ` (an opening <${tag}> is never closed by </${tag}>)` : ""
      }. ${instructions}`
    })
  }) as XmlModel<A>
}

const structuredName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "json"

/**
 * Binds a schema to JSON. The JSON is found in the text (the whole text, fenced code blocks, or balanced
 * `{...}` / `[...]` spans that parse) and decoded with the schema's JSON codec (`Schema.toCodecJson`). `structured` carries the
 * JSON Schema that `Schema.toJsonSchemaDocument` derives, for providers with native structured output.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const Review = Model.json(Schema.Struct({
 *   sentiment: Schema.Literals(["positive", "negative"]),
 *   score: Schema.Finite
 * }), { name: "review" })
 * Model.parse(Review, 'Sure! ```json\n{"sentiment": "positive", "score": 0.9}\n```')
 * // Effect succeeding with { sentiment: "positive", score: 0.9 }
 * Review.structured.schema.additionalProperties // false
 * ```
 * @since 0.1.0
 */
export const json = <A>(schema: Schema.Decoder<A>, options?: JsonOptions): JsonModel<A> => {
  const name = options?.name ?? SchemaAST.resolveIdentifier(schema.ast) ?? "json"
  const description = options?.description ?? SchemaAST.resolveDescription(schema.ast)
  const document = Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" })
  const jsonSchema = Json.fromDocument(document)
  const structured: StructuredOutput = {
    name: structuredName(name),
    ...(description === undefined ? {} : { description }),
    schema: jsonSchema
  }
  const instructions = options?.instructions ?? (Object.keys(jsonSchema).length === 0
    ? "Answer with JSON."
    : `Answer with JSON that matches this JSON Schema:\n${JSON.stringify(jsonSchema)}`)
  const decode = decoder(Schema.toCodecJson(schema), {
    render: (path) =>
      path.reduce<string>(
        (text, key) =>
          typeof key === "number"
            ? `${text}[${key}]`
            : typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)
            ? `${text}.${key}`
            : `${text}[${JSON.stringify(String(key))}]`,
        "$"
      ),
    missing: (path) => {
      const last = path[path.length - 1]
      return last === undefined ? "Missing" : `Missing required property ${JSON.stringify(String(last))}`
    }
  })
  return make<A>({
    _tag: "JsonModel",
    name,
    schema,
    instructions,
    structured,
    subject: "JSON value",
    [readerKey]: (text) => {
      const found = Json.find(text)
      return {
        occurrences: found.values.map((value) => ({
          empty: false,
          decode: () => decode(value)
        })),
        missing: found.syntaxError === undefined
          ? `Your response contains no JSON. ${instructions}`
          : `The JSON in your response is not valid (${found.syntaxError}). ${instructions}`
      }
    }
  }) as JsonModel<A>
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** The occurrences worth decoding: the non-empty ones, or the empty ones when that is all there is. */
const candidates = <A>(reading: Reading<A>): ReadonlyArray<Occurrence<A>> => {
  const filled = reading.occurrences.filter((occurrence) => !occurrence.empty)
  return filled.length > 0 ? filled : reading.occurrences
}

const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"
  return `${n}${suffix}`
}

const missing = <A>(model: ModelImpl<A>, reading: Reading<A>): ParseError =>
  new ParseError({ model: model.name, reason: reading.missing })

const invalid = <A>(model: ModelImpl<A>, lines: ReadonlyArray<string>, position: number | undefined): ParseError =>
  new ParseError({
    model: model.name,
    reason: `The ${position === undefined ? "" : `${ordinal(position)} `}${model.subject} in your response is invalid:\n${
      lines.join("\n")
    }\nAnswer again and fix ${lines.length === 1 ? "this error" : "these errors"}. ${model.instructions}`
  })

/**
 * {@link parse} as a `Result`, synchronously.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Result.isSuccess(Model.parseResult(Model.YesNoAnswer, "<yes-no-answer>yes</yes-no-answer>")) // true
 * ```
 * @since 0.2.0
 */
export const parseResult = <A>(model: Model<A>, text: string): Result.Result<A, ParseError> => {
  const impl = implOf(model)
  const reading = impl[readerKey](text)
  const found = candidates(reading)
  let firstError: ParseError | undefined
  for (const occurrence of found) {
    const decoded = occurrence.decode()
    if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
    firstError ??= invalid(impl, decoded.failure, undefined)
  }
  return Result.fail(firstError ?? missing(impl, reading))
}

const parseManyResult = <A>(model: Model<A>, text: string): Result.Result<ReadonlyArray<A>, ParseError> => {
  const impl = implOf(model)
  const reading = impl[readerKey](text)
  const found = candidates(reading)
  if (found.length === 0) return Result.fail(missing(impl, reading))
  const values: Array<A> = []
  for (const [index, occurrence] of found.entries()) {
    const decoded = occurrence.decode()
    if (Result.isFailure(decoded)) {
      return Result.fail(invalid(impl, decoded.failure, found.length > 1 ? index + 1 : undefined))
    }
    values.push(decoded.success)
  }
  return Result.succeed(values)
}

/** Both call forms of a function of a model and a text: `f(model, text)`, and `f(model)(text)` for pipelines. */
const withText = <R>(f: (model: Model<unknown>, text: string) => R): any =>
(model: Model<unknown>, ...text: [] | [string]) =>
  text.length === 0 ? (input: string) => f(model, input) : f(model, text[0])

/**
 * Parses the model's value out of `text`: the first non-empty occurrence that decodes, in document order
 * (an empty one only when there is nothing else). Fails with a {@link ParseError} whose `reason` says what
 * is missing or which field is wrong, and repeats the model's instructions.
 *
 * Curried form: `Model.parse(model)(text)`, e.g. `Effect.flatMap(Model.parse(Model.Answer))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const answer = Effect.runSync(Model.parse(Model.Answer, "Sure, in <answer></answer> tags: <answer>42</answer>"))
 * // "42"
 * const error = Effect.runSync(Effect.flip(Model.parse(Model.YesNoAnswer, "Probably.")))
 * error.reason // "Missing <yes-no-answer></yes-no-answer> tags in your response. ..."
 * ```
 * @since 0.1.0
 */
export const parse: {
  <A>(model: Model<A>): (text: string) => Effect.Effect<A, ParseError>
  <A>(model: Model<A>, text: string): Effect.Effect<A, ParseError>
} = withText((model, text) => Effect.fromResult(parseResult(model, text)))

/**
 * Like {@link parse}, without the error: `Option.none()` when nothing decodes.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 *
 * Model.tryParse(Model.NumberAnswer, "<number-answer>1,234.5</number-answer>") // Option.some(1234.5)
 * Model.tryParse(Model.NumberAnswer, "no idea")                                  // Option.none()
 * ```
 * @since 0.1.0
 */
export const tryParse: {
  <A>(model: Model<A>): (text: string) => Option.Option<A>
  <A>(model: Model<A>, text: string): Option.Option<A>
} = withText((model, text) => Result.getSuccess(parseResult(model, text)))

/**
 * Every occurrence of the model in `text`, in document order (empty ones are passed over when a filled one
 * exists). Fails when there is none, or when one of them does not decode (the reason says which).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parseMany(Model.Answer, "<answer>a</answer> then <answer>b</answer>")) // ["a", "b"]
 * ```
 * @since 0.1.0
 */
export const parseMany: {
  <A>(model: Model<A>): (text: string) => Effect.Effect<ReadonlyArray<A>, ParseError>
  <A>(model: Model<A>, text: string): Effect.Effect<ReadonlyArray<A>, ParseError>
} = withText((model, text) => Effect.fromResult(parseManyResult(model, text)))

/**
 * Options of {@link parseSet}.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 *
 * const atLeastThree = Model.parseSet(Model.Answer, { minCount: 3 })
 * ```
 * @since 0.1.0
 */
export interface ParseSetOptions {
  /** The fewest distinct values to accept (default 1). */
  readonly minCount?: number
}

const equivalences = new WeakMap<Model<unknown>, Equivalence.Equivalence<unknown>>()

const equivalenceOf = <A>(model: Model<A>): Equivalence.Equivalence<A> => {
  let equivalence = equivalences.get(model)
  if (equivalence === undefined) {
    equivalence = Schema.toEquivalence(model.schema as Schema.Schema<unknown>)
    equivalences.set(model, equivalence)
  }
  return equivalence
}

const parseSetResult = <A>(
  model: Model<A>,
  text: string,
  options: ParseSetOptions | undefined
): Result.Result<ReadonlyArray<A>, ParseError> =>
  Result.flatMap(parseManyResult(model, text), (values) => {
    const equivalence = equivalenceOf(model)
    const distinct: Array<A> = []
    for (const value of values) {
      if (!distinct.some((seen) => equivalence(seen, value))) distinct.push(value)
    }
    const minCount = options?.minCount ?? 1
    if (distinct.length >= minCount) return Result.succeed(distinct)
    const impl = implOf(model)
    return Result.fail(
      new ParseError({
        model: model.name,
        reason:
          `Your response has ${distinct.length} distinct ${impl.subject}${distinct.length === 1 ? "" : "s"}, but at least ${minCount} are needed. Answer again with at least ${minCount} different ${impl.subject}s. ${model.instructions}`
      })
    )
  })

/**
 * The distinct values among every occurrence of the model in `text` (as {@link parseMany}), first
 * occurrence first. Two values are the same when the schema's equivalence (`Schema.toEquivalence`) says so.
 * Fails when fewer than `minCount` (default 1) distinct values are found.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * const text = "<answer>red</answer><answer>blue</answer><answer>red</answer>"
 * Effect.runSync(Model.parseSet(Model.Answer, text, { minCount: 2 })) // ["red", "blue"]
 * Model.parseSet(Model.Answer, { minCount: 3 })(text)                  // fails: only 2 distinct answers
 * ```
 * @since 0.1.0
 */
export const parseSet: {
  <A>(model: Model<A>, options?: ParseSetOptions): (text: string) => Effect.Effect<ReadonlyArray<A>, ParseError>
  <A>(model: Model<A>, text: string, options?: ParseSetOptions): Effect.Effect<ReadonlyArray<A>, ParseError>
} = (<A>(model: Model<A>, textOrOptions?: string | ParseSetOptions, options?: ParseSetOptions) =>
  typeof textOrOptions === "string"
    ? Effect.fromResult(parseSetResult(model, textOrOptions, options))
    : (input: string) => Effect.fromResult(parseSetResult(model, input, textOrOptions))) as any

// ---------------------------------------------------------------------------------------------
// Built-in models
// ---------------------------------------------------------------------------------------------

/** A list schema read from text with `split`, written back with `join`. */
const listFromText = (
  split: (text: string) => ReadonlyArray<string>,
  separator: string
): Schema.Codec<ReadonlyArray<string>, string> =>
  Schema.String.pipe(Schema.decodeTo(
    Schema.Array(Schema.String),
    SchemaTransformation.transform({ decode: split, encode: (items) => items.join(separator) })
  ))

/** A schema reading a value from text, failing with `message(text)` when `read` returns `undefined`. */
const fromText = <A>(
  target: Schema.Codec<A>,
  read: (text: string) => A | undefined,
  write: (value: A) => string,
  message: (text: string) => string
): Schema.Codec<A, string> =>
  Schema.String.pipe(Schema.decodeTo(
    target,
    SchemaTransformation.transformEffect({
      decode: (text: string, options) => {
        const value = read(text)
        return value === undefined
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: message(text) }, text, options))
          : Effect.succeed(value)
      },
      encode: (value: A) => Effect.succeed(write(value))
    })
  ))

const unquote = (item: string): string =>
  item.length >= 2 && `"'\``.includes(item[0]!) && item[item.length - 1] === item[0] ? item.slice(1, -1).trim() : item

const splitOn = (text: string, delimiter: string | RegExp): ReadonlyArray<string> =>
  text.split(delimiter).map((item) => unquote(item.trim())).filter((item) => item.length > 0)

const bullet = /^(?:[-*+•]|\d{1,3}[.)])\s+/

/** Splits a list on newlines (with bullets removed) when it spans lines, else on its commonest of `,` `;` `|`. */
const splitDelimited = (text: string): ReadonlyArray<string> => {
  const lines = text.split("\n").filter((line) => line.trim().length > 0)
  if (lines.length > 1) return splitOn(lines.map((line) => line.trim().replace(bullet, "")).join("\n"), "\n")
  const [delimiter] = [",", ";", "|"].reduce<[string, number]>((best, candidate) => {
    const count = text.split(candidate).length
    return count > best[1] ? [candidate, count] : best
  }, [",", 0])
  return splitOn(text, delimiter)
}

const yesNo = /^[\s*_"'`]*([a-z]+)(?![a-z/])/i
const readYesNo = (text: string): boolean | undefined => {
  const word = yesNo.exec(text)?.[1]?.toLowerCase()
  return word === "yes" || word === "y" || word === "true"
    ? true
    : word === "no" || word === "n" || word === "false"
    ? false
    : undefined
}

const number = /^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const readNumber = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (!/\d/.test(trimmed) || !number.test(trimmed)) return undefined
  const value = Number(trimmed.replaceAll(",", ""))
  return Number.isFinite(value) ? value : undefined
}

/**
 * A free-text answer in `<answer></answer>`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parse(Model.Answer, "<answer>\n  Paris\n</answer>")) // "Paris"
 * ```
 * @since 0.1.0
 */
export const Answer: XmlModel<string> = xml("answer", Schema.String, {
  instructions: "Put your answer inside <answer></answer> tags."
})

/**
 * A comma-separated list in `<comma-delimited-answer></comma-delimited-answer>`: items trimmed, surrounding
 * quotes removed, empty items dropped.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parse(Model.CommaDelimitedAnswer, "<comma-delimited-answer>a, b, </comma-delimited-answer>"))
 * // ["a", "b"]
 * ```
 * @since 0.1.0
 */
export const CommaDelimitedAnswer: XmlModel<ReadonlyArray<string>> = xml(
  "comma-delimited-answer",
  listFromText((text) => splitOn(text, ","), ", "),
  {
    instructions:
      "Put your answer as a comma-separated list inside <comma-delimited-answer></comma-delimited-answer> tags, like this:\n<comma-delimited-answer>first, second, third</comma-delimited-answer>"
  }
)

/**
 * A list in `<delimited-answer></delimited-answer>`, split on whichever delimiter the text uses: newlines
 * when it spans several lines (list bullets such as `-`, `*`, `1.` removed), otherwise the most frequent of
 * `,`, `;` and `|`. Unlike rigging, `-` and `/` are not delimiters (they occur inside items: "well-known",
 * "24/7"). Items are trimmed, surrounding quotes removed, empty items dropped.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parse(Model.DelimitedAnswer, "<delimited-answer>a; b; c</delimited-answer>")) // ["a", "b", "c"]
 * Effect.runSync(Model.parse(Model.DelimitedAnswer, "<delimited-answer>\n- a, b\n- c\n</delimited-answer>")) // ["a, b", "c"]
 * ```
 * @since 0.1.0
 */
export const DelimitedAnswer: XmlModel<ReadonlyArray<string>> = xml(
  "delimited-answer",
  listFromText(splitDelimited, "\n"),
  {
    instructions:
      "Put your answer as a list inside <delimited-answer></delimited-answer> tags, one item per line, like this:\n<delimited-answer>\nfirst\nsecond\n</delimited-answer>"
  }
)

/**
 * A yes/no answer in `<yes-no-answer></yes-no-answer>`: the first word, case-insensitively, is `yes`, `y` or
 * `true` (→ `true`) or `no`, `n` or `false` (→ `false`); "No, because ..." is `false`, "N/A" is an error.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parse(Model.YesNoAnswer, "<yes-no-answer>Yes.</yes-no-answer>")) // true
 * ```
 * @since 0.1.0
 */
export const YesNoAnswer: XmlModel<boolean> = xml(
  "yes-no-answer",
  fromText(
    Schema.Boolean,
    readYesNo,
    (value) => (value ? "yes" : "no"),
    (text) => `Expected yes or no, got ${quote(text)}`
  ),
  {
    instructions:
      "Answer yes or no inside <yes-no-answer></yes-no-answer> tags, like this:\n<yes-no-answer>yes</yes-no-answer>"
  }
)

/**
 * A number in `<number-answer></number-answer>`: the whole text must be one number (sign, decimals and
 * exponent allowed). Commas are read as thousands separators only in groups of three (`1,234.5` is 1234.5;
 * `1,5` is an error, not a decimal comma). Units or words around the number are errors.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model } from "@capstan/core"
 *
 * Effect.runSync(Model.parse(Model.NumberAnswer, "<number-answer> -12.5 </number-answer>")) // -12.5
 * ```
 * @since 0.1.0
 */
export const NumberAnswer: XmlModel<number> = xml(
  "number-answer",
  fromText(
    Schema.Finite,
    readNumber,
    String,
    (text) => `Expected a single number such as 42, -3.5 or 1,234.5 (no units or words), got ${quote(text)}`
  ),
  {
    instructions:
      "Put your answer as a single number (no units or words) inside <number-answer></number-answer> tags, like this:\n<number-answer>42</number-answer>"
  }
)
