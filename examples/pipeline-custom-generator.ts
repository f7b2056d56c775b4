/**
 * A generator of your own, registered under its own provider name: `GeneratorRegistry.register(provider)`
 * adds it, and `Generator.layer("shout!loud,suffix=!!")` builds it from an identifier like any other, with
 * its own settings. Pipelines run on it unchanged.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-custom-generator.ts`
 */
import {
  type BatchSizeMismatch,
  type Chat,
  ChatPipeline,
  Generation,
  Generator,
  GeneratorRegistry,
  type ItemFailed,
  type PipelineError,
  Usage
} from "@capstan/core"
import { Console, Effect, Layer } from "effect"
import { runMain } from "./run.js"

/** Answers with the last message in capitals, followed by the identifier's `suffix` setting. */
export const shout: GeneratorRegistry.Provider = {
  name: "shout",
  description: "answers with the last message in capitals",
  settings: { suffix: { kind: "string", description: "text appended to every answer" } },
  env: [],
  make: (identifier) => {
    const setting = identifier.setting("suffix")
    const suffix = typeof setting === "string" ? setting : ""
    const answer = (text: string) =>
      Effect.succeed(
        Generation.fromTexts(
          [`${text.toUpperCase()}${suffix}`],
          new Usage.Usage({ inputTokens: text.length, outputTokens: text.length + suffix.length })
        )
      )
    return Effect.succeed({
      identifier,
      generate: (request) => answer(request.messages.at(-1)?.text ?? ""),
      complete: (request) => answer(request.prompt)
    })
  }
}

export const program: Effect.Effect<
  ReadonlyArray<Chat.Chat>,
  BatchSizeMismatch | ItemFailed<PipelineError> | PipelineError,
  Generator.Generator
> = Effect.gen(function*() {
  const chats = yield* ChatPipeline.make().pipe(
    ChatPipeline.withParams({ temperature: 0 }),
    ChatPipeline.runBatch(["hello", "custom providers"])
  )
  for (const chat of chats) yield* Console.log(`${chat.generator}: ${chat.last?.text}`)
  return chats
})

// Not a mock: the custom provider is local code, so the example works offline as it is.
export const mock = Generator.layer("shout!loud,suffix=!!").pipe(Layer.provide(GeneratorRegistry.register(shout)))

runMain(import.meta, program, mock)
