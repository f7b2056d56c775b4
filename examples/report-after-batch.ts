/**
 * A report of a run: a small batch of coffee reviews (one refused with a 429, one answered in prose first and
 * asked again), then `Report.write` turns its rows into one self-contained HTML page — the summary, completions
 * over time, latency, requests and tokens per item, the parsed sentiment labels, and a table of every row with
 * the messages sent and the output or error. Open the file in a browser; it needs no network.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/report-after-batch.ts [report.html]`
 * (without a path the page goes to a temporary directory; the program prints where).
 */
import { Batch, Dataset, Generator, Model, RateLimited, Report, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { Console, Effect, type Layer, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runMain } from "./run.js"

export const reviews = [
  { id: "r1", review: "Great coffee, I buy it every week." },
  { id: "r2", review: "Stale beans and a burnt taste." },
  { id: "r3", review: "Fine, I suppose. A bit bitter." },
  { id: "r4", review: "Love the crema. <b>Best</b> in town." },
  { id: "r5", review: "Awful. Never again." },
  { id: "r6", review: "Too many requests today, sorry." }
]

export const template = Template.make("Is this review positive, negative or neutral? Answer as JSON.\n\n{review}")

const Sentiment = Model.json(Schema.Struct({ sentiment: Schema.Literals(["positive", "negative", "neutral"]) }), {
  name: "sentiment"
})

/** Runs the batch and writes its report to `path`; returns the figures the page shows. */
export const writeReport = (path: string) =>
  Effect.gen(function*() {
    // The reviews are the example's own: a mistake in them is a bug, not an input error.
    const items = yield* Effect.orDie(Dataset.validate(template, reviews))
    const rows = yield* Stream.runCollect(Batch.stream(items, { parse: Sentiment, maxRounds: 2, concurrency: 2 }))
    yield* Stream.fromIterable(rows).pipe(
      Report.write(path, { title: "Coffee reviews", source: "examples/report-after-batch.ts" })
    )
    const data = Report.data(rows)
    yield* Console.log(
      `${data.summary.rows} rows, ${data.summary.failed} failed, ${data.summary.retries} retried; ` +
        `labels: ${(data.labels ?? []).map((l) => `${l.label} ${l.count}`).join(", ")}`
    )
    yield* Console.log(`report written to ${path}`)
    return data
  }).pipe(Effect.provide(NodeServices.layer), Effect.orDie)

export const program = Effect.suspend(() =>
  writeReport(process.argv[2] ?? join(mkdtempSync(join(tmpdir(), "capstan-report-")), "report.html"))
)

// Offline: a judge that reads a few words, answers r3 in prose first, and refuses r6 with a 429 (retried once).
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn(
  (text, _params, request) => {
    const retried = request._tag === "chat" && request.messages.some((m) => m.role === "assistant")
    if (text.includes("Too many")) {
      return Effect.fail(new RateLimited({ provider: "mock", detail: "rate limit reached" }))
    }
    if (text.includes("Fine, I suppose") && !retried) return "Hmm, it is somewhere in the middle."
    const sentiment = /great|love/i.test(text) ? "positive" : /stale|burnt|awful/i.test(text) ? "negative" : "neutral"
    return JSON.stringify({ sentiment })
  }
).pipe(Generator.withEngine({ maxRetries: 1 }))

runMain(import.meta, program, mock)
