/**
 * The report at 100 000 rows: writes that many realistic rows (a sentiment run with retries and failures, see
 * test/support/ReportRows.ts) to a JSONL file, times `capstan report` on it (a real process), then loads the page
 * in headless Chromium and times the first page of the table (from navigation to `#rows tbody tr`) and a text
 * filter (from typing to the one matching row):
 *
 *   npx -y pnpm@10 bench:report [--rows 100000] [--keep DIR]
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import * as Browser from "../test/support/Browser.js"
import * as ReportRows from "../test/support/ReportRows.js"

const { values: flags } = parseArgs({
  options: { rows: { type: "string", default: "100000" }, keep: { type: "string" } }
})
const count = Number(flags.rows)
const root = fileURLToPath(new URL("..", import.meta.url))
const dir = flags.keep ?? mkdtempSync(join(tmpdir(), "capstan-bench-report-"))
const mb = (bytes: number): string => `${(bytes / 1_000_000).toFixed(1)} MB`

const results = join(dir, "results.jsonl")
const html = join(dir, "results.html")
const rows = ReportRows.make(count)
writeFileSync(results, ReportRows.jsonl(rows))
console.log(`${count} rows: ${results} (${mb(statSync(results).size)})`)

const cliStart = performance.now()
const cli = spawnSync(
  process.execPath,
  ["--conditions=@capstan/source", "--import", "tsx", join(root, "packages/cli/src/bin.ts"), "report", results],
  { cwd: root, encoding: "utf8" }
)
const cliMs = performance.now() - cliStart
if (cli.status !== 0) throw new Error(`capstan report failed (${cli.status}): ${cli.stderr}`)
console.log(`capstan report: ${(cliMs / 1000).toFixed(2)} s, ${html} (${mb(statSync(html).size)})`)

const browser = await Browser.launch()
try {
  const page = await browser.context.newPage()
  const errors: Array<string> = []
  page.on("pageerror", (error) => errors.push(error.message))
  const loadStart = performance.now()
  await page.goto(pathToFileURL(html).href, { timeout: 600_000 })
  await page.waitForSelector("#rows tbody tr[data-row]", { timeout: 600_000 })
  const firstPageMs = performance.now() - loadStart
  console.log(`first page of the table: ${(firstPageMs / 1000).toFixed(2)} s after navigation`)

  const target = rows[Math.floor(count * 0.73)]!
  const filterStart = performance.now()
  await page.fill("#filter-text", target.id)
  // A string: this file is typechecked without the DOM's types.
  await page.waitForFunction(
    `(() => { const shown = document.querySelectorAll("#rows tbody tr[data-row]");
      return shown.length === 1 && shown[0].getAttribute("data-row") === "${target.index}" })()`,
    undefined,
    { timeout: 600_000 }
  )
  const filterMs = performance.now() - filterStart
  console.log(`text filter (${target.id}, 1 of ${count} rows): ${filterMs.toFixed(0)} ms`)
  if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`)
} finally {
  await browser.close()
  if (flags.keep === undefined) rmSync(dir, { recursive: true, force: true })
}
