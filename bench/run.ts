/**
 * Runs the benchmarks: for every scenario, every contender and size, a fresh fake server process and a fresh
 * contender process; prints a table with the targets, writes `bench/results/latest.json`, and with
 * `--write-readme` the results section of `bench/README.md`.
 *
 *   npx -y pnpm@10 bench [--only rate-limited --only faults] [--contender capstan] [--quick] [--runs N] [--tsx] [--write-readme]
 */
import { createReadStream } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import * as os from "node:os"
import { join, relative } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { bundle } from "./internal/bundle.js"
import {
  benchScript,
  type ContenderExit,
  type Failure,
  type Launch,
  runContender,
  startServer
} from "./internal/processes.js"
import type { ContenderResult, ServerReport } from "./internal/protocol.js"
import { failureSummary, machine, markdown, type Row, writeReadme } from "./internal/report.js"
import { type ContenderName, type Measured, type Run, type Scenario, scenarios, type Variant } from "./scenarios.js"

const { values: flags } = parseArgs({
  options: {
    only: { type: "string", multiple: true },
    contender: { type: "string", multiple: true },
    quick: { type: "boolean", default: false },
    tsx: { type: "boolean", default: false },
    runs: { type: "string" },
    "write-readme": { type: "boolean", default: false },
    help: { type: "boolean", default: false }
  }
})

const all = scenarios(flags.quick)
if (flags.help) {
  process.stdout.write(
    "usage: pnpm bench [--only <scenario>]... [--contender openai+p-limit|capstan]... [--quick] [--runs N] [--tsx] [--write-readme]\n\n" +
      all.map((s) => `  ${s.name.padEnd(14)} ${s.summary}`).join("\n") + "\n"
  )
  process.exit(0)
}
const usageError = (message: string): never => {
  process.stderr.write(`${message}\n`)
  return process.exit(2)
}
const contenderNames: ReadonlyArray<string> = ["openai+p-limit", "capstan"] satisfies ReadonlyArray<ContenderName>
const unknownScenarios = (flags.only ?? []).filter((name) => !all.some((s) => s.name === name))
if (unknownScenarios.length > 0) {
  usageError(`unknown scenario ${unknownScenarios.join(", ")}; the scenarios are ${all.map((s) => s.name).join(", ")}`)
}
const unknownContenders = (flags.contender ?? []).filter((name) => !contenderNames.includes(name))
if (unknownContenders.length > 0) {
  usageError(`unknown contender ${unknownContenders.join(", ")}; the contenders are ${contenderNames.join(", ")}`)
}
const runsOverride = flags.runs === undefined ? undefined : Number(flags.runs)
if (runsOverride !== undefined && !(Number.isInteger(runsOverride) && runsOverride > 0)) {
  usageError(`--runs wants a positive integer, got ${flags.runs}`)
}
if (flags["write-readme"] && (flags.only !== undefined || flags.contender !== undefined || flags.quick)) {
  usageError("--write-readme replaces the README's table, so it wants a full run: no --only, --contender or --quick")
}
const selected = all.filter((s) => flags.only === undefined || flags.only.includes(s.name))

const benchDir = fileURLToPath(new URL(".", import.meta.url))
const resultsDir = `${benchDir}results`
const SCRIPTS: Record<ContenderName, string> = {
  "openai+p-limit": "contenders/baseline.ts",
  capstan: "contenders/capstan.ts"
}

/**
 * How each contender is started: by default bundled into one JavaScript file on plain node (as users run built
 * packages); with `--tsx`, its TypeScript and Capstan's sources under tsx (about 130 MB more RSS for Capstan).
 */
const launches = async (): Promise<Record<ContenderName, Launch>> => {
  const entries = await Promise.all(
    Object.entries(SCRIPTS).map(async ([name, script]) => {
      const source = benchScript(script)
      if (flags.tsx) return [name, source] as const
      const file = `${resultsDir}/build/${name}.mjs`
      await bundle(source.file, file)
      return [name, { file, flags: [] }] as const
    })
  )
  return Object.fromEntries(entries) as Record<ContenderName, Launch>
}

const log = (line: string) => process.stderr.write(`${line}\n`)

/** The cache scenario's SQLite files, in a temporary directory of this bench run (removed at the end). */
const cacheDir = await mkdtemp(join(os.tmpdir(), "capstan-bench-cache-"))
const removeCacheFile = (file: string) =>
  Promise.all(["", "-wal", "-shm"].map((suffix) => rm(`${file}${suffix}`, { force: true })))
/**
 * The port of each cold cache run's server, by cache file: the warm run's fresh server listens on the same one, since
 * the server's address (the identifier's `base_url`) is part of every cache key.
 */
const cachePorts = new Map<string, number>()

const countLines = async (path: string): Promise<number> => {
  let count = 0
  for await (const line of createInterface({ input: createReadStream(path) })) if (line.trim() !== "") count++
  return count
}

/** One run: a fresh server, one contender process against it, then the server's counters. */
const runOnce = async (
  contenders: Record<ContenderName, Launch>,
  scenario: Scenario,
  variant: Variant,
  items: number,
  index: number
): Promise<Run | Failure> => {
  const load = os.loadavg()[0]!
  // The warm run of index i finds what the cold run of index i stored; each cold run starts from no file.
  const cacheFile = variant.cache === undefined
    ? undefined
    : join(cacheDir, `${scenario.name}-${items}-${index}.sqlite`)
  if (cacheFile !== undefined && variant.cache === "cold") await removeCacheFile(cacheFile)
  const port = cacheFile === undefined || variant.cache === "cold" ? undefined : cachePorts.get(cacheFile)
  const server = await startServer({ ...scenario.server, ...variant.server, ...(port === undefined ? {} : { port }) })
  if (cacheFile !== undefined && variant.cache === "cold") cachePorts.set(cacheFile, Number(new URL(server.url).port))
  const output = scenario.output
    ? `${resultsDir}/${scenario.name}-${variant.contender}-${items}-${index}.jsonl`
    : undefined
  let exit: ContenderExit
  let report: ServerReport
  try {
    const launch = contenders[variant.contender]
    const flagged = variant.nodeFlags === undefined
      ? launch
      : { ...launch, flags: [...variant.nodeFlags, ...launch.flags] }
    exit = await runContender(flagged, {
      scenario: scenario.name,
      baseUrl: `${server.url}/v1`,
      items,
      concurrency: scenario.concurrency,
      ...(variant.rpm === undefined ? {} : { rpm: variant.rpm }),
      ...(output === undefined ? {} : { output }),
      ...(variant.streamResults === true ? { streamResults: true } : {}),
      ...(cacheFile === undefined ? {} : { cacheFile })
    }, scenario.timeoutMs)
    report = await server.report()
  } finally {
    await server.close()
    if (cacheFile !== undefined && variant.cache === "warm") await removeCacheFile(cacheFile)
  }
  if (exit._tag === "Crashed") return exit.failure
  if (output === undefined) return { result: exit.result, server: report, load }
  // The file is the ground truth of a streamed run: every item must have its line.
  const lines = await countLines(output).catch(() => 0)
  await rm(output, { force: true })
  const missing = Math.max(exit.result.missing, items - lines)
  return { result: { ...exit.result, missing }, server: report, load }
}

/** Items without their expected answer: not ok, or missing from the output file. */
const lostIn = (r: ContenderResult): number => Math.max(r.items - r.ok, r.missing)

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const aggregate = (scenario: Scenario, variant: Variant, items: number, runs: ReadonlyArray<Run>): Measured => ({
  scenario: scenario.name,
  contender: variant.contender,
  variant: variant.variant,
  items,
  runs: runs.length,
  lost: Math.max(...runs.map((r) => lostIn(r.result))),
  refused: median(runs.map((r) => r.server.stats.rateLimited)),
  requests: median(runs.map((r) => r.server.stats.requests)),
  wallMs: median(runs.map((r) => r.result.wallMs)),
  cpuMsPerItem: median(runs.map(({ result: r }) => (r.cpuUserMs + r.cpuSystemMs) / r.items)),
  peakRssMb: median(runs.map((r) => r.result.peakRssMb)),
  startRssMb: median(runs.map((r) => r.result.startRssMb)),
  errors: runs[runs.length - 1]!.result.errors,
  raw: runs
})

const runScenario = async (
  contenders: Record<ContenderName, Launch>,
  scenario: Scenario
): Promise<ReadonlyArray<Row>> => {
  log(`\n== ${scenario.name}: ${scenario.summary}`)
  const rows: Array<Omit<Row, "checks">> = []
  const variants = scenario.variants.filter((v) =>
    flags.contender === undefined || flags.contender.includes(v.contender)
  )
  for (const variant of variants) {
    for (const items of variant.sizes) {
      const runs: Array<Run> = []
      let failure: Failure | undefined
      for (let index = 0; index < (runsOverride ?? scenario.runs) && failure === undefined; index++) {
        const outcome = await runOnce(contenders, scenario, variant, items, index)
        if (!("result" in outcome)) failure = outcome
        else {
          runs.push(outcome)
          const r = outcome.result
          const timeline = outcome.server.timeline
          const first = timeline === undefined
            ? ""
            : `first request after ${timeline.firstArrivalAt - r.startedAt} ms, `
          log(
            `   ${variant.contender} (${variant.variant}) N=${items} run ${index + 1}: ` +
              `${(r.wallMs / 1000).toFixed(2)} s, ${first}lost ${
                lostIn(r)
              }, 429s ${outcome.server.stats.rateLimited}, ` +
              `client CPU ${((r.cpuUserMs + r.cpuSystemMs) / 1000).toFixed(2)} s, server CPU ${
                (outcome.server.cpuMs / 1000).toFixed(2)
              } s, ` +
              `peak ${r.peakRssMb.toFixed(0)} MB`
          )
        }
      }
      if (failure !== undefined) {
        log(`   ${variant.contender} (${variant.variant}) N=${items}: ${failureSummary(failure)}`)
      }
      rows.push({
        measured: failure === undefined ? aggregate(scenario, variant, items, runs) : undefined,
        scenario: scenario.name,
        contender: variant.contender,
        variant: variant.variant,
        items,
        failure
      })
    }
  }
  const measured = rows.flatMap((r) => (r.measured === undefined ? [] : [r.measured]))
  return rows.map((r) => ({ ...r, checks: r.measured === undefined ? [] : scenario.check(r.measured, measured) }))
}

const started = performance.now()
const rows: Array<Row> = []
await mkdir(resultsDir, { recursive: true })
const contenders = await launches()
try {
  for (const scenario of selected) rows.push(...(await runScenario(contenders, scenario)))
} finally {
  await rm(cacheDir, { recursive: true, force: true })
}
const section = markdown(rows, {
  notes: [
    ...(flags.quick ? ["--quick"] : []),
    flags.tsx ? "--tsx: contenders from sources under tsx" : "contenders bundled, plain node"
  ],
  totalMs: performance.now() - started
})
process.stdout.write(`\n${section}\n`)
await writeFile(`${resultsDir}/latest.json`, JSON.stringify({ machine: machine(), quick: flags.quick, rows }, null, 2))
// Relative to where the bench was started: what it prints names no directory of the machine it ran on.
log(`\nraw results: ${relative(process.cwd(), `${resultsDir}/latest.json`)}`)
if (flags["write-readme"]) await writeReadme(`${benchDir}README.md`, section)
