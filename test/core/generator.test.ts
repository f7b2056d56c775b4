import {
  Chat,
  ChatPipeline,
  GenerateParams,
  Generation,
  Generator,
  GeneratorRegistry,
  InvalidRequest,
  Message,
  Model,
  ServerError,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"

describe("Generator.layer with the built-in mock provider", () => {
  it.effect("a user calls the generator and gets a Chat with usage that survives JSON", () =>
    Effect.gen(function*() {
      const chat = yield* Generator.chat([Message.system("Be brief"), Message.user("Hello there")], { maxTokens: 64 })
      expect(chat.last?.text).toBe("Hello there")
      expect(chat.usage.inputTokens).toBe(Math.ceil("Be brief\nHello there".length / 4))
      expect(chat.usage.outputTokens).toBe(Math.ceil("Hello there".length / 4))
      expect(chat.generator).toBe("mock!echo,temperature=0.3,max_tokens=64")
      expect(chat.params.temperature).toBe(0.3)
      const back = yield* Chat.decode(JSON.parse(JSON.stringify(Chat.encodeSync(chat))))
      expect(back).toEqual(chat)
    }).pipe(Effect.provide(Generator.layer("mock!echo,temperature=0.3"))))

  it.effect("request params override the identifier's base params", () =>
    Effect.gen(function*() {
      const chat = yield* Generator.chat("x", { temperature: 0.9 })
      expect(chat.params.temperature).toBe(0.9)
      expect(chat.params.seed).toBe(1)
      expect(chat.generator).toBe("mock!echo,temperature=0.9,seed=1")
    }).pipe(Effect.provide(Generator.layer("mock!echo,temperature=0.1,seed=1"))))

  it.effect("mock!fixed answers its reply; plain-text completion works", () =>
    Effect.gen(function*() {
      expect((yield* Generator.chat("x")).last?.text).toBe("forty-two")
      const completion = yield* Generator.complete({ prompt: "p", params: GenerateParams.empty })
      expect(completion.choices.map((c) => c.text)).toEqual(["forty-two"])
    }).pipe(Effect.provide(Generator.layer("mock!fixed,reply=forty-two"))))

  it.effect("mock!demo answers structured output with JSON that fits the schema, optional fields and all", () =>
    Effect.gen(function*() {
      const Review = Schema.Struct({
        sentiment: Schema.Literals(["positive", "negative"]),
        score: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5 })),
        note: Schema.optionalKey(Schema.String),
        tags: Schema.Array(Schema.String)
      })
      const chat = yield* ChatPipeline.make("Review: fine").pipe(
        ChatPipeline.untilParsedAs(Model.json(Review, { name: "review" }), { maxRounds: 1 }),
        ChatPipeline.run()
      )
      expect(Schema.is(Review)(chat.parsed)).toBe(true)
    }).pipe(Effect.provide(Generator.layer("mock!demo"))))

  it.effect("mock! can fail every k-th call with a named error", () =>
    Effect.gen(function*() {
      const results = yield* Effect.forEach([1, 2, 3, 4], () => Effect.result(Generator.chat("x")))
      expect(results.map((r) => r._tag)).toEqual(["Success", "Failure", "Success", "Failure"])
      const failure = results[1]
      if (failure?._tag !== "Failure") throw new Error("expected a failure")
      expect(failure.failure).toBeInstanceOf(InvalidRequest)
    }).pipe(Effect.provide(Generator.layer("mock!echo,fail_every=2,fail_with=InvalidRequest"))))

  it.effect("the engine retries a retryable mock failure (identifier max_retries)", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.forEach([1, 2], () => Generator.chat("x")))
      yield* TestClock.adjust("1 minute")
      const chats = yield* Fiber.join(fiber)
      expect(chats.map((c) => c.last?.text)).toEqual(["x", "x"])
    }).pipe(Effect.provide(Generator.layer("mock!echo,fail_every=2,fail_with=ServerError,max_retries=2"))))

  it.effect("EngineOptions.admit sees every request sent, retries included", () =>
    Effect.gen(function*() {
      let admitted = 0
      const layer = Generator.layer("mock!echo,fail_every=2,fail_with=ServerError,max_retries=2", {
        admit: (request) => Effect.andThen(Effect.sync(() => admitted++), request)
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2], () => Generator.chat("x")).pipe(Effect.provide(layer))
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      expect(admitted).toBe(3) // call 2 failed and was retried
    }))

  it.effect("bad mock settings fail the layer with a typed error", () =>
    Effect.gen(function*() {
      const unknownModel = yield* Effect.flip(Layer.build(Generator.layer("mock!nope")))
      expect(unknownModel._tag).toBe("InvalidIdentifier")
      expect(unknownModel.message).toContain(`no model "nope"`)
      const badError = yield* Effect.flip(Layer.build(Generator.layer("mock!echo,fail_every=1,fail_with=Nope")))
      expect(badError.message).toContain("fail_with")
      const badParam = yield* Effect.flip(Layer.build(Generator.layer("mock!echo,temperature=hot")))
      expect(badParam.message).toContain("temperature expects a number")
    }))

  it.effect("mock! delay uses Effect time", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(
        Generator.chat("slow").pipe(Effect.provide(Generator.layer("mock!echo,delay_ms=5000")))
      )
      yield* TestClock.adjust("4999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const chat = yield* Fiber.join(fiber)
      expect(chat.last?.text).toBe("slow")
      expect(chat.durationMs).toBe(5000)
    }))
})

describe("GeneratorRegistry", () => {
  const events: Array<string> = []
  const pooled: GeneratorRegistry.Provider = {
    name: "pooled",
    description: "a provider that holds a resource",
    settings: { size: { kind: "int", description: "pool size" } },
    env: [{ name: "POOLED_HOME", description: "where the pool lives" }],
    make: (identifier) =>
      Effect.gen(function*() {
        const size = Number(identifier.setting("size") ?? 1)
        yield* Effect.acquireRelease(
          Effect.sync(() => events.push(`acquire ${size}`)),
          () => Effect.sync(() => events.push("release"))
        )
        return {
          identifier,
          generate: (request) =>
            Effect.succeed(Generation.fromTexts([`pool(${size}): ${request.messages.length}`], Usage.empty)),
          complete: (request) => Effect.succeed(Generation.fromTexts([request.prompt], Usage.empty))
        }
      })
  }

  it.effect("a custom provider registered as a Layer acquires and releases its resources with the layer", () =>
    Effect.gen(function*() {
      events.length = 0
      const layer = Generator.layer("pooled!m,size=3").pipe(Layer.provide(GeneratorRegistry.register(pooled)))
      const chat = yield* Generator.chat("hi").pipe(Effect.provide(layer))
      expect(chat.last?.text).toBe("pool(3): 1")
      expect(chat.generator).toBe("pooled!m,size=3")
      expect(events).toEqual(["acquire 3", "release"])
    }))

  it.effect("an unregistered provider fails with the registered names", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Generator.layer("pooled!m")))
      expect(error._tag).toBe("InvalidIdentifier")
      expect(error.message).toContain("Registered providers: mock")
    }))

  it.effect("a later registration replaces a provider of the same name", () =>
    Effect.gen(function*() {
      const other: GeneratorRegistry.Provider = {
        ...pooled,
        make: (identifier) =>
          Effect.succeed({
            identifier,
            generate: () => Effect.succeed(Generation.fromTexts(["replaced"], Usage.empty)),
            complete: () => Effect.succeed(Generation.fromTexts(["replaced"], Usage.empty))
          })
      }
      const registry = Layer.provide(GeneratorRegistry.register(other), GeneratorRegistry.register(pooled))
      const providers = yield* GeneratorRegistry.providers.pipe(Effect.provide(registry))
      expect(providers.map((p) => p.name)).toEqual(["mock", "pooled"])
      const chat = yield* Generator.chat("hi").pipe(
        Effect.provide(Generator.layer("pooled!m").pipe(Layer.provide(registry)))
      )
      expect(chat.last?.text).toBe("replaced")
    }))
})

describe("MockGenerator", () => {
  it.effect("fixed records every request with merged params", () =>
    Effect.gen(function*() {
      yield* Generator.chat("one", { temperature: 0.2 })
      yield* Generator.complete({ prompt: "two", params: GenerateParams.make({ seed: 3 }) })
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r._tag)).toEqual(["chat", "completion"])
      expect(requests.map((r) => r.call)).toEqual([1, 2])
      const [first, second] = requests
      if (first?._tag !== "chat" || second?._tag !== "completion") throw new Error("bad log")
      expect(first.messages).toEqual([Message.user("one")])
      expect(first.params.temperature).toBe(0.2)
      expect(first.params.maxTokens).toBe(10) // from the identifier
      expect(second.prompt).toBe("two")
      expect(yield* MockGenerator.calls).toBe(2)
    }).pipe(Effect.provide(MockGenerator.fixed("ok", { identifier: "mock!fixed,max_tokens=10" }))))

  it.effect("replies answer in order and cycle", () =>
    Effect.gen(function*() {
      const answers = yield* Effect.forEach([1, 2, 3], () => Generator.chat("q"))
      expect(answers.map((c) => c.last?.text)).toEqual(["a", "b", "a"])
    }).pipe(Effect.provide(MockGenerator.replies(["a", "b"]))))

  it.effect("fn sees the text and params; a list answers one choice each", () =>
    Effect.gen(function*() {
      const generation = yield* Generator.generate({
        messages: [Message.user("hi")],
        params: GenerateParams.make({ n: 2, temperature: 1 })
      })
      expect(generation.choices.map((c) => c.text)).toEqual(["hi@1", "hi@1 again"])
      const single = yield* Generator.generate({ messages: [Message.user("x")], params: GenerateParams.make({ n: 3 }) })
      expect(single.choices).toHaveLength(3)
    }).pipe(Effect.provide(MockGenerator.fn((text, params) =>
      params.n === 2 ? [`${text}@${params.temperature}`, `${text}@${params.temperature} again`] : text
    ))))

  it.effect("a script may fail with a typed error through an Effect", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Generator.chat("x"))
      expect(error).toBeInstanceOf(ServerError)
    }).pipe(Effect.provide(MockGenerator.layer(() =>
      Effect.fail(new ServerError({ provider: "mock", detail: "", status: 500 }))
    ))))

  it.effect("failing fails always, or every k-th call", () =>
    Effect.gen(function*() {
      const boom = new ServerError({ provider: "mock", detail: "boom", status: 503 })
      const always = yield* Effect.exit(Generator.chat("x").pipe(Effect.provide(MockGenerator.failing(boom))))
      expect(Exit.isFailure(always)).toBe(true)
      const pattern = yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => Effect.result(Generator.chat("x"))).pipe(
        Effect.provide(MockGenerator.failing(boom, { every: 3 }))
      )
      expect(pattern.map((r) => r._tag)).toEqual(["Success", "Success", "Failure", "Success", "Success", "Failure"])
    }))

  it.effect("delayed answers after virtual time passes", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Generator.chat("later"))
      yield* TestClock.adjust("2 seconds")
      expect((yield* Fiber.join(fiber)).last?.text).toBe("later")
    }).pipe(Effect.provide(MockGenerator.delayed("2 seconds"))))

  it.effect("max_tokens truncates and reports stop reason length", () =>
    Effect.gen(function*() {
      const chat = yield* Generator.chat("x", { maxTokens: 2 })
      expect(chat.last?.text).toBe("abcdefgh")
      expect(chat.stopReason).toBe("length")
    }).pipe(Effect.provide(MockGenerator.fixed("abcdefghijklmnop"))))

  it("estimates tokens at four characters each", () => {
    expect(MockGenerator.estimateTokens("")).toBe(0)
    expect(MockGenerator.estimateTokens("12345")).toBe(2)
  })

  it("chats decode from unknown input with Schema", () => {
    expect(() => Schema.decodeUnknownSync(Chat.Chat)({})).toThrow()
  })
})
