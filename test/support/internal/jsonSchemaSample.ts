/**
 * Deterministic sample generator for JSON Schema: produces one VALID instance of a schema, so the fake provider can answer
 * structured-output requests (`response_format: json_schema`, Anthropic `output_config.format`, forced tool calls).
 *
 * Supported keywords: `type` (incl. arrays of types), `const`, `enum`, `properties`/`required`, `items`/`prefixItems`,
 * `minItems`/`maxItems`, `minLength`/`maxLength`, `format` (date-time, date, time, email, uri, uuid), numeric bounds and
 * `multipleOf`, `anyOf`/`oneOf` (first non-null branch), `allOf` (merged), `$ref` (any local JSON pointer, e.g. into
 * `$defs`/`definitions`). Not supported: `pattern`, `not`, `if/then/else`, `dependentRequired` — a schema relying on
 * them may get an instance that does not validate.
 * @module
 */

/** A JSON value. */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | {
  readonly [key: string]: JsonValue
}

type SchemaNode = { readonly [key: string]: unknown }

// Recursive $refs (trees, linked lists) would otherwise recurse forever; past this depth optional parts are dropped.
const MAX_DEPTH = 24

const isNode = (u: unknown): u is SchemaNode => typeof u === "object" && u !== null && !Array.isArray(u)
const asNumber = (u: unknown): number | undefined => (typeof u === "number" && Number.isFinite(u) ? u : undefined)

/** Generates a deterministic instance of `schema`. `root` is the document `$ref`s resolve against (defaults to `schema`). */
export const sampleFromSchema = (schema: unknown, root: unknown = schema): JsonValue => walk(schema, root, 0)

const walk = (schema: unknown, root: unknown, depth: number): JsonValue => {
  if (schema === false) return null
  if (!isNode(schema)) return "sample" // `true` / `{}`-like: anything is valid
  if (depth > MAX_DEPTH) return null
  if (typeof schema["$ref"] === "string") return walk(resolvePointer(root, schema["$ref"]), root, depth + 1)
  if ("const" in schema) return schema["const"] as JsonValue
  const enumValues = schema["enum"]
  if (Array.isArray(enumValues) && enumValues.length > 0) return enumValues[0] as JsonValue
  const union = firstBranch(schema["anyOf"]) ?? firstBranch(schema["oneOf"])
  if (union !== undefined) return walk(union, root, depth + 1)
  if (Array.isArray(schema["allOf"])) return mergeAll(schema["allOf"].map((s: unknown) => walk(s, root, depth + 1)))
  switch (typeOf(schema)) {
    case "object":
      return sampleObject(schema, root, depth)
    case "array":
      return sampleArray(schema, root, depth)
    case "string":
      return sampleString(schema)
    case "integer":
      return sampleNumber(schema, true)
    case "number":
      return sampleNumber(schema, false)
    case "boolean":
      return true
    case "null":
      return null
    default:
      return "sample"
  }
}

// Prefer a non-null branch: `anyOf: [X, {type: "null"}]` is how optional values are usually spelled, and X is the interesting one.
const firstBranch = (branches: unknown): unknown => {
  if (!Array.isArray(branches) || branches.length === 0) return undefined
  return branches.find((b) => !(isNode(b) && b["type"] === "null")) ?? branches[0]
}

const typeOf = (schema: SchemaNode): string | undefined => {
  const t = schema["type"]
  if (typeof t === "string") return t
  if (Array.isArray(t)) {
    const named = t.filter((x): x is string => typeof x === "string")
    return named.find((x) => x !== "null") ?? named[0]
  }
  if (isNode(schema["properties"]) || Array.isArray(schema["required"])) return "object"
  if (schema["items"] !== undefined || Array.isArray(schema["prefixItems"])) return "array"
  return undefined
}

const sampleObject = (schema: SchemaNode, root: unknown, depth: number): JsonValue => {
  const out: Record<string, JsonValue> = {}
  const properties = isNode(schema["properties"]) ? schema["properties"] : {}
  const required = Array.isArray(schema["required"])
    ? schema["required"].filter((k): k is string => typeof k === "string")
    : []
  const tooDeep = depth >= MAX_DEPTH - 1
  for (const [key, sub] of Object.entries(properties)) {
    if (tooDeep && !required.includes(key)) continue
    out[key] = walk(sub, root, depth + 1)
  }
  for (const key of required) if (!(key in out)) out[key] = "sample"
  return out
}

const sampleArray = (schema: SchemaNode, root: unknown, depth: number): JsonValue => {
  const prefix = Array.isArray(schema["prefixItems"])
    ? schema["prefixItems"].map((s: unknown) => walk(s, root, depth + 1))
    : []
  if (prefix.length > 0 || schema["items"] === false) return prefix
  const min = asNumber(schema["minItems"]) ?? 0
  const max = asNumber(schema["maxItems"]) ?? Number.POSITIVE_INFINITY
  const count = depth >= MAX_DEPTH - 1 ? min : Math.min(Math.max(1, min), max)
  const item = schema["items"] ?? {}
  return Array.from({ length: count }, () => walk(item, root, depth + 1))
}

const FORMAT_SAMPLES: Readonly<Record<string, string>> = {
  "date-time": "2026-01-01T00:00:00Z",
  date: "2026-01-01",
  time: "00:00:00Z",
  email: "user@example.com",
  uri: "https://example.com/",
  url: "https://example.com/",
  uuid: "00000000-0000-4000-8000-000000000000"
}

const sampleString = (schema: SchemaNode): string => {
  const format = typeof schema["format"] === "string" ? FORMAT_SAMPLES[schema["format"]] : undefined
  if (format !== undefined) return format
  const min = asNumber(schema["minLength"]) ?? 0
  const max = asNumber(schema["maxLength"]) ?? Number.POSITIVE_INFINITY
  return "sample".padEnd(min, "x").slice(0, max)
}

const sampleNumber = (schema: SchemaNode, integer: boolean): number => {
  const step = asNumber(schema["multipleOf"]) ?? (integer ? 1 : undefined)
  const exMin = asNumber(schema["exclusiveMinimum"])
  const exMax = asNumber(schema["exclusiveMaximum"])
  // The smallest gap we can add to an exclusive bound and still stay representable/valid.
  const nudge = step ?? 0.5
  let lo = asNumber(schema["minimum"]) ?? Number.NEGATIVE_INFINITY
  if (exMin !== undefined) lo = Math.max(lo, exMin + nudge)
  let hi = asNumber(schema["maximum"]) ?? Number.POSITIVE_INFINITY
  if (exMax !== undefined) hi = Math.min(hi, exMax - nudge)
  let value = Math.min(Math.max(integer ? 1 : 1.5, lo), hi)
  if (step !== undefined) {
    value = Math.ceil(value / step) * step
    if (value > hi) value -= step
  }
  return value
}

const mergeAll = (parts: ReadonlyArray<JsonValue>): JsonValue => {
  const objects = parts.filter((p): p is { readonly [key: string]: JsonValue } => isNode(p))
  if (objects.length === parts.length && objects.length > 0) return Object.assign({}, ...objects) as JsonValue
  return parts[0] ?? null
}

/** Resolves a local JSON pointer such as `#/$defs/Item` (RFC 6901 escapes handled). Unknown targets resolve to `{}`. */
const resolvePointer = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith("#")) return {}
  const segments = ref.slice(1).split("/").filter((s) => s.length > 0)
  let node: unknown = root
  for (const raw of segments) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~")
    if (Array.isArray(node)) node = node[Number(key)]
    else if (isNode(node)) node = node[key]
    else return {}
  }
  return node ?? {}
}
