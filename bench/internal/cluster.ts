/**
 * The cluster bench's computations (`bench/cluster.ts`): lost items, duplicate requests, the ideal wall time of a
 * rate-limited batch, the coordination cost per item and the projection to more cores. Pure, so that
 * `test/bench/cluster.test.ts` checks them without running the bench.
 */
import type { Check } from "../scenarios.js"

/** What the bench reads of a row. */
export interface RowLike {
  readonly index: number
  readonly output?: string | undefined
  readonly error?: unknown
}

/**
 * Items of `[0, items)` without exactly one row that is ok and carries the expected answer: a missing item, an item
 * with two rows, a failed row and a wrong answer all count once.
 */
export const lostItems = (items: number, rows: ReadonlyArray<RowLike>, expected: (index: number) => string): number => {
  const rowsOf = new Map<number, Array<RowLike>>()
  for (const row of rows) {
    const same = rowsOf.get(row.index)
    if (same === undefined) rowsOf.set(row.index, [row])
    else same.push(row)
  }
  let lost = 0
  for (let index = 0; index < items; index++) {
    const found = rowsOf.get(index)
    const row = found?.length === 1 ? found[0]! : undefined
    if (row === undefined || row.error !== undefined || row.output !== expected(index)) lost++
  }
  return lost
}

/**
 * Requests paid more than once: successful answers the provider sent beyond one per item answered. Refused (429) and
 * failed attempts are not paid and are not counted.
 */
export const duplicatesPaid = (successes: number, items: number, lost: number): number =>
  Math.max(0, successes - (items - lost))

/**
 * The ideal wall time of a rate-limited batch, the bench's rate-limited scenario's: the first `burstSeconds` of the
 * limit go at once, the rest at the limit's pace, and the last answer takes `latencyMs`.
 */
export const idealRateLimitedMs = (items: number, rpm: number, burstSeconds: number, latencyMs: number): number => {
  const perSecond = rpm / 60
  return (Math.max(0, items - perSecond * burstSeconds) / perSecond) * 1000 + latencyMs
}

/** One runner's CPU over a run and the items whose rows it wrote. */
export interface RunnerCpu {
  readonly cpuMs: number
  readonly items: number
}

/** CPU per item of the runners together: every runner's CPU (idle ones too: that is coordination) over every item. */
export const runnerCpuPerItemMs = (runners: ReadonlyArray<RunnerCpu>, items: number): number =>
  runners.reduce((sum, r) => sum + r.cpuMs, 0) / items

/** What the runners spend per item beyond a local `Batch.run` of the same job, as a share of the local cost. */
export const coordinationShare = (clusterMsPerItem: number, localMsPerItem: number): number =>
  (clusterMsPerItem - localMsPerItem) / localMsPerItem

/**
 * Projected throughput (items/s) of `runners` runner processes on a machine with `cores` cores, from CPU per item
 * measured on this machine: each runner is one thread (at most one core, `1000 / runnerMs` items/s); the shared work
 * (PostgreSQL, the coordinator) takes its CPU from the same cores; the coordinator is one process, so it caps the
 * whole at `1000 / coordinatorMs` items/s.
 */
export const projectedThroughput = (
  cost: { readonly runnerMs: number; readonly postgresMs: number; readonly coordinatorMs: number },
  cores: number,
  runners: number
): number => {
  const perItem = cost.runnerMs + cost.postgresMs + cost.coordinatorMs
  const byRunners = (runners * 1000) / cost.runnerMs
  const byCores = (cores * 1000) / perItem
  const byCoordinator = cost.coordinatorMs > 0 ? 1000 / cost.coordinatorMs : Infinity
  return Math.min(byRunners, byCores, byCoordinator)
}

/** A target met or missed, as the other benches print it. */
export const check = (target: string, value: string, pass: boolean): Check => ({ target, value, pass })

/** The cluster bench's targets for one rate-limited run (the issue's: 0 lost, ≤ 1.10 × ideal, ≤ 1 % refused). */
export const rateLimitedChecks = (
  run: { readonly items: number; readonly lost: number; readonly wallMs: number; readonly refused: number },
  idealMs: number
): ReadonlyArray<Check> => [
  check("lost = 0", String(run.lost), run.lost === 0),
  check("wall ≤ 1.10 × ideal", `${(run.wallMs / idealMs).toFixed(3)} ×`, run.lost === 0 && run.wallMs <= 1.1 * idealMs),
  check("refused ≤ 1 % of N", `${((100 * run.refused) / run.items).toFixed(1)} %`, run.refused <= 0.01 * run.items)
]

/** The kill run's targets: 0 lost, and requests paid twice no more than the killed runner had under way. */
export const killChecks = (
  run: { readonly lost: number; readonly duplicates: number; readonly inFlight: number; readonly unwritten: number }
): ReadonlyArray<Check> => [
  check("lost = 0", String(run.lost), run.lost === 0),
  check(
    "duplicates ≤ killed runner's in-flight requests",
    `${run.duplicates} ≤ ${run.inFlight}`,
    run.duplicates <= run.inFlight
  ),
  check(
    "duplicates ≤ its in-flight + answered, rows not yet written",
    `${run.duplicates} ≤ ${run.inFlight + run.unwritten}`,
    run.duplicates <= run.inFlight + run.unwritten
  )
]
