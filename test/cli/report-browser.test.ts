/**
 * The report of `capstan report` in a real browser (Debian's headless Chromium through playwright-core): it renders
 * without errors, its summary figures are the rows', its charts are there, and its table filters, pages and shows
 * the row picked. A full-page screenshot is kept under the run's temp dir.
 */
import { Batch } from "@capstan/core"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Browser from "../support/Browser.js"
import * as ReportRows from "../support/ReportRows.js"
import { capstan } from "./inProcess.js"

const rows = ReportRows.make(250)
const price = { inputPerMillion: 0.15, outputPerMillion: 0.6 }
const summary = Batch.summarize(rows, { prices: { "openai!gpt-4o-mini": price }, builtInPrices: false })
const failedIndexes = new Set(rows.filter((row) => row.error !== undefined).map((row) => row.index))
// Kept after the run: the screenshot is the artifact a reviewer looks at.
const dir = mkdtempSync(join(tmpdir(), "capstan-report-browser-"))

let browser: Awaited<ReturnType<typeof Browser.launch>>
let page: Page
const problems: Array<string> = []

beforeAll(async () => {
  writeFileSync(join(dir, "results.jsonl"), ReportRows.jsonl(rows))
  const result = await Effect.runPromise(
    capstan(["report", join(dir, "results.jsonl"), "--price", `${price.inputPerMillion},${price.outputPerMillion}`])
  )
  expect(result.code, result.stderr).toBe(0)
  browser = await Browser.launch()
  page = await browser.context.newPage()
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`)
  })
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("request", (request) => {
    if (!request.url().startsWith("file:") && !request.url().startsWith("data:")) {
      problems.push(`request: ${request.url()}`)
    }
  })
  await page.goto(pathToFileURL(join(dir, "results.html")).href)
  await page.waitForSelector("#rows tbody tr[data-row]")
}, 60_000)

afterAll(async () => {
  await browser?.close()
})

const shownRows = (): Promise<Array<number>> =>
  page.$$eval("#rows tbody tr[data-row]", (trs) => trs.map((tr) => Number(tr.getAttribute("data-row"))))
const matching = async (): Promise<number> => Number(await page.getAttribute("#rows-count", "data-value"))
const filter = async (status: string, kind: string, text: string): Promise<void> => {
  await page.selectOption("#filter-status", status)
  await page.selectOption("#filter-kind", kind)
  await page.fill("#filter-text", text)
}

describe("capstan report in headless Chromium", () => {
  it("renders without console errors, page errors or network requests", () => {
    expect(problems).toEqual([])
  })

  it("shows the summary figures computed from the rows", async () => {
    const values = Object.fromEntries(
      await page.$$eval(
        "[data-summary]",
        (els) => els.map((el) => [el.getAttribute("data-summary"), Number(el.getAttribute("data-value"))])
      )
    )
    const retries = rows.reduce((n, row) => n + (row.attempts > 0 ? row.attempts - 1 : 0), 0)
    const startedAt = Math.min(...rows.map((row) => row.startedAt))
    const endedAt = Math.max(...rows.map((row) => row.startedAt + row.latencyMs))
    expect(values).toMatchObject({
      items: summary.items,
      rows: summary.rows,
      ok: summary.ok,
      failed: summary.failed,
      "input-tokens": summary.usage.inputTokens,
      "output-tokens": summary.usage.outputTokens,
      attempts: summary.attempts,
      retries,
      "wall-ms": endedAt - startedAt
    })
    expect(values["cost"]).toBeCloseTo(summary.cost!, 9)
    expect(retries).toBeGreaterThan(0)
    const kinds = Object.fromEntries(
      await page.$$eval(
        "[data-failed-kind]",
        (els) => els.map((el) => [el.getAttribute("data-failed-kind"), Number(el.getAttribute("data-value"))])
      )
    )
    expect(kinds).toEqual(summary.failedByKind)
    expect(Object.keys(kinds).sort()).toEqual(["InvalidRequest", "RateLimited", "Timeout"])
  })

  it("has the charts, each with a title", async () => {
    for (const name of ["throughput", "latency", "attempts", "tokens"]) {
      const chart = page.locator(`svg[data-chart="${name}"]`)
      await expect(chart.count()).resolves.toBe(1)
      expect((await chart.locator("title").first().textContent())?.length ?? 0).toBeGreaterThan(0)
    }
  })

  it("pages through more than 100 rows", async () => {
    await filter("all", "all", "")
    await expect.poll(matching).toBe(250)
    await expect.poll(shownRows).toEqual(Array.from({ length: 100 }, (_, i) => i))
    const firstInfo = await page.textContent("#page-info")
    await page.click("#page-next")
    await expect.poll(shownRows).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i))
    expect(await page.textContent("#page-info")).not.toBe(firstInfo)
    await page.click("#page-next")
    await expect.poll(shownRows).toEqual(Array.from({ length: 50 }, (_, i) => 200 + i))
    await page.click("#page-prev")
    expect((await shownRows())[0]).toBe(100)
  })

  it("filters by status, error kind and text", async () => {
    await filter("failed", "all", "")
    await expect.poll(matching).toBe(summary.failed)
    const failed = await shownRows()
    expect(failed).toHaveLength(Math.min(100, summary.failed))
    expect(failed.every((index) => failedIndexes.has(index))).toBe(true)

    await filter("ok", "all", "")
    await expect.poll(matching).toBe(summary.ok)
    expect((await shownRows()).some((index) => failedIndexes.has(index))).toBe(false)

    await filter("all", "RateLimited", "")
    await expect.poll(matching).toBe(summary.failedByKind["RateLimited"])
    await expect.poll(shownRows).toEqual(
      rows.filter((row) => row.error?._tag === "RateLimited").map((row) => row.index).slice(0, 100)
    )

    await filter("all", "all", "REVIEW-000123")
    await expect.poll(matching).toBe(1)
    await expect.poll(shownRows).toEqual([123])
    await filter("all", "all", "uniq77x") // a word of the message sent
    await expect.poll(shownRows).toEqual([77])
  })

  it("shows the exact messages and the output or error of the row picked", async () => {
    const ok = rows.find((row) => row.error === undefined && row.index > 150)!
    await filter("all", "all", ok.id)
    await page.click(`#rows tr[data-row="${ok.index}"]`)
    await page.waitForSelector("#row-detail .message")
    const roles = await page.$$eval(
      "#row-detail .message",
      // Each message: its role (data-role, also shown as a label) and its exact text.
      (els) => els.map((el) => [el.getAttribute("data-role"), el.querySelector("pre")?.textContent])
    )
    expect(roles).toEqual(ok.messages.map((message) => [message.role, message.content]))
    expect(await page.textContent("#row-detail .output")).toContain(ok.output!)

    const bad = rows.find((row) => row.error?._tag === "Timeout")!
    await filter("all", "all", bad.id)
    await page.focus(`#rows tr[data-row="${bad.index}"]`)
    await page.keyboard.press("Enter")
    await page.waitForSelector("#row-detail .error")
    const error = await page.textContent("#row-detail .error")
    expect(error).toContain("Timeout")
    expect(error).toContain(bad.error!.message)
    expect(await page.locator("#row-detail .output").count()).toBe(0)
  })

  it("keeps a full-page screenshot", async () => {
    await filter("all", "all", "")
    const file = join(dir, "report.png")
    await page.screenshot({ path: file, fullPage: true })
    console.log(`report screenshot: ${file}`)
    expect(problems).toEqual([])
  })
})
