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
import { Effect, type Option, Result, type Schema } from "effect"
import * as answers from "./internal/answers.js"
import * as jsonModel from "./internal/jsonModel.js"
import * as internal from "./internal/model.js"
import type { JsonModel, JsonOptions, Model, XmlModel, XmlOptions } from "./internal/model.js"
import * as modelParse from "./internal/modelParse.js"
import * as xmlModel from "./internal/xmlModel.js"
import type { ParseError } from "./PipelineError.js"

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
export const TypeId: TypeId = internal.TypeId

/**
 * @since 0.1.0
 */
export type TypeId = internal.TypeId

/**
 * A schema bound to a format: what pipelines parse, ask for, and (for JSON) request natively.
 *
 * - `name`: the XML tag, or the JSON model's name; it is the `model` of every {@link ParseError}.
 * - `instructions`: a short text telling a model how to format its answer.
 * - `structured`: for JSON models, the native structured-output request (`Generation.StructuredOutput`: a
 *   name matching `[A-Za-z0-9_-]{1,64}`, a description, the schema itself, from which each provider derives the
 *   JSON Schema its API accepts, and the plain JSON Schema from `Schema.toJsonSchemaDocument` with objects closed
 *   by `additionalProperties: false`, definitions under `$defs` and a root that is not a bare `$ref`);
 *   `undefined` for XML models.
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
export type { Model } from "./internal/model.js"

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
export type { XmlModel } from "./internal/model.js"

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
export type { JsonModel } from "./internal/model.js"

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
export type { XmlOptions } from "./internal/model.js"

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
export type { JsonOptions } from "./internal/model.js"

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
export const isModel: (u: unknown) => u is Model<unknown> = internal.isModel

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
export const xml: <A>(tag: string, schema: Schema.Decoder<A>, options?: XmlOptions) => XmlModel<A> = xmlModel.xml

/**
 * Binds a schema to JSON. The JSON is found in the text (the whole text, fenced code blocks, or balanced
 * `{...}` / `[...]` spans that parse) and decoded with the schema's JSON codec (`Schema.toCodecJson`). `structured` carries the
 * schema, and the JSON Schema that `Schema.toJsonSchemaDocument` derives, for providers with native structured output.
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
export const json: <A>(schema: Schema.Decoder<A>, options?: JsonOptions) => JsonModel<A> = jsonModel.json

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
export const parseResult: <A>(model: Model<A>, text: string) => Result.Result<A, ParseError> = modelParse.parseResult

/** Both call forms of a function of a model and a text: `f(model, text)`, and `f(model)(text)` for pipelines. */
const withText =
  <R>(f: (model: Model<unknown>, text: string) => R) => (model: Model<unknown>, ...text: [] | [string]) =>
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
} = withText((model, text) => Effect.fromResult(modelParse.parseResult(model, text))) as typeof parse

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
} = withText((model, text) => Result.getSuccess(modelParse.parseResult(model, text))) as typeof tryParse

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
} = withText((model, text) => Effect.fromResult(modelParse.parseManyResult(model, text))) as typeof parseMany

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
} =
  (<A>(model: Model<A>, textOrOptions?: string | ParseSetOptions, options?: ParseSetOptions) =>
    typeof textOrOptions === "string"
      ? Effect.fromResult(modelParse.parseSetResult(model, textOrOptions, options?.minCount ?? 1))
      : (input: string) =>
        Effect.fromResult(modelParse.parseSetResult(model, input, textOrOptions?.minCount ?? 1))) as typeof parseSet

// ---------------------------------------------------------------------------------------------
// Built-in models
// ---------------------------------------------------------------------------------------------

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
export const Answer: XmlModel<string> = answers.Answer

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
export const CommaDelimitedAnswer: XmlModel<ReadonlyArray<string>> = answers.CommaDelimitedAnswer

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
export const DelimitedAnswer: XmlModel<ReadonlyArray<string>> = answers.DelimitedAnswer

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
export const YesNoAnswer: XmlModel<boolean> = answers.YesNoAnswer

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
export const NumberAnswer: XmlModel<number> = answers.NumberAnswer
