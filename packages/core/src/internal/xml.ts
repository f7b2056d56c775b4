/**
 * A lenient XML scanner for model output. It is not an XML parser: text that is not well-formed markup
 * (`<DIR>`, `a < b`, `&`, an opening tag that is never closed) stays text, and only elements whose opening
 * and closing tags pair up become elements.
 *
 * One pass, no backtracking across the text: every `<` starts at most one tag attempt, and an attempt never
 * reads past the next `<` (XML forbids `<` in attribute values), so scanning is linear in the text's length.
 *
 * @internal
 */

/** An element whose opening and closing tags pair up. Offsets index the scanned text. */
export interface Element {
  /** The name as written. */
  readonly name: string
  /** The name, lower-cased: names match case-insensitively. */
  readonly key: string
  /** Offset of the opening `<`. */
  readonly start: number
  /** Offset just past the opening tag. */
  readonly contentStart: number
  /** Offset of the closing tag's `<` (equal to `contentStart` for `<x/>`). */
  readonly contentEnd: number
  /** Offset just past the closing tag. */
  readonly end: number
  /** Attribute values by lower-cased name, entities decoded. */
  readonly attributes: ReadonlyMap<string, string>
  /** The elements directly inside this one, in document order. */
  readonly children: ReadonlyArray<Element>
}

interface Frame {
  readonly name: string
  readonly key: string
  readonly start: number
  readonly contentStart: number
  readonly attributes: ReadonlyMap<string, string>
  readonly children: Array<Element>
}

// Sticky, anchored at a `<`. Attribute names and values exclude `<`, so a failed attempt stops at the next `<`;
// every repetition consumes a name that is delimited by whitespace or `=`, so there is no ambiguous backtracking.
const openTag = /<([A-Za-z_][\w.:-]*)((?:\s+[^\s=<>/"']+(?:\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'<>=`]+))?)*)\s*(\/?)>/y
const closeTag = /<\/([A-Za-z_][\w.:-]*)\s*>/y
const attribute = /([^\s=<>/"']+)(?:\s*=\s*(?:"([^"<]*)"|'([^'<]*)'|([^\s"'<>=`]+)))?/g

const parseAttributes = (source: string): ReadonlyMap<string, string> => {
  if (source.length === 0) return new Map()
  const attributes = new Map<string, string>()
  for (const match of source.matchAll(attribute)) {
    const name = match[1]!.toLowerCase()
    if (!attributes.has(name)) attributes.set(name, decodeEntities(match[2] ?? match[3] ?? match[4] ?? ""))
  }
  return attributes
}

/**
 * Scans `text` and returns its top-level elements. An opening tag left unclosed when an enclosing element
 * closes (or when the text ends) is demoted to text, and the elements inside it move up to its parent.
 *
 * @internal
 */
export const scan = (text: string): ReadonlyArray<Element> => {
  const root: Frame = { name: "", key: "", start: 0, contentStart: 0, attributes: new Map(), children: [] }
  const stack: Array<Frame> = [root]
  // How many open frames carry each name: a closing tag whose name is not open is text, decided in O(1).
  const open = new Map<string, number>()
  const demoteTop = () => {
    const frame = stack.pop()!
    open.set(frame.key, open.get(frame.key)! - 1)
    const parent = stack[stack.length - 1]!.children
    for (const child of frame.children) parent.push(child)
  }
  // Once a terminator is missing after some offset it is missing after every later one.
  let commentsClosed = true
  let cdataClosed = true
  let index = 0
  while (index < text.length) {
    const lt = text.indexOf("<", index)
    if (lt < 0) break
    index = lt + 1
    if (text.startsWith("<!--", lt)) {
      const close = commentsClosed ? text.indexOf("-->", lt + 4) : -1
      if (close < 0) commentsClosed = false
      else index = close + 3
      continue
    }
    if (text.startsWith("<![CDATA[", lt)) {
      const close = cdataClosed ? text.indexOf("]]>", lt + 9) : -1
      if (close < 0) cdataClosed = false
      else index = close + 3
      continue
    }
    if (text.charCodeAt(lt + 1) === 47 /* / */) {
      closeTag.lastIndex = lt
      const match = closeTag.exec(text)
      if (match === null) continue
      index = closeTag.lastIndex
      const key = match[1]!.toLowerCase()
      if ((open.get(key) ?? 0) === 0) continue
      while (stack[stack.length - 1]!.key !== key) demoteTop()
      const frame = stack.pop()!
      open.set(key, open.get(key)! - 1)
      stack[stack.length - 1]!.children.push({
        name: frame.name,
        key,
        start: frame.start,
        contentStart: frame.contentStart,
        contentEnd: lt,
        end: index,
        attributes: frame.attributes,
        children: frame.children
      })
      continue
    }
    openTag.lastIndex = lt
    const match = openTag.exec(text)
    if (match === null) continue
    index = openTag.lastIndex
    const name = match[1]!
    const key = name.toLowerCase()
    const attributes = parseAttributes(match[2]!)
    if (match[3] === "/") {
      stack[stack.length - 1]!.children.push({
        name,
        key,
        start: lt,
        contentStart: index,
        contentEnd: index,
        end: index,
        attributes,
        children: []
      })
    } else {
      stack.push({ name, key, start: lt, contentStart: index, attributes, children: [] })
      open.set(key, (open.get(key) ?? 0) + 1)
    }
  }
  while (stack.length > 1) demoteTop()
  return root.children
}

/**
 * Every element named `key` (lower-cased) in document order, except those that contain another element of
 * the same name: "use <answer> tags: <answer>hi</answer>" yields only the inner one.
 *
 * @internal
 */
export const findInnermost = (elements: ReadonlyArray<Element>, key: string): ReadonlyArray<Element> => {
  // Pre-order, without recursion (nesting depth is the text's to choose). Elements nest without overlapping,
  // so an element contains another of the same name exactly when the next one in pre-order starts inside it.
  const named: Array<Element> = []
  const pending = [...elements].reverse()
  while (pending.length > 0) {
    const element = pending.pop()!
    if (element.key === key) named.push(element)
    for (let index = element.children.length - 1; index >= 0; index--) pending.push(element.children[index]!)
  }
  return named.filter((element, index) => {
    const next = named[index + 1]
    return next === undefined || next.start >= element.end
  })
}

const entity = /&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(amp|lt|gt|quot|apos));/g
const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }

const fromCodePoint = (code: number, original: string): string =>
  code <= 0x10ffff ? String.fromCodePoint(code) : original

/**
 * Decodes the five XML entities and numeric character references; anything else (a bare `&`, `&nbsp;`) is
 * kept as written.
 *
 * @internal
 */
const decodeEntities = (text: string): string =>
  text.includes("&")
    ? text.replace(entity, (original, hex: string | undefined, decimal: string | undefined, name: string | undefined) =>
      hex !== undefined
        ? fromCodePoint(parseInt(hex, 16), original)
        : decimal !== undefined
        ? fromCodePoint(parseInt(decimal, 10), original)
        : named[name!]!)
    : text

/**
 * The text of `text.slice(from, to)`: CDATA sections unwrapped verbatim, entities decoded elsewhere. Markup
 * that is not CDATA (nested tags, comments) is kept as written.
 *
 * @internal
 */
const textBetween = (text: string, from: number, to: number): string => {
  let result = ""
  let index = from
  while (index < to) {
    const open = text.indexOf("<![CDATA[", index)
    const close = open < 0 || open >= to ? -1 : text.indexOf("]]>", open + 9)
    if (close < 0 || close + 3 > to) break
    result += decodeEntities(text.slice(index, open)) + text.slice(open + 9, close)
    index = close + 3
  }
  return result + decodeEntities(text.slice(index, to))
}

/**
 * The text inside an element, dedented and trimmed (see {@link dedent}).
 *
 * @internal
 */
export const innerText = (text: string, element: Element): string =>
  dedent(textBetween(text, element.contentStart, element.contentEnd))

/**
 * True when the element holds nothing but whitespace.
 *
 * @internal
 */
export const isEmpty = (text: string, element: Element): boolean =>
  element.children.length === 0 && text.slice(element.contentStart, element.contentEnd).trim().length === 0

/**
 * Removes the indentation common to every non-blank line (like Python's `textwrap.dedent`), turns
 * whitespace-only lines into empty lines, normalizes line endings, and trims the result.
 *
 * @internal
 */
const dedent = (text: string): string => {
  const lines = text.replace(/\r\n?/g, "\n").split("\n")
  let margin: string | undefined
  for (const line of lines) {
    if (line.trim().length === 0) continue
    let width = 0
    while (width < line.length && (line[width] === " " || line[width] === "\t")) width++
    if (margin === undefined) {
      margin = line.slice(0, width)
    } else {
      let common = 0
      while (common < margin.length && common < width && margin[common] === line[common]) common++
      margin = margin.slice(0, common)
    }
    if (margin.length === 0) break
  }
  const cut = margin?.length ?? 0
  return lines.map((line) => (line.trim().length === 0 ? "" : line.slice(cut))).join("\n").trim()
}
