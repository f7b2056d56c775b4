import { describe, expect, it } from "@effect/vitest"
import {
  coordinationShare,
  duplicatesPaid,
  idealRateLimitedMs,
  killChecks,
  lostItems,
  projectedThroughput,
  rateLimitedChecks,
  runnerCpuPerItemMs
} from "../../bench/internal/cluster.js"

const expected = (index: number) => `echo: ${index}`
const ok = (index: number) => ({ index, output: expected(index) })

describe("cluster bench computations", () => {
  it("counts an item lost when it has no row, two rows, a failed row or a wrong answer", () => {
    expect(lostItems(4, [ok(0), ok(1), ok(2), ok(3)], expected)).toBe(0)
    expect(lostItems(4, [ok(0), ok(2), ok(3)], expected)).toBe(1)
    expect(lostItems(4, [ok(0), ok(1), ok(1), ok(2), ok(3)], expected)).toBe(1)
    expect(lostItems(4, [ok(0), { index: 1, error: { _tag: "RateLimited" } }, ok(2), ok(3)], expected)).toBe(1)
    expect(lostItems(4, [ok(0), { index: 1, output: "echo: 2" }, ok(2), ok(3)], expected)).toBe(1)
    // rows outside the batch do not make up for missing ones
    expect(lostItems(2, [ok(0), ok(5)], expected)).toBe(1)
  })

  it("counts duplicates as successful answers beyond one per item answered", () => {
    expect(duplicatesPaid(3009, 3000, 0)).toBe(9)
    expect(duplicatesPaid(3000, 3000, 0)).toBe(0)
    // two items lost (never answered): 2998 successes are one each
    expect(duplicatesPaid(2998, 3000, 2)).toBe(0)
    expect(duplicatesPaid(2990, 3000, 0)).toBe(0)
  })

  it("takes the burst off the ideal and adds one latency", () => {
    expect(idealRateLimitedMs(3000, 6000, 1, 50)).toBe(29_050)
    expect(idealRateLimitedMs(50, 6000, 1, 50)).toBe(50)
  })

  it("spreads every runner's CPU over every item and compares with the local cost", () => {
    const ms = runnerCpuPerItemMs([{ cpuMs: 1500, items: 1000 }, { cpuMs: 600, items: 0 }], 1000)
    expect(ms).toBe(2.1)
    expect(coordinationShare(2.1, 2)).toBeCloseTo(0.05)
  })

  it("projects throughput by runners, cores and the one coordinator", () => {
    const cost = { runnerMs: 2, postgresMs: 0.5, coordinatorMs: 0.5 }
    expect(projectedThroughput(cost, 2, 1)).toBe(500) // one runner: one core's worth
    expect(projectedThroughput(cost, 3, 3)).toBe(1000) // the cores, shared with PostgreSQL and the coordinator
    expect(projectedThroughput(cost, 32, 32)).toBe(2000) // the coordinator's one core
  })

  it("checks the issue's targets", () => {
    const passes = (checks: ReadonlyArray<{ readonly pass: boolean }>) => checks.map((c) => c.pass)
    expect(passes(rateLimitedChecks({ items: 3000, lost: 0, wallMs: 31_000, refused: 30 }, 29_050))).toEqual([
      true,
      true,
      true
    ])
    expect(passes(rateLimitedChecks({ items: 3000, lost: 1, wallMs: 31_000, refused: 31 }, 29_050))).toEqual([
      false,
      false,
      false
    ])
    expect(passes(killChecks({ lost: 0, duplicates: 9, inFlight: 2, unwritten: 6 }))).toEqual([true, false, false])
    expect(passes(killChecks({ lost: 0, duplicates: 2, inFlight: 2, unwritten: 6 }))).toEqual([true, true, true])
  })
})
