/**
 * The engine is a service: its Layer holds one rate limiter per provider account and model, so two generators for
 * the same model, built in one application, share it, as the provider does. Here two generators of the same model
 * (one cold, one warm) send six requests each at `rpm=600`, that is ten a second with one second of burst: together
 * they stay within the one limit (about 1.2 s for twelve), instead of each believing it owns the whole budget.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/engine-shared-limiter.ts`
 */
import { ChatPipeline, Engine, type GenerationError, Generator, type GeneratorRegistry } from "@capstan/core"
import { Clock, Console, Effect } from "effect"
import { runMain } from "./run.js"

export const identifiers = ["mock!echo,rpm=600,temperature=0", "mock!echo,rpm=600,temperature=1"]

/** When each request started, in milliseconds from the first, for both generators together. */
export const program: Effect.Effect<
  ReadonlyArray<number>,
  GeneratorRegistry.GeneratorInitError | GenerationError
> = Effect.gen(function*() {
  const [cold, warm] = yield* Effect.forEach(identifiers, (identifier) => Generator.make(identifier))
  const started: Array<number> = []
  const ask = (generator: Generator.Service, i: number) =>
    ChatPipeline.make(`question ${i}`).pipe(
      ChatPipeline.withGenerator(generator),
      ChatPipeline.run(),
      Effect.andThen(Clock.currentTimeMillis),
      Effect.map((t) => started.push(t))
    )
  yield* Effect.all(
    Array.from({ length: 12 }, (_, i) => ask(i % 2 === 0 ? cold! : warm!, i)),
    { concurrency: "unbounded" }
  )
  const first = Math.min(...started)
  const offsets = started.map((t) => t - first).sort((a, b) => a - b)
  yield* Console.log(`12 requests from 2 generators sharing one limit: the last started after ${offsets.at(-1)} ms`)
  return offsets
}).pipe(Effect.scoped, Effect.provide(Engine.layer))

// It builds its own generators (mock!echo is built in), so it needs nothing from outside.
runMain(import.meta, program, Generator.layer("mock!echo"))
