/**
 * The response cache with mock generators: modes, what is stored (never a failure), the key, the marks of a hit,
 * pipelines that regenerate, a failing store, and the types.
 */
import {
  Batch,
  ChatPipeline,
  CompletionPipeline,
  Dataset,
  GenerateParams,
  Generation,
  Generator,
  Identifier,
  Message,
  Model,
  ResponseCache,
  ResponseCacheError,
  ServerError,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Ref, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { Persistence } from "effect/persistence"
import { TestClock } from "effect/testing"

const template = Template.make("Say {word}")
const items = Effect.runSync(Dataset.validate(template, ["alpha", "beta", "gamma"].map((word) => ({ word }))))

/** Calls of the mock so far. */
const calls = MockGenerator.calls

describe("Batch with the response cache", () => {
  it.effect("readwrite: a second run sends nothing and yields the same rows, marked as cached", () =>
    Effect.gen(function*() {
      const first = yield* Batch.run(items, { cache: "readwrite" })
      expect(yield* calls).toBe(3)
      expect(first.rows.every((row) => !ResponseCache.isCached(row))).toBe(true)
      const second = yield* Batch.run(items, { cache: "readwrite" })
      expect(yield* calls).toBe(3)
      expect(second.rows.map((row) => row.output)).toEqual(first.rows.map((row) => row.output))
      expect(second.rows.map((row) => row.output)).toEqual(["Say alpha", "Say beta", "Say gamma"])
      for (const row of second.rows) {
        expect(row.metadata).toEqual({ cached: true })
        expect(ResponseCache.isCached(row)).toBe(true)
        expect(row.attempts).toBe(0)
        expect(row.usage.totalTokens).toBe(0)
        expect(row.ok).toBe(true)
      }
      // Nothing paid, nothing sent: the summary counts what this run cost.
      expect(second.summary).toMatchObject({ ok: 3, attempts: 0 })
      expect(second.summary.usage.totalTokens).toBe(0)
      expect(first.summary.usage.totalTokens).toBeGreaterThan(0)
      // The rows still decode from their JSON lines.
      const line = Batch.toJsonLine(second.rows[0]!)
      expect((yield* Batch.fromJsonLine(line)).metadata).toEqual({ cached: true })
    }).pipe(Effect.provide([MockGenerator.echo(), ResponseCache.layerMemory])))

  it.effect("read never writes: two runs send everything twice", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "read" })
      yield* Batch.run(items, { cache: "read" })
      expect(yield* calls).toBe(6)
    }).pipe(Effect.provide([MockGenerator.echo(), ResponseCache.layerMemory])))

  it.effect("read answers from what another run wrote", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "write" })
      const { rows } = yield* Batch.run(items, { cache: "read" })
      expect(yield* calls).toBe(3)
      expect(rows.every(ResponseCache.isCached)).toBe(true)
    }).pipe(Effect.provide([MockGenerator.echo(), ResponseCache.layerMemory])))

  it.effect("write never reads: it sends again and stores the new answers", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "readwrite" })
      const written = yield* Batch.run(items, { cache: "write" })
      expect(yield* calls).toBe(6)
      expect(written.rows.some(ResponseCache.isCached)).toBe(false)
      // The answers of the second call replaced the first ones.
      const { rows } = yield* Batch.run(items, { cache: "read" })
      expect(rows.map((row) => row.output)).toEqual(["2: Say alpha", "2: Say beta", "2: Say gamma"])
      expect(yield* calls).toBe(6)
    }).pipe(Effect.provide([
      MockGenerator.fn((text, _params, request) => request.call > 3 ? `2: ${text}` : text),
      ResponseCache.layerMemory
    ])))

  it.effect("off (the default) neither reads nor writes", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "readwrite" })
      yield* Batch.run(items)
      yield* Batch.run(items, { cache: "off" })
      expect(yield* calls).toBe(9)
    }).pipe(Effect.provide([MockGenerator.echo(), ResponseCache.layerMemory])))

  it.effect("failures are not cached: the next run sends the failed items again", () =>
    Effect.gen(function*() {
      const first = yield* Batch.run(items, { cache: "readwrite" })
      expect(first.rows.map((row) => row.ok)).toEqual([false, true, false])
      const second = yield* Batch.run(items, { cache: "readwrite" })
      // calls 1..3 the first run (1 and 3 failed), then items 1 and 3 again (calls 4 and 5, both fine)
      expect(yield* calls).toBe(5)
      expect(second.rows.map((row) => row.ok)).toEqual([true, true, true])
      expect(second.rows.map(ResponseCache.isCached)).toEqual([false, true, false])
    }).pipe(Effect.provide([
      MockGenerator.layer((request) =>
        request.call === 1 || request.call === 3
          ? Effect.fail(new ServerError({ provider: "mock", detail: "boom", status: 500 }))
          : "fine"
      ),
      ResponseCache.layerMemory
    ])))

  it.effect("a generation with fewer choices than asked is not cached", () =>
    Effect.gen(function*() {
      const first = yield* Batch.run(items.slice(0, 1), { cache: "readwrite", params: { n: 2 } })
      expect(first.rows.map((row) => row.ok)).toEqual([true, false])
      yield* Batch.run(items.slice(0, 1), { cache: "readwrite", params: { n: 2 } })
      expect(yield* calls).toBe(2)
    }).pipe(Effect.provide([
      MockGenerator.layer(() => Generation.fromTexts(["one answer only"], Usage.empty)),
      ResponseCache.layerMemory
    ])))

  it.effect("n choices, one per request: each choice has its own entry, replayed in its place", () =>
    Effect.gen(function*() {
      const first = yield* Batch.run(items.slice(0, 1), { cache: "readwrite", params: { n: 3 } })
      expect(yield* calls).toBe(3)
      expect(first.rows.map((row) => row.output)).toEqual(["answer 1", "answer 2", "answer 3"])
      const second = yield* Batch.run(items.slice(0, 1), { cache: "readwrite", params: { n: 3 } })
      expect(yield* calls).toBe(3)
      expect(second.rows.map((row) => row.output)).toEqual(["answer 1", "answer 2", "answer 3"])
      expect(second.rows.map((row) => row.choice)).toEqual([0, 1, 2])
    }).pipe(Effect.provide([
      MockGenerator.layer((request) => `answer ${request.call}`, { capabilities: { maxChoices: 1 } }),
      ResponseCache.layerMemory
    ])))

  it.effect("a hit takes no place in the engine: it never reaches the limiter's gate", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "readwrite" }).pipe(Effect.provide(MockGenerator.echo()))
      // Every request the engine sends passes `admit`, under its rate limiter: here that gate kills the test.
      const engine = MockGenerator.echo().pipe(
        Generator.withEngine({ admit: () => Effect.die("a request went through the engine") })
      )
      const { rows } = yield* Batch.run(items, { cache: "readwrite" }).pipe(Effect.provide(engine))
      expect(rows.map((row) => row.output)).toEqual(["Say alpha", "Say beta", "Say gamma"])
      expect(rows.every(ResponseCache.isCached)).toBe(true)
      // The same gate does stop a request that is not in the cache (so the test can fail).
      const fresh = yield* Dataset.validate(template, [{ word: "delta" }])
      const missed = yield* Effect.exit(Batch.run(fresh, { cache: "readwrite" }).pipe(Effect.provide(engine)))
      expect(missed._tag).toBe("Failure")
    }).pipe(Effect.provide(ResponseCache.layerMemory)))
})

describe("pipelines with the response cache", () => {
  it.effect("ChatPipeline.withCache replays a parse with recovery rounds, sending nothing", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("Give me a number").pipe(
        ChatPipeline.untilParsedAs(Model.NumberAnswer, { maxRounds: 3 }),
        ChatPipeline.withCache("readwrite")
      )
      const first = yield* ChatPipeline.run(pipeline)
      expect(first.parsed).toBe(42)
      expect(yield* calls).toBe(2)
      const second = yield* ChatPipeline.run(pipeline)
      expect(yield* calls).toBe(2)
      expect(second.parsed).toBe(42)
      expect(second.all.map((m) => m.text)).toEqual(first.all.map((m) => m.text))
      expect(second.metadata).toEqual({ cached: true })
      expect(second.attempts).toBe(0)
    }).pipe(Effect.provide([
      MockGenerator.layer((request) => request.call === 1 ? "no idea" : "<number-answer>42</number-answer>"),
      ResponseCache.layerMemory
    ])))

  it.effect("a chat continued by an andThen step is cached with it: a second batch sends nothing", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make().pipe(
        ChatPipeline.andThen((chat) => Effect.succeed(ChatPipeline.continue(chat, "And why?")))
      )
      const first = yield* Batch.run(items, { pipeline, cache: "readwrite" })
      expect(yield* calls).toBe(6)
      const second = yield* Batch.run(items, { pipeline, cache: "readwrite" })
      expect(yield* calls).toBe(6)
      expect(second.rows.map((row) => row.output)).toEqual(first.rows.map((row) => row.output))
      expect(second.rows.map((row) => row.output)).toEqual(["And why?", "And why?", "And why?"])
      expect(second.rows.every((row) => row.attempts === 0 && ResponseCache.isCached(row))).toBe(true)
    }).pipe(Effect.provide([MockGenerator.echo(), ResponseCache.layerMemory])))

  it.effect("a parse without recovery asks the same request again: each round has its own entry", () =>
    Effect.gen(function*() {
      const pipeline = CompletionPipeline.make("The answer is").pipe(
        CompletionPipeline.untilParsedAs(Model.NumberAnswer, { maxRounds: 3 }),
        CompletionPipeline.withCache("readwrite")
      )
      // Without its own key, the second round would be answered with the first round's unparsable answer.
      const first = yield* CompletionPipeline.run(pipeline)
      expect(first.parsed).toBe(7)
      expect(yield* calls).toBe(3)
      const second = yield* CompletionPipeline.run(pipeline)
      expect(second.parsed).toBe(7)
      expect(yield* calls).toBe(3)
    }).pipe(Effect.provide([
      MockGenerator.layer((request) => request.call < 3 ? "unsure" : "<number-answer>7</number-answer>"),
      ResponseCache.layerMemory
    ])))

  it.effect("n choices regenerating without recovery get answers of their own", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make().pipe(
        ChatPipeline.untilParsedAs(Model.NumberAnswer, { attemptRecovery: false })
      )
      const run = Batch.run(items.slice(0, 1), { pipeline, cache: "readwrite", params: { n: 2 } })
      const first = yield* run
      // call 1 answers both choices unparsably; calls 2 and 3 regenerate choice 0 and choice 1
      expect(first.rows.map((row) => row.parsed)).toEqual([2, 3])
      const second = yield* run
      expect(second.rows.map((row) => row.parsed)).toEqual([2, 3])
      expect(yield* calls).toBe(3)
    }).pipe(Effect.provide([
      MockGenerator.layer((request) =>
        request.call === 1 ? ["no", "nope"] : `<number-answer>${request.call}</number-answer>`
      ),
      ResponseCache.layerMemory
    ])))
})

describe("the key of a request", () => {
  const identifier = Identifier.make({ provider: "openai", model: "gpt-4o-mini" })
  const request = { messages: [Message.user("Hi")], params: GenerateParams.make({ temperature: 0 }) }
  const key = (id: Identifier.Identifier, r: Generation.ChatRequest | Generation.CompletionRequest, choice = 0) =>
    Effect.runSync(ResponseCache.keyOf(id, r, { choice }))
  const base = key(identifier, request)
  const Answer = Model.json(Schema.Struct({ answer: Schema.String }))
  const AnswerToo = Model.json(Schema.Struct({ answer: Schema.Number }))
  const withSetting = (settings: Record<string, Identifier.SettingValue>) =>
    Identifier.make({ provider: "openai", model: "gpt-4o-mini", settings })

  it("is a SHA-256 in base64url, the same every time", () => {
    expect(base).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(key(identifier, { messages: [Message.user("Hi")], params: GenerateParams.make({ temperature: 0 }) })).toBe(
      base
    )
  })

  it("changes with each of params, messages, model, provider, schema, choice, base URL and kind", () => {
    const variants = [
      key(identifier, { ...request, params: GenerateParams.make({ temperature: 0.5 }) }),
      key(identifier, { ...request, params: GenerateParams.make({ temperature: 0, maxTokens: 10 }) }),
      key(identifier, { ...request, messages: [Message.user("Hi!")] }),
      key(identifier, { ...request, messages: [Message.system("Hi")] }),
      key(Identifier.make({ provider: "openai", model: "gpt-4o" }), request),
      key(Identifier.make({ provider: "vllm", model: "gpt-4o-mini" }), request),
      key(identifier, { ...request, structured: Answer.structured }),
      key(identifier, { ...request, structured: AnswerToo.structured }),
      key(identifier, request, 1),
      key(withSetting({ base_url: "http://localhost:8000/v1" }), request),
      key(withSetting({ base_url: "http://localhost:8001/v1" }), request),
      key(identifier, { prompt: "Hi", params: request.params })
    ]
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1)
  })

  it("changes with the tools and the tool choice; without tools it is as before", () => {
    const weather = { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }
    const tools = { ...request, tools: [weather] }
    const variants = [
      key(identifier, tools),
      key(identifier, { ...request, tools: [{ ...weather, name: "forecast" }] }),
      key(identifier, { ...request, tools: [{ ...weather, description: "Today's weather" }] }),
      key(identifier, { ...request, tools: [{ ...weather, parameters: { type: "object" } }] }),
      key(identifier, { ...tools, toolChoice: "required" }),
      key(identifier, { ...tools, toolChoice: { tool: "weather" } }),
      key(identifier, { ...tools, toolChoice: "none" })
    ]
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1)
    expect(key(identifier, { ...request, tools: [weather] })).toBe(variants[0])
    // The key of a request without tools did not change when tools were added to keys (entries stay readable).
    expect(base).toBe(key(identifier, { ...request, tools: undefined as never }))
  })

  it.effect("a pipeline's answers with and without tools are cached apart", () =>
    Effect.gen(function*() {
      const Clock = Tool.make("clock", { success: Schema.String })
      const toolkit = Toolkit.make(Clock)
      const plain = ChatPipeline.make("What time is it?").pipe(ChatPipeline.withCache("readwrite"))
      const first = yield* ChatPipeline.run(plain)
      const withTools = yield* plain.pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run(),
        Effect.provide(toolkit.toLayer({ clock: () => Effect.succeed("noon") }))
      )
      expect(first.text).toBe("plain")
      expect(withTools.text).toBe("with tools")
      expect(withTools.metadata["cached"]).toBeUndefined()
      expect(yield* calls).toBe(2)
      const again = yield* plain.pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run(),
        Effect.provide(toolkit.toLayer({ clock: () => Effect.succeed("noon") }))
      )
      expect(again.metadata["cached"]).toBe(true)
      expect(yield* calls).toBe(2)
    }).pipe(Effect.provide([
      MockGenerator.layer((request) => request._tag === "chat" && request.tools !== undefined ? "with tools" : "plain"),
      ResponseCache.layerMemory
    ])))

  it("merges the identifier's params like the request would be sent", () => {
    const withTemperature = Identifier.make({ provider: "openai", model: "gpt-4o-mini", params: { temperature: 0 } })
    expect(key(withTemperature, { ...request, params: GenerateParams.empty })).toBe(base)
  })

  it("does not change with the API key, engine settings or the timeout", () => {
    expect(key(withSetting({ api_key: Redacted.make("sk-one-000000000000") }), request)).toBe(base)
    expect(key(withSetting({ api_key: Redacted.make("sk-two-111111111111"), rpm: 60 }), request)).toBe(base)
    expect(key(identifier, { ...request, params: GenerateParams.make({ temperature: 0, timeout: 30 }) })).toBe(base)
  })

  it("holds no secret of a base URL: its credentials do not change it", () => {
    const url = (credentials: string) =>
      withSetting({ base_url: Redacted.make(`https://${credentials}proxy.example/v1`) })
    expect(key(url("bob:hunter2@"), request)).toBe(key(url("alice:swordfish@"), request))
    expect(key(url("bob:hunter2@"), request)).toBe(key(url(""), request))
    const query = (secret: string) => withSetting({ base_url: `https://proxy.example/v1?key=${secret}&region=eu` })
    expect(key(query("abc"), request)).toBe(key(query("def"), request))
  })
})

describe("the store", () => {
  const counting = Effect.gen(function*() {
    const writes = yield* Ref.make<ReadonlyArray<string>>([])
    const store: ResponseCache.Store = {
      get: () => Effect.succeed(Option.none()),
      set: (_key, generation) => Ref.update(writes, (all) => [...all, generation.choices[0]!.text])
    }
    return { writes, layer: Layer.succeed(ResponseCache.ResponseCache, store) }
  })

  it.effect("stores only the answer: no rate-limit state, no attempts", () =>
    Effect.gen(function*() {
      const cache = yield* ResponseCache.ResponseCache
      const generation = new Generation.Generation({
        choices: [new Generation.Choice({ text: "hi", stopReason: "stop" })],
        usage: new Usage.Usage({ inputTokens: 1, outputTokens: 2 }),
        attempts: 3
      })
      const generator = yield* ResponseCache.wrap({
        identifier: Identifier.make({ provider: "mock", model: "m" }),
        generate: () => Effect.succeed(generation)
      }, "readwrite")
      const request = { messages: [Message.user("x")], params: GenerateParams.empty }
      yield* generator.generate(request)
      const hit = yield* generator.generate(request)
      expect(hit.cached).toBe(true)
      expect(hit.attempts).toBeUndefined()
      expect(hit.usage.outputTokens).toBe(2)
      const stored = yield* cache.get(yield* ResponseCache.keyOf(generator.identifier, request))
      expect(Option.map(stored, (g) => [g.attempts, g.cached])).toEqual(Option.some([undefined, undefined]))
    }).pipe(Effect.provide(ResponseCache.layerMemory)))

  it.effect("a store that fails does not fail the batch: a failed read is a miss, logged", () =>
    Effect.gen(function*() {
      const broken: ResponseCache.Store = {
        get: (key) => Effect.fail(new ResponseCacheError({ operation: "read", store: "test", reason: `no ${key}` })),
        set: () => Effect.fail(new ResponseCacheError({ operation: "write", store: "test", reason: "full" }))
      }
      const { rows } = yield* Batch.run(items, { cache: "readwrite" }).pipe(
        Effect.provideService(ResponseCache.ResponseCache, broken)
      )
      expect(rows.map((row) => row.output)).toEqual(["Say alpha", "Say beta", "Say gamma"])
      expect(yield* calls).toBe(3)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("Generator.chat through a wrapped generator: a hit records no usage, no attempts, cached", () =>
    Effect.gen(function*() {
      const { layer, writes } = yield* counting
      const chat = yield* Effect.scoped(Effect.gen(function*() {
        const generator = yield* Generator.make("mock!echo").pipe(Effect.flatMap(ResponseCache.wrap("write")))
        return yield* Generator.chat("Hello").pipe(Effect.provideService(Generator.Generator, generator))
      })).pipe(Effect.provide(layer))
      expect(yield* Ref.get(writes)).toEqual(["Hello"])
      expect(chat.metadata).toEqual({})
      const hit = yield* Effect.scoped(Effect.gen(function*() {
        const generator = yield* Generator.make("mock!echo").pipe(Effect.flatMap(ResponseCache.wrap("readwrite")))
        yield* Generator.chat("Hello").pipe(Effect.provideService(Generator.Generator, generator))
        return yield* Generator.chat("Hello").pipe(Effect.provideService(Generator.Generator, generator))
      })).pipe(Effect.provide(ResponseCache.layerMemory))
      expect(hit.metadata).toEqual({ cached: true })
      expect(hit.attempts).toBe(0)
      expect(hit.usage.totalTokens).toBe(0)
    }))

  it.effect("a stream is stored when it completes and replayed from the cache", () =>
    Effect.gen(function*() {
      const texts = Effect.scoped(Effect.gen(function*() {
        const generator = yield* Generator.make("mock!echo").pipe(Effect.flatMap(ResponseCache.wrap("readwrite")))
        return yield* Generator.stream({ messages: [Message.user("one two three")], params: GenerateParams.empty })
          .pipe(
            Stream.runCollect,
            Effect.provideService(Generator.Generator, generator)
          )
      }))
      const first = yield* texts
      const second = yield* texts
      const text = (parts: ReadonlyArray<Generation.StreamPart>) =>
        parts.map((part) => part._tag === "Delta" ? part.text : "").join("")
      expect(text(second)).toBe(text(first))
      expect(text(second)).toBe("one two three")
      const done = second.at(-1)
      expect(done?._tag === "Done" && done.generation.cached).toBe(true)
    }).pipe(Effect.provide(ResponseCache.layerMemory)))

  it.effect("entries expire after their time to live", () =>
    Effect.gen(function*() {
      yield* Batch.run(items, { cache: "readwrite" })
      yield* TestClock.adjust("59 minutes")
      yield* Batch.run(items, { cache: "readwrite" })
      expect(yield* calls).toBe(3)
      yield* TestClock.adjust("2 minutes")
      yield* Batch.run(items, { cache: "readwrite" })
      expect(yield* calls).toBe(6)
    }).pipe(Effect.provide([
      MockGenerator.echo(),
      ResponseCache.layerWith({ timeToLive: "1 hour" }).pipe(Layer.provide(Persistence.layerBackingMemory))
    ])))
})

/** The services an Effect (or a Stream) needs, as a type to compare. */
const servicesOf = <A, E, R>(_: Effect.Effect<A, E, R>) => expectTypeOf<R>()
const streamServicesOf = <A, E, R>(_: Stream.Stream<A, E, R>) => expectTypeOf<R>()

describe("types", () => {
  it("a cache mode other than off requires the ResponseCache", () => {
    servicesOf(Batch.run(items)).toEqualTypeOf<Generator.Generator>()
    servicesOf(Batch.run(items, { cache: "readwrite" })).toEqualTypeOf<
      Generator.Generator | ResponseCache.ResponseCache
    >()
    streamServicesOf(Batch.stream(items, { cache: "off" })).toEqualTypeOf<Generator.Generator>()
    streamServicesOf(Batch.stream(items, { cache: "read" as ResponseCache.Mode })).toEqualTypeOf<
      Generator.Generator | ResponseCache.ResponseCache
    >()
    servicesOf(ChatPipeline.make("Hi").pipe(ChatPipeline.withCache("read"), ChatPipeline.run())).toEqualTypeOf<
      Generator.Generator | ResponseCache.ResponseCache
    >()
    servicesOf(ChatPipeline.make("Hi").pipe(ChatPipeline.withCache("off"), ChatPipeline.run())).toEqualTypeOf<
      Generator.Generator
    >()
  })
})
