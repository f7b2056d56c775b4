/**
 * Parent-side process handling: the fake server and each contender run in their own Node process (TypeScript files
 * with this process's flags, `--conditions=@capstan/source --import tsx`; bundled contenders on plain node).
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import { once } from "node:events"
import { createInterface } from "node:readline"
import type { Readable, Writable } from "node:stream"
import { fileURLToPath } from "node:url"
import type { FakeProviderOptions } from "../../test/support/FakeProvider.js"
import { type ContenderResult, type ContenderTask, RESULT_PREFIX, type ServerReport } from "./protocol.js"

/** A script to run in a child process, with the Node flags it needs. */
export interface Launch {
  readonly file: string
  readonly flags: ReadonlyArray<string>
}

/** A TypeScript file of `bench/`, run with this process's flags (tsx and the source condition). */
export const benchScript = (relative: string): Launch => ({
  file: fileURLToPath(new URL(`../${relative}`, import.meta.url)),
  flags: process.execArgv
})

const node = (launch: Launch, argument: string) =>
  spawn(process.execPath, [...launch.flags, launch.file, argument], { stdio: ["pipe", "pipe", "pipe"] })

/** A running server process. */
export interface ServerProcess {
  readonly url: string
  readonly report: () => Promise<ServerReport>
  readonly close: () => Promise<void>
}

const exited = (child: ChildProcessByStdio<Writable, Readable, Readable>): Promise<unknown> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, "exit")

/** Starts `bench/server.ts` with these options and waits until it listens. */
export const startServer = async (options: FakeProviderOptions): Promise<ServerProcess> => {
  const child = node(benchScript("server.ts"), JSON.stringify(options))
  const stderr: Array<string> = []
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const nextLine = async (): Promise<string> => {
    const line = await lines.next()
    if (line.done === true) throw new Error(`the server process ended: ${stderr.join("").trim()}`)
    return line.value
  }
  const { url } = JSON.parse(await nextLine()) as { readonly url: string }
  return {
    url,
    report: async () => {
      child.stdin.write("stats\n")
      return JSON.parse(await nextLine()) as ServerReport
    },
    close: async () => {
      child.stdin.end()
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
      await exited(child)
      clearTimeout(timer)
    }
  }
}

/** Why a contender gave no result: how it ended (a signal, an exit code, a timeout) and the end of its output. */
export interface Failure {
  readonly reason: string
  /** The line naming the error (V8's `FATAL ERROR: ...`, an uncaught `...Error: ...`) if any, then the last lines. */
  readonly output: string
}

/** How a contender process ended. */
export type ContenderExit =
  | { readonly _tag: "Done"; readonly result: ContenderResult }
  | { readonly _tag: "Crashed"; readonly failure: Failure }

const ERROR_LINE = /^.*(?:FATAL ERROR|\b[A-Z]\w*Error\b:).*$/m

/**
 * The failure of a contender that ended with `reason` after printing `text`: its last lines, and the line naming the
 * error before them when a long trace pushed it out (a crash prints its cause first, then a native stack trace).
 */
export const failureOf = (reason: string, text: string, lines = 6): Failure => {
  const last = text.trim().split("\n").slice(-lines)
  const cause = text.match(ERROR_LINE)?.[0]
  return { reason, output: (cause === undefined || last.includes(cause) ? last : [cause, ...last]).join("\n") }
}

/** Runs one contender process to the end (or kills it after `timeoutMs`) and reads its result line. */
export const runContender = async (launch: Launch, task: ContenderTask, timeoutMs: number): Promise<ContenderExit> => {
  const child = node(launch, JSON.stringify(task))
  child.stdin.end()
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill("SIGKILL")
  }, timeoutMs)
  await exited(child)
  clearTimeout(timer)
  const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX))
  if (line !== undefined) {
    return { _tag: "Done", result: JSON.parse(line.slice(RESULT_PREFIX.length)) as ContenderResult }
  }
  const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : `exited with ${child.exitCode ?? child.signalCode}`
  return { _tag: "Crashed", failure: failureOf(why, stderr || stdout) }
}
