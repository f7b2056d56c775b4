import { Prices } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Progress from "../../packages/cli/src/Progress.js"
import * as Summary from "../../packages/cli/src/Summary.js"

const snapshot = (overrides: Partial<Progress.Snapshot> = {}): Progress.Snapshot => ({
  total: 30,
  skipped: 0,
  ok: 11,
  failed: 1,
  failedByKind: { RateLimited: 1 },
  inFlight: 4,
  requests: 0,
  retries: 0,
  items: 0,
  stopping: false,
  inputTokens: 1000,
  outputTokens: 234,
  startedAt: 0,
  ...overrides
})

describe("Progress", () => {
  it("renders the bar and the plain line from the counters", () => {
    const bar = Progress.bar(snapshot(), 4000, 120)
    assert.match(bar, /^\[█+░+\] 12\/30 {2}40% \| ok 11 · failed 1 · in flight 4 \| 3\.0\/s · ETA 6\.0s \| 1,234 tok$/)
    assert.isAtMost(Progress.bar(snapshot(), 4000, 40).length, 39)
    assert.strictEqual(
      Progress.line(snapshot(), 4000),
      "progress: 12/30 (40%) ok=11 failed=1 in_flight=4 requests=0 retries=0 rate=3.0/s eta=6.0s tokens=1234 elapsed=4.0s"
    )
    const retrying = snapshot({ requests: 19, retries: 3, items: 12 })
    assert.match(Progress.bar(retrying, 4000, 140), /ok 11 · failed 1 · in flight 4 · retries 3 \|/)
    assert.include(Progress.line(retrying, 4000), "requests=19 retries=3")
    assert.strictEqual(Progress.formatDuration(185_000), "3m05s")
    assert.strictEqual(Progress.formatDuration(3_725_000), "1h02m")
  })

  it.effect("counts rows by outcome and requests in flight, and holds requests back once stopped", () =>
    Effect.gen(function*() {
      const tracker = yield* Progress.make({ total: 3, skipped: 0, startedAt: 0 })
      yield* tracker.record({ usage: { inputTokens: 3, outputTokens: 2 } })
      yield* tracker.record({ error: { _tag: "ServerError" }, usage: { inputTokens: 1, outputTokens: 0 } })
      const running = yield* tracker.admit(Effect.sleep("1 second").pipe(Effect.as("done"))).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual((yield* tracker.snapshot).inFlight, 1)
      yield* tracker.stop
      const held = yield* tracker.admit(Effect.succeed("sent")).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(running), "done")
      assert.isUndefined(held.pollUnsafe())
      const s = yield* tracker.snapshot
      assert.deepStrictEqual([s.ok, s.failed, s.failedByKind, s.inFlight, s.inputTokens], [
        1,
        1,
        { ServerError: 1 },
        0,
        4
      ])
      yield* Fiber.interrupt(held)
    }))

  it.effect("prints a plain line every interval off a terminal, and redraws then clears the bar on one", () =>
    Effect.gen(function*() {
      const tracker = yield* Progress.make({ total: 2, skipped: 0, startedAt: 0 })
      const written: Array<string> = []
      const write = (text: string) => Effect.sync(() => void written.push(text))
      const plain = yield* Progress.display(tracker, {
        terminal: false,
        columns: 80,
        write,
        now: Clock.currentTimeMillis
      })
        .pipe(Effect.forkChild)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(written.length, 0)
      yield* tracker.record({ usage: { inputTokens: 1, outputTokens: 1 } })
      yield* TestClock.adjust("11 seconds")
      assert.deepStrictEqual(written, [
        "progress: 1/2 (50%) ok=1 failed=0 in_flight=0 requests=0 retries=0 rate=0.1/s eta=10s tokens=2 elapsed=10s\n",
        "progress: 1/2 (50%) ok=1 failed=0 in_flight=0 requests=0 retries=0 rate=0.1/s eta=20s tokens=2 elapsed=20s\n"
      ])
      yield* Fiber.interrupt(plain)

      written.length = 0
      const bar = yield* Progress.display(tracker, { terminal: true, columns: 80, write, now: Clock.currentTimeMillis })
        .pipe(Effect.forkChild)
      yield* TestClock.adjust("250 millis")
      yield* Fiber.interrupt(bar)
      assert.strictEqual(written.length, 4) // at 0, 100 and 200 ms, then the clearing
      assert.isTrue(written.slice(0, 3).every((text) => text.startsWith("\r\x1b[2K[")))
      assert.strictEqual(written[3], "\r\x1b[2K")
    }))
})

describe("Summary", () => {
  it("reports ok, failures by kind, skipped rows, tokens, cost and time", () => {
    const text = Summary.format({
      snapshot: snapshot({
        ok: 28,
        failed: 2,
        failedByKind: { ServerError: 1, RateLimited: 1 },
        skipped: 5,
        requests: 33,
        retries: 3,
        items: 30
      }),
      endedAt: 4200,
      output: "results.jsonl",
      price: { inputPerMillion: 1, outputPerMillion: 2 },
      interrupted: false
    })
    assert.strictEqual(
      text,
      [
        "Done in 4.2s: 30 rows written to results.jsonl",
        "  ok       28",
        "  failed   2 (ServerError 1, RateLimited 1)",
        "  skipped  5 (already in results.jsonl)",
        "  requests 33 for 30 items (3 retries)",
        "  tokens   1,234 (1,000 in, 234 out)",
        "  cost     $0.0015",
        "  time     4.2s (7.1 rows/s)"
      ].join("\n")
    )
    assert.match(
      Summary.format({ snapshot: snapshot(), endedAt: 1000, output: "r.jsonl", interrupted: true }),
      /^Interrupted after 1\.0s: 12 of 30 rows written to r\.jsonl; 18 not sent/
    )
    assert.match(
      Summary.format({ snapshot: snapshot(), endedAt: 1000, output: "r.jsonl", interrupted: false, stopped: true }),
      /^Stopped after 1\.0s: 12 of 30 rows written to r\.jsonl; 18 not sent/
    )
  })

  it("counts cached input tokens, charges them at the cached rate, and says when the price is the built-in one", () => {
    const text = Summary.format({
      snapshot: snapshot({ inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 800_000 }),
      endedAt: 4200,
      output: "results.jsonl",
      price: { inputPerMillion: 1, outputPerMillion: 2, cachedInputPerMillion: 0.5 },
      builtInPrice: true,
      interrupted: false
    })
    assert.include(text, "  tokens   1,000,000 (1,000,000 in, 800,000 of them cached, 0 out)")
    assert.include(text, `  cost     $0.6000 (list price as of ${Prices.asOf}; --price to give yours)`)
  })

  it("describes the whole results file after a resumed run", () => {
    const text = Summary.format({
      snapshot: snapshot({ total: 4, ok: 4, failed: 0, failedByKind: {}, skipped: 6, requests: 4, items: 4 }),
      endedAt: 2000,
      output: "r.jsonl",
      interrupted: false,
      file: { rows: 10, ok: 9, failed: 1, failedByKind: { InvalidRequest: 1 } }
    })
    assert.match(
      text,
      /^Done in 2\.0s: 4 rows written to r\.jsonl \(the file holds 10 rows\)\n {2}ok {7}9\n {2}failed {3}1 \(InvalidRequest 1\)/
    )
  })
})
