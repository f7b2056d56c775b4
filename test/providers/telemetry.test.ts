/**
 * Telemetry against the real SDKs and the fake provider server: the engine's client span carries what the provider
 * answered (response id and model, usage) and the typed error of a failure; the Anthropic SDK's own spans stay off
 * unless `sdk_tracing=true` asks for them.
 */
import { Engine, Telemetry } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import type * as OtelApi from "@opentelemetry/api"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { createRequire } from "node:module"
import { FakeProvider } from "../support/FakeProvider.js"
import * as InMemoryTelemetry from "../support/InMemoryTelemetry.js"
import { chatRequest, generatorFor } from "./harness.js"

const A = Telemetry.Attribute

/**
 * The OpenTelemetry API as the Anthropic SDK sees it: its own copy, whose global tracer provider is the one it
 * traces through (a copy of another minor version keeps its globals apart).
 */
const sdkOtelApi = (): typeof OtelApi => {
  const require = createRequire(import.meta.url)
  return createRequire(require.resolve("@anthropic-ai/sdk"))("@opentelemetry/api")
}

const openai = (baseUrl: string) =>
  generatorFor("openai!gpt-4o-mini", { OPENAI_API_KEY: "sk-test-openai-0123456789", OPENAI_BASE_URL: baseUrl }).pipe(
    Effect.flatMap((raw) => Engine.applyDefault(raw, { maxRetries: 0 }))
  )

const anthropic = (baseUrl: string, identifier = "anthropic!claude-3-5-haiku-latest") =>
  generatorFor(identifier, { ANTHROPIC_API_KEY: "sk-ant-test-0123456789", ANTHROPIC_BASE_URL: baseUrl }).pipe(
    Effect.flatMap((raw) => Engine.applyDefault(raw, { maxRetries: 0 }))
  )

describe("telemetry through the provider SDKs", () => {
  it.live("openai: the span has the response's id and model, its usage and the server", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const generation = yield* generator.generate(chatRequest("hello there", { maxTokens: 20, n: 2 }))
      assert.strictEqual(generation.responseModel, "gpt-4o-mini")
      assert.match(generation.responseId ?? "", /^chatcmpl-/)
      const spans = telemetry.spans("chat ")
      assert.strictEqual(spans.length, 1)
      const span = spans[0]!
      assert.strictEqual(span.name, "chat gpt-4o-mini")
      assert.strictEqual(span.attributes[A.providerName], "openai")
      assert.strictEqual(span.attributes[A.responseId], generation.responseId)
      assert.strictEqual(span.attributes[A.responseModel], "gpt-4o-mini")
      assert.strictEqual(span.attributes[A.requestMaxTokens], 20)
      assert.strictEqual(span.attributes[A.requestChoiceCount], 2)
      assert.deepStrictEqual(span.attributes[A.responseFinishReasons], ["stop", "stop"])
      assert.strictEqual(span.attributes[A.usageInputTokens], generation.usage.inputTokens)
      assert.strictEqual(span.attributes[A.usageOutputTokens], generation.usage.outputTokens)
      assert.strictEqual(span.attributes[A.serverAddress], "127.0.0.1")
      assert.strictEqual(span.attributes[A.serverPort], Number(new URL(server.openaiBaseUrl).port))
    }).pipe(Effect.provide(telemetry.layer))
  })

  it.live("openai: a refused request's span has error.type and no usage", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      server.failNext("bad-request")
      const generator = yield* openai(server.openaiBaseUrl)
      const error = yield* Effect.flip(generator.generate(chatRequest("hello")))
      assert.strictEqual(error._tag, "InvalidRequest")
      const [span] = telemetry.spans("chat ")
      assert.strictEqual(span?.attributes[A.errorType], "InvalidRequest")
      assert.strictEqual(span?.attributes[A.usageInputTokens], undefined)
    }).pipe(Effect.provide(telemetry.layer))
  })

  it.live("anthropic: the span has the message's id and model; the SDK's own spans are off unless sdk_tracing=true", () => {
    const telemetry = InMemoryTelemetry.make()
    // The SDK traces through the global OpenTelemetry tracer provider when one is registered.
    const sdkSpans = new InMemorySpanExporter()
    return Effect.gen(function*() {
      const { trace } = sdkOtelApi()
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(sdkSpans)] }))
      yield* Effect.addFinalizer(() => Effect.sync(() => trace.disable()))
      const server = yield* FakeProvider.scoped()
      const quiet = yield* anthropic(server.anthropicBaseUrl)
      const generation = yield* quiet.generate(chatRequest("hello"))
      assert.match(generation.responseId ?? "", /^msg_/)
      const [span] = telemetry.spans("chat ")
      assert.strictEqual(span?.attributes[A.providerName], "anthropic")
      assert.strictEqual(span?.attributes[A.responseId], generation.responseId)
      assert.strictEqual(span?.attributes[A.responseModel], "claude-3-5-haiku-latest")
      assert.strictEqual(sdkSpans.getFinishedSpans().length, 0)
      // Opting in gives the SDK's span beside Capstan's: the check above could see one.
      const traced = yield* anthropic(server.anthropicBaseUrl, "anthropic!claude-3-5-haiku-latest,sdk_tracing=true")
      yield* traced.generate(chatRequest("hello"))
      assert.isAbove(sdkSpans.getFinishedSpans().length, 0)
    }).pipe(Effect.scoped, Effect.provide(telemetry.layer))
  })
})
