import {
  Chat,
  ChatPipeline,
  CompletionPipeline,
  Generation,
  type GenerationError,
  Generator,
  GeneratorRegistry,
  type MaxDepthExceeded,
  ServerError,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Layer, Option, Schedule } from "effect"

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

const usage = (inputTokens: number, outputTokens: number) => new Usage.Usage({ inputTokens, outputTokens })

const serverError = new ServerError({ provider: "mock", detail: "boom", status: 500 })

/** A provider answering with the params it was sent, so a test sees what actually went out. */
const paramsEcho: GeneratorRegistry.Provider = {
  name: "params",
  description: "answers with the JSON of the params it was sent",
  settings: {},
  env: [],
  make: (identifier) =>
    Effect.succeed({
      identifier,
      generate: (request) => Effect.succeed(Generation.fromTexts([JSON.stringify(request.params)], Usage.empty)),
      complete: (request) => Effect.succeed(Generation.fromTexts([JSON.stringify(request.params)], Usage.empty))
    })
}

describe("ChatPipeline: building", () => {
  it("is immutable and pipeable; data-first and data-last agree", () => {
    const base = ChatPipeline.make([{ role: "system", content: "Be terse." }])
    const a = base.pipe(
      ChatPipeline.add("Hi"),
      ChatPipeline.withParams({ temperature: 0.5 }),
      ChatPipeline.meta({ k: 1 })
    )
    const b = ChatPipeline.meta(ChatPipeline.withParams(ChatPipeline.add(base, "Hi"), { temperature: 0.5 }), { k: 1 })
    expect(base.messages.length).toBe(1)
    expect(base.params.temperature).toBeUndefined()
    expect(base.metadata).toEqual({})
    for (const p of [a, b]) {
      expect(p.messages.map((m) => m.role)).toEqual(["system", "user"])
      expect(p.params.temperature).toBe(0.5)
      expect(p.metadata).toEqual({ k: 1 })
    }
    expect(ChatPipeline.isChatPipeline(a)).toBe(true)
    expect(ChatPipeline.isChatPipeline(CompletionPipeline.make("x"))).toBe(false)
    expect(CompletionPipeline.isCompletionPipeline(a)).toBe(false)
    expect(String(a)).toContain("ChatPipeline")
  })

  it("withParams merges over earlier withParams", () => {
    const p = ChatPipeline.make("x").pipe(
      ChatPipeline.withParams({ temperature: 0.1, maxTokens: 5 }),
      ChatPipeline.withParams({ temperature: 0.7 })
    )
    expect(p.params.temperature).toBe(0.7)
    expect(p.params.maxTokens).toBe(5)
  })
})

describe("ChatPipeline.run", () => {
  it.effect("sends the pipeline's messages and records the generator, params and metadata", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make([{ role: "system", content: "Be terse." }, "Hello"]).pipe(
        ChatPipeline.withParams({ temperature: 0.3 }),
        ChatPipeline.meta({ experiment: "a" }),
        ChatPipeline.run()
      )
      expect(chat.messages.map((m) => m.text)).toEqual(["Be terse.", "Hello"])
      expect(chat.generated.map((m) => [m.role, m.text])).toEqual([["assistant", "Hello"]])
      expect(chat.stopReason).toBe("stop")
      expect(chat.generator).toBe("mock!echo,temperature=0.3")
      expect(chat.params.temperature).toBe(0.3)
      expect(chat.metadata).toEqual({ experiment: "a" })
      expect(chat.failed).toBe(false)
      const [request] = yield* MockGenerator.requests
      expect(request?._tag).toBe("chat")
      expect(request?.params.temperature).toBe(0.3)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("params precedence: generator < withParams < per-item, as sent and as recorded", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("x").pipe(ChatPipeline.withParams({ temperature: 0.5, maxTokens: 20 }))
      const [chat] = yield* ChatPipeline.runBatch(pipeline, "x", { params: [{ temperature: 0.9 }] })
      const sent = JSON.parse(chat!.last!.text)
      expect(sent).toEqual({ temperature: 0.9, maxTokens: 20, seed: 1 })
      expect([chat!.params.temperature, chat!.params.maxTokens, chat!.params.seed]).toEqual([0.9, 20, 1])
      expect(chat!.generator).toBe("params!m,temperature=0.9,max_tokens=20,seed=1")
      const plain = yield* ChatPipeline.run(ChatPipeline.make("x"))
      expect(JSON.parse(plain.last!.text)).toEqual({ temperature: 0.1, maxTokens: 10, seed: 1 })
      expect(plain.generator).toBe("params!m,temperature=0.1,max_tokens=10,seed=1")
    }).pipe(
      Effect.provide(
        Generator.layer("params!m,temperature=0.1,max_tokens=10,seed=1").pipe(
          Layer.provide(GeneratorRegistry.register(paramsEcho))
        )
      )
    ))

  it.effect("onFailed for a single run: fail raises the typed error, include keeps it, skip answers an Option", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("Hi")
      const error = yield* Effect.flip(ChatPipeline.run(pipeline))
      expect(error._tag).toBe("ServerError")
      const included = yield* ChatPipeline.run(pipeline, { onFailed: "include" })
      expect(included.failed).toBe(true)
      expect(included.error?._tag).toBe("ServerError")
      expect(included.generated).toEqual([])
      expect(included.messages.map((m) => m.text)).toEqual(["Hi"])
      expect(included.generator).toBe("mock!failing")
      const skipped = yield* ChatPipeline.run(pipeline, { onFailed: "skip" })
      expect(Option.isNone(skipped)).toBe(true)
    }).pipe(Effect.provide(MockGenerator.failing(serverError))))

  it.effect("a pipeline asks for one choice when the params say n > 1, and says so on the chat", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Hi").pipe(ChatPipeline.withParams({ n: 3 }), ChatPipeline.run())
      expect(chat.text).toBe("Hi")
      expect(chat.warnings).toEqual([
        "n=3: a pipeline keeps one chat per input, so it asked for one choice; sample with runMany or a Batch"
      ])
      expect((yield* MockGenerator.requests).map((r) => r.params.n)).toEqual([1])
    }).pipe(Effect.provide(MockGenerator.echo())))
})

describe("ChatPipeline.andThen", () => {
  it.effect("returns a replacement chat, nothing, or a continued pipeline whose chat replaces it", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const chat = yield* ChatPipeline.make("first").pipe(
        ChatPipeline.andThen((chat) => Effect.sync(() => void seen.push(chat.last!.text))),
        ChatPipeline.andThen((chat) => Effect.succeed(Chat.withMetadata(chat, { touched: true }))),
        ChatPipeline.andThen((chat) =>
          Effect.succeed(ChatPipeline.continue(chat, "second").pipe(ChatPipeline.meta({ continued: true })))
        ),
        ChatPipeline.run()
      )
      expect(seen).toEqual(["first"])
      expect(chat.conversation).toBe("[user]: first\n\n[assistant]: first\n\n[user]: second\n\n[assistant]: second")
      expect(chat.metadata).toEqual({ touched: true, continued: true })
      // two generations of 10 in / 1 out each: the continued chat carries both
      expect(chat.usage).toEqual(usage(20, 2))
    }).pipe(
      Effect.provide(
        MockGenerator.layer((r) =>
          Generation.fromTexts([r._tag === "chat" ? r.messages.at(-1)?.text ?? "" : r.prompt], usage(10, 1))
        )
      )
    ))

  it.effect("a callback that keeps continuing fails with MaxDepthExceeded after maxDepth levels", () =>
    Effect.gen(function*() {
      let calls = 0
      // the continued pipeline carries the same step, so it would continue forever
      type Loop = ChatPipeline.ChatPipeline<undefined, GenerationError | MaxDepthExceeded>
      const recursive: Loop = ChatPipeline.make("go").pipe(
        ChatPipeline.andThen(function loop(chat): Effect.Effect<Loop> {
          calls++
          return Effect.succeed(ChatPipeline.continue(chat, "again").pipe(ChatPipeline.andThen(loop, { maxDepth: 3 })))
        }, { maxDepth: 3 })
      )
      const error = yield* Effect.flip(ChatPipeline.run(recursive))
      expect(error._tag).toBe("MaxDepthExceeded")
      expect(calls).toBe(3)
      expect(yield* MockGenerator.calls).toBe(4)
      const included = yield* ChatPipeline.run(recursive, { onFailed: "include" })
      expect(included.error?._tag).toBe("MaxDepthExceeded")
      // the recorded error is encodable like every chat error
      const decoded = yield* Chat.decode(JSON.parse(JSON.stringify(Chat.encodeSync(included))))
      expect(decoded.error?.message).toBe(included.error?.message)
      // usage adds up over every level
      expect(included.usage.outputTokens).toBe(4 * MockGenerator.estimateTokens("again"))
    }).pipe(Effect.provide(MockGenerator.fixed("again"))))

  it.effect("a callback error is typed under fail and recorded as StepFailed under include", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("Hi").pipe(
        ChatPipeline.andThen(() => Effect.fail(new Boom({ message: "nope" })))
      )
      const error = yield* Effect.flip(ChatPipeline.run(pipeline))
      expect(error._tag).toBe("Boom")
      const chat = yield* ChatPipeline.run(pipeline, { onFailed: "include" })
      expect(chat.error?._tag).toBe("StepFailed")
      expect(chat.error?.message).toBe("Pipeline step \"andThen\" failed: nope")
      // the chat as it stood when the step failed
      expect(chat.last?.text).toBe("Hi")
    }).pipe(Effect.provide(MockGenerator.echo())))
})

describe("ChatPipeline: generator binding, wrap, fork", () => {
  it.effect("withGenerator runs the pipeline and its callbacks on the bound generator", () =>
    Effect.gen(function*() {
      const bound = yield* Generator.make("mock!fixed,reply=bound")
      const chat = yield* ChatPipeline.make("Hi").pipe(
        ChatPipeline.withGenerator(bound),
        ChatPipeline.andThen((chat) => Effect.succeed(ChatPipeline.continue(chat, "more"))),
        ChatPipeline.run()
      )
      expect(chat.all.map((m) => m.text)).toEqual(["Hi", "bound", "more", "bound"])
      expect(chat.generator).toBe("mock!fixed,reply=bound")
      expect(yield* MockGenerator.calls).toBe(0) // the one in context was never asked
    }).pipe(Effect.scoped, Effect.provide(MockGenerator.echo())))

  it.effect("wrap transforms every generation: a retry recovers, a foreign error is recorded as StepFailed", () =>
    Effect.gen(function*() {
      const retried = yield* ChatPipeline.make("Hi").pipe(
        ChatPipeline.wrap((generation) => Effect.retry(generation, Schedule.recurs(1))),
        ChatPipeline.run()
      )
      expect(retried.last?.text).toBe("Hi")
      expect(yield* MockGenerator.calls).toBe(2)
      const wrapped = ChatPipeline.make("Hi").pipe(
        ChatPipeline.wrap((generation) =>
          Effect.flatMap(generation, () => Effect.fail(new Boom({ message: "wrapped" })))
        )
      )
      const error = yield* Effect.flip(ChatPipeline.run(wrapped))
      expect(error._tag).toBe("Boom")
      const chat = yield* ChatPipeline.run(wrapped, { onFailed: "include" })
      expect(chat.error?._tag).toBe("StepFailed")
      expect(chat.error?._tag === "StepFailed" && chat.error.step).toBe("wrap")
    }).pipe(Effect.provide(MockGenerator.layer((r) => (r.call === 1 ? Effect.fail(serverError) : "Hi")))))

  it.effect("fork re-asks from the sent messages; continue carries the whole chat; both keep params and metadata", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Q").pipe(
        ChatPipeline.withParams({ temperature: 0.4 }),
        ChatPipeline.meta({ tag: "x" }),
        ChatPipeline.run()
      )
      const forked = ChatPipeline.fork(chat, "Q2")
      expect(forked.messages.map((m) => m.text)).toEqual(["Q", "Q2"])
      expect(ChatPipeline.fork()(chat).messages.map((m) => m.text)).toEqual(["Q"])
      const continued = ChatPipeline.continue("Why?")(chat)
      expect(continued.messages.map((m) => `${m.role}:${m.text}`)).toEqual(["user:Q", "assistant:Q", "user:Why?"])
      expect(continued.params.temperature).toBe(0.4)
      expect(continued.metadata).toEqual({ tag: "x" })
    }).pipe(Effect.provide(MockGenerator.echo())))
})

describe("CompletionPipeline", () => {
  it.effect("runs through the same engine on the generator's complete endpoint", () =>
    Effect.gen(function*() {
      const pipeline = CompletionPipeline.make("Translate: ").pipe(
        CompletionPipeline.withParams({ temperature: 0.2 }),
        CompletionPipeline.meta({ kind: "completion" })
      )
      const chats = yield* CompletionPipeline.runBatch(pipeline, ["cat", "dog"])
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r._tag)).toEqual(["completion", "completion"])
      expect(requests.map((r) => (r._tag === "completion" ? r.prompt : "")).sort()).toEqual([
        "Translate: cat",
        "Translate: dog"
      ])
      expect(chats.map(CompletionPipeline.prompt)).toEqual(["Translate: cat", "Translate: dog"])
      expect(chats.map(CompletionPipeline.text)).toEqual(["Translate: cat", "Translate: dog"])
      expect(chats[0]?.generator).toBe("mock!echo,temperature=0.2")
      expect(chats[0]?.metadata).toEqual({ kind: "completion" })
      const single = yield* CompletionPipeline.runBatch(pipeline, "bird")
      expect(single.map(CompletionPipeline.prompt)).toEqual(["Translate: bird"])
      const next = CompletionPipeline.continue(chats[0]!, " -> ")
      expect(next.prompt).toBe("Translate: catTranslate: cat -> ")
      expect(CompletionPipeline.fork(chats[0]!, "!").prompt).toBe("Translate: cat!")
      expect(pipeline.pipe(CompletionPipeline.add("x")).prompt).toBe("Translate: x")
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("andThen, onFailed and runMany behave as for chats", () =>
    Effect.gen(function*() {
      const pipeline = CompletionPipeline.make("Once").pipe(
        CompletionPipeline.andThen((chat) =>
          CompletionPipeline.text(chat) === "Once" ? Effect.fail(new Boom({ message: "no story" })) : Effect.void
        )
      )
      const chats = yield* CompletionPipeline.runMany(pipeline, 3, { onFailed: "include" })
      expect(chats.length).toBe(3)
      expect(chats.every((c) => c.error?._tag === "StepFailed")).toBe(true)
      const error = yield* Effect.flip(CompletionPipeline.run(pipeline))
      expect(error._tag).toBe("Boom")
    }).pipe(Effect.provide(MockGenerator.echo())))
})
