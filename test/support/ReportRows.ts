/**
 * Realistic result rows for the report's tests, its benchmark and its README screenshot: a sentiment run over
 * product reviews, with retried rows and failures of several kinds, spread over time as a concurrent run spreads
 * them. Deterministic (a seeded generator local to each call).
 */
import { Batch, GenerateParams, InvalidRequest, Message, RateLimited, Timeout, Usage } from "@capstan/core"

const TEMPLATE = "Classify the sentiment of this review of {product} as positive, negative or neutral: {review}"
const SYSTEM = "You are a careful annotator. Answer with JSON: {\"sentiment\": ...}."
const products = ["Blend 5 coffee", "Trail runner shoes", "Desk lamp", "Noise-cancelling headphones", "Cast-iron pan"]
const phrases = [
  "arrived quickly and works as described",
  "broke after two weeks, very disappointed",
  "does the job, nothing special",
  "the best purchase I made this year",
  "smells odd and the lid does not close",
  "fine for the price"
]
const sentiments = ["positive", "negative", "neutral"] as const

export interface Options {
  /** Rows with an error: one in `failEvery` (default 9), alternating RateLimited and Timeout, sometimes InvalidRequest. */
  readonly failEvery?: number
  /** Rows answered after retries: one in `retryEvery` (default 7). */
  readonly retryEvery?: number
  /** Epoch ms of the first request. */
  readonly startedAt?: number
  /** Requests in flight at once (spreads startedAt). */
  readonly concurrency?: number
}

/** `count` rows, in file order. Row `i` has the unique id `review-<i padded to 6>` and a unique word `uniq<i>x`. */
export const make = (count: number, options: Options = {}): Array<Batch.Row> => {
  let seed = 42
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
  const failEvery = options.failEvery ?? 9
  const retryEvery = options.retryEvery ?? 7
  const concurrency = options.concurrency ?? 16
  const start = options.startedAt ?? Date.UTC(2026, 11, 6, 22, 0, 0)
  const lanes: Array<number> = Array.from({ length: concurrency }, () => start)
  const rows: Array<Batch.Row> = []
  for (let index = 0; index < count; index++) {
    const product = products[index % products.length]!
    const review = `${phrases[Math.floor(random() * phrases.length)]} (uniq${index}x)`
    const vars = { product, review }
    const user = TEMPLATE.replace("{product}", product).replace("{review}", review)
    const failing = index % failEvery === failEvery - 1
    const retried = !failing && index % retryEvery === retryEvery - 1
    const rejected = failing && index % 4 === 0
    const attempts = failing ? (rejected ? 1 : 4) : retried ? 2 + (index % 2) : 1
    const latencyMs = Math.round(300 + random() * 900 + (attempts - 1) * 1500)
    const lane = index % concurrency
    const startedAt = lanes[lane]!
    lanes[lane] = startedAt + latencyMs + Math.round(random() * 40)
    const inputTokens = 40 + Math.round(user.length / 4)
    const sentiment = sentiments[Math.floor(random() * sentiments.length)]!
    const error = !failing
      ? undefined
      : rejected
      ? new InvalidRequest({ provider: "openai", detail: `content of item review-${index} rejected`, status: 400 })
      : Math.floor(index / failEvery) % 2 === 0
      ? new RateLimited({ provider: "openai", detail: "Rate limit reached for requests per min", retryAfterMs: 2000 })
      : new Timeout({ provider: "openai", detail: "no answer", timeoutMs: 30_000 })
    rows.push(
      new Batch.Row({
        id: `review-${String(index).padStart(6, "0")}`,
        index,
        choice: 0,
        template: TEMPLATE,
        vars,
        messages: [Message.system(SYSTEM), Message.user(user)],
        generator: "openai!gpt-4o-mini",
        params: GenerateParams.empty,
        ...(error === undefined
          ? { output: JSON.stringify({ sentiment }), parsed: { sentiment } }
          : { error }),
        stopReason: error === undefined ? "stop" : "unknown",
        usage: error === undefined
          ? new Usage.Usage({ inputTokens, outputTokens: 6 + Math.round(random() * 4) })
          : Usage.empty,
        attempts,
        latencyMs,
        startedAt
      })
    )
  }
  return rows
}

/** The rows as a results file of `capstan batch` (one JSON line each). */
export const jsonl = (rows: ReadonlyArray<Batch.Row>): string =>
  rows.map((row) => `${Batch.toJsonLine(row)}\n`).join("")
