/**
 * Capstan: a generator from an identifier over `Providers.layer`, items from a template, and the batch engine.
 * Told the rate limit when the task has `rpm` (`,rpm=6000` in the identifier), else left to learn it. With an
 * output file, items are rendered lazily in chunks and rows are streamed to JSONL, so nothing grows with N;
 * otherwise `Batch.run` collects every row in input order, as the baseline does. With a cache file (the cache
 * scenario) the response cache is on, in that SQLite file.
 */
import { Batch, Dataset, Generator, type ResponseCache, Template } from "@capstan/core"
import { Providers, SqliteStore } from "@capstan/providers"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { bump, type Outcome, readTask, runMeasured } from "../internal/measure.js"
import { API_KEY, expectedAnswer, MODEL, PROMPT_TEMPLATE } from "../internal/protocol.js"

const task = readTask()

const identifier = `openai!${MODEL},base_url=${task.baseUrl},api_key=${API_KEY}` +
  (task.rpm === undefined ? "" : `,rpm=${task.rpm}`)

const template = Template.make(PROMPT_TEMPLATE)

/** Item `n` as a template row: id `n`, variable `n`. */
const itemInput = (n: number) => ({ id: n, n })

/** Counts rows into an outcome as they go by. */
const tally = () => {
  const errors: Record<string, number> = {}
  const seen = new Set<string>()
  let ok = 0
  let wrong = 0
  return {
    add: (row: Batch.Row): void => {
      seen.add(row.id)
      if (row.error !== undefined) bump(errors, row.error._tag)
      else if (row.output === expectedAnswer(Number(row.id))) ok++
      else wrong++
    },
    outcome: (): Outcome => ({
      ok,
      failed: Object.values(errors).reduce((a, b) => a + b, 0),
      missing: task.items - seen.size,
      wrong,
      errors
    })
  }
}

/** Every row collected in input order; with the response cache on in the cache scenario. */
const collected = <M extends ResponseCache.Mode>(cache: M) =>
  Effect.gen(function*() {
    const items = yield* Dataset.validate(template, Array.from({ length: task.items }, (_, n) => itemInput(n)))
    const { rows } = yield* Batch.run(items, { concurrency: task.concurrency, cache })
    const counts = tally()
    for (const row of rows) counts.add(row)
    return counts.outcome()
  })

const RENDER_CHUNK = 1000

const streamed = (output: string) =>
  Effect.gen(function*() {
    const items = Stream.range(0, task.items - 1).pipe(
      Stream.grouped(RENDER_CHUNK),
      Stream.mapEffect((ns) => Dataset.validate(template, ns.map(itemInput))),
      Stream.flattenIterable,
      Stream.orDie // Batch.stream takes an infallible stream; these items cannot fail validation
    )
    const counts = tally()
    yield* Batch.stream(items, { concurrency: task.concurrency }).pipe(
      Stream.tap((row) => Effect.sync(() => counts.add(row))),
      Batch.writeJsonl(output)
    )
    return counts.outcome()
  })

const generator = Generator.layer(identifier).pipe(Layer.provide(Providers.layer))

// Only the streamed run writes a file: the collected one does not build the Node services it would not use. The
// cache scenario's runs keep the answers in a SQLite file (the second run finds them all there).
const program: Effect.Effect<Outcome, unknown> = task.output !== undefined
  ? streamed(task.output).pipe(Effect.provide(Layer.mergeAll(generator, NodeServices.layer)))
  : task.cacheFile === undefined
  ? collected("off").pipe(Effect.provide(generator))
  : collected("readwrite").pipe(
    Effect.provide(Layer.mergeAll(generator, SqliteStore.layerResponseCache({ path: task.cacheFile })))
  )

await runMeasured(task, () => Effect.runPromise(program))
