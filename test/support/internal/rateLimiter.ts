/**
 * Continuous-refill token buckets for requests and tokens per minute, the header views providers send (in any
 * {@link HeaderStyle}) and the headers written from them.
 *
 * Semantics (chosen to mirror what OpenAI/Anthropic document, see shared/research/perf-anchors.md §1, §2, §8.1):
 * - capacity = `limit × burst / 60` (burst in seconds; providers quantize per-minute limits to ~1 s);
 * - the bucket refills continuously at `limit / 60` per second up to capacity;
 * - a request is admitted when the bucket holds its cost, OR when the bucket is full and the cost exceeds the capacity
 *   (then the level goes negative: a 30 RPM limit with a 1 s burst still admits one request every 2 s, and a request
 *   costing more tokens than one burst waits for a full bucket instead of failing forever);
 * - a request whose token cost exceeds the whole per-minute limit can never succeed ("Request too large").
 * @module
 */
import type { ApiKind } from "./types.js"

/** Which bucket refused a request. */
export type LimitDimension = "requests" | "tokens"

/**
 * How a server states its bucket in the rate-limit headers. Providers and OpenAI-compatible servers differ on
 * each of these, and a client must cope with all of them.
 * - `remaining`: `"per-minute"` is `limit − (part of the bucket still to refill)`, the view OpenAI and Anthropic
 *   document; `"burst"` is what is left in the bucket itself (at most one burst), while `limit` stays per minute.
 * - `at`: `"admission"` is the bucket right after it admitted the request; `"answer"` is the bucket when the
 *   answer is sent, after the latency, so it already counts later requests and the refill in between.
 * - `reset`: `"to-full"` is the time until the bucket is full again; `"to-next"` is the time until one more
 *   unit is available, 0 while some remain.
 */
export interface HeaderStyle {
  readonly remaining?: "per-minute" | "burst" | undefined
  readonly at?: "admission" | "answer" | undefined
  readonly reset?: "to-full" | "to-next" | undefined
}

/** Header-friendly snapshot of one bucket, in a {@link HeaderStyle}. */
export interface BucketView {
  readonly limit: number
  /** Per minute: `limit − deficit` (deficit = the part of the bucket still to refill); burst: the bucket's level. Floored. */
  readonly remaining: number
  /** To full: `deficit × 60 s / limit`; to next: the time until the level reaches one unit (0 when it has). */
  readonly resetMs: number
  /** The deficit rounded up, whatever the style (the "Used" of a 429's message). */
  readonly used: number
}

/** The views of both buckets (undefined for an unlimited dimension). */
export type LimitViews = { readonly requests: BucketView | undefined; readonly tokens: BucketView | undefined }

/** Result of an admission attempt. */
export type Admission =
  | { readonly admitted: true }
  | {
    readonly admitted: false
    readonly dimension: LimitDimension
    readonly waitMs: number
    readonly tooLarge: boolean
  }

class TokenBucket {
  private limit: number
  private capacity: number
  private perMs: number
  private level: number
  private updatedAt: number

  constructor(limit: number, burstSeconds: number, now: number) {
    this.limit = limit
    this.capacity = (limit * burstSeconds) / 60
    this.perMs = limit / 60_000
    this.level = this.capacity
    this.updatedAt = now
  }

  /** Changes limit/burst keeping the current deficit, so lowering a limit mid-run does not hand out a fresh burst. */
  reconfigure(limit: number, burstSeconds: number, now: number): void {
    this.refill(now)
    const deficit = this.capacity - this.level
    this.limit = limit
    this.capacity = (limit * burstSeconds) / 60
    this.perMs = limit / 60_000
    this.level = this.capacity - deficit
  }

  refill(now: number): void {
    const elapsed = now - this.updatedAt
    if (elapsed > 0) this.level = Math.min(this.capacity, this.level + elapsed * this.perMs)
    this.updatedAt = now
  }

  /** Milliseconds until `cost` can be admitted (0 = now). Assumes `refill(now)` was called. */
  waitFor(cost: number): number {
    const need = Math.min(cost, this.capacity)
    return this.level >= need ? 0 : (need - this.level) / this.perMs
  }

  take(cost: number): void {
    this.level -= cost
  }

  exceedsLimit(cost: number): boolean {
    return cost > this.limit
  }

  view(style: HeaderStyle): BucketView {
    const deficit = Math.max(0, this.capacity - this.level)
    // A request costing more than the bucket is admitted on a full one, so "one more unit" is at most the bucket.
    const unit = Math.min(1, this.capacity)
    return {
      limit: this.limit,
      remaining: style.remaining === "burst"
        ? Math.max(0, Math.floor(this.level))
        : Math.max(0, Math.min(this.limit, Math.floor(this.limit - deficit))),
      resetMs: style.reset === "to-next"
        ? Math.max(0, unit - this.level) / this.perMs
        : deficit / this.perMs,
      used: Math.ceil(deficit)
    }
  }
}

/** Limits accepted by {@link RateLimiter}; an undefined limit is unlimited (and sends no headers for that dimension). */
export interface RateLimits {
  readonly rpm?: number | undefined
  readonly tpm?: number | undefined
  readonly burst: number
  /** When true a refused request still consumes one request slot (OpenAI: "unsuccessful requests count"). */
  readonly chargeRejected: boolean
}

/** Request + token buckets shared by every endpoint of one fake server. */
export class RateLimiter {
  private requests: TokenBucket | undefined
  private tokens: TokenBucket | undefined
  private chargeRejected: boolean

  constructor(limits: RateLimits, now: number) {
    this.requests = makeBucket(limits.rpm, limits.burst, now)
    this.tokens = makeBucket(limits.tpm, limits.burst, now)
    this.chargeRejected = limits.chargeRejected
  }

  /** True when no limit is configured, so callers can skip the bookkeeping entirely. */
  get unlimited(): boolean {
    return this.requests === undefined && this.tokens === undefined
  }

  reconfigure(limits: RateLimits, now: number): void {
    this.requests = updateBucket(this.requests, limits.rpm, limits.burst, now)
    this.tokens = updateBucket(this.tokens, limits.tpm, limits.burst, now)
    this.chargeRejected = limits.chargeRejected
  }

  /** Atomically admits a request costing one request and `tokenCost` tokens, or says how long to wait. */
  admit(tokenCost: number, now: number): Admission {
    const { requests, tokens } = this
    requests?.refill(now)
    tokens?.refill(now)
    if (tokens?.exceedsLimit(tokenCost)) return { admitted: false, dimension: "tokens", waitMs: 0, tooLarge: true }
    const requestWait = requests?.waitFor(1) ?? 0
    const tokenWait = tokens?.waitFor(tokenCost) ?? 0
    if (requestWait === 0 && tokenWait === 0) {
      requests?.take(1)
      tokens?.take(tokenCost)
      return { admitted: true }
    }
    if (this.chargeRejected) requests?.take(1)
    const dimension: LimitDimension = requestWait >= tokenWait ? "requests" : "tokens"
    return { admitted: false, dimension, waitMs: Math.max(requestWait, tokenWait), tooLarge: false }
  }

  /** Current header views (undefined for an unlimited dimension). */
  view(now: number, style: HeaderStyle): LimitViews {
    this.requests?.refill(now)
    this.tokens?.refill(now)
    return { requests: this.requests?.view(style), tokens: this.tokens?.view(style) }
  }
}

const isLimit = (limit: number | undefined): limit is number =>
  limit !== undefined && limit > 0 && Number.isFinite(limit)

const makeBucket = (limit: number | undefined, burst: number, now: number): TokenBucket | undefined =>
  isLimit(limit) ? new TokenBucket(limit, burst, now) : undefined

const updateBucket = (bucket: TokenBucket | undefined, limit: number | undefined, burst: number, now: number) => {
  if (!isLimit(limit)) return undefined
  if (bucket === undefined) return new TokenBucket(limit, burst, now)
  bucket.reconfigure(limit, burst, now)
  return bucket
}

/**
 * Formats milliseconds the way Go's `time.Duration.String()` does (OpenAI's `x-ratelimit-reset-*`): `0s`, `12ms`, `1s`,
 * `7.66s`, `1m26.4s`, `6m0s`, `1h2m3.5s`. Sub-second values are rounded to whole milliseconds.
 */
export const formatGoDuration = (ms: number): string => {
  const total = Math.max(0, Math.round(ms))
  if (total === 0) return "0s"
  if (total < 1000) return `${total}ms`
  const hours = Math.floor(total / 3_600_000)
  const minutes = Math.floor((total % 3_600_000) / 60_000)
  const seconds = ((total % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, "")
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

/** RFC 3339 timestamp rounded UP to whole seconds, as Anthropic's `anthropic-ratelimit-*-reset` headers. */
export const formatRfc3339 = (epochMs: number): string =>
  new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace(".000Z", "Z")

/** Response headers being built, by lower-case name. */
export type HeaderMap = Record<string, string>

/** OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, reset as a Go duration. */
export const openaiLimitHeaders = (h: HeaderMap, views: LimitViews): void => {
  for (const [suffix, view] of [["requests", views.requests], ["tokens", views.tokens]] as const) {
    if (view === undefined) continue
    h[`x-ratelimit-limit-${suffix}`] = String(view.limit)
    h[`x-ratelimit-remaining-${suffix}`] = String(view.remaining)
    h[`x-ratelimit-reset-${suffix}`] = formatGoDuration(view.resetMs)
  }
}

/** Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, reset as an RFC 3339 time. */
export const anthropicLimitHeaders = (h: HeaderMap, views: LimitViews, now: number): void => {
  for (const [name, view] of [["requests", views.requests], ["tokens", views.tokens]] as const) {
    if (view === undefined) continue
    h[`anthropic-ratelimit-${name}-limit`] = String(view.limit)
    h[`anthropic-ratelimit-${name}-remaining`] = String(view.remaining)
    h[`anthropic-ratelimit-${name}-reset`] = formatRfc3339(now + view.resetMs)
  }
}

/** Sets `retry-after` (integer seconds, rounded up) and, except for Anthropic, the exact `retry-after-ms`. */
export const retryAfterHeaders = (h: HeaderMap, api: ApiKind | undefined, waitMs: number): void => {
  h["retry-after"] = String(Math.max(1, Math.ceil(waitMs / 1000)))
  if (api !== "anthropic") h["retry-after-ms"] = String(Math.max(1, Math.ceil(waitMs)))
}
