/**
 * The cluster on PostgreSQL with real runner processes: chunks spread over runners, rows exactly once, a killed
 * runner's chunks finished by the others. Starts its own PostgreSQL server (test/support/Postgres.ts).
 */
import { ClusterBatch, PostgresCluster } from "@capstan/cluster"
import { Dataset, Template } from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Echo } from "../support/ClusterRunner.js"
import * as Postgres from "../support/Postgres.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

const items = (n: number) =>
  Effect.runSync(
    Dataset.validate(Template.make("Say {word}"), Array.from({ length: n }, (_, i) => ({ id: `i${i}`, word: `w${i}` })))
  )

const startRunner = (url: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess, Error>((resume) => {
      const child = spawn(process.execPath, [
        "--conditions=@capstan/source",
        "--import",
        "tsx",
        "test/support/ClusterRunner.ts"
      ], {
        cwd: root,
        env: { ...process.env, CAPSTAN_CLUSTER_URL: url, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk))
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk
        if (out.includes("ready")) resume(Effect.succeed(child))
      })
      child.once("exit", (code) => resume(Effect.fail(new Error(`runner exited ${code}: ${err}`))))
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

describe("ClusterBatch on PostgreSQL (runner processes)", () => {
  it.live("two runners answer every chunk; rows come back in order, once each", () =>
    Effect.gen(function*() {
      const server = yield* Postgres.scoped
      const url = `postgres://${server.username}@${server.host}:${server.port}/${server.database}`
      yield* startRunner(url)
      yield* startRunner(url)
      const { rows, summary } = yield* ClusterBatch.run(Echo, items(200), {
        batchId: "pg-1",
        generator: "mock!echo",
        chunkSize: 25
      }).pipe(Effect.provide(PostgresCluster.layerClient({ url })))
      expect(rows.map((row) => row.index)).toEqual(items(200).map((_, i) => i))
      expect(summary.ok).toBe(200)
    }).pipe(Effect.scoped), { timeout: 120_000 })
})
