/**
 * Errors between effect/ai and Capstan, both ways: an `AiError` (by its reason) becomes a Capstan
 * `GenerationError`, and a `GenerationError` becomes an `AiError`, keeping what both sides can say (the HTTP
 * status, the server's retry-after hint, whether waiting cures it). A Capstan error carries its own encoded form in
 * the reason's `metadata.capstan`, so an error that goes out to effect/ai and comes back is the same error (a
 * `NetworkError` has no metadata: a timeout or a connection failure comes back as such, without its details).
 *
 * | effect/ai reason                                  | Capstan error                                     |
 * | ------------------------------------------------- | ------------------------------------------------- |
 * | `RateLimitError` (`retryAfter`)                   | `RateLimited` (`retryAfterMs`)                    |
 * | `QuotaExhaustedError`                             | `QuotaExceeded`                                   |
 * | `AuthenticationError`                             | `AuthenticationError` (401, 403 for permissions)  |
 * | `ContentPolicyError`                              | `ContentFiltered`                                 |
 * | `InvalidRequestError`                             | `InvalidRequest`, or `ContextLengthExceeded`      |
 * | `InternalProviderError`                           | `ServerError`, or `Overloaded` for 503/529        |
 * | `NetworkError` (`TransportError`)                 | `ConnectionError` (`Timeout` when it says so)     |
 * | `NetworkError` (`EncodeError`, `InvalidUrlError`) | `InvalidRequest`                                  |
 * | `InvalidResponseError`                            | `MalformedResponse`                               |
 * | `InvalidOutputError`, `StructuredOutputError`     | `MalformedResponse`                               |
 * | `ToolNotFoundError`, `ToolParameterValidation...` | `MalformedResponse` (the model's call was wrong)  |
 * | `UnsupportedSchemaError`                          | `Unsupported`                                     |
 * | `UnknownError`                                    | by HTTP status; without one `InvalidRequest`      |
 * | other tool and input reasons                      | `InvalidRequest`                                  |
 *
 * The other way, `Overloaded` and `ServerError` become `InternalProviderError`, `Timeout` and `ConnectionError` a
 * `NetworkError` (`TransportError`), `MalformedResponse` an `InvalidResponseError`, `ContextLengthExceeded` and
 * `Unsupported` an `InvalidRequestError`, `BatchUnfinished` an `UnknownError`; the others their row above.
 *
 * @internal
 */
import { Duration, Option, Schema } from "effect"
import * as AiError from "effect/ai/AiError"
import {
  AuthenticationError,
  ConnectionError,
  ContentFiltered,
  ContextLengthExceeded,
  GenerationError,
  InvalidRequest,
  MalformedResponse,
  Overloaded,
  QuotaExceeded,
  RateLimited,
  ServerError,
  Timeout,
  Unsupported
} from "../GenerationError.js"

/** The metadata key a Capstan error's encoded form travels under. */
const metadataKey = "capstan"

const decodeCapstan = Schema.decodeUnknownOption(GenerationError)
const encodeCapstan = Schema.encodeSync(GenerationError)

const statusOf = (reason: AiError.AiErrorReason): number | undefined =>
  "http" in reason ? reason.http?.response?.status : undefined

const describeReason = (reason: AiError.AiErrorReason): string => {
  try {
    return reason.message
  } catch {
    return reason._tag
  }
}

const contextLength = /context (length|window)|too many tokens|maximum context|prompt is too long/i

/**
 * The Capstan error an `AiError` (or one of its reasons) stands for; `provider` names the generator that failed.
 *
 * @internal
 */
export const fromAiError = (error: AiError.AiError | AiError.AiErrorReason, provider: string): GenerationError => {
  const reason = AiError.isAiError(error) ? error.reason : error
  const carried = "metadata" in reason ? reason.metadata[metadataKey] : undefined
  if (carried !== undefined && carried !== null) {
    const decoded = decodeCapstan(carried)
    if (Option.isSome(decoded)) return decoded.value
  }
  const detail = describeReason(reason)
  const status = statusOf(reason)
  const withStatus = status === undefined ? {} : { status }
  switch (reason._tag) {
    case "RateLimitError":
      return new RateLimited({
        provider,
        detail,
        ...(reason.retryAfter === undefined ? {} : { retryAfterMs: Duration.toMillis(reason.retryAfter) })
      })
    case "QuotaExhaustedError":
      return new QuotaExceeded({ provider, detail, status: status ?? 429 })
    case "AuthenticationError":
      return new AuthenticationError({
        provider,
        detail,
        status: status ?? (reason.kind === "InsufficientPermissions" ? 403 : 401)
      })
    case "ContentPolicyError":
      return new ContentFiltered({ provider, detail })
    case "InvalidRequestError":
      return contextLength.test(`${reason.constraint ?? ""} ${reason.description ?? ""}`)
        ? new ContextLengthExceeded({ provider, detail })
        : new InvalidRequest({ provider, detail, ...withStatus })
    case "InternalProviderError":
      return serverError(provider, detail, status)
    case "NetworkError":
      return reason.reason !== "TransportError"
        ? new InvalidRequest({ provider, detail })
        : /timed? ?out/i.test(reason.description ?? "")
        ? new Timeout({ provider, detail })
        : new ConnectionError({ provider, detail })
    case "InvalidResponseError":
    case "InvalidOutputError":
    case "StructuredOutputError":
    case "ToolNotFoundError":
    case "ToolParameterValidationError":
      return new MalformedResponse({ provider, detail })
    case "UnsupportedSchemaError":
      return new Unsupported({ provider, detail })
    case "UnknownError":
      return status !== undefined && status >= 500
        ? serverError(provider, detail, status)
        : new InvalidRequest({ provider, detail: `unknown error: ${detail}`, ...withStatus })
    case "InvalidToolResultError":
    case "ToolResultEncodingError":
    case "ToolConfigurationError":
    case "ToolkitRequiredError":
    case "InvalidUserInputError":
      return new InvalidRequest({ provider, detail })
  }
}

const serverError = (provider: string, detail: string, status: number | undefined): GenerationError =>
  status === 503 || status === 529
    ? new Overloaded({ provider, detail, status })
    : new ServerError({ provider, detail, status: status ?? 500 })

const http = (status: number | undefined) => status === undefined ? {} : { http: { response: { status, headers: {} } } }

/**
 * The effect/ai reason a Capstan error stands for, carrying the Capstan error itself in `metadata.capstan`.
 *
 * @internal
 */
export const toAiErrorReason = (error: GenerationError, options?: { readonly url?: string }): AiError.AiErrorReason => {
  const metadata = { [metadataKey]: encodeCapstan(error) as unknown as Schema.MutableJson }
  const description = error.message
  switch (error._tag) {
    case "RateLimited":
      return new AiError.RateLimitError({
        metadata,
        ...(error.retryAfterMs === undefined ? {} : { retryAfter: Duration.millis(error.retryAfterMs) }),
        ...http(429)
      })
    case "QuotaExceeded":
      return new AiError.QuotaExhaustedError({ metadata, ...http(error.status) })
    case "AuthenticationError":
      return new AiError.AuthenticationError({
        kind: error.status === 403 ? "InsufficientPermissions" : "InvalidKey",
        description,
        metadata,
        ...http(error.status)
      })
    case "ContentFiltered":
      return new AiError.ContentPolicyError({ description, metadata })
    case "InvalidRequest":
      return new AiError.InvalidRequestError({ description, metadata, ...http(error.status) })
    case "ContextLengthExceeded":
      return new AiError.InvalidRequestError({
        parameter: "prompt",
        constraint: "exceeds the model's context length",
        description,
        metadata
      })
    case "Unsupported":
      return new AiError.InvalidRequestError({ description, metadata })
    case "Overloaded":
    case "ServerError":
      return new AiError.InternalProviderError({ description, metadata, ...http(error.status) })
    case "Timeout":
    case "ConnectionError":
      return new AiError.NetworkError({
        reason: "TransportError",
        method: "POST",
        url: options?.url ?? `capstan:${error.provider}`,
        // A network error has no metadata: a timeout is known again by its description.
        description
      })
    case "MalformedResponse":
      return new AiError.InvalidResponseError({ description, metadata })
    case "BatchUnfinished":
      return new AiError.UnknownError({ description, metadata })
  }
}

/**
 * The `AiError` a Capstan error stands for, as `module.method` of effect/ai raised it.
 *
 * @internal
 */
export const toAiError = (
  error: GenerationError,
  options: { readonly method: string; readonly url?: string | undefined }
): AiError.AiError =>
  AiError.make({
    module: "LanguageModel",
    method: options.method,
    reason: toAiErrorReason(error, options.url === undefined ? undefined : { url: options.url })
  })
