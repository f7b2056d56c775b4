/**
 * JSON for models: finding it in model output (the whole text, fenced code blocks, or balanced `{...}` /
 * `[...]` spans in prose; one scanning pass, only candidate spans are handed to `JSON.parse`), and shaping
 * Effect's JSON Schema documents for structured-output requests.
 *
 * @internal
 */

/**
 * The JSON values found in a text, in document order, and the first syntax error met when none parsed.
 *
 * @internal
 */
export interface Found {
  readonly values: ReadonlyArray<unknown>
  readonly syntaxError: string | undefined
}

type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string }

const tryParse = (text: string): Parsed => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
}

const fence = "```"

/** The contents of every fenced code block, with whether its info string says `json`. */
const fencedBlocks = (text: string): Array<{ readonly json: boolean; readonly content: string }> => {
  const blocks: Array<{ readonly json: boolean; readonly content: string }> = []
  let index = 0
  while (true) {
    const open = text.indexOf(fence, index)
    if (open < 0) break
    const lineEnd = text.indexOf("\n", open + 3)
    if (lineEnd < 0) break
    const close = text.indexOf(fence, lineEnd + 1)
    if (close < 0) break
    const info = text.slice(open + 3, lineEnd).trim().toLowerCase()
    blocks.push({ json: info.startsWith("json"), content: text.slice(lineEnd + 1, close) })
    index = close + 3
  }
  return blocks
}

/** Every balanced bracket span, by start offset. Strings are only tracked inside brackets: quotes in prose are prose. */
const bracketSpans = (text: string): Array<readonly [number, number]> => {
  const spans: Array<readonly [number, number]> = []
  const stack: Array<number> = []
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (inString) {
      if (char === "\\") index++
      else if (char === "\"") inString = false
    } else if (char === "\"") {
      inString = stack.length > 0
    } else if (char === "{" || char === "[") {
      stack.push(index)
    } else if ((char === "}" || char === "]") && stack.length > 0) {
      const open = stack.pop()!
      if ((text[open] === "{") === (char === "}")) spans.push([open, index + 1])
      else stack.length = 0
    }
  }
  return spans.sort((a, b) => a[0] - b[0])
}

// A failed `JSON.parse` costs an exception; text with this many bracketed spans that are not JSON (code,
// templates) is given up on rather than parsed span by span.
const maxFailedSpans = 200

/** Whether the bracket at `start` can open JSON: `{` must be followed by `"` or `}`, `[` by a value or `]`. */
const opensJson = (text: string, start: number): boolean => {
  let index = start + 1
  while (
    index < text.length && (text[index] === " " || text[index] === "\n" || text[index] === "\t" || text[index] === "\r")
  ) {
    index++
  }
  const next = text[index] ?? ""
  return text[start] === "{" ? next === "\"" || next === "}" : next !== "" && "{[\"-0123456789tfn]".includes(next)
}

/**
 * Finds the JSON in `text`: the whole text if it is JSON; otherwise the fenced code blocks that hold JSON,
 * if any; otherwise the outermost balanced `{...}` / `[...]` spans that parse.
 *
 * @internal
 */
export const find = (text: string): Found => {
  const trimmed = text.trim()
  const whole = tryParse(trimmed)
  if (whole.ok && trimmed.length > 0) return { values: [whole.value], syntaxError: undefined }
  let syntaxError: string | undefined
  const fenced: Array<unknown> = []
  for (const block of fencedBlocks(text)) {
    const content = block.content.trim()
    const parsed = tryParse(content)
    if (parsed.ok) fenced.push(parsed.value)
    else if (block.json || /^[[{]/.test(content)) syntaxError ??= parsed.error
  }
  if (fenced.length > 0) return { values: fenced, syntaxError: undefined }
  const values: Array<unknown> = []
  let acceptedEnd = -1
  let failures = 0
  for (const [start, end] of bracketSpans(text)) {
    if (start < acceptedEnd || !opensJson(text, start)) continue
    const parsed = tryParse(text.slice(start, end))
    if (parsed.ok) {
      values.push(parsed.value)
      acceptedEnd = end
    } else {
      syntaxError ??= parsed.error
      if (++failures === maxFailedSpans) break
    }
  }
  return { values, syntaxError: values.length > 0 ? undefined : syntaxError }
}

/** A JSON Schema, or any JSON object. */
type JsonObject = { readonly [key: string]: unknown }

const definitionRef = "#/$defs/"

/**
 * One self-contained JSON Schema from a `Schema.toJsonSchemaDocument` document: definitions go under `$defs`,
 * where its `$ref`s point, and a root that is only a reference (a schema with an identifier) is inlined,
 * because providers want an object at the root.
 *
 * @internal
 */
export const fromDocument = (
  document: { readonly schema: JsonObject; readonly definitions: { readonly [key: string]: JsonObject } }
): JsonObject => {
  const ref = document.schema.$ref
  const rootId = Object.keys(document.schema).length === 1 && typeof ref === "string" && ref.startsWith(definitionRef)
    ? decodeURIComponent(ref.slice(definitionRef.length)).replaceAll("~1", "/").replaceAll("~0", "~")
    : undefined
  const root = rootId === undefined ? undefined : document.definitions[rootId]
  if (rootId === undefined || root === undefined) {
    return Object.keys(document.definitions).length > 0
      ? { ...document.schema, $defs: document.definitions }
      : document.schema
  }
  const { [rootId]: _, ...others } = document.definitions
  // A recursive root still refers to its own definition.
  const definitions = JSON.stringify([root, others]).includes(JSON.stringify(ref)) ? document.definitions : others
  return Object.keys(definitions).length > 0 ? { ...root, $defs: definitions } : root
}
