/**
 * Two reviews per prompt: a template with two variables, `{review_a}` and `{review_b}`, asks which review is
 * more positive, and the answer is read from `<more-positive>A</more-positive>` tags (the text around them is
 * ignored). Every item is checked against the template before anything is sent: an item with a misspelt
 * column is reported with its id and the missing and unexpected keys, and no request goes out for it.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-two-reviews.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import {
  Batch,
  type BatchStopped,
  ChatPipeline,
  Dataset,
  type Generator,
  type InvalidItem,
  type InvalidParams,
  Model,
  Template,
  type TemplateMismatch
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer, Option, Result, Schema } from "effect"
import { runMain } from "./run.js"

export const template: Template.TextTemplate<"review_a" | "review_b"> = Template.make(
  "Here are two reviews of the same coffee.\nReview A: {review_a}\nReview B: {review_b}\nWhich review is more positive?"
)

export const MorePositive: Model.XmlModel<"A" | "B"> = Model.xml("more-positive", Schema.Literals(["A", "B"]))

export const pairs: ReadonlyArray<{ readonly id: string; readonly review_a: string; readonly review_b: string }> = [
  {
    id: "pair-1",
    review_a: "Weak and watery. I won't buy it again.",
    review_b: "Smooth, chocolatey, my new favourite."
  },
  {
    id: "pair-2",
    review_a: "Bright and fruity, a joy every morning.",
    review_b: "Decent, though a bit bitter for my taste."
  },
  {
    id: "pair-3",
    review_a: "Fine. Nothing special, nothing wrong.",
    review_b: "Stale beans, and the bag arrived torn open."
  },
  {
    id: "pair-4",
    review_a: "Good crema, but it goes sour if you pull the shot long.",
    review_b: "Perfect espresso every time, rich and sweet."
  }
]

const winnerOf = Schema.decodeUnknownOption(MorePositive.schema)

export const program: Effect.Effect<
  ReadonlyArray<{ readonly id: string; readonly winner: "A" | "B" | undefined }>,
  InvalidItem | TemplateMismatch | InvalidParams | BatchStopped,
  Generator.Generator
> = Effect.gen(function*() {
  // A typo in a column name is caught before any request, naming the item and the keys.
  const typo = yield* Effect.result(
    Dataset.validate(template, [...pairs, { id: "pair-5", review_a: "Lovely.", reviewB: "Awful." }])
  )
  if (Result.isFailure(typo)) yield* Console.log(`Rejected before sending: ${typo.failure.message}\n`)

  const items = yield* Dataset.validate(template, pairs)
  const { rows, summary } = yield* Batch.run(items, {
    pipeline: ChatPipeline.make({ role: "system", content: MorePositive.instructions }),
    parse: MorePositive
  })
  const results = rows.map((row) => ({ id: row.id, winner: Option.getOrUndefined(winnerOf(row.parsed)) }))
  for (const [i, row] of rows.entries()) {
    const winner = results[i]!.winner
    yield* Console.log(
      `${row.id}: ${winner === undefined ? `no answer (${row.error?._tag})` : `review ${winner} is more positive`}`
    )
    yield* Console.log(`  ${winner === "A" ? "*" : " "} A: ${row.vars.review_a}`)
    yield* Console.log(`  ${winner === "B" ? "*" : " "} B: ${row.vars.review_b}`)
  }
  yield* Console.log(
    `\n${summary.ok} of ${summary.rows} pairs answered; ${summary.attempts} requests, ${summary.usage.totalTokens} tokens`
  )
  return results
})

// What a careful reader would answer for each pair; the mock wraps it in a word of reasoning and the tags.
export const expected: Readonly<Record<string, "A" | "B">> = {
  "pair-1": "B",
  "pair-2": "A",
  "pair-3": "A",
  "pair-4": "B"
}

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn((text) => {
  const pair = pairs.find((p) => text.includes(`Review A: ${p.review_a}\nReview B: ${p.review_b}\n`))
  const winner = pair === undefined ? undefined : expected[pair.id]
  if (winner === undefined) return "I only see one review here."
  return `Review ${winner} is warmer than review ${
    winner === "A" ? "B" : "A"
  }.\n<more-positive>${winner}</more-positive>`
}, { identifier: "mock!pairs" })

runMain(import.meta, program, mock)
