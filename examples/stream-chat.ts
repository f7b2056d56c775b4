/**
 * Streaming: a story's text printed as it arrives (`ChatPipeline.runStream`), then the finished chat with its usage;
 * and one request streamed at the generator level (`Generator.stream`), its text deltas counted and its generation
 * (usage, stop reason) read from the last part. Over a real provider (OpenAI, Anthropic) the text comes as the
 * server sends it; offline, the mock streams its answer a word at a time.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/stream-chat.ts`
 */
import { ChatPipeline, GenerateParams, type GenerationError, Generator, Message } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, Stream } from "effect"
import { runMain } from "./run.js"

export const story =
  "Once upon a time a small boat carried salt down the river, and every evening its captain counted the stars."

/** Offline: the story, streamed a word at a time. */
export const mock = MockGenerator.fixed(story)

/** What the program saw: the pieces of the story as they came, the chat's text and the request's generation. */
export interface Streamed {
  readonly pieces: ReadonlyArray<string>
  readonly text: string
  readonly deltas: number
  readonly outputTokens: number
  readonly stopReason: string
}

export const program: Effect.Effect<Streamed, GenerationError, Generator.Generator> = Effect.gen(function*() {
  const pieces: Array<string> = []
  let text = ""
  yield* ChatPipeline.make("Tell me a two-sentence story about a boat.").pipe(
    ChatPipeline.runStream(),
    Stream.runForEach((event) => {
      if (event._tag === "Delta") {
        pieces.push(event.text)
        return Effect.sync(() => process.stdout.write(event.text))
      }
      text = event.chat.text
      return Console.log(`\n(${event.chat.usage.totalTokens} tokens)`)
    })
  )

  const parts = yield* Stream.runCollect(
    Generator.stream({ messages: [Message.user("And one more, please.")], params: GenerateParams.empty })
  )
  const done = parts.at(-1)
  const generation = done?._tag === "Done" ? done.generation : undefined
  yield* Console.log(
    `second request: ${parts.length - 1} deltas, ${generation?.usage.outputTokens} output tokens, stop reason ${
      generation?.choices[0]?.stopReason
    }`
  )
  return {
    pieces,
    text,
    deltas: parts.length - 1,
    outputTokens: generation?.usage.outputTokens ?? 0,
    stopReason: generation?.choices[0]?.stopReason ?? "none"
  }
})

runMain(import.meta, program, mock)
