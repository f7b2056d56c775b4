/**
 * Models read from an XML element: the lenient scanner (`xml.ts`) finds the elements, `xmlSchema.ts` reads one
 * as the string tree the schema's `Schema.toCodecStringTree` codec decodes.
 *
 * @internal
 */
import { Schema, SchemaAST } from "effect"
import { decoder, make, readerKey, type XmlModel, type XmlOptions } from "./model.js"
import * as Xml from "./xml.js"
import * as XmlSchema from "./xmlSchema.js"

const tagName = /^[A-Za-z_][\w.:-]*$/

/**
 * Binds a schema to an XML tag (see `Model.xml`). Throws when `tag` is not an XML name.
 *
 * @internal
 */
export const xml = <A>(tag: string, schema: Schema.Decoder<A>, options?: XmlOptions): XmlModel<A> => {
  if (!tagName.test(tag)) {
    throw new Error(
      `Model.xml: ${
        JSON.stringify(tag)
      } is not an XML tag name; use letters, digits, "-", "_", "." or ":", starting with a letter or "_"`
    )
  }
  const key = tag.toLowerCase()
  const codec = Schema.toCodecStringTree(schema)
  const layout = SchemaAST.toEncoded(codec.ast)
  const encoded = SchemaAST.toEncoded(schema.ast)
  const instructions = options?.instructions ??
    `Put your answer inside <${tag}></${tag}> tags, ${
      XmlSchema.isStructured(encoded) ? "in this format" : "like this"
    }:\n${XmlSchema.example(tag, encoded)}`
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
