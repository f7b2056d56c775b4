/**
 * ClusterBatch on effect's in-memory TestRunner: chunking and order, exactly-once rows when chunks are sent again,
 * items with rows skipped, stops and resumes, job settings, and the errors a coordinator can meet.
 */
import { ClusterBatch, RowStore, SharedBudget } from "@capstan/cluster"
import {
  AuthenticationError,
  Batch,
  ChatPipeline,
  Dataset,
  Generator,
  Identifier,
  MissingApiKey,
  Model,
  RateLimiter,
  Template
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestRunner } from "effect/cluster"
import { TestClock } from "effect/testing"

const items = (n: number) =>
  Effect.runSync(
    Dataset.validate(
      Template.make("Say {word}"),
      Array.from({ length: n }, (_, i) => ({ id: `i${i}`, word: `w${i}` }))
    )
  )

const Echo = ClusterBatch.make("echo")
const EchoTwice = ClusterBatch.make("echo-twice", { params: { n: 2 } })
const Answer = ClusterBatch.make("answer", { parse: Model.Answer, stopAfter: 3 })

/** Runners in these tests answer with the `Generator` in context (a MockGenerator that counts its calls). */
const fromContext = { generator: () => Generator.Generator.use(Effect.succeed) }

const cluster = Layer.mergeAll(TestRunner.layer, RowStore.layerMemory, SharedBudget.layerMemory)
const clusterWithMock = Layer.mergeAll(cluster, MockGenerator.echo())

describe("ClusterBatch on the in-memory TestRunner", () => {
  it.effect("splits items into chunks and gives one row per item and choice, in input order", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* ClusterBatch.run(Echo, items(30), {
        batchId: "order",
        generator: "mock!echo,n=2",
        chunkSize: 7
      })
      expect(rows.map((row) => [row.index, row.choice])).toEqual(
        items(30).flatMap((_, i) => [[i, 0], [i, 1]])
      )
      expect(rows.map((row) => row.id)).toEqual(items(30).flatMap((item) => [item.id, item.id]))
      expect(rows.every((row) => row.output === `Say w${row.index}`)).toBe(true)
      expect(summary).toMatchObject({ items: 30, rows: 60, ok: 60, failed: 0 })
    }).pipe(Effect.provide(ClusterBatch.layer(Echo).pipe(Layer.provideMerge(cluster)))))

  it.effect("a batch sent again is de-duplicated by its chunks' keys: nothing is generated twice", () =>
    Effect.gen(function*() {
      const options = { batchId: "again", generator: "mock!echo", chunkSize: 10 }
      const first = yield* ClusterBatch.run(Echo, items(25), options)
      const second = yield* ClusterBatch.run(Echo, items(25), options)
      expect(yield* MockGenerator.calls).toBe(25)
      expect(second.rows.map((row) => Batch.toJsonLine(row))).toEqual(first.rows.map((row) => Batch.toJsonLine(row)))
    }).pipe(
      Effect.provide(ClusterBatch.layer(Echo, fromContext).pipe(Layer.provideMerge(clusterWithMock)))
    ))

  it.effect("items that already have rows are skipped: a redelivered chunk sends only the rest", () =>
    Effect.gen(function*() {
      const store = yield* RowStore.RowStore
      // Rows of items 0..4 written by an earlier delivery, which then died.
      const earlier = yield* Batch.run(items(5)).pipe(Effect.provide(MockGenerator.fixed("earlier")))
      expect(yield* store.write("redelivered", earlier.rows)).toBe(5)
      expect(yield* store.write("redelivered", earlier.rows)).toBe(0)
      const { rows } = yield* ClusterBatch.run(Echo, items(12), {
        batchId: "redelivered",
        generator: "mock!echo",
        chunkSize: 6
      })
      expect(yield* MockGenerator.calls).toBe(7)
      expect(rows.map((row) => row.output)).toEqual([
        ...Array.from({ length: 5 }, () => "earlier"),
        ...items(12).slice(5).map((_, i) => `Say w${i + 5}`)
      ])
      expect(yield* store.count("redelivered")).toEqual({ rows: 12, items: 12, failed: 0 })
    }).pipe(
      Effect.provide(ClusterBatch.layer(Echo, fromContext).pipe(Layer.provideMerge(clusterWithMock)))
    ))

  it.effect("an item with only some of its choices stored runs again, and only its missing rows are kept", () =>
    Effect.gen(function*() {
      const store = yield* RowStore.RowStore
      const earlier = yield* Batch.run(items(3), { params: { n: 2 } }).pipe(
        Effect.provide(MockGenerator.fixed("earlier"))
      )
      // Item 0 complete, item 1 with its first choice only (its runner died between the two), item 2 nothing.
      yield* store.write(
        "partial",
        earlier.rows.filter((row) => row.index === 0 || (row.index === 1 && row.choice === 0))
      )
      expect([...(yield* store.completed("partial", { from: 0, to: 3 }))]).toEqual([0])
      const { rows } = yield* ClusterBatch.run(EchoTwice, items(3), { batchId: "partial", generator: "mock!echo" })
      expect(yield* MockGenerator.calls).toBe(2)
      expect(rows.map((row) => `${row.index}/${row.choice}:${row.output}`)).toEqual([
        "0/0:earlier",
        "0/1:earlier",
        "1/0:earlier",
        "1/1:Say w1",
        "2/0:Say w2",
        "2/1:Say w2"
      ])
    }).pipe(Effect.provide(ClusterBatch.layer(EchoTwice, fromContext).pipe(Layer.provideMerge(clusterWithMock)))))

  it.effect("a chunk that stops (every request refused) fails the run with BatchStopped; the same batch id resumes", () =>
    Effect.gen(function*() {
      const refused = new AuthenticationError({ provider: "mock", detail: "bad key", status: 401 })
      const serviceOf = (layer: Layer.Layer<Generator.Generator>) =>
        Effect.map(Layer.build(layer), (context) => Context.get(context, Generator.Generator))
      const broken = yield* serviceOf(MockGenerator.failing(refused))
      const fixed = yield* serviceOf(MockGenerator.fixed("<answer>ok</answer>"))
      // The key is fixed between the two runs: the second identifier (same batch id) is answered by a working mock.
      yield* Layer.build(ClusterBatch.layer(Answer, {
        generator: (identifier) => Effect.succeed(identifier.settings["delay_ms"] === undefined ? broken : fixed)
      }))
      const run = (generator: string) =>
        ClusterBatch.run(Answer, items(20), { batchId: "stopped", generator, chunkSize: 50 })
      const stopped = yield* Effect.flip(run("mock!echo"))
      expect(stopped).toMatchObject({ _tag: "BatchStopped", consecutive: 3 })
      const store = yield* RowStore.RowStore
      const before = yield* store.count("stopped")
      expect(before.rows).toBeLessThan(20)
      // The stopped chunk's key has a stored reply; it is sent under its next attempt and finishes what is missing.
      const resumed = yield* run("mock!echo,delay_ms=0")
      expect(resumed.rows).toHaveLength(20)
      expect(resumed.rows.filter((row) => row.error === undefined)).toHaveLength(20 - before.failed)
      expect(resumed.rows.filter((row) => row.parsed === "ok")).toHaveLength(20 - before.rows)
    }).pipe(Effect.provide(cluster)))

  it.effect("a job's settings travel with each chunk and shape what runners send", () =>
    Effect.gen(function*() {
      const Prefixed = ClusterBatch.makeWith("prefixed", {
        settings: Schema.Struct({ system: Schema.String, temperature: Schema.Number }),
        options: ({ system, temperature }) => ({
          pipeline: ChatPipeline.make([{ role: "system", content: system }]),
          params: { temperature }
        })
      })
      const { rows } = yield* ClusterBatch.run(Prefixed, items(3), {
        batchId: "settings",
        generator: "mock!echo",
        settings: { system: "Be brief.", temperature: 0.25 }
      }).pipe(Effect.provide(ClusterBatch.layer(Prefixed, fromContext)))
      expect(rows.map((row) => row.params.temperature)).toEqual([0.25, 0.25, 0.25])
      expect(rows.map((row) => row.messages.map((message) => message.text))).toEqual(
        items(3).map((_, i) => ["Be brief.", `Say w${i}`])
      )
    }).pipe(Effect.provide(clusterWithMock)))

  it.effect("refuses a generator identifier holding a secret before sending anything", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ClusterBatch.run(Echo, items(3), {
          batchId: "secret",
          generator: "mock!fixed,reply=sk-proj-0123456789abcdefghijklmnop"
        })
      )
      expect(error._tag).toBe("SecretInGenerator")
      expect(error.message).not.toContain("0123456789abcdefghijklmnop")
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(
      Effect.provide(ClusterBatch.layer(Echo, fromContext).pipe(Layer.provideMerge(clusterWithMock)))
    ))

  it.effect("a runner that cannot build the generator fails the chunk with ChunkFailed, saying why", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ClusterBatch.run(Echo, items(3), { batchId: "no-key", generator: "mock!echo" })
      )
      expect(error._tag).toBe("ChunkFailed")
      expect(error.message).toContain("cannot be built on this runner")
      expect(error.message).toContain("NO_SUCH_KEY")
    }).pipe(
      Effect.provide(
        ClusterBatch.layer(Echo, {
          generator: () => Effect.fail(new MissingApiKey({ provider: "mock", variable: "NO_SUCH_KEY" }))
        }).pipe(Layer.provideMerge(cluster))
      )
    ))

  it.effect("streams the rows through Batch.writeJsonl's shape: the same lines as a local run", () =>
    Effect.gen(function*() {
      const local = yield* Batch.run(items(8)).pipe(Effect.provide(MockGenerator.echo()))
      const clustered = yield* Stream.runCollect(
        ClusterBatch.stream(Echo, items(8), { batchId: "lines", generator: "mock!echo", chunkSize: 3 })
      )
      const stable = (
        row: Batch.Row
      ) => [row.id, row.index, row.choice, row.output, row.messages.map((message) => message.text)]
      expect(clustered.map(stable)).toEqual(local.rows.map(stable))
    }).pipe(Effect.provide(ClusterBatch.layer(Echo).pipe(Layer.provideMerge(cluster)))))

  it.live("a runner's chunksAtOnce holds across all its chunks (its state is per runner, not per chunk)", () =>
    Effect.gen(function*() {
      let open = 0
      let peak = 0
      // A model that notes how many of its calls overlap: with one chunk at once and one item at a time, never two.
      const model = MockGenerator.layer(() =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            peak = Math.max(peak, ++open)
          }),
          () => Effect.as(Effect.sleep("2 millis"), "ok"),
          () => Effect.sync(() => open--)
        )
      )
      const Job = ClusterBatch.make("overlap", { concurrency: 1 })
      const runner = ClusterBatch.layer(Job, {
        chunksAtOnce: 1,
        generator: () => Effect.map(Layer.build(model), (context) => Context.get(context, Generator.Generator))
      })
      const { summary } = yield* ClusterBatch.run(Job, items(24), {
        batchId: "b2",
        generator: "mock!overlap",
        chunkSize: 4
      }).pipe(Effect.provide(runner))
      expect(summary.ok).toBe(24)
      expect(peak).toBe(1)
    }).pipe(Effect.provide(cluster)))
})

describe("SharedBudget", () => {
  it.effect("in memory: a burst goes at once, then one request per slot", () =>
    Effect.gen(function*() {
      const budget = yield* SharedBudget.SharedBudget
      const waits = yield* Effect.forEach(
        Array.from({ length: 12 }),
        () => budget.reserve("mock!echo", { rpm: 600 }, 10)
      )
      // 600 rpm: a slot every 100 ms; a second's burst (10 requests) goes at once.
      expect(waits.map(Duration.toMillis)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 200])
      yield* TestClock.adjust("2 seconds")
      expect(Duration.toMillis(yield* budget.reserve("mock!echo", { rpm: 600 }, 10))).toBe(0)
      // Tokens: 6000 per minute is one per 10 ms; 500 tokens take 5 s of the schedule, a second of which is the burst.
      expect(Duration.toMillis(yield* budget.reserve("tokens", { tpm: 6000 }, 500))).toBe(4000)
    }).pipe(Effect.provide(SharedBudget.layerMemory)))

  it.effect("its limiter makes a request wait for its slot, under the runner's own limiter", () =>
    Effect.gen(function*() {
      const local = yield* RateLimiter.make({})
      const limiter = yield* SharedBudget.limiter(local, { key: "k", limits: { rpm: 60, burstSeconds: 1 } })
      const acquire = Effect.scoped(limiter.acquire(1))
      yield* acquire
      const second = yield* Effect.forkChild(acquire)
      yield* TestClock.adjust("500 millis")
      expect(second.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("600 millis")
      yield* Fiber.join(second)
    }).pipe(Effect.provide(SharedBudget.layerMemory)))

  it("split keeps 1/n of the identifier's rpm and tpm", () => {
    const identifier = Identifier.make({
      provider: "openai",
      model: "gpt-4o-mini",
      settings: { rpm: 6000, tpm: 900_000, max_connections: 50 }
    })
    const limits = SharedBudget.split(identifier, 3)
    expect([limits.rpm, limits.tpm, limits.maxConnections]).toEqual([2000, 300_000, 50])
  })
})
