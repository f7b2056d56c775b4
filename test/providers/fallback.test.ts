import { Batch, Dataset, Generator, Template } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"

describe("Generator.fallback over real providers", () => {
  it.live("an OpenAI model that stays rate limited falls back to Anthropic; rows record who answered", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({
        // the OpenAI model is always refused; Anthropic answers as usual
        respond: (request) =>
          request.api === "openai-chat"
            ? {
              error: { status: 429, type: "rate_limit_exceeded", message: "slow down" },
              headers: { "retry-after-ms": "1" }
            }
            : undefined
      })
      const env = ConfigProvider.layer(ConfigProvider.fromUnknown({
        OPENAI_API_KEY: "sk-test-000000",
        OPENAI_BASE_URL: server.openaiBaseUrl,
        ANTHROPIC_API_KEY: "ak-test-000000",
        ANTHROPIC_BASE_URL: server.anthropicBaseUrl
      }))
      const generator = Generator.fallback(
        ["openai!gpt-4o-mini,max_retries=1", "anthropic!claude-3-5-haiku-latest,max_tokens=64"],
        { when: ["RateLimited"] }
      ).pipe(Layer.provide(Layer.mergeAll(Providers.layer, env)))
      const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "one" }, { word: "two" }])
      const { rows, summary } = yield* Batch.run(items, { concurrency: 1 }).pipe(Effect.provide(generator))
      assert.strictEqual(summary.ok, 2)
      for (const row of rows) assert.match(row.generator, /^anthropic!claude-3-5-haiku-latest/)
      const paths = server.requests.map((r) => r.path)
      // each item: the OpenAI request and its one retry, then Anthropic
      assert.strictEqual(paths.filter((p) => p === "/v1/chat/completions").length, 4)
      assert.strictEqual(paths.filter((p) => p === "/v1/messages").length, 2)
    }))
})
