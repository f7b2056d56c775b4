/** The report's HTML: summary cards, the chart grid, the rows table and its detail pane, all inline. */
import type * as Batch from "../../Batch.js"
import { client } from "./client.js"
import { type Data, templateKey } from "./data.js"
import * as Svg from "./svg.js"

/** One row as the page's script reads it: short keys keep a 100 000-row page small. */
export const pageRow = (row: Batch.Row) => ({
  id: row.id,
  c: row.choice,
  g: row.generator,
  t: templateKey(row),
  m: row.messages.map((m) => [m.role, m.text]),
  o: row.output,
  p: row.parsed === undefined ? undefined : JSON.stringify(row.parsed, null, 2),
  k: row.error?._tag,
  e: row.error === undefined ? undefined : row.error.message,
  u: [row.usage.inputTokens, row.usage.outputTokens],
  a: row.attempts,
  l: row.latencyMs
})

/** JSON safe inside a script element: `<` (so no `</script>` nor `<!--`) and the JS line separators escaped. */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")

const number = (n: number): string => n.toLocaleString("en-US", { maximumFractionDigits: 2 })

const duration = (ms: number): string =>
  ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`

const money = (n: number): string => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`

const card = (key: string, label: string, value: number, text: string): string =>
  `<div class="card"><div class="card-label">${
    Svg.escape(label)
  }</div><div class="card-value" data-summary="${key}" data-value="${value}">${Svg.escape(text)}</div></div>`

const summaryHtml = (data: Data): string => {
  const s = data.summary
  const cards = [
    card("items", "items", s.items, number(s.items)),
    card("rows", "rows", s.rows, number(s.rows)),
    card("ok", "ok", s.ok, number(s.ok)),
    card("failed", "failed", s.failed, number(s.failed)),
    card("input-tokens", "input tokens", s.usage.inputTokens, number(s.usage.inputTokens)),
    card("output-tokens", "output tokens", s.usage.outputTokens, number(s.usage.outputTokens)),
    ...(s.cost === undefined ? [] : [card("cost", "cost", s.cost, money(s.cost))]),
    card("wall-ms", "wall time", s.wallMs, duration(s.wallMs)),
    card("attempts", `requests (${s.requestsPerItem.toFixed(2)} per item)`, s.attempts, number(s.attempts)),
    card("retries", "retries", s.retries, number(s.retries))
  ].join("")
  const kinds = Object.entries(s.failedByKind).sort(([, a], [, b]) => b - a).map(([kind, n]) =>
    `<li><span class="kind">${Svg.escape(kind)}</span> <span data-failed-kind="${Svg.escape(kind)}" data-value="${n}">${
      number(n)
    }</span></li>`
  ).join("")
  const notes = [
    s.cachedRows > 0 ? `${number(s.cachedRows)} rows answered from the cache` : "",
    s.cost === undefined ? "cost not shown: the price table does not know every generator" : ""
  ].filter((n) => n !== "").map((n) => `<p class="note">${Svg.escape(n)}</p>`).join("")
  return `<section class="cards">${cards}</section>` +
    (kinds === "" ? "" : `<section class="kinds"><h2>Failures by kind</h2><ul>${kinds}</ul></section>`) + notes
}

const chartsHtml = (data: Data): string => {
  const { latency, tokens } = data
  const charts = [
    Svg.throughput(data.timeline.bucketMs, data.timeline.buckets, data.timeline.pauses),
    Svg.histogram(
      "latency",
      "Latency per row (ms)",
      "latency (ms)",
      latency.bins.map((b) => ({
        from: b.fromMs,
        to: b.toMs,
        count: b.count
      })),
      [{ name: "p50", at: latency.p50 }, { name: "p90", at: latency.p90 }, { name: "p99", at: latency.p99 }]
    ),
    Svg.bars(
      "attempts",
      "Requests per item",
      "items",
      data.attempts.map((a) => ({
        label: `${a.attempts} request${a.attempts === 1 ? "" : "s"}`,
        value: a.items,
        text: number(a.items)
      }))
    ),
    Svg.histogram("tokens", "Tokens per item (input + output)", "tokens", tokens.bins, [{
      name: "p50",
      at: tokens.p50
    }]),
    ...(["template", "generator"] as const).flatMap((by) =>
      data.costBy[by].length === 0 ? [] : [
        Svg.bars(
          `cost-by-${by}`,
          data.costBy[by].every((k) => k.cost !== undefined) ? `Cost by ${by}` : `Rows by ${by} (cost unknown)`,
          data.costBy[by].every((k) => k.cost !== undefined) ? "cost ($)" : "rows",
          data.costBy[by].map((k) => ({
            label: k.key,
            value: data.costBy[by].every((x) => x.cost !== undefined) ? k.cost ?? 0 : k.rows,
            text: k.cost === undefined ? `${number(k.rows)} rows` : `${money(k.cost)} · ${number(k.rows)} rows`
          }))
        )
      ]
    ),
    ...(data.labels === undefined ? [] : [
      Svg.bars(
        "labels",
        "Parsed labels",
        "rows",
        data.labels.map((l) => ({ label: l.label, value: l.count, text: number(l.count) }))
      )
    ])
  ]
  const legend =
    `<p class="note">In the throughput chart, blue is completed rows and red failed ones; shaded bands are pauses: red when rate-limited rows or retried rows overlap them, grey otherwise (stalls). Rows record how many requests they took, not which retries were 429s.</p>`
  // Each chart's title (its svg's first <title>, already escaped) is also its visible caption.
  const captioned = charts.map((chart) => {
    const title = /<title>([^<]*)<\/title>/.exec(chart)?.[1]
    return `<figure>${title === undefined ? "" : `<figcaption>${title}</figcaption>`}${chart}</figure>`
  })
  return `<section class="charts">${captioned.join("")}</section>${legend}`
}

const tableHtml = (data: Data): string => {
  const kinds = Object.keys(data.summary.failedByKind).sort().map((k) =>
    `<option value="${Svg.escape(k)}">${Svg.escape(k)}</option>`
  ).join("")
  return `<section class="rows"><h2>Rows</h2><div class="filters">` +
    `<label>status <select id="filter-status"><option value="all">all</option><option value="ok">ok</option><option value="failed">failed</option></select></label>` +
    `<label>error kind <select id="filter-kind"><option value="all">all</option>${kinds}</select></label>` +
    `<label>text <input type="search" id="filter-text" placeholder="id, output, error or message text"></label>` +
    `<span id="rows-count" data-value="${data.summary.rows}">${number(data.summary.rows)} rows</span></div>` +
    `<div class="split"><div class="table-wrap"><table id="rows"><thead><tr><th>#</th><th>id</th><th>status</th><th>output or error</th><th>requests</th><th>ms</th><th>tokens</th></tr></thead>` +
    `<tbody><tr><td colspan="7" class="loading">Loading rows…</td></tr></tbody></table>` +
    `<div class="paging"><button id="page-prev" type="button">‹ previous</button><span id="page-info"></span><button id="page-next" type="button">next ›</button></div></div>` +
    `<aside id="row-detail" hidden></aside></div></section>`
}

const css = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--panel:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--accent:#0969da}
*{box-sizing:border-box}body{margin:0;padding:20px 28px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:20px 0 8px}h3{font-size:15px;margin:0 0 6px}.sub,.note,.meta{color:var(--muted)}.note{font-size:12px;margin:6px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;margin-top:14px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px}.card-label{color:var(--muted);font-size:12px}.card-value{font-size:20px;font-weight:600}
.kinds ul{display:flex;flex-wrap:wrap;gap:8px 18px;list-style:none;padding:0;margin:0}.kind{color:var(--bad);font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px;margin-top:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px}figcaption{font-weight:600;font-size:13px;margin:2px 4px 4px}svg{width:100%;height:auto;display:block;font:11px system-ui,sans-serif}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}svg .tick,svg .value{fill:var(--muted)}svg .label{fill:var(--fg);font-size:12px}
svg .bar{fill:#218bff}svg .completed{fill:#218bff;fill-opacity:.35;stroke:#0969da}svg .failed{fill:var(--bad);fill-opacity:.5;stroke:var(--bad)}
svg .pause{fill:#8c959f;fill-opacity:.18}svg .pause.rate-limited{fill:var(--bad);fill-opacity:.15}svg .marker{stroke:#bc4c00;stroke-dasharray:4 3}svg .marker-label{fill:#bc4c00}
.filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin-bottom:8px}input,select,button{font:inherit}input[type=search]{width:260px}
.split{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:12px;align-items:start}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}td.text{word-break:break-word}
tr[data-row]{cursor:pointer}tr[data-row]:hover,tr.selected{background:#ddf4ff}tr.failed td.status{color:var(--bad);font-weight:600}tr.ok td.status{color:var(--ok)}
.paging{display:flex;gap:12px;align-items:center;margin-top:8px}
#row-detail{border:1px solid var(--line);border-radius:6px;padding:10px;position:sticky;top:8px;max-height:90vh;overflow:auto}
.message,.output,.error,.parsed{margin:8px 0}.role{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase}.error .role{color:var(--bad)}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:6px 8px;background:var(--panel);border-radius:4px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
`

export interface PageOptions {
  readonly title: string
  readonly source?: string | undefined
  /** The rows' JSON as deflate-raw bytes in base64 (the page inflates them with the browser's DecompressionStream). */
  readonly compressRows?: ((json: string) => string) | undefined
}

/** The rows, inline: plain JSON, or compressed when the caller can compress. */
const rowsScript = (rows: ReadonlyArray<Batch.Row>, compress: PageOptions["compressRows"]): string =>
  compress === undefined
    ? `<script type="application/json" id="report-rows">${scriptJson(rows.map(pageRow))}</script>`
    : `<script type="application/octet-stream" id="report-rows" data-encoding="deflate-raw-base64">${
      compress(JSON.stringify(rows.map(pageRow)))
    }</script>`

export const page = (data: Data, rows: ReadonlyArray<Batch.Row>, options: PageOptions): string => {
  const s = data.summary
  const when = rows.length === 0
    ? ""
    : ` · started ${new Date(s.startedAt).toISOString().replace("T", " ").slice(0, 19)} UTC`
  const sub = `${options.source === undefined ? "" : `${options.source} · `}${number(s.rows)} rows${when}`
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${Svg.escape(options.title)}</title><style>${css}</style></head><body>` +
    `<header><h1>${Svg.escape(options.title)}</h1><div class="sub">${Svg.escape(sub)}</div></header>` +
    summaryHtml(data) + chartsHtml(data) + tableHtml(data) +
    rowsScript(rows, options.compressRows) +
    `<script>${client}</script></body></html>\n`
}
