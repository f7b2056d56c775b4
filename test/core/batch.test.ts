import {
  AuthenticationError,
  Batch,
  Chat,
  ChatPipeline,
  Dataset,
  Extraction,
  Generator,
  InvalidRequest,
  Model,
  ServerError,
  Template
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, FileSystem, Layer, Option, Ref, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"

const reviews = [
  { id: "r1", review: "Great coffee" },
  { id: "r2", review: "Burnt and bitter" },
  { id: "r3", review: "Fine, I guess" }
]
const template = Template.make("Classify: {review}")
const items = Effect.runSync(Dataset.validate(template, reviews))

describe("Batch rows", () => {
  it.effect("carry their provenance: id, template, vars, messages sent, identifier, params, usage, attempts", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Batch.run(items, {
        pipeline: ChatPipeline.make({ role: "system", content: "Be terse." }).pipe(
          ChatPipeline.withParams({ temperature: 0.4 })
        ),
        params: { seed: 3 }
      })
      expect(rows.map((r) => r.id)).toEqual(["r1", "r2", "r3"])
      const row = rows[1]!
      expect(row.index).toBe(1)
      expect(row.choice).toBe(0)
      expect(row.template).toBe("Classify: {review}")
      expect(row.vars).toEqual({ review: "Burnt and bitter" })
      expect(row.messages.map((m) => m.toString())).toEqual([
        "[system]: Be terse.",
        "[user]: Classify: Burnt and bitter"
      ])
      expect(row.output).toBe("Classify: Burnt and bitter")
      expect(row.generator).toBe("mock!echo,temperature=0.4,seed=3")
      expect(row.params.seed).toBe(3)
      expect(row.usage.outputTokens).toBe(Math.ceil("Classify: Burnt and bitter".length / 4))
      expect(row.attempts).toBe(1)
      expect(row.ok).toBe(true)
      expect(summary).toMatchObject({ items: 3, rows: 3, ok: 3, failed: 0, attempts: 3 })
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r._tag === "chat" && r.messages.filter((m) => m.role === "system").length)).toEqual([
        1,
        1,
        1
      ])
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("n > 1 gives one row per choice from one request, usage on the first choice", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Batch.run(items, { params: { n: 2 } })
      expect(rows.map((r) => `${r.id}/${r.choice}`)).toEqual(["r1/0", "r1/1", "r2/0", "r2/1", "r3/0", "r3/1"])
      expect(rows.map((r) => r.output?.startsWith("choice"))).toEqual([true, true, true, true, true, true])
      expect(rows[1]!.output).toBe("choice 2 of Classify: Great coffee")
      expect(yield* MockGenerator.calls).toBe(3)
      expect(rows.filter((r) => r.choice === 1).every((r) => r.usage.totalTokens === 0 && r.attempts === 0)).toBe(true)
      const requests = yield* MockGenerator.requests
      expect(summary.usage.inputTokens).toBe(requests.reduce((sum, r) =>
        sum + MockGenerator.estimateTokens(r._tag === "chat" ? r.messages.map((m) => m.text).join("\n") : ""), 0))
    }).pipe(Effect.provide(MockGenerator.fn((text, params) =>
      Array.from({ length: params.n ?? 1 }, (_, i) =>
        `choice ${i + 1} of ${text}`)
    ))))

  it.effect("n from the generator's identifier gives one row per choice too", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run(items.slice(0, 1))
      expect(rows.map((r) => [r.choice, r.output, r.ok])).toEqual([[0, "Classify: Great coffee", true], [
        1,
        "Classify: Great coffee",
        true
      ]])
      expect(rows[0]!.generator).toBe("mock!echo,n=2")
    }).pipe(Effect.provide(Generator.layer("mock!echo,n=2"))))

  it.effect("a failed item is a row with its typed error; the counts add up and the stream never fails", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Batch.run(items)
      expect(rows.map((r) => r.error?._tag)).toEqual([undefined, "InvalidRequest", undefined])
      expect(rows[1]!.output).toBeUndefined()
      expect(rows[1]!.attempts).toBe(1)
      expect(summary).toMatchObject({ rows: 3, ok: 2, failed: 1, failedByKind: { InvalidRequest: 1 } })
    }).pipe(Effect.provide(
      MockGenerator.failing(new InvalidRequest({ provider: "mock", detail: "no", status: 400 }), { every: 2 })
    )))

  it.effect("n > 1: a failed request gives one row per choice, each with the error, usage and attempts on choice 0", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Batch.run(items.slice(0, 2), { params: { n: 3 } })
      expect(rows.map((r) => `${r.id}/${r.choice}:${r.error?._tag ?? "ok"}`)).toEqual([
        "r1/0:ok",
        "r1/1:ok",
        "r1/2:ok",
        "r2/0:InvalidRequest",
        "r2/1:InvalidRequest",
        "r2/2:InvalidRequest"
      ])
      expect(rows.filter((r) => r.id === "r2").map((r) => r.attempts)).toEqual([1, 0, 0])
      expect(summary).toMatchObject({ items: 2, rows: 6, ok: 3, failed: 3, attempts: 2 })
    }).pipe(Effect.provide(
      MockGenerator.failing(new InvalidRequest({ provider: "mock", detail: "no", status: 400 }), { every: 2 })
    )))

  it.effect("n > 1 on a generator that answers one choice per request: one request per choice, never Unsupported", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run(items.slice(0, 2), { params: { n: 3 } })
      expect(rows.map((r) => `${r.id}/${r.choice}:${r.output}`)).toEqual([
        "r1/0:answer 1",
        "r1/1:answer 2",
        "r1/2:answer 3",
        "r2/0:answer 4",
        "r2/1:answer 5",
        "r2/2:answer 6"
      ])
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r.params.n)).toEqual([1, 1, 1, 1, 1, 1])
      expect(rows.every((r) => r.attempts === 1 && r.usage.outputTokens > 0)).toBe(true)
      expect(rows[0]!.params.n).toBe(3)
    }).pipe(Effect.provide(Layer.unwrap(Effect.sync(() => {
      let calls = 0
      return MockGenerator.layer((request) => {
        if ((request.params.n ?? 1) > 1) {
          return Effect.fail(new InvalidRequest({ provider: "mock", detail: "one choice only" }))
        }
        return `answer ${++calls}`
      }, { capabilities: { maxChoices: 1 } })
    })))))

  it.effect("a server answering fewer choices than asked gives failed rows for the missing ones", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run(items.slice(0, 1), { params: { n: 3 } })
      expect(rows.map((r) => [r.choice, r.error?._tag ?? r.output, r.attempts])).toEqual([
        [0, "only one", 1],
        [1, "MalformedResponse", 0],
        [2, "MalformedResponse", 0]
      ])
      expect(rows[1]!.usage.totalTokens).toBe(0)
    }).pipe(Effect.provide(MockGenerator.layer(() => ["only one"]))))

  it.effect("stops sending after items in a row fail with an error every request meets (a refused key)", () =>
    Effect.gen(function*() {
      const many = yield* Dataset.validate(
        template,
        Array.from({ length: 40 }, (_, i) => ({ id: `k${i}`, review: `r${i}` }))
      )
      const rows: Array<Batch.Row> = []
      const error = yield* Batch.stream(many, { concurrency: 1 }).pipe(
        Stream.runForEach((row) => Effect.sync(() => rows.push(row))),
        Effect.flip
      )
      expect(error._tag).toBe("BatchStopped")
      if (error._tag !== "BatchStopped") return
      expect(error.consecutive).toBe(5)
      expect(error.error._tag).toBe("AuthenticationError")
      expect(error.message).toMatch(/5 requests in a row failed with AuthenticationError.*check the API key/)
      expect(rows.length).toBe(5)
      expect(yield* MockGenerator.calls).toBe(5)
    }).pipe(Effect.provide(
      MockGenerator.failing(new AuthenticationError({ provider: "mock", detail: "bad key", status: 401 }))
    )))

  it.effect("a success or another error breaks the streak; stopAfter: Infinity never stops", () =>
    Effect.gen(function*() {
      const many = yield* Dataset.validate(
        template,
        Array.from({ length: 12 }, (_, i) => ({ id: `k${i}`, review: `r${i}` }))
      )
      const { rows } = yield* Batch.run(many, { concurrency: 1, stopAfter: 3 })
      expect(rows.length).toBe(12)
      const all = yield* Batch.run(many, { concurrency: 1, stopAfter: Infinity })
      expect(all.rows.length).toBe(12)
    }).pipe(Effect.provide(
      // every third call succeeds: never three refusals in a row
      MockGenerator.layer((request) =>
        request.call % 3 === 0
          ? "ok"
          : Effect.fail(new AuthenticationError({ provider: "mock", detail: "bad key", status: 401 }))
      )
    )))

  it.effect("retryable failures are retried by the generator's engine and counted in attempts", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Batch.run(items, { concurrency: 1 }))
      yield* TestClock.adjust("1 minute")
      const { rows, summary } = yield* Fiber.join(fiber)
      expect(rows.every((r) => r.ok)).toBe(true)
      // calls: r1 ok, r2 fails then ok, r3 fails (4th call) then ok
      expect(rows.map((r) => r.attempts)).toEqual([1, 2, 2])
      expect(summary.attempts).toBe(5)
      expect(yield* MockGenerator.calls).toBe(5)
    }).pipe(Effect.provide(
      MockGenerator.failing(new ServerError({ provider: "mock", detail: "boom", status: 500 }), { every: 2 }).pipe(
        Generator.withEngine({ maxRetries: 3, share: false })
      )
    )))

  it.effect("parse with recovery: parsed JSON on the row, usage and attempts summed over rounds", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run([items[0]!], { parse: Model.CommaDelimitedAnswer })
      const row = rows[0]!
      expect(row.parsed).toEqual(["sweet", "rich"])
      expect(row.output).toBe("<comma-delimited-answer>sweet, rich</comma-delimited-answer>")
      expect(row.attempts).toBe(2)
      const requests = yield* MockGenerator.requests
      expect(requests).toHaveLength(2)
      expect(row.usage.outputTokens).toBe(
        MockGenerator.estimateTokens("no tags here") +
          MockGenerator.estimateTokens("<comma-delimited-answer>sweet, rich</comma-delimited-answer>")
      )
    }).pipe(
      Effect.provide(
        MockGenerator.replies(["no tags here", "<comma-delimited-answer>sweet, rich</comma-delimited-answer>"])
      )
    ))

  it.effect("parsed values are stored in their JSON form and decode back with parsedOf", () =>
    Effect.gen(function*() {
      const Price = Model.json(Schema.Struct({ amount: Schema.NumberFromString }), { name: "price" })
      const { rows } = yield* Batch.run([items[0]!], { parse: Price, instruct: true })
      expect(rows[0]!.parsed).toEqual({ amount: 42 })
      expect(Batch.parsedOf(Price)(rows[0]!)).toEqual(Option.some({ amount: 42 }))
      const [request] = yield* MockGenerator.requests
      expect(request?._tag === "chat" && request.messages.map((m) => m.role)).toEqual(["system", "user"])
      expect(request?._tag === "chat" && request.messages[0]?.text).toBe(Price.instructions)
    }).pipe(Effect.provide(MockGenerator.fixed(`{"amount": "42"}`))))

  it.effect("parse failures past maxRounds are rows with ExhaustedMaxRounds", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Batch.run(items, { parse: Model.YesNoAnswer, maxRounds: 2 })
      expect(rows.every((r) => r.error?._tag === "ExhaustedMaxRounds")).toBe(true)
      expect(rows.every((r) => r.attempts === 2)).toBe(true)
      expect(summary.failedByKind).toEqual({ ExhaustedMaxRounds: 3 })
    }).pipe(Effect.provide(MockGenerator.fixed("maybe"))))

  it.effect("rejects map steps and bad options when the batch is built, before any request", () =>
    Effect.gen(function*() {
      const mapped = ChatPipeline.make().pipe(ChatPipeline.map((chats) => Effect.succeed(chats)))
      expect(() => Batch.run(items, { pipeline: mapped })).toThrow("map steps")
      expect(() => Batch.stream(items, { concurrency: 0 })).toThrow("concurrency")
      expect(() => Batch.stream(items, { stopAfter: 0 })).toThrow("stopAfter")
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a bad item fails validation before any request is sent", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const valid = yield* Dataset.validate(template, [...reviews, { id: "r4", text: "oops" }])
        return yield* Batch.run(valid)
      })
      const error = yield* Effect.flip(program)
      expect(error._tag).toBe("TemplateMismatch")
      expect(error.message).toContain("r4")
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(MockGenerator.echo())))
})

describe("Batch.stream", () => {
  const delays: Record<string, number> = {
    "Classify: Great coffee": 300,
    "Classify: Burnt and bitter": 100,
    "Classify: Fine, I guess": 200
  }

  it.effect("yields rows as they complete, tagged with their input index", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Stream.runCollect(Batch.stream(items)))
      yield* TestClock.adjust("1 second")
      const rows = yield* Fiber.join(fiber)
      expect(rows.map((r) => [r.index, r.id])).toEqual([[1, "r2"], [2, "r3"], [0, "r1"]])
    }).pipe(Effect.provide(MockGenerator.layer((request) => {
      const text = request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : ""
      return Effect.as(Effect.sleep(delays[text] ?? 0), "ok")
    }))))

  it.effect("keeps a sliding window: never more in flight than the concurrency, refilled as one ends", () =>
    Effect.gen(function*() {
      const inFlight = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const layer = MockGenerator.layer(() =>
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(inFlight, (n) => n + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Effect.sleep("100 millis")
          yield* Ref.update(inFlight, (n) => n - 1)
          return "ok"
        })
      )
      const many = yield* Dataset.validate(template, Array.from({ length: 20 }, (_, i) => ({ review: `#${i}` })))
      const fiber = yield* Effect.forkChild(Batch.run(many, { concurrency: 4 }).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(inFlight)).toBe(4)
      yield* TestClock.adjust("1 second")
      const { rows } = yield* Fiber.join(fiber)
      expect(rows).toHaveLength(20)
      expect(yield* Ref.get(peak)).toBe(4)
    }))

  it.effect("interruption stops every request in flight and keeps the rows that finished", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make(0)
      const finished = yield* Ref.make<ReadonlyArray<string>>([])
      const layer = MockGenerator.layer((request) => {
        const text = request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : ""
        return Effect.sleep(text.endsWith("#0") || text.endsWith("#1") ? "10 millis" : "10 seconds").pipe(
          Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1)),
          Effect.as("ok")
        )
      })
      const many = yield* Dataset.validate(
        template,
        Array.from({ length: 6 }, (_, i) => ({ id: `i${i}`, review: `#${i}` }))
      )
      const fiber = yield* Effect.forkChild(
        Batch.stream(many, { concurrency: 4 }).pipe(
          Stream.runForEach((row) => Ref.update(finished, (ids) => [...ids, row.id])),
          Effect.provide(layer)
        )
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect([...(yield* Ref.get(finished))].sort()).toEqual(["i0", "i1"])
      // i2, i3 were in flight, then i4, i5 took the free places: all four are stopped, none left running
      expect(yield* Ref.get(interrupted)).toBe(4)
    }))
})

describe("Batch JSON Lines and summaries", () => {
  it.effect("rows encode to one JSON line and decode back, errors included", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run(items)
      for (const row of rows) {
        const line = Batch.toJsonLine(row)
        expect(line).not.toContain("\n")
        expect(yield* Batch.fromJsonLine(line)).toEqual(row)
      }
      const bad = yield* Effect.flip(Batch.fromJsonLine(`{"id": 1}`))
      expect(bad._tag).toBe("SchemaError")
    }).pipe(Effect.provide(
      MockGenerator.failing(new ServerError({ provider: "mock", detail: "x", status: 502 }), { every: 3 })
    )))

  it.live("writeJsonl appends rows to a file as they complete", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "capstan-batch-" })
      const path = `${dir}/rows.jsonl`
      const written = yield* Batch.stream(items).pipe(Batch.writeJsonl(path))
      const again = yield* Batch.stream(items.slice(0, 1)).pipe(Batch.writeJsonl(path, { append: true }))
      expect([written, again]).toEqual([3, 1])
      const lines = (yield* fs.readFileString(path)).trim().split("\n")
      expect(lines).toHaveLength(4)
      const decoded = yield* Effect.forEach(lines, Batch.fromJsonLine)
      expect(decoded.map((r) => r.id).sort()).toEqual(["r1", "r1", "r2", "r3"])
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(MockGenerator.echo(), NodeServices.layer))))

  it.effect("chats the engine assembles without re-parsing equal their JSON round trip", () =>
    Effect.gen(function*() {
      const chats = yield* ChatPipeline.make({ role: "system", content: "S" }).pipe(
        ChatPipeline.untilParsedAs(Model.YesNoAnswer, { maxRounds: 2 }),
        ChatPipeline.runBatch(["a", "b"], { params: [{ temperature: 0.1 }], onFailed: "include" })
      )
      for (const chat of chats) {
        expect(yield* Chat.decode(JSON.parse(JSON.stringify(Chat.encodeSync(chat))))).toEqual(chat)
      }
      expect(chats[1]!.error?._tag).toBe("ExhaustedMaxRounds")
    }).pipe(Effect.provide(MockGenerator.replies(["<yes-no-answer>yes</yes-no-answer>", "no tags", "still none"]))))

  it("summaries total failures by kind and price known models", () => {
    const rows = Effect.runSync(
      Batch.run(items).pipe(Effect.provide(
        MockGenerator.failing(new ServerError({ provider: "mock", detail: "x", status: 502 }), {
          every: 3,
          identifier: "openai!gpt-4o-mini"
        })
      ))
    ).rows
    const summary = Batch.summarize(rows, {
      prices: { "gpt-4o-mini": { inputPerMillion: 1_000_000, outputPerMillion: 0 } }
    })
    expect(summary.failedByKind).toEqual({ ServerError: 1 })
    expect(summary.cost).toBe(summary.usage.inputTokens)
    // Without prices of yours, the built-in list price; with none at all, no cost.
    expect(Batch.summarize(rows).cost).toBeGreaterThan(0)
    expect(Batch.summarize(rows, { prices: {}, builtInPrices: false }).cost).toBeUndefined()
    expect(Schema.decodeUnknownSync(Batch.Summary)(Schema.encodeSync(Batch.Summary)(summary))).toEqual(summary)
  })
})

describe("Extraction", () => {
  it.effect("extract asks for {value} JSON with native structured output and decodes it", () =>
    Effect.gen(function*() {
      const names = yield* Extraction.extract(Schema.Array(Schema.String), "Ada met Grace.", {
        instructions: "List the names."
      })
      expect(names).toEqual(["Ada", "Grace"])
      const [request] = yield* MockGenerator.requests
      if (request?._tag !== "chat") throw new Error("expected a chat request")
      expect(request.structured?.schema).toMatchObject({ type: "object", required: ["value"] })
      expect(request.messages[0]?.text).toContain("List the names.")
    }).pipe(Effect.provide(MockGenerator.fixed(`{"value": ["Ada", "Grace"]}`))))

  it.effect("extractWithChat gives the chat too, with the usage of every round", () =>
    Effect.gen(function*() {
      const { chat, value } = yield* Extraction.extractWithChat(Schema.Finite, "It costs 12 euros.")
      expect(value).toBe(12)
      expect(chat.attempts).toBe(2)
      const requests = yield* MockGenerator.requests
      expect(chat.usage.outputTokens).toBe(
        MockGenerator.estimateTokens("twelve") + MockGenerator.estimateTokens(`{"value": 12}`)
      )
      expect(requests).toHaveLength(2)
    }).pipe(Effect.provide(MockGenerator.replies(["twelve", `{"value": 12}`]))))

  it.effect("classify answers one of the labels, asking again after a bad answer", () =>
    Effect.gen(function*() {
      const label = yield* Extraction.classify(["spam", "ham"], "WIN A FREE CRUISE")
      expect(label).toBe("spam")
      expect(yield* MockGenerator.calls).toBe(2)
      const requests = yield* MockGenerator.requests
      const second = requests[1]
      expect(second?._tag === "chat" && second.messages.at(-1)?.text).toContain("value")
    }).pipe(Effect.provide(MockGenerator.replies([`{"value": "eggs"}`, `{"value": "spam"}`]))))

  it.effect("classify fails with ExhaustedMaxRounds when no answer fits", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Extraction.classify(["a", "b"], "x", { maxRounds: 2 }))
      expect(error._tag).toBe("ExhaustedMaxRounds")
    }).pipe(Effect.provide(MockGenerator.fixed(`{"value": "c"}`))))
})

describe("Batch.writeJsonl on interruption", () => {
  it.live("writes the rows that finished before the stream was interrupted", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "capstan-batch-" })
      const path = `${dir}/rows.jsonl`
      const layer = MockGenerator.layer((request) => {
        const text = request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : ""
        return Effect.as(Effect.sleep(text.endsWith("Great coffee") ? "1 millis" : "1 hour"), "ok")
      })
      const fiber = yield* Effect.forkChild(Batch.stream(items).pipe(Batch.writeJsonl(path), Effect.provide(layer)))
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(fiber)
      const lines = (yield* fs.readFileString(path)).trim().split("\n")
      expect(lines).toHaveLength(1)
      expect((yield* Batch.fromJsonLine(lines[0]!)).id).toBe("r1")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
