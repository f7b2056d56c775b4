/**
 * Generator identifiers round-trip: parse a few, print them back; a bad one says what is wrong and where.
 * A chat records the identifier of its generator with the merged params it was run with.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-identifiers.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { ChatPipeline, Generator, GeneratorRegistry, Identifier } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect } from "effect"
import { runMain } from "./run.js"

export const identifiers = [
  "mock!echo,temperature=0.5",
  "mock!echo,max_tokens=100,stop=a;b;c",
  "mock!fixed,reply=hello,rpm=60,max_connections=4"
]

export const program = Effect.gen(function*() {
  for (const text of identifiers) {
    const identifier = yield* GeneratorRegistry.parse(text)
    yield* Console.log(`${text}  ->  ${Identifier.format(identifier)}`)
  }
  const invalid = yield* Effect.flip(GeneratorRegistry.parse("mock!echo,temperature=hot"))
  yield* Console.log(invalid.message)
  const generator = yield* Generator.Generator
  yield* Console.log(`in context: ${Identifier.format(generator.identifier)}`)
  const chat = yield* ChatPipeline.make("Hi").pipe(ChatPipeline.withParams({ temperature: 0.2 }), ChatPipeline.run())
  yield* Console.log(`the chat ran on: ${chat.generator}`)
  return chat.generator
})

export const mock = MockGenerator.echo({ identifier: "mock!echo,max_tokens=50" })

runMain(import.meta, program, mock)
