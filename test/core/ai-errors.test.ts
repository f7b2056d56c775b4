import {
  AiLanguageModel,
  AuthenticationError,
  BatchUnfinished,
  ConnectionError,
  ContentFiltered,
  ContextLengthExceeded,
  type GenerationError,
  InvalidRequest,
  MalformedResponse,
  Overloaded,
  QuotaExceeded,
  RateLimited,
  ServerError,
  Timeout,
  Unsupported
} from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { AiError } from "effect/ai"

const rateLimited = (retryAfterMs: number) =>
  AiError.make({
    module: "FakeLanguageModel",
    method: "generateText",
    reason: new AiError.RateLimitError({ retryAfter: Duration.millis(retryAfterMs) })
  })

describe("AiLanguageModel errors, both ways", () => {
  const reason = (r: AiError.AiErrorReason) => AiError.make({ module: "M", method: "generateText", reason: r })
  const http = (status: number) => ({ http: { response: { status, headers: {} } } })
  const table: ReadonlyArray<readonly [AiError.AiErrorReason, GenerationError["_tag"], number | undefined]> = [
    [new AiError.RateLimitError({ retryAfter: Duration.seconds(2) }), "RateLimited", undefined],
    [new AiError.QuotaExhaustedError({}), "QuotaExceeded", 429],
    [new AiError.AuthenticationError({ kind: "InvalidKey" }), "AuthenticationError", 401],
    [new AiError.AuthenticationError({ kind: "InsufficientPermissions" }), "AuthenticationError", 403],
    [new AiError.ContentPolicyError({ description: "no" }), "ContentFiltered", undefined],
    [new AiError.InvalidRequestError({ description: "bad", ...http(400) }), "InvalidRequest", 400],
    [
      new AiError.InvalidRequestError({ description: "This model's maximum context length is 8192 tokens" }),
      "ContextLengthExceeded",
      undefined
    ],
    [new AiError.InternalProviderError({ description: "boom", ...http(502) }), "ServerError", 502],
    [new AiError.InternalProviderError({ description: "busy", ...http(529) }), "Overloaded", 529],
    [new AiError.InternalProviderError({ description: "boom" }), "ServerError", 500],
    [new AiError.NetworkError({ reason: "TransportError", method: "POST", url: "u" }), "ConnectionError", undefined],
    [new AiError.NetworkError({ reason: "InvalidUrlError", method: "POST", url: "u" }), "InvalidRequest", undefined],
    [new AiError.InvalidResponseError({ description: "not json" }), "MalformedResponse", undefined],
    [new AiError.InvalidOutputError({ description: "x" }), "MalformedResponse", undefined],
    [new AiError.StructuredOutputError({ description: "x", responseText: "{" }), "MalformedResponse", undefined],
    [new AiError.ToolNotFoundError({ toolName: "t", availableTools: [] }), "MalformedResponse", undefined],
    [new AiError.UnsupportedSchemaError({ description: "x" }), "Unsupported", undefined],
    [new AiError.UnknownError({ description: "?", ...http(500) }), "ServerError", 500],
    [new AiError.UnknownError({ description: "?" }), "InvalidRequest", undefined],
    [new AiError.InvalidUserInputError({ description: "x" }), "InvalidRequest", undefined]
  ]
  for (const [aiReason, tag, status] of table) {
    it(`${aiReason._tag}${"http" in aiReason && aiReason.http ? ` ${aiReason.http.response?.status}` : ""} → ${tag}`, () => {
      const error = AiLanguageModel.fromAiError(reason(aiReason), "p")
      expect(error._tag).toBe(tag)
      expect(error.provider).toBe("p")
      expect("status" in error ? error.status : undefined).toBe(status)
      // a reason maps the same as the AiError that carries it
      expect(AiLanguageModel.fromAiError(aiReason, "p")).toEqual(error)
    })
  }

  it("a rate limit keeps its retry-after both ways", () => {
    const capstan = AiLanguageModel.fromAiError(rateLimited(2500), "p")
    expect(capstan._tag === "RateLimited" && capstan.retryAfterMs).toBe(2500)
    const ai = AiLanguageModel.toAiError(new RateLimited({ provider: "p", detail: "", retryAfterMs: 700 }))
    expect(ai.retryAfter === undefined ? undefined : Duration.toMillis(ai.retryAfter)).toBe(700)
  })

  const capstanErrors: ReadonlyArray<readonly [GenerationError, AiError.AiErrorReason["_tag"], boolean]> = [
    [new RateLimited({ provider: "p", detail: "d", retryAfterMs: 1000 }), "RateLimitError", true],
    [new Overloaded({ provider: "p", detail: "d", status: 529 }), "InternalProviderError", true],
    [new ServerError({ provider: "p", detail: "d", status: 500 }), "InternalProviderError", true],
    [new Timeout({ provider: "p", detail: "d", timeoutMs: 3000 }), "NetworkError", true],
    [new ConnectionError({ provider: "p", detail: "reset" }), "NetworkError", true],
    [new MalformedResponse({ provider: "p", detail: "d" }), "InvalidResponseError", false],
    [new AuthenticationError({ provider: "p", detail: "d", status: 401 }), "AuthenticationError", false],
    [new InvalidRequest({ provider: "p", detail: "d", status: 404 }), "InvalidRequestError", false],
    [new ContextLengthExceeded({ provider: "p", detail: "d" }), "InvalidRequestError", false],
    [new ContentFiltered({ provider: "p", detail: "d" }), "ContentPolicyError", false],
    [new QuotaExceeded({ provider: "p", detail: "d", status: 429 }), "QuotaExhaustedError", false],
    [new Unsupported({ provider: "p", detail: "d" }), "InvalidRequestError", false],
    [
      new BatchUnfinished({ provider: "p", detail: "d", reason: "expired", batchId: "b" }),
      "UnknownError",
      false
    ]
  ]
  for (const [error, aiTag, retryable] of capstanErrors) {
    it(`${error._tag} → ${aiTag}, and back`, () => {
      const ai = AiLanguageModel.toAiError(error)
      expect(ai.reason._tag).toBe(aiTag)
      expect(ai.isRetryable).toBe(retryable)
      const back = AiLanguageModel.fromAiError(ai, "other")
      if (aiTag === "NetworkError") {
        // a network error carries no metadata: the kind of failure comes back, not its details
        expect(back._tag).toBe(error._tag)
        expect(back.provider).toBe("other")
      } else {
        expect(back).toEqual(error)
      }
    })
  }
})
