/**
 * What `capstan` prints when the command line is wrong (the error and a usage line on stderr, exit 64), when
 * help is asked for (the whole help on stdout, exit 0), and when its output is cut short (`| head`).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option, Stdio } from "effect"
import { TestConsole } from "effect/testing"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { expect, it as vitest } from "vitest"
import { Cli } from "../../packages/cli/src/index.js"
import { isolatedEnv, repoRoot, reviews, runCli, scratch } from "./process.js"

/** Runs `capstan ...args` in-process: the exit code and what it printed. */
const capstan = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Cli.runWith(args))
    const code = Exit.isSuccess(exit)
      ? 0
      : Option.match(Cause.findErrorOption(exit.cause), { onNone: () => -1, onSome: (error) => error.code })
    return {
      code,
      stdout: (yield* TestConsole.logLines).join("\n"),
      stderr: (yield* TestConsole.errorLines).join("\n")
    }
  }).pipe(
    Effect.provide(Layer.mergeAll(
      TestConsole.layer,
      Stdio.layerTest({}),
      ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })),
      NodeServices.layer
    ))
  )

const batchUsage =
  "usage: capstan batch --template FILE|TEXT --input FILE --output FILE [options]; see capstan batch --help"

const withInput = <A, E, R>(f: (base: ReadonlyArray<string>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => scratch({ "in.jsonl": reviews(2) })),
    (files) =>
      f([
        "batch",
        "--template",
        "Review: {review}",
        "--input",
        join(files.dir, "in.jsonl"),
        "--output",
        join(files.dir, "out.jsonl"),
        "--generator",
        "mock!echo"
      ]),
    (files) => Effect.sync(files.remove)
  )

describe("a wrong command line", () => {
  it.live("prints the error and one usage line on stderr, not the help, and exits 64", () =>
    withInput((base) =>
      Effect.gen(function*() {
        const badValue = yield* capstan([...base, "--concurrency", "zero"])
        assert.strictEqual(badValue.code, 64)
        assert.strictEqual(badValue.stdout, "")
        assert.strictEqual(
          badValue.stderr,
          `error: Invalid value for flag --concurrency: "zero". Expected a string representing a finite number\n${batchUsage}`
        )

        const unknown = yield* capstan([...base, "--concurency", "3"])
        assert.strictEqual(unknown.code, 64)
        assert.strictEqual(unknown.stdout, "")
        assert.match(unknown.stderr, /^error: Unrecognized flag: --concurency in command capstan batch\n/)
        assert.include(unknown.stderr, "--concurrency")
        assert.isTrue(unknown.stderr.endsWith(batchUsage))

        const missing = yield* capstan(["batch", "--template", "Review: {review}", "--output", "out.jsonl"])
        assert.strictEqual(missing.code, 64)
        assert.strictEqual(missing.stderr, `error: Missing required flag: --input\n${batchUsage}`)

        const noPrompt = yield* capstan(["run"])
        assert.strictEqual(noPrompt.code, 64)
        assert.strictEqual(noPrompt.stdout, "")
        assert.match(noPrompt.stderr, /\nusage: capstan run PROMPT .*; see capstan run --help$/)

        const unknownCommand = yield* capstan(["bach"])
        assert.strictEqual(unknownCommand.code, 64)
        assert.match(unknownCommand.stderr, /^error: Unknown subcommand "bach"/)
        assert.match(
          unknownCommand.stderr,
          /\nusage: capstan run\|batch\|runner\|report\|providers\|demo \[options\]; see capstan --help$/
        )
      })
    ))

  it.live("--help still prints the whole help on stdout and exits 0", () =>
    Effect.gen(function*() {
      const help = yield* capstan(["batch", "--help"])
      assert.strictEqual(help.code, 0)
      assert.strictEqual(help.stderr, "")
      for (const part of ["DESCRIPTION", "USAGE", "FLAGS", "--template", "--encoding", "Exit codes:"]) {
        assert.include(help.stdout, part)
      }
    }))

  it.live("--price takes a value that starts with a dash, and refuses a negative price as a usage error", () =>
    withInput((base) =>
      Effect.gen(function*() {
        for (const price of [["--price", "-1,2"], ["--price=-1,2"], ["--price", "0.5,-2"], ["--price", "-.5,2"]]) {
          const result = yield* capstan([...base, "--dry-run", ...price])
          assert.strictEqual(result.code, 64, price.join(" "))
          assert.strictEqual(result.stdout, "")
          assert.match(
            result.stderr,
            /^error: --price .*: a price cannot be negative\n {2}Give the price per million input and output tokens, e\.g\. --price 0\.15,0\.60/
          )
        }
        const malformed = yield* capstan([...base, "--dry-run", "--price", "-1"])
        assert.strictEqual(malformed.code, 64)
        assert.match(malformed.stderr, /--price expects INPUT,OUTPUT per million tokens, got "-1"/)
        const ok = yield* capstan([...base, "--dry-run", "--price", "0.15,0.60"])
        assert.strictEqual(ok.code, 0)
      })
    ))
})

describe("the capstan process", () => {
  vitest("a bad flag value: the error and the usage line on stderr, nothing on stdout, exit 64", async () => {
    const result = await runCli([
      "batch",
      "--template",
      "x",
      "--input",
      "in.jsonl",
      "--output",
      "out.jsonl",
      "--rpm",
      "fast"
    ])
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(
      `error: Invalid value for flag --rpm: "fast". Expected a string representing a finite number\n${batchUsage}\n`
    )
    expect(result.code).toBe(64)
  })

  vitest("--help: the whole help on stdout, exit 0", async () => {
    const result = await runCli(["batch", "--help"])
    expect(result.stdout).toContain("USAGE")
    expect(result.stdout).toContain("--template")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
  })

  vitest("`--dry-run | head` ends quietly when the reader goes away", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(3000) })
    onTestFinished(files.remove)
    const child = spawn(process.execPath, [
      "--conditions=@capstan/source",
      "--import",
      "tsx",
      join(repoRoot, "packages/cli/src/bin.ts"),
      "batch",
      "--template",
      "Review of {product}: {review}",
      "--input",
      join(files.dir, "in.jsonl"),
      "--output",
      join(files.dir, "out.jsonl"),
      "--generator",
      "mock!echo",
      "--dry-run"
    ], { cwd: repoRoot, env: isolatedEnv(), stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // Like `head -1`: read the first chunk, then close the pipe while capstan still has most to write.
    child.stdout.once("data", () => child.stdout.destroy())
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once("close", (code, signal) => resolve([code, signal]))
    )
    expect(stderr).toBe("")
    expect(signal).toBe(null)
    // 128 + SIGPIPE, what a process killed by SIGPIPE reports.
    expect(code).toBe(141)
  })
})
