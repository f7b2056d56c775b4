/** Prompt-cache reads in usage: OpenAI `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`. */
import { Usage } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest, generatorFor } from "./harness.js"

const prompt = "a prompt of about ten tokens, long enough"
const promptTokens = Math.ceil(prompt.length / 4)

describe("cached input tokens", () => {
  it.live("openai: the cached part of the prompt tokens, which stay the whole prompt", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ cachedPromptTokens: 8 })
      const generator = yield* generatorFor("openai!gpt-4o-mini", {
        OPENAI_API_KEY: "sk-test-0000000",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      const { usage } = yield* generator.generate(chatRequest(prompt))
      assert.deepStrictEqual([usage.inputTokens, usage.cachedInputTokens], [promptTokens, 8])
    }))

  it.live("anthropic: cache reads are input tokens too, and the cached ones", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ cachedPromptTokens: 8 })
      const generator = yield* generatorFor("anthropic!claude-3-5-haiku-latest", {
        ANTHROPIC_API_KEY: "sk-ant-test-0000000",
        ANTHROPIC_BASE_URL: server.anthropicBaseUrl
      })
      const { usage } = yield* generator.generate(chatRequest(prompt, { maxTokens: 64 }))
      assert.deepStrictEqual([usage.inputTokens, usage.cachedInputTokens], [promptTokens, 8])
    }))

  it.live("a request with nothing cached keeps the old usage shape (no cachedInputTokens key)", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("openai!gpt-4o-mini", {
        OPENAI_API_KEY: "sk-test-0000000",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      const { usage } = yield* generator.generate(chatRequest(prompt))
      assert.isFalse("cachedInputTokens" in usage)
      assert.deepStrictEqual(
        Usage.sum([usage, usage]),
        new Usage.Usage({ inputTokens: 2 * promptTokens, outputTokens: 2 * usage.outputTokens })
      )
    }))
})
