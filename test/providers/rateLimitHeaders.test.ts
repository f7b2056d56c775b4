/**
 * The providers' rate-limit headers read into the normalized snapshot the engine's limiter learns from.
 */
import { Generation } from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { parseGoDuration, snapshotOf } from "../../packages/providers/src/internal/rateLimitHeaders.js"

describe("rate-limit headers", () => {
  it("parses Go-style durations", () => {
    expect(parseGoDuration("1s")).toBe(1000)
    expect(parseGoDuration("6m0s")).toBe(360_000)
    expect(parseGoDuration("120ms")).toBe(120)
    expect(parseGoDuration("1h2m3.5s")).toBe(3_723_500)
    expect(parseGoDuration("2")).toBe(2000)
    expect(parseGoDuration("soon")).toBeUndefined()
    expect(parseGoDuration("1x")).toBeUndefined()
  })

  it("reads OpenAI rate-limit headers", () => {
    const snap = snapshotOf({
      "x-ratelimit-limit-requests": "6000",
      "x-ratelimit-remaining-requests": "5999",
      "x-ratelimit-reset-requests": "10ms",
      "x-ratelimit-limit-tokens": "150000",
      "x-ratelimit-remaining-tokens": "149000",
      "x-ratelimit-reset-tokens": "6m0s",
      "retry-after-ms": "250"
    }, 1000)
    expect(snap).toEqual(
      new Generation.RateLimitSnapshot({
        observedAt: 1000,
        requestsLimit: 6000,
        requestsRemaining: 5999,
        requestsResetMs: 10,
        tokensLimit: 150000,
        tokensRemaining: 149000,
        tokensResetMs: 360_000,
        retryAfterMs: 250
      })
    )
  })

  it("reads Anthropic rate-limit headers (RFC 3339 resets) from a Headers object", () => {
    const now = Date.parse("2026-01-01T00:00:00Z")
    const headers = new Headers({
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:02Z",
      "anthropic-ratelimit-tokens-reset": "2025-12-31T23:59:00Z",
      "retry-after": "3"
    })
    const snap = snapshotOf(headers, now)
    expect(snap?.requestsLimit).toBe(50)
    expect(snap?.requestsRemaining).toBe(0)
    expect(snap?.requestsResetMs).toBe(2000)
    expect(snap?.tokensResetMs).toBe(0) // a reset in the past is now
    expect(snap?.retryAfterMs).toBe(3000)
    expect(snapshotOf({ "content-type": "x" }, now)).toBeUndefined()
  })
})
