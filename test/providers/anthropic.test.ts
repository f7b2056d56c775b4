import { GenerateParams, Generator, Message, Model } from "@capstan/core"
import { Anthropic } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest, describeFaults, generatorFor } from "./harness.js"

const KEY = "sk-ant-test-0123456789"

/** An `anthropic` generator pointed at the fake server through ANTHROPIC_BASE_URL. */
const anthropic = (baseUrl: string, identifier = "anthropic!claude-3-5-haiku-latest") =>
  generatorFor(identifier, { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: baseUrl })

const tokens = (text: string) => Math.ceil(text.length / 4)

describe("anthropic provider", () => {
  it.live("lifts system messages, maps the params it has and sends the default max_tokens", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate({
        messages: [
          Message.system("Be terse."),
          Message.user("hello there"),
          Message.assistant("Hi."),
          Message.system("Answer in English."),
          Message.user("again")
        ],
        params: GenerateParams.make({
          temperature: 0.3,
          topP: 0.9,
          stop: ["END"],
          seed: 7,
          presencePenalty: 0.5,
          frequencyPenalty: 0.5,
          // only the anthropic entry is sent
          providerOptions: { anthropic: { top_k: 5 }, openai: { user: "u-1" } }
        })
      })
      assert.strictEqual(server.requests.length, 1)
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/messages")
      assert.deepStrictEqual(request.body, {
        max_tokens: Anthropic.defaultMaxTokens,
        top_k: 5,
        model: "claude-3-5-haiku-latest",
        messages: [
          { role: "user", content: "hello there" },
          { role: "assistant", content: "Hi." },
          { role: "user", content: "again" }
        ],
        system: "Be terse.\n\nAnswer in English.",
        temperature: 0.3,
        top_p: 0.9,
        stop_sequences: ["END"]
      })
      assert.strictEqual(request.headers["authorization"], `Bearer ${KEY}`) // SDK 1.x sends the API key as a bearer token
      assert.strictEqual(request.headers["x-stainless-retry-count"], "0")
      assert.strictEqual(generation.choices.length, 1)
      assert.strictEqual(generation.choices[0]!.text, "echo: again")
      assert.strictEqual(generation.choices[0]!.stopReason, "stop")
      assert.strictEqual(generation.usage.inputTokens, tokens("Be terse.\n\nAnswer in English.hello thereHi.again"))
      assert.strictEqual(generation.usage.outputTokens, tokens("echo: again"))
      // the params Anthropic has no field for were not sent, and the generation says which
      assert.deepStrictEqual(generation.warnings, [
        "seed=7 was not sent: the Anthropic Messages API has no seed",
        "presence_penalty=0.5 was not sent: the Anthropic Messages API has no presence_penalty",
        "frequency_penalty=0.5 was not sent: the Anthropic Messages API has no frequency_penalty"
      ])
    }))

  it.live("sends max_tokens when set and reports a cut answer as length", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl, "claude-3-5-haiku-latest,max_tokens=2")
      assert.strictEqual(generator.identifier.provider, "anthropic")
      const generation = yield* generator.generate(chatRequest("hello there"))
      assert.strictEqual((server.requests[0]!.body as { max_tokens: number }).max_tokens, 2)
      assert.deepStrictEqual([generation.choices[0]!.text, generation.choices[0]!.stopReason], ["echo: he", "length"])
    }))

  it.live("exposes the anthropic-ratelimit headers of a successful response", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ rpm: 50, tpm: 40_000 })
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate(chatRequest("hi", { maxTokens: 10 }))
      assert.strictEqual(generation.rateLimit?.requestsLimit, 50)
      assert.strictEqual(generation.rateLimit?.tokensLimit, 40_000)
      assert.isBelow(generation.rateLimit?.requestsRemaining ?? 50, 50)
      assert.isAtLeast(generation.rateLimit?.requestsResetMs ?? -1, 0)
    }))

  it.effect("declares one choice per request and no plain completions; asked anyway, Unsupported without a request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      assert.strictEqual(generator.capabilities?.maxChoices, 1)
      assert.isUndefined(generator.complete)
      const many = yield* Effect.flip(generator.generate(chatRequest("hi", { n: 2 })))
      assert.strictEqual(many._tag, "Unsupported")
      assert.isFalse(many.retryable)
      const completion = yield* Effect.flip(
        Generator.complete({ prompt: "Once", params: GenerateParams.empty }).pipe(
          Effect.provideService(Generator.Generator, generator)
        )
      )
      assert.strictEqual(completion._tag, "Unsupported")
      assert.strictEqual(server.stats.requests, 0)
    }))

  describeFaults("anthropic", (server) => anthropic(server.anthropicBaseUrl))

  it.live("structured output is a forced tool call whose input decodes with the Schema", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const Verdict = Schema.Struct({ label: Schema.Literals(["positive", "negative"]), score: Schema.Finite })
        .annotate({ identifier: "Verdict" })
      const doc = Schema.toJsonSchemaDocument(Verdict)
      const generation = yield* generator.generate({
        ...chatRequest("Classify: great product"),
        structured: {
          name: "verdict",
          description: "the verdict",
          schema: { ...doc.schema, $defs: doc.definitions },
          codec: Verdict
        }
      })
      const body = server.requests[0]!.body as { tools: Array<any>; tool_choice: unknown }
      assert.deepStrictEqual(body.tool_choice, { type: "tool", name: "verdict" })
      assert.strictEqual(body.tools.length, 1)
      assert.strictEqual(body.tools[0].name, "verdict")
      assert.strictEqual(body.tools[0].description, "the verdict")
      assert.strictEqual(body.tools[0].input_schema.type, "object")
      assert.deepStrictEqual(body.tools[0].input_schema.required, ["label", "score"])
      assert.strictEqual(generation.choices[0]!.stopReason, "stop")
      const verdict = Schema.decodeUnknownSync(Schema.fromJsonString(Verdict))(generation.choices[0]!.text)
      assert.strictEqual(verdict.label, "positive")
    }))

  it.live("a tool input for a schema Anthropic's subset cannot take comes back verbatim as JSON text", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => ({ toolInput: { label: "negative", score: 0.25 } }) })
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate({
        ...chatRequest("Classify: awful"),
        structured: {
          name: "verdict",
          schema: { type: "object", properties: {} },
          codec: Schema.Record(Schema.String, Schema.Json)
        }
      })
      const body = server.requests[0]!.body as { tools: Array<any> }
      assert.deepStrictEqual(body.tools[0].input_schema, { type: "object", properties: {} })
      assert.deepStrictEqual(JSON.parse(generation.choices[0]!.text), { label: "negative", score: 0.25 })
    }))

  it.live("optional fields are required nullable in the tool's input schema, and a null comes back as an absent field", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => ({ toolInput: { label: "negative", note: null } }) })
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const Verdict = Schema.Struct({
        label: Schema.Literals(["positive", "negative"]),
        note: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1)))
      }).annotate({ identifier: "Verdict" })
      const structured = Model.json(Verdict).structured
      const generation = yield* generator.generate({ ...chatRequest("Classify: awful"), structured })
      const schema = (server.requests[0]!.body as { tools: Array<any> }).tools[0].input_schema
      assert.strictEqual(schema.type, "object")
      assert.deepStrictEqual(schema.required, ["label", "note"])
      assert.strictEqual(schema.additionalProperties, false)
      // Only keywords in Anthropic's subset: the length check stays with the codec, said in the description.
      assert.deepStrictEqual(schema.properties.note.anyOf, [
        { type: "string", description: "a value with a length of at least 1" },
        { type: "null" }
      ])
      assert.strictEqual(generation.choices[0]!.text, "{\"label\":\"negative\"}")
    }))

  it.live("a list is the tool's input as { value } and answered as the list", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* generator.generate({
        ...chatRequest("Tags?"),
        structured: Model.json(Schema.Array(Schema.Literal("tag")), { name: "tags" }).structured
      })
      const schema = (server.requests[0]!.body as { tools: Array<any> }).tools[0].input_schema
      assert.strictEqual(schema.type, "object")
      assert.deepStrictEqual(schema.required, ["value"])
      assert.deepStrictEqual(JSON.parse(generation.choices[0]!.text), ["tag"])
    }))
})
