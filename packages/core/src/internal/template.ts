/**
 * Template parsing and rendering. A template is parsed once into `parts`: literal text at even indexes,
 * variable names at odd indexes, so rendering is one pass of string concatenation. Also the run-time checks of
 * variable values that rendering and batch items share.
 *
 * @internal
 */

/** Variable names: letters, digits and `_`, not starting with a digit (kept in sync with the type-level parser). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** @internal */
export const BRACE_HINT = "Write {{ and }} for literal braces"

/** @internal */
export interface Parsed {
  /** Literal text at even indexes, variable names at odd indexes; always odd in length. */
  readonly parts: ReadonlyArray<string>
  /** Distinct variable names in order of first appearance. */
  readonly variables: ReadonlyArray<string>
}

/** @internal */
export interface ParseProblem {
  readonly reason: string
  readonly position: number
}

/**
 * Parses `{name}` variables with `{{`/`}}` escapes, following Python's `str.format` rules for simple fields:
 * a variable ends at the first `}`, and a lone `}` in literal text is an error.
 *
 * @internal
 */
export const parse = (source: string): Parsed | ParseProblem => {
  const parts: Array<string> = []
  const seen = new Set<string>()
  const variables: Array<string> = []
  let literal = ""
  let start = 0 // first character of `source` not yet copied into `literal`
  let i = 0
  while (i < source.length) {
    const char = source.charCodeAt(i)
    if (char !== OPEN && char !== CLOSE) {
      i++
      continue
    }
    literal += source.slice(start, i)
    if (source.charCodeAt(i + 1) === char) { // `{{` or `}}`
      literal += source[i]
      i += 2
      start = i
      continue
    }
    if (char === CLOSE) {
      return { reason: "a lone \"}\"", position: i }
    }
    const close = source.indexOf("}", i + 1)
    if (close < 0) {
      return { reason: "unclosed \"{\"", position: i }
    }
    const name = source.slice(i + 1, close)
    if (!NAME.test(name)) {
      return {
        reason: name.length === 0
          ? "empty variable name \"{}\""
          : `invalid variable name "${name}": names are letters, digits and _, not starting with a digit`,
        position: i
      }
    }
    parts.push(literal, name)
    if (!seen.has(name)) {
      seen.add(name)
      variables.push(name)
    }
    literal = ""
    i = close + 1
    start = i
  }
  parts.push(literal + source.slice(start))
  return { parts, variables }
}

const OPEN = 123 // {
const CLOSE = 125 // }

/** @internal */
export const isProblem = (result: Parsed | ParseProblem): result is ParseProblem => "reason" in result

/**
 * Renders parsed parts with already-checked values.
 *
 * @internal
 */
export const renderParts = (parts: ReadonlyArray<string>, vars: Readonly<Record<string, unknown>>): string => {
  let out = parts[0]!
  for (let i = 1; i < parts.length; i += 2) {
    const value = vars[parts[i]!]
    out += (typeof value === "string" ? value : String(value)) + parts[i + 1]!
  }
  return out
}

/**
 * True for a variable's value: a string, a finite number or a boolean (the run-time form of `Template.Value`,
 * without a schema on the hot path of checking every item).
 *
 * @internal
 */
export const isValue = (value: unknown): value is string | number | boolean =>
  typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))

/**
 * What a value is, for an error message: the number itself, or its kind.
 *
 * @internal
 */
export const describeValue = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : typeof value === "number"
    ? String(value)
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`

/** @internal */
export const invalidValueReason = (key: string, value: unknown): string =>
  `variable "${key}" is ${describeValue(value)}; values must be strings, finite numbers or booleans`

/**
 * A template's source for messages: text templates as themselves, chat templates as `[role]: content` lines.
 *
 * @internal
 */
export const describeSource = (
  source: string | ReadonlyArray<{ readonly role: string; readonly content: string }>
): string =>
  typeof source === "string"
    ? source
    : source.map((m) => `[${m.role}]: ${m.content}`).join("\n")
