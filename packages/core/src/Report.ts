// PLACEHOLDER for branch report-cli: replaced by branch report-core at merge
/**
 * A self-contained HTML report of a batch's rows (crude placeholder following the issue 16 contract).
 *
 * @since 0.3.0
 */
import { Effect, FileSystem, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as Batch from "./Batch.js"
import type * as Usage from "./Usage.js"

/**
 * Options of {@link data}, {@link html} and {@link write}.
 *
 * @example
 * ```ts
 * import type { Report } from "@capstan/core"
 *
 * const options: Report.Options = { title: "Reviews", source: "results.jsonl" }
 * ```
 * @since 0.3.0
 */
export interface Options {
  readonly title?: string | undefined
  readonly source?: string | undefined
  readonly prices?: Usage.PriceTable | undefined
  readonly builtInPrices?: boolean | undefined
}

/**
 * What the page is built from (placeholder: the summary only).
 *
 * @example
 * ```ts
 * import { Report } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<import("@capstan/core").Batch.Row>
 * Report.data(rows).summary.items
 * ```
 * @since 0.3.0
 */
export interface Data {
  readonly summary: {
    readonly items: number
    readonly rows: number
    readonly ok: number
    readonly failed: number
    readonly failedByKind: Readonly<Record<string, number>>
    readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
    readonly attempts: number
    readonly cost?: number | undefined
    readonly startedAt: number
    readonly endedAt: number
    readonly wallMs: number
    readonly retries: number
    readonly requestsPerItem: number
    readonly cachedRows: number
  }
}

/**
 * The figures of the page, computed from the rows.
 *
 * @example
 * ```ts
 * import { Report } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<import("@capstan/core").Batch.Row>
 * Report.data(rows, { prices: { "mock!echo": { inputPerMillion: 1, outputPerMillion: 2 } } }).summary.cost
 * ```
 * @since 0.3.0
 */
export const data = (rows: Iterable<Batch.Row>, options: Options = {}): Data => {
  const all = Array.from(rows)
  const summary = Batch.summarize(all, { prices: options.prices, builtInPrices: options.builtInPrices })
  let startedAt = Infinity
  let endedAt = -Infinity
  let retries = 0
  let cachedRows = 0
  for (const row of all) {
    startedAt = Math.min(startedAt, row.startedAt)
    endedAt = Math.max(endedAt, row.startedAt + row.latencyMs)
    if (row.attempts > 0) retries += row.attempts - 1
    else cachedRows++
  }
  if (all.length === 0) startedAt = endedAt = 0
  return {
    summary: {
      items: summary.items,
      rows: summary.rows,
      ok: summary.ok,
      failed: summary.failed,
      failedByKind: summary.failedByKind,
      usage: { inputTokens: summary.usage.inputTokens, outputTokens: summary.usage.outputTokens },
      attempts: summary.attempts,
      ...(summary.cost === undefined ? {} : { cost: summary.cost }),
      startedAt,
      endedAt,
      wallMs: endedAt - startedAt,
      retries,
      requestsPerItem: summary.items === 0 ? 0 : summary.attempts / summary.items,
      cachedRows
    }
  }
}

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const figure = (key: string, label: string, value: number): string =>
  `<div class="figure"><span>${label}</span> <b data-summary="${key}" data-value="${value}">${
    value.toLocaleString("en")
  }</b></div>`

const chart = (name: string, title: string): string =>
  `<svg data-chart="${name}" width="300" height="120" role="img"><title>${title}</title>` +
  `<text x="10" y="60">${title}</text></svg>`

const script = `
const rows = JSON.parse(document.getElementById("report-rows").textContent);
const $ = (id) => document.getElementById(id);
const text = (r) => [r.id, r.output ?? "", r.error ? r.errorMessage ?? "" : "", ...r.messages.map((m) => typeof m.content === "string" ? m.content : JSON.stringify(m.content))].join("\\n").toLowerCase();
const search = rows.map(text);
let page = 0, matching = [];
const render = () => {
  const body = $("rows").tBodies[0];
  body.textContent = "";
  for (const i of matching.slice(page * 100, page * 100 + 100)) {
    const r = rows[i], tr = document.createElement("tr");
    tr.dataset.row = String(i); tr.tabIndex = 0;
    for (const v of [i, r.id, r.error ? "failed" : "ok", r.error ? r.error._tag : "", r.attempts, r.latencyMs, (r.output ?? (r.error ? r.errorMessage : "") ?? "").slice(0, 80)]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.append(td);
    }
    body.append(tr);
  }
  const pages = Math.max(1, Math.ceil(matching.length / 100));
  $("page-info").textContent = "page " + (page + 1) + " of " + pages;
  $("rows-count").dataset.value = String(matching.length);
  $("rows-count").textContent = matching.length + " rows";
};
const filter = () => {
  const status = $("filter-status").value, kind = $("filter-kind").value, q = $("filter-text").value.toLowerCase();
  matching = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (status === "ok" && r.error) continue;
    if (status === "failed" && !r.error) continue;
    if (kind !== "all" && (!r.error || r.error._tag !== kind)) continue;
    if (q && !search[i].includes(q)) continue;
    matching.push(i);
  }
  page = 0; render();
};
const detail = (i) => {
  const r = rows[i], d = $("row-detail");
  d.textContent = "";
  for (const m of r.messages) {
    const p = document.createElement("pre"); p.className = "message"; p.dataset.role = m.role;
    p.textContent = typeof m.content === "string" ? m.content : JSON.stringify(m.content); d.append(p);
  }
  const o = document.createElement("pre");
  if (r.error) { o.className = "error"; o.textContent = r.error._tag + ": " + (r.errorMessage ?? ""); }
  else { o.className = "output"; o.textContent = r.output ?? ""; }
  d.append(o);
  const meta = document.createElement("pre");
  meta.textContent = JSON.stringify({ parsed: r.parsed, usage: r.usage, attempts: r.attempts, latencyMs: r.latencyMs });
  d.append(meta);
};
$("rows").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-row]"); if (tr) detail(Number(tr.dataset.row)); });
$("rows").addEventListener("keydown", (e) => { const tr = e.target.closest("tr[data-row]"); if (tr && e.key === "Enter") detail(Number(tr.dataset.row)); });
for (const id of ["filter-status", "filter-kind"]) $(id).addEventListener("change", filter);
$("filter-text").addEventListener("input", filter);
$("page-prev").addEventListener("click", () => { if (page > 0) { page--; render(); } });
$("page-next").addEventListener("click", () => { if ((page + 1) * 100 < matching.length) { page++; render(); } });
filter();
`

/**
 * The whole page: one self-contained HTML document.
 *
 * @example
 * ```ts
 * import { Report } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<import("@capstan/core").Batch.Row>
 * const page: string = Report.html(rows, { title: "Reviews" })
 * ```
 * @since 0.3.0
 */
export const html = (rows: Iterable<Batch.Row>, options: Options = {}): string => {
  const all = Array.from(rows)
  const { summary } = data(all, options)
  const title = options.title ?? "Capstan report"
  const kinds = Object.keys(summary.failedByKind).sort()
  const json = JSON.stringify(
    all.map((row) => ({ ...JSON.parse(Batch.toJsonLine(row)), errorMessage: row.error?.message }))
  ).replace(/</g, "\\u003c")
  const failedKinds = kinds.map((kind) =>
    `<div class="figure"><span>${escape(kind)}</span> <b data-failed-kind="${escape(kind)}" data-value="${
      summary.failedByKind[kind]
    }">${summary.failedByKind[kind]}</b></div>`
  ).join("")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1rem}.figure{display:inline-block;margin:0 1rem .5rem 0}
table{border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:2px 6px}tr[data-row]{cursor:pointer}</style>
</head><body>
<h1>${escape(title)}</h1>${options.source === undefined ? "" : `<p>${escape(options.source)}</p>`}
<section id="summary">
${figure("items", "items", summary.items)}${figure("rows", "rows", summary.rows)}${figure("ok", "ok", summary.ok)}${
    figure("failed", "failed", summary.failed)
  }${figure("input-tokens", "input tokens", summary.usage.inputTokens)}${
    figure("output-tokens", "output tokens", summary.usage.outputTokens)
  }${figure("attempts", "attempts", summary.attempts)}${figure("retries", "retries", summary.retries)}${
    figure("wall-ms", "wall ms", summary.wallMs)
  }${summary.cost === undefined ? "" : figure("cost", "cost $", summary.cost)}
${failedKinds}
</section>
<section id="charts">${chart("throughput", "Completions per second")}${chart("latency", "Latency")}${
    chart("attempts", "Attempts per item")
  }${chart("tokens", "Tokens per item")}</section>
<section id="table">
<select id="filter-status"><option value="all">all</option><option value="ok">ok</option><option value="failed">failed</option></select>
<select id="filter-kind"><option value="all">all</option>${
    kinds.map((kind) => `<option value="${escape(kind)}">${escape(kind)}</option>`).join("")
  }</select>
<input type="search" id="filter-text" placeholder="search">
<span id="rows-count" data-value="${all.length}">${all.length} rows</span>
<button id="page-prev">prev</button><span id="page-info"></span><button id="page-next">next</button>
<table id="rows"><thead><tr><th>#</th><th>id</th><th>status</th><th>error</th><th>attempts</th><th>ms</th><th>output</th></tr></thead><tbody></tbody></table>
<div id="row-detail"></div>
</section>
<script type="application/json" id="report-rows">${json}</script>
<script>${script}</script>
</body></html>
`
}

/**
 * Writes the page of a stream of rows to a file.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import { Report } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<import("@capstan/core").Batch.Row>
 * const program = Stream.fromIterable(rows).pipe(Report.write("report.html"), Effect.provide(NodeServices.layer))
 * ```
 * @since 0.3.0
 */
export const write =
  (path: string, options: Options = {}) =>
  <E, R>(rows: Stream.Stream<Batch.Row, E, R>): Effect.Effect<void, E | PlatformError, R | FileSystem.FileSystem> =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const all = yield* Stream.runCollect(rows)
      yield* fs.writeFileString(path, html(all, options))
    })
