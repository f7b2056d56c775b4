import { Model, Secrets } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { toCodecOpenAI } from "effect/ai/OpenAiStructuredOutput"
import { type Failure, toGenerationError } from "../../packages/providers/src/internal/failure.js"
import * as Structured from "../../packages/providers/src/internal/structured.js"

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
      status(429, {
        headers: { "retry-after-ms": "250", "x-ratelimit-remaining-requests": "0" },
        code: "rate_limit_exceeded"
      }),
      context
    )
    assert.strictEqual(headed._tag, "RateLimited")
    if (headed._tag !== "RateLimited") return
    assert.strictEqual(headed.retryAfterMs, 250)
    assert.strictEqual(headed.rateLimit?.requestsRemaining, 0)
    assert.strictEqual(headed.rateLimit?.observedAt, 1_000_000)

    const hinted = toGenerationError(
      status(429, { message: "Rate limit reached ... Please try again in 1.5s. Visit" }),
      context
    )
    assert.strictEqual(hinted._tag === "RateLimited" ? hinted.retryAfterMs : -1, 1500)
    const bare = toGenerationError(status(429), context)
    assert.strictEqual(bare._tag === "RateLimited" ? bare.retryAfterMs : -1, undefined)
  })

  it("429s that waiting does not cure are not retryable", () => {
    for (
      const failure of [
        [status(429, { code: "insufficient_quota", type: "insufficient_quota" }), "QuotaExceeded"],
        [status(429, { code: "enforced_spend_limit_reached", type: "rate_limit_error" }), "QuotaExceeded"],
        [
          status(429, { message: "Request too large for gpt-4o in organization org-x on tokens per min (TPM)" }),
          "InvalidRequest"
        ],
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
    assert.strictEqual(
      error.message,
      "Authentication failed (HTTP 401); check the API key (openai): Incorrect API key provided: ***"
    )
    assert.strictEqual(
      Secrets.scrub("key sk-ant-api03-abcdefgh and sk-proj-****wxyz", []),
      "key sk-ant-*** and sk-proj-***"
    )
    assert.strictEqual(Secrets.scrub("nothing here: sk-1", []), "nothing here: sk-1")
  })
})

describe("structured-output wire forms", () => {
  const Person = Schema.Struct({
    name: Schema.String.check(Schema.isMinLength(2)),
    nick: Schema.optionalKey(Schema.String)
  })
  const structured = (codec: Schema.Decoder<unknown>, name = "person") => Model.json(codec, { name }).structured

  it("rewrites a schema once per schema, whatever the request", () => {
    let calls = 0
    const wireOf = Structured.make((schema) => {
      calls++
      return toCodecOpenAI(schema)
    })
    const first = wireOf(structured(Person))
    const second = wireOf({ ...structured(Person), name: "other" })
    assert.strictEqual(calls, 1)
    assert.strictEqual(first.jsonSchema, second.jsonSchema)
    assert.strictEqual(second.name, "other")
    wireOf(structured(Schema.Struct({ a: Schema.String })))
    assert.strictEqual(calls, 2)
  })

  it("reads answers back as the schema's canonical JSON, leaving checks and wrong shapes to core's parse", () => {
    const wire = Structured.make(toCodecOpenAI)(structured(Person))
    assert.isTrue(wire.adapted)
    assert.strictEqual(wire.answer({ name: "Ada", nick: null }), "{\"name\":\"Ada\"}")
    // Too short for the schema, but read: core's parse names the field of the schema the model was asked for.
    assert.strictEqual(wire.answer({ name: "A", nick: "a" }), "{\"name\":\"A\",\"nick\":\"a\"}")
    assert.strictEqual(wire.answer({ name: 1 }), "{\"name\":1}")
    const list = Structured.make(toCodecOpenAI)(structured(Schema.Array(Schema.Finite)))
    assert.strictEqual(list.answer({ value: [1, 2] }), "[1,2]")
    assert.strictEqual(list.answer({ value: ["x"] }), "[\"x\"]") // unwrapped as it came
    assert.strictEqual(Structured.answerText(list, "{\"value\": [1"), "{\"value\": [1") // cut short: not JSON
  })

  it("falls back to the request's own JSON Schema when the adapter cannot rewrite the schema", () => {
    const record = structured(Schema.Record(Schema.String, Schema.Finite))
    const wire = Structured.make(toCodecOpenAI)(record)
    assert.isFalse(wire.adapted)
    assert.strictEqual(wire.jsonSchema, record.schema)
    assert.strictEqual(Structured.answerText(wire, "{\"a\": null}"), "{\"a\": null}")
  })

  it("makes names the APIs accept", () => {
    const wireOf = Structured.make(toCodecOpenAI)
    assert.strictEqual(wireOf({ ...structured(Person), name: "My model!" }).name, "My_model_")
    assert.strictEqual(wireOf({ ...structured(Person), name: "" }).name, "output")
    assert.strictEqual(wireOf({ ...structured(Person), name: "x".repeat(100) }).name.length, 64)
  })
})
