/**
 * Models read from JSON: the JSON is found in the text (`json.ts`) and decoded with the schema's JSON codec;
 * the model carries the structured-output request that asks a provider for that JSON natively.
 *
 * @internal
 */
import { Schema, SchemaAST } from "effect"
import type { StructuredOutput } from "../Generation.js"
import * as Json from "./json.js"
import { decoder, type JsonModel, type JsonOptions, make, readerKey } from "./model.js"

const structuredName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "json"

const identifierKey = /^[A-Za-z_$][\w$]*$/

/** `$.a[0]["odd key"]`: the JSON path a model can find its mistake by. */
const jsonPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) =>
      typeof key === "number"
        ? `${text}[${key}]`
        : typeof key === "string" && identifierKey.test(key)
        ? `${text}.${key}`
        : `${text}[${JSON.stringify(String(key))}]`,
    "$"
  )

/**
 * Binds a schema to JSON (see `Model.json`).
 *
 * @internal
 */
export const json = <A>(schema: Schema.Decoder<A>, options?: JsonOptions): JsonModel<A> => {
  const name = options?.name ?? SchemaAST.resolveIdentifier(schema.ast) ?? "json"
  const description = options?.description ?? SchemaAST.resolveDescription(schema.ast)
  const document = Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" })
  const jsonSchema = Json.fromDocument(document)
  const structured: StructuredOutput = {
    name: structuredName(name),
    ...(description === undefined ? {} : { description }),
    schema: jsonSchema,
    codec: schema
  }
  const instructions = options?.instructions ?? (Object.keys(jsonSchema).length === 0
    ? "Answer with JSON."
    : `Answer with JSON that matches this JSON Schema:\n${JSON.stringify(jsonSchema)}`)
  const decode = decoder(Schema.toCodecJson(schema), {
    render: jsonPath,
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
