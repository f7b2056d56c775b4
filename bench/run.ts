/**
 * Runs the benchmarks: for every scenario, every contender and size, a fresh fake server process and a fresh
 * contender process; prints a table with the targets, writes `bench/results/latest.json`, and with
 * `--write-readme` the results section of `bench/README.md`.
 *
 *   npx -y pnpm@10 bench [--only rate-limited --only faults] [--quick] [--write-readme]
 */
import { createReadStream } from "node:fs"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import * as os from "node:os"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type ContenderExit, runContender, startServer } from "./internal/processes.js"
import type { ServerReport } from "./internal/protocol.js"
import { type Check, type ContenderName, type Measured, type Run, type Scenario, scenarios, type Variant } from "./scenarios.js"

const { values: flags } = parseArgs({
  options: {
    only: { type: "string", multiple: true },
    contender: { type: "string", multiple: true },
    quick: { type: "boolean", default: false },
    "write-readme": { type: "boolean", default: false },
    help: { type: "boolean", default: false }
  }
})

const all = scenarios(flags.quick)
if (flags.help) {
  process.stdout.write(
    "usage: pnpm bench [--only <scenario>]... [--contender openai+p-limit|capstan]... [--quick] [--write-readme]\n\n" +
      all.map((s) => `  ${s.name.padEnd(14)} ${s.summary}`).join("\n") + "\n"
  )
  process.exit(0)
}
const unknown = (flags.only ?? []).filter((name) => !all.some((s) => s.name === name))
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(", ")}; the scenarios are ${all.map((s) => s.name).join(", ")}\n`)
  process.exit(2)
}
const selected = all.filter((s) => flags.only === undefined || flags.only.includes(s.name))

const benchDir = fileURLToPath(new URL(".", import.meta.url))
const resultsDir = `${benchDir}results`
const SCRIPTS: Record<ContenderName, string> = {
  "openai+p-limit": "contenders/baseline.ts",
  capstan: "contenders/capstan.ts"
}

const log = (line: string) => process.stderr.write(`${line}\n`)

const countLines = async (path: string): Promise<number> => {
  let count = 0
  for await (const line of createInterface({ input: createReadStream(path) })) if (line.trim() !== "") count++
  return count
}

/** One run: a fresh server, one contender process against it, then the server's counters. */
const runOnce = async (scenario: Scenario, variant: Variant, items: number, index: number): Promise<Run | string> => {
  const load = os.loadavg()[0]!
  const server = await startServer(scenario.server)
  const output = scenario.output ? `${resultsDir}/${scenario.name}-${variant.contender}-${items}-${index}.jsonl` : undefined
  let exit: ContenderExit
  let report: ServerReport
  try {
    exit = await runContender(SCRIPTS[variant.contender], {
      scenario: scenario.name,
      baseUrl: `${server.url}/v1`,
      items,
      concurrency: scenario.concurrency,
      ...(variant.rpm === undefined ? {} : { rpm: variant.rpm }),
      ...(output === undefined ? {} : { output })
    }, scenario.timeoutMs)
    report = await server.report()
  } finally {
    await server.close()
  }
  if (exit._tag === "Crashed") return exit.message
  if (output === undefined) return { result: exit.result, server: report, load }
  // The file is the ground truth of a streamed run: every item must have its line.
  const lines = await countLines(output).catch(() => 0)
  await rm(output, { force: true })
  const missing = Math.max(exit.result.missing, items - lines)
  return { result: { ...exit.result, missing }, server: report, load }
}

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
  lost: Math.max(...runs.map(({ result: r }) => r.items - r.ok)),
  refused: median(runs.map((r) => r.server.stats.rateLimited)),
  requests: median(runs.map((r) => r.server.stats.requests)),
  wallMs: median(runs.map((r) => r.result.wallMs)),
  cpuMsPerItem: median(runs.map(({ result: r }) => (r.cpuUserMs + r.cpuSystemMs) / r.items)),
  peakRssMb: median(runs.map((r) => r.result.peakRssMb)),
  startRssMb: median(runs.map((r) => r.result.startRssMb)),
  errors: runs[runs.length - 1]!.result.errors,
  raw: runs
})

interface Row {
  readonly measured: Measured | undefined
  readonly scenario: string
  readonly contender: ContenderName
  readonly variant: string
  readonly items: number
  readonly failure: string | undefined
  readonly checks: ReadonlyArray<Check>
}

const runScenario = async (scenario: Scenario): Promise<ReadonlyArray<Row>> => {
  log(`\n== ${scenario.name}: ${scenario.summary}`)
  const rows: Array<Omit<Row, "checks">> = []
  const variants = scenario.variants.filter((v) => flags.contender === undefined || flags.contender.includes(v.contender))
  for (const variant of variants) {
    for (const items of variant.sizes) {
      const runs: Array<Run> = []
      let failure: string | undefined
      for (let index = 0; index < scenario.runs && failure === undefined; index++) {
        const outcome = await runOnce(scenario, variant, items, index)
        if (typeof outcome === "string") failure = outcome
        else {
          runs.push(outcome)
          const r = outcome.result
          log(`   ${variant.contender} (${variant.variant}) N=${items} run ${index + 1}: ` +
            `${(r.wallMs / 1000).toFixed(2)} s, lost ${r.items - r.ok}, 429s ${outcome.server.stats.rateLimited}, ` +
            `client CPU ${((r.cpuUserMs + r.cpuSystemMs) / 1000).toFixed(2)} s, server CPU ${(outcome.server.cpuMs / 1000).toFixed(2)} s, ` +
            `peak ${r.peakRssMb.toFixed(0)} MB`)
        }
      }
      if (failure !== undefined) log(`   ${variant.contender} (${variant.variant}) N=${items}: ${failure}`)
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

const machine = () => ({
  date: new Date().toISOString().slice(0, 10),
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGb: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`
})

const loadRange = (rows: ReadonlyArray<Row>): string => {
  const loads = rows.flatMap((r) => r.measured?.raw.map((run) => run.load) ?? [])
  return loads.length === 0 ? "" : `load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} at run starts`
}

const table = (rows: ReadonlyArray<Row>): string => {
  const header = "| scenario | contender | variant | N | lost | 429s | requests | wall s | CPU ms/item | peak RSS MB | targets |"
  const lines = rows.map((row) => {
    const m = row.measured
    const head = `| ${row.scenario} | ${row.contender} | ${row.variant} | ${row.items}`
    if (m === undefined) return `${head} | — | — | — | — | — | — | did not finish: ${row.failure?.split("\n")[0]} |`
    const targets = row.checks.map((c) => `${c.pass ? "✅" : "❌"} ${c.target}: ${c.value}`).join("<br>")
    return `${head} | ${m.lost} | ${m.refused} | ${m.requests} | ${(m.wallMs / 1000).toFixed(2)} | ` +
      `${m.cpuMsPerItem.toFixed(3)} | ${m.peakRssMb.toFixed(0)} | ${targets} |`
  })
  return [header, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|", ...lines].join("\n")
}

const README_START = "<!-- results:start -->"
const README_END = "<!-- results:end -->"

const writeReadme = async (markdown: string): Promise<void> => {
  const path = `${benchDir}README.md`
  const text = await readFile(path, "utf8")
  const start = text.indexOf(README_START)
  const end = text.indexOf(README_END)
  if (start < 0 || end < start) throw new Error(`${path} has no ${README_START} … ${README_END} section to replace`)
  await writeFile(path, `${text.slice(0, start + README_START.length)}\n${markdown}\n${text.slice(end)}`)
}

const started = performance.now()
const rows: Array<Row> = []
await mkdir(resultsDir, { recursive: true })
for (const scenario of selected) rows.push(...(await runScenario(scenario)))
const host = machine()
const markdown = [
  `Measured ${host.date} on ${host.cpus} × ${host.cpuModel}, ${host.memoryGb} GB, Node ${host.node}, ${host.platform}` +
    `${flags.quick ? " (--quick)" : ""}; ${loadRange(rows)}; total ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  "",
  table(rows)
].join("\n")
process.stdout.write(`\n${markdown}\n`)
await writeFile(`${resultsDir}/latest.json`, JSON.stringify({ machine: host, quick: flags.quick, rows }, null, 2))
log(`\nraw results: ${resultsDir}/latest.json`)
if (flags["write-readme"]) await writeReadme(markdown)
