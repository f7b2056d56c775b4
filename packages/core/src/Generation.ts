/**
 * What a generator is asked (`ChatRequest`, `CompletionRequest`) and what it answers (`Generation`),
 * including the provider's rate-limit headers so the engine can pace itself before it is refused.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as GenerateParams from "./GenerateParams.js"
import { Message } from "./Message.js"
import * as Usage from "./Usage.js"
import { NonNegative, NonNegativeInt, PositiveInt } from "./internal/numbers.js"

/**
 * Why a generation stopped, normalized across providers.
 *
 * @since 0.1.0
 */
export const StopReason = Schema.Literals(["stop", "length", "content_filter", "tool_calls", "unknown"])

/**
 * @since 0.1.0
 */
export type StopReason = typeof StopReason.Type

/**
 * Maps a provider's finish/stop reason to a {@link StopReason}.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * Generation.normalizeStopReason("end_turn")   // "stop"
 * Generation.normalizeStopReason("max_tokens") // "length"
 * ```
 * @since 0.1.0
 */
export const normalizeStopReason = (reason: string | null | undefined): StopReason => {
  switch (reason) {
    case "stop":
    case "eos":
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "length":
    case "max_tokens":
    case "model_length":
      return "length"
    case "content_filter":
    case "refusal":
      return "content_filter"
    default:
      return reason !== null && reason !== undefined && reason.includes("tool") ? "tool_calls" : "unknown"
  }
}

const Count = NonNegativeInt
const Millis = NonNegative

/**
 * The provider's rate-limit state as its response headers told it, normalized: resets and retry-after are
 * milliseconds from `observedAt` (epoch milliseconds).
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * const snap = Generation.RateLimitSnapshot.fromHeaders(
 *   { "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s" },
 *   0
 * )
 * snap?.requestsRemaining // 59
 * snap?.requestsResetMs   // 1000
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
  /**
   * Reads OpenAI (`x-ratelimit-*`, Go-style durations such as `6m0s`) and Anthropic
   * (`anthropic-ratelimit-*`, RFC 3339 times) headers plus `retry-after-ms` / `retry-after`.
   * Returns `undefined` when the response carried none of them.
   */
  static fromHeaders(
    headers: Readonly<Record<string, string | null | undefined>> | { get(name: string): string | null },
    now: number
  ): RateLimitSnapshot | undefined {
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
    return Object.keys(defined).length === 0 ? undefined : new RateLimitSnapshot({ observedAt: now, ...defined }, { disableChecks: true })
  }
}

const goDurationUnits: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, "µs": 0.001, ns: 1e-6 }

/**
 * Parses a Go-style duration (`1s`, `6m0s`, `120ms`, `1h2m3.5s`) or a bare number of seconds into
 * milliseconds. Returns `undefined` for anything else.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * Generation.parseGoDuration("6m0s") // 360000
 * Generation.parseGoDuration("120ms") // 120
 * ```
 * @since 0.1.0
 */
export const parseGoDuration = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined
  return parts.reduce((total, [, value, unit]) => total + Number(value) * (goDurationUnits[unit!] ?? 0), 0)
}

/**
 * Reads `retry-after-ms`, else `retry-after` (seconds, or an HTTP date), as milliseconds.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * Generation.parseRetryAfter(undefined, "2", 0) // 2000
 * ```
 * @since 0.1.0
 */
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

/**
 * A request for native structured output: the provider is asked to answer with JSON matching `schema`
 * (OpenAI `response_format: json_schema`, Anthropic a forced tool call).
 *
 * @since 0.1.0
 */
export interface StructuredOutput {
  readonly name: string
  readonly description?: string
  /** A JSON Schema document (draft 2020-12 object schema). */
  readonly schema: Readonly<Record<string, unknown>>
}

/**
 * A chat request.
 *
 * @example
 * ```ts
 * import { GenerateParams, Message } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const request: Generation.ChatRequest = { messages: [Message.user("Hi")], params: GenerateParams.empty }
 * ```
 * @since 0.1.0
 */
export interface ChatRequest {
  readonly messages: ReadonlyArray<Message>
  readonly params: GenerateParams.GenerateParams
  readonly structured?: StructuredOutput
}

/**
 * A plain-text completion request.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const request: Generation.CompletionRequest = { prompt: "Once upon a time", params: GenerateParams.empty }
 * ```
 * @since 0.1.0
 */
export interface CompletionRequest {
  readonly prompt: string
  readonly params: GenerateParams.GenerateParams
}

/**
 * One choice of a generation. Structured output arrives as its JSON text.
 *
 * @since 0.1.0
 */
export class Choice extends Schema.Class<Choice>("@capstan/core/Choice")({
  text: Schema.String,
  stopReason: StopReason
}) {}

/**
 * A provider's answer: one or more choices (`n`), the usage of the call, the rate-limit state
 * the response reported, and how many attempts the engine needed.
 *
 * @example
 * ```ts
 * import { Generation, Usage } from "@capstan/core"
 *
 * const g = new Generation.Generation({
 *   choices: [new Generation.Choice({ text: "Hi", stopReason: "stop" })],
 *   usage: Usage.empty
 * })
 * g.choices[0]?.text // "Hi"
 * ```
 * @since 0.1.0
 */
export class Generation extends Schema.Class<Generation>("@capstan/core/Generation")({
  choices: Schema.Array(Choice),
  usage: Usage.Usage,
  rateLimit: Schema.optionalKey(RateLimitSnapshot),
  /** How many requests were sent for this generation when the engine had to retry; unset means one. */
  attempts: Schema.optionalKey(PositiveInt)
}) {}

/**
 * A generation of one choice per text, with the given usage.
 *
 * @example
 * ```ts
 * import { Generation, Usage } from "@capstan/core"
 *
 * Generation.fromTexts(["a", "b"], Usage.empty).choices.length // 2
 * ```
 * @since 0.1.0
 */
export const fromTexts = (texts: ReadonlyArray<string>, usage: Usage.Usage, stopReason: StopReason = "stop"): Generation =>
  new Generation({ choices: texts.map((text) => new Choice({ text, stopReason })), usage })
