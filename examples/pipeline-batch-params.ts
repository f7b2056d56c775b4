/**
 * One input, batched over five temperatures: the input is broadcast over the list of params. Each chat
 * records the identifier of its generator with the params it was run with.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-batch-params.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import {
  type BatchSizeMismatch,
  type Chat,
  ChatPipeline,
  type GenerationError,
  type Generator,
  type ItemFailed
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

export const temperatures = [0.6, 0.9, 1.2, 1.5, 1.8]

export const program: Effect.Effect<
  ReadonlyArray<Chat.Chat>,
  BatchSizeMismatch | ItemFailed<GenerationError> | GenerationError,
  Generator.Generator
> = Effect.gen(function*() {
  const chats = yield* ChatPipeline.make().pipe(
    ChatPipeline.runBatch(["Tell me a short fact about a Japanese city."], {
      params: temperatures.map((temperature) => ({ temperature }))
    })
  )
  for (const [i, chat] of chats.entries()) {
    yield* Console.log(`--- Chat ${i + 1} ---`)
    yield* Console.log(chat.generator)
    yield* Console.log("")
    yield* Console.log(chat.conversation)
    yield* Console.log("")
  }
  return chats
})

const facts = [
  "Tokyo is the most populous metropolitan area in the world.",
  "Kyoto was Japan's capital for over a thousand years.",
  "Osaka is known as the nation's kitchen.",
  "Nagoya is a centre of Japan's car industry.",
  "Sapporo hosts a famous snow festival every February."
]

// A hotter temperature picks a fact further down the list.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (_text, params) => facts[Math.min(facts.length - 1, Math.round(((params.temperature ?? 0.6) - 0.6) / 0.3))]!,
  { identifier: "mock!city-facts" }
)

runMain(import.meta, program, mock)
