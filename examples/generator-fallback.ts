/**
 * Several generators: a fallback answers when the first generator stays overloaded (after its own retries), each
 * row records the generator that actually answered; then one pipeline over three generators (rigging's
 * `run_over`), a chat per generator.
 *
 * Offline, the generator in context is a mock that is always overloaded, so every item falls back to the
 * built-in `mock!demo`. Run it: `node --conditions=@capstan/source --import tsx examples/generator-fallback.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to make a real model the first choice).
 */
import {
  Batch,
  type BatchStopped,
  type Chat,
  ChatPipeline,
  Dataset,
  Generator,
  type GeneratorRegistry,
  type InvalidItem,
  Overloaded,
  Template,
  type TemplateMismatch
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect } from "effect"
import { runMain } from "./run.js"

export const program: Effect.Effect<
  { readonly rows: ReadonlyArray<Batch.Row>; readonly chats: ReadonlyArray<Chat.Chat<undefined>> },
  GeneratorRegistry.GeneratorInitError | InvalidItem | TemplateMismatch | BatchStopped,
  Generator.Generator
> = Effect.gen(function*() {
  const primary = yield* Generator.Generator
  const backup = yield* Generator.make("mock!demo")
  // Each keeps its own engine: the primary's limiter and retries run before the backup is asked.
  const generator = Generator.fallbackOf([primary, backup], { when: ["RateLimited", "Overloaded", "ServerError"] })

  const items = yield* Dataset.validate(Template.make("Name one famous {what}."), [
    { what: "painter" },
    { what: "composer" },
    { what: "mathematician" }
  ])
  const { rows } = yield* Batch.run(items).pipe(Effect.provideService(Generator.Generator, generator))
  for (const row of rows) yield* Console.log(`${row.id}: answered by ${row.generator}: ${row.output}`)

  const chats = yield* ChatPipeline.make("Say hello in one word.").pipe(
    ChatPipeline.runOver([primary, "mock!echo", "mock!fixed,reply=Bonjour"], { onFailed: "include" })
  )
  for (const chat of chats) {
    yield* Console.log(`${chat.generator}: ${chat.failed ? `failed (${chat.error?._tag})` : chat.text}`)
  }
  return { rows, chats }
}).pipe(Effect.scoped)

export const mock = MockGenerator.failing(
  new Overloaded({ provider: "mock", detail: "the model is overloaded", status: 529 })
).pipe(Generator.withEngine({ maxRetries: 1 }))

runMain(import.meta, program, mock)
