/**
 * End to end: `capstan batch --via provider-batch` against the fake provider's batch endpoints, killed with
 * `kill -9` while its batches run, then `--resume`: every item ends with one row and no request is paid twice.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { reviews, rowsOf, runCli, scratch, spawnCli, waitFor } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"
const ITEMS = 12

let server: FakeProviderServer
let files: ReturnType<typeof scratch>
beforeEach(async () => {
  server = await FakeProvider.start({ batch: { perRequestMs: 150 } })
  files = scratch({ "in.jsonl": reviews(ITEMS) })
})
afterEach(async () => {
  await server.close()
  files.remove()
})

const output = () => join(files.dir, "out.jsonl")
const args = (...extra: ReadonlyArray<string>) => [
  "batch",
  "--template",
  TEMPLATE,
  "--input",
  join(files.dir, "in.jsonl"),
  "--output",
  output(),
  "--generator",
  `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`,
  "--via",
  "provider-batch",
  "--poll-interval",
  "50 millis",
  ...extra
]

const journal = () =>
  existsSync(`${output()}.batches.jsonl`)
    ? readFileSync(`${output()}.batches.jsonl`, "utf8").trim().split("\n").filter((l) => l.length > 0).map((l) =>
      JSON.parse(l) as { event: string; batchId?: string }
    )
    : []

describe("capstan batch --via provider-batch", () => {
  it("writes one row per item from one batch, shows the batch's status, and prices it at the batch rate", async () => {
    const result = await runCli(args())
    expect(result.code).toBe(0)
    const rows = rowsOf(output())
    expect(rows).toHaveLength(ITEMS)
    expect(rows.every((row) => row.metadata?.via === "provider-batch")).toBe(true)
    expect(server.stats.batches.batchesCreated).toBe(1)
    expect(server.requests.filter((r) => r.path === "/v1/chat/completions")).toEqual([])
    expect(result.stderr).toMatch(/batch 0 \(batch_\w+, 12 requests\): (validating|in_progress)/)
    expect(result.stderr).toMatch(/batch 0 \(batch_\w+, 12 requests\): completed/)
    expect(journal().map((e) => e.event)).toEqual(["planned", "uploaded", "created"])
  })

  it("after kill -9 while the batch runs, --resume collects it: one row per item, nothing paid twice", async () => {
    const first = spawnCli(args())
    await waitFor("the batch created", () => journal().some((e) => e.event === "created"))
    first.child.kill("SIGKILL")
    expect((await first.done).signal).toBe("SIGKILL")
    const batchId = journal().find((e) => e.event === "created")!.batchId!

    const resumed = await runCli(args("--resume"))
    expect(resumed.code).toBe(0)
    const rows = rowsOf(output())
    expect(rows.map((row) => row.id).sort()).toHaveLength(ITEMS)
    expect(new Set(rows.map((row) => row.id)).size).toBe(ITEMS)
    expect(rows.every((row) => row.metadata?.batchId === batchId)).toBe(true)
    expect(server.stats.batches.batchesCreated).toBe(1)
    expect([...server.batchLedger().values()].every((times) => times === 1)).toBe(true)
    expect(server.batchLedger().size).toBe(ITEMS)
  })

  it("Ctrl-C leaves the batch running and says how to resume; --cancel-on-interrupt cancels it", async () => {
    const first = spawnCli(args())
    await waitFor("the batch created", () => journal().some((e) => e.event === "created"))
    first.child.kill("SIGINT")
    const interrupted = await first.done
    expect(interrupted.code).toBe(130)
    expect(interrupted.stderr).toMatch(/--via provider-batch/)
    expect(server.requests.some((r) => r.path.endsWith("/cancel"))).toBe(false)

    const second = spawnCli(args("--overwrite", "--cancel-on-interrupt"))
    await waitFor("a second batch created", () => server.stats.batches.batchesCreated === 2)
    await waitFor("journaled", () => journal().some((e) => e.event === "created"))
    second.child.kill("SIGINT")
    expect((await second.done).code).toBe(130)
    expect(server.requests.filter((r) => r.path.endsWith("/cancel"))).toHaveLength(1)
  })
})
