/**
 * A batch spread over several runner processes, on effect's cluster: the coordinator splits the items into chunks (a
 * few hundred each), sends each chunk as a persisted entity message keyed by batch id and chunk number, waits for
 * them, and reads the rows back in order; each runner handles its chunks with the ordinary batch engine
 * (`Batch.stream`: the rate limiter, the one retry layer, the pipeline) and writes every row to the {@link RowStore}.
 *
 * Guarantees: **rows are exactly once** — one row per `(batch, item, choice)`, whatever is delivered twice; **requests
 * are at least once** — a killed runner's chunks move to the others, which skip the items that have rows, so only the
 * requests in flight at the kill are sent again. A repeated send of a chunk (a restarted coordinator) is
 * de-duplicated by its key and waits for the first one's reply.
 *
 * A job ({@link make}) names what runners do with an item: the batch options (a pipeline, a parse model, params,
 * concurrency) that a local `Batch.run` takes. Runners register it ({@link layer}); coordinators run it
 * ({@link stream}, {@link run}) with a generator identifier, which each runner builds with its own keys.
 *
 * @since 0.3.0
 */
import {
  Batch,
  type BatchStopped,
  type Dataset,
  Engine,
  Generator,
  GeneratorRegistry,
  type Identifier,
  type InvalidIdentifier,
  RateLimiter
} from "@capstan/core"
import { type Cause, Effect, Layer, Queue, RcMap, Schedule, Schema, type Scope, Semaphore, Stream } from "effect"
import type { Sharding } from "effect/cluster"
import * as Internal from "./internal/chunk.js"
import * as RowStore from "./RowStore.js"
import * as SharedBudget from "./SharedBudget.js"

export { ChunkFailed, ClusterUnavailable, SecretInGenerator } from "./internal/chunk.js"

/**
 * What runners do with each item: the options of a local `Batch.stream`, except how requests are sent (always
 * realtime, by the runner's engine) and the response cache.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const options: ClusterBatch.JobOptions = { parse: Model.Answer, concurrency: 32, params: { temperature: 0 } }
 * ```
 * @since 0.3.0
 */
export type JobOptions<E = never, R = never> = Omit<Batch.Options<E, R>, "via" | "providerBatch" | "cache">

/**
 * A job: a name (the entity type its chunks are sent to), the settings a coordinator sends with each chunk (a
 * schema, so they travel through the message store), and the batch options a runner builds from them.
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * declare const job: ClusterBatch.Job
 * job.name // "summaries"
 * ```
 * @since 0.3.0
 */
export interface Job<Settings = null, E = never, R = never> {
  readonly name: string
  readonly entity: Internal.ChunkEntity
  readonly settings: Schema.Codec<Settings, Schema.Json>
  readonly options: (settings: Settings) => JobOptions<E, R>
}

/**
 * A job whose every chunk runs with the same batch options.
 *
 * @example
 * ```ts
 * import { Model } from "@capstan/core"
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * const Sentiment = ClusterBatch.make("sentiment", { parse: Model.Answer, concurrency: 32 })
 * ```
 * @since 0.3.0
 */
export const make = <E = never, R = never>(name: string, options: JobOptions<E, R> = {}): Job<null, E, R> => ({
  name,
  entity: Internal.entityOf(name),
  settings: Schema.Null,
  options: () => options
})

/**
 * A job whose options depend on settings the coordinator sends with the batch (e.g. which parse model a command line
 * chose), decoded on the runner with `settings`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * const Job = ClusterBatch.makeWith("tuned", {
 *   settings: Schema.Struct({ temperature: Schema.Number }),
 *   options: ({ temperature }) => ({ params: { temperature } })
 * })
 * ```
 * @since 0.3.0
 */
export const makeWith = <Settings, E = never, R = never>(name: string, options: {
  readonly settings: Schema.Codec<Settings, Schema.Json>
  readonly options: (settings: Settings) => JobOptions<E, R>
}): Job<Settings, E, R> => ({ name, entity: Internal.entityOf(name), ...options })

/**
 * How a runner shares the provider's limits with the other runners: `"shared"` (the default) reserves every request
 * from the {@link SharedBudget} in context, for the identifier's `rpm` and `tpm`; `{ split: n }` keeps `1/n` of them
 * (no shared store; learn the rest from the headers); `"local"` keeps the whole limits (one runner).
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const budget: ClusterBatch.Budget = { split: 3 }
 * ```
 * @since 0.3.0
 */
export type Budget = "shared" | "local" | { readonly split: number }

/**
 * A budget from its text: `shared`, `local` or `split:N` (N ≥ 1), as command lines and environment variables give it;
 * `undefined` for anything else.
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * ClusterBatch.budgetFromText("split:3") // { split: 3 }
 * ClusterBatch.budgetFromText("half") // undefined
 * ```
 * @since 0.3.0
 */
export const budgetFromText = (text: string): Budget | undefined => {
  if (text === "shared" || text === "local") return text
  const split = /^split:(\d+)$/.exec(text)
  return split !== null && Number(split[1]) >= 1 ? { split: Number(split[1]) } : undefined
}

/**
 * Options of a runner: its rate budget, and how many chunks it works on at once (default 2; each runs up to the
 * job's `concurrency` items at once). A chunk waiting for its turn stays in the message store.
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const options: ClusterBatch.RunnerOptions = { budget: "shared", chunksAtOnce: 4 }
 * ```
 * @since 0.3.0
 */
export interface RunnerOptions<B extends Budget = Budget, RG = never> {
  readonly budget?: B | undefined
  readonly chunksAtOnce?: number | undefined
  /**
   * How this runner gets a chunk's generator (default: built from the registry with `Generator.make`, under the
   * runner's budget), e.g. the `Generator` in context for tests on a `MockGenerator`.
   */
  readonly generator?:
    | ((
      identifier: Identifier.Identifier
    ) => Effect.Effect<Generator.Service, GeneratorRegistry.GeneratorInitError, RG | Scope.Scope>)
    | undefined
}

/** What a runner's layer needs for a budget: the shared store only for `"shared"`. */
type BudgetRequirement<B extends Budget> = B extends "shared" ? SharedBudget.SharedBudget : never

/** Generators are kept a minute after their last chunk: the next chunk of a batch reuses the client and limiter. */
const GENERATOR_IDLE = "1 minute"

/** A write the store refused is tried again before the chunk gives up (and is delivered again). */
const storeRetry = Schedule.max([Schedule.exponential("200 millis", 2), Schedule.recurs(6)])

/**
 * The runner side of a job: registers its entity with the sharding in context, so this process handles the chunks
 * of the shards it owns. Each chunk: the items without rows in the {@link RowStore} run through `Batch.stream` with
 * the job's options on the chunk's generator (built once per runner with the runner's keys, under its budget), and
 * their rows are written as they complete.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { TestRunner } from "effect/cluster"
 * import { ClusterBatch, RowStore, SharedBudget } from "@capstan/cluster"
 *
 * const Job = ClusterBatch.make("echo")
 * const runner = ClusterBatch.layer(Job).pipe(
 *   Layer.provideMerge(Layer.mergeAll(TestRunner.layer, RowStore.layerMemory, SharedBudget.layerMemory))
 * )
 * ```
 * @since 0.3.0
 */
export const layer = <Settings, E, R, B extends Budget = "shared", RG = never>(
  job: Job<Settings, E, R>,
  options: RunnerOptions<B, RG> = {}
): Layer.Layer<
  never,
  never,
  Sharding.Sharding | RowStore.RowStore | BudgetRequirement<B> | Exclude<R, Generator.Generator> | RG
> =>
  // What a runner holds for all its chunks is built once with the layer: the entity's build effect runs once per
  // entity, i.e. per chunk, and a limiter or semaphore made there would limit each chunk alone.
  Layer.unwrap(
    Effect.gen(function*() {
      const store = yield* RowStore.RowStore
      const chunks = yield* Semaphore.make(options.chunksAtOnce ?? 2)
      const budget = options.budget ?? "shared"
      const generators = yield* RcMap.make({
        lookup: (text: string) =>
          Effect.flatMap(
            GeneratorRegistry.parse(text),
            (identifier): Effect.Effect<
              Generator.Service,
              GeneratorRegistry.GeneratorInitError,
              SharedBudget.SharedBudget | RG | Scope.Scope
            > => options.generator === undefined ? generatorFor(identifier, budget) : options.generator(identifier)
          ),
        idleTimeToLive: GENERATOR_IDLE
      })
      const decodeSettings = Schema.decodeUnknownEffect(job.settings)
      const handlers = job.entity.of({
        Run: ({ payload }) =>
          Effect.gen(function*() {
            const failed = (reason: string) =>
              new Internal.ChunkFailed({ batchId: payload.batchId, chunk: payload.chunk, run: payload.run, reason })
            const settings = yield* decodeSettings(payload.settings).pipe(
              Effect.mapError((error) => failed(`its settings do not fit the job "${job.name}": ${error.message}`))
            )
            const generator = yield* RcMap.get(generators, payload.generator).pipe(
              Effect.mapError((error) => failed(`the generator cannot be built on this runner: ${error.message}`))
            )
            return yield* runChunk(payload, job.options(settings), store).pipe(
              Effect.provideService(Generator.Generator, generator),
              Effect.catchTag("RowStoreError", (error) => Effect.fail(failed(error.message)))
            )
          }).pipe(Effect.scoped, Semaphore.withPermits(chunks, 1))
      })
      return job.entity.toLayer(Effect.succeed(handlers), { maxIdleTime: "10 seconds" })
    })
  ) as Layer.Layer<
    never,
    never,
    Sharding.Sharding | RowStore.RowStore | BudgetRequirement<B> | Exclude<R, Generator.Generator> | RG
  >

/** A runner's generator for an identifier: built with its own keys, under the budget it shares with the others. */
const generatorFor = (identifier: Identifier.Identifier, budget: Budget) =>
  Effect.gen(function*() {
    if (budget === "local") return yield* Generator.make(identifier)
    if (budget !== "shared") {
      return yield* Generator.make(identifier, {
        limiter: yield* RateLimiter.make(SharedBudget.split(identifier, budget.split))
      })
    }
    const { rpm, tpm, ...own } = RateLimiter.limitsFromIdentifier(identifier)
    const limiter = yield* SharedBudget.limiter(yield* RateLimiter.make(own), {
      key: Engine.laneKey(identifier),
      limits: { rpm, tpm, burstSeconds: own.burstSeconds }
    })
    return yield* Generator.make(identifier, { limiter })
  })

/** One chunk on a runner: its items without rows, through the batch engine, their rows written as they complete. */
const runChunk = <E, R>(payload: Internal.Chunk, options: JobOptions<E, R>, store: RowStore.RowStore["Service"]) =>
  Effect.gen(function*() {
    const from = payload.firstIndex
    const done = yield* store.completed(payload.batchId, { from, to: from + payload.items.length })
    const pending: Array<Dataset.RenderedItem> = []
    const indexes: Array<number> = []
    payload.items.forEach((item, offset) => {
      if (done.has(from + offset)) return
      pending.push(item)
      indexes.push(from + offset)
    })
    let written = 0
    const write = (rows: ReadonlyArray<Batch.Row>) =>
      // Rows are numbered within the chunk's pending items: the store writes each at its place in the batch.
      store.write(payload.batchId, rows, { indexOf: (row) => indexes[row.index]! }).pipe(
        Effect.retry(storeRetry),
        Effect.map((count) => {
          written += count
        })
      )
    // Rows are written as soon as they complete (a killed runner's finished items are not sent again): whatever
    // completes while a write is on its way goes with the next one.
    const completed = yield* Queue.unbounded<Batch.Row, Cause.Done>()
    const writer = Stream.fromQueue(completed).pipe(Stream.chunks, Stream.runForEach(write))
    const generate = Batch.stream(pending, options).pipe(
      Stream.runForEach((row) => Queue.offer(completed, row)),
      Effect.as(undefined),
      Effect.catchTag("BatchStopped", (stop: BatchStopped) => Effect.succeed(stop)),
      Effect.ensuring(Queue.end(completed))
    )
    const [stopped] = yield* Effect.all([generate, writer], { concurrency: 2 })
    return new Internal.ChunkDone({
      run: payload.run,
      written,
      skipped: done.size,
      ...(stopped === undefined ? {} : { stopped })
    })
  })

/**
 * Options of {@link stream} and {@link run}: the batch's id (its chunks' keys: the same id finds the same chunks and
 * rows again), the generator identifier runners build (keys come from the runners' environment: an identifier with
 * a secret in it is refused), the job's settings, the chunk size (default 250 items) and how many chunks may be
 * sent and not answered at once (default 32).
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const options: ClusterBatch.RunOptions = { batchId: "reviews-2026-12-06", generator: "openai!gpt-4o-mini,rpm=6000" }
 * ```
 * @since 0.3.0
 */
export type RunOptions<Settings = null> =
  & BaseRunOptions
  & (
    [Settings] extends [null] ? { readonly settings?: null | undefined } : { readonly settings: Settings }
  )

/**
 * The options of every run, whatever its job's settings (see {@link RunOptions}).
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const options: ClusterBatch.BaseRunOptions = { batchId: "b1", generator: "mock!echo", chunkSize: 100 }
 * ```
 * @since 0.3.0
 */
export interface BaseRunOptions {
  readonly batchId: string
  readonly generator: string
  readonly chunkSize?: number | undefined
  readonly chunksInFlight?: number | undefined
  /** Called as each chunk is answered (its number, rows written, items it found done). */
  readonly onChunk?: ((done: ChunkProgress) => Effect.Effect<void>) | undefined
}

/**
 * One chunk answered: how many rows it wrote, how many of its items already had rows.
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const progress: ClusterBatch.ChunkProgress = { chunk: 3, items: 250, written: 250, skipped: 0 }
 * ```
 * @since 0.3.0
 */
export type ChunkProgress = Internal.ChunkProgress

/**
 * What a coordinator's run can fail with: a chunk stopped (`BatchStopped`) or failed on its runner (`ChunkFailed`),
 * the cluster did not take it (`ClusterUnavailable`), the rows could not be read (`RowStoreError`), or the generator
 * identifier is not usable (`InvalidIdentifier`, `SecretInGenerator`).
 *
 * @example
 * ```ts
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * const describe = (error: ClusterBatch.RunError): string => `${error._tag}: ${error.message}`
 * ```
 * @since 0.3.0
 */
export type RunError =
  | BatchStopped
  | Internal.ChunkFailed
  | Internal.ClusterUnavailable
  | Internal.SecretInGenerator
  | RowStore.RowStoreError
  | InvalidIdentifier

/**
 * Runs a batch on the cluster and streams its rows in input order (then choice order) once every chunk is answered.
 * Fails with `BatchStopped` when a chunk stopped sending (every request failed the same way: rows finished so far
 * are kept; run the same batch id again to send the rest), `ChunkFailed` when a runner could not run a chunk (e.g.
 * no key for the generator), `SecretInGenerator` before sending anything when the identifier holds a secret.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * const Job = ClusterBatch.make("echo")
 * const rows = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   return yield* Stream.runCollect(ClusterBatch.stream(Job, items, { batchId: "b1", generator: "mock!echo" }))
 * })
 * ```
 * @since 0.3.0
 */
export const stream = <Settings, E, R, EI = never, RI = never>(
  job: Job<Settings, E, R>,
  items: Iterable<Dataset.RenderedItem> | Stream.Stream<Dataset.RenderedItem, EI, RI>,
  options: RunOptions<Settings>
): Stream.Stream<Batch.Row, RunError | EI, Requirements | RI> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* RowStore.RowStore
    const settings = yield* Schema.encodeEffect(job.settings)((options.settings ?? null) as Settings).pipe(Effect.orDie)
    yield* Internal.sendAll(job.entity, settings, items, options)
    return store.rows(options.batchId)
  }))

/**
 * Runs a batch on the cluster and collects its rows in input order, with the summary a local `Batch.run` gives.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataset, Template } from "@capstan/core"
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * const Job = ClusterBatch.make("echo")
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }, { word: "bye" }])
 *   const { summary } = yield* ClusterBatch.run(Job, items, { batchId: "b2", generator: "mock!echo" })
 *   return summary.ok
 * })
 * ```
 * @since 0.3.0
 */
export const run = <Settings, E, R, EI = never, RI = never>(
  job: Job<Settings, E, R>,
  items: Iterable<Dataset.RenderedItem> | Stream.Stream<Dataset.RenderedItem, EI, RI>,
  options: RunOptions<Settings> & Batch.SummaryOptions
) =>
  Effect.map(Stream.runCollect(stream<Settings, E, R, EI, RI>(job, items, options)), (rows) => ({
    rows,
    summary: Batch.summarize(rows, options)
  }))

/**
 * The chunks of a batch a coordinator would send, without sending: how the items split (useful for a dry run).
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * ClusterBatch.chunkCount(1000, 250) // 4
 * ```
 * @since 0.3.0
 */
export const chunkCount = (items: number, chunkSize = Internal.DEFAULT_CHUNK_SIZE): number =>
  Math.ceil(items / chunkSize)

/**
 * Fails when an identifier holds a secret, which would be stored in the message store with every chunk: runners take
 * their keys from their own environment.
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * ClusterBatch.checkGenerator("openai!gpt-4o-mini,rpm=6000") // succeeds with the identifier
 * ```
 * @since 0.3.0
 */
export const checkGenerator: (
  text: string
) => Effect.Effect<Identifier.Identifier, InvalidIdentifier | Internal.SecretInGenerator> = Internal.checkGenerator

/**
 * What a coordinator needs in context: the sharding (as a client or a runner) and the row store, e.g. from
 * `PostgresCluster.layerClient`.
 *
 * @example
 * ```ts
 * import type { Effect } from "effect"
 * import type { ClusterBatch } from "@capstan/cluster"
 *
 * declare const program: Effect.Effect<void, never, ClusterBatch.Requirements>
 * ```
 * @since 0.3.0
 */
export type Requirements = Sharding.Sharding | RowStore.RowStore
