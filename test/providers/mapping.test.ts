import { assert, describe, it } from "@effect/vitest"
import { Secrets } from "@capstan/core"
import { type Failure, toGenerationError } from "../../packages/providers/src/internal/failure.js"
import { closeObjects, isStrictCompatible, rootObject, safeName } from "../../packages/providers/src/internal/jsonSchema.js"

const context = { provider: "openai", secrets: ["s3cret-key"], timeoutMs: 1000, now: 1_000_000 }

const status = (
  code: number,
  fields: { message?: string; code?: string; type?: string; headers?: Record<string, string> } = {}
): Failure => ({
  _tag: "Status",
  status: code,
  headers: new Headers(fields.headers ?? {}),
  message: fields.message ?? "boom",
  code: fields.code,
  type: fields.type
})

describe("SDK failure mapping", () => {
  it("429 is RateLimited with the header wait and snapshot, else the wait the message names", () => {
    const headed = toGenerationError(
      status(429, { headers: { "retry-after-ms": "250", "x-ratelimit-remaining-requests": "0" }, code: "rate_limit_exceeded" }),
      context
    )
    assert.strictEqual(headed._tag, "RateLimited")
    if (headed._tag !== "RateLimited") return
    assert.strictEqual(headed.retryAfterMs, 250)
    assert.strictEqual(headed.rateLimit?.requestsRemaining, 0)
    assert.strictEqual(headed.rateLimit?.observedAt, 1_000_000)

    const hinted = toGenerationError(status(429, { message: "Rate limit reached ... Please try again in 1.5s. Visit" }), context)
    assert.strictEqual(hinted._tag === "RateLimited" ? hinted.retryAfterMs : -1, 1500)
    const bare = toGenerationError(status(429), context)
    assert.strictEqual(bare._tag === "RateLimited" ? bare.retryAfterMs : -1, undefined)
  })

  it("429s that waiting does not cure are not retryable", () => {
    for (
      const failure of [
        [status(429, { code: "insufficient_quota", type: "insufficient_quota" }), "QuotaExceeded"],
        [status(429, { code: "enforced_spend_limit_reached", type: "rate_limit_error" }), "QuotaExceeded"],
        [status(429, { message: "Request too large for gpt-4o in organization org-x on tokens per min (TPM)" }), "InvalidRequest"],
        [status(429, { headers: { "x-should-retry": "false" } }), "InvalidRequest"]
      ] as const
    ) {
      const error = toGenerationError(failure[0], context)
      assert.strictEqual(error._tag, failure[1])
      assert.isFalse(error.retryable)
    }
  })

  it("maps statuses to their classes", () => {
    const cases: ReadonlyArray<readonly [Failure, string, boolean]> = [
      [status(500), "ServerError", true],
      [status(502), "ServerError", true],
      [status(503, { headers: { "retry-after": "2" } }), "Overloaded", true],
      [status(529), "Overloaded", true],
      [status(500, { type: "overloaded_error" }), "Overloaded", true],
      [status(401), "AuthenticationError", false],
      [status(403), "AuthenticationError", false],
      [status(408), "Timeout", true],
      [status(400, { code: "context_length_exceeded" }), "ContextLengthExceeded", false],
      [status(400, { message: "prompt is too long: 210000 tokens > 200000 maximum" }), "ContextLengthExceeded", false],
      [status(400, { message: "This model's maximum context length is 8192 tokens" }), "ContextLengthExceeded", false],
      [status(400), "InvalidRequest", false],
      [status(404), "InvalidRequest", false],
      [status(422), "InvalidRequest", false],
      [{ _tag: "Timeout" }, "Timeout", true],
      [{ _tag: "Connection", message: "ECONNRESET" }, "ConnectionError", true],
      [{ _tag: "Malformed", message: "Unexpected token <" }, "MalformedResponse", true],
      [{ _tag: "Rejected", message: "Streaming is required" }, "InvalidRequest", false]
    ]
    for (const [failure, tag, retryable] of cases) {
      const error = toGenerationError(failure, context)
      assert.strictEqual(error._tag, tag, JSON.stringify(failure))
      assert.strictEqual(error.retryable, retryable, tag)
    }
    const overloaded = toGenerationError(status(503, { headers: { "retry-after": "2" } }), context)
    assert.strictEqual(overloaded._tag === "Overloaded" ? overloaded.retryAfterMs : -1, 2000)
  })

  it("never lets a secret into the detail", () => {
    const error = toGenerationError(status(401, { message: "Incorrect API key provided: s3cret-key" }), context)
    assert.strictEqual(error.message, "Authentication failed (HTTP 401); check the API key (openai): Incorrect API key provided: ***")
    assert.strictEqual(Secrets.scrub("key sk-ant-api03-abcdefgh and sk-proj-****wxyz", []), "key sk-ant-*** and sk-proj-***")
    assert.strictEqual(Secrets.scrub("nothing here: sk-1", []), "nothing here: sk-1")
  })
})

describe("structured-output schemas", () => {
  const closed = {
    type: "object",
    properties: { a: { type: "string" }, b: { anyOf: [{ type: "integer" }, { type: "null" }] } },
    required: ["a", "b"],
    additionalProperties: false
  }

  it("inlines a root $ref and keeps the definitions", () => {
    const schema = rootObject({ $ref: "#/$defs/Thing", $defs: { Thing: closed } })
    assert.strictEqual(schema["type"], "object")
    assert.isUndefined(schema["$ref"])
    assert.deepStrictEqual(schema["$defs"], { Thing: closed })
    assert.deepStrictEqual(rootObject(closed), closed)
  })

  it("accepts only schemas OpenAI's strict mode accepts", () => {
    assert.isTrue(isStrictCompatible(closed))
    assert.isTrue(isStrictCompatible({ ...closed, properties: { a: { type: "array", items: closed } }, required: ["a"] }))
    assert.isFalse(isStrictCompatible({ ...closed, required: ["a"] }))
    assert.isFalse(isStrictCompatible({ ...closed, additionalProperties: true }))
    assert.isFalse(isStrictCompatible({ ...closed, properties: { a: { type: "string", minLength: 1 } }, required: ["a"] }))
    assert.isFalse(isStrictCompatible({ type: "array", items: { type: "string" } }))
    assert.isFalse(isStrictCompatible({ ...closed, $defs: { Open: { type: "object", properties: {} } } }))
  })

  it("closes structs that allow extra keys, and leaves records alone", () => {
    const record = { type: "object", additionalProperties: { type: "number" } }
    const open = {
      type: "object",
      properties: {
        inner: { type: "object", properties: { b: { type: "string" } }, required: ["b"], additionalProperties: true },
        list: { type: "array", items: { type: "object", properties: { c: { type: "integer" } }, required: ["c"] } },
        scores: record
      },
      required: ["inner", "list", "scores"],
      $defs: { D: { type: "object", properties: {}, required: [] } }
    }
    const closed = closeObjects(open) as any
    assert.strictEqual(closed.additionalProperties, false)
    assert.strictEqual(closed.properties.inner.additionalProperties, false)
    assert.strictEqual(closed.properties.list.items.additionalProperties, false)
    assert.deepStrictEqual(closed.properties.scores, record)
    assert.strictEqual(closed.$defs.D.additionalProperties, false)
    assert.isFalse(isStrictCompatible(closed)) // the record cannot be strict
    assert.isTrue(isStrictCompatible(closeObjects({ ...open, properties: { inner: open.properties.inner }, required: ["inner"] })))
  })

  it("makes names the APIs accept", () => {
    assert.strictEqual(safeName("My model!"), "My_model_")
    assert.strictEqual(safeName(""), "output")
    assert.strictEqual(safeName("x".repeat(100)).length, 64)
  })
})
