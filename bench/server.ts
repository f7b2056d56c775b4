/**
 * The fake provider in its own process, so that a contender's CPU and memory are measured alone.
 *
 *   node --import tsx bench/server.ts '{"rpm":6000,"latencyMs":50,"logRequests":50000}'
 *
 * prints `{"url":"http://127.0.0.1:PORT"}` once it listens; each `stats` line on stdin gets one
 * `ServerReport` line back; closing stdin stops the server and the process.
 */
import { createInterface } from "node:readline"
import { FakeProvider, type FakeProviderOptions, type FakeRequestLogEntry } from "../test/support/FakeProvider.js"
import { itemOf, type ServerReport, type Timeline } from "./internal/protocol.js"

const options = JSON.parse(process.argv[2] ?? "{}") as FakeProviderOptions

const countPerSecond = (times: ReadonlyArray<number>, t0: number): Array<number> => {
  const counts: Array<number> = []
  for (const t of times) {
    const second = Math.floor((t - t0) / 1000)
    while (counts.length <= second) counts.push(0)
    counts[second]!++
  }
  return counts
}

const lastUserText = (body: unknown): string => {
  const messages = (body as { readonly messages?: ReadonlyArray<{ readonly content?: unknown }> } | undefined)?.messages
  const content = messages?.[messages.length - 1]?.content
  return typeof content === "string" ? content : ""
}

// Logs can hold tens of thousands of entries: too many for `Math.min(...xs)` arguments.
const min = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => (b < a ? b : a), Infinity)
const max = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => (b > a ? b : a), -Infinity)

const timelineOf = (log: ReadonlyArray<FakeRequestLogEntry>): Timeline | undefined => {
  if (log.length === 0) return undefined
  const t0 = min(log.map((e) => e.receivedAt))
  const refused = log.filter((e) => e.status === 429 && e.fault === undefined).map((e) => e.receivedAt)
  const admitted = log.filter((e) => !(e.status === 429 && e.fault === undefined)).map((e) => e.receivedAt)
  const itemOfEntry = log.map((e) => itemOf(lastUserText(e.body)))
  const attempts = new Map<number, number>()
  const successes = new Map<number, number>()
  const answered: Array<number> = []
  const sdkRetryCount: Record<string, number> = {}
  let lastIndex = 0
  log.forEach((entry, index) => {
    if (entry.receivedAt >= log[lastIndex]!.receivedAt) lastIndex = index
    const item = itemOfEntry[index]
    if (item !== undefined) {
      attempts.set(item, (attempts.get(item) ?? 0) + 1)
      if (entry.status === 200 && entry.fault === undefined) {
        if (!successes.has(item)) answered.push(entry.receivedAt)
        successes.set(item, (successes.get(item) ?? 0) + 1)
      }
    }
    const retry = entry.headers["x-stainless-retry-count"]
    if (typeof retry === "string") sdkRetryCount[retry] = (sdkRetryCount[retry] ?? 0) + 1
  })
  const lastItem = itemOfEntry[lastIndex]
  const attemptsPerItem: Record<string, number> = {}
  for (const count of attempts.values()) attemptsPerItem[count] = (attemptsPerItem[count] ?? 0) + 1
  return {
    firstArrivalAt: t0,
    admittedPerSecond: countPerSecond(admitted, t0),
    refusedPerSecond: countPerSecond(refused, t0),
    answeredPerSecond: countPerSecond(answered, t0),
    firstRefusalMs: refused.length === 0 ? undefined : min(refused) - t0,
    lastRefusalMs: refused.length === 0 ? undefined : max(refused) - t0,
    spanMs: max(log.map((e) => e.answeredAt ?? e.receivedAt)) - t0,
    attemptsPerItem,
    duplicateSuccesses: [...successes.values()].filter((count) => count > 1).length,
    sdkRetryCount,
    lastItem: lastItem === undefined ? undefined : {
      item: lastItem,
      attempts: log.filter((_, index) => itemOfEntry[index] === lastItem).map((e) => ({
        atMs: e.receivedAt - t0,
        status: e.status,
        fault: e.fault
      }))
    }
  }
}

// A random free port, unless the run names one (the cache scenario: the address is part of every cache key).
const server = await FakeProvider.start({ ...options, port: options.port ?? 0 })
const listening = process.cpuUsage()
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`)

const stdin = createInterface({ input: process.stdin })
stdin.on("line", (line) => {
  if (line.trim() !== "stats") return
  const cpu = process.cpuUsage(listening)
  const report: ServerReport = {
    stats: server.stats,
    cpuMs: (cpu.user + cpu.system) / 1000,
    timeline: timelineOf(server.requests)
  }
  process.stdout.write(`${JSON.stringify(report)}\n`)
})
stdin.on("close", () => void server.close().then(() => process.exit(0)))
