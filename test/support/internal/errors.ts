/**
 * Error responses in each provider's real JSON shape, so the SDKs raise their proper error classes:
 * OpenAI `{ error: { message, type, param, code } }`, Anthropic `{ type: "error", error: { type, message, details? }, request_id }`.
 * @module
 */
import type { BucketView, LimitDimension } from "./rateLimiter.js"
import { formatGoDuration } from "./rateLimiter.js"
import type { ApiKind, FakeError, FaultKind } from "./types.js"

/** One error response, with fields for both wire formats (each format picks what it needs). */
export interface ErrorSpec {
  readonly status: number
  readonly openaiType: string
  readonly anthropicType: string
  readonly code: string | null
  readonly param: string | null
  readonly message: string
  /** Anthropic's wording when it differs from OpenAI's `message`. */
  readonly anthropicMessage?: string
  /** Anthropic `error.details` (e.g. `{ error_code: "enforced_spend_limit_reached" }`). */
  readonly details?: Readonly<Record<string, unknown>>
}

/** Serializes `spec` for `api`. */
export const errorBody = (api: ApiKind | undefined, spec: ErrorSpec, requestId: string): unknown => {
  if (api === "anthropic") {
    const message = spec.anthropicMessage ?? spec.message
    const error = spec.details === undefined
      ? { type: spec.anthropicType, message }
      : { type: spec.anthropicType, message, details: spec.details }
    return { type: "error", error, request_id: requestId }
  }
  return { error: { message: spec.message, type: spec.openaiType, param: spec.param, code: spec.code } }
}

const ANTHROPIC_TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error"
}

const defaultAnthropicType = (status: number) =>
  ANTHROPIC_TYPE_BY_STATUS[status] ?? (status >= 500 ? "api_error" : "invalid_request_error")
const defaultOpenaiType = (
  status: number
) => (status === 429 ? "requests" : status >= 500 ? "server_error" : "invalid_request_error")

/** A 4xx/5xx with default type names for its status. */
export const statusError = (
  status: number,
  message: string,
  code: string | null = null,
  param: string | null = null
): ErrorSpec => ({
  status,
  openaiType: defaultOpenaiType(status),
  anthropicType: defaultAnthropicType(status),
  code,
  param,
  message
})

/** Error scripted by a `FakeReply.error`. */
export const fromFakeError = (e: FakeError): ErrorSpec => ({
  ...statusError(e.status, e.message ?? `Scripted error ${e.status}`, e.code ?? null),
  ...(e.type === undefined ? {} : { openaiType: e.type, anthropicType: e.type })
})

/** Facts some fault messages quote. */
export interface FaultContext {
  readonly model: string
  readonly promptTokens: number
}

// Anthropic and OpenAI report the context overflow with these windows in their messages; the numbers are cosmetic.
const OPENAI_CONTEXT_WINDOW = 128_000
const ANTHROPIC_CONTEXT_WINDOW = 200_000

/** The HTTP error a fault kind stands for, or undefined for faults that are not an error response (reset, hang, …). */
export const faultError = (kind: FaultKind, ctx: FaultContext): ErrorSpec | undefined => {
  switch (kind) {
    case "rate-limit":
      return {
        ...statusError(
          429,
          `Rate limit reached for ${ctx.model} in organization org-fake on requests per min (RPM): Please try again in 1s.`,
          "rate_limit_exceeded"
        ),
        anthropicMessage: "This request would exceed the rate limit for your organization. Please try again later."
      }
    case "quota":
      return {
        ...statusError(
          429,
          "You exceeded your current quota, please check your plan and billing details.",
          "insufficient_quota"
        ),
        openaiType: "insufficient_quota",
        details: { error_code: "enforced_spend_limit_reached" }
      }
    case "server-error":
      return statusError(500, "The server had an error while processing your request. Sorry about that!")
    case "unavailable":
      return statusError(503, "The server is overloaded or not ready yet.")
    case "overloaded":
      return statusError(529, "Overloaded")
    case "bad-request":
      return statusError(400, "Invalid request (injected fault).")
    case "unauthorized":
      return statusError(401, "Incorrect API key provided (injected fault).", "invalid_api_key")
    case "forbidden":
      return statusError(
        403,
        "Your API key does not have permission to use the specified resource.",
        "permission_denied"
      )
    case "not-found":
      return statusError(
        404,
        `The model \`${ctx.model}\` does not exist or you do not have access to it.`,
        "model_not_found",
        "model"
      )
    case "too-large":
      return statusError(413, "Request exceeds the maximum allowed number of bytes.", "request_too_large")
    case "context-length":
      return contextLengthError(ctx)
    default:
      return undefined
  }
}

const contextLengthError = (ctx: FaultContext): ErrorSpec => {
  const openaiTokens = OPENAI_CONTEXT_WINDOW + ctx.promptTokens
  const anthropicTokens = ANTHROPIC_CONTEXT_WINDOW + ctx.promptTokens
  return {
    ...statusError(
      400,
      `This model's maximum context length is ${OPENAI_CONTEXT_WINDOW} tokens. However, your messages resulted in ${openaiTokens} tokens. Please reduce the length of the messages.`,
      "context_length_exceeded",
      "messages"
    ),
    anthropicMessage: `prompt is too long: ${anthropicTokens} tokens > ${ANTHROPIC_CONTEXT_WINDOW} maximum`
  }
}

/** Describes a limiter refusal for the 429 body (values as OpenAI quotes them). */
export interface RateLimitRefusal {
  readonly model: string
  readonly dimension: LimitDimension
  readonly view: BucketView | undefined
  readonly requested: number
  readonly waitMs: number
  readonly tooLarge: boolean
}

/** The 429 the limiter answers with. */
export const rateLimitError = (r: RateLimitRefusal): ErrorSpec => {
  const unit = r.dimension === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)"
  const limit = r.view?.limit ?? 0
  const used = r.view?.used ?? 0
  const message = r.tooLarge
    ? `Request too large for ${r.model} in organization org-fake on ${unit}: Limit ${limit}, Requested ${r.requested}. The input or output tokens must be reduced in order to run successfully.`
    : `Rate limit reached for ${r.model} in organization org-fake on ${unit}: Limit ${limit}, Used ${used}, Requested ${r.requested}. Please try again in ${
      formatGoDuration(r.waitMs)
    }.`
  const anthropicUnit = r.dimension === "requests" ? "requests" : "tokens"
  const anthropicMessage = r.tooLarge
    ? `This request would exceed the rate limit for your organization of ${limit} ${anthropicUnit} per minute and can never succeed. Please reduce the prompt length or the maximum tokens requested.`
    : `This request would exceed the rate limit for your organization of ${limit} ${anthropicUnit} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`
  return { ...statusError(429, message, "rate_limit_exceeded"), openaiType: r.dimension, anthropicMessage }
}
