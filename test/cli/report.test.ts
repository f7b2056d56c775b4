/**
 * `capstan report` without a browser: the file it writes (self-contained, the summary figures of the rows), the
 * default name, a malformed line, a torn last line, and the line `capstan batch` prints after its summary.
 */
import { Batch, Report } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { inflateRawSync } from "node:zlib"
import * as ReportRows from "../support/ReportRows.js"
import { capstan } from "./inProcess.js"
import { reviews, scratch } from "./process.js"

const withFiles = <A, E, R>(
  files: Readonly<Record<string, string>>,
  f: (dir: string) => Effect.Effect<A, E, R>
) =>
  Effect.acquireUseRelease(
    Effect.sync(() => scratch(files)),
    (files) => f(files.dir),
    (files) => Effect.sync(files.remove)
  )

/** The `data-value` of the first element with `attribute="key"` in the page. */
const valueOf = (page: string, attribute: string, key: string): number | undefined => {
  const tag = page.match(new RegExp(`<[^>]*${attribute}="${key}"[^>]*>`))?.[0]
  const value = tag?.match(/data-value="([^"]*)"/)?.[1]
  return value === undefined ? undefined : Number(value)
}

describe("capstan report", () => {
  const rows = ReportRows.make(60)
  const summary = Batch.summarize(rows, {
    prices: { "openai!gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 4 } }
  })

  it.effect("writes one self-contained page whose summary figures are the rows'", () =>
    withFiles({ "results.jsonl": ReportRows.jsonl(rows) }, (dir) =>
      Effect.gen(function*() {
        const target = join(dir, "out.html")
        const result = yield* capstan([
          "report",
          join(dir, "results.jsonl"),
          "--html",
          target,
          "--price",
          "1,4",
          "--title",
          "Run 7"
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.include(result.stdout, `Wrote the report of 60 rows to ${target}`)
        assert.match(result.stdout, /Open it with: (xdg-open|open|start) .*out\.html {2}\(or file:\/\/\/.*out\.html\)/)
        const page = readFileSync(target, "utf8")
        assert.include(page, "Run 7")
        // self-contained: no resource fetched from anywhere
        assert.notMatch(page, /\b(src|href)\s*=\s*["']?(https?:)?\/\//i)
        assert.notMatch(page, /@import|url\(\s*["']?(https?:)?\/\//i)
        // the rows travel compressed, and inflate back to every row of the file
        const packed =
          /<script type="application\/octet-stream" id="report-rows" data-encoding="deflate-raw-base64">([^<]*)</
            .exec(page)
        assert.isNotNull(packed)
        const inflated = JSON.parse(
          inflateRawSync(Buffer.from(packed[1]!, "base64")).toString("utf8")
        ) as ReadonlyArray<
          { readonly id: string }
        >
        assert.deepStrictEqual(inflated.map((row) => row.id), rows.map((row) => row.id))
        const retries = rows.reduce((n, row) => n + (row.attempts > 0 ? row.attempts - 1 : 0), 0)
        const expected: Record<string, number> = {
          items: summary.items,
          rows: summary.rows,
          ok: summary.ok,
          failed: summary.failed,
          "input-tokens": summary.usage.inputTokens,
          "output-tokens": summary.usage.outputTokens,
          attempts: summary.attempts,
          retries
        }
        for (const [key, value] of Object.entries(expected)) {
          assert.strictEqual(valueOf(page, "data-summary", key), value, key)
        }
        assert.isAbove(summary.failed, 0)
        assert.isAbove(retries, 0)
        assert.closeTo(valueOf(page, "data-summary", "cost")!, summary.cost!, 1e-9)
        for (const [kind, count] of Object.entries(summary.failedByKind)) {
          assert.strictEqual(valueOf(page, "data-failed-kind", kind), count, kind)
        }
        assert.strictEqual(Object.keys(summary.failedByKind).length, 3)
        // the same page as the library's
        assert.strictEqual(
          valueOf(Report.html(rows), "data-summary", "wall-ms"),
          valueOf(page, "data-summary", "wall-ms")
        )
      })))

  it.effect("writes RESULTS.html next to RESULTS.jsonl by default; no cost without a known price", () =>
    withFiles(
      { "run.jsonl": ReportRows.jsonl(rows.map((row) => new Batch.Row({ ...row, generator: "mock!echo" }))) },
      (dir) =>
        Effect.gen(function*() {
          const result = yield* capstan(["report", join(dir, "run.jsonl")])
          assert.strictEqual(result.code, 0, result.stderr)
          const page = readFileSync(join(dir, "run.html"), "utf8")
          assert.strictEqual(valueOf(page, "data-summary", "rows"), 60)
          assert.isUndefined(valueOf(page, "data-summary", "cost"))
        })
    ))

  it.effect("a malformed line is an input error naming file:line (exit 64), and nothing is written", () =>
    withFiles({
      "bad.jsonl": `${Batch.toJsonLine(rows[0]!)}\n{"id": "x", "index": "not a number"}\n${
        Batch.toJsonLine(rows[1]!)
      }\n`,
      "notjson.jsonl": `${Batch.toJsonLine(rows[0]!)}\nhello\n`
    }, (dir) =>
      Effect.gen(function*() {
        const bad = yield* capstan(["report", join(dir, "bad.jsonl")])
        assert.strictEqual(bad.code, 64)
        assert.include(bad.stderr, `error: ${join(dir, "bad.jsonl")}:2: not a result row`)
        assert.isFalse(existsSync(join(dir, "bad.html")))
        const notJson = yield* capstan(["report", join(dir, "notjson.jsonl")])
        assert.strictEqual(notJson.code, 64)
        assert.include(notJson.stderr, `notjson.jsonl:2: not a result row`)
      })))

  it.effect("a torn last line (an interrupted run) is skipped with a note", () =>
    withFiles(
      { "torn.jsonl": `${ReportRows.jsonl(rows.slice(0, 5))}${Batch.toJsonLine(rows[5]!).slice(0, 40)}` },
      (dir) =>
        Effect.gen(function*() {
          const result = yield* capstan(["report", join(dir, "torn.jsonl")])
          assert.strictEqual(result.code, 0, result.stderr)
          assert.include(result.stderr, "torn.jsonl:6: skipped the unfinished last line")
          assert.strictEqual(valueOf(readFileSync(join(dir, "torn.html"), "utf8"), "data-summary", "rows"), 5)
        })
    ))

  it.effect("a missing file and a bad --price are clear errors", () =>
    withFiles({ "r.jsonl": ReportRows.jsonl(rows.slice(0, 2)) }, (dir) =>
      Effect.gen(function*() {
        const missing = yield* capstan(["report", join(dir, "nope.jsonl")])
        assert.strictEqual(missing.code, 64)
        assert.include(missing.stderr, "nope.jsonl: cannot read the results file")
        const price = yield* capstan(["report", join(dir, "r.jsonl"), "--price", "cheap"])
        assert.strictEqual(price.code, 64)
        assert.include(price.stderr, "--price expects INPUT,OUTPUT")
      })))

  it.effect("capstan batch prints the command that writes the report", () =>
    withFiles({ "in.jsonl": reviews(3) }, (dir) =>
      Effect.gen(function*() {
        const output = join(dir, "my results.jsonl")
        const result = yield* capstan([
          "batch",
          "--template",
          "Review of {product}: {review}",
          "--input",
          join(dir, "in.jsonl"),
          "--output",
          output,
          "--generator",
          "mock!echo"
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        const lines = result.stdout.split("\n")
        const time = lines.findIndex((line) => line.startsWith("  time "))
        assert.strictEqual(lines[time + 1], `Report: capstan report '${output}'`)
      })))
})
