/**
 * Template parsing and stable ids. A template is parsed once into `parts`: literal text at even indexes,
 * variable names at odd indexes, so rendering is one pass of string concatenation.
 *
 * @internal
 */
import { Result } from "effect"

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
 * A 64-bit non-cryptographic hash of a string, as 16 hex digits: two 32-bit lanes of the cyrb53 mix. Pure
 * JavaScript over UTF-16 code units, so the same text gives the same hash in any process and runtime.
 *
 * @internal
 */
export const hash = (text: string): string => {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ code, 2654435761)
    h2 = Math.imul(h2 ^ code, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0")
}

/**
 * JSON of a flat record with its keys sorted, so that key order does not change a derived id.
 *
 * @internal
 */
export const canonicalJson = (record: Readonly<Record<string, unknown>>): string => {
  const keys = Object.keys(record).sort()
  let out = "{"
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    out += (i === 0 ? "" : ",") + JSON.stringify(key) + ":" + JSON.stringify(record[key])
  }
  return out + "}"
}

/** @internal */
export interface IdClash {
  /** The index of the id that repeats an earlier one. */
  readonly index: number
  /** The index of that earlier one. */
  readonly first: number
  readonly id: string
}

/**
 * Assigns ids one at a time, in input order: a given id is kept, a missing one is derived from content. Equal
 * derived ids (equal content) are told apart by occurrence: `<hash>`, `<hash>-2`, `<hash>-3`, ... Holds one
 * entry per id (and per derived base), never the inputs.
 *
 * @internal
 */
export const makeIdAssigner = () => {
  const occurrences = new Map<string, number>()
  const owner = new Map<string, number>()
  return (index: number, given: string | undefined, derive: () => string): Result.Result<string, IdClash> => {
    let id = given
    if (id === undefined) {
      const base = derive()
      const n = (occurrences.get(base) ?? 0) + 1
      occurrences.set(base, n)
      id = n === 1 ? base : `${base}-${n}`
    }
    const first = owner.get(id)
    if (first !== undefined) return Result.fail({ index, first, id })
    owner.set(id, index)
    return Result.succeed(id)
  }
}

/**
 * Assigns ids to a whole list (see {@link makeIdAssigner}); fails at the first clash.
 *
 * @internal
 */
export const assignIds = (
  given: ReadonlyArray<string | undefined>,
  derive: (index: number) => string
): Result.Result<ReadonlyArray<string>, IdClash> => {
  const assign = makeIdAssigner()
  const ids: Array<string> = new Array(given.length)
  for (let index = 0; index < given.length; index++) {
    const id = assign(index, given[index], () => derive(index))
    if (Result.isFailure(id)) return Result.fail(id.failure)
    ids[index] = id.success
  }
  return Result.succeed(ids)
}
