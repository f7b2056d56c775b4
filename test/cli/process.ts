/**
 * Spawning the `capstan` CLI from its TypeScript sources, for the end-to-end tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const bin = join(repoRoot, "packages/cli/src/bin.ts")

/** The environment without anything that could choose a real provider or reach the network. */
export const isolatedEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/_API_KEY$|_API_BASE$|_BASE_URL$|^CAPSTAN_|_ORG_ID$|_PROJECT_ID$/.test(key)) continue
    env[key] = value
  }
  return { ...env, NO_COLOR: "1", ...extra }
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Spawned {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly done: Promise<CliResult>
}

/** Starts `capstan ...args` with the pinned Node (the one running the tests), from the workspace's sources or `bin`. */
export const spawnCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Readonly<Record<string, string>>; readonly cwd?: string; readonly bin?: string } = {}
): Spawned => {
  const child = spawn(process.execPath, [
    "--conditions=@capstan/source",
    "--import",
    "tsx",
    options.bin ?? bin,
    ...args
  ], {
    cwd: options.cwd ?? repoRoot,
    env: isolatedEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once("error", reject)
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, stdout: () => stdout, stderr: () => stderr, done }
}

/** Runs `capstan ...args` to the end. */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Readonly<Record<string, string>>; readonly cwd?: string } = {}
): Promise<CliResult> => spawnCli(args, options).done

/** Polls `check` every 20 ms until it holds, or fails after `timeoutMs`. */
export const waitFor = async (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A scratch directory with the given files. */
export const scratch = (
  files: Readonly<Record<string, string>>
): { readonly dir: string; readonly remove: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "capstan-cli-"))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The complete JSON lines of a results file (a torn last line is left out). */
export const rowsOf = (file: string): Array<Record<string, any>> => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch {
    return []
  }
  const lines = text.split("\n")
  lines.pop() // the text after the last newline: empty, or a row being written
  return lines.filter((line) => line.length > 0).map((line) => JSON.parse(line))
}

/** A JSONL input of `count` reviews with ids r01, r02, ... */
export const reviews = (count: number): string =>
  Array.from({ length: count }, (_, i) => {
    const id = `r${String(i + 1).padStart(2, "0")}`
    return JSON.stringify({ id, product: `Blend ${i + 1}`, review: `review text of ${id}` })
  }).join("\n") + "\n"
