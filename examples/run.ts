/**
 * How every example runs: with `CAPSTAN_GENERATOR` set (e.g. `openai!gpt-4o-mini`, with `OPENAI_API_KEY` in the
 * environment), on that real generator, built with the providers of `@capstan/providers`; otherwise on the
 * example's own scripted mock generator, so it works offline. The test suite imports each example's `program`
 * and runs it against its mock.
 */
import { Generator, type GeneratorRegistry } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"

/** The generator an example runs on when started from the command line. */
export const generatorLayer = <E>(
  mock: Layer.Layer<Generator.Generator, E>
): Layer.Layer<Generator.Generator, E | GeneratorRegistry.GeneratorInitError> => {
  const identifier = process.env.CAPSTAN_GENERATOR
  return identifier === undefined || identifier === ""
    ? mock
    : Generator.layer(identifier).pipe(Layer.provide(Providers.layer))
}

/** Runs an example program when its file is executed directly (`node --import tsx examples/x.ts`). */
export const runMain = <A, E, E2>(
  meta: ImportMeta,
  program: Effect.Effect<A, E, Generator.Generator>,
  mock: Layer.Layer<Generator.Generator, E2>
): void => {
  if (process.argv[1] !== undefined && meta.filename === process.argv[1]) {
    NodeRuntime.runMain(program.pipe(Effect.provide(generatorLayer(mock))))
  }
}
