/**
 * The README's screenshot of a report: 300 realistic rows (a sentiment run with retries and failures of three kinds,
 * test/support/ReportRows.ts) rendered by `Report.html`, loaded in headless Chromium at 1280×900, saved as
 * docs/report.png:
 *
 *   npx -y pnpm@10 report:screenshot
 */
import { Report } from "@capstan/core"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Browser from "../test/support/Browser.js"
import * as ReportRows from "../test/support/ReportRows.js"

const target = fileURLToPath(new URL("../docs/report.png", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "capstan-report-screenshot-"))
const page = join(dir, "report.html")
writeFileSync(
  page,
  Report.html(ReportRows.make(300), {
    title: "Review sentiment, run 3",
    source: "results.jsonl",
    prices: { "openai!gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 } }
  })
)
const browser = await Browser.launch({ viewport: { width: 1280, height: 900 } })
try {
  const tab = await browser.context.newPage()
  await tab.goto(pathToFileURL(page).href)
  await tab.waitForSelector("#rows tbody tr[data-row]")
  await tab.screenshot({ path: target })
  console.log(`${target}: ${(statSync(target).size / 1000).toFixed(0)} KB`)
} finally {
  await browser.close()
  rmSync(dir, { recursive: true, force: true })
}
