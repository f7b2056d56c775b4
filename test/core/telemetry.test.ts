import {
  Batch,
  Dataset,
  Engine,
  GenerateParams,
  Generator,
  InvalidRequest,
  Message,
  RateLimited,
  Telemetry,
  Template,
  Usage
} from "@capstan/core"
import type { Generation } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer, Metric, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as InMemoryTelemetry from "../support/InMemoryTelemetry.js"

const A = Telemetry.Attribute

const request = (text = "Hi there", params: GenerateParams.Fields = {}): Generation.ChatRequest => ({
  messages: [Message.system("Be terse."), Message.user(text)],
  params: GenerateParams.make(params)
})

const only = (spans: ReadonlyArray<ReadableSpan>): ReadableSpan => {
  expect(spans.length).toBe(1)
  return spans[0]!
}

/** The state of one metric series, found by name and attributes in the registry. */
const seriesValue = (name: string, attributes: Record<string, string>) =>
  Effect.map(
    Metric.snapshot,
    (snapshots) =>
      snapshots.filter((s) =>
        s.id === name && Object.entries(attributes).every(([key, value]) => s.attributes?.[key] === value)
      ).map((s) => s.state as { readonly count?: number; readonly sum?: number })
  )

describe("telemetry: a client span per request", () => {
  it.effect("a successful chat: GenAI request, response and usage attributes, token and duration metrics", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      const generation = yield* Generator.generate(
        request("Hi there", { temperature: 0.3, maxTokens: 50, topP: 0.9, stop: ["END"], seed: 7 })
      )
      const span = only(telemetry.spans("chat "))
      expect(span.name).toBe("chat echo")
      expect(span.kind).toBe(2) // SpanKind.CLIENT
      expect(span.attributes).toMatchObject({
        [A.operationName]: "chat",
        [A.providerName]: "mock",
        [A.requestModel]: "echo",
        [A.requestTemperature]: 0.3,
        [A.requestMaxTokens]: 50,
        [A.requestTopP]: 0.9,
        [A.requestStopSequences]: ["END"],
        [A.requestSeed]: 7,
        [A.responseFinishReasons]: ["stop"],
        [A.usageInputTokens]: generation.usage.inputTokens,
        [A.usageOutputTokens]: generation.usage.outputTokens,
        [A.attempts]: 1
      })
      expect(generation.usage.inputTokens).toBeGreaterThan(0)
      expect(span.attributes[A.errorType]).toBeUndefined()
      // Content is recorded only when asked for.
      expect(span.attributes[A.inputMessages]).toBeUndefined()
      expect(span.attributes[A.outputMessages]).toBeUndefined()
      expect(span.attributes[A.systemInstructions]).toBeUndefined()
      const base = { [A.operationName]: "chat", [A.providerName]: "mock", [A.requestModel]: "echo" }
      const input = yield* seriesValue(Telemetry.MetricName.tokenUsage, { ...base, [A.tokenType]: "input" })
      const output = yield* seriesValue(Telemetry.MetricName.tokenUsage, { ...base, [A.tokenType]: "output" })
      expect(input).toEqual([expect.objectContaining({ count: 1, sum: generation.usage.inputTokens })])
      expect(output).toEqual([expect.objectContaining({ count: 1, sum: generation.usage.outputTokens })])
      const duration = yield* seriesValue(Telemetry.MetricName.operationDuration, base)
      expect(duration).toEqual([expect.objectContaining({ count: 1 })])
    }).pipe(Effect.provide(Layer.merge(Generator.layer("mock!echo"), telemetry.layer)))
  })

  it.effect("content is recorded as the GenAI messages attributes when opted in", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      yield* Generator.generate(request("Hi there"))
      const span = only(telemetry.spans("chat "))
      expect(JSON.parse(String(span.attributes[A.systemInstructions]))).toEqual([
        { type: "text", content: "Be terse." }
      ])
      expect(JSON.parse(String(span.attributes[A.inputMessages]))).toEqual([
        { role: "user", parts: [{ type: "text", content: "Hi there" }] }
      ])
      expect(JSON.parse(String(span.attributes[A.outputMessages]))).toEqual([
        { role: "assistant", parts: [{ type: "text", content: "Hi there" }], finish_reason: "stop" }
      ])
    }).pipe(
      Effect.provide(Layer.mergeAll(Generator.layer("mock!echo"), Telemetry.layerCaptureContent, telemetry.layer))
    )
  })

  it.effect("a failed request: error.type is the error's tag, and its duration is a series of its own", () => {
    const telemetry = InMemoryTelemetry.make()
    const failing = MockGenerator.failing(new InvalidRequest({ provider: "mock", detail: "bad" }), {
      identifier: "mock!bad"
    }).pipe(Generator.withEngine())
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Generator.generate(request()))
      expect(error._tag).toBe("InvalidRequest")
      const span = only(telemetry.spans("chat "))
      expect(span.attributes[A.errorType]).toBe("InvalidRequest")
      expect(span.attributes[A.attempts]).toBe(1)
      expect(span.attributes[A.usageInputTokens]).toBeUndefined()
      expect(span.status.code).toBe(2) // ERROR
      const failed = yield* seriesValue(Telemetry.MetricName.operationDuration, { [A.errorType]: "InvalidRequest" })
      expect(failed).toEqual([expect.objectContaining({ count: 1 })])
    }).pipe(Effect.provide(Layer.merge(failing, telemetry.layer)))
  })

  it.effect("a retried request: one span with its attempts; retries and 429 pauses are counted", () => {
    const telemetry = InMemoryTelemetry.make()
    // Every second call is refused: the first request answers at once, the second after one 429 and a retry.
    const flaky = MockGenerator.failing(new RateLimited({ provider: "mock", detail: "slow down", retryAfterMs: 10 }), {
      every: 2
    }).pipe(Generator.withEngine({ maxRetries: 3 }))
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.forEach([1, 2], () => Generator.generate(request())))
      yield* TestClock.adjust("1 minute")
      const generations = yield* Fiber.join(fiber)
      expect(generations.map((g) => g.attempts ?? 1)).toEqual([1, 2])
      const spans = telemetry.spans("chat ")
      expect(spans.map((span) => span.attributes[A.attempts])).toEqual([1, 2])
      expect(spans.map((span) => span.attributes[A.errorType])).toEqual([undefined, undefined])
      const count = (name: string) =>
        Effect.map(seriesValue(name, {}), (states) => states.map((s) => (s as { count: number }).count))
      expect(yield* count(Telemetry.MetricName.retries)).toEqual([1])
      expect(yield* count(Telemetry.MetricName.rateLimitPauses)).toEqual([1])
      // The retry waited for the limiter's pause after the 429 (10 ms at least).
      const [waited] = yield* count(Telemetry.MetricName.limiterWait)
      expect(waited).toBeGreaterThanOrEqual(10)
    }).pipe(Effect.provide(Layer.merge(flaky, telemetry.layer)))
  })

  it.effect("a batch item's requests say which item and which choice they serve", () => {
    const telemetry = InMemoryTelemetry.make()
    const oneChoicePerRequest = MockGenerator.echo({ capabilities: { maxChoices: 1 } }).pipe(Generator.withEngine())
    return Effect.gen(function*() {
      const items = yield* Dataset.validate(Template.make("Say {word}"), [{ id: "w1", word: "hi" }, {
        id: "w2",
        word: "bye"
      }])
      const { rows } = yield* Batch.run(items, { params: { n: 2 } })
      expect(rows.length).toBe(4)
      const seen = telemetry.spans("chat ").map((span) =>
        [span.attributes[A.itemId], span.attributes[A.itemIndex], span.attributes[A.choice]].join("/")
      ).sort()
      expect(seen).toEqual(["w1/0/0", "w1/0/1", "w2/1/0", "w2/1/1"])
      // The request spans are children of the batch's span.
      const batchSpan = only(telemetry.spans("capstan.batch.run"))
      for (const span of telemetry.spans("chat ")) {
        expect(span.spanContext().traceId).toBe(batchSpan.spanContext().traceId)
      }
    }).pipe(Effect.provide(Layer.merge(oneChoicePerRequest, telemetry.layer)))
  })

  it.live("a provider batch's request span says which batch it went in, under its custom id", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      const items = yield* Dataset.validate(Template.make("Say {word}"), [{ id: "w1", word: "hi" }, {
        id: "w2",
        word: "bye"
      }])
      const { rows } = yield* Batch.run(items, {
        via: "provider-batch",
        providerBatch: { linger: "5 millis", pollInterval: "5 millis", queueBackoff: "5 millis" }
      })
      const spans = telemetry.spans("chat ")
      expect(spans.map((span) => span.attributes[A.batchCustomId]).sort()).toEqual(["w1-c0", "w2-c0"])
      const batchIds = rows.map((row) => (row.metadata as { batchId?: string } | undefined)?.batchId)
      expect(batchIds.every((id) => typeof id === "string")).toBe(true)
      expect(spans.map((span) => span.attributes[A.batchId])).toEqual(batchIds)
      expect(spans.map((span) => span.attributes[A.itemId]).sort()).toEqual(["w1", "w2"])
      expect(spans.every((span) => typeof span.attributes[A.usageInputTokens] === "number")).toBe(true)
    }).pipe(Effect.provide(Layer.merge(MockGenerator.echo(), telemetry.layer)))
  })

  it.effect("a stream has a span too, ended with the stream and carrying its usage", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      const parts = yield* Stream.runCollect(Generator.stream(request("one two three")))
      const done = parts.at(-1)
      expect(done?._tag).toBe("Done")
      const usage = done?._tag === "Done" ? done.generation.usage : Usage.empty
      const span = only(telemetry.spans("chat "))
      expect(span.attributes[A.usageOutputTokens]).toBe(usage.outputTokens)
      expect(span.attributes[A.responseFinishReasons]).toEqual(["stop"])
    }).pipe(Effect.provide(Layer.merge(Generator.layer("mock!echo"), telemetry.layer)))
  })

  it.effect("a plain completion is a text_completion span", () => {
    const telemetry = InMemoryTelemetry.make()
    return Effect.gen(function*() {
      yield* Generator.complete({ prompt: "Once upon", params: GenerateParams.empty })
      const span = only(telemetry.spans("text_completion "))
      expect(span.attributes[A.operationName]).toBe("text_completion")
    }).pipe(Effect.provide(Layer.merge(Generator.layer("mock!echo"), telemetry.layer)))
  })

  it.effect("without a tracer installed, requests still run and metrics are still kept", () =>
    Effect.gen(function*() {
      const generation = yield* Generator.generate(request())
      expect(generation.choices.length).toBe(1)
      const input = yield* seriesValue(Telemetry.MetricName.tokenUsage, { [A.tokenType]: "input" })
      expect(input).toEqual([expect.objectContaining({ count: 1 })])
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          Generator.layer("mock!echo").pipe(Layer.provide(Engine.layerIsolated)),
          Layer.succeed(Metric.MetricRegistry, new Map())
        )
      )
    ))
})

describe("Telemetry names", () => {
  it("span names and provider names follow the GenAI conventions", () => {
    expect(Telemetry.spanName("chat", "gpt-4o")).toBe("chat gpt-4o")
    expect(Telemetry.providerName("anthropic")).toBe("anthropic")
    expect(Telemetry.providerName("mistral")).toBe("mistral_ai")
    expect(Telemetry.tokenUsageBoundaries.length).toBe(14)
  })
})
