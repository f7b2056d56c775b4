/**
 * The `capstan` command run in-process (`Cli.runWith`) against the loopback fake provider: the same program as
 * the executable, without a process start per case.
 */
import { Dataset } from "@capstan/core"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"
import { capstan } from "./inProcess.js"
import { reviews, rowsOf, scratch } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"

let server: FakeProviderServer
let files: ReturnType<typeof scratch>
beforeAll(async () => {
  server = await FakeProvider.start({
    // Items whose review mentions "reject" are refused, to exercise failed rows.
    respond: (request) =>
      request.prompt.includes("reject")
        ? { error: { status: 400, message: "rejected on purpose" } }
        : request.prompt.includes("xml-case")
        ? `Sure. <answer>${request.prompt.slice(-3)}</answer>`
        : undefined
  })
  files = scratch({})
})
afterAll(async () => {
  await server.close()
  files.remove()
})

/** A fresh input file of `count` reviews whose text carries `marker`, and the path of its results file. */
const batchFiles = (name: string, count: number, marker: string) => {
  const input = join(files.dir, `${name}.jsonl`)
  writeFileSync(input, reviews(count).replace(/review text/g, marker))
  return { input, output: join(files.dir, `${name}.out.jsonl`) }
}

const generator = () => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`

const requestsFor = (marker: string) => server.requests.filter((entry) => JSON.stringify(entry.body).includes(marker))

describe("capstan batch, in-process", () => {
  it.live("records failed items as rows with their error and exits 2", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("fail", 4, "fail-case")
      writeFileSync(
        input,
        reviews(4).replace(/review text/g, "fail-case").replace("fail-case of r03", "fail-case of r03 reject")
      )
      const result = yield* capstan([
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        input,
        "--output",
        output,
        "--generator",
        generator(),
        "--max-retries",
        "0"
      ])
      assert.strictEqual(result.code, 2)
      const rows = rowsOf(output)
      assert.strictEqual(rows.length, 4)
      assert.strictEqual(rows.find((row) => row.id === "r03")!.error._tag, "InvalidRequest")
      assert.strictEqual(rows.filter((row) => row.error === undefined).length, 3)
      assert.match(result.stdout, /failed\s+1 \(InvalidRequest 1\)/)
    }))

  it.live("writes one row per choice with --n, asking for n choices in one request", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("choices", 2, "choices-case")
      const result = yield* capstan([
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        input,
        "--output",
        output,
        "--generator",
        generator(),
        "--n",
        "2"
      ])
      assert.strictEqual(result.code, 0)
      assert.deepStrictEqual(rowsOf(output).map((row) => `${row.id}/${row.choice}`).sort(), [
        "r01/0",
        "r01/1",
        "r02/0",
        "r02/1"
      ])
      assert.deepStrictEqual(requestsFor("choices-case").map((entry) => (entry.body as { n?: number }).n), [2, 2])
    }))

  it.live("--resume after a complete run sends nothing and reports the skipped rows", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("again", 3, "again-case")
      const args = ["batch", "--template", TEMPLATE, "--input", input, "--output", output, "--generator", generator()]
      assert.strictEqual((yield* capstan(args)).code, 0)
      const again = yield* capstan([...args, "--resume"])
      assert.strictEqual(again.code, 0)
      assert.match(again.stdout, /skipped\s+3/)
      assert.strictEqual(requestsFor("again-case").length, 3)
      assert.strictEqual(rowsOf(output).length, 3)
    }))

  it.live("parses answers with --parse schema:FILE, asking the provider for the schema natively", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("parse", 2, "parse-case")
      const schema = join(files.dir, "label.schema.json")
      writeFileSync(
        schema,
        JSON.stringify({
          type: "object",
          properties: {
            sentiment: { type: "string", enum: ["positive", "negative"] },
            score: { type: "integer" },
            note: { type: "string" }
          },
          required: ["sentiment", "score"]
        })
      )
      const result = yield* capstan([
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        input,
        "--output",
        output,
        "--generator",
        generator(),
        "--parse",
        `schema:${schema}`
      ])
      assert.strictEqual(result.code, 0)
      for (const row of rowsOf(output)) {
        assert.strictEqual(row.parsed.sentiment, "positive")
        assert.isNumber(row.parsed.score)
      }
      const formats = requestsFor("parse-case").map((entry) =>
        (entry.body as { response_format?: any }).response_format
      )
      assert.deepStrictEqual(formats.map((format) => format?.type), ["json_schema", "json_schema"])
      // The optional field keeps strict mode: it is sent required and nullable.
      for (const format of formats) {
        assert.strictEqual(format.json_schema.strict, true)
        assert.deepStrictEqual(format.json_schema.schema.required, ["sentiment", "score", "note"])
        assert.strictEqual(format.json_schema.schema.additionalProperties, false)
      }
    }))

  it.live("with --parse xml:TAG, tells each item the tag to answer in and records the parsed text", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("xml", 2, "xml-case")
      const args = [
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        input,
        "--output",
        output,
        "--generator",
        generator(),
        "--parse",
        "xml:answer"
      ]
      const dry = yield* capstan([...args, "--dry-run"])
      assert.include(dry.stdout, "[system] Put your answer inside <answer></answer> tags")
      assert.strictEqual(requestsFor("xml-case").length, 0)
      const result = yield* capstan(args)
      assert.strictEqual(result.code, 0)
      assert.deepStrictEqual(rowsOf(output).map((row) => [row.id, row.parsed]).sort(), [["r01", "r01"], ["r02", "r02"]])
      for (const entry of requestsFor("xml-case")) {
        const messages = (entry.body as { messages: Array<{ role: string; content: string }> }).messages
        assert.strictEqual(messages[0]?.role, "system")
        assert.include(messages[0]?.content, "<answer></answer>")
      }
    }))

  it.live("refuses to overwrite an existing results file without --resume or --overwrite", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("exists", 1, "exists-case")
      writeFileSync(output, "{\"id\":\"x\"}\n")
      const result = yield* capstan([
        "batch",
        "--template",
        TEMPLATE,
        "--input",
        input,
        "--output",
        output,
        "--generator",
        generator()
      ])
      assert.strictEqual(result.code, 64)
      assert.match(result.stderr, /already exists/)
      assert.strictEqual(requestsFor("exists-case").length, 0)
    }))

  it.live("rejects bad flag values and flag combinations as usage errors (exit 64), sending nothing", () =>
    Effect.gen(function*() {
      const { input, output } = batchFiles("usage", 1, "usage-case")
      const base = ["batch", "--template", TEMPLATE, "--input", input, "--output", output, "--generator", generator()]
      assert.strictEqual((yield* capstan([...base, "--concurrency", "zero"])).code, 64)
      assert.strictEqual((yield* capstan([...base, "--concurrency", "0"])).code, 64)
      const parse = yield* capstan([...base, "--parse", "yaml"])
      assert.strictEqual(parse.code, 64)
      assert.match(parse.stderr, /--parse expects json, xml:TAG or schema:FILE\.json/)
      const price = yield* capstan([...base, "--price", "cheap"])
      assert.match(price.stderr, /--price expects INPUT,OUTPUT/)
      const unknownKey = yield* capstan([...base, "--param", "temprature=0"])
      assert.strictEqual(unknownKey.code, 64)
      assert.match(unknownKey.stderr, /unknown key "temprature"/)
      assert.strictEqual((yield* capstan([...base, "--resume", "--overwrite"])).code, 64)
      assert.strictEqual(requestsFor("usage-case").length, 0)
      assert.isFalse(existsSync(output))
    }))
})

describe("capstan batch reads its input twice, record by record", () => {
  const LINES = 5000
  /** `count` JSONL lines with ids r0001..., their review carrying `marker`; `edit` may replace a line (0-based). */
  const bigInput = (
    name: string,
    marker: string,
    edit: (index: number) => string | undefined = () => undefined,
    count = LINES
  ) => {
    const input = join(files.dir, `${name}.jsonl`)
    const lines = Array.from(
      { length: count },
      (_, i) =>
        edit(i) ?? JSON.stringify({ id: `r${String(i + 1).padStart(4, "0")}`, product: "p", review: `${marker} ${i}` })
    )
    writeFileSync(input, lines.join("\n") + "\n")
    return { input, output: join(files.dir, `${name}.out.jsonl`) }
  }
  const run = (input: string, output: string, ...extra: ReadonlyArray<string>) =>
    capstan([
      "batch",
      "--template",
      TEMPLATE,
      "--input",
      input,
      "--output",
      output,
      "--generator",
      generator(),
      ...extra
    ])

  it.live("a bad item near the end of a large input stops the run before any request, at its line", () =>
    Effect.gen(function*() {
      const missing = bigInput(
        "late-missing",
        "late-missing-case",
        (i) => i >= LINES - 3 ? JSON.stringify({ id: `bad${i}`, product: "p", text: "late-missing-case" }) : undefined
      )
      const result = yield* run(missing.input, missing.output)
      assert.strictEqual(result.code, 64)
      assert.include(
        result.stderr,
        `late-missing.jsonl:${LINES - 2}: item "bad${
          LINES - 3
        }" has no "review", which the template uses; 2 more of the ${LINES} items have the same problem`
      )
      assert.strictEqual(requestsFor("late-missing-case").length, 0)
      assert.isFalse(existsSync(missing.output))

      const malformed = bigInput(
        "late-json",
        "late-json-case",
        (i) => (i === LINES - 1 ? "{\"id\": \"z\"," : undefined)
      )
      const broken = yield* run(malformed.input, malformed.output)
      assert.strictEqual(broken.code, 64)
      assert.match(broken.stderr, new RegExp(`late-json\\.jsonl:${LINES}: malformed JSON`))
      assert.strictEqual(requestsFor("late-json-case").length, 0)
      assert.isFalse(existsSync(malformed.output))
    }))

  it.live("a duplicate id near the end names both lines; derived ids are the library's, -2 -3 by occurrence", () =>
    Effect.gen(function*() {
      const duplicate = bigInput(
        "late-dup",
        "late-dup-case",
        (i) => i === LINES - 2 ? JSON.stringify({ id: "r0003", product: "p", review: "late-dup-case" }) : undefined
      )
      const result = yield* run(duplicate.input, duplicate.output)
      assert.strictEqual(result.code, 64)
      assert.include(
        result.stderr,
        `late-dup.jsonl:${LINES - 1}: item "r0003": duplicate id: the item on line 3 has it too`
      )
      assert.strictEqual(requestsFor("late-dup-case").length, 0)

      // No ids: equal records get the hash, then -2, -3; a blank line does not shift anything.
      const records = [
        { product: "a", review: "derived-case same" },
        { product: "b", review: "derived-case other" },
        { product: "a", review: "derived-case same" },
        { product: "a", review: "derived-case same" }
      ]
      const input = join(files.dir, "derived.jsonl")
      const output = join(files.dir, "derived.out.jsonl")
      writeFileSync(input, records.map((record) => JSON.stringify(record)).join("\n\n") + "\n")
      assert.strictEqual((yield* run(input, output)).code, 0)
      const expected = (yield* Dataset.items(records)).map((item) => item.id)
      assert.deepStrictEqual(expected.slice(2), [`${expected[0]}-2`, `${expected[0]}-3`])
      const rows = rowsOf(output)
      assert.deepStrictEqual(rows.map((row) => row.id).sort(), [...expected].sort())
      assert.strictEqual(rows.find((row) => row.id === expected[3])!.vars.product, "a")
      assert.strictEqual(rows.find((row) => row.id === expected[1])!.vars.product, "b")
      const dry = yield* run(input, join(files.dir, "derived-dry.out.jsonl"), "--dry-run")
      assert.include(dry.stdout, `--- ${expected[2]} (${input}:5)`)
      assert.include(dry.stdout, "Dry run: 4 items checked against the template, all fine.")
    }))

  it.live("--resume with a partly written results file (torn last row) sends only the missing items", () =>
    Effect.gen(function*() {
      const [count, written] = [1200, 500]
      const { input, output } = bigInput("partial", "partial-case", undefined, count)
      // The rows of a run that wrote items r0001..r0500 and was killed while writing r0501's row.
      const first = join(files.dir, "partial-first.jsonl")
      writeFileSync(first, readFileSync(input, "utf8").split("\n").slice(0, written).join("\n") + "\n")
      assert.strictEqual((yield* run(first, output)).code, 0)
      writeFileSync(output, readFileSync(output, "utf8") + "{\"id\":\"r0501\",\"outp")
      const before = requestsFor("partial-case").length
      const result = yield* run(input, output, "--resume", "--concurrency", "32")
      assert.strictEqual(result.code, 0)
      const sent = requestsFor("partial-case").slice(before).map((entry) =>
        JSON.stringify(entry.body).match(/partial-case (\d+)/)![1]
      )
      assert.strictEqual(sent.length, count - written)
      assert.deepStrictEqual(
        new Set(sent),
        new Set(Array.from({ length: count - written }, (_, i) => String(i + written)))
      )
      const ids = rowsOf(output).map((row) => row.id)
      assert.strictEqual(ids.length, count)
      assert.strictEqual(new Set(ids).size, count)
      assert.match(result.stdout, new RegExp(`skipped\\s+${written}`))
    }))
})

describe("choosing the generator", () => {
  it.live("takes CAPSTAN_GENERATOR when --generator is not given", () =>
    Effect.gen(function*() {
      const result = yield* capstan(["run", "env-choice-case"], { CAPSTAN_GENERATOR: generator() })
      assert.strictEqual(result.code, 0)
      assert.strictEqual(result.stdout, "echo: env-choice-case")
    }))

  it.live("else uses the default model of a provider whose key is set", () =>
    Effect.gen(function*() {
      const result = yield* capstan(["run", "key-choice-case"], {
        OPENAI_API_KEY: "sk-test",
        OPENAI_BASE_URL: server.openaiBaseUrl
      })
      assert.strictEqual(result.code, 0)
      assert.strictEqual(result.stdout, "echo: key-choice-case")
      assert.deepStrictEqual(requestsFor("key-choice-case").map((entry) => (entry.body as { model: string }).model), [
        "gpt-4o-mini"
      ])
    }))

  it.live("with neither, says how to choose one and sends nothing (exit 64)", () =>
    Effect.gen(function*() {
      const result = yield* capstan(["run", "no-choice-case"])
      assert.strictEqual(result.code, 64)
      assert.include(result.stderr, "No generator chosen")
      assert.include(result.stderr, "OPENAI_API_KEY or ANTHROPIC_API_KEY")
      assert.strictEqual(requestsFor("no-choice-case").length, 0)
    }))

  it.live("--generator wins over the environment, and mock! runs offline", () =>
    Effect.gen(function*() {
      const result = yield* capstan(["run", "offline-case", "--generator", "mock!fixed,reply=42"], {
        CAPSTAN_GENERATOR: generator()
      })
      assert.strictEqual(result.stdout, "42")
      assert.strictEqual(requestsFor("offline-case").length, 0)
    }))
})
