/**
 * The workspace's root scripts as pnpm runs them: `sh -c '<script> args...'` with `node_modules/.bin` first on the
 * PATH, where `node` is the pinned Node's `sh` shim. A signal to the script's process must reach Capstan, and
 * `kill -9` must leave nothing behind that keeps writing.
 */
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { type CliResult, isolatedEnv, repoRoot, reviews, rowsOf, scratch, spawnCli, waitFor } from "./process.js"

const scripts: Readonly<Record<string, string>> =
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).scripts

const ITEMS = 60

let server: FakeProviderServer
let files: ReturnType<typeof scratch>
let leftovers: Array<number> = []
beforeEach(async () => {
  server = await FakeProvider.start({ latencyMs: 250 })
  files = scratch({ "in.jsonl": reviews(ITEMS) })
})
afterEach(async () => {
  // A failing run must not leave a Capstan behind.
  for (const pid of leftovers) killQuietly(pid)
  leftovers = []
  await server.close()
  files.remove()
})

const killQuietly = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Every process below `pid`, from `ps`. */
const descendants = (pid: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const line of execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" }).split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number)
    if (child === undefined || parent === undefined || Number.isNaN(child)) continue
    children.set(parent, [...(children.get(parent) ?? []), child])
  }
  const found: Array<number> = []
  const visit = (id: number) => {
    for (const child of children.get(id) ?? []) {
      found.push(child)
      visit(child)
    }
  }
  visit(pid)
  return found
}

const batchArgs = () => [
  "batch",
  "--template",
  "Review of {product}: {review}",
  "--input",
  join(files.dir, "in.jsonl"),
  "--output",
  join(files.dir, "out.jsonl"),
  "--generator",
  `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`,
  "--concurrency",
  "3"
]

/** Runs the root script `name` with `args` appended, as pnpm does (`sh -c`, `node_modules/.bin` first on the PATH). */
const spawnScript = (name: string, args: ReadonlyArray<string>) => {
  const child = spawn("sh", ["-c", `${scripts[name]} "$@"`, "sh", ...args], {
    cwd: repoRoot,
    env: { ...isolatedEnv(), PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}` },
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
  return { child, done }
}

/** The item a logged request was for. */
const itemOf = (body: unknown): string => JSON.stringify(body).match(/review text of (r\d+)/)![1]!

describe("root scripts that start Node", () => {
  it("each runs the pinned Node with exec, so that it is the script's process", () => {
    const starting = Object.entries(scripts).filter(([, line]) => /\bnode\b|vitest/.test(line))
    expect(starting.map(([name]) => name).sort()).toEqual([
      "bench",
      "bench:cluster",
      "bench:provider-batch",
      "bench:report",
      "bench:streaming",
      "capstan",
      "demo",
      "examples:check",
      "format",
      "report:screenshot",
      "test"
    ])
    for (const [, line] of starting) expect(line).toMatch(/^exec node_modules\/node\/bin\/node /)
  })

  it("`capstan` runs the CLI from its sources with the arguments given", async () => {
    const result = await spawnScript("capstan", ["--version"]).done
    const { version } = JSON.parse(readFileSync(join(repoRoot, "packages/cli/package.json"), "utf8"))
    expect(version).toMatch(/^\d+\.\d+\.\d+/)
    expect(result.stdout.trim()).toBe(`capstan v${version}`)
    expect(result.code).toBe(0)
  })

  it("SIGINT to the `capstan` script reaches Capstan: it stops gracefully and exits 130", async () => {
    const output = join(files.dir, "out.jsonl")
    const run = spawnScript("capstan", batchArgs())
    leftovers.push(run.child.pid!)
    await waitFor("some rows", () => rowsOf(output).length >= 3)
    leftovers.push(...descendants(run.child.pid!))
    run.child.kill("SIGINT")
    const result = await run.done
    expect(result.stderr).toContain("Stopping: no new requests")
    expect(result.stderr).toMatch(/To finish, run:\n {2}capstan batch .*--resume/)
    expect(result.code).toBe(130)
    expect(rowsOf(output).length).toBeLessThan(ITEMS)
  })

  it("kill -9 of the `capstan` script leaves no process behind that keeps writing", async () => {
    const output = join(files.dir, "out.jsonl")
    const run = spawnScript("capstan", batchArgs())
    leftovers.push(run.child.pid!)
    await waitFor("some rows", () => rowsOf(output).length >= 3)
    const tree = descendants(run.child.pid!)
    leftovers.push(...tree)
    run.child.kill("SIGKILL")
    await run.done
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(tree.filter(isAlive)).toEqual([])
    const rows = rowsOf(output).length
    await new Promise((resolve) => setTimeout(resolve, 700))
    expect(rowsOf(output).length).toBe(rows)
  })

  it("Ctrl-C delivered twice at once (by the terminal and again by pnpm) still waits for the requests in flight", async () => {
    const output = join(files.dir, "out.jsonl")
    const run = spawnCli(batchArgs())
    await waitFor("some rows", () => rowsOf(output).length >= 3)
    run.child.kill("SIGINT")
    await new Promise((resolve) => setTimeout(resolve, 15))
    run.child.kill("SIGINT")
    const result = await run.done
    expect(result.code).toBe(130)
    // Every request that reached the server before the stop has its row: those in flight were waited for.
    const rows = rowsOf(output)
    expect(rows.length).toBeLessThan(ITEMS)
    expect(rows.map((row) => row.id).sort()).toEqual(server.requests.map((entry) => itemOf(entry.body)).sort())
  })
})
