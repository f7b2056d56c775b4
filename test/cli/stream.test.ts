/**
 * `capstan run` streaming the answer to standard output as it arrives: by default only when standard output is a
 * terminal, `--stream` / `--no-stream` to choose; the fake provider's paced events and the offline mock both stream.
 */
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option, Sink, Stdio } from "effect"
import { TestConsole } from "effect/testing"
import { Cli } from "../../packages/cli/src/index.js"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"

let server: FakeProviderServer
beforeAll(async () => {
  server = await FakeProvider.start({ streamChunkChars: 3 })
})
afterAll(() => server.close())

const generator = () => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`

/** Runs `capstan ...args` in-process: its exit code, what it wrote to standard output piece by piece, and logged. */
const capstan = (args: ReadonlyArray<string>, terminal: boolean) =>
  Effect.gen(function*() {
    const writes: Array<string> = []
    const stdio = Stdio.layerTest({
      stdoutIsTerminal: Effect.succeed(terminal),
      stdout: () =>
        Sink.forEach((chunk: string | Uint8Array) =>
          Effect.sync(() => void writes.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)))
        )
    })
    const exit = yield* Effect.exit(Cli.runWith(args)).pipe(Effect.provide(stdio))
    const code = Exit.isSuccess(exit)
      ? 0
      : Option.match(Cause.findErrorOption(exit.cause), { onNone: () => -1, onSome: (error) => error.code })
    return {
      code,
      writes,
      logged: (yield* TestConsole.logLines).join("\n"),
      stderr: (yield* TestConsole.errorLines).join("\n")
    }
  }).pipe(
    Effect.provide(Layer.mergeAll(
      TestConsole.layer,
      ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })),
      NodeServices.layer
    ))
  )

describe("capstan run streams", () => {
  it.live("to a terminal: the answer piece by piece as the provider sends it, then a newline", () =>
    Effect.gen(function*() {
      const before = server.stats.streams.complete
      const result = yield* capstan(["run", "streamed-case", "--generator", generator()], true)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.isAbove(result.writes.length, 3)
      assert.strictEqual(result.writes.join(""), "echo: streamed-case\n")
      assert.strictEqual(result.logged, "")
      assert.strictEqual(server.stats.streams.complete, before + 1)
    }))

  it.live("the offline mock streams too; --no-stream prints the whole answer once", () =>
    Effect.gen(function*() {
      const streamed = yield* capstan(["run", "one two three", "--generator", "mock!echo"], true)
      assert.deepStrictEqual(streamed.writes, ["one ", "two ", "three", "\n"])
      const whole = yield* capstan(["run", "one two three", "--generator", "mock!echo", "--no-stream"], true)
      assert.deepStrictEqual(whole.writes, [])
      assert.strictEqual(whole.logged, "one two three")
    }))

  it.live("not to a pipe unless --stream says so", () =>
    Effect.gen(function*() {
      const piped = yield* capstan(["run", "piped-case", "--generator", generator()], false)
      assert.deepStrictEqual(piped.writes, [])
      assert.strictEqual(piped.logged, "echo: piped-case")
      const forced = yield* capstan(["run", "piped-case", "--generator", generator(), "--stream"], false)
      assert.strictEqual(forced.writes.join(""), "echo: piped-case\n")
    }))

  it.live("a connection dropped mid-stream: the text that came, then the error on stderr (exit 2, as unstreamed)", () =>
    Effect.gen(function*() {
      server.configure({ streamChunkDelayMs: 2 })
      server.failNext("reset-after-headers")
      const result = yield* capstan(["run", "dropped-case", "--generator", generator()], true)
      server.configure({ streamChunkDelayMs: undefined })
      assert.strictEqual(result.code, 2)
      const text = result.writes.join("")
      assert.isTrue(text.endsWith("\n"))
      assert.isTrue("echo: dropped-case".startsWith(text.trimEnd()))
      assert.isAbove(text.trimEnd().length, 0)
      assert.match(result.stderr, /^error: Connection failed \(openai\)/)
    }))
})
