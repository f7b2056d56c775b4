/**
 * Reading the providers' rate-limit headers into a `Generation.RateLimitSnapshot`: OpenAI's `x-ratelimit-*` (resets as
 * Go durations such as `6m0s`, also sent by OpenAI-compatible servers), Anthropic's `anthropic-ratelimit-*` (resets as
 * RFC 3339 times), and `retry-after-ms` / `retry-after`. The engine's limiter only sees the normalized snapshot.
 *
 * @internal
 */
import { Generation } from "@capstan/core"

/** Response headers as a record or as the `Headers` interface. */
export type HeaderSource = Readonly<Record<string, string | null | undefined>> | { get(name: string): string | null }

/** The rate-limit state a response's headers report; `undefined` when they report none. */
export const snapshotOf = (headers: HeaderSource, now: number): Generation.RateLimitSnapshot | undefined => {
  const get = (name: string): string | undefined => {
    const v = "get" in headers && typeof headers.get === "function"
      ? (headers as { get(name: string): string | null }).get(name)
      : (headers as Readonly<Record<string, string | null | undefined>>)[name]
    return v === null || v === undefined || v === "" ? undefined : v
  }
  const int = (name: string) => {
    const v = get(name)
    const n = v === undefined ? NaN : Number(v)
    return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined
  }
  const openaiReset = (name: string) => {
    const v = get(name)
    return v === undefined ? undefined : parseGoDuration(v)
  }
  const anthropicReset = (name: string) => {
    const v = get(name)
    if (v === undefined) return undefined
    const at = Date.parse(v)
    return Number.isNaN(at) ? undefined : Math.max(0, at - now)
  }
  const fields = {
    requestsLimit: int("x-ratelimit-limit-requests") ?? int("anthropic-ratelimit-requests-limit"),
    requestsRemaining: int("x-ratelimit-remaining-requests") ?? int("anthropic-ratelimit-requests-remaining"),
    requestsResetMs: openaiReset("x-ratelimit-reset-requests") ?? anthropicReset("anthropic-ratelimit-requests-reset"),
    tokensLimit: int("x-ratelimit-limit-tokens") ?? int("anthropic-ratelimit-tokens-limit"),
    tokensRemaining: int("x-ratelimit-remaining-tokens") ?? int("anthropic-ratelimit-tokens-remaining"),
    tokensResetMs: openaiReset("x-ratelimit-reset-tokens") ?? anthropicReset("anthropic-ratelimit-tokens-reset"),
    retryAfterMs: parseRetryAfter(get("retry-after-ms"), get("retry-after"), now)
  }
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
  return Object.keys(defined).length === 0
    ? undefined
    : new Generation.RateLimitSnapshot({ observedAt: now, ...defined }, { disableChecks: true })
}

const goDurationUnits: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 1e-6
}

/**
 * A Go-style duration (`1s`, `6m0s`, `120ms`, `1h2m3.5s`) or a bare number of seconds, in milliseconds; `undefined`
 * for anything else.
 */
export const parseGoDuration = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined
  return parts.reduce((total, [, value, unit]) => total + Number(value) * (goDurationUnits[unit!] ?? 0), 0)
}

/** `retry-after-ms`, else `retry-after` (seconds, or an HTTP date), in milliseconds. */
export const parseRetryAfter = (
  retryAfterMs: string | undefined,
  retryAfter: string | undefined,
  now: number
): number | undefined => {
  const ms = retryAfterMs === undefined ? NaN : Number(retryAfterMs)
  if (Number.isFinite(ms) && ms >= 0) return ms
  if (retryAfter === undefined) return undefined
  const seconds = Number(retryAfter)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(retryAfter)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
