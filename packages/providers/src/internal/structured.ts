/**
 * Structured output on the wire. A request's `StructuredOutput` carries the answer's Effect schema; each provider
 * rewrites it into the JSON Schema its API accepts with effect's adapters (`OpenAiStructuredOutput`,
 * `AnthropicStructuredOutput`: optional properties become required nullable ones, tuples objects, records arrays of
 * entries), and reads the answer back with the adapter's codec into the canonical JSON of the schema, so core parses
 * every provider's answer the same way.
 *
 * @internal
 */
import type { Generation } from "@capstan/core"
import { type JsonSchema, Result, Schema } from "effect"

/**
 * What a provider sends for a structured-output request, and how it reads the answer.
 *
 * @internal
 */
export interface Wire {
  /** The request's name as both APIs accept it (`^[a-zA-Z0-9_-]{1,64}$`). */
  readonly name: string
  /** The JSON Schema to send: the provider's rewrite, or the request's own document when there is none. */
  readonly jsonSchema: JsonSchema.JsonSchema
  /** True when `jsonSchema` is the provider's rewrite, which OpenAI's strict mode takes. */
  readonly adapted: boolean
  /**
   * The provider's answer (parsed JSON) as the text core parses: the canonical JSON of the request's schema when
   * it reads as the rewrite asked, else the answer as it came, for core's parse to say what is wrong with it.
   */
  readonly answer: (json: unknown) => string
}

/**
 * One of effect's provider adapters: the provider's JSON Schema for a schema and the codec that decodes what the
 * provider answers. It throws when the schema cannot be rewritten.
 *
 * @internal
 */
export type Adapter = (schema: Schema.Decoder<unknown>) => {
  readonly codec: Schema.ConstraintDecoder<unknown>
  readonly jsonSchema: JsonSchema.JsonSchema
}

const wireName = (name: string): string => name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64) || "output"

const isObjectRoot = (schema: JsonSchema.JsonSchema): boolean =>
  schema["type"] === "object" && schema["anyOf"] === undefined

const asItCame = (json: unknown): string => JSON.stringify(json ?? null)

interface Adapted {
  readonly jsonSchema: JsonSchema.JsonSchema
  readonly answer: (json: unknown) => string
}

/** A schema that is not an object is asked for as `{ value: ... }`; `unwrap` takes the answer out again. */
interface Shape {
  readonly schema: Schema.Decoder<unknown>
  readonly unwrap: (json: unknown) => unknown
}

const bare = (schema: Schema.Decoder<unknown>): Shape => ({ schema, unwrap: (json) => json })

const wrapped = (schema: Schema.Decoder<unknown>): Shape => ({
  schema: Schema.Struct({ value: schema }),
  unwrap: (json) => typeof json === "object" && json !== null && "value" in json ? json.value : json
})

// The provider's codec reads its answer back into the schema's type, and the schema's own JSON codec writes that
// as the JSON core expects. Checks are left to core's parse (`disableChecks`): its errors name the fields of the
// schema the model was asked for, not those of the provider's rewrite.
const reader = (schema: Schema.Decoder<unknown>, shape: Shape, codec: Schema.ConstraintDecoder<unknown>) => {
  const decode = Schema.decodeUnknownResult(codec)
  // A model's schema is a decoder: encoding may need services or be refused, and then the answer goes as it came.
  const encode = Schema.encodeUnknownResult(Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, unknown>)
  return (json: unknown): string => {
    try {
      const decoded = decode(json, { disableChecks: true })
      const encoded = Result.isSuccess(decoded)
        ? encode(shape.unwrap(decoded.success), { disableChecks: true })
        : undefined
      if (encoded !== undefined && Result.isSuccess(encoded)) return JSON.stringify(encoded.success)
    } catch {
      // Asynchronous transformations throw in the synchronous runner.
    }
    return asItCame(shape.unwrap(json))
  }
}

const adapt = (adapter: Adapter, structured: Generation.StructuredOutput): Adapted | undefined => {
  const attempt = (shape: Shape): Adapted | undefined => {
    let adapted: ReturnType<Adapter>
    try {
      adapted = adapter(shape.schema)
    } catch {
      return undefined
    }
    // Both APIs want an object at the root (a response format, a tool's input).
    return isObjectRoot(adapted.jsonSchema)
      ? { jsonSchema: adapted.jsonSchema, answer: reader(structured.codec, shape, adapted.codec) }
      : undefined
  }
  return attempt(bare(structured.codec)) ??
    // A list, a scalar or a union is wrapped. A record is not: it is an object already, and its rewrite (an array
    // of [key, value] pairs, often of untyped JSON values) would serve models worse than the plain document.
    (isObjectRoot(structured.schema) ? undefined : attempt(wrapped(structured.codec)))
}

/**
 * The wire form of structured-output requests for one provider, memoized per schema. A schema the adapter cannot
 * rewrite is sent as the request's plain JSON Schema (`adapted: false`) and its answers go to core as they came.
 *
 * @internal
 */
export const make = (adapter: Adapter): (structured: Generation.StructuredOutput) => Wire => {
  // A memo of pure values: a schema's rewrite never changes, and making it walks the whole schema. Keyed by the
  // schema alone because the request's plain document is derived from it.
  const memo = new WeakMap<object, Adapted | null>()
  return (structured) => {
    let adapted = memo.get(structured.codec)
    if (adapted === undefined) {
      adapted = adapt(adapter, structured) ?? null
      memo.set(structured.codec, adapted)
    }
    return adapted === null
      ? { name: wireName(structured.name), jsonSchema: structured.schema, adapted: false, answer: asItCame }
      : { name: wireName(structured.name), jsonSchema: adapted.jsonSchema, adapted: true, answer: adapted.answer }
  }
}

/**
 * A structured answer that arrives as text (OpenAI's message content) as the text core parses. Text that is not
 * JSON (an answer cut short by `max_tokens`) stays as it is.
 *
 * @internal
 */
export const answerText = (wire: Wire, text: string): string => {
  if (!wire.adapted) return text
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return text
  }
  return wire.answer(json)
}
