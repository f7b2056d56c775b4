import {
  AuthenticationError,
  Batch,
  Dataset,
  Generator,
  Message,
  Model,
  RateLimited,
  Report,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, FileSystem, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"

const Sentiment = Model.json(Schema.Struct({ sentiment: Schema.String }), { name: "sentiment" })
const prices: Usage.PriceTable = {
  "mock!alpha": { inputPerMillion: 1, outputPerMillion: 2 },
  "mock!beta": { inputPerMillion: 10, outputPerMillion: 20 }
}

const reviewsA = [
  { id: "a1", review: "Great coffee" },
  { id: "a2", review: "flaky: burnt" },
  { id: "a3", review: "rate: too fast" },
  { id: "a4", review: "auth: nope" },
  { id: "a5", review: "Lovely" },
  { id: "a6", review: "flaky: again" },
  { id: "a7", review: "rate: again" },
  { id: "a8", review: "Fine" }
]
const reviewsB = [{ id: "b1", review: "Bitter" }, { id: "b2", review: "Sweet" }, { id: "b3", review: "Meh" }]

// alpha: "rate:" items are refused (429, no retries), "auth:" ones fail, "flaky:" ones answer unparseable text first
const alpha = MockGenerator.fn((_text, _params, request) => {
  const sent = request._tag === "chat" ? request.messages.map((m) => m.text).join("\n") : request.prompt
  const retried = request._tag === "chat" && request.messages.some((m) => m.role === "assistant")
  if (sent.includes("rate:")) return Effect.fail(new RateLimited({ provider: "mock", detail: "slow down" }))
  if (sent.includes("auth:")) {
    return Effect.fail(new AuthenticationError({ provider: "mock", detail: "bad key", status: 401 }))
  }
  if (sent.includes("flaky:") && !retried) return "not json at all"
  return JSON.stringify({ sentiment: sent.includes("Great") || sent.includes("Lovely") ? "positive" : "neutral" })
}, { identifier: "mock!alpha" }).pipe(Generator.withEngine({ maxRetries: 0, share: false }))
const beta = MockGenerator.fixed(JSON.stringify({ sentiment: "negative" }), { identifier: "mock!beta" })

const realRows = Effect.gen(function*() {
  const itemsA = yield* Dataset.validate(Template.make("Classify: {review}"), reviewsA)
  const itemsB = yield* Dataset.validate(Template.make("Rate this review: {review}"), reviewsB)
  // a 429 pauses the generator's limiter: let the test clock run past it
  const fiber = yield* Effect.forkChild(
    Batch.run(itemsA, { parse: Sentiment, maxRounds: 2 }).pipe(Effect.provide(alpha))
  )
  yield* TestClock.adjust("10 minutes")
  const a = yield* Fiber.join(fiber)
  const b = yield* Batch.run(itemsB, { parse: Sentiment }).pipe(Effect.provide(beta))
  return [...a.rows, ...b.rows]
})

const nearestRank = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
}

const synthetic = (i: number, startedAt: number, latencyMs: number, extra: Partial<Batch.Row> = {}) =>
  new Batch.Row({
    id: `s${i}`,
    index: i,
    choice: 0,
    template: "Say {word}",
    vars: { word: `w${i}` },
    messages: [Message.user(`Say w${i}`)],
    generator: "mock!echo",
    params: {},
    ...(extra.error === undefined ? { output: `w${i}` } : {}),
    stopReason: "stop",
    usage: new Usage.Usage({ inputTokens: 3 + (i % 7), outputTokens: 2 + (i % 5) }),
    attempts: 1,
    latencyMs,
    startedAt,
    ...extra
  })

describe("Report.data", () => {
  it.effect("figures of a real run equal those computed from the rows", () =>
    Effect.gen(function*() {
      const rows = yield* realRows
      const data = Report.data(rows, { prices, builtInPrices: false })
      const summary = Batch.summarize(rows, { prices, builtInPrices: false })
      expect(data.summary).toMatchObject({ ...summary, usage: { ...summary.usage } })
      expect(data.summary.failedByKind).toEqual({ RateLimited: 2, AuthenticationError: 1 })
      expect(data.summary.cost).toBeGreaterThan(0)
      const starts = rows.map((r) => r.startedAt)
      const ends = rows.map((r) => r.startedAt + r.latencyMs)
      expect(data.summary.startedAt).toBe(Math.min(...starts))
      expect(data.summary.endedAt).toBe(Math.max(...ends))
      expect(data.summary.wallMs).toBe(Math.max(...ends) - Math.min(...starts))
      const retried = rows.filter((r) => r.attempts > 1)
      expect(retried.map((r) => r.id).sort()).toEqual(["a2", "a6"])
      expect(data.summary.retries).toBe(retried.reduce((n, r) => n + r.attempts - 1, 0))
      expect(data.summary.requestsPerItem).toBeCloseTo(summary.attempts / summary.items)

      const buckets = data.timeline.buckets
      expect(buckets.reduce((n, b) => n + b.completed, 0)).toBe(rows.length)
      expect(buckets.reduce((n, b) => n + b.failed, 0)).toBe(summary.failed)
      expect(buckets.reduce((n, b) => n + b.rateLimited, 0)).toBe(2)

      const latencies = rows.map((r) => r.latencyMs)
      expect(data.latency.p50).toBe(nearestRank(latencies, 0.5))
      expect(data.latency.p90).toBe(nearestRank(latencies, 0.9))
      expect(data.latency.p99).toBe(nearestRank(latencies, 0.99))
      expect(data.latency.bins.reduce((n, b) => n + b.count, 0)).toBe(rows.length)

      expect(data.attempts).toEqual([{ attempts: 1, items: 9 }, { attempts: 2, items: 2 }])
      expect(data.tokens.bins.reduce((n, b) => n + b.count, 0)).toBe(summary.items)
      expect(data.tokens.max).toBe(Math.max(...rows.map((r) => r.usage.inputTokens + r.usage.outputTokens)))

      const costOf = (generator: string) =>
        Batch.summarize(rows.filter((r) => r.generator === generator), { prices, builtInPrices: false }).cost
      expect(data.costBy.generator).toEqual([
        { key: "mock!beta", rows: 3, cost: costOf("mock!beta") },
        { key: "mock!alpha", rows: 8, cost: costOf("mock!alpha") }
      ].sort((x, y) => y.cost! - x.cost!))
      expect(data.costBy.template.map((t) => [t.key, t.rows]).sort()).toEqual([
        ["Classify: {review}", 8],
        ["Rate this review: {review}", 3]
      ])
      expect(data.labels).toEqual([
        { label: "negative", count: 3 },
        { label: "neutral", count: 3 },
        { label: "positive", count: 2 }
      ])
      expect(JSON.parse(JSON.stringify(data))).toEqual(data)
    }))

  it("finds a pause in a run with a gap, rate-limited when a retried row overlaps it, else stalled", () => {
    const t0 = 1_700_000_000_000
    const before = Array.from({ length: 20 }, (_, i) => synthetic(i, t0 + i * 100, 50))
    const after = Array.from({ length: 20 }, (_, i) => synthetic(20 + i, t0 + 10_000 + i * 100, 50))
    const stalled = Report.data([...before, ...after])
    expect(stalled.timeline.bucketMs).toBe(1000)
    expect(stalled.timeline.pauses).toEqual([{ fromMs: 2000, toMs: 10_000, reason: "stalled" }])
    // a row retried from 2.5 s to 10.5 s spans the gap: a 429 pause
    const retried = synthetic(40, t0 + 2500, 8000, { attempts: 3 })
    const limited = Report.data([...before, retried, ...after])
    expect(limited.timeline.pauses).toEqual([{ fromMs: 2000, toMs: 10_000, reason: "rate-limited" }])
    expect(limited.summary.retries).toBe(2)
    expect(Report.data([...before]).timeline.pauses).toEqual([])
  })

  it("labels only when the parsed values are labels", () => {
    const row = (i: number, parsed: Schema.Json) => synthetic(i, 0, 10, { parsed })
    expect(Report.data([row(0, { sentiment: "pos" }), row(1, { sentiment: "neg" })]).labels).toEqual([
      { label: "neg", count: 1 },
      { label: "pos", count: 1 }
    ])
    expect(Report.data([row(0, true), row(1, 3)]).labels).toHaveLength(2)
    expect(Report.data([row(0, { a: 1, b: 2 }), row(1, { a: 1, b: 3 })]).labels).toBeUndefined()
    expect(Report.data([row(0, ["x", "y"])]).labels).toBeUndefined()
    expect(Report.data([synthetic(0, 0, 10)]).labels).toBeUndefined()
  })
})

describe("Report.html", () => {
  it.effect("is self-contained, carries the summary and every chart, and escapes row text", () =>
    Effect.gen(function*() {
      const rows = yield* realRows
      const hostile = "</script><img src=x onerror=alert(1)>"
      const all = [...rows, synthetic(99, rows[0]!.startedAt, 5, { id: "evil", output: hostile })]
      const page = Report.html(all, { prices, builtInPrices: false, source: "results.jsonl" })
      const data = Report.data(all, { prices, builtInPrices: false })
      expect(page.startsWith("<!doctype html>")).toBe(true)
      expect(page).not.toMatch(/https?:/)
      expect(page).not.toMatch(/(src|href)\s*=\s*["']?\/\//)
      expect(page).not.toMatch(/<link\b/)
      expect(page).not.toMatch(/\beval\(|new Function/)

      const summaryValue = (key: string) => {
        const found = new RegExp(`data-summary="${key}" data-value="([^"]*)"`).exec(page)
        return found === null ? undefined : Number(found[1])
      }
      const s = data.summary
      expect({
        items: summaryValue("items"),
        rows: summaryValue("rows"),
        ok: summaryValue("ok"),
        failed: summaryValue("failed"),
        input: summaryValue("input-tokens"),
        output: summaryValue("output-tokens"),
        attempts: summaryValue("attempts"),
        retries: summaryValue("retries"),
        wall: summaryValue("wall-ms"),
        cost: summaryValue("cost")
      }).toEqual({
        items: s.items,
        rows: s.rows,
        ok: s.ok,
        failed: s.failed,
        input: s.usage.inputTokens,
        output: s.usage.outputTokens,
        attempts: s.attempts,
        retries: s.retries,
        wall: s.wallMs,
        cost: undefined // mock!echo has no price: no cost at all
      })
      expect(page).toContain(`data-failed-kind="RateLimited" data-value="2"`)
      for (
        const chart of [
          "throughput",
          "latency",
          "attempts",
          "tokens",
          "cost-by-template",
          "cost-by-generator",
          "labels"
        ]
      ) {
        expect(page).toMatch(new RegExp(`<svg data-chart="${chart}"[^>]*><title>[^<]+</title>`))
      }
      for (
        const id of [
          "filter-status",
          "filter-kind",
          "filter-text",
          "rows-count",
          "rows",
          "page-prev",
          "page-next",
          "page-info",
          "row-detail"
        ]
      ) {
        expect(page).toContain(`id="${id}"`)
      }
      expect(page).toContain(`<option value="RateLimited">`)
      // the hostile output appears only inside the JSON script, with "<" escaped
      expect(page).not.toContain("<img")
      expect(page.match(/<\/script>/g)).toHaveLength(2)
      const json = /<script type="application\/json" id="report-rows">([^<]*)<\/script>/.exec(page)![1]!
      const decoded = JSON.parse(json) as ReadonlyArray<{ id: string; o?: string; m: ReadonlyArray<[string, string]> }>
      expect(decoded).toHaveLength(all.length)
      expect(decoded.at(-1)).toMatchObject({ id: "evil", o: hostile, m: [["user", "Say w99"]] })

      const priced = Report.html(rows, { prices, builtInPrices: false })
      expect(priced).toContain(
        `data-summary="cost" data-value="${Report.data(rows, { prices, builtInPrices: false }).summary.cost}"`
      )
    }))

  it("builds a 100 000-row page in reasonable time and size", () => {
    const t0 = 1_700_000_000_000
    const built = performance.now()
    const rows = Array.from(
      { length: 100_000 },
      (_, i) =>
        synthetic(i, t0 + i * 20 + (i > 50_000 ? 30_000 : 0), 200 + (i % 997), {
          ...(i % 50 === 0 ? { error: new RateLimited({ provider: "mock", detail: "slow down" }) } : {}),
          attempts: 1 + (i % 13 === 0 ? 1 : 0)
        })
    )
    const madeRows = performance.now() - built
    const started = performance.now()
    const page = Report.html(rows)
    const ms = performance.now() - started
    const bytes = Buffer.byteLength(page)
    console.log(
      `100 000-row report: ${(bytes / 1e6).toFixed(1)} MB built in ${Math.round(ms)} ms (rows made in ${
        Math.round(madeRows)
      } ms)`
    )
    expect(ms).toBeLessThan(20_000)
    expect(bytes).toBeLessThan(40e6)
    const data = Report.data(rows)
    expect(data.timeline.buckets.length).toBeLessThanOrEqual(301)
    expect(data.timeline.pauses.some((p) => p.reason === "rate-limited")).toBe(true)
  })
})

describe("Report.write", () => {
  it.effect("writes the page of a stream of rows", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const rows = Array.from({ length: 5 }, (_, i) => synthetic(4 - i, 1000 + i, 10))
      yield* Stream.fromIterable(rows).pipe(Report.write(`${dir}/report.html`, { title: "Five" }))
      const page = yield* fs.readFileString(`${dir}/report.html`)
      expect(page).toContain("<title>Five</title>")
      expect(page).toContain(`data-summary="rows" data-value="5"`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
