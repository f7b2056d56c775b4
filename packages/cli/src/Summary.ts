/**
 * The summary printed when a batch ends: rows ok, failed by error kind, skipped by `--resume`, tokens (cached
 * input too), cost when a price is known (`--price`, else the built-in list price of a known model), and wall time.
 *
 * @since 0.1.0
 */
import { Prices, Usage } from "@capstan/core"
import * as Progress from "./Progress.js"

/**
 * What the summary reports.
 *
 * @example
 * ```ts
 * import { type Progress, Summary } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * const summary: Summary.Summary = {
 *   snapshot,
 *   endedAt: Date.now(),
 *   output: "results.jsonl",
 *   price: { inputPerMillion: 0.15, outputPerMillion: 0.6 }, // adds a cost line
 *   interrupted: false
 * }
 * console.log(Summary.format(summary))
 * ```
 * @since 0.1.0
 */
export interface Summary {
  readonly snapshot: Progress.Snapshot
  /** Epoch milliseconds when the run ended. */
  readonly endedAt: number
  /** The results file. */
  readonly output: string
  /** The price of the run's model, when known: the summary then gives the cost. */
  readonly price?: Usage.PerMillion | undefined
  /** True when `price` is Capstan's built-in list price (`Prices`): the summary says so, and how to give another. */
  readonly builtInPrice?: boolean | undefined
  /** True when Ctrl-C stopped the run before every item was sent. */
  readonly interrupted: boolean
  /** True when the run stopped sending because every request failed the same way (see `BatchStopped`). */
  readonly stopped?: boolean | undefined
  /**
   * What the results file holds once the run ended, when it holds more than this run's rows (a resumed run): the
   * ok and failed counts then describe the whole file.
   */
  readonly file?: FileTally | undefined
}

/**
 * The rows of a results file: how many, how many ok, and the failed ones by the kind of their error.
 *
 * @example
 * ```ts
 * import { type Progress, Summary } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * const file: Summary.FileTally = { rows: 120, ok: 118, failed: 2, failedByKind: { Timeout: 2 } }
 * Summary.format({ snapshot, endedAt: Date.now(), output: "results.jsonl", interrupted: false, file })
 * // Done in 4.2s: 20 rows written to results.jsonl (the file holds 120 rows)
 * //   ok       118
 * //   failed   2 (Timeout 2)
 * ```
 * @since 0.2.0
 */
export interface FileTally {
  readonly rows: number
  readonly ok: number
  readonly failed: number
  readonly failedByKind: Readonly<Record<string, number>>
}

const formatCost = (value: number): string => (value >= 1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`)

/**
 * The summary as text (several lines, no trailing newline).
 *
 * @example
 * ```ts
 * import { type Progress, Summary } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * console.log(Summary.format({ snapshot, endedAt: Date.now(), output: "results.jsonl", interrupted: false }))
 * // Done in 4.2s: 30 rows written to results.jsonl
 * //   ok       28
 * //   failed   2 (RateLimited 1, ServerError 1)
 * //   tokens   3,456 (2,100 in, 1,356 out)
 * ```
 * @since 0.1.0
 */
export const format = (summary: Summary): string => {
  const s = summary.snapshot
  const done = Progress.done(s)
  const wall = Progress.formatDuration(summary.endedAt - s.startedAt)
  const file = summary.file
  const held = file === undefined || file.rows === done ? "" : ` (the file holds ${file.rows} rows)`
  const head = summary.interrupted || summary.stopped === true
    ? `${
      summary.stopped === true ? "Stopped" : "Interrupted"
    } after ${wall}: ${done} of ${s.total} rows written to ${summary.output}${held}; ${s.total - done} not sent`
    : `Done in ${wall}: ${done} rows written to ${summary.output}${held}`
  const counts = file ?? s
  const kinds = Object.entries(counts.failedByKind).sort(([, a], [, b]) => b - a).map(([kind, n]) => `${kind} ${n}`)
  const lines = [
    head,
    `  ok       ${counts.ok}`,
    `  failed   ${counts.failed}${kinds.length === 0 ? "" : ` (${kinds.join(", ")})`}`
  ]
  if (s.skipped > 0) lines.push(`  skipped  ${s.skipped} (already in ${summary.output})`)
  if ((s.cached ?? 0) > 0) {
    lines.push(`  cached   ${Progress.formatCount(s.cached ?? 0)} rows from the response cache (nothing sent for them)`)
  }
  if (s.requests > 0) {
    lines.push(
      `  requests ${Progress.formatCount(s.requests)} for ${Progress.formatCount(s.items)} items (${
        Progress.formatCount(s.retries)
      } ${s.retries === 1 ? "retry" : "retries"})`
    )
  }
  const cached = s.cachedInputTokens ?? 0
  lines.push(
    `  tokens   ${Progress.formatCount(s.inputTokens + s.outputTokens)} (${Progress.formatCount(s.inputTokens)} in${
      cached > 0 ? `, ${Progress.formatCount(cached)} of them cached` : ""
    }, ${Progress.formatCount(s.outputTokens)} out)`
  )
  if (summary.price !== undefined) {
    const note = summary.builtInPrice === true ? ` (list price as of ${Prices.asOf}; --price to give yours)` : ""
    lines.push(`  cost     ${formatCost(Usage.cost(s, summary.price))}${note}`)
  }
  lines.push(`  time     ${wall}${done > 0 ? ` (${Progress.pace(s, summary.endedAt).rate.toFixed(1)} rows/s)` : ""}`)
  return lines.join("\n")
}
