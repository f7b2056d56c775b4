/**
 * End to end: a key typed into the wrong place of a generator identifier, or credentials in a base URL, never
 * reach stdout, stderr, the results file or the provider as anything but the key. Every run is a real child
 * process against the loopback fake provider.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { reviews, rowsOf, runCli, scratch, spawnCli, waitFor } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"
// A key of OpenAI's shape, and the distinctive part of it that must not leak even in pieces.
const SECRET = "sk-live-9f8e7d6c5b4a39281706zz"
const TAIL = "9f8e7d6c5b4a39281706zz"
const PASSWORD = "url-password-5521"

let server: FakeProviderServer
beforeAll(async () => {
  server = await FakeProvider.start({ latencyMs: 5 })
})
afterAll(() => server.close())

const requestsFor = (marker: string) => server.requests.filter((entry) => JSON.stringify(entry.body).includes(marker))
const fileText = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "")

/** Runs `capstan batch` on a fresh two-item input whose prompts carry `marker`, with a key in the environment. */
const batch = async (marker: string, extra: ReadonlyArray<string>) => {
  const files = scratch({ "in.jsonl": reviews(2).replace(/review text/g, marker) })
  const output = join(files.dir, "out.jsonl")
  const result = await runCli(
    ["batch", "--template", TEMPLATE, "--input", join(files.dir, "in.jsonl"), "--output", output, ...extra],
    { env: { OPENAI_API_KEY: "sk-env-key-used-when-no-api-key-is-given" } }
  )
  const results = fileText(output)
  files.remove()
  return { ...result, results }
}

describe.concurrent("a key typed into the wrong place of an identifier", () => {
  const base = () => `base_url=${server.openaiBaseUrl}`
  const typos: ReadonlyArray<readonly [string, () => ReadonlyArray<string>]> = [
    ["';' for ',' before the key", () => ["--generator", `openai!gpt-4o-mini;api_key=${SECRET},${base()}`]],
    ["a space for ',' before the key", () => ["--generator", `openai!gpt-4o-mini api_key=${SECRET},${base()}`]],
    ["a mistyped key name (api_kye)", () => ["--generator", `openai!gpt-4o-mini,api_kye=${SECRET},${base()}`]],
    ["an unknown key name (auth)", () => ["--generator", `openai!gpt-4o-mini,auth=${SECRET},${base()}`]],
    ["a bare key", () => ["--generator", `openai!gpt-4o-mini,${SECRET},${base()}`]],
    ["':' for '='", () => ["--generator", `openai!gpt-4o-mini,api_key:${SECRET},${base()}`]],
    ["the key as the model", () => ["--generator", `openai!${SECRET},${base()}`]],
    ["a ';' inside a stop list", () => ["--generator", `openai!gpt-4o-mini,stop=###;api_key=${SECRET},${base()}`]],
    [
      "a mistyped key name in --param",
      () => ["--generator", `openai!gpt-4o-mini,${base()}`, "--param", `api_kye=${SECRET}`]
    ]
  ]
  for (const [name, args] of typos) {
    it(`${name}: refused as bad input, the key nowhere, nothing sent`, async () => {
      const marker = `typo-${name.replace(/\W+/g, "-")}`
      const result = await batch(marker, args())
      expect(result.code).toBe(64)
      expect(result.stderr).toContain("Invalid generator identifier")
      for (const text of [result.stdout, result.stderr, result.results]) {
        expect(text).not.toContain(TAIL)
      }
      expect(requestsFor(marker)).toHaveLength(0)
      expect(JSON.stringify(server.requests.map((entry) => entry.body))).not.toContain(TAIL)
    })
  }

  it("the error says how to fix a mistyped key name, and where", async () => {
    const result = await batch("typo-hint", ["--generator", `openai!gpt-4o-mini,api_kye=${SECRET}`, "--dry-run"])
    expect(result.stderr).toContain(`"openai!gpt-4o-mini,api_kye=***"`)
    expect(result.stderr).toContain("Did you mean api_key?")
  })
})

describe.concurrent("credentials in a base URL", () => {
  const QUERY_KEY = "query-key-8830"

  it("a base_url with user:pass@ is used to connect, and printed and stored without the credentials", async () => {
    const url = server.openaiBaseUrl.replace("http://", `http://capstan:${PASSWORD}@`)
    const marker = "userinfo-case"
    const result = await batch(marker, ["--generator", `openai!gpt-4o-mini,base_url=${url},api_key=${SECRET}`])
    expect(result.code).toBe(0)
    expect(requestsFor(marker)).toHaveLength(2)
    const rows = result.results.trim().split("\n").map((line) => JSON.parse(line) as { generator: string })
    expect(rows[0]!.generator).toBe(`openai!gpt-4o-mini,base_url=${url.replace(/capstan:[^@]+@/, "***@")},api_key=***`)
    for (const text of [result.stdout, result.stderr, result.results]) {
      expect(text).not.toContain(PASSWORD)
      expect(text).not.toContain(TAIL)
    }
  })

  for (const dryRun of [false, true]) {
    it(`a base_url with ?key= prints and stores it masked, errors included${dryRun ? " (--dry-run)" : ""}`, async () => {
      const url = `http://capstan:${PASSWORD}@127.0.0.1:${server.port}/v1?key=${QUERY_KEY}`
      const result = await batch(`query-case-${dryRun}`, [
        "--generator",
        `openai!gpt-4o-mini,base_url=${url}`,
        "--max-retries",
        "0",
        ...(dryRun ? ["--dry-run"] : [])
      ])
      // Without --dry-run the rows may fail or not (the SDK appends its paths after the query): either way,
      // nothing printed or stored holds the credentials.
      if (dryRun) expect(result.code).toBe(0)
      const shown = dryRun ? result.stdout : result.stderr
      expect(shown).toContain(`base_url=http://***@127.0.0.1:${server.port}/v1?key=***`)
      for (const text of [result.stdout, result.stderr, result.results]) {
        expect(text).not.toContain(PASSWORD)
        expect(text).not.toContain(QUERY_KEY)
      }
    })
  }
})

describe.concurrent("engine settings and params in identifiers are checked like the flags", () => {
  for (
    const [setting, message] of [
      ["rpm=0", "rpm is out of range: expected a value greater than or equal to 1, got 0"],
      ["max_retries=-1", "max_retries is out of range: expected a value greater than or equal to 0, got -1"],
      ["temperature=5", "temperature is out of range: expected a value between 0 and 2, got 5"]
    ] as const
  ) {
    it(`${setting} is bad input (exit 64), before any request`, async () => {
      const marker = `range-${setting}`
      const result = await batch(marker, [
        "--generator",
        `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},${setting}`
      ])
      expect(result.code).toBe(64)
      expect(result.stderr).toContain(message)
      expect(requestsFor(marker)).toHaveLength(0)
    })
  }
})

// Alone, not next to other processes: it waits for a run to be under way before sending Ctrl-C.
describe("the resume command after Ctrl-C", () => {
  it("after Ctrl-C, the resume command masks the credentials and keeps the other settings", async () => {
    const slow = await FakeProvider.start({ latencyMs: 250 })
    const files = scratch({ "in.jsonl": reviews(40) })
    try {
      const url = slow.openaiBaseUrl.replace("http://", `http://capstan:${PASSWORD}@`)
      const output = join(files.dir, "out.jsonl")
      const run = spawnCli([
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        join(files.dir, "in.jsonl"),
        "--output",
        output,
        "--generator",
        `openai!gpt-4o-mini,base_url=${url},api_key=${SECRET}`,
        "--param",
        "max_tokens=100",
        "--concurrency",
        "2"
      ])
      await waitFor("some rows", () => rowsOf(output).length >= 2, 40_000)
      run.child.kill("SIGINT")
      const result = await run.done
      expect(result.code).toBe(130)
      expect(result.stderr).toMatch(/To finish, run:\n {2}capstan batch .*--param max_tokens=100/)
      expect(result.stderr).toContain("base_url=http://***@127.0.0.1")
      for (const text of [result.stdout, result.stderr, fileText(output)]) {
        expect(text).not.toContain(PASSWORD)
        expect(text).not.toContain(TAIL)
      }
    } finally {
      files.remove()
      await slow.close()
    }
  }, 60_000)
})
