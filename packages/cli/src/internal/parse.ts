/**
 * `--parse json | xml:TAG | schema:FILE.json`: the model every answer is parsed with.
 *
 * @internal
 */
import { Model } from "@capstan/core"
import { Effect, type FileSystem, JsonSchema, Schema, SchemaRepresentation } from "effect"
import { InputError, UsageError } from "../Errors.js"
import * as Input from "../Input.js"

const usage = new UsageError({
  reason: "--parse expects json, xml:TAG or schema:FILE.json",
  hint: "e.g. --parse json, --parse xml:answer, --parse schema:review.schema.json"
})

export const schemaName = (file: string): string => {
  const base = file.slice(file.lastIndexOf("/") + 1)
  return base.replace(/(\.schema)?\.json$/i, "") || "json"
}

/**
 * Reads an object that does not say whether it allows other keys as closed. This is how the file is read, not a
 * rewrite of what is sent: left open, the object becomes a struct with a record of unknown values beside its
 * fields, which no provider's strict structured output can express (it would be asked for as an array of
 * [key, value] pairs, or sent non-strict), and decoding would keep extra keys untyped.
 */
const closeObjects = (schema: JsonSchema.JsonSchema): JsonSchema.JsonSchema =>
  schema.type === "object" && schema.additionalProperties === undefined
    ? { ...schema, additionalProperties: false }
    : schema

/**
 * A JSON model from a parsed JSON Schema document (draft 2020-12 or 07); throws when it is not a usable one. A cluster
 * runner builds the model from the document a coordinator read, with the name it gave.
 */
export const fromSchemaDocument = (raw: unknown, name: string): Model.Model<unknown> => {
  const schema = raw as JsonSchema.JsonSchema
  const document = typeof schema.$schema === "string" && schema.$schema.includes("draft-07")
    ? JsonSchema.fromSchemaDraft07(schema)
    : JsonSchema.fromSchemaDraft2020_12(schema)
  const decoded = SchemaRepresentation.fromJsonSchemaDocument(document, { patterns: "apply", onEnter: closeObjects })
  return Model.json(decoded as Schema.Decoder<unknown>, { name })
}

/**
 * A JSON model from a JSON Schema file (draft 2020-12 or 07), through Effect's own JSON Schema importer, so the
 * answer is checked against the schema and the provider is asked for that schema natively.
 */
const fromSchemaFile = (file: string): Effect.Effect<Model.Model<unknown>, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const text = yield* Input.readText(file)
    return yield* Effect.try({
      try: () => fromSchemaDocument(JSON.parse(text), schemaName(file)),
      catch: (error) =>
        new InputError({
          file,
          reason: `not a usable JSON Schema: ${error instanceof Error ? error.message : String(error)}`,
          hint:
            "--parse schema:FILE.json takes a JSON Schema document such as {\"type\":\"object\",\"properties\":{...}}"
        })
    })
  })

/**
 * The model named by a `--parse` value.
 */
export const model = (
  spec: string
): Effect.Effect<Model.Model<unknown>, InputError | UsageError, FileSystem.FileSystem> => {
  // A JSON object: what providers' JSON modes produce, and a schema every structured-output API accepts.
  if (spec === "json") return Effect.succeed(Model.json(Schema.Record(Schema.String, Schema.Json), { name: "json" }))
  if (spec.startsWith("xml:")) {
    const tag = spec.slice(4)
    return Effect.try({
      try: () => Model.xml(tag, Schema.String),
      catch: (error) => new UsageError({ reason: error instanceof Error ? error.message : String(error) })
    })
  }
  if (spec.startsWith("schema:") && spec.length > 7) return fromSchemaFile(spec.slice(7))
  return Effect.fail(usage)
}
