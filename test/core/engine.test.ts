/**
 * The engine as a service: its Layer owns the limiters of an application by account and model and releases them
 * with its scope; generators built together share them, applications and tests do not; attempts travel on values.
 */
import {
  CompletionPipeline,
  Engine,
  GenerateParams,
  Generation,
  Generator,
  Identifier,
  Message,
  ServerError,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"

const request = () => ({ messages: [Message.user("hi")], params: GenerateParams.empty })

/**
 * When each of `count` requests started, sent at once (virtual time), each through its own build of `layer`, all
 * in one application (one engine) unless `engine` is false.
 */
const starts = (layer: Layer.Layer<Generator.Generator, unknown>, count: number) =>
  Effect.gen(function*() {
    const started: Array<number> = []
    const send = Generator.generate(request()).pipe(
      Effect.andThen(Clock.currentTimeMillis),
      Effect.map((t) => started.push(t)),
      Effect.provide(layer)
    )
    const fiber = yield* Effect.forkChild(
      Effect.all(Array.from({ length: count }, () => send), { concurrency: "unbounded" })
    )
    yield* TestClock.adjust("10 seconds")
    yield* Fiber.join(fiber)
    return started.sort((a, b) => a - b).map((t) => t - started[0]!)
  })

describe("Engine", () => {
  it.effect("generators of one application for the same account and model share a limiter, even built per request", () =>
    Effect.gen(function*() {
      // rpm=60 with one second of burst: one request a second, however many generator layers send them.
      expect(yield* starts(Generator.layer("mock!echo,rpm=60"), 3)).toEqual([0, 1000, 2000])
      const other = Generator.layer("mock!echo,rpm=60,max_retries=1")
      expect(yield* starts(other, 2)).toEqual([0, 1000])
    }).pipe(Effect.provide(Engine.layer)))

  it("another account or model has a limiter of its own; engine settings and secrets' text do not leak into the key", () => {
    const key = (model: string, settings: Readonly<Record<string, string | number>>) =>
      Engine.laneKey(Identifier.make({ provider: "mock", model, settings }))
    expect(key("echo", { rpm: 60 })).toBe(key("echo", { max_retries: 2 }))
    expect(key("echo", { base_url: "http://a" })).not.toBe(key("echo", { base_url: "http://b" }))
    expect(key("echo", {})).not.toBe(key("other", {}))
    const secret = Engine.laneKey(
      Identifier.make({ provider: "mock", model: "echo", settings: { api_key: Redacted.make("sk-abc") } })
    )
    expect(secret).not.toContain("sk-abc")
    expect(secret).not.toBe(
      Engine.laneKey(
        Identifier.make({ provider: "mock", model: "echo", settings: { api_key: Redacted.make("sk-xyz") } })
      )
    )
  })

  it.effect("each application has its own limiters: a new engine starts with full buckets", () =>
    Effect.gen(function*() {
      const layer = Generator.layer("mock!echo,rpm=60")
      expect(yield* starts(layer, 2).pipe(Effect.provide(Engine.layer))).toEqual([0, 1000])
      expect(yield* starts(layer, 2).pipe(Effect.provide(Engine.layer))).toEqual([0, 1000])
      // Without an engine in context, each build of a generator layer is an application of its own.
      expect(yield* starts(layer, 2)).toEqual([0, 0])
    }))

  it.effect("MockGenerator layers answer without the engine unless wrapped with withEngine", () =>
    Effect.gen(function*() {
      const failing = MockGenerator.failing(new ServerError({ provider: "mock", detail: "boom", status: 500 }), {
        every: 2
      })
      const raw = yield* Effect.flip(Effect.forEach([1, 2], () => Generator.chat("x"))).pipe(Effect.provide(failing))
      expect(raw._tag).toBe("ServerError")
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2], () => Generator.chat("x")).pipe(
          Effect.provide(failing.pipe(Generator.withEngine({ maxRetries: 2 })))
        )
      )
      yield* TestClock.adjust("1 minute")
      const chats = yield* Fiber.join(fiber)
      expect(chats.map((chat) => chat.attempts)).toEqual([1, 2])
    }))

  it.effect("attempts travel on values: a retried generation says how many requests it took, and so does its final error", () =>
    Effect.gen(function*() {
      const always = MockGenerator.failing(new ServerError({ provider: "mock", detail: "down", status: 503 })).pipe(
        Generator.withEngine({ maxRetries: 3 })
      )
      const fiber = yield* Effect.forkChild(Effect.flip(Generator.generate(request())).pipe(Effect.provide(always)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("ServerError")
      expect(error.attempts).toBe(4)
      const once = yield* Generator.generate(request()).pipe(
        Effect.provide(MockGenerator.echo().pipe(Generator.withEngine()))
      )
      expect(once.attempts).toBeUndefined()
    }))
})

describe("the generator contract", () => {
  it.effect("Generator.chat keeps the attempts of the generation; a generation without choices is MalformedResponse", () =>
    Effect.gen(function*() {
      const empty = MockGenerator.layer(() =>
        new Generation.Generation({ choices: [], usage: Usage.empty, attempts: 2 })
      )
      const error = yield* Effect.flip(Generator.chat("x")).pipe(Effect.provide(empty))
      expect(error._tag).toBe("MalformedResponse")
      expect(error.attempts).toBe(2)
      const retried = MockGenerator.layer(() =>
        new Generation.Generation({
          choices: [new Generation.Choice({ text: "ok", stopReason: "stop" })],
          usage: Usage.empty,
          attempts: 3
        })
      )
      expect((yield* Generator.chat("x").pipe(Effect.provide(retried))).attempts).toBe(3)
    }))

  it.effect("stream and complete are capabilities: used when the generator has them, Unsupported without a request otherwise", () =>
    Effect.gen(function*() {
      const streamed = (layer: Layer.Layer<Generator.Generator, unknown>) =>
        Stream.runCollect(Generator.stream({ messages: [Message.user("one two three")], params: GenerateParams.empty }))
          .pipe(
            Effect.provide(layer)
          )
      for (const layer of [MockGenerator.echo(), Generator.layer("mock!echo,rpm=600")]) {
        const parts = yield* streamed(layer)
        expect(parts.flatMap((part) => (part._tag === "Delta" ? [part.text] : [])).join("")).toBe("one two three")
        const done = parts.at(-1)
        expect(done?._tag === "Done" && done.generation.usage.outputTokens).toBeGreaterThan(0)
      }
      let sent = 0
      const chatOnly = Layer.succeed(Generator.Generator, {
        identifier: Identifier.make({ provider: "plain", model: "m" }),
        generate: () => Effect.sync(() => sent++).pipe(Effect.as(Generation.fromTexts(["x"], Usage.empty)))
      })
      const completion = yield* Effect.flip(Generator.complete({ prompt: "p", params: GenerateParams.empty })).pipe(
        Effect.provide(chatOnly)
      )
      expect(completion._tag).toBe("Unsupported")
      expect(completion.message).toContain("no plain-text completion")
      const streaming = yield* Effect.flip(Stream.runCollect(Generator.stream(request()))).pipe(
        Effect.provide(chatOnly)
      )
      expect(streaming._tag).toBe("Unsupported")
      const pipeline = yield* CompletionPipeline.make("p").pipe(
        CompletionPipeline.run(),
        Effect.flip,
        Effect.provide(chatOnly)
      )
      expect(pipeline._tag).toBe("Unsupported")
      expect(sent).toBe(0)
    }))
})
