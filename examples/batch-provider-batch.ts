/**
 * Half-price batches: the same reviews and template as a realtime batch, sent through the provider's batch API
 * (`via: "provider-batch"`: OpenAI's Batch API or Anthropic's Message Batches, answered within 24 hours at half
 * the price). The rows are the rows a realtime run writes, with the batch id and custom id in their metadata; the
 * journal lets a later run with the same file collect the batches if this process stops before they end.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-provider-batch.ts`
 * (offline, the mock generator's in-memory batch API answers at once; set CAPSTAN_GENERATOR, e.g.
 * `openai!gpt-4o-mini`, to send a real batch: it polls every 30 seconds until the batch ends).
 */
import { Batch, Dataset, type Generator, ProviderBatch, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { Console, Effect, type Layer } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { runMain } from "./run.js"

export const reviews = [
  { id: "r1", review: "Great coffee, I buy it every week." },
  { id: "r2", review: "Stale beans and a burnt taste." },
  { id: "r3", review: "Fine, I suppose. A bit bitter." }
]

export const template = Template.make(
  "Classify the sentiment of this review as positive, negative or neutral.\n\n{review}"
)

/** Where the batches are journaled: next to the results, in a real run. */
export const journalPath = path.join(os.tmpdir(), "capstan-example-reviews.batches.jsonl")

export const program: Effect.Effect<ReadonlyArray<Batch.Row>, never, Generator.Generator> = Effect.scoped(
  Effect.gen(function*() {
    const items = yield* Effect.orDie(Dataset.validate(template, reviews))
    // fresh: this example starts over each time; keep the journal (the default) to resume a run.
    const journal = yield* ProviderBatch.journalFile(journalPath, { fresh: true })
    const { rows, summary } = yield* Batch.run(items, {
      via: "provider-batch",
      params: { temperature: 0, maxTokens: 5 },
      providerBatch: {
        journal,
        onStatus: (status) => Console.log(`batch ${status.chunk} (${status.batchId}): ${status.status}`)
      }
    })
    for (const row of rows) {
      const { batchId, via } = row.metadata ?? {}
      yield* Console.log(
        `${row.id}  ${row.output ?? row.error?.message}  [${JSON.stringify(via)} ${JSON.stringify(batchId)}]`
      )
    }
    yield* Console.log(`${summary.ok}/${summary.rows} ok`)
    return rows
  })
).pipe(Effect.provide(NodeServices.layer), Effect.orDie)

// Offline: a one-word judge; mock generators answer provider batches from memory.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (text) => (/great|love/i.test(text) ? "positive" : /stale|burnt/i.test(text) ? "negative" : "neutral"),
  { identifier: "mock!judge" }
)

runMain(import.meta, program, mock)
