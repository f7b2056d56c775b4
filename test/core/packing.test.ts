/**
 * Packed completions in the core: completion prompts of a batch gathered into `completeMany` requests
 * (`promptsPerRequest`), split back into one chat or row per prompt and choice, usage apportioned exactly.
 */
import {
  Batch,
  ChatPipeline,
  CompletionPipeline,
  Dataset,
  Engine,
  Generator,
  InvalidParams,
  Model,
  RateLimiter,
  RetryPolicy,
  ServerError,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"

const inputs = Array.from({ length: 10 }, (_, i) => `item ${i}${"!".repeat(5 * i)}`)

/** The prompts of each request the mock received, in call order. */
const packs = Effect.map(MockGenerator.requests, (requests) => {
  const byCall = new Map<number, Array<string>>()
  for (const r of requests) {
    if (r._tag === "completion") byCall.set(r.call, [...(byCall.get(r.call) ?? []), r.prompt])
  }
  return [...byCall.values()]
})

/** The usage the mock answered with for every request: each prompt's and answer's estimate. */
const answered = (prompts: ReadonlyArray<string>) =>
  prompts.reduce((sum, p) => sum + 2 * MockGenerator.estimateTokens(p), 0)

describe("Usage.apportion", () => {
  it("splits counts in proportion to weights, whole numbers summing to the total", () => {
    const request = new Usage.Usage({ inputTokens: 10, outputTokens: 7 })
    const parts = Usage.apportion(request, [{ input: 1, output: 1 }, { input: 3, output: 1 }])
    expect(parts.map((u) => [u.inputTokens, u.outputTokens])).toEqual([[3, 4], [7, 3]])
    const big = new Usage.Usage({ inputTokens: 1001, outputTokens: 999 })
    const weights = [5, 0, 17, 3, 3, 11].map((w, i) => ({ input: w, output: i + 1 }))
    const shares = Usage.apportion(big, weights)
    expect(Usage.sum(shares)).toEqual(big)
    expect(shares[1]!.inputTokens).toBe(0) // weight 0, no share
    expect(shares.every((u) => Number.isInteger(u.inputTokens) && Number.isInteger(u.outputTokens))).toBe(true)
  })

  it("shares equally when no part weighs anything, and keeps cached tokens within each part's input", () => {
    const parts = Usage.apportion(new Usage.Usage({ inputTokens: 5, outputTokens: 3 }), [
      { input: 0, output: 0 },
      { input: 0, output: 0 }
    ])
    expect(parts.map((u) => [u.inputTokens, u.outputTokens])).toEqual([[3, 2], [2, 1]])
    const cached = new Usage.Usage({ inputTokens: 6, outputTokens: 0, cachedInputTokens: 5 })
    const split = Usage.apportion(cached, [{ input: 1, output: 0 }, { input: 1, output: 0 }, { input: 1, output: 0 }])
    expect(Usage.sum(split)).toEqual(cached)
    for (const u of split) expect(u.cachedInputTokens!).toBeLessThanOrEqual(u.inputTokens)
    expect(Usage.apportion(cached, [])).toEqual([])
  })
})

describe("CompletionPipeline with promptsPerRequest", () => {
  it.effect("10 prompts, 4 per request: 3 requests, one chat per prompt in input order, usage as answered", () =>
    Effect.gen(function*() {
      const chats = yield* CompletionPipeline.make("Q: ").pipe(
        CompletionPipeline.runBatch(inputs, { promptsPerRequest: 4 })
      )
      const sent = yield* packs
      expect(yield* MockGenerator.calls).toBe(3)
      expect(sent.map((p) => p.length)).toEqual([4, 4, 2])
      expect(chats.map(CompletionPipeline.text)).toEqual(inputs.map((input) => `Q: ${input}`))
      expect(Usage.sum(chats.map((c) => c.usage)).totalTokens).toBe(answered(sent.flat()))
      expect(chats.reduce((sum, c) => sum + (c.attempts ?? 0), 0)).toBe(3)
      expect(chats.map((c) => c.metadata["packed"])).toEqual([
        ...[0, 1, 2, 3].map((position) => ({ prompts: 4, position })),
        ...[0, 1, 2, 3].map((position) => ({ prompts: 4, position })),
        ...[0, 1].map((position) => ({ prompts: 2, position }))
      ])
      // A longer prompt (and answer) gets a larger share of its request's usage.
      expect(chats[3]!.usage.inputTokens).toBeGreaterThan(chats[0]!.usage.inputTokens)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("runMany and stream pack too; promptsPerRequest 1 (the default) packs nothing", () =>
    Effect.gen(function*() {
      const pipeline = CompletionPipeline.make("Once upon a time")
      const many = yield* pipeline.pipe(CompletionPipeline.runMany(5, { promptsPerRequest: 8 }))
      expect(many.length).toBe(5)
      expect(yield* MockGenerator.calls).toBe(1)
      const streamed = yield* pipeline.pipe(
        CompletionPipeline.stream(["a", "b", "c"], { promptsPerRequest: 3 }),
        Stream.runCollect
      )
      expect(streamed.map((r) => r.index).sort()).toEqual([0, 1, 2])
      expect(yield* MockGenerator.calls).toBe(2)
      const alone = yield* pipeline.pipe(CompletionPipeline.runBatch(["a", "b"], { promptsPerRequest: 1 }))
      expect(yield* MockGenerator.calls).toBe(4)
      expect(alone.map((c) => c.metadata["packed"])).toEqual([undefined, undefined])
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("only prompts with the same params share a request", () =>
    Effect.gen(function*() {
      const chats = yield* CompletionPipeline.make().pipe(
        CompletionPipeline.runBatch(inputs, {
          params: inputs.map((_, i) => ({ maxTokens: i % 3 === 0 ? 50 : 60 })),
          promptsPerRequest: 8
        })
      )
      const requests = yield* MockGenerator.requests
      expect(yield* MockGenerator.calls).toBe(2)
      for (const call of [1, 2]) {
        const own = requests.filter((r) => r.call === call)
        expect(new Set(own.map((r) => r.params.maxTokens)).size).toBe(1)
      }
      expect(chats.map((c) => c.params.maxTokens)).toEqual(inputs.map((_, i) => (i % 3 === 0 ? 50 : 60)))
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a failed pack fails every prompt in it, its request counted once", () =>
    Effect.gen(function*() {
      const chats = yield* CompletionPipeline.make().pipe(
        CompletionPipeline.runBatch(inputs, { promptsPerRequest: 4, onFailed: "include" })
      )
      const failed = chats.filter((c) => c.failed)
      expect(failed.map((c) => CompletionPipeline.prompt(c))).toEqual(inputs.slice(4, 8))
      expect(failed.map((c) => c.error?._tag)).toEqual(["ServerError", "ServerError", "ServerError", "ServerError"])
      expect(failed.map((c) => c.attempts)).toEqual([1, 0, 0, 0])
      expect(failed.map((c) => c.metadata["packed"])).toEqual(
        [0, 1, 2, 3].map((position) => ({ prompts: 4, position }))
      )
      expect(chats.reduce((sum, c) => sum + (c.attempts ?? 0), 0)).toBe(yield* MockGenerator.calls)
      const error = yield* Effect.flip(
        CompletionPipeline.make().pipe(
          CompletionPipeline.runBatch(inputs.slice(0, 4), { promptsPerRequest: 4 })
        )
      )
      expect(error._tag).toBe("ItemFailed")
    }).pipe(
      Effect.provide(
        MockGenerator.failing(new ServerError({ provider: "mock", detail: "boom", status: 500 }), { every: 2 })
      )
    ))

  it.effect("a generator's maxPromptsPerRequest caps the packs; one that takes a single prompt sends each alone", () =>
    Effect.gen(function*() {
      const capped = yield* CompletionPipeline.make().pipe(
        CompletionPipeline.runBatch(inputs, { promptsPerRequest: 4 }),
        Effect.provide(MockGenerator.echo({ capabilities: { maxPromptsPerRequest: 3 } }))
      )
      expect(capped.map(CompletionPipeline.text)).toEqual(inputs)
      expect(capped.every((c) => c.warnings === undefined)).toBe(true)
      const alone = yield* Effect.gen(function*() {
        const chats = yield* CompletionPipeline.make().pipe(
          CompletionPipeline.runBatch(inputs, { promptsPerRequest: 4 })
        )
        return { chats, calls: yield* MockGenerator.calls }
      }).pipe(Effect.provide(MockGenerator.echo({ capabilities: { maxPromptsPerRequest: 1 } })))
      expect(alone.calls).toBe(10)
      expect(alone.chats.map(CompletionPipeline.text)).toEqual(inputs)
      for (const chat of alone.chats) {
        expect(chat.warnings).toEqual([
          "promptsPerRequest=4: mock!echo takes one prompt per request, so each prompt was sent alone"
        ])
      }
    }))

  it.effect("sizes of packs never exceed a generator's maxPromptsPerRequest", () =>
    Effect.gen(function*() {
      yield* CompletionPipeline.make().pipe(CompletionPipeline.runBatch(inputs, { promptsPerRequest: 4 }))
      const sent = yield* packs
      expect(sent.flat().sort()).toEqual([...inputs].sort())
      expect(Math.max(...sent.map((p) => p.length))).toBe(3)
    }).pipe(Effect.provide(MockGenerator.echo({ capabilities: { maxPromptsPerRequest: 3 } }))))

  it("promptsPerRequest must be a whole number >= 1, for a completion pipeline: refused when the run is built", () => {
    const completion = CompletionPipeline.make()
    expect(() => CompletionPipeline.runBatch(completion, ["a"], { promptsPerRequest: 0 })).toThrow(InvalidParams)
    expect(() => CompletionPipeline.runMany(completion, 2, { promptsPerRequest: 2.5 })).toThrow("promptsPerRequest")
    expect(() => ChatPipeline.runBatch(ChatPipeline.make(), ["a"], { promptsPerRequest: 4 })).toThrow(
      "a chat pipeline"
    )
    const items = Effect.runSync(Dataset.validate(Template.make("{x}"), [{ x: "1" }]))
    expect(() => Batch.stream(items, { promptsPerRequest: 4 })).toThrow("CompletionPipeline")
    expect(() => Batch.stream(items, { pipeline: completion, promptsPerRequest: -1 })).toThrow(InvalidParams)
  })
})

describe("Batch over completion templates", () => {
  const template = Template.make("Translate to French: {word}\nFrench:")
  const words = ["cat", "dog", "house", "tree", "sun"]

  it.effect("rows one per item and choice, in place, each with its share of the usage", () =>
    Effect.gen(function*() {
      const items = yield* Dataset.validate(template, words.map((word) => ({ word })))
      const { rows, summary } = yield* Batch.run(items, {
        pipeline: CompletionPipeline.make(),
        promptsPerRequest: 2,
        params: { n: 2 }
      })
      expect(yield* MockGenerator.calls).toBe(3)
      expect(rows.map((r) => [r.index, r.choice])).toEqual(words.flatMap((_, i) => [[i, 0], [i, 1]]))
      for (const row of rows) expect(row.output).toBe(Template.renderText(template, { word: words[row.index]! }))
      const sent = (yield* packs).flat()
      // The mock answers each choice with the prompt: n outputs per prompt.
      expect(summary.usage.totalTokens).toBe(sent.reduce((sum, p) => sum + 3 * MockGenerator.estimateTokens(p), 0))
      expect(summary.attempts).toBe(3)
      expect(rows.filter((r) => r.choice === 1).every((r) => r.usage.totalTokens === 0 && r.attempts === 0)).toBe(true)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a completion pipeline's parse step regenerates from the prompt; instructions end with a blank line", () =>
    Effect.gen(function*() {
      const items = yield* Dataset.validate(template, [{ word: "cat" }])
      const { rows } = yield* Batch.run(items, {
        pipeline: CompletionPipeline.make(),
        parse: Model.Answer,
        instruct: true
      })
      const requests = yield* MockGenerator.requests
      const prompts = requests.map((r) => (r._tag === "completion" ? r.prompt : ""))
      expect(prompts[0]).toBe(`${Model.Answer.instructions}\n\n${Template.renderText(template, { word: "cat" })}`)
      expect(prompts[1]).toBe(prompts[0]) // no dialog: the same prompt again
      expect(rows[0]!.parsed).toBe("chat")
      expect(rows[0]!.attempts).toBe(2)
    }).pipe(Effect.provide(MockGenerator.replies(["le chat", "<answer>chat</answer>"]))))
})

describe("the engine sends a pack as one request", () => {
  it.live("one limiter turn reserving the prompts' estimates together, retried whole, attempts counted once", () =>
    Effect.gen(function*() {
      const reserved: Array<number> = []
      const real = yield* RateLimiter.make({})
      const recording: RateLimiter.RateLimiter = {
        limits: real.limits,
        acquire: (tokens) => Effect.andThen(Effect.sync(() => reserved.push(tokens)), real.acquire(tokens)),
        settle: real.settle,
        observe: real.observe,
        restrict: real.restrict,
        estimate: real.estimate,
        state: real.state
      }
      // The first request fails (retryable), the retry answers.
      const mock = MockGenerator.layer((r) =>
        r.call === 1
          ? Effect.fail(new ServerError({ provider: "mock", detail: "once", status: 503 }))
          : r._tag === "completion"
          ? r.prompt
          : ""
      )
      const layer = mock.pipe(
        Generator.withEngine({
          limiter: recording,
          retry: new RetryPolicy.RetryPolicy({ baseDelayMs: 1, maxDelayMs: 2, maxRetries: 2 })
        }),
        Layer.provide(Engine.layerIsolated)
      )
      const prompts = ["one", "two", "three"]
      const { calls, chats } = yield* Effect.gen(function*() {
        const chats = yield* CompletionPipeline.make().pipe(
          CompletionPipeline.runBatch(prompts, { promptsPerRequest: 3, params: { maxTokens: 10 } })
        )
        return { chats, calls: yield* MockGenerator.calls }
      }).pipe(Effect.provide(layer))
      expect(chats.map(CompletionPipeline.text)).toEqual(prompts)
      expect(calls).toBe(2)
      const estimate = prompts.reduce((sum, p) => sum + Math.ceil(p.length / 4) + 10, 0)
      expect(reserved).toEqual([estimate, estimate])
      expect(chats.map((c) => c.attempts)).toEqual([2, 0, 0])
    }))
})
