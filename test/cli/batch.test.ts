/**
 * End to end: the `capstan` process against the loopback fake provider. Every run is a real child process.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer, type FakeRequestLogEntry } from "../support/FakeProvider.js"
import { reviews, rowsOf, runCli, scratch } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"
const SECRET = "sk-test-do-not-print"

let server: FakeProviderServer
beforeAll(async () => {
  server = await FakeProvider.start({ latencyMs: 5 })
})
afterAll(() => server.close())

const generator = () => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=${SECRET}`

/** The requests whose prompt mentions `marker` (each test uses its own). */
const requestsFor = (marker: string): Array<FakeRequestLogEntry> =>
  server.requests.filter((entry) => JSON.stringify(entry.body).includes(marker))

const lastUserText = (entry: FakeRequestLogEntry): string => {
  const messages = (entry.body as { messages: Array<{ role: string; content: string }> }).messages
  return messages.filter((m) => m.role === "user").at(-1)!.content
}

describe.concurrent("capstan batch", () => {
  it("runs a JSONL file: one row per item, with provenance, no secret anywhere, exit 0", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(12).replace(/review text/g, "jsonl-case") })
    onTestFinished(files.remove)
    const output = join(files.dir, "out.jsonl")
    const result = await runCli([
      "batch",
      "--template",
      TEMPLATE,
      "--input",
      join(files.dir, "in.jsonl"),
      "--output",
      output,
      "--generator",
      generator(),
      "--concurrency",
      "4"
    ])
    expect(result.stderr).not.toContain("error")
    expect(result.code).toBe(0)
    const rows = rowsOf(output)
    expect(rows.map((row) => row.id).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `r${String(i + 1).padStart(2, "0")}`)
    )
    const r05 = rows.find((row) => row.id === "r05")!
    expect(r05.output).toBe("echo: Review of Blend 5: jsonl-case of r05")
    expect(r05.choice).toBe(0)
    expect(r05.template).toBe(TEMPLATE)
    expect(JSON.stringify(r05)).toContain("gpt-4o-mini")
    expect(requestsFor("jsonl-case")).toHaveLength(12)
    expect(result.stdout).toMatch(/ok\s+12/)
    expect(result.stdout).toMatch(/failed\s+0/)
    for (const text of [result.stdout, result.stderr, JSON.stringify(rows)]) expect(text).not.toContain(SECRET)
  })

  it("runs a CSV file with quoted fields and an embedded newline, ids from --id-field", async ({ onTestFinished }) => {
    const csv = [
      "key,product,review,stars",
      "c1,\"Blend, Dark\",\"csv-case \"\"bold\"\" and smoky\",5",
      "c2,Light,\"csv-case first line",
      "second line\",3",
      "c3,Decaf,csv-case plain,4",
      ""
    ].join("\n")
    const files = scratch({ "in.csv": csv, "prompt.txt": `${TEMPLATE}\n` })
    onTestFinished(files.remove)
    const output = join(files.dir, "out.jsonl")
    const result = await runCli([
      "batch",
      "--template",
      join(files.dir, "prompt.txt"),
      "--input",
      join(files.dir, "in.csv"),
      "--output",
      output,
      "--generator",
      generator(),
      "--id-field",
      "key"
    ])
    expect(result.code).toBe(0)
    const rows = rowsOf(output)
    expect(rows.map((row) => row.id).sort()).toEqual(["c1", "c2", "c3"])
    const sent = requestsFor("csv-case").map(lastUserText).sort()
    expect(sent).toEqual([
      "Review of Blend, Dark: csv-case \"bold\" and smoky",
      "Review of Decaf: csv-case plain",
      "Review of Light: csv-case first line\nsecond line"
    ])
  })

  it("--dry-run checks every item and prints what would be sent, sending nothing", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(3).replace(/review text/g, "dry-case") })
    onTestFinished(files.remove)
    const output = join(files.dir, "out.jsonl")
    const result = await runCli([
      "batch",
      "--template",
      TEMPLATE,
      "--input",
      join(files.dir, "in.jsonl"),
      "--output",
      output,
      "--generator",
      generator(),
      "--dry-run"
    ])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("[user] Review of Blend 2: dry-case of r02")
    expect(result.stdout).toContain("Would send 3 requests (3 rows)")
    expect(result.stdout).not.toContain(SECRET)
    expect(requestsFor("dry-case")).toHaveLength(0)
    expect(existsSync(output)).toBe(false)
  })
})

describe.concurrent("bad input stops before any request, naming file and line (exit 64)", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly file: string
    readonly text: string
    readonly template?: string
    readonly message: RegExp
  }> = [
    {
      name: "a malformed JSON line",
      file: "in.jsonl",
      text:
        "{\"id\":\"a\",\"product\":\"p\",\"review\":\"bad-json-case\"}\n{\"id\":\"b\",\"product\":\"p\",\"review\":\n",
      message: /in\.jsonl:2: malformed JSON/
    },
    {
      name: "a CSV row with a missing column",
      file: "in.csv",
      text: "id,product,review\na,p,bad-csv-case\nb,p\n",
      message: /in\.csv:3: .*got 2.*header has 3 columns/
    },
    {
      name: "a CSV header without a template variable",
      file: "in.csv",
      text: "id,product,text\na,p,bad-header-case\n",
      message: /in\.csv:1: the header has no column "review"/
    },
    {
      name: "an item without a template variable",
      file: "in.jsonl",
      text:
        "{\"id\":\"a\",\"product\":\"p\",\"review\":\"bad-var-case\"}\n\n{\"id\":\"b\",\"product\":\"p\",\"text\":\"bad-var-case\"}\n",
      message: /in\.jsonl:3: item "b" has no "review"/
    },
    {
      name: "a duplicate id",
      file: "in.jsonl",
      text: [1, 2, 3].map((i) => JSON.stringify({ id: i === 3 ? "a" : `id${i}`, product: "p", review: "dup-case" }))
        .join("\n")
        .replace("id1", "a"),
      message: /in\.jsonl:3: item "a": duplicate id: the item on line 1 has it too/
    },
    {
      name: "an unreadable file",
      file: "missing.jsonl",
      text: "",
      message: /missing\.jsonl: cannot read the file: no such file/
    },
    {
      name: "a template with an unclosed brace",
      file: "in.jsonl",
      text: "{\"id\":\"a\",\"product\":\"p\",\"review\":\"bad-template-case\"}\n",
      template: "Review: {review",
      message: /--template: Invalid template "Review: \{review": unclosed "\{"/
    }
  ]
  for (const testCase of cases) {
    it(testCase.name, async ({ onTestFinished }) => {
      const files = scratch(testCase.file === "missing.jsonl" ? {} : { [testCase.file]: testCase.text })
      onTestFinished(files.remove)
      const output = join(files.dir, "out.jsonl")
      const result = await runCli([
        "batch",
        "--template",
        testCase.template ?? TEMPLATE,
        "--input",
        join(files.dir, testCase.file),
        "--output",
        output,
        "--generator",
        generator()
      ])
      expect(result.stderr).toMatch(testCase.message)
      expect(result.code).toBe(64)
      expect(existsSync(output)).toBe(false)
      const marker = testCase.text.match(/([a-z-]+-case)/)?.[1]
      if (marker !== undefined) expect(requestsFor(marker)).toHaveLength(0)
    })
  }
})

describe.concurrent("other commands", () => {
  it("run prints the answer, with --system and --param", async () => {
    const result = await runCli([
      "run",
      "run-case hello",
      "--generator",
      generator(),
      "--system",
      "Be terse.",
      "--param",
      "temperature=0.5"
    ])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe("echo: run-case hello")
    const [request] = requestsFor("run-case hello")
    const body = request!.body as { temperature: number; messages: Array<{ role: string; content: string }> }
    expect(body.temperature).toBe(0.5)
    expect(body.messages.map((m) => m.role)).toEqual(["system", "user"])
  })

  it("providers lists every provider and the environment variables it reads, never their values", async () => {
    const result = await runCli(["providers"], { env: { OPENAI_API_KEY: SECRET } })
    expect(result.code).toBe(0)
    for (const name of ["openai", "anthropic", "ollama", "vllm", "mock"]) expect(result.stdout).toContain(name)
    expect(result.stdout).toMatch(/OPENAI_API_KEY\s+.*\(set\)/)
    expect(result.stdout).toMatch(/ANTHROPIC_API_KEY\s+[^\n]*provider\n/)
    expect(result.stdout).not.toContain(SECRET)
  })

  it("with no generator and no key, says how to choose one (exit 64)", async ({ onTestFinished }) => {
    const files = scratch({ "in.jsonl": reviews(1) })
    onTestFinished(files.remove)
    const result = await runCli([
      "batch",
      "--template",
      TEMPLATE,
      "--input",
      join(files.dir, "in.jsonl"),
      "--output",
      join(files.dir, "out.jsonl")
    ])
    expect(result.code).toBe(64)
    expect(result.stderr).toContain("No generator chosen")
    expect(result.stderr).toContain("--generator 'openai!gpt-4o-mini'")
    expect(result.stderr).toContain("OPENAI_API_KEY")
    expect(result.stderr).toContain("mock!echo")
  })

  it("demo runs the bundled data set offline and prints the summary", async ({ onTestFinished }) => {
    const files = scratch({})
    onTestFinished(files.remove)
    const result = await runCli(["demo", "--output", join(files.dir, "demo.jsonl")])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("offline generator")
    expect(result.stdout).toMatch(/ok\s+24/)
    const rows = rowsOf(join(files.dir, "demo.jsonl"))
    expect(rows).toHaveLength(24)
    for (const row of rows) expect(["positive", "negative", "mixed"]).toContain(row.parsed.sentiment)
  })
})
