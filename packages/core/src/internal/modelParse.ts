/**
 * Parsing with a model: one occurrence (`parse`), all of them (`parseMany`), or the distinct ones (`parseSet`),
 * with the `ParseError`s that say what is missing or wrong and repeat the model's instructions.
 *
 * @internal
 */
import { Result, Schema } from "effect"
import type { Equivalence } from "effect"
import { ParseError } from "../PipelineError.js"
import { implOf, type Model, type ModelImpl, type Occurrence, readerKey, type Reading } from "./model.js"

/** The occurrences worth decoding: the non-empty ones, or the empty ones when that is all there is. */
const candidates = <A>(reading: Reading<A>): ReadonlyArray<Occurrence<A>> => {
  const filled = reading.occurrences.filter((occurrence) => !occurrence.empty)
  return filled.length > 0 ? filled : reading.occurrences
}

const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"
  return `${n}${suffix}`
}

const missing = <A>(model: ModelImpl<A>, reading: Reading<A>): ParseError =>
  new ParseError({ model: model.name, reason: reading.missing })

const invalid = <A>(model: ModelImpl<A>, lines: ReadonlyArray<string>, position: number | undefined): ParseError =>
  new ParseError({
    model: model.name,
    reason: `The ${
      position === undefined ? "" : `${ordinal(position)} `
    }${model.subject} in your response is invalid:\n${lines.join("\n")}\nAnswer again and fix ${
      lines.length === 1 ? "this error" : "these errors"
    }. ${model.instructions}`
  })

/**
 * The first non-empty occurrence that decodes, in document order.
 *
 * @internal
 */
export const parseResult = <A>(model: Model<A>, text: string): Result.Result<A, ParseError> => {
  const impl = implOf(model)
  const reading = impl[readerKey](text)
  let firstError: ParseError | undefined
  for (const occurrence of candidates(reading)) {
    const decoded = occurrence.decode()
    if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
    firstError ??= invalid(impl, decoded.failure, undefined)
  }
  return Result.fail(firstError ?? missing(impl, reading))
}

/**
 * Every occurrence, each of which must decode.
 *
 * @internal
 */
export const parseManyResult = <A>(model: Model<A>, text: string): Result.Result<ReadonlyArray<A>, ParseError> => {
  const impl = implOf(model)
  const reading = impl[readerKey](text)
  const found = candidates(reading)
  if (found.length === 0) return Result.fail(missing(impl, reading))
  const values: Array<A> = []
  for (const [index, occurrence] of found.entries()) {
    const decoded = occurrence.decode()
    if (Result.isFailure(decoded)) {
      return Result.fail(invalid(impl, decoded.failure, found.length > 1 ? index + 1 : undefined))
    }
    values.push(decoded.success)
  }
  return Result.succeed(values)
}

// A memo of pure values: a model's equivalence never changes, and deriving it walks the whole schema.
const equivalences = new WeakMap<Model<unknown>, Equivalence.Equivalence<unknown>>()

const equivalenceOf = <A>(model: Model<A>): Equivalence.Equivalence<A> => {
  let equivalence = equivalences.get(model)
  if (equivalence === undefined) {
    // widened on purpose: without it `equivalence` takes the type Equivalence<A>, which the cache cannot hold
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    equivalence = Schema.toEquivalence(model.schema as Schema.Schema<unknown>)
    equivalences.set(model, equivalence)
  }
  return equivalence
}

/**
 * The distinct values among every occurrence, first occurrence first; at least `minCount` of them.
 *
 * @internal
 */
export const parseSetResult = <A>(
  model: Model<A>,
  text: string,
  minCount: number
): Result.Result<ReadonlyArray<A>, ParseError> =>
  Result.flatMap(parseManyResult(model, text), (values) => {
    const equivalence = equivalenceOf(model)
    const distinct: Array<A> = []
    for (const value of values) {
      if (!distinct.some((seen) => equivalence(seen, value))) distinct.push(value)
    }
    if (distinct.length >= minCount) return Result.succeed(distinct)
    const impl = implOf(model)
    return Result.fail(
      new ParseError({
        model: model.name,
        reason: `Your response has ${distinct.length} distinct ${impl.subject}${
          distinct.length === 1 ? "" : "s"
        }, but at least ${minCount} are needed. Answer again with at least ${minCount} different ${impl.subject}s. ${model.instructions}`
      })
    )
  })
