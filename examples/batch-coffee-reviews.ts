/**
 * Coffee reviews classified in one batch, the allms way: a `{review}` template, items with ids, and every
 * answer parsed as JSON `{ "sentiment": ... }` (an answer that is not JSON gets the parse error sent back and
 * another try). The labels are joined back to the inputs by id. A review that never gets a usable answer is a
 * failed row with its typed error, not a failed batch; the summary counts it.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-coffee-reviews.ts`
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
import { Console, Effect, type Layer, Option, Schema } from "effect"
import { runMain } from "./run.js"

/** One input row: the review to classify, with the columns we want back next to its label. */
export interface Review {
  readonly id: string
  readonly product: string
  readonly review: string
}

export const reviews: ReadonlyArray<Review> = [
  {
    id: "0",
    product: "Alto Roast Medium",
    review:
      "Lightly roasted, lovely aroma, barely any sourness. The whole kitchen smells of it after grinding. I recommend it to anyone who dislikes pitch-black coffee."
  },
  {
    id: "1",
    product: "Cafe Dorado Crema",
    review: "Delicate and fresh, the smell when you open the bag is amazing. It beat my usual brand. For me the best."
  },
  {
    id: "2",
    product: "Blue Orca Classic",
    review:
      "Marketing did its job and I was tempted, but this is no better than supermarket coffee. Weak in strength and in taste. I do not recommend it."
  },
  {
    id: "3",
    product: "Daily Drip Blend",
    review: "It is coffee. It wakes me up. Nothing more to say."
  },
  {
    id: "4",
    product: "Alto Roast Dark",
    review: "FOLLOW MY PAGE for 50% off coupons on every roast!!! Link in bio."
  },
  {
    id: "5",
    product: "Sierra Decaf",
    review: "Arrived a week late and the valve was broken, but the taste is fine for a decaf."
  }
]

export const Sentiment: Model.JsonModel<{ readonly sentiment: "positive" | "negative" | "neutral" }> = Model.json(
  Schema.Struct({ sentiment: Schema.Literals(["positive", "negative", "neutral"]) }),
  { name: "sentiment" }
)

export const template: Template.TextTemplate<"review"> = Template.make(
  "You'll be provided with a review of a coffee. Decide if the review is positive, negative or neutral.\nReview: {review}"
)

/** A review with its label, or the reason it has none. */
export interface Labelled extends Review {
  readonly label: "positive" | "negative" | "neutral" | undefined
  readonly error: string | undefined
}

const sentimentOf = Schema.decodeUnknownOption(Sentiment.schema)

const excerpt = (text: string, width: number): string => text.length <= width ? text : `${text.slice(0, width - 3)}...`

export const program: Effect.Effect<
  { readonly labelled: ReadonlyArray<Labelled>; readonly summary: Batch.Summary },
  InvalidItem | TemplateMismatch | InvalidParams | BatchStopped,
  Generator.Generator
> = Effect.gen(function*() {
  // allms's InputData: an id and the template's variables; the other columns stay with the input
  const items = yield* Dataset.validate(template, reviews.map(({ id, review }) => ({ id, vars: { review } })))
  const { rows, summary } = yield* Batch.run(items, {
    pipeline: ChatPipeline.make({ role: "system", content: Sentiment.instructions }),
    parse: Sentiment,
    concurrency: 8
  })
  const byId = new Map(rows.map((row) => [row.id, row]))
  const labelled = reviews.map((input): Labelled => {
    const row = byId.get(input.id)
    const label = Option.getOrUndefined(sentimentOf(row?.parsed))?.sentiment
    return { ...input, label, error: row?.error?._tag }
  })
  yield* Console.log("id  label     product             review")
  for (const { error, id, label, product, review } of labelled) {
    yield* Console.log(`${id.padEnd(3)} ${(label ?? "-").padEnd(9)} ${product.padEnd(19)} ${excerpt(review, 60)}`)
    const row = byId.get(id)
    if (error !== undefined) {
      yield* Console.log(
        `    ${error} after ${row?.attempts ?? 0} requests; last answer: ${
          JSON.stringify(excerpt(row?.output ?? "", 60))
        }`
      )
    }
  }
  const failures = Object.entries(summary.failedByKind).map(([kind, count]) => `${kind}: ${count}`).join(", ")
  yield* Console.log("")
  yield* Console.log(
    `${summary.ok} ok, ${summary.failed} failed${failures === "" ? "" : ` (${failures})`}; ` +
      `${summary.attempts} requests, ${summary.usage.inputTokens} input + ${summary.usage.outputTokens} output tokens`
  )
  return { labelled, summary }
})

// What a model might answer each review with: JSON at once, prose first, JSON in a code fence, or never a label.
const answers: Record<string, { readonly first: string; readonly again: string }> = {
  "0": { first: `{"sentiment": "positive"}`, again: `{"sentiment": "positive"}` },
  "1": { first: "The review is positive.", again: `{"sentiment": "positive"}` },
  "2": { first: "```json\n{\"sentiment\": \"negative\"}\n```", again: `{"sentiment": "negative"}` },
  "3": { first: `{"sentiment": "neutral"}`, again: `{"sentiment": "neutral"}` },
  "4": {
    first: "This is an advertisement, not a review of a coffee, so I can't judge its sentiment.",
    again: "Sorry, there is no coffee review here to classify."
  },
  "5": { first: `{ "sentiment": "neutral" }`, again: `{"sentiment": "neutral"}` }
}

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  const messages = request._tag === "chat" ? request.messages : []
  const asked = messages.find((m) => m.role === "user")?.text ?? ""
  const input = reviews.find((r) => asked.endsWith(r.review))
  const answer = input === undefined ? undefined : answers[input.id]
  if (answer === undefined) return "I can't find a review in your message."
  // system, user: a first answer; anything longer is a recovery round after a parse error
  return messages.length <= 2 ? answer.first : answer.again
}, { identifier: "mock!coffee" })

runMain(import.meta, program, mock)
