import { Batch, Dataset, Generator, Template, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, type Layer, Stream } from "effect"
import { TestClock, TestConsole } from "effect/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Cache from "../../examples/batch-cache.js"
import * as CoffeeReviews from "../../examples/batch-coffee-reviews.js"
import * as CrossN2 from "../../examples/batch-cross-n2.js"
import * as LargeInput from "../../examples/batch-large-input.js"
import * as Logprobs from "../../examples/batch-logprobs.js"
import * as ProviderBatchExample from "../../examples/batch-provider-batch.js"
import * as TwoReviews from "../../examples/batch-two-reviews.js"
import * as Parallel from "../../examples/extract-classify-parallel.js"
import * as ReportAfterBatch from "../../examples/report-after-batch.js"
import { generatorLayer } from "../../examples/run.js"

const logged = Effect.map(TestConsole.logLines, (lines) => lines.map(String))

const chatOf = (request: MockGenerator.RecordedRequest) => request._tag === "chat" ? request.messages : []

const userText = (request: MockGenerator.RecordedRequest): string =>
  chatOf(request).find((m) => m.role === "user")?.text ?? ""

/** What the mock counts as a request's input tokens: every message sent, one per line. */
const inputTokensOf = (requests: ReadonlyArray<MockGenerator.RecordedRequest>): number =>
  requests.reduce((sum, r) => sum + MockGenerator.estimateTokens(chatOf(r).map((m) => m.text).join("\n")), 0)

describe("batch examples", () => {
  it.effect("coffee reviews: labels joined back to their inputs by id, failures counted, totals include recovery", () =>
    Effect.gen(function*() {
      const { labelled, summary } = yield* CoffeeReviews.program
      expect(labelled.map((l) => [l.id, l.label, l.error])).toEqual([
        ["0", "positive", undefined],
        ["1", "positive", undefined],
        ["2", "negative", undefined],
        ["3", "neutral", undefined],
        ["4", undefined, "ExhaustedMaxRounds"],
        ["5", "neutral", undefined]
      ])
      for (const l of labelled) expect(l).toMatchObject(CoffeeReviews.reviews.find((r) => r.id === l.id)!)

      const requests = yield* MockGenerator.requests
      const perReview = CoffeeReviews.reviews.map((r) =>
        requests.filter((q) => userText(q) === Template.renderText(CoffeeReviews.template, { review: r.review })).length
      )
      // one request each; "1" is asked again after prose; "4" never answers with JSON (3 rounds)
      expect(perReview).toEqual([1, 2, 1, 1, 3, 1])
      for (const request of requests) {
        expect(chatOf(request)[0]?.text).toBe(CoffeeReviews.Sentiment.instructions)
        expect(request._tag === "chat" && request.structured?.name).toBe("sentiment")
      }
      const recoveries = requests.filter((r) => chatOf(r).length > 2)
      expect(recoveries.length).toBe(3)
      for (const r of recoveries) expect(chatOf(r).at(-1)?.text).toContain("Your response contains no JSON")

      expect(summary).toMatchObject({ items: 6, rows: 6, ok: 5, failed: 1, failedByKind: { ExhaustedMaxRounds: 1 } })
      expect(summary.attempts).toBe(requests.length)
      expect(summary.usage.inputTokens).toBe(inputTokensOf(requests))

      const lines = yield* logged
      expect(lines.some((l) => /^2 +negative +Blue Orca Classic +Marketing/.test(l))).toBe(true)
      expect(lines).toContain(
        `    ExhaustedMaxRounds after 3 requests; last answer: "Sorry, there is no coffee review here to classify."`
      )
      expect(lines.at(-1)).toBe(
        `5 ok, 1 failed (ExhaustedMaxRounds: 1); 9 requests, ${summary.usage.inputTokens} input + ${summary.usage.outputTokens} output tokens`
      )
    }).pipe(Effect.provide(CoffeeReviews.mock)))

  it.effect("two reviews per prompt: both variables rendered, a misspelt item rejected before any request", () =>
    Effect.gen(function*() {
      const results = yield* TwoReviews.program
      expect(results).toEqual(TwoReviews.pairs.map((p) => ({ id: p.id, winner: TwoReviews.expected[p.id] })))

      const requests = yield* MockGenerator.requests
      expect(requests.map(userText).sort()).toEqual(
        TwoReviews.pairs.map(({ review_a, review_b }) =>
          Template.renderText(TwoReviews.template, { review_a, review_b })
        ).sort()
      )
      expect(requests.some((r) => userText(r).includes("Lovely."))).toBe(false)

      const lines = yield* logged
      const rejected = lines.find((l) => l.startsWith("Rejected before sending"))
      expect(rejected).toContain(`Item "pair-5"`)
      expect(rejected).toContain("missing review_b; unexpected reviewB")
      expect(lines).toContain("pair-1: review B is more positive")
      expect(lines).toContain(`  * B: ${TwoReviews.pairs[0]!.review_b}`)
      expect(lines.at(-1)).toMatch(/^\n4 of 4 pairs answered; 4 requests, \d+ tokens$/)
    }).pipe(Effect.provide(TwoReviews.mock)))

  it.effect("extract and classify in parallel: results arrive in completion order, not start order", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Parallel.program)
      yield* TestClock.adjust("5 seconds")
      const { completed, elapsedMs } = yield* Fiber.join(fiber)

      const delays = [
        ...Parallel.messages.map((m) => ({ task: `classify ${m.id}`, ms: Parallel.scripted[m.id]!.delayMs })),
        { task: "extract names", ms: Parallel.extractDelayMs }
      ].sort((a, b) => a.ms - b.ms)
      expect(completed.map((c) => c.task)).toEqual(delays.map((d) => d.task))
      expect(completed.map((c) => c.doneAtMs)).toEqual(delays.map((d) => d.ms))
      // all started at once: the whole run takes as long as the slowest task
      expect(elapsedMs).toBe(Parallel.extractDelayMs)

      const names = completed.find((c) => c.task === "extract names")?.result
      expect(names?._tag === "Names" && names.names.length).toBe(20)
      for (const m of Parallel.messages) {
        const result = completed.find((c) => c.task === `classify ${m.id}`)?.result
        expect(result).toEqual({ _tag: "Label", label: Parallel.scripted[m.id]!.label })
      }

      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(Parallel.tasks.length)
      expect(requests.map(userText).sort()).toEqual(
        ["Generate 20 English names with first name and surname", ...Parallel.messages.map((m) => m.text)].sort()
      )

      const lines = yield* logged
      const progress = lines.filter((l) => l.startsWith("["))
      expect(progress.map((l) => l.slice(0, l.indexOf(" ->")))).toEqual(
        delays.map((d) => `[${(d.ms / 1000).toFixed(1)}s] ${d.task}`)
      )
      expect(lines.at(-1)).toBe("6 tasks in 1.2s (3.9s one after another): 20 names; 3 spam, 2 not spam; 0 failed")
    }).pipe(Effect.provide(Parallel.mock)))

  it.effect("yes/no probabilities: one token with its alternatives asked, P(yes) read from each row's logprobs", () =>
    Effect.gen(function*() {
      const scored = yield* Logprobs.program
      expect(scored.map((s) => [s.id, s.yes?.toFixed(2)])).toEqual([["r1", "0.95"], ["r2", "0.09"], ["r3", "0.57"]])
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => [r.params.maxTokens, r.params.topLogprobs])).toEqual([[1, 5], [1, 5], [1, 5]])
      expect(yield* logged).toContain("r2  P(yes) = 0.09")
      // a row without log probabilities (a provider that has none) scores as unknown, not as zero
      const items = yield* Dataset.validate(Logprobs.template, Logprobs.reviews)
      const [row] = (yield* Batch.run(items).pipe(Effect.provide(MockGenerator.echo()))).rows
      expect(Logprobs.probabilityOfYes(row!)).toBeUndefined()
    }).pipe(Effect.provide(Logprobs.mock)))

  it.live("provider batch: the rows come back through one batch, labelled, with the batch in their metadata", () =>
    Effect.gen(function*() {
      const rows = yield* ProviderBatchExample.program
      expect(rows.map((r) => [r.id, r.output, r.metadata?.via])).toEqual([
        ["r1", "positive", "provider-batch"],
        ["r2", "negative", "provider-batch"],
        ["r3", "neutral", "provider-batch"]
      ])
      expect(new Set(rows.map((r) => r.metadata?.batchId))).toEqual(new Set(["mockbatch_1"]))
      const journal = fs.readFileSync(ProviderBatchExample.journalPath, "utf8").trim().split("\n")
      expect(journal.map((line) => JSON.parse(line).event)).toEqual(["planned", "created"])
    }).pipe(Effect.provide(ProviderBatchExample.mock)))

  it.effect("response cache: the second run of the batch sends nothing and its rows say they were cached", () =>
    Effect.gen(function*() {
      const { first, second } = yield* Cache.program
      expect(yield* MockGenerator.calls).toBe(3)
      expect(second.rows.map((row) => [row.id, row.output])).toEqual([
        ["r1", "positive"],
        ["r2", "negative"],
        ["r3", "neutral"]
      ])
      expect(second.rows.map((row) => row.output)).toEqual(first.rows.map((row) => row.output))
      expect(second.summary).toMatchObject({ ok: 3, attempts: 0 })
      expect(second.summary.usage.totalTokens).toBe(0)
      expect(first.summary.attempts).toBe(3)
      const lines = yield* logged
      expect(lines).toContain("second run: 3 rows, 3 from the cache, 0 requests, 0 tokens paid")
      expect(lines).toContain("  r2  negative  (cached: true)")
    }).pipe(Effect.provide(Cache.mock)))

  it.effect("templates x argument sets with n = 2: one row per choice, with provenance, usage and cost totals", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* CrossN2.program
      const expectedIds = CrossN2.templates.flatMap((t) => CrossN2.argSets.map((a) => `${t.id}:${a.id}`))
      expect(rows.length).toBe(CrossN2.templates.length * CrossN2.argSets.length * CrossN2.choices)
      expect(rows.map((r) => `${r.id}/${r.choice}`)).toEqual(expectedIds.flatMap((id) => [`${id}/0`, `${id}/1`]))
      for (const row of rows) {
        const [templateId, itemId] = row.id.split(":")
        const template = CrossN2.templates.find((t) => t.id === templateId)!
        const args = CrossN2.argSets.find((a) => a.id === itemId)!
        expect(row.templateId).toBe(templateId)
        expect(row.template).toBe(template.source)
        expect(row.vars).toEqual({ food: args.food })
        expect(row.messages.map((m) => m.text)).toEqual([Template.renderText(template, { food: args.food })])
        expect(row.output).toContain(" ")
      }
      // the two choices of a prompt differ
      for (let i = 0; i < rows.length; i += 2) expect(rows[i]!.output).not.toBe(rows[i + 1]!.output)

      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(expectedIds.length)
      for (const r of requests) expect([r.params.n, r.params.temperature]).toEqual([2, 1])
      expect(requests.map(userText).sort()).toEqual(
        rows.filter((r) => r.choice === 0).map((r) => r.messages[0]!.text).sort()
      )

      expect(summary).toMatchObject({ items: 6, rows: 12, ok: 12, failed: 0, attempts: 6 })
      expect(summary.usage.inputTokens).toBe(inputTokensOf(requests))
      expect(summary.usage.outputTokens).toBe(
        rows.reduce((sum, r) => sum + MockGenerator.estimateTokens(r.output ?? ""), 0)
      )
      expect(summary.cost).toBeCloseTo(Usage.cost(summary.usage, CrossN2.prices["gpt-4o-mini"]!), 12)

      const lines = yield* logged
      const perTemplate = lines.filter((l) => /^(like|hate): /.test(l))
      expect(perTemplate.map((l) => l.match(/^(\w+): 6 rows \(6 ok\), 3 requests, (\d+) input/)?.[2])).toEqual(
        CrossN2.templates.map((t) =>
          String(inputTokensOf(requests.filter((r) => userText(r).includes(`you ${t.id} `))))
        )
      )
      expect(lines).toContain(
        `all:  12 rows (12 ok), 6 requests, ${summary.usage.inputTokens} input + ${summary.usage.outputTokens} output tokens, cost $${
          summary.cost!.toFixed(6)
        }`
      )
      expect(lines.some((l) => /^hate:natto +1 {2}hate {6}food=natto {4}Its sticky threads/.test(l))).toBe(true)
    }).pipe(Effect.provide(CrossN2.mock)))
})

describe("a batch too large to hold", () => {
  it.effect("a bad input at the end of the source is refused before any request, with the count", () =>
    Effect.gen(function*() {
      const inputs = [...LargeInput.reviews(3000)(), { id: "a", text: "x" }, { id: "b", text: "y" }]
      const error = yield* Effect.flip(LargeInput.checkAll(inputs))
      expect(error._tag).toBe("TemplateMismatch")
      if (error._tag === "TemplateMismatch") {
        expect(error.itemId).toBe("a")
        expect([error.badItems, error.totalItems]).toEqual([2, 3002])
      }
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(LargeInput.mock)))

  it.effect("the second pass renders what the first checked, with the same derived ids", () =>
    Effect.gen(function*() {
      const inputs = [{ review: "same" }, { review: "same" }, { review: "other" }]
      expect(yield* LargeInput.checkAll(inputs)).toBe(3)
      const items = yield* Stream.runCollect(LargeInput.rendered(inputs))
      const expected = yield* Dataset.validate(LargeInput.template, inputs)
      expect(items.map((item) => item.id)).toEqual(expected.map((item) => item.id))
      expect(items.map((item) => item.messages[0]?.text)).toEqual(expected.map((item) => item.messages[0]?.text))
      expect(items[1]?.id).toBe(`${items[0]?.id}-2`)
    }))

  it.effect("streams every row to the file as it completes", () =>
    Effect.gen(function*() {
      const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "capstan-large-")), "rows.jsonl")
      const { written, ok } = yield* LargeInput.run(2000, output)
      expect([written, ok]).toEqual([2000, 2000])
      const ids = fs.readFileSync(output, "utf8").trim().split("\n").map((line) =>
        (JSON.parse(line) as { id: string }).id
      )
      expect(new Set(ids)).toEqual(new Set(Array.from({ length: 2000 }, (_, i) => `review-${i}`)))
      expect(yield* MockGenerator.calls).toBe(2000)
      const lines = yield* logged
      expect(lines[0]).toMatch(/^Rejected before sending: Item "review-x" does not fit the template/)
      expect(lines).toContain("2000 reviews checked against the template; sending them now")
    }).pipe(Effect.provide(LargeInput.mock)))
})

describe("examples/run.ts", () => {
  it.effect("CAPSTAN_GENERATOR picks a real provider, registered by @capstan/providers; unset, the mock", () =>
    Effect.gen(function*() {
      const withEnv = (value: string | undefined) => {
        const before = process.env.CAPSTAN_GENERATOR
        if (value === undefined) delete process.env.CAPSTAN_GENERATOR
        else process.env.CAPSTAN_GENERATOR = value
        try {
          return generatorLayer(MockGenerator.echo({ identifier: "mock!offline" }))
        } finally {
          if (before === undefined) delete process.env.CAPSTAN_GENERATOR
          else process.env.CAPSTAN_GENERATOR = before
        }
      }
      const identifierOf = (layer: Layer.Layer<Generator.Generator, unknown>) =>
        Generator.Generator.use((g) => Effect.succeed(`${g.identifier.provider}!${g.identifier.model}`)).pipe(
          Effect.provide(layer)
        )
      expect(yield* identifierOf(withEnv(undefined))).toBe("mock!offline")
      // building an OpenAI generator sends nothing: this only needs the provider to be registered
      expect(yield* identifierOf(withEnv("openai!gpt-4o-mini,api_key=sk-test"))).toBe("openai!gpt-4o-mini")
    }))

  it.effect("report after a batch: the page written holds the run's figures, the 429 and the retries", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capstan-report-example-"))
      const file = path.join(dir, "report.html")
      const fiber = yield* Effect.forkChild(ReportAfterBatch.writeReport(file))
      yield* TestClock.adjust("10 minutes")
      const data = yield* Fiber.join(fiber)
      const page = fs.readFileSync(file, "utf8")
      fs.rmSync(dir, { recursive: true, force: true })
      expect(data.summary).toMatchObject({ items: 6, rows: 6, ok: 5, failed: 1, failedByKind: { RateLimited: 1 } })
      // r3 answered in prose once, r6 refused and retried once
      expect(data.summary.retries).toBe(2)
      expect(data.labels).toEqual([
        { label: "negative", count: 2 },
        { label: "positive", count: 2 },
        { label: "neutral", count: 1 }
      ])
      expect(page).toContain(`data-summary="failed" data-value="1"`)
      expect(page).toContain(`data-failed-kind="RateLimited" data-value="1"`)
      expect(page).toContain(`<svg data-chart="labels"`)
      expect(page).not.toContain("<b>Best</b>")
      expect(yield* logged).toContain(`report written to ${file}`)
    }).pipe(Effect.provide(ReportAfterBatch.mock)))
})
