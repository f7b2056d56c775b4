/**
 * Adapting the JSON Schema of a structured-output request to what the providers accept.
 *
 * @internal
 */

type Node = Readonly<Record<string, unknown>>

const isNode = (u: unknown): u is Node => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Both providers want an object schema at the root, while Effect's JSON Schema output puts a schema with an
 * identifier behind `{ $ref: "#/$defs/Name" }`. The referenced definition is inlined at the root; `$defs`
 * stay, so recursive references keep resolving.
 */
export const rootObject = (schema: Node): Node => {
  const ref = schema["$ref"]
  if (typeof ref !== "string") return schema
  const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref)
  const defs = match === null ? undefined : schema[match[1]!]
  const target = isNode(defs) ? defs[decodeURIComponent(match![2]!.replace(/~1/g, "/").replace(/~0/g, "~"))] : undefined
  if (!isNode(target)) return schema
  const { $ref: _, ...rest } = schema
  return { ...rest, ...target }
}

/**
 * Closes every struct (an object schema with `properties`) that allows extra properties or does not say:
 * Effect's JSON Schema output allows them unless told otherwise, decoding ignores them anyway, and OpenAI's
 * strict mode needs `additionalProperties: false` on every object. Records (`additionalProperties: <schema>`)
 * are left as they are.
 */
export const closeObjects = (schema: Node): Node => {
  const close = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(close)
    if (!isNode(node)) return node
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) {
      out[key] = key === "properties" || key === "$defs" || key === "definitions"
        ? isNode(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, close(v)])) : value
        : key === "items" || key === "prefixItems" || key === "anyOf" || key === "oneOf" || key === "allOf"
        ? close(value)
        : value
    }
    const extra = node["additionalProperties"]
    if (isNode(node["properties"]) && (extra === undefined || extra === true)) out["additionalProperties"] = false
    return out
  }
  return close(schema) as Node
}

// The keywords OpenAI's strict mode accepts (https://platform.openai.com/docs/guides/structured-outputs, "Supported
// schemas"); anything else makes the API reject a strict schema, so the request falls back to strict: false.
const strictKeywords = new Set([
  "$schema",
  "$id",
  "$ref",
  "$defs",
  "definitions",
  "title",
  "description",
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "anyOf",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minItems",
  "maxItems"
])

/**
 * True when OpenAI accepts the schema with `strict: true`: an object at the root, every object closed
 * (`additionalProperties: false`) with all of its properties required, and only supported keywords.
 */
export const isStrictCompatible = (schema: Node): boolean => {
  if (schema["type"] !== "object" || "anyOf" in schema) return false
  const check = (node: unknown): boolean => {
    if (typeof node === "boolean") return false
    if (!isNode(node)) return false
    for (const key of Object.keys(node)) if (!strictKeywords.has(key)) return false
    const properties = node["properties"]
    const isObject = node["type"] === "object" || (Array.isArray(node["type"]) && node["type"].includes("object"))
    if (isObject || properties !== undefined) {
      if (node["additionalProperties"] !== false) return false
      const keys = isNode(properties) ? Object.keys(properties) : []
      const required = Array.isArray(node["required"]) ? node["required"] : []
      if (keys.some((k) => !required.includes(k))) return false
      if (isNode(properties) && !Object.values(properties).every(check)) return false
    }
    if (node["items"] !== undefined && !check(node["items"])) return false
    if (node["anyOf"] !== undefined && !(Array.isArray(node["anyOf"]) && node["anyOf"].every(check))) return false
    for (const defs of [node["$defs"], node["definitions"]]) {
      if (defs !== undefined && !(isNode(defs) && Object.values(defs).every(check))) return false
    }
    return true
  }
  return check(schema)
}

/**
 * A name both providers accept for a schema or tool (`^[a-zA-Z0-9_-]{1,64}$`).
 */
export const safeName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)
  return cleaned.length === 0 ? "output" : cleaned
}
