/**
 * A batch spread over several runner processes (`@capstan/cluster`): a job says what runners do with each item (here:
 * classify a review, as JSON); runners register it and take their keys from their own environment; a
 * coordinator sends the items as chunks and reads the rows back, in input order, with the summary of a local run.
 *
 * Offline (no `CAPSTAN_CLUSTER_URL`), the cluster is effect's in-memory `TestRunner` with one runner in this process,
 * on the built-in `mock!demo` generator. On PostgreSQL, start runners, then the coordinator:
 *
 * ```sh
 * export CAPSTAN_CLUSTER_URL=postgres://postgres@127.0.0.1:5432/postgres
 * node --conditions=@capstan/source --import tsx examples/cluster-batch.ts runner   # on each machine, any number
 * CAPSTAN_GENERATOR=openai!gpt-4o-mini,rpm=500 node --conditions=@capstan/source --import tsx examples/cluster-batch.ts
 * ```
 */
import { ClusterBatch, PostgresCluster, RowStore, SharedBudget } from "@capstan/cluster"
import { type Batch, Dataset, type InvalidItem, Model, Template, type TemplateMismatch } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
import { TestRunner } from "effect/cluster"

/** What runners do with each review: the options of a local `Batch.run`. */
export const Sentiment = ClusterBatch.make("sentiment", {
  parse: Model.json(Schema.Struct({ sentiment: Schema.Literals(["positive", "negative", "neutral"]) })),
  concurrency: 32
})

const reviews = [
  "The beans were fresh and the crema was perfect.",
  "Bitter, burnt and overpriced.",
  "It was coffee.",
  "Best espresso in town, friendly staff.",
  "Waited 20 minutes for a lukewarm latte."
]

/** The coordinator: items in, rows out (one per review, in input order), and the summary. */
export const program = (generator: string): Effect.Effect<
  { readonly rows: ReadonlyArray<Batch.Row>; readonly summary: Batch.Summary },
  ClusterBatch.RunError | InvalidItem | TemplateMismatch,
  ClusterBatch.Requirements
> =>
  Effect.gen(function*() {
    const items = yield* Dataset.validate(
      Template.make("Is this review positive, negative or neutral? {review}"),
      reviews.map((review, i) => ({ id: `review-${i}`, review }))
    )
    const { rows, summary } = yield* ClusterBatch.run(Sentiment, items, {
      batchId: "reviews-2026-12-06",
      generator,
      chunkSize: 2
    })
    for (const row of rows) yield* Console.log(`${row.id}: ${JSON.stringify(row.parsed) ?? row.error?._tag}`)
    yield* Console.log(`${summary.ok}/${summary.rows} rows ok, ${summary.attempts} requests`)
    return { rows, summary }
  })

/** A runner process on PostgreSQL: the job's handler, the cluster's layers, every provider (keys from the env). */
export const runner = (url: string) =>
  ClusterBatch.layer(Sentiment).pipe(
    Layer.provide(PostgresCluster.layerRunner({ url })),
    Layer.provide(Providers.layer)
  )

/** The in-memory cluster with one runner in this process: what the example runs on offline, and in the tests. */
export const inMemory = ClusterBatch.layer(Sentiment).pipe(
  Layer.provideMerge(Layer.mergeAll(TestRunner.layer, RowStore.layerMemory, SharedBudget.layerMemory))
)

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const url = process.env.CAPSTAN_CLUSTER_URL
  const generator = process.env.CAPSTAN_GENERATOR || "mock!demo"
  if (url === undefined || url === "") NodeRuntime.runMain(program(generator).pipe(Effect.provide(inMemory)))
  else if (process.argv[2] === "runner") NodeRuntime.runMain(Layer.launch(runner(url)))
  else NodeRuntime.runMain(program(generator).pipe(Effect.provide(PostgresCluster.layerClient({ url }))))
}
