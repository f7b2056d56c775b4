/**
 * A report of a batch run: one self-contained HTML page (styles, script, charts and rows inline, no network
 * reference) with the summary, where the time went (completions per second with failures and 429 pauses marked),
 * latency, requests and tokens per item, cost by template or generator, parsed labels, and a table of the rows
 * that filters by status, error kind and text and shows the exact messages sent and the output or error of a row.
 *
 * Charts are hand-written SVG made with the page: no chart library, nothing drawn in the browser, and every figure
 * is in {@link Data}, so it can be tested as data.
 *
 * @since 0.3.0
 */
import { Effect, FileSystem, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import type * as Batch from "./Batch.js"
import * as internal from "./internal/report/data.js"
import { page } from "./internal/report/page.js"
import type * as Usage from "./Usage.js"

/**
 * Options of a report: its title (default "Capstan report"), the source shown under it (e.g. the results file's
 * name), and prices as {@link Batch.SummaryOptions} takes them.
 *
 * @example
 * ```ts
 * import type { Report } from "@capstan/core"
 *
 * const options: Report.Options = {
 *   title: "Reviews, 6 December",
 *   source: "results.jsonl",
 *   prices: { "openai!gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 } }
 * }
 * ```
 * @since 0.3.0
 */
export interface Options {
  readonly title?: string | undefined
  readonly source?: string | undefined
  readonly prices?: Usage.PriceTable | undefined
  /** Price models your table does not name from `Prices.builtIn`. Default true. */
  readonly builtInPrices?: boolean | undefined
  /**
   * Compresses the inline rows: given their JSON, returns its deflate-raw bytes in base64 (e.g. with node:zlib,
   * `(json) => deflateRawSync(json).toString("base64")`); the page inflates them with the browser's
   * `DecompressionStream`. Without it the rows are plain JSON (a 100 000-row page is then about 50 MB).
   */
  readonly compressRows?: ((json: string) => string) | undefined
}

/**
 * What the page is built from: every figure it shows, computed from the rows (plain JSON-serialisable data).
 * `summary` is `Batch.summarize`'s plus the run's start, end, wall time, retries, requests per item and cached
 * rows; `timeline` counts completions (at `startedAt + latencyMs`) per bucket of at most ~300 and finds pauses;
 * `latency` and `tokens` are histograms with percentiles; `attempts` counts items by requests; `costBy` lists
 * templates and generators when a run mixes them; `labels` counts parsed values when they are labels.
 *
 * @example
 * ```ts
 * import { Report } from "@capstan/core"
 * import type { Batch } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<Batch.Row>
 * const data: Report.Data = Report.data(rows)
 * const slowest = data.latency.p99
 * ```
 * @since 0.3.0
 */
export interface Data extends internal.Data {}

/**
 * The figures of a report (see {@link Data}).
 *
 * @example
 * ```ts
 * import { Report } from "@capstan/core"
 * import type { Batch } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<Batch.Row>
 * const { summary, timeline } = Report.data(rows)
 * console.log(summary.retries, timeline.pauses.length)
 * ```
 * @since 0.3.0
 */
export const data = (rows: Iterable<Batch.Row>, options: Options = {}): Data => internal.compute(rows, options)

/**
 * The whole report page as one HTML string: summary, charts, the rows table and its script, all inline. Row
 * data sits in a `<script type="application/json">` with `<` escaped, and the page builds its DOM with
 * `textContent`, so outputs and messages cannot inject markup.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Report, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   const { rows } = yield* Batch.run(items)
 *   return Report.html(rows, { title: "Greetings" })
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.3.0
 */
export const html = (rows: Iterable<Batch.Row>, options: Options = {}): string => {
  const all = Array.isArray(rows) ? (rows as ReadonlyArray<Batch.Row>) : Array.from(rows)
  return page(internal.compute(all, options), all, {
    title: options.title ?? "Capstan report",
    source: options.source,
    compressRows: options.compressRows
  })
}

/**
 * Collects a stream of rows and writes their report page to `path` (a sink, as `Batch.writeJsonl`).
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Report, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   yield* Batch.stream(items).pipe(Report.write("report.html", { source: "greetings" }))
 * }).pipe(Effect.provide([Generator.layer("mock!echo"), NodeServices.layer]))
 * ```
 * @since 0.3.0
 */
export const write =
  (path: string, options: Options = {}) =>
  <E, R>(rows: Stream.Stream<Batch.Row, E, R>): Effect.Effect<void, E | PlatformError, R | FileSystem.FileSystem> =>
    Effect.gen(function*() {
      const collected = yield* Stream.runCollect(rows)
      const sorted = [...collected].sort((a, b) => a.index - b.index || a.choice - b.choice)
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(path, html(sorted, options))
    })
