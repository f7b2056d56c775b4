/** Hand-written SVG charts: static markup generated with the page, so charts need no script and no library. */
import { niceStep } from "./data.js"

/** Escapes text for HTML and SVG content and attribute values. */
export const escape = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "\"" ? "&quot;" : "&#39;"
  )

const width = 560
const height = 240
const left = 56
const right = 16
const top = 16
const bottom = 44
const plotW = width - left - right
const plotH = height - top - bottom

/** A short form of a number for axes: 1200 → "1.2k". */
export const short = (n: number): string => {
  const abs = Math.abs(n)
  if (abs >= 1e9) return `${+(n / 1e9).toFixed(1)}G`
  if (abs >= 1e6) return `${+(n / 1e6).toFixed(1)}M`
  if (abs >= 1e3) return `${+(n / 1e3).toFixed(1)}k`
  return `${+n.toFixed(abs < 1 && n !== 0 ? 3 : 1)}`
}

const r = (n: number): string => `${Math.round(n * 10) / 10}`

const frame = (name: string, title: string, xLabel: string, yLabel: string, yMax: number, body: string): string => {
  const step = niceStep(yMax / 4)
  let grid = ""
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const y = top + plotH - (v / yMax) * plotH
    grid += `<line class="grid" x1="${left}" x2="${left + plotW}" y1="${r(y)}" y2="${r(y)}"/>` +
      `<text class="tick" x="${left - 6}" y="${r(y + 4)}" text-anchor="end">${escape(short(v))}</text>`
  }
  return `<svg data-chart="${escape(name)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
    escape(title)
  }">` +
    `<title>${escape(title)}</title>${grid}` +
    `<line class="axis" x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}"/>` +
    `<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}"/>${body}` +
    `<text class="label" x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escape(xLabel)}</text>` +
    `<text class="label" transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escape(yLabel)
    }</text></svg>`
}

const xTicks = (max: number, toX: (v: number) => number, format: (v: number) => string): string => {
  const step = niceStep(max / 6)
  let out = ""
  for (let v = 0; v <= max + 1e-9; v += step) {
    out += `<text class="tick" x="${r(toX(v))}" y="${top + plotH + 16}" text-anchor="middle">${
      escape(format(v))
    }</text>`
  }
  return out
}

export interface Series {
  readonly atMs: number
  readonly completed: number
  readonly failed: number
}

/** Completions per second over the run, failures as a second area, pauses as shaded bands. */
export const throughput = (
  bucketMs: number,
  buckets: ReadonlyArray<Series>,
  pauses: ReadonlyArray<{ readonly fromMs: number; readonly toMs: number; readonly reason: string }>
): string => {
  const perSecond = 1000 / bucketMs
  const spanMs = Math.max(bucketMs, buckets.length * bucketMs)
  const yMax = Math.max(1, ...buckets.map((b) => b.completed * perSecond))
  const toX = (ms: number) => left + (ms / spanMs) * plotW
  const toY = (v: number) => top + plotH - (v / yMax) * plotH
  // a step line: each bucket's rate held over its width, so one bucket still reads as a block
  const area = (value: (b: Series) => number) => {
    if (buckets.length === 0) return ""
    const steps = buckets.map((b) => {
      const y = r(toY(value(b) * perSecond))
      return `L${r(toX(b.atMs))},${y}L${r(toX(b.atMs + bucketMs))},${y}`
    })
    return `M${r(toX(0))},${toY(0)}${steps.join("")}L${r(toX(buckets.length * bucketMs))},${toY(0)}Z`
  }
  const bands = pauses.map((p) =>
    `<rect class="pause ${p.reason}" x="${r(toX(p.fromMs))}" y="${top}" width="${
      r(toX(p.toMs) - toX(p.fromMs))
    }" height="${plotH}"><title>${
      escape(
        `${p.reason === "rate-limited" ? "rate-limited pause" : "stall"}: ${short(p.fromMs / 1000)}–${
          short(p.toMs / 1000)
        } s`
      )
    }</title></rect>`
  ).join("")
  const body = bands + `<path class="completed" d="${area((b) => b.completed)}"/>` +
    `<path class="failed" d="${area((b) => b.failed)}"/>` +
    xTicks(spanMs / 1000, (s) => toX(s * 1000), short)
  return frame("throughput", "Completions per second over the run", "time since start (s)", "rows / s", yMax, body)
}

export interface Marker {
  readonly name: string
  readonly at: number
}

/** A histogram of bins with vertical markers (percentiles). */
export const histogram = (
  name: string,
  title: string,
  xLabel: string,
  bins: ReadonlyArray<{ readonly from: number; readonly to: number; readonly count: number }>,
  markers: ReadonlyArray<Marker>
): string => {
  const max = bins.length === 0 ? 1 : bins[bins.length - 1]!.to
  const yMax = Math.max(1, ...bins.map((b) => b.count))
  const toX = (v: number) => left + (v / max) * plotW
  const toY = (v: number) => top + plotH - (v / yMax) * plotH
  const bars = bins.map((b) =>
    `<rect class="bar" x="${r(toX(b.from) + 0.5)}" y="${r(toY(b.count))}" width="${
      r(Math.max(0.5, toX(b.to) - toX(b.from) - 1))
    }" height="${r(toY(0) - toY(b.count))}"><title>${
      escape(`${short(b.from)}–${short(b.to)}: ${b.count}`)
    }</title></rect>`
  ).join("")
  // markers at the same place share one line and one label ("p90 p99 266")
  const merged: Array<{ names: Array<string>; at: number }> = []
  for (const m of markers) {
    const same = merged.find((x) => short(x.at) === short(m.at))
    if (same === undefined) merged.push({ names: [m.name], at: m.at })
    else same.names.push(m.name)
  }
  const marks = merged.map((m, i) => {
    const x = toX(m.at)
    const end = x > left + plotW - 80
    return `<line class="marker" x1="${r(x)}" x2="${r(x)}" y1="${top}" y2="${top + plotH}"/>` +
      `<text class="marker-label" x="${r(end ? x - 3 : x + 3)}" y="${top + 10 + i * 12}"${
        end ? ` text-anchor="end"` : ""
      }>${escape(`${m.names.join(" ")} ${short(m.at)}`)}</text>`
  }).join("")
  return frame(name, title, xLabel, "rows", yMax, bars + marks + xTicks(max, toX, short))
}

/** Horizontal bars, one per key, with the value printed at the end. */
export const bars = (
  name: string,
  title: string,
  xLabel: string,
  entries: ReadonlyArray<{ readonly label: string; readonly value: number; readonly text: string }>
): string => {
  const shown = entries.slice(0, 20)
  const rowH = Math.min(28, plotH / Math.max(1, shown.length))
  const xMax = Math.max(1e-9, ...shown.map((e) => e.value))
  const labelW = 120
  const toX = (v: number) => left + labelW + (v / xMax) * (plotW - labelW - 60)
  const body = shown.map((e, i) => {
    const y = top + i * rowH
    const label = e.label.length > 18 ? `${e.label.slice(0, 17)}…` : e.label
    return `<text class="tick" x="${left + labelW - 6}" y="${r(y + rowH / 2 + 4)}" text-anchor="end">${
      escape(label)
    }<title>${escape(e.label)}</title></text>` +
      `<rect class="bar" x="${left + labelW}" y="${r(y + 2)}" width="${
        r(Math.max(1, toX(e.value) - toX(0)))
      }" height="${r(Math.max(1, rowH - 4))}"><title>${escape(`${e.label}: ${e.text}`)}</title></rect>` +
      `<text class="value" x="${r(toX(e.value) + 4)}" y="${r(y + rowH / 2 + 4)}">${escape(e.text)}</text>`
  }).join("")
  const more = entries.length > shown.length
    ? `<text class="tick" x="${left + labelW}" y="${top + plotH - 2}">${
      entries.length - shown.length
    } more not shown</text>`
    : ""
  return `<svg data-chart="${escape(name)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
    escape(title)
  }">` +
    `<title>${escape(title)}</title>${body}${more}` +
    `<text class="label" x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escape(xLabel)}</text></svg>`
}
