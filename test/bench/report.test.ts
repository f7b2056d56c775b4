import { describe, expect, it } from "@effect/vitest"
import { failureOf } from "../../bench/internal/processes.js"
import { failureSummary, markdown, type Row, withoutMachinePaths } from "../../bench/internal/report.js"

// The end of what node prints when a heap limit kills it: the cause, then a native stack trace naming its binary.
const oom = [
  "<--- Last few GCs --->",
  "[12345:0x6a1b000]    41000 ms: Mark-Compact 61.2 (64.5) -> 60.9 (64.7) MB, 120.00 / 0.00 ms",
  "FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory",
  "----- Native stack trace -----",
  ...Array.from(
    { length: 8 },
    (_, i) => ` ${i + 1}: 0xf1472${i}  [/work/main/node_modules/.pnpm/node@24.21.0/node_modules/node/bin/node]`
  )
].join("\n")

const crashed: Row = {
  measured: undefined,
  scenario: "memory",
  contender: "openai+p-limit",
  variant: "results streamed, heap flags",
  items: 100_000,
  failure: failureOf("exited with SIGABRT", oom),
  checks: []
}

describe("bench report", () => {
  it("cuts absolute paths to their last segment, POSIX, Windows and file: URLs alike", () => {
    expect(withoutMachinePaths("[/work/main/node_modules/.pnpm/node@24.21.0/node_modules/node/bin/node]")).toBe(
      "[…/node]"
    )
    expect(withoutMachinePaths("at run (/home/ada/capstan/bench/run.ts:12:5)")).toBe("at run (…/run.ts:12:5)")
    expect(withoutMachinePaths("at C:\\Users\\ada\\capstan\\x.js:1:2")).toBe("at …/x.js:1:2")
    expect(withoutMachinePaths("file:///Users/ada/capstan/x.js")).toBe("…/x.js")
    // What is not a machine path stays: relative paths, URLs, ratios
    const kept = "bench/results/latest.json, http://127.0.0.1:4010/v1/chat, 429s/min, N/A, 1 / 2"
    expect(withoutMachinePaths(kept)).toBe(kept)
  })

  it("keeps the cause of a crash whose native stack trace is longer than the lines kept", () => {
    const failure = failureOf("exited with SIGABRT", oom)
    expect(failure.output.split("\n")[0]).toContain("FATAL ERROR")
    expect(failure.output.split("\n").length).toBe(7)
    expect(failureOf("exited with 1", "one\ntwo").output).toBe("one\ntwo")
  })

  it("never prints a machine path in the table", () => {
    // The second crash printed only stack frames, as in the run that put a path into bench/README.md
    const framesOnly = { ...crashed, failure: failureOf("exited with SIGABRT", oom.split("\n").slice(-3).join("\n")) }
    const report = markdown([crashed, framesOnly], { notes: [], totalMs: 1000 })
    expect(report).toContain(
      "did not finish: exited with SIGABRT: FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed"
    )
    expect(report).toContain("did not finish: exited with SIGABRT: 6: 0xf14725  […/node] |")
    expect(report).not.toMatch(/\/work\/|node_modules/)
    expect(failureSummary({ reason: "timed out after 60 s", output: "" })).toBe("timed out after 60 s")
  })
})
