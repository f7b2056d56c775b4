/**
 * Batches over several runner processes (`@capstan/cluster` on PostgreSQL), against the fake provider:
 *
 *   npx -y pnpm@10 bench:cluster [--only rate-limited --only cpu-bound --only kill] [--items 3000] [--cpu-items 3000]
 *
 * 1. `rate-limited`: 3 runners, one fake provider at 6000 RPM for the account, 3000 items, each runner's budget
 *    `shared` (PostgreSQL reservations), `split:3` (a third of the limit each, plus header learning) and `local` (the
 *    whole limit each): lost, wall / ideal, refused / N.
 * 2. `cpu-bound`: a parse-heavy job (a mock model's JSON documents decoded with a schema, no provider) on 1, 2 and 3
 *    runners: items/s and each runner's CPU, against a local `Batch.run` of the same job; a projection to more cores.
 * 3. `kill`: as 1 with `shared`, `kill -9` of the busiest runner once 30 % of the rows exist: lost, requests paid
 *    twice against what the killed runner had under way, wall.
 *
 * Every run starts its own PostgreSQL server (`test/support/Postgres.ts`), fake provider process (`bench/server.ts`)
 * and runner processes (`bench/cluster-runner.ts`), and stops them whatever happens. The coordinator is this process.
 * Prints a table and writes `bench/results/cluster.json`.
 */
import { ClusterBatch, PostgresCluster, RowStore } from "@capstan/cluster"
import { Providers } from "@capstan/providers"
import { Data, Effect, Fiber, Layer, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as Postgres from "../test/support/Postgres.js"
import { benchItems, Echo, type LocalResult, ParseHeavy, type RunnerStats } from "./cluster-runner.js"
import {
  coordinationShare,
  duplicatesPaid,
  idealRateLimitedMs,
  killChecks,
  lostItems,
  projectedThroughput,
  rateLimitedChecks,
  type RunnerCpu,
  runnerCpuPerItemMs
} from "./internal/cluster.js"
import { type ServerProcess, startServer } from "./internal/processes.js"
import { API_KEY, expectedAnswer, MODEL } from "./internal/protocol.js"
import { machine } from "./internal/report.js"
import type { Check } from "./scenarios.js"

const SCENARIOS = ["rate-limited", "cpu-bound", "kill"] as const
type ScenarioName = (typeof SCENARIOS)[number]

const { values: flags } = parseArgs({
  options: {
    only: { type: "string", multiple: true },
    items: { type: "string", default: "3000" },
    "cpu-items": { type: "string", default: "3000" },
    "kill-at": { type: "string", default: "0.3" },
    /** Records in each parse-heavy answer (300: 46 KB). */
    records: { type: "string", default: "300" },
    budgets: { type: "string", default: "shared,split:3,local" },
    /** Runner processes of the rate-limited and kill scenarios. */
    runners: { type: "string", default: "3" }
  }
})
const unknown = (flags.only ?? []).filter((name) => !SCENARIOS.includes(name as ScenarioName))
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(", ")}; the scenarios are ${SCENARIOS.join(", ")}\n`)
  process.exit(2)
}
const selected = SCENARIOS.filter((name) => flags.only === undefined || flags.only.includes(name))
const ITEMS = Number(flags.items)
const CPU_ITEMS = Number(flags["cpu-items"])
const KILL_AT = Number(flags["kill-at"])
const RPM = 6000
const LATENCY_MS = 50
const RUNNERS = Number(flags.runners)
/** After the runners joined: the time for the shards to settle on them (assignments refresh every second). */
const SETTLE = "3 seconds"

const root = fileURLToPath(new URL("..", import.meta.url))
const resultsDir = fileURLToPath(new URL("results", import.meta.url))
const log = (line: string) => process.stderr.write(`${line}\n`)

// ---------------------------------------------------------------------------------------------------------------
// Processes

/** A runner process and the last figures it printed. */
interface Runner {
  readonly name: string
  readonly child: ChildProcess
  latest: RunnerStats
  /** Its 200 answers so far, sampled once a second from its figures (how fast each runner sends). */
  readonly answeredBySecond: Array<number>
  /** Resolves with the next figures it prints. */
  readonly next: () => Promise<RunnerStats>
}

/** When this process started: the runners' samples are by second since then. */
const benchStarted = performance.now()

const exited = (child: ChildProcess): Promise<unknown> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, "exit")

const runnerArgs = (extra: ReadonlyArray<string>) => [
  "--conditions=@capstan/source",
  "--import",
  "tsx",
  "bench/cluster-runner.ts",
  ...extra
]

/** A runner process ended before it joined the cluster. */
class RunnerExited extends Data.TaggedError("RunnerExited")<{ readonly runner: string; readonly reason: string }> {}

/** Starts a runner process; it is killed with the scope. */
const startRunner = (name: string, url: string, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.callback<Runner, RunnerExited>((resume) => {
      const child = spawn(process.execPath, runnerArgs([]), {
        cwd: root,
        env: { ...process.env, CAPSTAN_CLUSTER_URL: url, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const waiting: Array<(stats: RunnerStats) => void> = []
      const runner: Runner = {
        name,
        child,
        latest: { cpuMs: 0, inFlight: 0, answered: 0, written: 0 },
        answeredBySecond: [],
        next: () => new Promise((resolve) => waiting.push(resolve))
      }
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (line === "ready") resume(Effect.succeed(runner))
        else if (line.startsWith("stats ")) {
          runner.latest = JSON.parse(line.slice(6)) as RunnerStats
          const second = Math.floor(performance.now() / 1000)
          runner.answeredBySecond[second - Math.floor(benchStarted / 1000)] = runner.latest.answered
          for (const resolve of waiting.splice(0)) resolve(runner.latest)
        }
      })
      child.once("exit", (code, signal) => {
        resume(Effect.fail(new RunnerExited({ runner: name, reason: `exited (${code ?? signal}): ${stderr}` })))
      })
    }),
    (runner) =>
      Effect.promise(() => {
        runner.child.kill("SIGKILL")
        return exited(runner.child)
      })
  )

const startRunners = (count: number, url: string, env: Readonly<Record<string, string>>) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => `r${i + 1}`), (name) => startRunner(name, url, env), {
    concurrency: "unbounded"
  })

/** The fake provider in its own process; stopped with the scope. */
const fakeProvider = Effect.acquireRelease(
  Effect.promise(() => startServer({ rpm: RPM, burst: 1, latencyMs: LATENCY_MS, seed: 1, logRequests: 50_000 })),
  (server: ServerProcess) => Effect.promise(() => server.close())
)

const urlOf = (server: Postgres.PostgresServer) =>
  `postgres://${server.username}@${server.host}:${server.port}/${server.database}`

/** The parse-heavy job in one runner process, no cluster: the CPU per item of a plain `Batch.run`. */
const runLocal = (items: number) =>
  Effect.promise(() =>
    new Promise<LocalResult>((resolve, reject) => {
      const child = spawn(process.execPath, runnerArgs(["local", String(items)]), {
        cwd: root,
        env: { ...process.env, CAPSTAN_BENCH_RECORDS: flags.records },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.once("exit", () => {
        const line = stdout.split("\n").find((l) => l.startsWith("local "))
        if (line === undefined) reject(new Error(`the local run gave no result: ${stderr}`))
        else resolve(JSON.parse(line.slice(6)) as LocalResult)
      })
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL's CPU (its server process and every backend), from /proc: the shared work of the cluster

const CLOCK_TICKS_MS = 10 // USER_HZ is 100 on Linux

const statOf = (pid: string) => {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  return {
    ppid: fields[1]!,
    cpuMs: (Number(fields[11]) + Number(fields[12])) * CLOCK_TICKS_MS,
    childrenMs: (Number(fields[13]) + Number(fields[14])) * CLOCK_TICKS_MS
  }
}

/** CPU milliseconds of the PostgreSQL server on `port` so far (its backends, living and ended), or 0 without /proc. */
const postgresCpuMs = (port: number): number => {
  try {
    const pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name))
    const postmaster = pids.find((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
        return args[0]?.endsWith("postgres") === true && args.join(" ").includes(`-p ${port}`)
      } catch {
        return false
      }
    })
    if (postmaster === undefined) return 0
    const main = statOf(postmaster)
    let total = main.cpuMs + main.childrenMs
    for (const pid of pids) {
      try {
        const stat = statOf(pid)
        if (stat.ppid === postmaster) total += stat.cpuMs
      } catch {
        // the process ended while we read
      }
    }
    return total
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Runs

interface RunResult {
  readonly scenario: ScenarioName
  readonly variant: string
  readonly runners: number
  readonly items: number
  readonly lost: number
  readonly wallMs: number
  readonly requests?: number
  readonly refused?: number
  readonly duplicates?: number
  readonly perRunner: ReadonlyArray<RunnerCpu & { readonly name: string }>
  readonly coordinatorCpuMs: number
  readonly postgresCpuMs: number
  readonly extra?: Readonly<Record<string, unknown>>
  readonly checks: ReadonlyArray<Check>
}

/** Each runner's CPU and items over a run: the difference of its figures at the start and at the end. */
const perRunnerOf = (runners: ReadonlyArray<Runner>, before: ReadonlyArray<RunnerStats>) =>
  runners.map((runner, i) => ({
    name: runner.name,
    cpuMs: runner.latest.cpuMs - before[i]!.cpuMs,
    items: runner.latest.written - before[i]!.written
  }))

/** The figures of every live runner, fresh (each one's next line). */
const freshStats = (runners: ReadonlyArray<Runner>) =>
  Effect.promise(() =>
    Promise.all(
      runners.map((r) =>
        r.child.exitCode === null && r.child.signalCode === null ? r.next() : Promise.resolve(r.latest)
      )
    )
  )

/** Once `share` of the items have rows: kill -9 the busiest runner, right after it reported its figures. */
const killWhen = (runners: ReadonlyArray<Runner>, before: ReadonlyArray<RunnerStats>, share: number, items: number) =>
  Effect.gen(function*() {
    const store = yield* RowStore.RowStore
    const counted = yield* store.count("bench").pipe(
      Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (count) => count.items >= share * items })
    )
    const busiest = runners.reduce((a, b) => {
      const i = runners.indexOf(a)
      const j = runners.indexOf(b)
      return b.latest.answered - before[j]!.answered > a.latest.answered - before[i]!.answered ? b : a
    })
    const stats = yield* Effect.promise(busiest.next)
    busiest.child.kill("SIGKILL")
    const rows = yield* store.count("bench")
    return {
      runner: busiest.name,
      itemsWithRows: counted.items,
      itemsAtKill: rows.items,
      inFlight: stats.inFlight,
      answered: stats.answered,
      written: stats.written,
      unwritten: Math.max(0, stats.answered - stats.written)
    }
  })

/** Scenarios 1 and 3: 3 runners under one account's 6000 RPM, one budget; with `kill`, kill -9 one at 30 %. */
const rateLimitedRun = (budget: string, kill: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const pg = yield* Postgres.scoped
    const url = urlOf(pg)
    const server = yield* fakeProvider
    const runners = yield* startRunners(RUNNERS, url, { CAPSTAN_RUNNER_BUDGET: budget, OPENAI_API_KEY: API_KEY })
    const cluster = yield* Layer.build(PostgresCluster.layerClient({ url }))
    yield* Effect.sleep(SETTLE)
    const items = yield* benchItems(ITEMS)
    const before = yield* freshStats(runners)
    const postgres0 = postgresCpuMs(pg.port)
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    const killer = kill
      ? yield* Effect.forkScoped(killWhen(runners, before, KILL_AT, ITEMS).pipe(Effect.provideContext(cluster)))
      : undefined
    const { rows } = yield* ClusterBatch.run(Echo, items, {
      batchId: "bench",
      generator: `openai!${MODEL},base_url=${server.url}/v1,rpm=${RPM}`
    }).pipe(Effect.provideContext(cluster))
    const wallMs = performance.now() - started
    const cpu = process.cpuUsage(cpu0)
    yield* freshStats(runners)
    const postgres = postgresCpuMs(pg.port) - postgres0
    const killed = killer === undefined ? undefined : yield* Fiber.join(killer)
    const report = yield* Effect.promise(() => server.report())
    const stored = yield* RowStore.RowStore.use((store) => store.count("bench")).pipe(Effect.provideContext(cluster))
    const lost = lostItems(ITEMS, rows, expectedAnswer)
    const successes = report.stats.byStatus[200] ?? 0
    const duplicates = duplicatesPaid(successes, ITEMS, lost)
    const ideal = idealRateLimitedMs(ITEMS, RPM, 1, LATENCY_MS)
    const result: RunResult = {
      scenario: kill ? "kill" : "rate-limited",
      variant: kill ? `${budget}, kill -9 at ${Math.round(KILL_AT * 100)} %` : budget,
      runners: RUNNERS,
      items: ITEMS,
      lost,
      wallMs,
      requests: report.stats.requests,
      refused: report.stats.rateLimited,
      duplicates,
      perRunner: perRunnerOf(runners, before),
      coordinatorCpuMs: (cpu.user + cpu.system) / 1000,
      postgresCpuMs: postgres,
      extra: {
        idealMs: ideal,
        storedRows: stored.rows,
        storedItems: stored.items,
        successes,
        answeredPerSecondByRunner: runners.map((runner) =>
          runner.answeredBySecond.flatMap((total, second) => {
            const previous = runner.answeredBySecond[second - 1]
            return total === undefined || previous === undefined ? [] : [total - previous]
          })
        ),
        duplicateItems: report.timeline?.duplicateSuccesses,
        admittedPerSecond: report.timeline?.admittedPerSecond,
        refusedPerSecond: report.timeline?.refusedPerSecond,
        ...(killed === undefined ? {} : { killed })
      },
      checks: killed === undefined
        ? rateLimitedChecks({ items: ITEMS, lost, wallMs, refused: report.stats.rateLimited }, ideal)
        : killChecks({ lost, duplicates, inFlight: killed.inFlight, unwritten: killed.unwritten })
    }
    log(
      `   ${result.scenario} (${result.variant}): ${(wallMs / 1000).toFixed(2)} s (ideal ${
        (ideal / 1000).toFixed(2)
      } s), ` +
        `lost ${lost}, 429s ${report.stats.rateLimited}, requests ${report.stats.requests}, duplicates ${duplicates}` +
        (killed === undefined
          ? ""
          : `; killed ${killed.runner} at ${killed.itemsAtKill} items: ${killed.inFlight} in flight, ${killed.unwritten} answered without rows`)
    )
    return result
  }))

/** Scenario 2: the parse-heavy job on `count` runners, no provider. */
/** Items run before a CPU measurement, so that it measures warm code (in runners, and in the local run). */
export const WARM_UP_ITEMS = 600

const cpuBoundRun = (count: number, localMsPerItem: number) =>
  Effect.scoped(Effect.gen(function*() {
    const pg = yield* Postgres.scoped
    const url = urlOf(pg)
    const runners = yield* startRunners(count, url, { CAPSTAN_BENCH_RECORDS: flags.records })
    const cluster = yield* Layer.build(PostgresCluster.layerClient({ url }))
    yield* Effect.sleep(SETTLE)
    const items = yield* benchItems(CPU_ITEMS)
    // Runners are long-lived services: the measured batch runs on warm ones (compiled code, pools open), as the
    // local run it is compared with measures after a warm-up of its own. Small chunks reach every runner.
    yield* ClusterBatch.run(ParseHeavy, yield* benchItems(WARM_UP_ITEMS), {
      batchId: "warm-up",
      generator: "mock!parse-heavy",
      chunkSize: 25
    }).pipe(Effect.provideContext(cluster))
    const before = yield* freshStats(runners)
    const postgres0 = postgresCpuMs(pg.port)
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    const { rows } = yield* ClusterBatch.run(ParseHeavy, items, { batchId: "bench", generator: "mock!parse-heavy" })
      .pipe(Effect.provideContext(cluster))
    const wallMs = performance.now() - started
    const cpu = process.cpuUsage(cpu0)
    yield* freshStats(runners)
    const postgres = postgresCpuMs(pg.port) - postgres0
    const lost = lostItems(CPU_ITEMS, rows, (index) => rows.find((r) => r.index === index)?.output ?? "")
    const parsedWrong = rows.filter((row) => (row.parsed as { item?: number } | undefined)?.item !== row.index).length
    const perRunner = perRunnerOf(runners, before)
    const runnerMs = runnerCpuPerItemMs(perRunner, CPU_ITEMS)
    const share = coordinationShare(runnerMs, localMsPerItem)
    const result: RunResult = {
      scenario: "cpu-bound",
      variant: `${count} runner${count === 1 ? "" : "s"}`,
      runners: count,
      items: CPU_ITEMS,
      lost: lost + parsedWrong,
      wallMs,
      perRunner,
      coordinatorCpuMs: (cpu.user + cpu.system) / 1000,
      postgresCpuMs: postgres,
      extra: { itemsPerSecond: CPU_ITEMS / (wallMs / 1000), runnerMsPerItem: runnerMs, localMsPerItem, share },
      checks: [
        { target: "lost = 0", value: String(lost + parsedWrong), pass: lost + parsedWrong === 0 },
        {
          target: "coordination ≤ 5 % of the item's CPU",
          value: `${(100 * share).toFixed(1)} % (${runnerMs.toFixed(3)} vs ${localMsPerItem.toFixed(3)} ms/item)`,
          pass: share <= 0.05
        }
      ]
    }
    log(
      `   cpu-bound (${result.variant}): ${(wallMs / 1000).toFixed(2)} s, ${
        (CPU_ITEMS / (wallMs / 1000)).toFixed(0)
      } items/s, ` +
        `runner CPU ${
          perRunner.map((r) => `${r.name} ${(r.cpuMs / 1000).toFixed(2)} s / ${r.items} items`).join(", ")
        }; ` +
        `coordinator ${(result.coordinatorCpuMs / 1000).toFixed(2)} s, PostgreSQL ${(postgres / 1000).toFixed(2)} s`
    )
    return result
  }))

// ---------------------------------------------------------------------------------------------------------------
// Report

const table = (results: ReadonlyArray<RunResult>): string => {
  const header = "| scenario | variant | runners | N | lost | wall s | items/s | 429s | requests | duplicates | " +
    "runner CPU s (items) | runner CPU ms/item | coordinator CPU ms/item | PostgreSQL CPU ms/item | targets |"
  const lines = results.map((r) => {
    const cpu = r.perRunner.map((p) => `${(p.cpuMs / 1000).toFixed(2)} (${p.items})`).join(", ")
    const targets = r.checks.map((c) => `${c.pass ? "✅" : "❌"} ${c.target}: ${c.value}`).join("<br>")
    const opt = (n: number | undefined) => (n === undefined ? "—" : String(n))
    return `| ${r.scenario} | ${r.variant} | ${r.runners} | ${r.items} | ${r.lost} | ${
      (r.wallMs / 1000).toFixed(2)
    } | ` +
      `${(r.items / (r.wallMs / 1000)).toFixed(0)} | ${opt(r.refused)} | ${opt(r.requests)} | ${opt(r.duplicates)} | ` +
      `${cpu} | ${runnerCpuPerItemMs(r.perRunner, r.items).toFixed(3)} | ${
        (r.coordinatorCpuMs / r.items).toFixed(3)
      } | ` +
      `${(r.postgresCpuMs / r.items).toFixed(3)} | ${targets} |`
  })
  return [header, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|---|", ...lines].join("\n")
}

const projection = (results: ReadonlyArray<RunResult>, localMsPerItem: number): string => {
  const three = results.find((r) => r.scenario === "cpu-bound" && r.runners === 3)
    ?? results.findLast((r) => r.scenario === "cpu-bound")
  if (three === undefined) return ""
  const cost = {
    runnerMs: runnerCpuPerItemMs(three.perRunner, three.items),
    postgresMs: three.postgresCpuMs / three.items,
    coordinatorMs: three.coordinatorCpuMs / three.items
  }
  const cores = [2, 4, 8, 16, 32]
  return [
    `Projection from the ${three.variant} run (CPU per item: runners ${cost.runnerMs.toFixed(3)} ms, PostgreSQL ` +
    `${cost.postgresMs.toFixed(3)} ms, coordinator ${cost.coordinatorMs.toFixed(3)} ms; local Batch.run ` +
    `${localMsPerItem.toFixed(3)} ms): one runner per core, throughput = min(runners × 1000 / runner ms, ` +
    `cores × 1000 / (runner + PostgreSQL + coordinator ms), 1000 / coordinator ms).`,
    "",
    `| cores = runners | ${cores.join(" | ")} |`,
    `|---|${cores.map(() => "--:").join("|")}|`,
    `| projected items/s | ${cores.map((k) => projectedThroughput(cost, k, k).toFixed(0)).join(" | ")} |`
  ].join("\n")
}

const main = Effect.gen(function*() {
  const started = performance.now()
  const results: Array<RunResult> = []
  let localMsPerItem = Number.NaN
  if (selected.includes("rate-limited")) {
    log(`\n== rate-limited: ${RUNNERS} runners, ${ITEMS} items, ${RPM} RPM for the account, ${LATENCY_MS} ms latency`)
    for (const budget of flags.budgets.split(",")) results.push(yield* rateLimitedRun(budget, false))
  }
  if (selected.includes("cpu-bound")) {
    log(`\n== cpu-bound: the parse-heavy job (${flags.records} records an answer), ${CPU_ITEMS} items, no provider`)
    const local = yield* runLocal(CPU_ITEMS)
    localMsPerItem = local.cpuMs / local.items
    log(
      `   local Batch.run: ${(local.wallMs / 1000).toFixed(2)} s, ${
        localMsPerItem.toFixed(3)
      } ms CPU/item, ok ${local.ok}`
    )
    for (const count of [1, 2, 3]) results.push(yield* cpuBoundRun(count, localMsPerItem))
  }
  if (selected.includes("kill")) {
    log(`\n== kill: as rate-limited (shared), kill -9 of one runner at ${Math.round(KILL_AT * 100)} % of the rows`)
    results.push(yield* rateLimitedRun("shared", true))
  }
  const host = machine()
  const section = [
    `Measured ${host.date} on ${host.cpus} × ${host.cpuModel}, ${host.memoryGb} GB, Node ${host.node}; ` +
    `total ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    "",
    table(results),
    ...(Number.isNaN(localMsPerItem) ? [] : ["", projection(results, localMsPerItem)])
  ].join("\n")
  process.stdout.write(`\n${section}\n`)
  yield* Effect.promise(async () => {
    await mkdir(resultsDir, { recursive: true })
    await writeFile(`${resultsDir}/cluster.json`, JSON.stringify({ machine: host, localMsPerItem, results }, null, 2))
  })
  log("\nraw results: bench/results/cluster.json")
})

Effect.runPromise(main.pipe(Effect.provide(Providers.layer))).catch((error: unknown) => {
  log(String(error))
  process.exitCode = 1
})
