import {
  Batch,
  ChatPipeline,
  Dataset,
  GenerateParams,
  Generation,
  type GenerationError,
  Generator,
  GeneratorRegistry,
  Identifier,
  InvalidRequest,
  ItemFailed,
  Message,
  Overloaded,
  RateLimited,
  ServerError,
  Template,
  Usage
} from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"

/** A provider whose models answer "<model>: <text>" or fail as their name says; it counts builds and calls. */
const counting = () => {
  const made: Array<string> = []
  const sent: Array<string> = []
  const provider: GeneratorRegistry.Provider = {
    name: "t",
    description: "test provider",
    models: /.*/,
    env: [],
    settings: {},
    make: (identifier) =>
      Effect.sync(() => {
        made.push(identifier.model)
        const answer = (
          request: { readonly messages: ReadonlyArray<Message.Message> }
        ): Effect.Effect<Generation.Generation, GenerationError> =>
          Effect.suspend((): Effect.Effect<Generation.Generation, GenerationError> => {
            sent.push(identifier.model)
            const model = identifier.model
            if (model.startsWith("limited")) {
              return Effect.fail(new RateLimited({ provider: "t", detail: "slow down", retryAfterMs: 1 }))
            }
            if (model.startsWith("overloaded")) {
              return Effect.fail(new Overloaded({ provider: "t", detail: "busy", status: 529 }))
            }
            if (model.startsWith("broken")) {
              return Effect.fail(new ServerError({ provider: "t", detail: "", status: 500 }))
            }
            if (model.startsWith("invalid")) {
              return Effect.fail(new InvalidRequest({ provider: "t", detail: "bad request", status: 400 }))
            }
            const text = `${model}: ${request.messages.at(-1)?.text ?? ""}`
            return Effect.succeed(Generation.fromTexts([text], new Usage.Usage({ inputTokens: 3, outputTokens: 2 })))
          })
        return {
          identifier,
          generate: answer,
          stream: (request) =>
            Stream.unwrap(Effect.map(answer(request), (generation) =>
              Stream.make(
                { _tag: "Delta" as const, index: 0, text: generation.choices[0]!.text },
                { _tag: "Done" as const, generation }
              )))
        }
      })
  }
  return { made, sent, registry: GeneratorRegistry.register(provider) }
}

const noRetries = { engine: { maxRetries: 0 } } as const

describe("Generator.fallback", () => {
  it.effect("the next generator answers when one fails with a matching error; the chat records it", () =>
    Effect.gen(function*() {
      const t = counting()
      const chat = yield* Generator.chat("hi", { temperature: 0.2 }).pipe(
        Effect.provide(
          Generator.fallback(["t!limited", "t!overloaded", "t!good,temperature=0.7,top_p=0.5"], noRetries).pipe(
            Layer.provide(t.registry)
          )
        )
      )
      assert.strictEqual(chat.text, "good: hi")
      // the request's params over the answering generator's own
      assert.strictEqual(chat.generator, "t!good,temperature=0.2,top_p=0.5")
      assert.strictEqual(chat.params.topP, 0.5)
      assert.deepStrictEqual(t.sent, ["limited", "overloaded", "good"])
    }))

  it.effect("a failure `when` does not accept is the request's: later generators are not asked", () =>
    Effect.gen(function*() {
      const t = counting()
      const error = yield* Effect.flip(
        Generator.chat("hi").pipe(
          Effect.provide(
            Generator.fallback(["t!invalid", "t!good"], noRetries).pipe(Layer.provide(t.registry))
          )
        )
      )
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.deepStrictEqual(t.sent, ["invalid"])
      const onlyLimits = yield* Effect.flip(
        Generator.chat("hi").pipe(
          Effect.provide(
            Generator.fallback(["t!overloaded", "t!good"], { ...noRetries, when: ["RateLimited"] }).pipe(
              Layer.provide(t.registry)
            )
          )
        )
      )
      assert.strictEqual(onlyLimits._tag, "Overloaded")
      const byPredicate = yield* Generator.chat("hi").pipe(
        Effect.provide(
          Generator.fallback(["t!invalid", "t!good"], { ...noRetries, when: (e) => e._tag === "InvalidRequest" })
            .pipe(Layer.provide(t.registry))
        )
      )
      assert.strictEqual(byPredicate.generator, "t!good")
    }))

  it.effect("the last generator's failure is the request's", () =>
    Effect.gen(function*() {
      const t = counting()
      const error = yield* Effect.flip(
        Generator.chat("hi").pipe(
          Effect.provide(Generator.fallback(["t!limited", "t!overloaded"], noRetries).pipe(Layer.provide(t.registry)))
        )
      )
      assert.strictEqual(error._tag, "Overloaded")
    }))

  it.live("each generator runs its own retries first, and is built once for a whole batch", () =>
    Effect.gen(function*() {
      const t = counting()
      const items = yield* Dataset.validate(
        Template.make("{word}"),
        ["a", "b", "c", "d", "e"].map((word) => ({ word }))
      )
      const { rows } = yield* Batch.run(items, { concurrency: 2 }).pipe(
        Effect.provide(
          Generator.fallback(["t!broken,max_retries=2", "t!good"], { when: ["ServerError"] }).pipe(
            Layer.provide(t.registry)
          )
        )
      )
      assert.deepStrictEqual(rows.map((row) => row.generator), Array(5).fill("t!good"))
      assert.deepStrictEqual(rows.map((row) => row.output), ["a", "b", "c", "d", "e"].map((s) => `good: ${s}`))
      // built once (not per item), and 3 requests (1 + 2 retries) to the first before each fallback
      assert.deepStrictEqual(t.made, ["broken", "good"])
      assert.strictEqual(t.sent.filter((m) => m === "broken").length, 15)
      assert.strictEqual(t.sent.filter((m) => m === "good").length, 5)
    }))

  it.effect("a stream falls back before its first text", () =>
    Effect.gen(function*() {
      const t = counting()
      const parts = yield* Generator.stream({ messages: [Message.user("hi")], params: GenerateParams.empty }).pipe(
        Stream.runCollect,
        Effect.provide(Generator.fallback(["t!limited", "t!good"], noRetries).pipe(Layer.provide(t.registry)))
      )
      const done = parts.at(-1)
      assert.strictEqual(done?._tag, "Done")
      assert.strictEqual(done?._tag === "Done" ? done.generation.answeredBy?.generator : undefined, "t!good")
      assert.deepStrictEqual(parts.filter((p) => p._tag === "Delta").map((p) => p.text), ["good: hi"])
    }))

  it.effect("fallbackOf combines built generators, declaring the smallest limits", () =>
    Effect.gen(function*() {
      const a = yield* Generator.make("mock!echo")
      const b = { ...(yield* Generator.make("mock!fixed,reply=b")), capabilities: { maxChoices: 1 } }
      const both = Generator.fallbackOf([a, b])
      assert.strictEqual(both.identifier.model, "echo")
      assert.strictEqual(both.capabilities?.maxChoices, 1)
      assert.strictEqual(both.batch, undefined)
    }).pipe(Effect.scoped))
})

describe("ChatPipeline.runOver", () => {
  it.effect("one chat per generator, in order, each recording its generator", () =>
    Effect.gen(function*() {
      const t = counting()
      const chats = yield* ChatPipeline.make("Name a colour.").pipe(
        ChatPipeline.runOver(["t!one", Identifier.make({ provider: "t", model: "two" }), "t!three"], {
          concurrency: 1
        }),
        Effect.provide(t.registry)
      )
      assert.deepStrictEqual(chats.map((c) => c.generator), ["t!one", "t!two", "t!three"])
      assert.deepStrictEqual(chats.map((c) => c.text), ["one", "two", "three"].map((m) => `${m}: Name a colour.`))
    }))

  it.effect("failures follow onFailed: fail names the generator's index, include keeps, skip drops", () =>
    Effect.gen(function*() {
      const t = counting()
      const generators = ["t!one", "t!invalid", "t!three"]
      const pipeline = ChatPipeline.make("hi")
      const failed = yield* Effect.flip(pipeline.pipe(ChatPipeline.runOver(generators), Effect.provide(t.registry)))
      assert.instanceOf(failed, ItemFailed)
      assert.strictEqual(failed instanceof ItemFailed ? failed.index : -1, 1)
      const included = yield* pipeline.pipe(
        ChatPipeline.runOver(generators, { onFailed: "include" }),
        Effect.provide(t.registry)
      )
      assert.deepStrictEqual(included.map((c) => c.failed), [false, true, false])
      const skipped = yield* pipeline.pipe(
        ChatPipeline.runOver(generators, { onFailed: "skip" }),
        Effect.provide(t.registry)
      )
      assert.deepStrictEqual(skipped.map((c) => c.generator), ["t!one", "t!three"])
    }))

  it.effect("map steps see every generator's chat; built generators are used as they are", () =>
    Effect.gen(function*() {
      const echo = yield* Generator.make("mock!echo")
      const seen: Array<number> = []
      const chats = yield* ChatPipeline.make("hello").pipe(
        ChatPipeline.map((all) => Effect.sync(() => (seen.push(all.length), all))),
        ChatPipeline.runOver([echo, "mock!fixed,reply=hey"])
      )
      assert.deepStrictEqual(chats.map((c) => c.text), ["hello", "hey"])
      assert.deepStrictEqual(seen, [2])
    }).pipe(Effect.scoped))

  it.effect("an identifier no provider parses fails before any request", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ChatPipeline.make("hi").pipe(ChatPipeline.runOver(["nope!model"])))
      assert.strictEqual(error._tag, "InvalidIdentifier")
    }))
})
