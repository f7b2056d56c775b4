/**
 * Stable ids for batch items and templates: a content hash for items without one, and assignment in input order
 * that tells equal contents apart and finds duplicates.
 *
 * @internal
 */
import { Result } from "effect"

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
