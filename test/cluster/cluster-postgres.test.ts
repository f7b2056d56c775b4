/**
 * The cluster on PostgreSQL: the row store and the shared budget on a real server, and real runner processes — chunks
 * spread over them, rows exactly once, a runner killed with SIGKILL mid-batch and its chunks finished by the others.
 * Needs PostgreSQL's server binaries (Debian's `postgresql` package; `.ci/run` installs it): the test starts its own
 * server on loopback in a temporary directory and stops it after.
 */
import { ClusterBatch, PostgresCluster, RowStore, SharedBudget } from "@capstan/cluster"
import { Batch, Dataset, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Data, Duration, Effect, Fiber, Layer, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Echo, Narrow } from "../support/ClusterRunner.js"
import * as Postgres from "../support/Postgres.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

const items = (n: number) =>
  Effect.runSync(
    Dataset.validate(
      Template.make("Say {word}"),
      Array.from({ length: n }, (_, i) => ({ id: `i${i}`, word: `w${i}` }))
    )
  )

class RunnerExited
  extends Data.TaggedError("RunnerExited")<{ readonly code: number | null; readonly stderr: string }>
{}

/** A runner process (test/support/ClusterRunner.ts), ready once it has joined; killed when the scope closes. */
const startRunner = (url: string) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess, RunnerExited>((resume) => {
      const child = spawn(
        process.execPath,
        ["--conditions=@capstan/source", "--import", "tsx", "test/support/ClusterRunner.ts"],
        { cwd: root, env: { ...process.env, CAPSTAN_CLUSTER_URL: url }, stdio: ["ignore", "pipe", "pipe"] }
      )
      let stdout = ""
      let stderr = ""
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk
        if (stdout.includes("ready")) resume(Effect.succeed(child))
      })
      child.once("exit", (code) => resume(Effect.fail(new RunnerExited({ code, stderr }))))
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

const urlOf = (server: Postgres.PostgresServer) =>
  `postgres://${server.username}@${server.host}:${server.port}/${server.database}`

const clientOf = (server: Postgres.PostgresServer) =>
  PgClient.layer({ host: server.host, port: server.port, username: server.username, database: server.database })

describe("the row store and the shared budget in PostgreSQL", () => {
  it.live("rows are written once, read back in order a page at a time, and counted", () =>
    Effect.gen(function*() {
      const server = yield* Postgres.scoped
      const { rows } = yield* Batch.run(items(1203), { params: { n: 2 } })
      const store = yield* Layer.build(RowStore.layerSql.pipe(Layer.provide(clientOf(server)))).pipe(
        Effect.map(Context.get(RowStore.RowStore))
      )
      expect(yield* store.write("b", rows.slice(0, 1000))).toBe(1000)
      expect(yield* store.write("b", rows)).toBe(rows.length - 1000)
      expect(yield* store.write("b", rows)).toBe(0)
      expect(yield* store.write("other", rows.slice(0, 2))).toBe(2)
      const back = yield* Stream.runCollect(store.rows("b"))
      expect(back.map(Batch.toJsonLine)).toEqual(rows.map(Batch.toJsonLine))
      expect(yield* store.count("b")).toEqual({ rows: 2406, items: 1203, failed: 0 })
      expect([...(yield* store.completed("b", { from: 1200, to: 1300 }))].sort()).toEqual([1200, 1201, 1202])
    }).pipe(Effect.scoped, Effect.provide(MockGenerator.echo())), { timeout: 60_000 })

  it.live("two runners reserving at once take distinct slots of one schedule", () =>
    Effect.gen(function*() {
      const server = yield* Postgres.scoped
      // Two processes' budgets: each with its own connection pool to the same database.
      const budgetOf = () =>
        Layer.build(SharedBudget.layerSql.pipe(Layer.provide(clientOf(server)), Layer.fresh)).pipe(
          Effect.map(Context.get(SharedBudget.SharedBudget))
        )
      const [a, b] = [yield* budgetOf(), yield* budgetOf()]
      const limits = { rpm: 6000, burstSeconds: 1 }
      // When each request may start: the time its reservation returned, plus its wait.
      const starts = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a : b)),
        (budget) =>
          Effect.zipWith(
            budget.reserve("openai!gpt-4o-mini", limits, 1),
            Clock.currentTimeMillis,
            (wait, now) => now + Duration.toMillis(wait)
          ),
        { concurrency: 32 }
      )
      const sorted = [...starts].sort((x, y) => x - y)
      // 6000 rpm is a slot every 10 ms, and a second's burst (100 requests) may go at once: any m + 100 consecutive
      // starts span at least m slots (a few ms of tolerance for the two clocks).
      for (const m of [50, 100, 200]) {
        for (let i = 0; i + m + 99 < sorted.length; i += 7) {
          expect(sorted[i + m + 99]! - sorted[i]!).toBeGreaterThanOrEqual(m * 10 - 15)
        }
      }
      // And the budget is not wasted: 300 requests start within about 2 seconds.
      expect(sorted.at(-1)! - sorted[0]!).toBeLessThan(2600)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("ClusterBatch on PostgreSQL with runner processes", () => {
  it.live("two runners answer every chunk; rows come back in input order, once each", () =>
    Effect.gen(function*() {
      const server = yield* Postgres.scoped
      const url = urlOf(server)
      yield* Effect.all([startRunner(url), startRunner(url)], { concurrency: 2 })
      const { rows, summary } = yield* ClusterBatch.run(Echo, items(300), {
        batchId: "two-runners",
        generator: "mock!echo",
        chunkSize: 25
      }).pipe(Effect.provide(PostgresCluster.layerClient({ url })))
      expect(rows.map((row) => row.index)).toEqual(items(300).map((_, i) => i))
      expect(rows.every((row) => row.output === `Say w${row.index}`)).toBe(true)
      expect(summary).toMatchObject({ items: 300, rows: 300, ok: 300 })
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.live(
    "a runner killed with SIGKILL mid-batch: the others take its chunks, every item ends with one row",
    () =>
      Effect.gen(function*() {
        const server = yield* Postgres.scoped
        const url = urlOf(server)
        const [first] = yield* Effect.all([startRunner(url), startRunner(url), startRunner(url)], { concurrency: 3 })
        const sql = yield* Layer.build(clientOf(server)).pipe(
          Effect.map(Context.get(SqlClient.SqlClient))
        )
        const written = sql<{ readonly count: number }>`SELECT count(*)::int AS count FROM capstan_rows`.pipe(
          Effect.map(([row]) => row?.count ?? 0),
          Effect.orElseSucceed(() => 0)
        )
        const n = 600
        const run = yield* ClusterBatch.run(Narrow, items(n), {
          batchId: "killed",
          generator: "mock!echo,delay_ms=300",
          chunkSize: 40
        }).pipe(Effect.provide(PostgresCluster.layerClient({ url })), Effect.forkChild)
        // Kill a runner once 30 % of the rows are in.
        yield* Effect.repeat(written, { schedule: Schedule.spaced("100 millis"), until: (count) => count >= n * 0.3 })
        const before = yield* written
        first.kill("SIGKILL")
        const { rows, summary } = yield* Fiber.join(run)
        expect(before).toBeLessThan(n)
        expect(rows.map((row) => row.index)).toEqual(items(n).map((_, i) => i))
        expect(summary).toMatchObject({ items: n, rows: n, ok: n })
        const [stored] = yield* sql<{ readonly rows: number; readonly keys: number }>`
        SELECT count(*)::int AS rows, count(DISTINCT (item_index, choice))::int AS keys FROM capstan_rows`
        expect(stored).toEqual({ rows: n, keys: n })
      }).pipe(Effect.scoped),
    { timeout: 180_000 }
  )
})
