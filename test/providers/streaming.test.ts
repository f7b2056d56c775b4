/**
 * `Generator.stream` of the OpenAI and Anthropic providers, over their real SDKs against the fake server's
 * server-sent events: text as it arrives, the whole generation last, interruption, faults mid-stream, and the
 * engine's limiter settling with the usage the stream reports.
 */
import { ChatPipeline, Engine, type Generation, Generator, Identifier, Model, RateLimiter } from "@capstan/core"
import { OpenAI } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, Schema, Stream } from "effect"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { chatRequest, eventually, generatorFor } from "./harness.js"

const openai = (server: FakeProviderServer, identifier = "openai!gpt-4o-mini") =>
  generatorFor(identifier, { OPENAI_API_KEY: "sk-test-openai", OPENAI_BASE_URL: server.openaiBaseUrl })

const anthropic = (server: FakeProviderServer, identifier = "anthropic!claude-haiku-4-5") =>
  generatorFor(identifier, { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: server.anthropicBaseUrl })

const streamOf = (generator: Generator.Service) => {
  const stream = generator.stream
  if (stream === undefined) throw new Error(`${generator.identifier.provider} does not stream`)
  return stream
}

const collect = (generator: Generator.Service, content = "hello there", params = {}) =>
  Stream.runCollect(streamOf(generator)(chatRequest(content, params)))

const deltasOf = (parts: ReadonlyArray<Generation.StreamPart>, index = 0) =>
  parts.flatMap((part) => part._tag === "Delta" && part.index === index ? [part.text] : [])

const doneOf = (parts: ReadonlyArray<Generation.StreamPart>): Generation.Generation => {
  const last = parts.at(-1)
  if (last?._tag !== "Done") throw new Error("the stream did not end with Done")
  assert.strictEqual(parts.filter((part) => part._tag === "Done").length, 1)
  return last.generation
}

const tokens = (text: string) => Math.ceil(text.length / 4)

const providers = [
  ["openai", openai],
  ["anthropic", anthropic]
] as const

describe("streaming providers", () => {
  for (const [name, build] of providers) {
    describe(name, () => {
      it.live("text arrives in deltas that add up to the answer; Done carries usage, stop reason and limits", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ streamChunkChars: 3, rpm: 600 })
          const parts = yield* collect(yield* build(server))
          const deltas = deltasOf(parts)
          assert.isAbove(deltas.length, 3)
          assert.strictEqual(deltas.join(""), "echo: hello there")
          const generation = doneOf(parts)
          assert.strictEqual(generation.choices[0]!.text, "echo: hello there")
          assert.strictEqual(generation.choices[0]!.stopReason, "stop")
          assert.strictEqual(generation.usage.inputTokens, tokens("hello there"))
          assert.strictEqual(generation.usage.outputTokens, tokens("echo: hello there"))
          assert.strictEqual(generation.rateLimit?.requestsLimit, 600)
          const body = server.requests[0]!.body as Record<string, unknown>
          assert.strictEqual(body["stream"], true)
          if (name === "openai") assert.deepStrictEqual(body["stream_options"], { include_usage: true })
          assert.strictEqual(server.stats.streams.complete, 1)
        }))

      it.live("tool calls are accumulated from their deltas and appear in Done", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({
            streamChunkChars: 2,
            respond: () => ({
              text: "Let me look.",
              toolCalls: [{ name: "weather", input: { city: "Paris", days: [1, 2] } }, { name: "time", input: {} }]
            })
          })
          const parts = yield* collect(yield* build(server))
          assert.strictEqual(deltasOf(parts).join(""), "Let me look.")
          const choice = doneOf(parts).choices[0]!
          assert.strictEqual(choice.stopReason, "tool_calls")
          assert.deepStrictEqual(
            choice.toolCalls?.map((call) => [call.name, call.input]),
            [["weather", { city: "Paris", days: [1, 2] }], ["time", {}]]
          )
        }))

      it.live("interrupting the consumer aborts the request: the server sees the connection closed", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ streamChunkChars: 1, streamChunkDelayMs: 30 })
          const generator = yield* build(server)
          const first = yield* streamOf(generator)(chatRequest("a long question")).pipe(
            Stream.filter((part) => part._tag === "Delta"),
            Stream.take(2),
            Stream.runCollect
          )
          assert.strictEqual(first.length, 2)
          yield* eventually(() => server.stats.streams["cut-by-client"] === 1)
          assert.strictEqual(server.stats.streams.complete, 0)
          assert.strictEqual(server.stats.inFlight, 0)

          // The same by fiber interruption, while waiting for the next event.
          const fiber = yield* Effect.forkChild(collect(generator))
          yield* eventually(() => server.stats.inFlight === 1)
          yield* Effect.sleep("60 millis")
          yield* Fiber.interrupt(fiber)
          yield* eventually(() => server.stats.streams["cut-by-client"] === 2 && server.stats.inFlight === 0)
        }))

      it.live("a connection dropped mid-stream is a retryable ConnectionError, after the text that came", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ streamChunkChars: 2, streamChunkDelayMs: 5 })
          server.failNext("reset-after-headers")
          const generator = yield* build(server)
          const seen: Array<string> = []
          const error = yield* streamOf(generator)(chatRequest("hello there")).pipe(
            Stream.runForEach((part) => Effect.sync(() => part._tag === "Delta" && seen.push(part.text))),
            Effect.flip
          )
          assert.strictEqual(error._tag, "ConnectionError", error.message)
          assert.isTrue(error.retryable)
          assert.isAbove(seen.length, 0)
          assert.isTrue("echo: hello there".startsWith(seen.join("")))
          assert.strictEqual(server.stats.streams.dropped, 1)
        }))

      it.live("a stream the server ends early is a ConnectionError; an event that is not JSON a MalformedResponse", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped()
          const generator = yield* build(server)
          server.failNext("truncated")
          const cut = yield* Effect.flip(collect(generator))
          assert.strictEqual(cut._tag, "ConnectionError", cut.message)
          assert.match(cut.message, /stream ended before/)
          server.failNext("malformed")
          const malformed = yield* Effect.flip(collect(generator))
          assert.strictEqual(malformed._tag, "MalformedResponse", malformed.message)
        }))

      it.live("a server that stops sending mid-stream is a Timeout after the request timeout, not a hang", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ streamChunkChars: 2, streamChunkDelayMs: 1_000 })
          const error = yield* Effect.flip(collect(yield* build(server), "hello there", { timeout: 0.2 }))
          assert.strictEqual(error._tag, "Timeout", error.message)
          assert.isTrue(error.retryable)
          yield* eventually(() => server.stats.streams["cut-by-client"] === 1)
        }))

      it.live("the engine's limiter learns the server's limits from the stream's rate-limit headers", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ rpm: 600, tpm: 90_000 })
          const limiter = yield* RateLimiter.make({})
          const generator = yield* Engine.applyDefault(yield* build(server), { limiter })
          assert.strictEqual((yield* limiter.state).rpm, undefined)
          yield* collect(generator)
          const state = yield* limiter.state
          assert.strictEqual(state.rpm, 600)
          assert.strictEqual(state.tpm, 90_000)
        }))

      it.live("a 429 before the stream is RateLimited through the engine, without a retry", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped()
          server.failNext("rate-limit")
          const generator = yield* Engine.applyDefault(yield* build(server), { maxRetries: 3 })
          const error = yield* Effect.flip(collect(generator))
          assert.strictEqual(error._tag, "RateLimited")
          if (error._tag === "RateLimited") assert.strictEqual(error.retryAfterMs, 1000)
          assert.strictEqual(server.stats.requests, 1)
        }))

      // TestClock: the limiter's buckets do not refill while the test runs, so the tokens they lost are exact.
      it.effect("the engine's limiter holds the stream's estimate, then settles with its usage as for generate", () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped({ streamChunkChars: 5 })
          const raw = yield* build(server)
          const request = chatRequest("what is the weather like in Paris today?")
          const plainLimiter = yield* RateLimiter.make({ tpm: 60_000 })
          const streamLimiter = yield* RateLimiter.make({ tpm: 60_000 })
          const full = (yield* plainLimiter.state).tokensAvailable
          const available = (limiter: RateLimiter.RateLimiter) => Effect.map(limiter.state, (s) => s.tokensAvailable)

          yield* (yield* Engine.applyDefault(raw, { limiter: plainLimiter })).generate(request)
          const plainSpent = full - (yield* available(plainLimiter))

          const during: Array<number> = []
          const parts = yield* streamOf(yield* Engine.applyDefault(raw, { limiter: streamLimiter }))(request).pipe(
            Stream.tap((part) =>
              part._tag === "Delta" && during.length === 0
                ? Effect.map(available(streamLimiter), (n) => void during.push(full - n))
                : Effect.void
            ),
            Stream.runCollect
          )
          const usage = doneOf(parts).usage
          const streamSpent = full - (yield* available(streamLimiter))
          // While the stream runs, it holds the estimate (far more than this short answer uses); once Done, the
          // limiter keeps what the usage says, exactly as after the same request sent plainly.
          assert.isAtLeast(during[0]!, streamLimiter.estimate(request))
          assert.isAbove(during[0]! - streamSpent, 0)
          assert.isAbove(during[0]! - streamSpent, usage.totalTokens)
          assert.strictEqual(streamSpent, plainSpent)
        }))
    })
  }

  it.live("openai: n > 1 streams every choice by its index", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ streamChunkChars: 4 })
      const parts = yield* collect(yield* openai(server), "hi", { n: 3 })
      for (const index of [0, 1, 2]) assert.strictEqual(deltasOf(parts, index).join(""), "echo: hi")
      const generation = doneOf(parts)
      assert.deepStrictEqual(generation.choices.map((choice) => choice.text), ["echo: hi", "echo: hi", "echo: hi"])
      assert.strictEqual(generation.usage.outputTokens, 3 * tokens("echo: hi"))
    }))

  it.live("openai: streams over the SDK's default fetch too (no Capstan transport), and stops it on interruption", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ streamChunkChars: 3 })
      const generator = yield* OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "gpt-4o-mini" }), {
        apiKey: Redacted.make("sk-test"),
        baseURL: server.openaiBaseUrl,
        fetch: globalThis.fetch
      })
      const parts = yield* collect(generator)
      assert.strictEqual(deltasOf(parts).join(""), "echo: hello there")
      assert.strictEqual(doneOf(parts).usage.outputTokens, tokens("echo: hello there"))
      server.configure({ streamChunkDelayMs: 30 })
      yield* streamOf(generator)(chatRequest("hello there")).pipe(Stream.take(2), Stream.runDrain)
      yield* eventually(() => server.stats.streams["cut-by-client"] === 1 && server.stats.inFlight === 0)
    }))

  it.live("an OpenAI-compatible provider (ollama) streams through the same code", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ streamChunkChars: 3 })
      const generator = yield* generatorFor("ollama!llama3.1", { OLLAMA_API_BASE: server.url })
      const parts = yield* collect(generator)
      assert.strictEqual(deltasOf(parts).join(""), "echo: hello there")
      assert.strictEqual(doneOf(parts).usage.inputTokens, tokens("hello there"))
      assert.strictEqual(server.requests[0]!.path, "/v1/chat/completions")
    }))

  it.live("ChatPipeline.runStream over a provider: deltas as they arrive, then the chat", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ streamChunkChars: 2 })
      const generator = yield* Engine.applyDefault(yield* openai(server))
      const events = yield* ChatPipeline.make("hello there").pipe(
        ChatPipeline.runStream(),
        Stream.runCollect,
        Effect.provide(Layer.succeed(Generator.Generator, generator))
      )
      const deltas = events.flatMap((event) => event._tag === "Delta" ? [event.text] : [])
      assert.isAbove(deltas.length, 5)
      assert.strictEqual(deltas.join(""), "echo: hello there")
      const last = events.at(-1)
      assert.strictEqual(last?._tag === "Done" ? last.chat.text : undefined, "echo: hello there")
      assert.strictEqual(server.stats.streams.complete, 1)
    }))

  it.live("anthropic: an overloaded_error event mid-stream is Overloaded", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      server.failNext("overloaded")
      const error = yield* Effect.flip(collect(yield* anthropic(server)))
      assert.strictEqual(error._tag, "Overloaded", error.message)
      assert.isTrue(error.retryable)
      assert.strictEqual(server.requests[0]!.status, 200)
    }))

  it.live("anthropic: structured output streams no text and answers in Done", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ respond: () => ({ toolInput: { name: "Ada", age: 36 } }) })
      const generator = yield* anthropic(server)
      const parts = yield* Stream.runCollect(
        streamOf(generator)({
          ...chatRequest("who?"),
          structured: Model.json(Schema.Struct({ name: Schema.String, age: Schema.Int }), { name: "person" }).structured
        })
      )
      assert.deepStrictEqual(deltasOf(parts), [])
      assert.deepStrictEqual(JSON.parse(doneOf(parts).choices[0]!.text), { name: "Ada", age: 36 })
    }))
})
