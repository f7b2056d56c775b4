/**
 * Running the `capstan` command in-process (`Cli.runWith`): the same program as the executable, without a process
 * start per case.
 */
import { NodeServices } from "@effect/platform-node"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option, Stdio } from "effect"
import { TestConsole } from "effect/testing"
import { Cli } from "../../packages/cli/src/index.js"

/** Runs `capstan ...args` (with `env` as the whole environment it reads): the exit code and what it printed. */
export const capstan = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Cli.runWith(args))
    const code = Exit.isSuccess(exit)
      ? 0
      : Option.match(Cause.findErrorOption(exit.cause), { onNone: () => -1, onSome: (error) => error.code })
    const stdout = (yield* TestConsole.logLines).join("\n")
    const stderr = (yield* TestConsole.errorLines).join("\n")
    return { code, stdout, stderr }
  }).pipe(
    Effect.provide(Layer.mergeAll(
      TestConsole.layer,
      Stdio.layerTest({}),
      ConfigProvider.layer(ConfigProvider.fromEnv({ env })),
      NodeServices.layer
    ))
  )
