import { Generator, GeneratorRegistry } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest, generatorFor } from "./harness.js"

describe("OpenAI-compatible servers", () => {
  it.live("ollama reads its address from OLLAMA_API_BASE, sends max_tokens and a placeholder key", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      // A bare host, as Ollama users write it: /v1 is appended.
      const generator = yield* generatorFor("ollama!llama3.1", { OLLAMA_API_BASE: server.url })
      const generation = yield* generator.generate(chatRequest("hi", { maxTokens: 20 }))
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/chat/completions")
      assert.deepStrictEqual(request.body, {
        model: "llama3.1",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 20
      })
      assert.strictEqual(request.headers["authorization"], "Bearer ollama")
      assert.strictEqual(generation.choices[0]!.text, "echo: hi")
    }))

  it.live("ollama's base_url setting wins over OLLAMA_API_BASE", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor(`ollama!llama3.1,base_url=${server.openaiBaseUrl}`, {
        OLLAMA_API_BASE: "http://127.0.0.1:9"
      })
      yield* generator.generate(chatRequest("hi"))
      assert.strictEqual(server.stats.requests, 1)
    }))

  it.effect("a server that is not listening is a retryable ConnectionError", () =>
    Effect.gen(function*() {
      const generator = yield* generatorFor("ollama!llama3.1,base_url=http://127.0.0.1:9")
      const error = yield* Effect.flip(generator.generate(chatRequest("hi", { timeout: 2 })))
      assert.strictEqual(error._tag, "ConnectionError")
      assert.isTrue(error.retryable)
    }))

  it.live("vllm takes base_url (and an optional key) from the identifier", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor(
        `vllm!meta-llama/Llama-3.1-8B,base_url=${server.openaiBaseUrl},api_key=tok-1234`
      )
      const generation = yield* generator.complete!({ prompt: "Say", params: chatRequest("", { maxTokens: 5 }).params })
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/completions")
      assert.strictEqual((request.body as { model: string }).model, "meta-llama/Llama-3.1-8B")
      assert.strictEqual(request.headers["authorization"], "Bearer tok-1234")
      assert.strictEqual(generation.choices[0]!.text, "echo: Say")
    }))

  it.effect("vllm without an address fails with InvalidIdentifier naming base_url", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(generatorFor("vllm!my-model"))
      assert.strictEqual(error._tag, "InvalidIdentifier")
      if (error._tag !== "InvalidIdentifier") return
      assert.strictEqual(error.key, "base_url")
      assert.include(error.message, "VLLM_API_BASE")
    }))

  it.effect("a base_url that is not an http URL is an InvalidIdentifier", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(generatorFor("vllm!m,base_url=localhost:8000"))
      assert.strictEqual(error._tag, "InvalidIdentifier")
    }))

  it.live("openai!<model>,base_url=... reaches any compatible server", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor(`openai!mixtral-8x7b,base_url=${server.openaiBaseUrl},api_key=tg-999999`)
      const generation = yield* generator.generate(chatRequest("hi"))
      assert.strictEqual(server.requests[0]!.headers["authorization"], "Bearer tg-999999")
      assert.strictEqual(generation.choices[0]!.text, "echo: hi")
    }))
})

describe("Providers.layer", () => {
  it.effect("registers every provider with its environment variables", () =>
    Effect.gen(function*() {
      const providers = yield* GeneratorRegistry.providers
      const names = providers.map((p) => p.name)
      for (const name of ["openai", "anthropic", "ollama", "vllm", "mock"]) assert.include(names, name)
      const env = providers.flatMap((p) => p.env.map((v) => v.name))
      for (const v of ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_BASE"]) assert.include(env, v)
      for (const p of providers) {
        if (p.settings["api_key"] !== undefined) assert.strictEqual(p.settings["api_key"].kind, "secret")
      }
    }).pipe(Effect.provide(Providers.layer)))

  it.live("Generator.layer infers the provider from the model name", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const env = ConfigProvider.layer(ConfigProvider.fromUnknown({
        OPENAI_API_KEY: "sk-infer-000000",
        OPENAI_BASE_URL: server.openaiBaseUrl,
        ANTHROPIC_API_KEY: "sk-ant-infer-000000",
        ANTHROPIC_BASE_URL: server.anthropicBaseUrl
      }))
      const run = (identifier: string) =>
        Generator.chat("hello").pipe(
          Effect.provide(Generator.layer(identifier).pipe(Layer.provide([Providers.layer, env])))
        )
      const fromOpenAI = yield* run("gpt-4o-mini")
      const fromO3 = yield* run("o3-mini")
      const fromClaude = yield* run("claude-3-5-haiku-latest")
      assert.strictEqual(fromOpenAI.generator, "openai!gpt-4o-mini")
      assert.strictEqual(fromO3.generator, "openai!o3-mini")
      assert.strictEqual(fromClaude.generator, "anthropic!claude-3-5-haiku-latest")
      assert.deepStrictEqual(server.requests.map((r) => r.api), ["openai-chat", "openai-chat", "anthropic"])
      assert.strictEqual(fromClaude.last?.text, "echo: hello")
    }))
})
