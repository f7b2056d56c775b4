/**
 * A response cache: the same batch run twice with `cache: "readwrite"`, the answers kept in a SQLite file
 * (`SqliteStore.layerResponseCache`, what the CLI's `--cache` uses). The second run sends nothing: its rows come
 * from the file, marked `cached: true`, with no requests and no tokens paid, so the summary counts what each run
 * cost. A run that stops halfway and is started again only asks for what it has not asked before.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-cache.ts`
 * (the file is in a temporary directory here; leave `path` out to use `~/.cache/capstan/responses.sqlite`).
 */
import { Batch, Dataset, type Generator, ResponseCache, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { SqliteStore } from "@capstan/providers"
import { Console, Effect, type Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runMain } from "./run.js"

export const reviews = [
  { id: "r1", review: "Great coffee, I buy it every week." },
  { id: "r2", review: "Stale beans and a burnt taste." },
  { id: "r3", review: "Fine, I suppose. A bit bitter." }
]

export const template = Template.make("In one word, is this review positive, negative or neutral?\n\n{review}")

type RunResult = { readonly rows: ReadonlyArray<Batch.Row>; readonly summary: Batch.Summary }

const describeRun = (name: string, { rows, summary }: RunResult) =>
  Console.log(
    `${name}: ${summary.rows} rows, ${rows.filter(ResponseCache.isCached).length} from the cache, ` +
      `${summary.attempts} requests, ${summary.usage.totalTokens} tokens paid`
  )

/** The batch twice, with the cache in the SQLite file at `path`. */
export const runTwice = (path: string): Effect.Effect<
  { readonly first: RunResult; readonly second: RunResult },
  never,
  Generator.Generator
> =>
  Effect.gen(function*() {
    // The reviews are the example's own: a mistake in them is a bug, not an input error.
    const items = yield* Effect.orDie(Dataset.validate(template, reviews))
    const first = yield* Effect.orDie(Batch.run(items, { cache: "readwrite" }))
    yield* describeRun("first run ", first)
    const second = yield* Effect.orDie(Batch.run(items, { cache: "readwrite" }))
    yield* describeRun("second run", second)
    for (const row of second.rows) {
      yield* Console.log(`  ${row.id}  ${row.output}  (cached: ${ResponseCache.isCached(row)})`)
    }
    return { first, second }
  }).pipe(
    // A cache file that cannot be opened is a bug of the example (its directory is its own).
    Effect.provide(SqliteStore.layerResponseCache({ path })),
    Effect.orDie
  )

export const program = Effect.acquireUseRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "capstan-example-cache-"))),
  (dir) => runTwice(join(dir, "responses.sqlite")),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

// Offline: a judge that reads a few words of the review.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn((text) =>
  /great|love|every week/i.test(text) ? "positive" : /stale|burnt|awful/i.test(text) ? "negative" : "neutral"
)

runMain(import.meta, program, mock)
