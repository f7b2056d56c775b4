/**
 * `capstan batch --cache`: the response cache end to end, a real `capstan` process against the loopback fake
 * provider, the cache in a SQLite file.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { reviews, rowsOf, runCli, scratch } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"

let server: FakeProviderServer
beforeAll(async () => {
  server = await FakeProvider.start()
})
afterAll(() => server.close())

const generator = () => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test-cache-cli`

/** The requests that mention `marker` (each test uses its own). */
const sentFor = (marker: string): number =>
  server.requests.filter((entry) => JSON.stringify(entry.body).includes(marker)).length

const batchArgs = (dir: string, output: string, extra: ReadonlyArray<string>) => [
  "batch",
  "--template",
  TEMPLATE,
  "--input",
  join(dir, "in.jsonl"),
  "--output",
  join(dir, output),
  "--generator",
  generator(),
  ...extra
]

describe.concurrent("capstan batch --cache", () => {
  it("readwrite: the second run of a finished batch sends nothing, writes the same rows and says so", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(12).replace(/review text/g, "cli-cache-case") })
    onTestFinished(files.remove)
    const cacheFile = join(files.dir, "cache", "responses.sqlite")
    const flags = ["--cache", "readwrite", "--cache-file", cacheFile]
    const first = await runCli(batchArgs(files.dir, "first.jsonl", flags))
    expect(first.stderr).not.toMatch(/warning|error/i)
    expect(first.code).toBe(0)
    expect(sentFor("cli-cache-case")).toBe(12)
    expect(existsSync(cacheFile)).toBe(true)
    const second = await runCli(batchArgs(files.dir, "second.jsonl", flags))
    expect(second.code).toBe(0)
    // Nothing sent, no noise (no ExperimentalWarning from node:sqlite), and the summary says where the rows came from.
    expect(sentFor("cli-cache-case")).toBe(12)
    expect(second.stderr).not.toMatch(/warning|error/i)
    expect(second.stdout).toMatch(/ok\s+12/)
    expect(second.stdout).toMatch(/cached\s+12 rows from the response cache/)
    const before = rowsOf(join(files.dir, "first.jsonl")).sort((a, b) => a.index - b.index)
    const after = rowsOf(join(files.dir, "second.jsonl")).sort((a, b) => a.index - b.index)
    expect(after.map((row) => row.output)).toEqual(before.map((row) => row.output))
    expect(after.every((row) => row.metadata?.cached === true && row.attempts === 0)).toBe(true)
    expect(before.some((row) => row.metadata?.cached === true)).toBe(false)
  })

  it("the default file is in the user's cache directory; off (the default) sends again", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(3).replace(/review text/g, "cli-default-file") })
    onTestFinished(files.remove)
    const env = { XDG_CACHE_HOME: join(files.dir, "xdg") }
    expect((await runCli(batchArgs(files.dir, "a.jsonl", ["--cache", "readwrite"]), { env })).code).toBe(0)
    expect(existsSync(join(files.dir, "xdg", "capstan", "responses.sqlite"))).toBe(true)
    expect((await runCli(batchArgs(files.dir, "b.jsonl", ["--cache", "read"]), { env })).code).toBe(0)
    expect(sentFor("cli-default-file")).toBe(3)
    expect((await runCli(batchArgs(files.dir, "c.jsonl", []), { env })).code).toBe(0)
    expect(sentFor("cli-default-file")).toBe(6)
  })

  it("--cache-file without --cache, and an unknown mode, are usage errors; nothing is sent", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(2).replace(/review text/g, "cli-cache-usage") })
    onTestFinished(files.remove)
    const lone = await runCli(batchArgs(files.dir, "out.jsonl", ["--cache-file", join(files.dir, "c.sqlite")]))
    expect(lone.code).toBe(64)
    expect(lone.stderr).toContain("--cache-file only applies with --cache")
    const unknown = await runCli(batchArgs(files.dir, "out.jsonl", ["--cache", "sometimes"]))
    expect(unknown.code).toBe(64)
    expect(unknown.stderr).toMatch(/sometimes/)
    expect(sentFor("cli-cache-usage")).toBe(0)
  })

  it("a cache file that cannot be opened stops the run before anything is sent", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(2).replace(/review text/g, "cli-cache-broken"), "blocker": "" })
    onTestFinished(files.remove)
    const result = await runCli(
      batchArgs(files.dir, "out.jsonl", [
        "--cache",
        "readwrite",
        "--cache-file",
        join(files.dir, "blocker", "c.sqlite")
      ])
    )
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/Response cache: cannot open .*blocker/)
    expect(sentFor("cli-cache-broken")).toBe(0)
  })
})
