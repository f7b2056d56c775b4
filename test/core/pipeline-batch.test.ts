import { Chat, ChatPipeline, CompletionPipeline, Model, ServerError } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Data, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

const serverError = new ServerError({ provider: "mock", detail: "boom", status: 500 })

const lastUser = (request: MockGenerator.RecordedRequest): string =>
  request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : request.prompt

const contents = (chats: ReadonlyArray<Chat.Chat>) => chats.map((c) => c.last?.text)

describe("runBatch: scaling", () => {
  const pipeline = ChatPipeline.make({ role: "system", content: "SYS" })

  it.effect("inputs and params of equal length pair up, in input order", () =>
    Effect.gen(function*() {
      const chats = yield* ChatPipeline.runBatch(pipeline, ["a", "b", "c"], {
        params: [{ temperature: 0.1 }, { temperature: 0.2 }, { temperature: 0.3 }]
      })
      expect(contents(chats)).toEqual(["a", "b", "c"])
      expect(chats.map((c) => c.params.temperature)).toEqual([0.1, 0.2, 0.3])
      expect(chats.map((c) => c.generator)).toEqual([
        "mock!echo,temperature=0.1",
        "mock!echo,temperature=0.2",
        "mock!echo,temperature=0.3"
      ])
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("one input is broadcast over many params", () =>
    Effect.gen(function*() {
      const temperatures = [0.6, 0.9, 1.2, 1.5, 1.8]
      const chats = yield* ChatPipeline.runBatch(pipeline, ["fact"], {
        params: temperatures.map((temperature) => ({ temperature }))
      })
      expect(contents(chats)).toEqual(["fact", "fact", "fact", "fact", "fact"])
      expect(chats.map((c) => c.params.temperature)).toEqual(temperatures)
      expect(yield* MockGenerator.calls).toBe(5)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("one params set (in a list or alone) is broadcast over many inputs", () =>
    Effect.gen(function*() {
      const listed = yield* ChatPipeline.runBatch(pipeline, ["a", "b", "c"], { params: [{ seed: 7 }] })
      const alone = yield* pipeline.pipe(ChatPipeline.runBatch(["a", "b"], { params: { seed: 8 } }))
      expect(listed.map((c) => [c.last?.text, c.params.seed])).toEqual([["a", 7], ["b", 7], ["c", 7]])
      expect(alone.map((c) => [c.last?.text, c.params.seed])).toEqual([["a", 8], ["b", 8]])
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("any other mismatch fails before a single request, naming both lengths", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ChatPipeline.runBatch(pipeline, ["a", "b", "c"], { params: [{ seed: 1 }, { seed: 2 }], onFailed: "include" })
      )
      expect(error._tag).toBe("BatchSizeMismatch")
      expect(error._tag === "BatchSizeMismatch" && [error.inputs, error.params]).toEqual([3, 2])
      expect(error.message).toContain("3 inputs and 2 parameter sets")
      const streamed = yield* Effect.flip(
        Stream.runCollect(ChatPipeline.stream(pipeline, ["a", "b"], { params: [{}, {}, {}] }))
      )
      expect(streamed._tag).toBe("BatchSizeMismatch")
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a plain string is one input, never split; a nested list is one conversation", () =>
    Effect.gen(function*() {
      const one = yield* ChatPipeline.runBatch(pipeline, "hello")
      expect(contents(one)).toEqual(["hello"])
      const conversation = yield* ChatPipeline.runBatch(pipeline, [["first", "second"], "third"])
      expect(conversation.map((c) => c.messages.map((m) => m.text))).toEqual([
        ["SYS", "first", "second"],
        ["SYS", "third"]
      ])
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("the pipeline's own messages appear exactly once in every item", () =>
    Effect.gen(function*() {
      yield* ChatPipeline.runBatch(pipeline, ["a", "b"], { params: [{ seed: 1 }, { seed: 2 }] })
      yield* ChatPipeline.runMany(pipeline.pipe(ChatPipeline.add("m")), 2)
      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(4)
      for (const request of requests) {
        const messages = request._tag === "chat" ? request.messages : []
        expect(messages.filter((m) => m.text === "SYS").length).toBe(1)
        expect(messages[0]?.role).toBe("system")
        expect(messages.length).toBe(2)
      }
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("bad counts and concurrency throw when the run is built, before any request", () =>
    Effect.gen(function*() {
      expect(() => ChatPipeline.runMany(pipeline, -1, { onFailed: "skip" })).toThrow("runMany")
      expect(() => ChatPipeline.runBatch(pipeline, ["a"], { concurrency: 0 })).toThrow(
        "concurrency must be an integer >= 1"
      )
      expect(() => pipeline.pipe(ChatPipeline.runMany(1.5))).toThrow("must be an integer")
      expect(yield* ChatPipeline.runMany(pipeline, 0)).toEqual([])
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(MockGenerator.echo())))
})

/** Runs a pipeline three ways and checks the counts add up: ok + skipped + included failures = inputs. */
const countsAddUp = <E, R>(
  pipeline: ChatPipeline.ChatPipeline<E, R>,
  inputs: ReadonlyArray<string>,
  expectedFailed: ReadonlyArray<number>,
  expectedTag: string
) =>
  Effect.gen(function*() {
    const included = yield* ChatPipeline.runBatch(pipeline, inputs, { onFailed: "include", concurrency: 1 })
    expect(included.length).toBe(inputs.length)
    const failed = included.flatMap((c, i) => (c.failed ? [i] : []))
    expect(failed).toEqual(expectedFailed)
    for (const i of failed) expect(included[i]?.error?._tag).toBe(expectedTag)
    const skipped = yield* ChatPipeline.runBatch(pipeline, inputs, { onFailed: "skip", concurrency: 1 })
    expect(skipped.every((c) => !c.failed)).toBe(true)
    expect(skipped.length + failed.length).toBe(inputs.length)
    const error = yield* Effect.flip(ChatPipeline.runBatch(pipeline, inputs, { concurrency: 1 }))
    return error
  })

describe("onFailed covers every typed failure, and the counts add up", () => {
  const inputs = ["ok 0", "bad 1", "ok 2", "bad 3", "ok 4"]

  it.effect("generation errors", () =>
    Effect.gen(function*() {
      const error = yield* countsAddUp(ChatPipeline.make(), inputs, [1, 3], "ServerError")
      expect(error._tag).toBe("ItemFailed")
      if (error._tag !== "ItemFailed") return
      expect(error.index).toBe(1)
      expect(error.error._tag).toBe("ServerError")
      expect(error.message).toBe("Batch item 1 failed: Server error (HTTP 500) (mock): boom")
    }).pipe(
      Effect.provide(
        MockGenerator.layer((r) => (lastUser(r).startsWith("bad") ? Effect.fail(serverError) : lastUser(r)))
      )
    ))

  it.effect("parse exhaustion", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make().pipe(ChatPipeline.untilParsedAs(Model.Answer, { maxRounds: 2 }))
      const error = yield* countsAddUp(pipeline, inputs, [1, 3], "ExhaustedMaxRounds")
      expect(error._tag === "ItemFailed" && [error.index, error.error._tag]).toEqual([1, "ExhaustedMaxRounds"])
    }).pipe(
      Effect.provide(
        MockGenerator.layer((r) => {
          const text = r._tag === "chat" ? r.messages[0]?.text ?? "" : ""
          return text.startsWith("bad") ? "no tags" : `<answer>${text}</answer>`
        })
      )
    ))

  it.effect("errors raised in andThen callbacks", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make().pipe(
        ChatPipeline.andThen((chat) =>
          chat.last!.text.startsWith("bad") ? Effect.fail(new Boom({ message: chat.last!.text })) : Effect.void
        )
      )
      const error = yield* countsAddUp(pipeline, inputs, [1, 3], "StepFailed")
      // the callback's own error type, as raised
      expect(error._tag === "ItemFailed" && error.error._tag === "Boom" && error.error.message).toBe("bad 1")
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("errors raised in map callbacks concern every chat the map was given", () =>
    Effect.gen(function*() {
      let calls = 0
      const pipeline = ChatPipeline.make().pipe(
        ChatPipeline.map(() => (calls++, Effect.fail(new Boom({ message: "map failed" }))))
      )
      const included = yield* ChatPipeline.runBatch(pipeline, ["a", "b"], { onFailed: "include" })
      expect(included.map((c) => c.error?.message)).toEqual([
        "Pipeline step \"map\" failed: map failed",
        "Pipeline step \"map\" failed: map failed"
      ])
      expect(included.map((c) => c.last?.text)).toEqual(["a", "b"])
      expect(yield* ChatPipeline.runBatch(pipeline, ["a", "b"], { onFailed: "skip" })).toEqual([])
      const error = yield* Effect.flip(ChatPipeline.runBatch(pipeline, ["a", "b"]))
      expect(error._tag).toBe("Boom")
      expect(calls).toBe(3)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a map that does not answer one chat per chat is a defect (a bug in the callback), naming the counts", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make().pipe(ChatPipeline.map((chats) => Effect.succeed(chats.slice(1))))
      const exit = yield* Effect.exit(ChatPipeline.runBatch(pipeline, ["a", "b", "c"]))
      expect(exit._tag).toBe("Failure")
      if (exit._tag !== "Failure") return
      const defect = Cause.squash(exit.cause)
      expect(String((defect as { message?: string }).message)).toContain(
        "one Chat per chat it is given (3); it returned 2 values"
      )
    }).pipe(Effect.provide(MockGenerator.echo())))
})

describe("runMany and map", () => {
  it.effect("map sees every successful chat of the run once, in order, and may continue some", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const chats = yield* ChatPipeline.make("joke").pipe(
        ChatPipeline.map((chats) =>
          Effect.sync(() => seen.push(chats.length)).pipe(
            Effect.andThen(Effect.forEach(chats, (chat, i) =>
              i === 1
                ? ChatPipeline.continue(chat, "why?").pipe(ChatPipeline.meta({ questioned: true }), ChatPipeline.run())
                : Effect.succeed(chat)))
          )
        ),
        ChatPipeline.runMany(3, { onFailed: "include" })
      )
      expect(seen).toEqual([3])
      expect(chats.map((c) => c.metadata.questioned ?? false)).toEqual([false, true, false])
      expect(chats[1]?.all.map((m) => m.text)).toEqual(["joke", "joke", "why?", "why?"])
      expect(yield* MockGenerator.calls).toBe(4)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("under include, failed chats are not given to map and keep their place", () =>
    Effect.gen(function*() {
      let given: ReadonlyArray<string> = []
      const chats = yield* ChatPipeline.make().pipe(
        ChatPipeline.map((chats) => Effect.sync(() => (given = contents(chats) as Array<string>, chats))),
        ChatPipeline.runBatch(["a", "bad", "c"], { onFailed: "include" })
      )
      expect(given).toEqual(["a", "c"])
      expect(chats.map((c) => c.failed)).toEqual([false, true, false])
    }).pipe(
      Effect.provide(MockGenerator.layer((r) => (lastUser(r) === "bad" ? Effect.fail(serverError) : lastUser(r))))
    ))
})

describe("concurrency is a sliding window", () => {
  /** A mock whose call for input `i` takes `durations[i]` seconds, recording start times and the in-flight peak. */
  const timed = (durations: Record<string, number>) => {
    const starts: Record<string, number> = {}
    let inFlight = 0
    const state = { peak: 0, starts }
    const layer = MockGenerator.layer((r) => {
      const text = lastUser(r)
      return Effect.gen(function*() {
        starts[text] = yield* Clock.currentTimeMillis
        inFlight++
        state.peak = Math.max(state.peak, inFlight)
        yield* Effect.sleep(`${durations[text] ?? 1} seconds`)
        inFlight--
        return text
      })
    })
    return { layer, state }
  }

  it.effect("a new item starts as soon as one ends, never more than `concurrency` at once", () => {
    const { layer, state } = timed({ a: 10, b: 100, c: 10, d: 10, e: 10 })
    return Effect.gen(function*() {
      const fiber = yield* ChatPipeline.make().pipe(
        ChatPipeline.runBatch(["a", "b", "c", "d", "e"], { concurrency: 2 }),
        Effect.forkChild
      )
      yield* TestClock.adjust("200 seconds")
      const chats = yield* Fiber.join(fiber)
      expect(contents(chats)).toEqual(["a", "b", "c", "d", "e"])
      // waves would start c at 100 s; a sliding window starts it when a ends
      expect(state.starts).toEqual({ a: 0, b: 0, c: 10_000, d: 20_000, e: 30_000 })
      expect(state.peak).toBe(2)
      expect(chats[1]?.durationMs).toBe(100_000)
    }).pipe(Effect.provide(layer))
  })

  it.effect("the default window is 64", () => {
    const { layer, state } = timed({})
    return Effect.gen(function*() {
      const fiber = yield* ChatPipeline.make("x").pipe(ChatPipeline.runMany(100), Effect.forkChild)
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber)).length).toBe(100)
      expect(state.peak).toBe(64)
    }).pipe(Effect.provide(layer))
  })

  it.effect("stream yields results in completion order, each tagged with its input index", () => {
    const { layer } = timed({ slow: 30, fast: 10, mid: 20 })
    return Effect.gen(function*() {
      const fiber = yield* ChatPipeline.make().pipe(
        ChatPipeline.stream(["slow", "fast", "mid"]),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* TestClock.adjust("60 seconds")
      const results = yield* Fiber.join(fiber)
      expect(results.map((r) => [r.index, r.chat.last?.text])).toEqual([[1, "fast"], [2, "mid"], [0, "slow"]])
    }).pipe(Effect.provide(layer))
  })

  it.effect("stream applies onFailed: include emits failed chats, skip leaves them out, fail stops", () =>
    Effect.gen(function*() {
      const inputs = ["a", "bad", "c"]
      const included = yield* Stream.runCollect(
        ChatPipeline.stream(ChatPipeline.make(), inputs, { onFailed: "include", concurrency: 1 })
      )
      expect(included.map((r) => [r.index, r.chat.failed])).toEqual([[0, false], [1, true], [2, false]])
      const skipped = yield* Stream.runCollect(
        ChatPipeline.stream(ChatPipeline.make(), inputs, { onFailed: "skip", concurrency: 1 })
      )
      expect(skipped.map((r) => r.index)).toEqual([0, 2])
      const error = yield* Effect.flip(
        Stream.runCollect(ChatPipeline.stream(ChatPipeline.make(), inputs, { concurrency: 1 }))
      )
      expect(error._tag === "ItemFailed" && error.index).toBe(1)
    }).pipe(
      Effect.provide(MockGenerator.layer((r) => (lastUser(r) === "bad" ? Effect.fail(serverError) : lastUser(r))))
    ))

  it.effect("stream with a map step yields the mapped chats once every item is done", () => {
    const { layer } = timed({ slow: 30, fast: 10 })
    return Effect.gen(function*() {
      const fiber = yield* ChatPipeline.make().pipe(
        ChatPipeline.map((chats) =>
          Effect.succeed(chats.map((chat) => Chat.withMetadata(chat, { batch: chats.length })))
        ),
        ChatPipeline.stream(["slow", "fast"]),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* TestClock.adjust("60 seconds")
      const results = yield* Fiber.join(fiber)
      expect(results.map((r) => [r.index, r.chat.last?.text, r.chat.metadata.batch])).toEqual([
        [1, "fast", 2],
        [0, "slow", 2]
      ])
    }).pipe(Effect.provide(layer))
  })

  it.effect("CompletionPipeline batches through the same window", () => {
    const { layer, state } = timed({ a: 10, b: 100, c: 10 })
    return Effect.gen(function*() {
      const fiber = yield* CompletionPipeline.make().pipe(
        CompletionPipeline.runBatch(["a", "b", "c"], { concurrency: 2 }),
        Effect.forkChild
      )
      yield* TestClock.adjust("200 seconds")
      expect((yield* Fiber.join(fiber)).map(CompletionPipeline.text)).toEqual(["a", "b", "c"])
      expect(state.starts).toEqual({ a: 0, b: 0, c: 10_000 })
    }).pipe(Effect.provide(layer))
  })
})
