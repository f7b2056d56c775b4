/**
 * The real OpenAI provider (its SDK against the loopback fake server) as effect/ai's `LanguageModel`, through
 * `AiLanguageModel.fromIdentifier`: effect/ai's calls become OpenAI chat requests, run through the engine.
 */
import { AiLanguageModel } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { LanguageModel, Tool, Toolkit } from "effect/ai"
import { FakeProvider } from "../support/FakeProvider.js"

const KEY = "sk-test-openai-0123456789"

const Person = Schema.Struct({ name: Schema.String, age: Schema.Int }).annotate({ identifier: "Person" })

/** effect/ai's LanguageModel over `openai!gpt-4o-mini`, the environment only the fake server's URL and a key. */
const openaiModel = (baseUrl: string, identifier = "openai!gpt-4o-mini") =>
  AiLanguageModel.fromIdentifier(identifier).pipe(
    Layer.provide(Layer.mergeAll(
      Providers.layer,
      ConfigProvider.layer(ConfigProvider.fromUnknown({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: baseUrl }))
    ))
  )

describe("an OpenAI generator as an effect/ai LanguageModel", () => {
  it.live("generateText sends one chat request and answers with its text, finish reason and usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const response = yield* LanguageModel.generateText({
        prompt: [{ role: "system", content: "Be terse." }, { role: "user", content: "hello there" }]
      }).pipe(Effect.provide(openaiModel(server.openaiBaseUrl, "openai!gpt-4o-mini,temperature=0.2")))
      assert.strictEqual(response.text, "echo: hello there")
      assert.strictEqual(response.finishReason, "stop")
      assert.isAbove(response.usage.inputTokens.total ?? 0, 0)
      assert.isAbove(response.usage.outputTokens.total ?? 0, 0)
      assert.strictEqual(server.requests.length, 1)
      const body = server.requests[0]!.body as Record<string, unknown>
      assert.deepStrictEqual(body.messages, [
        { role: "system", content: "Be terse." },
        { role: "user", content: "hello there" }
      ])
      assert.strictEqual(body.temperature, 0.2)
    }))

  it.live("generateObject uses OpenAI's native structured output and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const response = yield* LanguageModel.generateObject({ prompt: "Invent a person", schema: Person }).pipe(
        Effect.provide(openaiModel(server.openaiBaseUrl))
      )
      assert.isTrue(Schema.is(Person)(response.value))
      const format = (server.requests[0]!.body as { response_format?: { type: string; json_schema: { name: string } } })
        .response_format
      assert.strictEqual(format?.type, "json_schema")
      assert.strictEqual(format?.json_schema.name, "Person")
    }))

  it.live("a rate limit is retried by the engine after the server's retry-after; effect/ai sees the answer", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      server.failNext("rate-limit")
      const started = Date.now()
      const response = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(openaiModel(server.openaiBaseUrl, "openai!gpt-4o-mini,max_retries=2"))
      )
      assert.strictEqual(response.text, "echo: hi")
      assert.strictEqual(server.requests.length, 2)
      assert.isAtLeast(Date.now() - started, 900)
    }))

  it.live("a refused key reaches effect/ai as an AiError AuthenticationError, after one request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      server.failNext("unauthorized")
      const error = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(openaiModel(server.openaiBaseUrl)))
      )
      if (error._tag !== "AiError") return assert.fail(`expected an AiError, got ${error._tag}`)
      assert.strictEqual(error.reason._tag, "AuthenticationError")
      assert.isFalse(error.isRetryable)
      assert.strictEqual(server.requests.length, 1)
    }))

  it.live("an effect/ai toolkit goes out as OpenAI tools; the model's calls come back, run by effect/ai's handlers", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const Weather = Tool.make("weather", {
        description: "Today's weather in a city",
        parameters: Schema.Struct({ city: Schema.String }),
        success: Schema.Struct({ celsius: Schema.Number })
      })
      const tools = Toolkit.make(Weather)
      const response = yield* LanguageModel.generateText({ prompt: "Use weather for Lyon", toolkit: tools }).pipe(
        Effect.provide([
          tools.toLayer({ weather: () => Effect.succeed({ celsius: 21 }) }),
          openaiModel(server.openaiBaseUrl)
        ])
      )
      const body = server.requests[0]!.body as { tools?: ReadonlyArray<{ type: string; function: { name: string } }> }
      assert.deepStrictEqual(body.tools?.map((t) => [t.type, t.function.name]), [["function", "weather"]])
      assert.strictEqual(response.toolCalls.length, 1)
      assert.strictEqual(response.toolCalls[0]?.name, "weather")
      assert.deepStrictEqual(response.toolResults.map((r) => r.result), [{ celsius: 21 }])
      assert.strictEqual(response.finishReason, "tool-calls")
    }))
})
