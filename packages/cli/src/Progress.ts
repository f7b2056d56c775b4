/**
 * Progress of a batch: counters updated once per result row (and per request start/end), and a display that
 * redraws a one-line bar on a terminal or prints a plain line every few seconds elsewhere (CI logs, pipes).
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Ref, Schedule } from "effect"

/**
 * The counters of a run. `total` is the number of rows this run will write (items to send × choices).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Progress } from "@capstan/cli"
 *
 * declare const tracker: Progress.Tracker
 * const status = Effect.map(
 *   tracker.snapshot,
 *   (s: Progress.Snapshot) => `${Progress.done(s)}/${s.total} rows, ${s.failed} failed, ${s.inFlight} in flight`
 * )
 * ```
 * @since 0.1.0
 */
export interface Snapshot {
  readonly total: number
  /** Rows an earlier run already recorded (`--resume`); not part of `total`. */
  readonly skipped: number
  readonly ok: number
  readonly failed: number
  /** Failed rows by the `_tag` of their error. */
  readonly failedByKind: Readonly<Record<string, number>>
  /** Requests being answered right now. */
  readonly inFlight: number
  /** Requests sent, retries included. */
  readonly requests: number
  /** Retries among them (the engine's; recovery rounds of a parse are requests too, but not retries). */
  readonly retries: number
  /** Items answered (their rows are done), whatever their choices. */
  readonly items: number
  /** True once Ctrl-C asked the run to stop: no new request starts. */
  readonly stopping: boolean
  readonly inputTokens: number
  readonly outputTokens: number
  /** The part of `inputTokens` the provider read from its prompt cache (unset: none reported). */
  readonly cachedInputTokens?: number | undefined
  /** Rows answered from the response cache (`--cache`): nothing was sent or paid for them. */
  readonly cached?: number | undefined
  /** Epoch milliseconds when the run started. */
  readonly startedAt: number
}

/**
 * What the counters need of a result row: its error's kind, if it failed, its token usage, and whether the response
 * cache answered it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Batch } from "@capstan/core"
 * import { Progress } from "@capstan/cli"
 *
 * declare const tracker: Progress.Tracker
 * declare const row: Batch.Row // a batch row is a RowOutcome
 * const failed: Progress.RowOutcome = { error: { _tag: "Timeout" }, usage: { inputTokens: 12, outputTokens: 0 } }
 * const program = tracker.record(row).pipe(Effect.andThen(tracker.record(failed)))
 * ```
 * @since 0.1.0
 */
export interface RowOutcome {
  readonly error?: { readonly _tag: string } | undefined
  readonly usage: {
    readonly inputTokens: number
    readonly outputTokens: number
    readonly cachedInputTokens?: number | undefined
  }
  /** `cached: true` marks a row answered from the response cache. */
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

/**
 * The state of a run, shared by the batch (which updates it) and the display (which reads it). It is also the
 * gate every request passes: once {@link Tracker.stop} is called, requests that have not started never start
 * (they wait until the batch is interrupted), while those in flight finish and are counted out.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Progress } from "@capstan/cli"
 *
 * const program = Effect.gen(function*() {
 *   const tracker: Progress.Tracker = yield* Progress.make({ total: 10, skipped: 0, startedAt: Date.now() })
 *   const answer = yield* tracker.admit(Effect.succeed("hi")) // counted in flight while it runs
 *   yield* tracker.answered
 *   yield* tracker.stop // from now on, requests that have not started never start
 *   return answer
 * })
 * ```
 * @since 0.1.0
 */
export interface Tracker {
  readonly snapshot: Effect.Effect<Snapshot>
  readonly record: (row: RowOutcome) => Effect.Effect<void>
  /** Counts an item answered. */
  readonly answered: Effect.Effect<void>
  /** Counts a retry (pass it as the engine's `onRetry`). */
  readonly retried: Effect.Effect<void>
  /** Runs a request, counted in flight; after {@link stop}, never starts it. */
  readonly admit: <A, E, R>(request: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stop: Effect.Effect<void>
}

/**
 * A tracker for a run of `total` rows, `skipped` of the input's rows already recorded.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Progress } from "@capstan/cli"
 *
 * const program = Effect.gen(function*() {
 *   const tracker = yield* Progress.make({ total: 2, skipped: 0, startedAt: 0 })
 *   yield* tracker.record({ usage: { inputTokens: 10, outputTokens: 5 } })
 *   return (yield* tracker.snapshot).ok // 1
 * })
 * ```
 * @since 0.1.0
 */
export const make = (
  options: { readonly total: number; readonly skipped: number; readonly startedAt: number }
): Effect.Effect<Tracker> =>
  Effect.map(
    Ref.make<Snapshot>({
      ...options,
      ok: 0,
      failed: 0,
      failedByKind: {},
      inFlight: 0,
      requests: 0,
      retries: 0,
      items: 0,
      stopping: false,
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      cached: 0
    }),
    (ref) => ({
      snapshot: Ref.get(ref),
      record: (row) =>
        Ref.update(ref, (s) => ({
          ...s,
          ok: row.error === undefined ? s.ok + 1 : s.ok,
          failed: row.error === undefined ? s.failed : s.failed + 1,
          failedByKind: row.error === undefined
            ? s.failedByKind
            : { ...s.failedByKind, [row.error._tag]: (s.failedByKind[row.error._tag] ?? 0) + 1 },
          inputTokens: s.inputTokens + row.usage.inputTokens,
          outputTokens: s.outputTokens + row.usage.outputTokens,
          cachedInputTokens: (s.cachedInputTokens ?? 0) + (row.usage.cachedInputTokens ?? 0),
          cached: (s.cached ?? 0) + (row.metadata?.cached === true ? 1 : 0)
        })),
      answered: Ref.update(ref, (s) => ({ ...s, items: s.items + 1 })),
      retried: Ref.update(ref, (s) => ({ ...s, retries: s.retries + 1 })),
      admit: <A, E, R>(request: Effect.Effect<A, E, R>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(
            // Checking and counting in one step: a request is either refused or counted before `stop` is seen.
            Ref.modify(ref, (s): [boolean, Snapshot] =>
              s.stopping ? [false, s] : [true, { ...s, inFlight: s.inFlight + 1, requests: s.requests + 1 }]),
            (admitted) =>
              admitted
                ? restore(request).pipe(Effect.ensuring(Ref.update(ref, (s) => ({ ...s, inFlight: s.inFlight - 1 }))))
                : restore(Effect.never)
          )
        ),
      stop: Ref.update(ref, (s) => ({ ...s, stopping: true }))
    })
  )

/**
 * Rows done so far (ok or failed).
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * Progress.done(snapshot) === snapshot.ok + snapshot.failed // true
 * ```
 * @since 0.1.0
 */
export const done = (s: Snapshot): number => s.ok + s.failed

/**
 * Rows a second since the start, and the estimated time left (undefined until the first row).
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * const { rate, etaMs } = Progress.pace(snapshot, Date.now())
 * ```
 * @since 0.1.0
 */
export const pace = (s: Snapshot, now: number): { readonly rate: number; readonly etaMs: number | undefined } => {
  const elapsed = Math.max(1, now - s.startedAt) / 1000
  const rate = done(s) / elapsed
  return { rate, etaMs: rate > 0 ? ((s.total - done(s)) / rate) * 1000 : undefined }
}

/**
 * A duration as `1h02m`, `3m05s`, `12s` or `0.4s`.
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * Progress.formatDuration(185_000) // "3m05s"
 * ```
 * @since 0.1.0
 */
export const formatDuration = (ms: number): string => {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`
  const seconds = Math.round(ms / 1000)
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  const pad = (n: number) => String(n).padStart(2, "0")
  return h > 0 ? `${h}h${pad(m)}m` : m > 0 ? `${m}m${pad(s)}s` : `${s}s`
}

/**
 * A count with thousands separators: `1,234,567`.
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * Progress.formatCount(1234567) // "1,234,567"
 * ```
 * @since 0.1.0
 */
export const formatCount = (n: number): string => Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")

const formatRate = (rate: number): string => (rate >= 10 ? rate.toFixed(0) : rate.toFixed(1))

/**
 * The terminal bar: `[#####.....]  12/30  40% | ok 11 · failed 1 · in flight 4 · retries 2 | 3.2/s · ETA 6s | 1,234 tok`
 * (retries shown once there are some).
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * process.stderr.write(`\r${Progress.bar(snapshot, Date.now(), 100)}`)
 * ```
 * @since 0.1.0
 */
export const bar = (s: Snapshot, now: number, columns: number): string => {
  const { etaMs, rate } = pace(s, now)
  const fraction = s.total === 0 ? 1 : done(s) / s.total
  const counts = `${done(s)}/${s.total} ${String(Math.floor(fraction * 100)).padStart(3)}%`
  const details = [
    `${s.stopping ? "stopping · " : ""}ok ${s.ok} · failed ${s.failed} · in flight ${s.inFlight}${
      s.retries > 0 ? ` · retries ${s.retries}` : ""
    }`,
    `${formatRate(rate)}/s · ETA ${etaMs === undefined ? "?" : formatDuration(etaMs)}`,
    `${formatCount(s.inputTokens + s.outputTokens)} tok`
  ].join(" | ")
  const width = Math.max(10, Math.min(30, columns - counts.length - details.length - 8))
  const filled = Math.round(fraction * width)
  const line = `[${"█".repeat(filled)}${"░".repeat(width - filled)}] ${counts} | ${details}`
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line
}

/**
 * The plain progress line for logs and pipes.
 *
 * @example
 * ```ts
 * import { Progress } from "@capstan/cli"
 *
 * declare const snapshot: Progress.Snapshot
 * Progress.line(snapshot, Date.now())
 * // "progress: 12/30 (40%) ok=11 failed=1 in_flight=4 requests=17 retries=1 rate=3.2/s eta=6s tokens=1234 elapsed=3.8s"
 * ```
 * @since 0.1.0
 */
export const line = (s: Snapshot, now: number): string => {
  const { etaMs, rate } = pace(s, now)
  const percent = s.total === 0 ? 100 : Math.floor((done(s) / s.total) * 100)
  return [
    `progress: ${done(s)}/${s.total} (${percent}%)`,
    `ok=${s.ok}`,
    `failed=${s.failed}`,
    `in_flight=${s.inFlight}`,
    `requests=${s.requests}`,
    `retries=${s.retries}`,
    `rate=${formatRate(rate)}/s`,
    `eta=${etaMs === undefined ? "?" : formatDuration(etaMs)}`,
    `tokens=${s.inputTokens + s.outputTokens}`,
    `elapsed=${formatDuration(now - s.startedAt)}`
  ].join(" ")
}

/**
 * How the display writes: to a terminal (redrawing one line) or to a log (one line per tick).
 *
 * @example
 * ```ts
 * import { Clock, Effect } from "effect"
 * import { Progress } from "@capstan/cli"
 *
 * declare const tracker: Progress.Tracker
 * const toLog: Progress.DisplayOptions = {
 *   terminal: false,
 *   columns: 80,
 *   write: (text) => Effect.sync(() => void process.stdout.write(text)),
 *   now: Clock.currentTimeMillis,
 *   interval: "30 seconds"
 * }
 * const display = Progress.display(tracker, toLog)
 * ```
 * @since 0.1.0
 */
export interface DisplayOptions {
  readonly terminal: boolean
  /** Terminal width, for the bar. */
  readonly columns: number
  /** Writes text as is (no newline added). */
  readonly write: (text: string) => Effect.Effect<void>
  readonly now: Effect.Effect<number>
  /** Default: 100 ms on a terminal, 10 s otherwise. */
  readonly interval?: Duration.Input
}

const CLEAR_LINE = "\r\x1b[2K"

/**
 * Shows progress until interrupted, then clears the bar (on a terminal) so the summary starts on a clean line.
 * Fork it next to the batch and interrupt it when the batch ends.
 *
 * @example
 * ```ts
 * import { Clock, Effect } from "effect"
 * import { Progress } from "@capstan/cli"
 *
 * declare const tracker: Progress.Tracker
 * const display = Progress.display(tracker, {
 *   terminal: process.stderr.isTTY === true,
 *   columns: process.stderr.columns ?? 80,
 *   write: (text) => Effect.sync(() => void process.stderr.write(text)),
 *   now: Clock.currentTimeMillis
 * })
 * ```
 * @since 0.1.0
 */
export const display = (tracker: Tracker, options: DisplayOptions): Effect.Effect<never> => {
  const tick = Effect.gen(function*() {
    const snapshot = yield* tracker.snapshot
    const now = yield* options.now
    yield* options.write(
      options.terminal ? `${CLEAR_LINE}${bar(snapshot, now, options.columns)}` : `${line(snapshot, now)}\n`
    )
  })
  const interval = options.interval ?? (options.terminal ? "100 millis" : "10 seconds")
  const ticks = options.terminal
    ? Effect.repeat(tick, Schedule.spaced(interval))
    // In a log, the first line comes after one interval: short runs print only their summary.
    : Effect.repeat(Effect.sleep(interval).pipe(Effect.andThen(tick)), Schedule.forever)
  return ticks.pipe(
    Effect.andThen(Effect.never),
    Effect.ensuring(options.terminal ? options.write(CLEAR_LINE) : Effect.void)
  )
}
