/**
 * A built-in price table of common OpenAI and Anthropic models, so a batch's summary (and the CLI's) gives its cost
 * without being told prices. Your own table merges over it: its entries win, models it does not name are priced
 * from the built-in one.
 *
 * The prices are the providers' published list prices in US dollars per million tokens, **taken in November
 * 2025** ({@link asOf}). Prices change: pass your own table (`Batch.summarize(rows, { prices })`, the CLI's
 * `--price`) when these are out of date or your account pays other rates.
 *
 * @since 0.2.0
 */
import * as Usage from "./Usage.js"

/**
 * When the built-in prices were taken from the providers' pricing pages (year and month).
 *
 * @example
 * ```ts
 * import { Prices } from "@capstan/core"
 *
 * console.log(`list prices as of ${Prices.asOf}`) // "list prices as of 2025-11"
 * ```
 * @since 0.2.0
 */
export const asOf = "2025-11"

/** Input, cached input and output per million tokens; the batch APIs take 50 % off all three (the default). */
const price = (input: number, output: number, cached?: number): Usage.PerMillion =>
  cached === undefined
    ? { inputPerMillion: input, outputPerMillion: output }
    : { inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached }

/**
 * The built-in prices, by `provider!model` (so a model served elsewhere under the same name is not priced as
 * OpenAI's or Anthropic's), US dollars per million tokens as published in November 2025 (see {@link asOf}):
 * input, output, and cached input (OpenAI's cached input; Anthropic's cache reads, a tenth of input). Batch rates
 * are half the realtime ones, as both providers charge. Dated snapshots (`gpt-4o-mini-2024-07-18`,
 * `claude-3-5-haiku-20241022`) and `-latest` aliases are priced as their model (see `Usage.priceOf`). Anthropic's
 * cache writes (1.25 × input) are not told apart from other input.
 *
 * OpenAI: gpt-5 (1.25 / 10, cached 0.125), gpt-5-mini (0.25 / 2), gpt-5-nano (0.05 / 0.40), gpt-4.1 (2 / 8),
 * gpt-4.1-mini (0.40 / 1.60), gpt-4.1-nano (0.10 / 0.40), gpt-4o (2.50 / 10), gpt-4o-mini (0.15 / 0.60), o1, o1-mini,
 * o3 (2 / 8), o3-mini, o4-mini (1.10 / 4.40), gpt-4-turbo, gpt-4, gpt-3.5-turbo, gpt-3.5-turbo-instruct (1.50 / 2),
 * davinci-002, babbage-002. Anthropic: claude-opus-4-5 (5 / 25), claude-opus-4-1 and claude-opus-4 (15 / 75),
 * claude-sonnet-4-5, claude-sonnet-4, claude-3-7-sonnet and claude-3-5-sonnet (3 / 15), claude-haiku-4-5 (1 / 5),
 * claude-3-5-haiku (0.80 / 4), claude-3-haiku (0.25 / 1.25), claude-3-opus (15 / 75).
 *
 * @example
 * ```ts
 * import { Prices, Usage } from "@capstan/core"
 *
 * Usage.priceOf(Prices.builtIn, "openai", "gpt-4o-mini-2024-07-18")?.inputPerMillion // 0.15
 * Usage.priceOf(Prices.builtIn, "anthropic", "claude-3-5-haiku-latest")?.outputPerMillion // 4
 * ```
 * @since 0.2.0
 */
export const builtIn: Usage.PriceTable = {
  "openai!gpt-5": price(1.25, 10, 0.125),
  "openai!gpt-5-mini": price(0.25, 2, 0.025),
  "openai!gpt-5-nano": price(0.05, 0.4, 0.005),
  "openai!gpt-4.1": price(2, 8, 0.5),
  "openai!gpt-4.1-mini": price(0.4, 1.6, 0.1),
  "openai!gpt-4.1-nano": price(0.1, 0.4, 0.025),
  "openai!gpt-4o": price(2.5, 10, 1.25),
  // The first gpt-4o snapshot kept its launch price.
  "openai!gpt-4o-2024-05-13": price(5, 15),
  "openai!gpt-4o-mini": price(0.15, 0.6, 0.075),
  "openai!chatgpt-4o-latest": price(5, 15),
  "openai!o1": price(15, 60, 7.5),
  "openai!o1-mini": price(1.1, 4.4, 0.55),
  "openai!o3": price(2, 8, 0.5),
  "openai!o3-mini": price(1.1, 4.4, 0.55),
  "openai!o4-mini": price(1.1, 4.4, 0.275),
  "openai!gpt-4-turbo": price(10, 30),
  "openai!gpt-4": price(30, 60),
  "openai!gpt-3.5-turbo": price(0.5, 1.5),
  "openai!gpt-3.5-turbo-instruct": price(1.5, 2),
  "openai!davinci-002": price(2, 2),
  "openai!babbage-002": price(0.4, 0.4),
  "anthropic!claude-opus-4-5": price(5, 25, 0.5),
  "anthropic!claude-opus-4-1": price(15, 75, 1.5),
  "anthropic!claude-opus-4": price(15, 75, 1.5),
  "anthropic!claude-opus-4-0": price(15, 75, 1.5),
  "anthropic!claude-sonnet-4-5": price(3, 15, 0.3),
  "anthropic!claude-sonnet-4": price(3, 15, 0.3),
  "anthropic!claude-sonnet-4-0": price(3, 15, 0.3),
  "anthropic!claude-haiku-4-5": price(1, 5, 0.1),
  "anthropic!claude-3-7-sonnet": price(3, 15, 0.3),
  "anthropic!claude-3-5-sonnet": price(3, 15, 0.3),
  "anthropic!claude-3-5-haiku": price(0.8, 4, 0.08),
  "anthropic!claude-3-haiku": price(0.25, 1.25, 0.03),
  "anthropic!claude-3-opus": price(15, 75, 1.5)
}

/**
 * Options of {@link lookup}: your own prices, merged over the built-in ones (yours win), and whether to use the
 * built-in ones at all.
 *
 * @example
 * ```ts
 * import type { Prices } from "@capstan/core"
 *
 * const ours: Prices.Options = { prices: { "gpt-4o-mini": { inputPerMillion: 0.12, outputPerMillion: 0.5 } } }
 * const onlyOurs: Prices.Options = { ...ours, builtIn: false }
 * ```
 * @since 0.2.0
 */
export interface Options {
  /** Your prices (see `Usage.PriceTable`): they win over the built-in ones for every model they name. */
  readonly prices?: Usage.PriceTable | undefined
  /** Use {@link builtIn} for models `prices` does not name. Default true. */
  readonly builtIn?: boolean | undefined
}

/**
 * The price of a model: from your table when it names the model (bare or as `provider!model`, snapshots included),
 * else from the built-in one; `undefined` when neither knows it.
 *
 * @example
 * ```ts
 * import { Prices } from "@capstan/core"
 *
 * Prices.lookup("openai", "gpt-4o-mini")?.inputPerMillion // 0.15, built in
 * const ours = { "gpt-4o-mini": { inputPerMillion: 0.1, outputPerMillion: 0.4 } }
 * Prices.lookup("openai", "gpt-4o-mini", { prices: ours })?.inputPerMillion // 0.1, yours
 * Prices.lookup("ollama", "llama3.1") // undefined
 * ```
 * @since 0.2.0
 */
export const lookup = (provider: string, model: string, options: Options = {}): Usage.PerMillion | undefined =>
  (options.prices === undefined ? undefined : Usage.priceOf(options.prices, provider, model)) ??
    (options.builtIn === false ? undefined : Usage.priceOf(builtIn, provider, model))

/**
 * The price of the model a generator identifier names (`openai!gpt-4o-mini,temperature=0`, as rows and chats record
 * it), as {@link lookup} finds it.
 *
 * @example
 * ```ts
 * import { Prices } from "@capstan/core"
 *
 * Prices.forGenerator("openai!gpt-4o-mini-2024-07-18,temperature=0")?.outputPerMillion // 0.6
 * ```
 * @since 0.2.0
 */
export const forGenerator = (generator: string, options: Options = {}): Usage.PerMillion | undefined => {
  const bang = generator.indexOf("!")
  const provider = bang < 0 ? "" : generator.slice(0, bang)
  const model = generator.slice(bang + 1).split(",")[0] ?? ""
  return lookup(provider, model, options)
}
