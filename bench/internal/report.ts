/**
 * The report of a benchmark run: the machine, the markdown table with the targets, and the README section.
 */
import { readFile, writeFile } from "node:fs/promises"
import * as os from "node:os"
import type { Check, ContenderName, Measured } from "../scenarios.js"
import type { Failure } from "./processes.js"

/** One line of the table: a contender × variant × size, measured or not. */
export interface Row {
  readonly measured: Measured | undefined
  readonly scenario: string
  readonly contender: ContenderName
  readonly variant: string
  readonly items: number
  /** Why the contender gave no result (crash, timeout), when it gave none. */
  readonly failure: Failure | undefined
  readonly checks: ReadonlyArray<Check>
}

/** What the figures were measured on. */
export const machine = () => ({
  date: new Date().toISOString().slice(0, 10),
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGb: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`
})

// An absolute path (POSIX, Windows or a file: URL) at the start of a word: crash output names files on the machine
// that ran it (node's own binary in a native stack trace, a stack's source files), which a report must not publish.
const MACHINE_PATH =
  /(?<![\w.~:/-])(?:file:\/\/)?(?:[A-Za-z]:[\\/]|\/)(?:[^\s\\/()[\]"'`,;]+[\\/])+[^\s\\/()[\]"'`,;:]*/g

/**
 * Text without the machine's absolute paths: each one cut to its last segment (`/home/me/app/node_modules/x.js` →
 * `…/x.js`), so what failed stays readable and where it ran does not show.
 */
export const withoutMachinePaths = (text: string): string =>
  text.replace(MACHINE_PATH, (path) => `…/${path.split(/[\\/]/).pop() ?? ""}`)

/** A failure on one line, for the table and the log: how the contender ended and the line that says why. */
export const failureSummary = (failure: Failure): string => {
  const line = failure.output.split("\n").find((l) => l.trim() !== "")?.trim()
  return withoutMachinePaths(line === undefined ? failure.reason : `${failure.reason}: ${line}`)
}

const loadRange = (rows: ReadonlyArray<Row>): string => {
  const loads = rows.flatMap((r) => r.measured?.raw.map((run) => run.load) ?? [])
  return loads.length === 0
    ? ""
    : `; load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} at run starts`
}

const table = (rows: ReadonlyArray<Row>): string => {
  const header =
    "| scenario | contender | variant | N | lost | 429s | requests | wall s | CPU ms/item | RSS at start MB | peak RSS MB | targets |"
  const lines = rows.map((row) => {
    const m = row.measured
    const head = `| ${row.scenario} | ${row.contender} | ${row.variant} | ${row.items}`
    if (m === undefined) {
      const why = row.failure === undefined ? "no result" : failureSummary(row.failure)
      return `${head} | — | — | — | — | — | — | — | did not finish: ${why} |`
    }
    const targets = row.checks.map((c) => `${c.pass ? "✅" : "❌"} ${c.target}: ${c.value}`).join("<br>")
    return `${head} | ${m.lost} | ${m.refused} | ${m.requests} | ${(m.wallMs / 1000).toFixed(2)} | ` +
      `${m.cpuMsPerItem.toFixed(3)} | ${m.startRssMb.toFixed(0)} | ${m.peakRssMb.toFixed(0)} | ${targets} |`
  })
  return [header, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|", ...lines].join("\n")
}

/** The results as markdown: one line about the machine and the run, then the table. */
export const markdown = (
  rows: ReadonlyArray<Row>,
  run: { readonly notes: ReadonlyArray<string>; readonly totalMs: number }
) => {
  const host = machine()
  const notes = run.notes.map((note) => ` (${note})`).join("")
  return [
    `Measured ${host.date} on ${host.cpus} × ${host.cpuModel}, ${host.memoryGb} GB, Node ${host.node}, ${host.platform}` +
    `${notes}${loadRange(rows)}; total ${(run.totalMs / 1000).toFixed(0)} s.`,
    "",
    table(rows)
  ].join("\n")
}

const README_START = "<!-- results:start -->"
const README_END = "<!-- results:end -->"

/** Replaces the results section of a README (between the `results:start` and `results:end` comments). */
export const writeReadme = async (path: string, section: string): Promise<void> => {
  const text = await readFile(path, "utf8")
  const start = text.indexOf(README_START)
  const end = text.indexOf(README_END)
  if (start < 0 || end < start) throw new Error(`${path} has no ${README_START} … ${README_END} section to replace`)
  await writeFile(path, `${text.slice(0, start + README_START.length)}\n${section}\n${text.slice(end)}`)
}
