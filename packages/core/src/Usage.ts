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
 * Input and output tokens of one or more generations.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const u = new Usage.Usage({ inputTokens: 12, outputTokens: 30 })
 * u.totalTokens // 42
 * ```
 * @since 0.1.0
 */
export class Usage extends Schema.Class<Usage>("@capstan/core/Usage")({
  inputTokens: TokenCount,
  outputTokens: TokenCount
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

/**
 * Adds two usages.
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
  // sums of valid counts are valid: their checks are not run again
  new Usage({
    inputTokens: self.inputTokens + that.inputTokens,
    outputTokens: self.outputTokens + that.outputTokens
  }, trusted))

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
  for (const u of usages) {
    inputTokens += u.inputTokens
    outputTokens += u.outputTokens
  }
  return new Usage({ inputTokens, outputTokens })
}

/**
 * The price of a model, in currency units (e.g. US dollars) per million tokens.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const price = new Usage.Price({ inputPerMillion: 0.15, outputPerMillion: 0.6 })
 * ```
 * @since 0.1.0
 */
export class Price extends Schema.Class<Price>("@capstan/core/Price")({
  inputPerMillion: NonNegative,
  outputPerMillion: NonNegative
}) {}

/**
 * Prices by model name (`gpt-4o-mini`) or by `provider!model`; the more specific entry wins.
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
 * ```
 * @since 0.1.0
 */
export type PriceTable = Readonly<Record<string, PerMillion>>

/**
 * What a price gives: currency units per million input and output tokens ({@link Price} is one; so is a plain
 * object).
 *
 * @example
 * ```ts
 * import type { Usage } from "@capstan/core"
 *
 * const mini: Usage.PerMillion = { inputPerMillion: 0.15, outputPerMillion: 0.6 }
 * ```
 * @since 0.1.0
 */
export interface PerMillion {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
}

/**
 * The cost of a usage (or any token counts, such as a run's running totals) at a price.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const usage = new Usage.Usage({ inputTokens: 1_000_000, outputTokens: 500_000 })
 * Usage.cost(usage, { inputPerMillion: 0.15, outputPerMillion: 0.6 }) // 0.45
 * ```
 * @since 0.1.0
 */
export const cost = (
  usage: { readonly inputTokens: number; readonly outputTokens: number },
  price: PerMillion
): number => (usage.inputTokens * price.inputPerMillion + usage.outputTokens * price.outputPerMillion) / 1_000_000

/**
 * Looks up the price of a model in a table: `provider!model` first, then the bare model name.
 *
 * @example
 * ```ts
 * import { Usage } from "@capstan/core"
 *
 * const table = { "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 } }
 * Usage.priceOf(table, "openai", "gpt-4o-mini")?.outputPerMillion // 0.6
 * ```
 * @since 0.1.0
 */
export const priceOf = (
  table: PriceTable,
  provider: string,
  model: string
): PerMillion | undefined => table[`${provider}!${model}`] ?? table[model]
