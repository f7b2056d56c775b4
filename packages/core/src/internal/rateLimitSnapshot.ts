/**
 * The rate-limit state a provider reported, normalized. A leaf module: generation errors (a 429 carries one) and
 * generations both hold it. Exported as `Generation.RateLimitSnapshot`.
 *
 * @internal
 */
import { Schema } from "effect"
import { NonNegative, NonNegativeInt } from "./numbers.js"

const Count = NonNegativeInt
const Millis = NonNegative

/**
 * The provider's rate-limit state as its response headers told it, normalized: resets and retry-after are
 * milliseconds from `observedAt` (epoch milliseconds).
 *
 * Providers read it from their own headers (`@capstan/providers`); the engine's rate limiter learns from it.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * const snap = new Generation.RateLimitSnapshot({ observedAt: 0, requestsRemaining: 59, requestsResetMs: 1000 })
 * snap.requestsRemaining // 59
 * ```
 * @since 0.1.0
 */
export class RateLimitSnapshot extends Schema.Class<RateLimitSnapshot>("@capstan/core/RateLimitSnapshot")({
  observedAt: Millis,
  requestsLimit: Schema.optionalKey(Count),
  requestsRemaining: Schema.optionalKey(Count),
  requestsResetMs: Schema.optionalKey(Millis),
  tokensLimit: Schema.optionalKey(Count),
  tokensRemaining: Schema.optionalKey(Count),
  tokensResetMs: Schema.optionalKey(Millis),
  retryAfterMs: Schema.optionalKey(Millis)
}) {
}
