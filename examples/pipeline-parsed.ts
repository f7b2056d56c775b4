/**
 * A pipeline keeps what it parses: after `untilParsedAs(Review)` every chat's `parsed` is a `Review`, typed, so the
 * program reads `chat.parsed.sentiment` without parsing again. Its error type says what can go wrong: the
 * generator's errors and, once it parses, `ExhaustedMaxRounds`. Under `onFailed: "include"` a review whose answer
 * never parses stays in the results as a failed chat (with nothing parsed).
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-parsed.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { ChatPipeline, type Generator, Model } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer, Schema } from "effect"
import { runMain } from "./run.js"

export const Review = Model.json(
  Schema.Struct({
    sentiment: Schema.Literals(["positive", "negative"]),
    stars: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5 }))
  }),
  { name: "review" }
)

export const reviews = [
  "Smooth, chocolatey, I reorder every month.",
  "Burnt and bitter; the bag arrived torn.",
  "The cat ate it."
]

const pipeline = ChatPipeline.make({ role: "system", content: "Rate the coffee review: sentiment and stars (1-5)." })
  .pipe(
    ChatPipeline.untilParsedAs(Review, { maxRounds: 2 })
  )

/** One line per review: its sentiment and stars, or why it has none. Typed end to end: no cast, no second parse. */
export const program: Effect.Effect<ReadonlyArray<string>, never, Generator.Generator> = Effect.gen(function*() {
  const chats = yield* pipeline.pipe(ChatPipeline.runBatch(reviews, { onFailed: "include" }))
  const lines = chats.map((chat, i) =>
    chat.parsed === undefined
      ? `${i + 1}. no rating (${chat.error?._tag})`
      : `${i + 1}. ${chat.parsed.sentiment}, ${chat.parsed.stars} stars`
  )
  for (const line of lines) yield* Console.log(line)
  return lines
})

// Answers like a model would: JSON for the first two reviews, prose for the last (twice, so it gives up).
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  const text = request._tag === "chat" ? request.messages.find((m) => m.role === "user")?.text ?? "" : ""
  if (text.includes("reorder")) return JSON.stringify({ sentiment: "positive", stars: 5 })
  if (text.includes("Burnt")) return JSON.stringify({ sentiment: "negative", stars: 1 })
  return "I cannot rate that."
}, { identifier: "mock!reviews" })

runMain(import.meta, program, mock)
