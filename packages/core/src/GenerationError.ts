/**
 * The errors a generator call can fail with, normalized across providers. Each carries `retryable`: the engine's
 * one retry layer retries exactly those that are, and records on the final error how many requests it sent.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { RateLimitSnapshot } from "./internal/rateLimitSnapshot.js"

const generationFields = {
  /** The provider that raised the error, e.g. `openai`. */
  provider: Schema.String,
  /** What the provider said, with secrets removed. */
  detail: Schema.String,
  /** Requests sent before giving up, set by the engine when it retried (unset means one). */
  attempts: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
}

const describe = (what: string, self: { readonly provider: string; readonly detail: string }) =>
  `${what} (${self.provider})${self.detail.length > 0 ? `: ${self.detail}` : ""}`

/**
 * The provider refused the request for its rate limit (HTTP 429). Retryable; `retryAfterMs` is the server's
 * own hint and wins over any computed backoff.
 *
 * @example
 * ```ts
 * import { RateLimited } from "@capstan/core"
 *
 * new RateLimited({ provider: "openai", detail: "slow down", retryAfterMs: 1000 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  ...generationFields,
  retryAfterMs: Schema.optionalKey(Schema.Finite),
  rateLimit: Schema.optionalKey(RateLimitSnapshot)
}) {
  readonly retryable = true
  override get message(): string {
    const wait = this.retryAfterMs === undefined ? "" : ` (retry after ${Math.ceil(this.retryAfterMs)} ms)`
    return describe("Rate limited", this) + wait
  }
}

/**
 * The provider is overloaded (HTTP 503, Anthropic 529). Retryable.
 *
 * @example
 * ```ts
 * import { Overloaded } from "@capstan/core"
 *
 * new Overloaded({ provider: "anthropic", detail: "overloaded", status: 529 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  ...generationFields,
  status: Schema.Int,
  retryAfterMs: Schema.optionalKey(Schema.Finite)
}) {
  readonly retryable = true
  override get message(): string {
    return describe(`Provider overloaded (HTTP ${this.status})`, this)
  }
}

/**
 * The provider failed with a server error (HTTP 5xx). Retryable.
 *
 * @example
 * ```ts
 * import { ServerError } from "@capstan/core"
 *
 * new ServerError({ provider: "openai", detail: "oops", status: 500 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = true
  override get message(): string {
    return describe(`Server error (HTTP ${this.status})`, this)
  }
}

/**
 * No answer within the request timeout. Retryable.
 *
 * @example
 * ```ts
 * import { Timeout } from "@capstan/core"
 *
 * new Timeout({ provider: "openai", detail: "", timeoutMs: 30000 }).message // "Timed out after 30000 ms (openai)"
 * ```
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  ...generationFields,
  timeoutMs: Schema.optionalKey(Schema.Finite)
}) {
  readonly retryable = true
  override get message(): string {
    return describe(this.timeoutMs === undefined ? "Timed out" : `Timed out after ${this.timeoutMs} ms`, this)
  }
}

/**
 * The connection failed or was reset before an answer arrived. Retryable.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@capstan/core"
 *
 * new ConnectionError({ provider: "openai", detail: "ECONNRESET" }).retryable // true
 * ```
 * @since 0.1.0
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", generationFields) {
  readonly retryable = true
  override get message(): string {
    return describe("Connection failed", this)
  }
}

/**
 * The provider answered with a body that could not be read (truncated or not JSON). Retryable.
 *
 * @example
 * ```ts
 * import { MalformedResponse } from "@capstan/core"
 *
 * new MalformedResponse({ provider: "openai", detail: "Unexpected end of JSON input" }).retryable // true
 * ```
 * @since 0.1.0
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", generationFields) {
  readonly retryable = true
  override get message(): string {
    return describe("Malformed response", this)
  }
}

/**
 * The API key was refused (HTTP 401/403). Not retryable.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "@capstan/core"
 *
 * new AuthenticationError({ provider: "openai", detail: "bad key", status: 401 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>()("AuthenticationError", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Authentication failed (HTTP ${this.status}); check the API key`, this)
  }
}

/**
 * The provider rejected the request as invalid (HTTP 400/404/422, ...). Not retryable.
 *
 * @example
 * ```ts
 * import { InvalidRequest } from "@capstan/core"
 *
 * new InvalidRequest({ provider: "openai", detail: "unknown model", status: 404 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  ...generationFields,
  status: Schema.optionalKey(Schema.Int)
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Invalid request${this.status === undefined ? "" : ` (HTTP ${this.status})`}`, this)
  }
}

/**
 * The prompt does not fit the model's context window. Not retryable.
 *
 * @example
 * ```ts
 * import { ContextLengthExceeded } from "@capstan/core"
 *
 * new ContextLengthExceeded({ provider: "openai", detail: "too long" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>()(
  "ContextLengthExceeded",
  generationFields
) {
  readonly retryable = false
  override get message(): string {
    return describe("Context length exceeded; shorten the prompt or lower max_tokens", this)
  }
}

/**
 * The provider's content filter stopped the answer. Not retryable.
 *
 * @example
 * ```ts
 * import { ContentFiltered } from "@capstan/core"
 *
 * new ContentFiltered({ provider: "openai", detail: "" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class ContentFiltered extends Schema.TaggedError<ContentFiltered>()("ContentFiltered", generationFields) {
  readonly retryable = false
  override get message(): string {
    return describe("Content filtered", this)
  }
}

/**
 * The account is out of quota or credit (a 429 that waiting does not cure: OpenAI `insufficient_quota`,
 * Anthropic spend limits). Not retryable: top up or raise the limit.
 *
 * @example
 * ```ts
 * import { QuotaExceeded } from "@capstan/core"
 *
 * new QuotaExceeded({ provider: "openai", detail: "insufficient_quota", status: 429 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()("QuotaExceeded", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Quota exceeded (HTTP ${this.status}); check the account's plan and billing`, this)
  }
}

/**
 * The generator cannot do what was asked (e.g. plain-text completion on a chat-only provider). Not retryable.
 *
 * @example
 * ```ts
 * import { Unsupported } from "@capstan/core"
 *
 * new Unsupported({ provider: "anthropic", detail: "no text completion endpoint" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class Unsupported extends Schema.TaggedError<Unsupported>()("Unsupported", generationFields) {
  readonly retryable = false
  override get message(): string {
    return describe("Unsupported", this)
  }
}

/**
 * A provider batch ended without answering the request: it `expired` (the provider's completion window passed),
 * was `cancelled`, or its results did not mention the request (`missing`). Retryable: by default the batch engine
 * sends such requests again in realtime (see `Batch.Options.fallback`); this error is the row's only when no
 * fallback answered.
 *
 * @example
 * ```ts
 * import { BatchUnfinished } from "@capstan/core"
 *
 * const error = new BatchUnfinished({ provider: "openai", detail: "", reason: "expired", batchId: "batch_1" })
 * error.message // "Provider batch batch_1 expired before answering (openai)"
 * ```
 * @since 0.3.0
 */
export class BatchUnfinished extends Schema.TaggedError<BatchUnfinished>()("BatchUnfinished", {
  ...generationFields,
  reason: Schema.Literals(["expired", "cancelled", "missing"]),
  batchId: Schema.String
}) {
  readonly retryable = true
  override get message(): string {
    const what = this.reason === "missing" ? "left out of its results" : `${this.reason} before answering`
    return describe(`Provider batch ${this.batchId} ${what}`, this)
  }
}

/**
 * Every error a generator call can fail with.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { GenerationError, isRetryable } from "@capstan/core"
 *
 * const explain = (error: GenerationError): string => {
 *   switch (error._tag) {
 *     case "RateLimited":
 *       return `rate limited: retry after ${error.retryAfterMs ?? 1000} ms`
 *     case "AuthenticationError":
 *       return "check the API key"
 *     default:
 *       return isRetryable(error) ? `transient: ${error.message}` : error.message
 *   }
 * }
 * declare const json: unknown // an error's JSON form, e.g. the `error` of a results row
 * explain(Schema.decodeUnknownSync(GenerationError)(json))
 * ```
 * @since 0.1.0
 */
export type GenerationError =
  | RateLimited
  | Overloaded
  | ServerError
  | Timeout
  | ConnectionError
  | MalformedResponse
  | AuthenticationError
  | InvalidRequest
  | ContextLengthExceeded
  | ContentFiltered
  | QuotaExceeded
  | Unsupported
  | BatchUnfinished

const generationErrorUnion = Schema.Union([
  RateLimited,
  Overloaded,
  ServerError,
  Timeout,
  ConnectionError,
  MalformedResponse,
  AuthenticationError,
  InvalidRequest,
  ContextLengthExceeded,
  ContentFiltered,
  QuotaExceeded,
  Unsupported,
  BatchUnfinished
])

/**
 * The encoded (JSON) form of a {@link GenerationError}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { GenerationError, type GenerationErrorEncoded, Timeout } from "@capstan/core"
 *
 * const timeout = new Timeout({ provider: "openai", detail: "no answer in 60 s" })
 * const json: GenerationErrorEncoded = Schema.encodeSync(GenerationError)(timeout)
 * json._tag // "Timeout"
 * ```
 * @since 0.2.0
 */
export type GenerationErrorEncoded = typeof generationErrorUnion.Encoded

/**
 * The schema of {@link GenerationError}.
 *
 * @since 0.1.0
 */
export const GenerationError: Schema.Codec<GenerationError, GenerationErrorEncoded> = generationErrorUnion

/**
 * True for errors the engine's retry layer may retry: rate limits, overload, 5xx, timeouts, connection
 * failures and malformed responses.
 *
 * @example
 * ```ts
 * import { isRetryable, ServerError, InvalidRequest } from "@capstan/core"
 *
 * isRetryable(new ServerError({ provider: "p", detail: "", status: 502 }))   // true
 * isRetryable(new InvalidRequest({ provider: "p", detail: "" }))             // false
 * ```
 * @since 0.1.0
 */
export const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "retryable" in error && error.retryable === true

/**
 * True for errors that say nothing about the request and everything about the account or the generator: a refused
 * key, an exhausted quota, a model that does not exist, a capability the generator lacks. Every later request would
 * fail the same way, so a batch stops sending after a few of them in a row (see `Batch.Options.stopAfter`).
 *
 * @example
 * ```ts
 * import { AuthenticationError, failsEveryRequest, ServerError } from "@capstan/core"
 *
 * failsEveryRequest(new AuthenticationError({ provider: "openai", detail: "", status: 401 })) // true
 * failsEveryRequest(new ServerError({ provider: "openai", detail: "", status: 500 }))          // false
 * ```
 * @since 0.2.0
 */
export const failsEveryRequest = (
  error: { readonly _tag: string }
): error is AuthenticationError | QuotaExceeded | Unsupported | InvalidRequest => {
  switch (error._tag) {
    case "AuthenticationError":
    case "QuotaExceeded":
    case "Unsupported":
      return true
    case "InvalidRequest":
      return (error as InvalidRequest).status === 404
    default:
      return false
  }
}
