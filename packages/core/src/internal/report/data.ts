/** The figures of a report, computed from rows in one pass plus sorts (see `Report.Data`). */
import type * as Batch from "../../Batch.js"
import { summarize } from "../../Batch.js"
import type * as Usage from "../../Usage.js"

export interface Options {
  readonly prices?: Usage.PriceTable | undefined
  readonly builtInPrices?: boolean | undefined
}

export interface Summary {
  readonly items: number
  readonly rows: number
  readonly ok: number
  readonly failed: number
  readonly failedByKind: Readonly<Record<string, number>>
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly cachedInputTokens?: number }
  readonly attempts: number
  readonly cost?: number
  readonly startedAt: number
  readonly endedAt: number
  readonly wallMs: number
  readonly retries: number
  readonly requestsPerItem: number
  readonly cachedRows: number
}

export interface Bucket {
  readonly atMs: number
  readonly completed: number
  readonly failed: number
  readonly rateLimited: number
}
export interface Pause {
  readonly fromMs: number
  readonly toMs: number
  readonly reason: "rate-limited" | "stalled"
}
export interface Timeline {
  readonly bucketMs: number
  readonly buckets: ReadonlyArray<Bucket>
  readonly pauses: ReadonlyArray<Pause>
}
export interface Bin {
  readonly from: number
  readonly to: number
  readonly count: number
}
export interface MsBin {
  readonly fromMs: number
  readonly toMs: number
  readonly count: number
}
export interface Keyed {
  readonly key: string
  readonly rows: number
  readonly cost: number | undefined
}
export interface Data {
  readonly summary: Summary
  readonly timeline: Timeline
  readonly latency: {
    readonly bins: ReadonlyArray<MsBin>
    readonly p50: number
    readonly p90: number
    readonly p99: number
    readonly max: number
  }
  readonly attempts: ReadonlyArray<{ readonly attempts: number; readonly items: number }>
  readonly tokens: { readonly bins: ReadonlyArray<Bin>; readonly p50: number; readonly max: number }
  readonly costBy: { readonly template: ReadonlyArray<Keyed>; readonly generator: ReadonlyArray<Keyed> }
  readonly labels: ReadonlyArray<{ readonly label: string; readonly count: number }> | undefined
}

/** The value at quantile `q` of sorted values (nearest rank), 0 when there are none. */
export const quantile = (sorted: ArrayLike<number>, q: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

/** A step of 1, 2 or 5 × 10^k at least `raw`, so bins and axes read as round numbers. */
export const niceStep = (raw: number): number => {
  if (!(raw > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power
  return 10 * power
}

const histogram = (sorted: Float64Array, bins: number): Array<Bin> => {
  if (sorted.length === 0) return []
  const max = sorted[sorted.length - 1]!
  const width = niceStep(Math.max(max, 1) / bins)
  const count = Math.floor(max / width) + 1
  const out = Array.from({ length: count }, (_, i) => ({ from: i * width, to: (i + 1) * width, count: 0 }))
  for (const value of sorted) out[Math.min(count - 1, Math.floor(value / width))]!.count++
  return out
}

const sortedOf = (values: Array<number>): Float64Array => Float64Array.from(values).sort()

/** A label of a parsed value: a scalar, or an object with exactly one scalar field (`{ sentiment: "pos" }`). */
export const labelOf = (parsed: unknown): string | undefined => {
  if (typeof parsed === "string") return parsed.length <= 80 ? parsed : undefined
  if (typeof parsed === "number" || typeof parsed === "boolean") return String(parsed)
  if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
    const values = Object.values(parsed)
    return values.length === 1 ? labelOf(values[0]) : undefined
  }
  return undefined
}

/** A template's name: its id, or its text (messages rendered `role: content`). */
export const templateKey = (row: Batch.Row): string =>
  row.templateId ??
    (typeof row.template === "string" ? row.template : row.template.map((m) => `${m.role}: ${m.content}`).join("\n"))

const bucketCap = 300
const pauseAtLeastMs = 1000

export const compute = (input: Iterable<Batch.Row>, options: Options = {}): Data => {
  const rows = Array.isArray(input) ? (input as ReadonlyArray<Batch.Row>) : Array.from(input)
  const base = summarize(rows, options)
  let startedAt = Infinity
  let endedAt = -Infinity
  let retries = 0
  let cachedRows = 0
  for (const row of rows) {
    startedAt = Math.min(startedAt, row.startedAt)
    endedAt = Math.max(endedAt, row.startedAt + row.latencyMs)
    if (row.attempts > 1) retries += row.attempts - 1
    if (row.attempts === 0) cachedRows++
  }
  if (rows.length === 0) startedAt = endedAt = 0
  const wallMs = endedAt - startedAt
  const summary: Summary = {
    items: base.items,
    rows: base.rows,
    ok: base.ok,
    failed: base.failed,
    failedByKind: base.failedByKind,
    usage: { ...base.usage },
    attempts: base.attempts,
    ...(base.cost === undefined ? {} : { cost: base.cost }),
    startedAt,
    endedAt,
    wallMs,
    retries,
    requestsPerItem: base.items === 0 ? 0 : base.attempts / base.items,
    cachedRows
  }
  return {
    summary,
    timeline: timeline(rows, startedAt, wallMs),
    latency: latency(rows),
    ...perItem(rows),
    costBy: {
      template: costBy(rows, templateKey, options),
      generator: costBy(rows, (row) => row.generator, options)
    },
    labels: labels(rows)
  }
}

const timeline = (rows: ReadonlyArray<Batch.Row>, startedAt: number, wallMs: number): Timeline => {
  const bucketMs = Math.max(1000, niceStep(wallMs / bucketCap))
  const count = rows.length === 0 ? 0 : Math.floor(wallMs / bucketMs) + 1
  const completed = new Int32Array(count)
  const failed = new Int32Array(count)
  const rateLimited = new Int32Array(count)
  // the spans during which something was being retried or refused, to tell a 429 pause from a stall
  const limitedSpans: Array<readonly [number, number]> = []
  for (const row of rows) {
    const at = Math.floor((row.startedAt + row.latencyMs - startedAt) / bucketMs)
    completed[at]!++
    if (row.error !== undefined) failed[at]!++
    if (row.error?._tag === "RateLimited") rateLimited[at]!++
    // a 429 pauses the limiter after the row ends: its span reaches one bucket further
    if (row.error?._tag === "RateLimited" || row.attempts > 1) {
      const end = row.startedAt + row.latencyMs - startedAt + (row.error?._tag === "RateLimited" ? bucketMs : 0)
      limitedSpans.push([row.startedAt - startedAt, end])
    }
  }
  const buckets = Array.from({ length: count }, (_, i) => ({
    atMs: i * bucketMs,
    completed: completed[i]!,
    failed: failed[i]!,
    rateLimited: rateLimited[i]!
  }))
  const pauses: Array<Pause> = []
  let i = 0
  while (i < count) {
    if (completed[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < count && completed[j] === 0) j++
    const fromMs = i * bucketMs
    const toMs = j * bucketMs
    if (j - i >= 2 || toMs - fromMs >= pauseAtLeastMs) {
      const limited = limitedSpans.some(([from, to]) => from < toMs && to > fromMs)
      pauses.push({ fromMs, toMs, reason: limited ? "rate-limited" : "stalled" })
    }
    i = j
  }
  return { bucketMs, buckets, pauses }
}

const latency = (rows: ReadonlyArray<Batch.Row>): Data["latency"] => {
  const sorted = sortedOf(rows.map((row) => row.latencyMs))
  return {
    bins: histogram(sorted, 30).map((bin) => ({ fromMs: bin.from, toMs: bin.to, count: bin.count })),
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!
  }
}

const perItem = (rows: ReadonlyArray<Batch.Row>): Pick<Data, "attempts" | "tokens"> => {
  const attempts = new Map<string, number>()
  const tokens = new Map<string, number>()
  for (const row of rows) {
    attempts.set(row.id, Math.max(attempts.get(row.id) ?? 0, row.attempts))
    tokens.set(row.id, (tokens.get(row.id) ?? 0) + row.usage.inputTokens + row.usage.outputTokens)
  }
  const byAttempts = new Map<number, number>()
  for (const n of attempts.values()) byAttempts.set(n, (byAttempts.get(n) ?? 0) + 1)
  const sorted = sortedOf([...tokens.values()])
  return {
    attempts: [...byAttempts].sort(([a], [b]) => a - b).map(([n, items]) => ({ attempts: n, items })),
    tokens: {
      bins: histogram(sorted, 30),
      p50: quantile(sorted, 0.5),
      max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!
    }
  }
}

const costBy = (rows: ReadonlyArray<Batch.Row>, keyOf: (row: Batch.Row) => string, options: Options) => {
  const groups = new Map<string, Array<Batch.Row>>()
  for (const row of rows) {
    const key = keyOf(row)
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [row])
    else group.push(row)
  }
  if (groups.size < 2) return []
  return [...groups].map(([key, group]): Keyed => ({
    key,
    rows: group.length,
    cost: summarize(group, options).cost
  })).sort((a, b) => (b.cost ?? 0) - (a.cost ?? 0) || b.rows - a.rows)
}

/** Labels when at least 95% of the rows that parsed hold a label, and they are few enough to plot. */
const labels = (rows: ReadonlyArray<Batch.Row>): Data["labels"] => {
  const counts = new Map<string, number>()
  let parsed = 0
  let labelled = 0
  for (const row of rows) {
    if (row.parsed === undefined) continue
    parsed++
    const label = labelOf(row.parsed)
    if (label === undefined) continue
    labelled++
    counts.set(label, (counts.get(label) ?? 0) + 1)
  }
  if (parsed === 0 || labelled < parsed * 0.95 || counts.size > 50) return undefined
  return [...counts].map(([label, count]) => ({ label, count })).sort((a, b) =>
    b.count - a.count || a.label.localeCompare(b.label)
  )
}
