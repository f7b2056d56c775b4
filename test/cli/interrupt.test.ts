/**
 * End to end: results survive `kill -9` and Ctrl-C, and `--resume` finishes the job without sending a finished
 * item twice.
 */
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { reviews, rowsOf, runCli, scratch, spawnCli, waitFor } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"
const ITEMS = 15

let server: FakeProviderServer
let files: ReturnType<typeof scratch>
beforeEach(async () => {
  server = await FakeProvider.start({ latencyMs: 250 })
  files = scratch({ "in.jsonl": reviews(ITEMS) })
})
afterEach(async () => {
  await server.close()
  files.remove()
})

const args = () => [
  "batch",
  "--template",
  TEMPLATE,
  "--input",
  join(files.dir, "in.jsonl"),
  "--output",
  join(files.dir, "out.jsonl"),
  "--generator",
  `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`,
  "--concurrency",
  "3"
]

/** The item a logged request was for. */
const itemOf = (body: unknown): string => JSON.stringify(body).match(/review text of (r\d+)/)![1]!

const allIds = Array.from({ length: ITEMS }, (_, i) => `r${String(i + 1).padStart(2, "0")}`)

describe("interrupted runs", () => {
  it("after SIGKILL midway, --resume sends only the items without a row: one row per input, no finished item sent twice", async () => {
    const output = join(files.dir, "out.jsonl")
    const first = spawnCli(args())
    await waitFor("some rows", () => rowsOf(output).length >= 4)
    first.child.kill("SIGKILL")
    const killed = await first.done
    expect(killed.signal).toBe("SIGKILL")
    const finishedBeforeKill = new Set(rowsOf(output).map((row) => row.id as string))
    expect(finishedBeforeKill.size).toBeGreaterThanOrEqual(4)
    expect(finishedBeforeKill.size).toBeLessThan(ITEMS)
    const sentBeforeResume = server.requests.length

    const resumed = await runCli([...args(), "--resume"])
    expect(resumed.stderr).not.toMatch(/error/i)
    expect(resumed.code).toBe(0)

    const rows = rowsOf(output)
    expect(rows.map((row) => row.id).sort()).toEqual(allIds)
    const sentOnResume = server.requests.slice(sentBeforeResume).map((entry) => itemOf(entry.body))
    expect(sentOnResume.filter((id) => finishedBeforeKill.has(id))).toEqual([])
    expect(new Set(sentOnResume).size).toBe(sentOnResume.length)
    expect(resumed.stdout).toMatch(new RegExp(`skipped\\s+${finishedBeforeKill.size}`))
  })

  it("a resumed run killed midway leaves one row per item in the results file; the next --resume merges what it wrote", async () => {
    const output = join(files.dir, "out.jsonl")
    server.configure({ latencyMs: 0, respond: () => ({ error: { status: 500, message: "down" } }) })
    const failed = await runCli([...args(), "--max-retries", "0"])
    expect(failed.code).toBe(2)
    expect(rowsOf(output).every((row) => row.error?._tag === "ServerError")).toBe(true)

    server.configure({ latencyMs: 250, respond: undefined })
    const resuming = spawnCli([...args(), "--resume"])
    await waitFor("replacement rows", () => rowsOf(`${output}.pending`).length >= 3)
    resuming.child.kill("SIGKILL")
    expect((await resuming.done).signal).toBe("SIGKILL")
    // Killed at any point, the results file never holds a failed row beside its replacement.
    const afterKill = rowsOf(output).map((row) => row.id as string)
    expect(afterKill.sort()).toEqual(allIds)
    const replaced = new Set(rowsOf(`${output}.pending`).map((row) => row.id as string))
    const sentBefore = server.requests.length

    const resumed = await runCli([...args(), "--resume"])
    expect(resumed.code).toBe(0)
    const rows = rowsOf(output)
    expect(rows.map((row) => row.id).sort()).toEqual(allIds)
    expect(rows.every((row) => row.error === undefined)).toBe(true)
    const sentOnResume = server.requests.slice(sentBefore).map((entry) => itemOf(entry.body))
    expect(sentOnResume.filter((id) => replaced.has(id))).toEqual([])
    expect(sentOnResume.length).toBe(ITEMS - replaced.size)
  })

  it("on SIGINT, stops new requests, records the ones in flight, says how to resume, exits 130", async () => {
    const output = join(files.dir, "out.jsonl")
    const run = spawnCli(args())
    await waitFor("some rows", () => rowsOf(output).length >= 3)
    run.child.kill("SIGINT")
    const result = await run.done
    expect(result.code).toBe(130)
    expect(result.stderr).toContain("Stopping: no new requests")
    expect(result.stderr).toMatch(/To finish, run:\n {2}capstan batch .*--resume/)
    expect(result.stderr).not.toContain("sk-test")
    expect(result.stdout).toMatch(/^Interrupted after/m)

    // Every request that reached the server before the stop has its row: in-flight ones were waited for.
    const rows = rowsOf(output)
    expect(rows.length).toBeLessThan(ITEMS)
    expect(rows.map((row) => row.id).sort()).toEqual(server.requests.map((entry) => itemOf(entry.body)).sort())

    const resumed = await runCli([...args(), "--resume"])
    expect(resumed.code).toBe(0)
    expect(rowsOf(output).map((row) => row.id).sort()).toEqual(allIds)
    expect(server.requests.map((entry) => itemOf(entry.body)).sort()).toEqual(allIds)
  })
})
