/**
 * The bridge between scanned XML and Effect Schema: reads an element as the `StringTree` a schema's
 * `Schema.toCodecStringTree` codec decodes, and renders the XML example a model is asked to follow.
 * Both walk the schema's encoded AST, so they agree on the layout: a struct field is a child element of the
 * same name, an array is a wrapper element whose children are the items (or the field's element repeated),
 * and anything else is the element's text.
 *
 * @internal
 */
import { SchemaAST } from "effect"
import * as Xml from "./xml.js"

/**
 * What `Schema.toCodecStringTree` decodes.
 *
 * @internal
 */
export type StringTree = string | undefined | { readonly [key: string]: StringTree } | ReadonlyArray<StringTree>

const resolve = (ast: SchemaAST.AST): SchemaAST.AST => {
  let current = ast
  for (let guard = 0; current._tag === "Suspend" && guard < 100; guard++) current = current.thunk()
  return current
}

/** The alternatives of a type: unions flattened, suspensions resolved, `undefined` (an absent key) dropped. */
const alternatives = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.AST> => {
  const resolved = resolve(ast)
  if (resolved._tag === "Undefined") return []
  return resolved._tag === "Union" ? resolved.types.flatMap(alternatives) : [resolved]
}

const isStructural = (ast: SchemaAST.AST): ast is SchemaAST.Objects | SchemaAST.Arrays =>
  ast._tag === "Objects" || ast._tag === "Arrays"

const itemType = (ast: SchemaAST.Arrays, index: number): SchemaAST.AST | undefined => ast.elements[index] ?? ast.rest[0]

const propertyKeys = (ast: SchemaAST.Objects): ReadonlyArray<string> =>
  ast.propertySignatures.flatMap((property) => typeof property.name === "string" ? [property.name.toLowerCase()] : [])

/** How many of an object type's properties the element supplies, as child elements or attributes. */
const score = (element: Xml.Element, ast: SchemaAST.Objects): number =>
  propertyKeys(ast).filter((key) => element.attributes.has(key) || element.children.some((child) => child.key === key))
    .length

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/**
 * Reads `element` (scanned from `text`) as the StringTree of `ast`, an AST from
 * `SchemaAST.toEncoded(Schema.toCodecStringTree(schema).ast)`. Fields that are absent stay absent, so the
 * schema reports them.
 *
 * @internal
 */
export const read = (text: string, element: Xml.Element, ast: SchemaAST.AST): StringTree => {
  const types = alternatives(ast)
  const structural = types.filter(isStructural)
  // Prefer text when the type also admits text and the element has no child elements to read.
  if (structural.length === 0 || (structural.length < types.length && element.children.length === 0)) {
    return readText(text, element, types)
  }
  const objects = structural.filter((type): type is SchemaAST.Objects => type._tag === "Objects")
  const arrays = structural.filter((type): type is SchemaAST.Arrays => type._tag === "Arrays")
  const best = objects.reduce<SchemaAST.Objects | undefined>(
    (best, type) => best === undefined || score(element, type) > score(element, best) ? type : best,
    undefined
  )
  return best !== undefined && (arrays.length === 0 || score(element, best) > 0)
    ? readObject(text, element, best)
    : readArray(text, element, arrays[0]!)
}

/** The element's text; a case-insensitive match of a string literal is spelled as the literal. */
const readText = (text: string, element: Xml.Element, types: ReadonlyArray<SchemaAST.AST>): string => {
  const value = Xml.innerText(text, element)
  if (!types.every((type) => type._tag === "Literal")) return value
  const literals = types.map((type) => String(type.literal))
  if (literals.includes(value)) return value
  const matches = literals.filter((literal) => literal.toLowerCase() === value.toLowerCase())
  return matches.length === 1 ? matches[0]! : value
}

const readObject = (text: string, element: Xml.Element, ast: SchemaAST.Objects): StringTree => {
  const result: Record<string, StringTree> = {}
  const keys = new Set<string>()
  for (const property of ast.propertySignatures) {
    if (typeof property.name !== "string") continue
    const key = property.name.toLowerCase()
    keys.add(key)
    const value = readField(text, element, key, property.type)
    if (value !== undefined) result[property.name] = value
  }
  const index = ast.indexSignatures[0]
  if (index !== undefined) {
    for (const child of element.children) {
      if (!keys.has(child.key) && !(child.name in result)) result[child.name] = read(text, child, index.type)
    }
  }
  return result
}

const readField = (text: string, parent: Xml.Element, key: string, ast: SchemaAST.AST): StringTree => {
  const matches = parent.children.filter((child) => child.key === key)
  const types = alternatives(ast)
  const array = types.length === 1 && types[0]!._tag === "Arrays" ? types[0] : undefined
  if (array !== undefined && matches.length > 1) {
    return matches.map((match, index) => readItem(text, match, itemType(array, index)))
  }
  const chosen = matches.find((match) => !Xml.isEmpty(text, match)) ?? matches[0]
  if (chosen === undefined) {
    return types.some(isStructural) ? undefined : parent.attributes.get(key)
  }
  // An optional field written as an empty element counts as absent.
  if (SchemaAST.isOptional(ast) && Xml.isEmpty(text, chosen) && chosen.attributes.size === 0) return undefined
  return array !== undefined ? readArray(text, chosen, array) : read(text, chosen, ast)
}

/**
 * The items of an array element: its child elements, unless they are the fields of a single object item
 * (`<people><name>..</name></people>`), or its text as the single item when it has no child elements.
 */
const readArray = (text: string, element: Xml.Element, ast: SchemaAST.Arrays): StringTree => {
  if (Xml.isEmpty(text, element)) return []
  const first = itemType(ast, 0)
  const fieldsOfOneItem = first !== undefined &&
    alternatives(first).some((type) => type._tag === "Objects" && score(element, type) > 0)
  return element.children.length > 0 && !fieldsOfOneItem
    ? element.children.map((child, index) => readItem(text, child, itemType(ast, index)))
    : [readItem(text, element, first)]
}

const readItem = (text: string, element: Xml.Element, ast: SchemaAST.AST | undefined): StringTree =>
  ast === undefined ? Xml.innerText(text, element) : read(text, element, ast)

// ---------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------

const maxExampleDepth = 6

const describeLeaf = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "Literal":
      return String(ast.literal)
    case "Number": {
      const expected = ast.checks?.map((check) => check.annotations?.expected).find((text) => typeof text === "string")
      return typeof expected === "string" ? expected : "a number"
    }
    case "Boolean":
      return "true or false"
    case "Null":
      return "null"
    case "BigInt":
      return "an integer"
    default:
      return "text"
  }
}

const hint = (ast: SchemaAST.AST, types: ReadonlyArray<SchemaAST.AST>): string => {
  const description = SchemaAST.resolveDescription(ast) ??
    (types.length === 1 ? SchemaAST.resolveDescription(types[0]!) : undefined)
  if (description !== undefined) return description
  if (types.length > 1 && types.every((type) => type._tag === "Literal")) return types.map(describeLeaf).join(" | ")
  return [...new Set(types.map(describeLeaf))].join(" or ")
}

const renderElement = (name: string, ast: SchemaAST.AST, indent: string, depth: number): Array<string> => {
  const types = alternatives(ast)
  const structural = depth < maxExampleDepth ? types.find(isStructural) : undefined
  const optional = SchemaAST.isOptional(ast) ? " (optional)" : ""
  if (structural === undefined) return [`${indent}<${name}>${hint(ast, types)}${optional}</${name}>`]
  const inner = indent + "  "
  const body = structural._tag === "Objects"
    ? structural.propertySignatures.flatMap((property) =>
      typeof property.name === "string" ? renderElement(property.name, property.type, inner, depth + 1) : []
    )
    : [...renderItem(itemType(structural, 0), inner, depth), `${inner}...`]
  const open = optional === "" ? `${indent}<${name}>` : `${indent}<${name}><!-- optional -->`
  return body.length === 0 ? [`${indent}<${name}></${name}>`] : [open, ...body, `${indent}</${name}>`]
}

const renderItem = (ast: SchemaAST.AST | undefined, indent: string, depth: number): Array<string> =>
  ast === undefined ? [] : renderElement("item", ast, indent, depth + 1)

/**
 * An example of the XML `tag` holding a value of `ast` (an encoded AST, `SchemaAST.toEncoded(schema.ast)`):
 * leaves show a hint (the description annotation, the literals, or the type).
 *
 * @internal
 */
export const example = (tag: string, ast: SchemaAST.AST): string => renderElement(tag, ast, "", 0).join("\n")

/**
 * Whether values of `ast` are written as child elements rather than text.
 *
 * @internal
 */
export const isStructured = (ast: SchemaAST.AST): boolean => alternatives(ast).some(isStructural)
