/**
 * End to end on a cluster: a throwaway PostgreSQL server, `capstan runner` processes and `capstan batch --cluster`,
 * all real child processes, the runners answering from the loopback fake provider with the key in their environment.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import * as Postgres from "../support/Postgres.js"
import { reviews, rowsOf, runCli, spawnCli, type Spawned, waitFor } from "./process.js"
import { scratch } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"
const KEY = "sk-runner-key-not-printed"

let server: FakeProviderServer
let scope: Scope.Closeable
let url: string
const runners: Array<Spawned> = []

/** A runner process, once it says it is ready. */
const startRunner = async (): Promise<Spawned> => {
  const runner = spawnCli(["runner", "--cluster", url, "--chunks-at-once", "2"], { env: { OPENAI_API_KEY: KEY } })
  runners.push(runner)
  await waitFor(`a runner ready (stderr: ${runner.stderr()})`, () => runner.stderr().includes("ready at"), 90_000)
  return runner
}

beforeAll(async () => {
  server = await FakeProvider.start({ latencyMs: 2 })
  scope = Effect.runSync(Scope.make())
  const pg = await Effect.runPromise(Scope.provide(scope)(Postgres.scoped))
  url = `postgres://${pg.username}@${pg.host}:${pg.port}/${pg.database}`
  await Promise.all([startRunner(), startRunner()])
}, 180_000)

afterAll(async () => {
  for (const runner of runners) runner.child.kill("SIGKILL")
  await Promise.all(runners.map((runner) => runner.done.catch(() => undefined)))
  await server.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

/** Rows of a batch in the cluster's row store. */
const storedRows = (batchId: string): Promise<number> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM capstan_rows WHERE batch_id = ${batchId}`
    return Number(row?.n ?? 0)
  }).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url) })),
    Effect.catch(() => Effect.succeed(0)),
    Effect.runPromise
  )

const generator = () => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl}`

/** The fields of a row that do not depend on timing or on which process answered it. */
const stable = (row: Record<string, any>) => ({
  id: row.id,
  index: row.index,
  choice: row.choice,
  messages: row.messages,
  output: row.output,
  parsed: row.parsed,
  error: row.error?._tag
})

const batchArgs = (input: string, output: string, extra: ReadonlyArray<string> = [], id = generator()) => [
  "batch",
  "--template",
  TEMPLATE,
  "--input",
  input,
  "--output",
  output,
  "--generator",
  id,
  ...extra
]

describe("capstan batch --cluster", () => {
  const files = scratch({ "in.jsonl": reviews(300), "kill.jsonl": reviews(300).replace(/review text/g, "kill-case") })
  afterAll(files.remove)
  const input = join(files.dir, "in.jsonl")
  const output = join(files.dir, "cluster.jsonl")
  const clusterArgs = () => batchArgs(input, output, ["--cluster", url, "--chunk-size", "50"])

  it("two runners answer 300 items: one row per item in input order, the rows of a local run", async () => {
    const result = await runCli(clusterArgs())
    expect(result.stderr).not.toContain(KEY)
    expect(result.code, `${result.stdout}\n${JSON.stringify(rowsOf(output).find((row) => row.error))}`).toBe(0)
    expect(result.stderr).toMatch(/capstan: batch capstan-[0-9a-f]{24}: 300 rows from 300 items in 6 chunks/)
    expect(result.stderr).toContain("(6/6 chunks, 300/300 items)")
    expect(result.stdout).toMatch(/Done in .*: 300 rows written to/)
    expect(result.stdout).toMatch(/ok\s+300/)
    const rows = rowsOf(output)
    expect(rows.map((row) => row.index)).toEqual(Array.from({ length: 300 }, (_, i) => i))
    expect(new Set(rows.map((row) => row.id)).size).toBe(300)

    const local = join(files.dir, "local.jsonl")
    const localRun = await runCli(batchArgs(input, local), { env: { OPENAI_API_KEY: KEY } })
    expect(localRun.code, localRun.stderr).toBe(0)
    // A local run appends rows as they complete; the cluster's come in input order.
    const localRows = rowsOf(local).sort((a, b) => a.index - b.index || a.choice - b.choice)
    expect(localRows).toHaveLength(300)
    expect(rows.map(stable)).toEqual(localRows.map(stable))
  }, 180_000)

  it("the same command run again sends nothing and writes the same output", async () => {
    const before = readFileSync(output, "utf8")
    const requests = server.stats.requests
    const result = await runCli(clusterArgs())
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("300 items already have their rows in the cluster")
    expect(server.stats.requests).toBe(requests)
    expect(readFileSync(output, "utf8")).toBe(before)
  }, 120_000)

  it("--parse travels with the chunks: the runners parse (and instruct) as a local run does", async () => {
    // Answers in the tag only when the model's instructions came with the item (as a system message).
    server.configure({
      respond: (request) => request.system === undefined ? undefined : `<answer>${request.prompt.length}</answer>`
    })
    try {
      const parseInput = join(files.dir, "parse.jsonl")
      writeFileSync(parseInput, reviews(40).replace(/review text/g, "parse-case"))
      const parsed = join(files.dir, "parsed-cluster.jsonl")
      const result = await runCli(batchArgs(parseInput, parsed, ["--parse", "xml:answer", "--cluster", url]))
      expect(result.code, result.stderr).toBe(0)
      const rows = rowsOf(parsed)
      expect(rows).toHaveLength(40)
      expect(rows.every((row) => row.error === undefined && /^\d+$/.test(row.parsed))).toBe(true)
      const local = join(files.dir, "parsed-local.jsonl")
      const localRun = await runCli(batchArgs(parseInput, local, ["--parse", "xml:answer"]), {
        env: { OPENAI_API_KEY: KEY }
      })
      expect(localRun.code, localRun.stderr).toBe(0)
      expect(rows.map(stable)).toEqual(rowsOf(local).sort((a, b) => a.index - b.index).map(stable))
    } finally {
      server.configure({ respond: undefined })
    }
  }, 120_000)

  it("a runner killed mid-batch: every item still ends with exactly one row, exit 0", async () => {
    // Slow answers, so the batch is still running when a runner dies.
    server.configure({ latencyMs: 150 })
    const killOutput = join(files.dir, "kill-out.jsonl")
    const batch = spawnCli(
      batchArgs(join(files.dir, "kill.jsonl"), killOutput, [
        "--cluster",
        url,
        "--chunk-size",
        "25",
        "--concurrency",
        "2",
        "--batch-id",
        "kill-test"
      ])
    )
    try {
      const deadline = Date.now() + 90_000
      while ((await storedRows("kill-test")) < 20) {
        if (Date.now() > deadline) throw new Error(`no rows written: ${batch.stderr()}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(await storedRows("kill-test")).toBeLessThan(300)
      runners[0]!.child.kill("SIGKILL")
      const result = await batch.done
      expect(result.code, result.stderr).toBe(0)
      const rows = rowsOf(killOutput)
      expect(rows.map((row) => row.index)).toEqual(Array.from({ length: 300 }, (_, i) => i))
      expect(rows.every((row) => row.error === undefined)).toBe(true)
      expect(await storedRows("kill-test")).toBe(300)
    } finally {
      server.configure({ latencyMs: 2 })
      batch.child.kill("SIGKILL")
    }
  }, 240_000)
})

describe("capstan runner: leaving", () => {
  it("SIGTERM: the runner leaves the cluster and exits on its own", async () => {
    const runner = await startRunner()
    runner.child.kill("SIGTERM")
    const result = await runner.done
    expect(result.signal, result.stderr).toBe(null)
    expect(result.stderr).not.toContain("Error")
  }, 120_000)
})

describe("capstan batch --cluster: refused before anything is sent", () => {
  const files = scratch({ "in.jsonl": reviews(5) })
  afterAll(files.remove)
  const input = join(files.dir, "in.jsonl")
  const output = join(files.dir, "out.jsonl")

  it("a secret in --generator: refused, not printed, nothing sent", async () => {
    const requests = server.stats.requests
    const result = await runCli(
      batchArgs(input, output, ["--cluster", url], `${generator()},api_key=sk-secret-in-identifier`)
    )
    expect(result.code).toBe(64)
    expect(result.stderr).toContain("holds a secret")
    expect(result.stderr).toContain("OPENAI_API_KEY")
    expect(result.stdout + result.stderr).not.toContain("sk-secret-in-identifier")
    expect(server.stats.requests).toBe(requests)
    expect(rowsOf(output)).toEqual([])
  })

  it("a URL that is not PostgreSQL's, or does not parse: a usage error that does not echo it", async () => {
    const mysql = await runCli(batchArgs(input, output, ["--cluster", "mysql://u:hunter2@db/x"]))
    expect(mysql.code).toBe(64)
    expect(mysql.stderr).toContain("--cluster expects a PostgreSQL URL")
    expect(mysql.stderr).not.toContain("hunter2")
    const garbage = await runCli(batchArgs(input, output, ["--cluster", "hunter2 not a url"]))
    expect(garbage.code).toBe(64)
    expect(garbage.stderr).toContain("does not parse")
    expect(garbage.stderr).not.toContain("hunter2")
  })

  it("a database that cannot be reached: a clear error, the password masked", async () => {
    const result = await runCli(batchArgs(input, output, ["--cluster", "postgres://u:hunter2@127.0.0.1:1/x"]))
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("cannot join the cluster")
    expect(result.stdout + result.stderr).not.toContain("hunter2")
  }, 60_000)

  it("flags a cluster run cannot honour are refused; cluster flags need --cluster", async () => {
    const resume = await runCli(batchArgs(input, output, ["--cluster", url, "--resume"]))
    expect(resume.code).toBe(64)
    expect(resume.stderr).toContain("--resume cannot be used with --cluster")
    const cache = await runCli(batchArgs(input, output, ["--cluster", url, "--cache", "readwrite"]))
    expect(cache.code).toBe(64)
    expect(cache.stderr).toContain("--cache cannot be used with --cluster")
    const batchId = await runCli(batchArgs(input, output, ["--batch-id", "b1"]))
    expect(batchId.code).toBe(64)
    expect(batchId.stderr).toContain("--batch-id only apply with --cluster")
  })

  it("a dry run names the batch and its chunks, and connects to nothing", async () => {
    const result = await runCli(
      batchArgs(input, output, ["--cluster", "postgres://u:hunter2@127.0.0.1:1/x", "--dry-run", "--chunk-size", "2"])
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(
      /On the cluster at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x: batch capstan-[0-9a-f]{24}, 3 chunks/
    )
    expect(result.stdout).not.toContain("hunter2")
  })
})

describe("capstan runner", () => {
  it("--help names its flags; batch --help names the cluster flags", async () => {
    const runner = await runCli(["runner", "--help"])
    expect(runner.code).toBe(0)
    for (const flag of ["--cluster", "--host", "--port", "--listen-host", "--budget", "--chunks-at-once"]) {
      expect(runner.stdout).toContain(flag)
    }
    const batch = await runCli(["batch", "--help"])
    for (const flag of ["--cluster", "--batch-id", "--chunk-size"]) expect(batch.stdout).toContain(flag)
  })

  it("a bad --budget or URL is a usage error", async () => {
    const budget = await runCli(["runner", "--cluster", url, "--budget", "half"])
    expect(budget.code).toBe(64)
    expect(budget.stderr).toContain("--budget expects shared, local or split:N")
    const bad = await runCli(["runner", "--cluster", "http://u:hunter2@x/y"])
    expect(bad.code).toBe(64)
    expect(bad.stderr).not.toContain("hunter2")
    // The URL may come from the environment instead, out of the process list.
    const fromEnv = await runCli(["runner"], { env: { CAPSTAN_CLUSTER_URL: "mysql://u:hunter2@x/y" } })
    expect(fromEnv.code).toBe(64)
    expect(fromEnv.stderr).toContain("got a mysql URL")
    expect(fromEnv.stderr).not.toContain("hunter2")
  })
})
