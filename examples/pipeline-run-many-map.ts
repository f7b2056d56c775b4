/**
 * Run one prompt three times, then look at all the chats at once (`map`): a chat whose joke is about one of
 * a few animals is continued with a follow-up question and marked in its metadata.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-run-many-map.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { type Chat, ChatPipeline, type Generator, type ItemFailed, type PipelineError } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

const animals = ["cat", "dog", "cow", "mouse"]

const checkAnimal = (chats: ReadonlyArray<Chat.Chat>) =>
  Effect.forEach(
    chats,
    (chat) =>
      animals.some((animal) => chat.last?.text.toLowerCase().includes(animal))
        ? ChatPipeline.continue(chat, "Why did you pick that animal?").pipe(
          ChatPipeline.meta({ questioned: true }),
          ChatPipeline.run()
        )
        : Effect.succeed(chat),
    { concurrency: "unbounded" }
  )

export const program: Effect.Effect<
  ReadonlyArray<Chat.Chat>,
  ItemFailed<PipelineError> | PipelineError,
  Generator.Generator
> = Effect.gen(function*() {
  const chats = yield* ChatPipeline.make("Tell me a joke about an animal.").pipe(
    ChatPipeline.map(checkAnimal),
    ChatPipeline.runMany(3)
  )
  for (const [i, chat] of chats.entries()) {
    yield* Console.log(`--- Chat ${i + 1} (?: ${chat.metadata.questioned === true}) ---`)
    yield* Console.log(chat.conversation)
    yield* Console.log("")
  }
  return chats
})

const jokes = [
  "Why did the spider go to the computer? To check his website!",
  "Why did the chicken join a band? Because it had the drumsticks!",
  "Why don't elephants use computers? Because they're afraid of the mouse!"
]

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  const last = request._tag === "chat" ? request.messages.at(-1)?.content : request.prompt
  return last === "Why did you pick that animal?"
    ? "An elephant scared of a tiny mouse is a funny picture."
    : jokes[(request.call - 1) % jokes.length]!
}, { identifier: "mock!jokes" })

runMain(import.meta, program, mock)
