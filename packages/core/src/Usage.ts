/**
 * Token usage reported by a provider, and the arithmetic to total it over a run.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { dual } from "effect/Function"
import { NonNegative, NonNegativeInt } from "./internal/numbers.js"
import { trusted } from "./internal/trusted.js"

const TokenCount = NonNegativeInt

/**
 * Input and output tokens of one or more generations. `cachedInputTokens`, when the provider reports it, is the
 * part of `inputTokens` read from its prompt cache (OpenAI `prompt_tokens_details.cached_tokens`, Anthropic
 * `cache_read_input_tokens`), which most providers charge less for (see {@link cost}).
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const u = new Usage.Usage({ inputTokens: 12, outputTokens: 30 })
 * u.totalTokens // 42
 * new Usage.Usage({ inputTokens: 1200, outputTokens: 30, cachedInputTokens: 1024 }).cachedInputTokens // 1024
 * ```
 * @since 0.1.0
 */
export class Usage extends Schema.Class<Usage>("@capstan/core/Usage")({
  inputTokens: TokenCount,
  outputTokens: TokenCount,
  /** The part of `inputTokens` read from the provider's prompt cache, when it says (unset: not reported). */
  cachedInputTokens: Schema.optionalKey(TokenCount)
}) {
  /** Input plus output tokens. */
  get totalTokens(): number {
    return this.inputTokens + this.outputTokens
  }
}

/**
 * No tokens.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * Usage.empty.totalTokens // 0
 * ```
 * @since 0.1.0
 */
export const empty: Usage = new Usage({ inputTokens: 0, outputTokens: 0 })

/** A usage from counts; cached tokens are kept only when some were reported. */
const fromCounts = (inputTokens: number, outputTokens: number, cached: number | undefined): Usage =>
  // sums of valid counts are valid: their checks are not run again
  new Usage(
    cached === undefined ? { inputTokens, outputTokens } : { inputTokens, outputTokens, cachedInputTokens: cached },
    trusted
  )

const addCached = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : a + b

/**
 * Adds two usages (cached input tokens too, when either reports them).
 *
 * @example
 * ```ts
 * import { pipe } from "effect"
 * import { Usage } from "@capstan/core"
 *
 * const a = new Usage.Usage({ inputTokens: 1, outputTokens: 2 })
 * Usage.add(a, a).outputTokens // 4
 * pipe(a, Usage.add(a)).inputTokens // 2
 * ```
 * @since 0.1.0
 */
export const add: {
  (that: Usage): (self: Usage) => Usage
  (self: Usage, that: Usage): Usage
} = dual(2, (self: Usage, that: Usage): Usage =>
  fromCounts(
    self.inputTokens + that.inputTokens,
    self.outputTokens + that.outputTokens,
    addCached(self.cachedInputTokens, that.cachedInputTokens)
  ))

/**
 * Sums any number of usages.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const a = new Usage.Usage({ inputTokens: 1, outputTokens: 2 })
 * Usage.sum([a, a, a]).totalTokens // 9
 * ```
 * @since 0.1.0
 */
export const sum = (usages: Iterable<Usage>): Usage => {
  let inputTokens = 0
  let outputTokens = 0
  let cached: number | undefined
  for (const u of usages) {
    inputTokens += u.inputTokens
    outputTokens += u.outputTokens
    cached = addCached(cached, u.cachedInputTokens)
  }
  return fromCounts(inputTokens, outputTokens, cached)
}

/**
 * Integer parts of `total` in proportion to `weights` (the largest-remainder method): the parts always sum to
 * `total` exactly; a remainder goes to the largest fractions, the earlier of equal ones first. All-zero (or no
 * positive) weights share equally.
 */
const shares = (total: number, weights: ReadonlyArray<number>): Array<number> => {
  const clean = weights.map((w) => (Number.isFinite(w) && w > 0 ? w : 0))
  const sumOf = clean.reduce((a, b) => a + b, 0)
  const used = sumOf > 0 ? clean : clean.map(() => 1)
  const whole = sumOf > 0 ? sumOf : used.length
  const exact = used.map((w) => (total * w) / whole)
  const parts = exact.map(Math.floor)
  let left = total - parts.reduce((a, b) => a + b, 0)
  const order = exact.map((x, i) => ({ i, fraction: x - Math.floor(x) })).sort((a, b) =>
    b.fraction - a.fraction || a.i - b.i
  )
  for (let k = 0; left > 0 && order.length > 0; k = (k + 1) % order.length, left--) parts[order[k]!.i]!++
  return parts
}

/**
 * Splits one request's usage among the parts it served (the prompts of a packed completion request): input tokens
 * in proportion to each part's `input` weight (e.g. its prompt's length), output tokens to its `output` weight (e.g.
 * the length of its answers), cached input tokens like input (never more than a part's input). Counts stay whole
 * numbers and the parts sum to `usage` exactly.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const request = new Usage.Usage({ inputTokens: 10, outputTokens: 7 })
 * const parts = Usage.apportion(request, [{ input: 1, output: 1 }, { input: 3, output: 1 }])
 * parts.map((u) => u.inputTokens) // [3, 7]: 2.5 and 7.5, the remainder to the first
 * parts.map((u) => u.outputTokens) // [4, 3]
 * ```
 * @since 0.2.0
 */
export const apportion = (
  usage: Usage,
  weights: ReadonlyArray<{ readonly input: number; readonly output: number }>
): ReadonlyArray<Usage> => {
  if (weights.length === 0) return []
  const inputs = shares(usage.inputTokens, weights.map((w) => w.input))
  const outputs = shares(usage.outputTokens, weights.map((w) => w.output))
  const cached = usage.cachedInputTokens === undefined ? undefined : capped(
    shares(usage.cachedInputTokens, weights.map((w) => w.input)),
    inputs
  )
  return inputs.map((input, i) => fromCounts(input, outputs[i]!, cached?.[i]))
}

/** Parts no larger than their caps, the excess moved to parts with room (the total never exceeds the caps' sum). */
const capped = (parts: Array<number>, caps: ReadonlyArray<number>): Array<number> => {
  let excess = 0
  const out = parts.map((p, i) => {
    const kept = Math.min(p, caps[i]!)
    excess += p - kept
    return kept
  })
  for (let i = 0; excess > 0 && i < out.length; i++) {
    const room = Math.min(excess, caps[i]! - out[i]!)
    out[i]! += room
    excess -= room
  }
  return out
}

/**
 * The price of a model, in currency units (e.g. US dollars) per million tokens: input, output, and optionally
 * input read from the provider's prompt cache (default: the input price) and the rates of the provider's batch API
 * (default: `batchDiscount` off the realtime rates, 50 % as OpenAI and Anthropic charge).
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const mini = new Usage.Price({ inputPerMillion: 0.15, outputPerMillion: 0.6, cachedInputPerMillion: 0.075 })
 * const custom = new Usage.Price({ inputPerMillion: 1, outputPerMillion: 4, batchInputPerMillion: 0.6 })
 * ```
 * @since 0.1.0
 */
export class Price extends Schema.Class<Price>("@capstan/core/Price")({
  inputPerMillion: NonNegative,
  outputPerMillion: NonNegative,
  cachedInputPerMillion: Schema.optionalKey(NonNegative),
  batchInputPerMillion: Schema.optionalKey(NonNegative),
  batchOutputPerMillion: Schema.optionalKey(NonNegative),
  batchDiscount: Schema.optionalKey(NonNegative.check(Schema.isLessThanOrEqualTo(1)))
}) {}

/**
 * Prices by model name (`gpt-4o-mini`) or by `provider!model`. A name also prices its dated snapshots
 * (`gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-20241022`, `...-latest`): the longest name that is the model's name
 * up to such a suffix wins, and `provider!model` wins over a bare name of the same length.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const prices: Usage.PriceTable = {
 *   "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 },
 *   "openai!gpt-4o": new Usage.Price({ inputPerMillion: 2.5, outputPerMillion: 10 })
 * }
 * Usage.priceOf(prices, "openai", "gpt-4o")?.inputPerMillion // 2.5
 * Usage.priceOf(prices, "openai", "gpt-4o-mini-2024-07-18")?.inputPerMillion // 0.15
 * ```
 * @since 0.1.0
 */
export type PriceTable = Readonly<Record<string, PerMillion>>

/**
 * What a price gives: currency units per million input and output tokens, and optionally cached input and batch
 * rates ({@link Price} is one; so is a plain object).
 *
 * @example
 * ```ts
 * import type { Usage } from "@capstan/core"
 *
 * const mini: Usage.PerMillion = { inputPerMillion: 0.15, outputPerMillion: 0.6, cachedInputPerMillion: 0.075 }
 * ```
 * @since 0.1.0
 */
export interface PerMillion {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
  /** Input tokens read from the prompt cache. Default: `inputPerMillion`. */
  readonly cachedInputPerMillion?: number | undefined
  /** Input tokens sent through the provider's batch API. Default: `inputPerMillion` less `batchDiscount`. */
  readonly batchInputPerMillion?: number | undefined
  /** Output tokens of the provider's batch API. Default: `outputPerMillion` less `batchDiscount`. */
  readonly batchOutputPerMillion?: number | undefined
  /** The fraction taken off realtime rates (cached input included) for batch rates not given. Default 0.5. */
  readonly batchDiscount?: number | undefined
}

/**
 * The rates a usage is charged at: realtime, or through the provider's batch API (`batch: true`).
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const price = { inputPerMillion: 2.5, outputPerMillion: 10, cachedInputPerMillion: 1.25 }
 * Usage.ratesOf(price) // { input: 2.5, cachedInput: 1.25, output: 10 }
 * Usage.ratesOf(price, { batch: true }) // { input: 1.25, cachedInput: 0.625, output: 5 }
 * ```
 * @since 0.2.0
 */
export const ratesOf = (
  price: PerMillion,
  options: { readonly batch?: boolean | undefined } = {}
): { readonly input: number; readonly cachedInput: number; readonly output: number } => {
  const cached = price.cachedInputPerMillion ?? price.inputPerMillion
  if (options.batch !== true) {
    return { input: price.inputPerMillion, cachedInput: cached, output: price.outputPerMillion }
  }
  const factor = 1 - (price.batchDiscount ?? defaultBatchDiscount)
  const input = price.batchInputPerMillion ?? price.inputPerMillion * factor
  return {
    input,
    // Without a cache price, cached input costs what input does (in a batch too).
    cachedInput: price.cachedInputPerMillion === undefined ? input : cached * factor,
    output: price.batchOutputPerMillion ?? price.outputPerMillion * factor
  }
}

/** What OpenAI's and Anthropic's batch APIs take off their realtime prices. */
const defaultBatchDiscount = 0.5

/**
 * The cost of a usage (or any token counts, such as a run's running totals) at a price: cached input tokens at the
 * cached rate, the rest of the input and the output at theirs; with `batch: true`, at the batch rates.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const usage = new Usage.Usage({ inputTokens: 1_000_000, outputTokens: 500_000 })
 * Usage.cost(usage, { inputPerMillion: 0.15, outputPerMillion: 0.6 }) // 0.45
 * const cached = new Usage.Usage({ inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 800_000 })
 * Usage.cost(cached, { inputPerMillion: 0.15, outputPerMillion: 0.6, cachedInputPerMillion: 0.075 }) // 0.09
 * ```
 * @since 0.1.0
 */
export const cost = (
  usage: {
    readonly inputTokens: number
    readonly outputTokens: number
    readonly cachedInputTokens?: number | undefined
  },
  price: PerMillion,
  options: { readonly batch?: boolean | undefined } = {}
): number => {
  const rates = ratesOf(price, options)
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens)
  return ((usage.inputTokens - cached) * rates.input + cached * rates.cachedInput + usage.outputTokens * rates.output) /
    1_000_000
}

/**
 * What a dated snapshot adds to its model's name: `-2024-07-18` (OpenAI), `-20241022` (Anthropic), `-0914`, or
 * `-latest`.
 */
const snapshotSuffix = /^-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$/

/** The longest key of `table` that names `name` itself or `name` without a snapshot suffix. */
const longestMatch = (
  table: PriceTable,
  name: string
): { readonly key: string; readonly price: PerMillion } | undefined => {
  const exact = table[name]
  if (exact !== undefined) return { key: name, price: exact }
  let best: { readonly key: string; readonly price: PerMillion } | undefined
  for (const [key, price] of Object.entries(table)) {
    if (name.startsWith(key) && snapshotSuffix.test(name.slice(key.length)) && key.length > (best?.key.length ?? -1)) {
      best = { key, price }
    }
  }
  return best
}

/**
 * Looks up the price of a model in a table: `provider!model`, then the bare model name, each also matching a dated
 * snapshot of a known name (see {@link PriceTable}). `undefined` for a model the table does not know.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const table = { "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 } }
 * Usage.priceOf(table, "openai", "gpt-4o-mini")?.outputPerMillion // 0.6
 * Usage.priceOf(table, "openai", "gpt-4o-mini-2024-07-18")?.outputPerMillion // 0.6
 * Usage.priceOf(table, "openai", "gpt-4o") // undefined
 * ```
 * @since 0.1.0
 */
export const priceOf = (
  table: PriceTable,
  provider: string,
  model: string
): PerMillion | undefined => {
  const qualified = longestMatch(table, `${provider}!${model}`)
  const bare = longestMatch(table, model)
  if (qualified === undefined) return bare?.price
  if (bare === undefined) return qualified.price
  // The same name with or without the provider: the qualified entry is the more specific one.
  return qualified.key.length - provider.length - 1 >= bare.key.length ? qualified.price : bare.price
}
