/**
 * Child-side measurement: reads the task from argv, times the run, and prints the result line.
 */
import { type ContenderResult, type ContenderTask, RESULT_PREFIX } from "./protocol.js"

/** What a contender reports about its items; the measurement adds time, CPU and memory. */
export type Outcome = Pick<ContenderResult, "ok" | "failed" | "missing" | "wrong" | "errors">

const MB = 1024 * 1024

/** The task `bench/run.ts` passed as JSON in `argv[2]`. */
export const readTask = (): ContenderTask => {
  const raw = process.argv[2]
  if (raw === undefined) throw new Error("usage: <contender>.ts '<ContenderTask as JSON>' (bench/run.ts passes it)")
  return JSON.parse(raw) as ContenderTask
}

/**
 * Runs the timed part of a contender and prints `BENCH_RESULT <json>` on stdout.
 * CPU is user + system time of this process over the run; peak RSS is the process's high-water mark.
 */
export const runMeasured = async (task: ContenderTask, run: () => Promise<Outcome>): Promise<void> => {
  const startRssMb = process.memoryUsage.rss() / MB
  const cpu = process.cpuUsage()
  const startedAt = Date.now()
  const started = performance.now()
  const outcome = await run()
  const wallMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  const result: ContenderResult = {
    items: task.items,
    ...outcome,
    startedAt,
    wallMs,
    cpuUserMs: used.user / 1000,
    cpuSystemMs: used.system / 1000,
    startRssMb,
    peakRssMb: (process.resourceUsage().maxRSS * 1024) / MB
  }
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
}

/** Adds one to `counts[key]`. */
export const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1
}

/** A short name for a thrown value: the error class plus its HTTP status when it has one. */
export const errorName = (error: unknown): string => {
  if (!(error instanceof Error)) return typeof error
  const status = (error as { readonly status?: unknown }).status
  return typeof status === "number" ? `${error.constructor.name} ${status}` : error.constructor.name
}
