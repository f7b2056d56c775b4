/**
 * The model type and what every model shares: a model reads a text into occurrences (candidate values), and
 * decoding an occurrence gives the value or one line per problem, written for the model that produced the text.
 * `Model.ts` is the public face; `xmlModel.ts` and `jsonModel.ts` build the two kinds, `modelParse.ts` parses.
 *
 * @internal
 */
import { Result, Schema, SchemaIssue } from "effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type { StructuredOutput } from "../Generation.js"

/** @internal */
export const TypeId: TypeId = "~@capstan/core/Model"

/** @internal */
export type TypeId = "~@capstan/core/Model"

/**
 * A schema bound to a format (see `Model.Model`).
 *
 * @internal
 */
export interface Model<out A> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "XmlModel" | "JsonModel"
  readonly name: string
  readonly schema: Schema.Decoder<A>
  readonly instructions: string
  readonly structured: StructuredOutput | undefined
}

/** @internal */
export interface XmlModel<out A> extends Model<A> {
  readonly _tag: "XmlModel"
  readonly structured: undefined
}

/** @internal */
export interface JsonModel<out A> extends Model<A> {
  readonly _tag: "JsonModel"
  readonly structured: StructuredOutput
}

/** @internal */
export interface XmlOptions {
  /** Replaces the generated instructions. */
  readonly instructions?: string
}

/** @internal */
export interface JsonOptions {
  /** The model's name; defaults to the schema's `identifier` annotation, then `"json"`. */
  readonly name?: string
  /** The structured-output description; defaults to the schema's `description` annotation. */
  readonly description?: string
  /** Replaces the generated instructions. */
  readonly instructions?: string
}

/**
 * One candidate value in a text: decoding yields the value, or one line per problem.
 *
 * @internal
 */
export interface Occurrence<A> {
  readonly empty: boolean
  readonly decode: () => Result.Result<A, ReadonlyArray<string>>
}

/** @internal */
export interface Reading<A> {
  readonly occurrences: ReadonlyArray<Occurrence<A>>
  /** Why nothing was found, for the model to read. */
  readonly missing: string
}

/** @internal */
export const readerKey = Symbol.for("@capstan/core/Model/reader")

/**
 * A model with what parsing needs and the public type hides.
 *
 * @internal
 */
export interface ModelImpl<A> extends Model<A> {
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

/** @internal */
export const make = <A>(fields: Omit<ModelImpl<A>, typeof TypeId | "pipe">): ModelImpl<A> =>
  Object.assign(Object.create(Proto), fields)

/** @internal */
export const implOf = <A>(model: Model<A>): ModelImpl<A> => model as ModelImpl<A>

/** @internal */
export const isModel = (u: unknown): u is Model<unknown> =>
  typeof u === "object" && u !== null && TypeId in u && readerKey in u

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

type Path = ReadonlyArray<PropertyKey>

const valueAt = (input: unknown, path: Path): unknown =>
  path.reduce<unknown>(
    (value, key) =>
      typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    input
  )

/**
 * A value as JSON, cut short: error messages quote what was read without repeating a whole answer.
 *
 * @internal
 */
export const quote = (value: string | number | boolean): string => {
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text
}

// How `Schema.toCodecStringTree` describes a number written as text: in XML every number is text.
const stringTreeNumber = "a string representing a finite number"

/**
 * How a model names places in a value: an XML element path or a JSON path.
 *
 * @internal
 */
export interface PathStyle {
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

/**
 * Decodes with every issue reported, as lines for the model to read.
 *
 * @internal
 */
export const decoder = <A>(codec: Schema.Decoder<A>, style: PathStyle) => {
  const decode = Schema.decodeUnknownResult(codec)
  return (input: unknown): Result.Result<A, ReadonlyArray<string>> =>
    Result.mapError(decode(input, { errors: "all" }), (error) => issueLines(error.issue, input, style))
}
