import { GenerateParams, Message } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest, describeFaults, eventually, generatorFor } from "./harness.js"

const KEY = "sk-test-openai-0123456789"

/** An `openai` generator pointed at the fake server through OPENAI_BASE_URL. */
const openai = (baseUrl: string, identifier = "openai!gpt-4o-mini") =>
  generatorFor(identifier, { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: baseUrl })

const tokens = (text: string) => Math.ceil(text.length / 4)

const Person = Schema.Struct({
  name: Schema.String,
  age: Schema.Int,
  tags: Schema.Array(Schema.String)
}).annotate({ identifier: "Person" })

const jsonSchemaOf = (schema: Schema.Top) => {
  const doc = Schema.toJsonSchemaDocument(schema)
  return { ...doc.schema, $defs: doc.definitions } as Record<string, unknown>
}

describe("openai provider", () => {
  it.live("sends every param as the API names it, and returns n choices with usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const generation = yield* generator.generate({
        messages: [Message.system("Be terse."), Message.user("hello there")],
        params: GenerateParams.make({
          temperature: 0.3,
          maxTokens: 50,
          topP: 0.9,
          stop: ["\n\n", "END"],
          seed: 7,
          presencePenalty: 0.5,
          frequencyPenalty: -0.25,
          n: 3,
          // only the openai entry is sent
          providerOptions: { openai: { user: "u-1" }, anthropic: { top_k: 5 } }
        })
      })
      assert.strictEqual(server.requests.length, 1)
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/chat/completions")
      assert.deepStrictEqual(request.body, {
        user: "u-1",
        model: "gpt-4o-mini",
        messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "hello there" }],
        temperature: 0.3,
        top_p: 0.9,
        max_completion_tokens: 50,
        stop: ["\n\n", "END"],
        seed: 7,
        presence_penalty: 0.5,
        frequency_penalty: -0.25,
        n: 3
      })
      assert.strictEqual(request.headers["authorization"], `Bearer ${KEY}`)
      assert.strictEqual(request.headers["x-stainless-retry-count"], "0")

      assert.deepStrictEqual(generation.choices.map((c) => [c.text, c.stopReason]), [
        ["echo: hello there", "stop"],
        ["echo: hello there", "stop"],
        ["echo: hello there", "stop"]
      ])
      assert.strictEqual(generation.usage.inputTokens, tokens("Be terse.hello there"))
      assert.strictEqual(generation.usage.outputTokens, 3 * tokens("echo: hello there"))
      assert.strictEqual(generation.rateLimit, undefined) // the server sends no limit headers without limits
      assert.strictEqual(generation.warnings, undefined) // everything asked was sent
    }))

  it.live("uses the identifier's params as the base, and reports a cut answer as length", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl, "gpt-4o-mini,max_tokens=2,temperature=0.5")
      assert.strictEqual(generator.identifier.provider, "openai")
      const generation = yield* generator.generate(chatRequest("hello there", { temperature: 0 }))
      const body = server.requests[0]!.body as Record<string, unknown>
      assert.strictEqual(body["max_completion_tokens"], 2)
      assert.strictEqual(body["temperature"], 0)
      assert.strictEqual(generation.choices[0]!.text, "echo: he")
      assert.strictEqual(generation.choices[0]!.stopReason, "length")
    }))

  it.live("exposes the rate-limit headers of a successful response", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ rpm: 600, tpm: 100_000 })
      const generator = yield* openai(server.openaiBaseUrl)
      const generation = yield* generator.generate(chatRequest("hi", { maxTokens: 10 }))
      const limit = generation.rateLimit
      assert.isDefined(limit)
      assert.strictEqual(limit.requestsLimit, 600)
      assert.strictEqual(limit.tokensLimit, 100_000)
      assert.isBelow(limit.requestsRemaining!, 600)
      assert.isBelow(limit.tokensRemaining!, 100_000)
      assert.isDefined(limit.requestsResetMs)
    }))

  it.live("a 429 from the limiter is RateLimited with the server's wait and a header snapshot", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ rpm: 1 })
      const generator = yield* openai(server.openaiBaseUrl)
      yield* generator.generate(chatRequest("first"))
      const error = yield* Effect.flip(generator.generate(chatRequest("second")))
      assert.strictEqual(server.requests.length, 2)
      assert.strictEqual(error._tag, "RateLimited")
      if (error._tag !== "RateLimited") return
      assert.isTrue(error.retryable)
      assert.isAbove(error.retryAfterMs ?? 0, 50_000) // one request per minute: about a minute to wait
      assert.strictEqual(error.rateLimit?.requestsLimit, 1)
      assert.strictEqual(error.rateLimit?.requestsRemaining, 0)
      assert.strictEqual(error.rateLimit?.retryAfterMs, error.retryAfterMs)
    }))

  describeFaults("openai", (server) => openai(server.openaiBaseUrl))

  it.live("an interrupted generation aborts its HTTP request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      server.failNext("hang")
      const generator = yield* openai(server.openaiBaseUrl)
      const fiber = yield* Effect.forkChild(generator.generate(chatRequest("hi")))
      yield* eventually(() => server.stats.inFlight === 1)
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => server.stats.inFlight === 0)
      assert.strictEqual(server.stats.requests, 1)
    }))

  it.live("structured output is sent as a strict json_schema and decodes with the Schema", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const schema = jsonSchemaOf(Person)
      const generation = yield* generator.generate({
        ...chatRequest("Describe a person"),
        structured: { name: "Person", description: "a person", schema, codec: Person }
      })
      const body = server.requests[0]!.body as { response_format: any }
      assert.strictEqual(body.response_format.type, "json_schema")
      assert.strictEqual(body.response_format.json_schema.name, "Person")
      assert.strictEqual(body.response_format.json_schema.description, "a person")
      assert.strictEqual(body.response_format.json_schema.strict, true)
      assert.strictEqual(body.response_format.json_schema.schema.type, "object") // the root $ref is inlined
      assert.deepStrictEqual(body.response_format.json_schema.schema.required, ["name", "age", "tags"])
      const person = Schema.decodeUnknownSync(Schema.fromJsonString(Person))(generation.choices[0]!.text)
      assert.strictEqual(typeof person.name, "string")
      assert.isTrue(Number.isInteger(person.age))
    }))

  it.live("optional fields are sent strict as required nullable ones, and a null comes back as an absent field", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({
        respond: () => JSON.stringify({ name: "Ada", nick: null, born: "1815-12-10T00:00:00.000Z" })
      })
      const generator = yield* openai(server.openaiBaseUrl)
      const Optional = Schema.Struct({
        name: Schema.String,
        nick: Schema.optionalKey(Schema.String),
        born: Schema.Date
      })
      const generation = yield* generator.generate({
        ...chatRequest("Describe"),
        structured: { name: "Optional model!", schema: jsonSchemaOf(Optional), codec: Optional }
      })
      const format = (server.requests[0]!.body as { response_format: any }).response_format.json_schema
      assert.strictEqual(format.strict, true)
      assert.strictEqual(format.name, "Optional_model_")
      assert.deepStrictEqual(format.schema.required, ["name", "nick", "born"])
      assert.deepStrictEqual(format.schema.properties.nick, { anyOf: [{ type: "string" }, { type: "null" }] })
      assert.strictEqual(format.schema.additionalProperties, false)
      // The canonical JSON of the schema: the null is gone, the date is the schema's own encoding.
      assert.deepStrictEqual(JSON.parse(generation.choices[0]!.text), { name: "Ada", born: "1815-12-10T00:00:00.000Z" })
      const value = Schema.decodeUnknownSync(Schema.toCodecJson(Optional))(JSON.parse(generation.choices[0]!.text))
      assert.isFalse("nick" in value)
      assert.strictEqual(value.born.getUTCFullYear(), 1815)
    }))

  it.live("a list is asked for strictly as { value } and answered as the list", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => JSON.stringify({ value: ["a", "b"] }) })
      const generator = yield* openai(server.openaiBaseUrl)
      const Tags = Schema.Array(Schema.String)
      const generation = yield* generator.generate({
        ...chatRequest("Tags?"),
        structured: { name: "tags", schema: jsonSchemaOf(Tags), codec: Tags }
      })
      const format = (server.requests[0]!.body as { response_format: any }).response_format.json_schema
      assert.strictEqual(format.strict, true)
      assert.deepStrictEqual(format.schema, {
        type: "object",
        properties: { value: { type: "array", items: { type: "string" } } },
        required: ["value"],
        additionalProperties: false
      })
      assert.strictEqual(generation.choices[0]!.text, "[\"a\",\"b\"]")
    }))

  it.live("a schema strict mode cannot take is sent with strict: false and its plain JSON Schema, answered as it came", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => "{\"a\": 1, \"b\": null}" })
      const generator = yield* openai(server.openaiBaseUrl)
      const Scores = Schema.Record(Schema.String, Schema.NullOr(Schema.Finite))
      const schema = jsonSchemaOf(Scores)
      const generation = yield* generator.generate({
        ...chatRequest("Scores?"),
        structured: { name: "scores", schema, codec: Scores }
      })
      const format = (server.requests[0]!.body as { response_format: any }).response_format.json_schema
      assert.strictEqual(format.strict, false)
      assert.deepStrictEqual(format.schema, schema)
      assert.strictEqual(generation.choices[0]!.text, "{\"a\": 1, \"b\": null}")
    }))

  it.live("legacy completions send the prompt and params to /v1/completions", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl, "openai!gpt-3.5-turbo-instruct")
      const generation = yield* generator.complete!({
        prompt: "Once upon a time",
        params: GenerateParams.make({ maxTokens: 3, n: 2, stop: ["END"], seed: 1, temperature: 1 })
      })
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/completions")
      assert.deepStrictEqual(request.body, {
        model: "gpt-3.5-turbo-instruct",
        prompt: "Once upon a time",
        temperature: 1,
        max_tokens: 3,
        stop: ["END"],
        seed: 1,
        n: 2
      })
      assert.deepStrictEqual(generation.choices.map((c) => [c.text, c.stopReason]), [
        ["echo: Once u", "length"],
        ["echo: Once u", "length"]
      ])
      assert.strictEqual(generation.usage.inputTokens, tokens("Once upon a time"))
      assert.strictEqual(generation.usage.outputTokens, 6)
    }))
})
