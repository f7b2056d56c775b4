/**
 * The response cache end to end: the real SDKs against the loopback fake provider, the cache in a SQLite file
 * (`SqliteStore`), counted by what the server received.
 */
import { Batch, Dataset, Generator, ResponseCache, Template } from "@capstan/core"
import { Providers, SqliteStore } from "@capstan/providers"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { FakeProvider } from "../support/FakeProvider.js"

const template = Template.make("Review {n}: {text}")
const itemsOf = (marker: string, count: number) =>
  Effect.runSync(
    Dataset.validate(template, Array.from({ length: count }, (_, n) => ({ id: `r${n}`, n, text: marker })))
  )

/** A SQLite file in a temporary directory of the test's own, removed with the scope. */
const cacheFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "capstan-cache-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "responses.sqlite")))

/** Runs a batch with a generator built from `identifier` and the cache in `path`, each built for this run alone. */
const runBatch = <M extends ResponseCache.Mode>(
  identifier: string,
  path: string,
  items: ReadonlyArray<Dataset.RenderedItem>,
  options: { readonly cache: M; readonly n?: number }
) =>
  Batch.run(items, { cache: options.cache, ...(options.n === undefined ? {} : { params: { n: options.n } }) }).pipe(
    Effect.provide(Layer.mergeAll(
      Generator.layer(identifier).pipe(Layer.provide(Providers.layer)),
      SqliteStore.layerResponseCache({ path })
    ))
  )

describe("the response cache against the fake provider (SQLite file)", () => {
  it.live("a second run of a finished batch sends no request and yields the same rows, marked cached", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const path = yield* cacheFile
      const openai = `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test-one`
      const items = itemsOf("second-run", 20)
      const first = yield* runBatch(openai, path, items, { cache: "readwrite" })
      expect(server.stats.requests).toBe(20)
      expect(first.summary.ok).toBe(20)
      const second = yield* runBatch(openai, path, items, { cache: "readwrite" })
      expect(server.stats.requests).toBe(20)
      expect(second.rows.map((row) => row.output)).toEqual(first.rows.map((row) => row.output))
      expect(second.rows[3]!.output).toBe("echo: Review 3: second-run")
      expect(second.rows.every(ResponseCache.isCached)).toBe(true)
      expect(second.summary).toMatchObject({ ok: 20, attempts: 0 })
      // Another API key for the same server and model: the same answers, still nothing sent.
      yield* runBatch(openai.replace("sk-test-one", "sk-test-two"), path, items, { cache: "readwrite" })
      expect(server.stats.requests).toBe(20)
      // The secret is nowhere in the file (nor in its write-ahead log, if one is left).
      for (const file of [path, `${path}-wal`].filter(existsSync)) {
        expect(readFileSync(file).toString("latin1")).not.toContain("sk-test-one")
      }
    }))

  it.live("two servers named only by OPENAI_BASE_URL do not share answers: the generator's endpoint is in the key", () =>
    Effect.gen(function*() {
      const one = yield* FakeProvider.scoped({ respond: () => "from one" })
      const two = yield* FakeProvider.scoped({ respond: () => "from two" })
      const path = yield* cacheFile
      const items = itemsOf("endpoint", 2)
      const runAgainst = (baseUrl: string) =>
        runBatch("openai!gpt-4o-mini", path, items, { cache: "readwrite" }).pipe(
          Effect.provide(ConfigProvider.layer(
            ConfigProvider.fromUnknown({ OPENAI_API_KEY: "sk-test-env", OPENAI_BASE_URL: baseUrl })
          ))
        )
      const first = yield* runAgainst(one.openaiBaseUrl)
      const second = yield* runAgainst(two.openaiBaseUrl)
      expect(first.rows.map((row) => row.output)).toEqual(["from one", "from one"])
      expect(second.rows.map((row) => row.output)).toEqual(["from two", "from two"])
      expect(two.stats.requests).toBe(2)
      const again = yield* runAgainst(one.openaiBaseUrl)
      expect(again.rows.every(ResponseCache.isCached)).toBe(true)
      expect(one.stats.requests).toBe(2)
    }))

  it.live("a 500 is not cached: the run after it sends that item again", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const path = yield* cacheFile
      const openai = `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test,max_retries=0`
      const items = itemsOf("failure", 5)
      server.failNext("server-error")
      const first = yield* runBatch(openai, path, items, { cache: "readwrite" })
      expect(first.summary.failed).toBe(1)
      expect(server.stats.requests).toBe(5)
      const failedId = first.rows.find((row) => !row.ok)!.id
      const second = yield* runBatch(openai, path, items, { cache: "readwrite" })
      expect(server.stats.requests).toBe(6)
      expect(second.summary.ok).toBe(5)
      const retried = second.rows.find((row) => row.id === failedId)!
      expect(ResponseCache.isCached(retried)).toBe(false)
      expect(second.rows.filter(ResponseCache.isCached)).toHaveLength(4)
    }))

  it.live("n choices from a provider that answers one per request: a distinct answer per choice, replayed", () =>
    Effect.gen(function*() {
      let answer = 0
      const server = yield* FakeProvider.scoped({ respond: () => `answer ${++answer}` })
      const path = yield* cacheFile
      const anthropic = `anthropic!claude-3-5-haiku-latest,base_url=${server.anthropicBaseUrl},api_key=sk-ant-test`
      const items = itemsOf("choices", 2)
      const first = yield* runBatch(anthropic, path, items, { cache: "readwrite", n: 3 })
      expect(server.stats.requests).toBe(6)
      const outputs = first.rows.map((row) => `${row.id}/${row.choice}: ${row.output}`)
      expect(new Set(first.rows.map((row) => row.output)).size).toBe(6)
      const second = yield* runBatch(anthropic, path, items, { cache: "readwrite", n: 3 })
      expect(server.stats.requests).toBe(6)
      expect(second.rows.map((row) => `${row.id}/${row.choice}: ${row.output}`)).toEqual(outputs)
    }))

  it.live("read never writes and write never reads, with the real provider", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const path = yield* cacheFile
      const openai = `openai!gpt-4o-mini,base_url=${server.openaiBaseUrl},api_key=sk-test`
      const items = itemsOf("modes", 4)
      yield* runBatch(openai, path, items, { cache: "read" })
      yield* runBatch(openai, path, items, { cache: "read" })
      expect(server.stats.requests).toBe(8)
      yield* runBatch(openai, path, items, { cache: "write" })
      yield* runBatch(openai, path, items, { cache: "write" })
      expect(server.stats.requests).toBe(16)
      const read = yield* runBatch(openai, path, items, { cache: "read" })
      expect(server.stats.requests).toBe(16)
      expect(read.rows.every(ResponseCache.isCached)).toBe(true)
    }))

  it.live("the server's address is in the key: another base URL asks again", () =>
    Effect.gen(function*() {
      const one = yield* FakeProvider.scoped()
      const two = yield* FakeProvider.scoped()
      const path = yield* cacheFile
      const items = itemsOf("servers", 3)
      yield* runBatch(`openai!gpt-4o-mini,base_url=${one.openaiBaseUrl},api_key=sk-test`, path, items, {
        cache: "readwrite"
      })
      yield* runBatch(`openai!gpt-4o-mini,base_url=${two.openaiBaseUrl},api_key=sk-test`, path, items, {
        cache: "readwrite"
      })
      expect([one.stats.requests, two.stats.requests]).toEqual([3, 3])
    }))
})
