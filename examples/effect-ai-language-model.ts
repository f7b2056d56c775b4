/**
 * effect/ai and Capstan, both ways.
 *
 * 1. A program written against effect/ai's `LanguageModel` (`generateObject` with a Schema, `streamText`) runs on
 *    the Capstan generator in context through `AiLanguageModel.layer`: its calls get the generator's rate limiter
 *    and retries, and on the example's mock they are answered offline.
 * 2. An effect/ai `LanguageModel` (here a `LanguageModel.make` of our own; in an application e.g. an
 *    `@effect/ai-*` provider's layer) becomes a Capstan provider with `AiLanguageModel.provider`: registered, it is
 *    built from an identifier (`"shop!upper,rpm=600"`) and a Capstan pipeline runs a batch on it.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/effect-ai-language-model.ts`
 * (with `CAPSTAN_GENERATOR=openai!gpt-4o-mini` and `OPENAI_API_KEY`, part 1 runs on OpenAI).
 */
import { AiLanguageModel, type Chat, ChatPipeline, Generator, GeneratorRegistry } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, Layer, Schema, Stream } from "effect"
import { LanguageModel, type Prompt } from "effect/ai"
import { runMain } from "./run.js"

export const Review = Schema.Struct({
  sentiment: Schema.Literals(["positive", "negative", "mixed"]),
  summary: Schema.String
}).annotate({ identifier: "Review", description: "A coffee review's sentiment and a one-line summary" })

export const reviews = [
  "Bright, juicy and clean. I reordered the same day.",
  "Burnt and bitter, like cardboard. Never again."
]

// --- 1. effect/ai code, unaware of Capstan ----------------------------------------------------------------------

/** Classifies one review with effect/ai's structured output. */
export const classify = (review: string) =>
  LanguageModel.generateObject({
    prompt: [{ role: "system", content: "You classify coffee reviews." }, { role: "user", content: review }],
    schema: Review
  }).pipe(Effect.map((response) => response.value))

/** A tagline, streamed: the text arrives delta by delta. */
export const tagline = LanguageModel.streamText({ prompt: "Write a tagline for a coffee shop." }).pipe(
  Stream.runFold(
    () => ({ text: "", deltas: 0 }),
    (acc, part) => part.type === "text-delta" ? { text: acc.text + part.delta, deltas: acc.deltas + 1 } : acc
  )
)

// --- 2. An effect/ai LanguageModel as a Capstan provider ----------------------------------------------------------

const lastUserText = (prompt: Prompt.Prompt): string => {
  const user = prompt.content.findLast((message) => message.role === "user")
  return user?.role === "user" ? user.content.flatMap((part) => part.type === "text" ? [part.text] : []).join("") : ""
}

/** A LanguageModel that shouts the last user message back: any effect/ai LanguageModel layer would do. */
export const shoutingModel = Layer.effect(
  LanguageModel.LanguageModel,
  LanguageModel.make({
    generateText: (options) => {
      const text = lastUserText(options.prompt).toUpperCase()
      return Effect.succeed([
        { type: "text", text },
        {
          type: "finish",
          reason: "stop",
          usage: { inputTokens: { total: text.length }, outputTokens: { total: text.length } }
        }
      ])
    },
    streamText: (options) =>
      Stream.make(
        { type: "text-delta", id: "0", delta: lastUserText(options.prompt).toUpperCase() },
        { type: "finish", reason: "stop", usage: { inputTokens: {}, outputTokens: {} } }
      )
  })
)

/** The model as a Capstan provider named `shop`. */
export const shop = AiLanguageModel.provider("shop", shoutingModel, { description: "a LanguageModel that shouts" })

export const program = Effect.gen(function*() {
  // 1. effect/ai's calls answered by the Capstan generator in context.
  const labels = yield* Effect.forEach(reviews, classify, { concurrency: 2 }).pipe(
    Effect.provide(AiLanguageModel.layer)
  )
  for (const [i, label] of labels.entries()) yield* Console.log(`review ${i + 1}: ${label.sentiment}: ${label.summary}`)
  const line = yield* tagline.pipe(Effect.provide(AiLanguageModel.layer))
  yield* Console.log(`tagline (${line.deltas} deltas): ${line.text}`)

  // 2. A Capstan batch on the effect/ai LanguageModel, through the engine.
  const shopGenerator = Generator.layer("shop!upper,rpm=600").pipe(Layer.provide(GeneratorRegistry.register(shop)))
  const chats: ReadonlyArray<Chat.Chat> = yield* ChatPipeline.make().pipe(
    ChatPipeline.runBatch(["hello", "effect/ai"]),
    Effect.provide(shopGenerator)
  )
  for (const chat of chats) yield* Console.log(`${chat.generator}: ${chat.text}`)
  return { labels, tagline: line, chats }
})

/** Offline answers: a review's JSON for structured requests, a tagline otherwise. */
export const mock = MockGenerator.layer((request) => {
  if (request._tag !== "chat" || request.structured === undefined) return "Good coffee, slow mornings, kind people."
  const review = request.messages.at(-1)?.text ?? ""
  return JSON.stringify(
    /burnt|bitter|never/i.test(review)
      ? { sentiment: "negative", summary: "Burnt and bitter." }
      : { sentiment: "positive", summary: "Bright and clean." }
  )
}, { identifier: "mock!effect-ai" })

runMain(import.meta, program, mock)
