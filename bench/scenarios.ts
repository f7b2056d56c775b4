/**
 * The benchmark scenarios: the four of the batch engine issue and the response cache's; server settings, who runs,
 * and the targets.
 */
import type { FakeProviderOptions, HeaderStyle } from "../test/support/FakeProvider.js"
import type { ContenderResult, ServerReport } from "./internal/protocol.js"

/** The two clients under test. */
export type ContenderName = "openai+p-limit" | "capstan"

/** One way of running a contender in a scenario (Capstan told the limit, or left to learn it). */
export interface Variant {
  readonly contender: ContenderName
  readonly variant: string
  /** The requests-per-minute limit the contender is told. */
  readonly rpm?: number
  /** Item counts to run (the memory scenario runs several to show that peak RSS stays flat). */
  readonly sizes: ReadonlyArray<number>
  /** Write each result to the output file as it completes instead of keeping them all (memory scenario). */
  readonly streamResults?: boolean
  /** Node flags for the contender's process (the memory scenario's heap-limited variants). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Server options of this variant, over the scenario's (the rate-limited scenario's header styles). */
  readonly server?: FakeProviderOptions
  /**
   * The response cache on, in a SQLite file per run index: `cold` starts from no file, `warm` reuses the file the
   * `cold` variant's run of the same index left (the cache scenario; `warm` must come after `cold`).
   */
  readonly cache?: "cold" | "warm"
}

/** One contender run and the server's counters for it. */
export interface Run {
  readonly result: ContenderResult
  readonly server: ServerReport
  /** The machine's 1-minute load average when the run started: other work on the machine skews timings. */
  readonly load: number
}

/** The median figures of one contender × variant × size, over the scenario's runs. */
export interface Measured {
  readonly scenario: string
  readonly contender: ContenderName
  readonly variant: string
  readonly items: number
  readonly runs: number
  /** Items without the expected answer, worst run. */
  readonly lost: number
  /** Limiter 429s counted by the server, median. */
  readonly refused: number
  /** Every request the server received, median. */
  readonly requests: number
  readonly wallMs: number
  readonly cpuMsPerItem: number
  readonly peakRssMb: number
  readonly startRssMb: number
  readonly errors: Readonly<Record<string, number>>
  /** The raw runs, for diagnosis (`bench/results/latest.json`). */
  readonly raw: ReadonlyArray<Run>
}

/** One target checked against one measured row. */
export interface Check {
  readonly target: string
  readonly value: string
  readonly pass: boolean
}

/** A benchmark scenario. */
export interface Scenario {
  readonly name: string
  readonly summary: string
  /** Options of the fake server (a fresh one per run, always with the same seed). */
  readonly server: FakeProviderOptions
  readonly concurrency: number
  readonly variants: ReadonlyArray<Variant>
  /** Runs per contender; the table shows medians. */
  readonly runs: number
  /** Stream results to a JSONL file. */
  readonly output: boolean
  /** A contender still running after this long is killed and reported as timed out. */
  readonly timeoutMs: number
  /** The targets of a row, given every row of this scenario (some targets are relative to the baseline). */
  readonly check: (row: Measured, all: ReadonlyArray<Measured>) => ReadonlyArray<Check>
}

const CONCURRENCY = 100
const SEED = 1
const LOG = 50_000

const lost = (row: Measured): Check => ({ target: "lost = 0", value: String(row.lost), pass: row.lost === 0 })

/** A time target only counts when nothing was lost: failing fast is not finishing fast. */
const timed = (row: Measured, target: string, value: string, within: boolean): Check => ({
  target,
  value: row.lost === 0 ? value : `${value} (${row.lost} lost)`,
  pass: within && row.lost === 0
})
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const baselineOf = (all: ReadonlyArray<Measured>) => all.find((m) => m.contender === "openai+p-limit")

/** Scenario 1: the ideal wall time is (N − burst)/rate + latency, with a burst of one second of the limit. */
const idealRateLimitedMs = (items: number, rpm: number, burstSeconds: number, latencyMs: number): number => {
  const perSecond = rpm / 60
  return (Math.max(0, items - perSecond * burstSeconds) / perSecond) * 1000 + latencyMs
}

/**
 * The rate-limit header styles the rate-limited scenario runs Capstan against: the documented one (remaining
 * per minute, the view at admission, reset until full), each of its three parts changed alone, and all three
 * changed at once. The enforced limit is the same in all of them; only what the headers say about it differs.
 */
const HEADER_STYLES: ReadonlyArray<{ readonly name: string; readonly style: HeaderStyle }> = [
  { name: "", style: {} },
  { name: "remaining burst", style: { remaining: "burst" } },
  { name: "view at answer", style: { at: "answer" } },
  { name: "reset to next", style: { reset: "to-next" } },
  { name: "burst + answer + to next", style: { remaining: "burst", at: "answer", reset: "to-next" } }
]

const rateLimited = (): Scenario => {
  const rpm = 6000
  const latencyMs = 50
  const items = 1000
  const ideal = idealRateLimitedMs(items, rpm, 1, latencyMs)
  const capstan = HEADER_STYLES.flatMap(({ name, style }): ReadonlyArray<Variant> => {
    const server = { rateLimitHeaderStyle: style }
    const suffix = name === "" ? "" : `, ${name}`
    return [
      { contender: "capstan", variant: `told rpm${suffix}`, rpm, sizes: [items], server },
      { contender: "capstan", variant: `learned${suffix}`, sizes: [items], server }
    ]
  })
  return {
    name: "rate-limited",
    summary: `${items} items, ${rpm} RPM with 1 s of burst, ${latencyMs} ms latency, ${CONCURRENCY} in flight; ` +
      `Capstan told the limit and learning it, under ${HEADER_STYLES.length} rate-limit header styles. Ideal wall ${
        seconds(ideal)
      }.`,
    server: { rpm, burst: 1, latencyMs, seed: SEED, logRequests: LOG },
    concurrency: CONCURRENCY,
    variants: [{ contender: "openai+p-limit", variant: "default", sizes: [items] }, ...capstan],
    // A refusal or two right after the first wave decides whether a run is at 0.9 % or 1.1 %: medians of 3
    runs: 3,
    output: false,
    timeoutMs: 120_000,
    check: (row) => [
      lost(row),
      timed(row, "wall ≤ 1.05 × ideal", `${(row.wallMs / ideal).toFixed(3)} ×`, row.wallMs <= 1.05 * ideal),
      {
        target: "refused ≤ 1 % of N",
        value: `${((100 * row.refused) / row.items).toFixed(1)} %`,
        pass: row.refused <= 0.01 * row.items
      }
    ]
  }
}

const faults = (): Scenario => ({
  name: "faults",
  summary: `2000 items, 25 % of attempts fail (500 / 503 / connection reset / malformed 200), 20 ms latency, ` +
    `${CONCURRENCY} in flight.`,
  server: {
    latencyMs: 20,
    faults: { rate: 0.25, kinds: ["server-error", "unavailable", "reset", "malformed"] },
    seed: SEED,
    logRequests: LOG
  },
  concurrency: CONCURRENCY,
  variants: [
    { contender: "openai+p-limit", variant: "default", sizes: [2000] },
    { contender: "openai+p-limit", variant: "fault-free", sizes: [2000], server: { faults: undefined } },
    { contender: "capstan", variant: "default", sizes: [2000] },
    { contender: "capstan", variant: "fault-free", sizes: [2000], server: { faults: undefined } }
  ],
  // One unlucky item's retries can end a run: medians of 3 runs, like the other timed scenarios
  runs: 3,
  output: false,
  timeoutMs: 120_000,
  // The same client against the same server without faults: what the faults cost it, whatever the machine.
  check: (row, all) => {
    if (row.variant === "fault-free") return [lost(row)]
    const clean = all.find((m) => m.contender === row.contender && m.variant === "fault-free")
    if (clean === undefined) return [lost(row)]
    const ratio = row.wallMs / clean.wallMs
    return [
      lost(row),
      timed(
        row,
        "wall ≤ 1.5 × its fault-free run",
        `${ratio.toFixed(2)} × (${seconds(row.wallMs)} / ${seconds(clean.wallMs)})`,
        ratio <= 1.5
      )
    ]
  }
})

const latency = (quick: boolean): Scenario => ({
  name: "latency",
  summary: `2000 items, 100 ms latency, ${CONCURRENCY} in flight (ideal 2.0 s); CPU is what the client spends.`,
  server: { latencyMs: 100, seed: SEED, logRequests: LOG },
  concurrency: CONCURRENCY,
  variants: [
    { contender: "openai+p-limit", variant: "default", sizes: [2000] },
    { contender: "capstan", variant: "default", sizes: [2000] }
  ],
  runs: quick ? 1 : 3,
  output: false,
  timeoutMs: 60_000,
  check: (row, all) => {
    const base = baselineOf(all)
    if (row.contender === "openai+p-limit" || base === undefined) return [lost(row)]
    return [
      lost(row),
      timed(row, "wall ≤ baseline's", `${(row.wallMs / base.wallMs).toFixed(3)} ×`, row.wallMs <= base.wallMs),
      {
        target: "CPU/item ≤ 1.1 × baseline's",
        value: `${(row.cpuMsPerItem / base.cpuMsPerItem).toFixed(2)} ×`,
        pass: row.cpuMsPerItem <= 1.1 * base.cpuMsPerItem
      }
    ]
  }
})

/**
 * V8 flags that make it collect sooner: a small young generation and a small old-generation limit. The
 * memory scenario runs both contenders with them too, since V8's defaults size the heap for the machine.
 */
const HEAP_FLAGS: ReadonlyArray<string> = ["--max-semi-space-size=2", "--max-old-space-size=48"]

const memory = (quick: boolean): Scenario => {
  const sizes = quick ? [5_000, 10_000, 20_000] : [25_000, 50_000, 100_000]
  const largest = sizes[sizes.length - 1]!
  return {
    name: "memory",
    summary: `${sizes.join(" / ")} items streamed to a JSONL file, no latency, ${CONCURRENCY} in flight.`,
    server: { seed: SEED, logRequests: false },
    concurrency: CONCURRENCY,
    variants: [
      { contender: "openai+p-limit", variant: "results in memory", sizes: [largest] },
      // the SDK's own floor: nothing kept, each result appended to the file as it completes
      { contender: "openai+p-limit", variant: "results streamed", sizes: [sizes[0]!, largest], streamResults: true },
      { contender: "capstan", variant: "JSONL sink", sizes },
      {
        contender: "openai+p-limit",
        variant: "results streamed, heap flags",
        sizes: [sizes[0]!, largest],
        streamResults: true,
        nodeFlags: HEAP_FLAGS
      },
      { contender: "capstan", variant: "JSONL sink, heap flags", sizes: [sizes[0]!, largest], nodeFlags: HEAP_FLAGS }
    ],
    // V8 sizes the heap run by run: the peak of one run can be 20 % off another's
    runs: quick ? 1 : 3,
    output: true,
    timeoutMs: 240_000,
    // On V8's defaults the level is V8's heap sizing (see Findings): the targets are flat in N and below the plain
    // SDK streaming its results at the same N; under the documented heap flags, flat and about 150 MB (within 10 %).
    // Under the flags both clients sit at the heap limit plus their code, so there the SDK's figure is reported in
    // the Findings, not compared (its process starts about 20 MB lighter, and runs out of heap at 100 000 items).
    check: (row, all) => {
      const checks: Array<Check> = [lost(row)]
      const flags = row.variant.includes("heap flags")
      if (row.contender === "capstan") {
        const sdk = all.find((m) =>
          m.contender === "openai+p-limit" && m.variant === "results streamed" && m.items === row.items
        )
        if (!flags && sdk !== undefined && Number.isFinite(sdk.peakRssMb) && sdk.peakRssMb > 0) {
          checks.push({
            target: "peak below the plain SDK's, streaming",
            value: `${row.peakRssMb.toFixed(0)} / ${sdk.peakRssMb.toFixed(0)} MB`,
            pass: row.peakRssMb < sdk.peakRssMb
          })
        }
        if (flags) {
          checks.push({
            target: "about 150 MB (≤ 165)",
            value: `${row.peakRssMb.toFixed(0)} MB`,
            pass: row.peakRssMb <= 165
          })
        }
      }
      const smallest = all.find((m) =>
        m.contender === row.contender && m.variant === row.variant && m.items === sizes[0]
      )
      if (smallest !== undefined && smallest !== row) {
        const growth = row.peakRssMb / smallest.peakRssMb
        checks.push({
          target: `flat: ≤ 1.2 × peak at ${sizes[0]}`,
          value: `${growth.toFixed(2)} ×`,
          pass: growth <= 1.2
        })
      }
      return checks
    }
  }
}

/**
 * The response cache: the same batch twice with the cache on (a SQLite file), the second run against a fresh server.
 * The latency stands for a short answer of a hosted model (often 0.5 to 2 s); the second run sends nothing, so its
 * time is the client's CPU alone and the ratio grows with the latency: at 100 in flight, the first run takes at least
 * N / 100 × latency.
 */
const cache = (quick: boolean): Scenario => {
  const items = quick ? 2_000 : 10_000
  const latencyMs = 500
  return {
    name: "cache",
    summary: `${items} items, ${latencyMs} ms latency, ${CONCURRENCY} in flight, response cache on (SQLite file): a ` +
      `first run from an empty cache, then a second run against a fresh server.`,
    server: { latencyMs, seed: SEED, logRequests: false },
    concurrency: CONCURRENCY,
    variants: [
      { contender: "capstan", variant: "first run", sizes: [items], cache: "cold" },
      { contender: "capstan", variant: "second run", sizes: [items], cache: "warm" }
    ],
    runs: quick ? 1 : 3,
    output: false,
    timeoutMs: 240_000,
    check: (row, all) => {
      if (row.variant !== "second run") return [lost(row)]
      const first = all.find((m) => m.contender === row.contender && m.variant === "first run")
      const checks: Array<Check> = [
        lost(row),
        { target: "requests = 0", value: String(row.requests), pass: row.requests === 0 }
      ]
      if (first === undefined) return checks
      const ratio = first.wallMs / row.wallMs
      return [
        ...checks,
        timed(
          row,
          "≥ 20 × faster than the first run",
          `${ratio.toFixed(1)} × (${seconds(first.wallMs)} / ${seconds(row.wallMs)})`,
          ratio >= 20
        )
      ]
    }
  }
}

/** Every scenario, in the order `bench/run.ts` runs them. `quick` shrinks the slow ones for a smoke run. */
export const scenarios = (quick: boolean): ReadonlyArray<Scenario> => [
  rateLimited(),
  faults(),
  latency(quick),
  memory(quick),
  cache(quick)
]
