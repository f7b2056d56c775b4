/**
 * Provider batch mode at scale, end to end through the CLI against the fake provider's OpenAI Batch API:
 *
 *   npx -y pnpm@10 bench:provider-batch [--sizes 25000,50000,100000] [--kill-at 0.3]
 *
 * 1. `capstan batch --via provider-batch` over N items (N = each size): lost rows (missing or failed), requests
 *    paid more than once (the fake's ledger), wall time against the fake's own processing time, and the CLI
 *    process's peak RSS (`/usr/bin/time`'s maximum resident set size), to show it flat in N.
 * 2. The largest N again, `kill -9` once 30 % of its batches are created, then `--resume`: every item ends with one
 *    row, and no request is paid twice.
 *
 * The fake runs in this process; its batch work (answering each request of a batch when the batch is read) is part
 * of the wall time it reports as its own (`processingMs`).
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { FakeProvider, type FakeProviderServer } from "../test/support/FakeProvider.js"

const { values: flags } = parseArgs({
  options: {
    sizes: { type: "string", default: "25000,50000,100000" },
    "kill-at": { type: "string", default: "0.3" },
    "processing-ms": { type: "string", default: "3000" },
    /** Node options of the CLI's process only (e.g. the documented heap flags). */
    "node-options": { type: "string", default: "" }
  }
})
const sizes = flags.sizes.split(",").map(Number)
const killAt = Number(flags["kill-at"])
const processingMs = Number(flags["processing-ms"])
const root = new URL("..", import.meta.url).pathname
const MAX_REQUESTS = 2000

interface CliRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly wallMs: number
  readonly peakRssMb: number | undefined
  readonly stderr: string
}

/** `capstan batch …` under `/usr/bin/time -f %M` (peak RSS in KiB on the last stderr line). */
const runCli = (args: ReadonlyArray<string>, onStart?: (kill: () => void) => void): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn("/usr/bin/time", [
      "-f",
      "peak-kib %M",
      process.execPath,
      "--conditions=@capstan/source",
      "--import",
      "tsx",
      join(root, "packages/cli/src/bin.ts"),
      ...args
    ], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", NODE_OPTIONS: flags["node-options"] },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.once("error", reject)
    // `time` forwards nothing: kill -9 goes to its child, the CLI, found by its parent pid.
    onStart?.(() => {
      const pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/)
      for (const pid of pids) if (pid !== "") process.kill(Number(pid), "SIGKILL")
    })
    child.once("close", (code, signal) => {
      const peak = stderr.match(/peak-kib (\d+)/)
      resolve({
        code,
        signal,
        wallMs: performance.now() - started,
        peakRssMb: peak === null ? undefined : Number(peak[1]) / 1024,
        stderr
      })
    })
  })

const writeInput = (dir: string, items: number): string => {
  const path = join(dir, "in.jsonl")
  const lines: Array<string> = []
  for (let i = 0; i < items; i++) lines.push(JSON.stringify({ id: `i${i}`, n: i }))
  writeFileSync(path, `${lines.join("\n")}\n`)
  return path
}

const argsFor = (server: FakeProviderServer, input: string, output: string) => [
  "batch",
  "--template",
  "Item {n}: answer with its number.",
  "--input",
  input,
  "--output",
  output,
  "--generator",
  `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-bench`,
  "--via",
  "provider-batch",
  "--poll-interval",
  "200 millis"
]

/** Rows by item id: how many, and how many failed. */
const rowsIn = (output: string) => {
  const ids = new Map<string, boolean>()
  if (!existsSync(output)) return { rows: 0, ok: 0, ids }
  let rows = 0
  for (const line of readFileSync(output, "utf8").split("\n")) {
    if (line.length === 0) continue
    rows++
    const row = JSON.parse(line) as { id: string; error?: unknown }
    ids.set(row.id, row.error === undefined)
  }
  return { rows, ok: [...ids.values()].filter((ok) => ok).length, ids }
}

const paidTwice = (server: FakeProviderServer) => [...server.batchLedger().values()].filter((n) => n > 1).length

const journalEvents = (output: string): ReadonlyArray<{ event: string }> =>
  existsSync(`${output}.batches.jsonl`)
    ? readFileSync(`${output}.batches.jsonl`, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as { event: string }
    )
    : []

const results: Array<Record<string, string | number>> = []

for (const items of sizes) {
  const dir = mkdtempSync(join(tmpdir(), "capstan-bench-pb-"))
  // The fake spends `processingMs` on each batch; the batches of a run go four at a time.
  const batches = Math.ceil(items / MAX_REQUESTS)
  const server = await FakeProvider.start({ logRequests: false, batch: { processingMs } })
  try {
    const input = writeInput(dir, items)
    const output = join(dir, "out.jsonl")
    const run = await runCli(argsFor(server, input, output))
    const { ok, rows } = rowsIn(output)
    const fakeMs = Math.ceil(batches / 4) * processingMs
    results.push({
      run: "full",
      items,
      batches: server.stats.batches.batchesCreated,
      exit: run.code ?? String(run.signal),
      rows,
      lost: items - ok,
      paidTwice: paidTwice(server),
      wallS: (run.wallMs / 1000).toFixed(1),
      fakeProcessingS: (fakeMs / 1000).toFixed(1),
      peakRssMb: run.peakRssMb?.toFixed(0) ?? "?"
    })
    console.log(JSON.stringify(results.at(-1)))
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

{
  const items = sizes[sizes.length - 1]!
  const dir = mkdtempSync(join(tmpdir(), "capstan-bench-pb-"))
  const server = await FakeProvider.start({ logRequests: false, batch: { processingMs } })
  try {
    const input = writeInput(dir, items)
    const output = join(dir, "out.jsonl")
    const batches = Math.ceil(items / MAX_REQUESTS)
    const first = await runCli(argsFor(server, input, output), (kill) => {
      const timer = setInterval(() => {
        const created = journalEvents(output).filter((e) => e.event === "created").length
        if (created >= Math.ceil(batches * killAt)) {
          clearInterval(timer)
          kill()
        }
      }, 20)
    })
    const createdBeforeKill = server.stats.batches.batchesCreated
    const rowsBeforeKill = rowsIn(output).rows
    const resumed = await runCli([...argsFor(server, input, output), "--resume"])
    const { ids, ok } = rowsIn(output)
    results.push({
      run: `kill -9 at ${Math.round(killAt * 100)} % of batches, then --resume`,
      items,
      firstExit: first.code ?? String(first.signal),
      batchesBeforeKill: createdBeforeKill,
      rowsBeforeKill,
      resumeExit: resumed.code ?? String(resumed.signal),
      batches: server.stats.batches.batchesCreated,
      rows: ids.size,
      lost: items - ok,
      paidTwice: paidTwice(server),
      paid: server.batchLedger().size,
      resumeWallS: (resumed.wallMs / 1000).toFixed(1)
    })
    console.log(JSON.stringify(results.at(-1)))
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const flat = results.filter((r) => r.run === "full").map((r) => Number(r.peakRssMb))
console.log(
  `\npeak RSS ${flat.join(" / ")} MB: ${(Math.max(...flat) / Math.min(...flat)).toFixed(2)} × from smallest to largest`
)
