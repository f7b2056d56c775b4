/**
 * Runs a user can trust, end to end against the loopback fake provider: `--resume` repairs failed rows and leaves one
 * row per item and choice, a resumed run must be the same run, one writer per results file, `n` choices always
 * whole, a batch stops paying for requests that cannot succeed, and the summary tells requests from items.
 */
import { afterAll, assert, beforeAll, beforeEach, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { FakeProvider, type FakeProviderServer, type FakeReply, type FakeRequest } from "../support/FakeProvider.js"
import { capstan } from "./inProcess.js"
import { reviews, rowsOf, scratch } from "./process.js"

const TEMPLATE = "Review of {product}: {review}"

let server: FakeProviderServer
let files: ReturnType<typeof scratch>
/** What the server answers besides its default echo; each test sets its own. */
let respond: (request: FakeRequest) => FakeReply | undefined = () => undefined

beforeAll(async () => {
  server = await FakeProvider.start({
    respond: (request) => {
      const key = String(request.headers.authorization ?? request.headers["x-api-key"] ?? "")
      if (key.includes("sk-wrong")) return { error: { status: 401, message: "Incorrect API key provided" } }
      return respond(request)
    }
  })
  files = scratch({})
})
afterAll(async () => {
  await server.close()
  files.remove()
})
beforeEach(() => {
  respond = () => undefined
})

const openai = (key = "sk-right") => `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=${key}`

/** A fresh input of `count` reviews carrying `marker`, its results file, and the batch arguments for both. */
const batch = (name: string, count: number, marker: string) => {
  const input = join(files.dir, `${name}.jsonl`)
  writeFileSync(input, reviews(count).replace(/review text/g, marker))
  const output = join(files.dir, `${name}.out.jsonl`)
  const args = (generator = openai(), ...extra: ReadonlyArray<string>) => [
    "batch",
    "--template",
    TEMPLATE,
    "--input",
    input,
    "--output",
    output,
    "--generator",
    generator,
    "--max-retries",
    "0",
    ...extra
  ]
  return { input, output, args }
}

const sent = (marker: string) => server.requests.filter((entry) => JSON.stringify(entry.body).includes(marker))

const keysOf = (output: string) => rowsOf(output).map((row) => `${row.id}/${row.choice}`).sort()

describe("--resume repairs failures", () => {
  it.live("after a run with a wrong key, --resume with the right one sends every failed item: one row each, exit 0", () =>
    Effect.gen(function*() {
      const { args, output } = batch("wrong-key", 3, "wrong-key-case")
      const first = yield* capstan(args(openai("sk-wrong")))
      assert.strictEqual(first.code, 2)
      assert.deepStrictEqual(rowsOf(output).map((row) => row.error?._tag), [
        "AuthenticationError",
        "AuthenticationError",
        "AuthenticationError"
      ])
      assert.notInclude(first.stdout + first.stderr, "sk-wrong")

      const resumed = yield* capstan([...args(), "--resume"])
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual(sent("wrong-key-case").length, 6)
      const rows = rowsOf(output)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r02/0", "r03/0"])
      assert.isTrue(rows.every((row) => row.error === undefined))
      assert.match(resumed.stdout, /ok {7}3\n {2}failed {3}0/)
      assert.isFalse(existsSync(`${output}.pending`))
      assert.isFalse(existsSync(`${output}.lock`))
    }))

  it.live("--retry-failed none keeps failures, retryable sends only those a retry may cure, all the rest", () =>
    Effect.gen(function*() {
      const { args, output } = batch("retry-failed", 4, "retry-failed-case")
      let failing = true
      respond = (request) =>
        !failing
          ? undefined
          : request.prompt.includes("r02")
          ? { error: { status: 500, message: "boom" } }
          : request.prompt.includes("r03")
          ? { error: { status: 400, message: "rejected" } }
          : undefined
      assert.strictEqual((yield* capstan(args())).code, 2)
      failing = false
      const before = sent("retry-failed-case").length

      const none = yield* capstan([...args(), "--resume", "--retry-failed", "none"])
      assert.strictEqual(none.code, 2)
      assert.strictEqual(sent("retry-failed-case").length, before)
      assert.match(none.stdout, /failed {3}2 \(/)

      const retryable = yield* capstan([...args(), "--resume", "--retry-failed", "retryable"])
      assert.strictEqual(retryable.code, 2)
      assert.deepStrictEqual(
        sent("retry-failed-case").slice(before).map((entry) => JSON.stringify(entry.body).includes("r02")),
        [true]
      )
      assert.match(retryable.stdout, /ok {7}3\n {2}failed {3}1 \(InvalidRequest 1\)/)

      const all = yield* capstan([...args(), "--resume"])
      assert.strictEqual(all.code, 0)
      assert.strictEqual(sent("retry-failed-case").length, before + 2)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r02/0", "r03/0", "r04/0"])
      assert.isTrue(rowsOf(output).every((row) => row.error === undefined))

      const misuse = yield* capstan([...args(), "--retry-failed", "none"])
      assert.strictEqual(misuse.code, 64)
      assert.match(misuse.stderr, /--retry-failed only applies to --resume/)
    }))

  it.live("n = 2: a failed request gives a row per choice, usage and attempts on choice 0; --resume completes both", () =>
    Effect.gen(function*() {
      const { args, output } = batch("choices-failed", 2, "choices-failed-case")
      assert.strictEqual((yield* capstan([...args(openai("sk-wrong")), "--n", "2"])).code, 2)
      const failed = rowsOf(output)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r01/1", "r02/0", "r02/1"])
      assert.isTrue(failed.every((row) => row.error?._tag === "AuthenticationError"))
      assert.deepStrictEqual(
        failed.filter((row) => row.id === "r01").sort((a, b) => a.choice - b.choice).map((row) => row.attempts),
        [1, 0]
      )

      assert.strictEqual((yield* capstan([...args(), "--n", "2", "--resume"])).code, 0)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r01/1", "r02/0", "r02/1"])
      assert.isTrue(rowsOf(output).every((row) => row.error === undefined))
      assert.deepStrictEqual(sent("choices-failed-case").map((entry) => (entry.body as { n?: number }).n), [2, 2, 2, 2])
    }))

  it.live("anthropic with --n 2: one request per choice, every row ok (never a batch of Unsupported rows)", () =>
    Effect.gen(function*() {
      const { args, output } = batch("anthropic-n", 2, "anthropic-n-case")
      const generator = `anthropic!claude-3-5-haiku-latest,base_url=${server.anthropicBaseUrl},api_key=sk-ant-right`
      const result = yield* capstan([...args(generator), "--n", "2"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r01/1", "r02/0", "r02/1"])
      assert.isTrue(rowsOf(output).every((row) => row.error === undefined && row.attempts === 1))
      const requests = sent("anthropic-n-case")
      assert.strictEqual(requests.length, 4)
      assert.isTrue(requests.every((entry) => entry.path === "/v1/messages" && !("n" in (entry.body as object))))
    }))
})

describe("a resumed run is the same run", () => {
  it.live("a changed template, generator, params, --n or --parse is refused before any request; --force overrides", () =>
    Effect.gen(function*() {
      const { args, input, output } = batch("changed", 2, "changed-case")
      assert.strictEqual((yield* capstan(args())).code, 0)
      const sentBefore = sent("changed-case").length
      const resume = (...extra: ReadonlyArray<string>) => capstan([...args(), "--resume", ...extra])
      const template = (text: string) => {
        const at = args().indexOf("--template") + 1
        return args().map((arg, i) => (i === at ? text : arg))
      }

      const changedTemplate = yield* capstan([...template("Rate {product}: {review}"), "--resume"])
      assert.strictEqual(changedTemplate.code, 64)
      assert.match(changedTemplate.stderr, /holds the rows of a different run/)
      assert.match(
        changedTemplate.stderr,
        /template: "Review of \{product\}: \{review\}" → "Rate \{product\}: \{review\}"/
      )
      assert.match(changedTemplate.stderr, /--force/)
      assert.strictEqual((yield* capstan([...template("Rate {product}: {review}"), "--resume", "--dry-run"])).code, 64)
      const temperature = yield* resume("--param", "temperature=0.5")
      assert.match(temperature.stderr, /params\.temperature: unset → 0\.5/)
      assert.match((yield* resume("--n", "2")).stderr, /n: 1 → 2/)
      assert.match((yield* resume("--parse", "json")).stderr, /parse: "none" → "json"/)
      const model = yield* capstan([...args(openai().replace("gpt-4o-mini", "gpt-4o")), "--resume"])
      assert.match(model.stderr, /generator: "openai!gpt-4o-mini" → "openai!gpt-4o"/)
      assert.strictEqual(sent("changed-case").length, sentBefore)

      // Engine settings, keys and a grown input are not the run's definition.
      assert.strictEqual(
        (yield* capstan([...args(openai("sk-other")), "--resume", "--rpm", "600", "--concurrency", "3"])).code,
        0
      )
      writeFileSync(input, reviews(3).replace(/review text/g, "changed-case"))
      assert.strictEqual((yield* resume()).code, 0)
      assert.strictEqual(sent("changed-case").length, sentBefore + 1)

      const forced = yield* capstan([...template("Rate {product}: {review}"), "--resume", "--force"])
      assert.strictEqual(forced.code, 0)
      assert.strictEqual((yield* capstan([...template("Rate {product}: {review}"), "--resume"])).code, 0)
      assert.strictEqual(rowsOf(output).length, 3)
    }))
})

describe("one writer per results file", () => {
  it.live("a second run on the same output fails at once; the first finishes with one row per item", () =>
    Effect.gen(function*() {
      const { args, output } = batch("locked", 4, "locked-case")
      respond = () => undefined
      server.configure({ latencyMs: 150 })
      const first = yield* Effect.forkChild(capstan([...args(), "--concurrency", "1"]))
      yield* Effect.promise(() => waitUntil(() => existsSync(`${output}.lock`)))
      const second = yield* capstan([...args(), "--resume"])
      assert.strictEqual(second.code, 64)
      assert.match(
        second.stderr,
        new RegExp(
          `${
            output.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
          } is being written by another capstan run \\(pid ${process.pid}`
        )
      )
      const done = yield* Fiber.join(first)
      server.configure({ latencyMs: undefined })
      assert.strictEqual(done.code, 0)
      assert.deepStrictEqual(keysOf(output), ["r01/0", "r02/0", "r03/0", "r04/0"])
      assert.strictEqual(sent("locked-case").length, 4)
      assert.isFalse(existsSync(`${output}.lock`))
    }))

  it.live("a lock left by a process that died (kill -9) is taken over", () =>
    Effect.gen(function*() {
      const { args, output } = batch("stale-lock", 2, "stale-lock-case")
      const dead = spawnSync(process.execPath, ["-e", ""]).pid
      writeFileSync(
        `${output}.lock`,
        JSON.stringify({ pid: dead, host: hostname(), since: "2026-01-01T00:00:00Z", token: "old" })
      )
      const result = yield* capstan(args())
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(rowsOf(output).length, 2)
      assert.isFalse(existsSync(`${output}.lock`))
    }))
})

describe("requests that cannot succeed", () => {
  it.live("a wrong key stops the run after a few refusals in a row: exit 3, the rest not sent, resumable", () =>
    Effect.gen(function*() {
      const { args, output } = batch("stop", 40, "stop-case")
      const stopped = yield* capstan([...args(openai("sk-wrong")), "--concurrency", "2"])
      assert.strictEqual(stopped.code, 3)
      const requests = sent("stop-case").length
      assert.isAtMost(requests, 8)
      assert.match(
        stopped.stderr,
        /Stopped sending: 5 requests in a row failed with AuthenticationError.*Authentication failed \(HTTP 401\); check the API key/
      )
      assert.match(stopped.stdout, /^Stopped after .*: \d+ of 40 rows written to .*; \d+ not sent/)
      assert.match(stopped.stderr, /To finish, run:\n {2}capstan batch .*--resume/)
      assert.isAtMost(rowsOf(output).length, requests)

      const resumed = yield* capstan([...args(), "--resume"])
      assert.strictEqual(resumed.code, 0)
      assert.strictEqual(keysOf(output).length, 40)
      assert.strictEqual(new Set(keysOf(output)).size, 40)
      assert.isTrue(rowsOf(output).every((row) => row.error === undefined))
    }))

  it.live("the summary tells requests sent from items, retries included", () =>
    Effect.gen(function*() {
      const { args } = batch("retries", 3, "retries-case")
      server.failNext("server-error", 2)
      const result = yield* capstan([
        ...args().filter((arg) => arg !== "--max-retries" && arg !== "0"),
        "--concurrency",
        "1"
      ])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.match(result.stdout, /requests 5 for 3 items \(2 retries\)/)
    }))
})

const waitUntil = async (check: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out")
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

// The manifest is plain JSON next to the results: readable, and holding no secret.
describe("the run manifest", () => {
  it.live("records what defines the run, without keys or engine settings", () =>
    Effect.gen(function*() {
      const { args, output } = batch("manifest", 1, "manifest-case")
      assert.strictEqual(
        (yield* capstan([...args(openai("sk-secret-123")), "--rpm", "100", "--param", "temperature=0.2"])).code,
        0
      )
      const manifest = JSON.parse(readFileSync(`${output}.run.json`, "utf8"))
      assert.deepStrictEqual(manifest.definition, {
        template: TEMPLATE,
        generator: "openai!gpt-4o-mini",
        params: { temperature: 0.2 },
        n: 1,
        parse: null,
        idField: "id"
      })
      assert.notInclude(readFileSync(`${output}.run.json`, "utf8"), "sk-secret")
    }))
})
