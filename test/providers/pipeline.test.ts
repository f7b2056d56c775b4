import { ChatPipeline, Generator, Model } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { generatorFor } from "./harness.js"

const Review = Schema.Struct({
  sentiment: Schema.Literals(["positive", "negative"]),
  score: Schema.Finite,
  tags: Schema.Array(Schema.String)
}).annotate({ identifier: "Review", description: "a product review" })

describe("a pipeline parsing with a JSON model uses native structured output", () => {
  it.live("openai: response_format json_schema, strict", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("openai!gpt-4o-mini", {
        OPENAI_API_KEY: "sk-x-000000",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      const chat = yield* ChatPipeline.make("Review: great!").pipe(
        ChatPipeline.untilParsedAs(Model.json(Review)),
        ChatPipeline.run(),
        Effect.provideService(Generator.Generator, generator)
      )
      const format = (server.requests[0]!.body as { response_format: any }).response_format
      assert.strictEqual(format.type, "json_schema")
      assert.strictEqual(format.json_schema.name, "Review")
      assert.strictEqual(format.json_schema.description, "a product review")
      assert.strictEqual(format.json_schema.strict, true)
      assert.strictEqual(format.json_schema.schema.type, "object")
      const review = Schema.decodeUnknownSync(Schema.fromJsonString(Review))(chat.last!.text)
      assert.strictEqual(review.sentiment, "positive")
      assert.strictEqual(server.stats.requests, 1)
    }))

  it.live("openai: a schema with optional fields stays strict, and a null answer parses as an absent field", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({
        respond: () => JSON.stringify({ sentiment: "negative", note: null })
      })
      const generator = yield* generatorFor("openai!gpt-4o-mini", {
        OPENAI_API_KEY: "sk-x-000000",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      const Label = Schema.Struct({
        sentiment: Schema.Literals(["positive", "negative"]),
        note: Schema.optionalKey(Schema.String)
      })
      const chat = yield* ChatPipeline.make("Review: awful").pipe(
        ChatPipeline.untilParsedAs(Model.json(Label, { name: "label" })),
        ChatPipeline.run(),
        Effect.provideService(Generator.Generator, generator)
      )
      const format = (server.requests[0]!.body as { response_format: any }).response_format
      assert.strictEqual(format.json_schema.strict, true)
      assert.deepStrictEqual(format.json_schema.schema.required, ["sentiment", "note"])
      assert.deepStrictEqual(chat.parsed, { sentiment: "negative" })
      assert.strictEqual(server.stats.requests, 1)
    }))

  it.live("anthropic: a forced tool call", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("claude-3-5-haiku-latest", {
        ANTHROPIC_API_KEY: "sk-ant-x-000000",
        ANTHROPIC_BASE_URL: server.anthropicBaseUrl
      })
      const chat = yield* ChatPipeline.make("Review: great!").pipe(
        ChatPipeline.untilParsedAs(Model.json(Review)),
        ChatPipeline.run(),
        Effect.provideService(Generator.Generator, generator)
      )
      const body = server.requests[0]!.body as { tools: Array<any>; tool_choice: unknown }
      assert.deepStrictEqual(body.tool_choice, { type: "tool", name: "Review" })
      assert.strictEqual(body.tools[0].input_schema.type, "object")
      const review = Schema.decodeUnknownSync(Schema.fromJsonString(Review))(chat.last!.text)
      assert.strictEqual(review.sentiment, "positive")
      assert.strictEqual(server.stats.requests, 1)
    }))
})
