/**
 * One pipeline, three temperatures: `withParams` answers a new pipeline each time and leaves the original
 * unchanged, so it can be reused in a loop.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-with-params.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { ChatPipeline, type Generator, type PipelineError } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

export const temperatures = [0.1, 0.5, 1.0]

export const program: Effect.Effect<ReadonlyArray<string>, PipelineError, Generator.Generator> = Effect.gen(
  function*() {
    const pipeline = ChatPipeline.make("Say a haiku about boats").pipe(ChatPipeline.withParams({ maxTokens: 50 }))
    const haikus: Array<string> = []
    for (const temperature of temperatures) {
      const chat = yield* pipeline.pipe(ChatPipeline.withParams({ temperature }), ChatPipeline.run())
      haikus.push(chat.last?.text ?? "")
      yield* Console.log(`--- temperature ${temperature} (${chat.generator}) ---`)
      yield* Console.log(chat.last?.text)
    }
    return haikus
  }
)

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (_text, params) =>
    (params.temperature ?? 0) < 0.3
      ? "Boats rest on the bay\nropes creak in the morning calm\ngulls wait for the tide"
      : (params.temperature ?? 0) < 0.8
      ? "Sails fill with the wind\nthe harbour falls far behind\nblue on endless blue"
      : "Copper hulls hum jazz\nmoonlit oars argue with fish\nthe sea keeps the score",
  { identifier: "mock!haiku" }
)

runMain(import.meta, program, mock)
