/**
 * batch-prompt's `queries_per_batch`: many completion prompts sent in one legacy completions request. Ten coin-flip
 * sequences are continued twice each (`n = 2`) by a completion model, four prompts per request
 * (`promptsPerRequest: 4`): three requests instead of ten. The rows are still one per prompt and choice, in place;
 * each carries its share of its request's usage and `metadata.packed` (how many prompts shared the request, and
 * its position). The summary prices the batch from Capstan's built-in list prices.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/completion-packed.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-3.5-turbo-instruct`, to run it on a real completion model).
 */
import { Batch, CompletionPipeline, Dataset, type Generator, Prices, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

/** Ten sequences of coin flips, from one to ten flips long. */
export const sequences = Array.from({ length: 10 }, (_, i) => ({
  id: `s${i}`,
  flips: Array.from({ length: i + 1 }, (_, k) => ((i * 7 + k * 3) % 5 < 2 ? "H" : "T")).join(" ")
}))

export const template = Template.make("A sequence of fair coin flips: {flips}")

export const promptsPerRequest = 4

const dollars = (cost: number | undefined): string =>
  cost === undefined ? "unknown (no price for this model)" : `$${cost.toFixed(6)}`

export const program: Effect.Effect<
  { readonly rows: ReadonlyArray<Batch.Row>; readonly summary: Batch.Summary },
  never,
  Generator.Generator
> = Effect.gen(function*() {
  // The sequences are the example's own: a mistake in them is a bug, not an input error.
  const items = yield* Effect.orDie(Dataset.validate(template, sequences))
  const { rows, summary } = yield* Batch.run(items, {
    pipeline: CompletionPipeline.make(),
    promptsPerRequest,
    params: { maxTokens: 6, n: 2, temperature: 1 }
  }).pipe(Effect.orDie)
  for (const row of rows) {
    const packed = row.metadata?.["packed"] as { readonly prompts: number; readonly position: number } | undefined
    const place = packed === undefined ? "alone" : `prompt ${packed.position + 1} of ${packed.prompts}`
    yield* Console.log(
      `${row.id.padEnd(3)} #${row.choice}  ${String(row.vars["flips"]).padEnd(19)} ->${
        row.output ?? ` (${row.error?._tag})`
      }` +
        `  [${place}, ${row.usage.inputTokens} in + ${row.usage.outputTokens} out]`
    )
  }
  yield* Console.log(
    `\n${summary.rows} rows from ${summary.items} prompts in ${summary.attempts} requests; ` +
      `${summary.usage.inputTokens} input + ${summary.usage.outputTokens} output tokens; ` +
      `cost ${dollars(summary.cost)} (list prices as of ${Prices.asOf})`
  )
  return { rows, summary }
})

/** The offline model's continuation of a prompt, for choice `choice`: three more flips, decided by the prompt. */
export const continuation = (prompt: string, choice: number): string =>
  Array.from({ length: 3 }, (_, k) => (((prompt.length + 5 * choice) >> k) & 1 ? " H" : " T")).join("")

// Offline: a completion model that packs prompts like OpenAI's legacy endpoint (the mock answers `completeMany`).
// It reports itself as the model it stands in for, so the summary prices it from the built-in table.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (prompt, params) => Array.from({ length: params.n ?? 1 }, (_, choice) => continuation(prompt, choice)),
  { identifier: "openai!gpt-3.5-turbo-instruct" }
)

runMain(import.meta, program, mock)
