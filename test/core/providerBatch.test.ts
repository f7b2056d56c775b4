import {
  Batch,
  BatchStopped,
  Dataset,
  Generation,
  Generator,
  InvalidRequest,
  Model,
  ProviderBatch,
  RateLimited,
  ServerError,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const fast = { linger: "5 millis", pollInterval: "5 millis", queueBackoff: "5 millis" } as const

const items = (words: ReadonlyArray<string>) =>
  Dataset.validate(Template.make("Say {word}"), words.map((word, i) => ({ id: `item-${i}`, word })))

/** A batch API in memory whose every step can be watched and scripted. */
const scriptedApi = (options: {
  readonly answer: (entry: Generator.BatchEntry) => Generator.BatchOutcome | undefined
  /** Polls a batch stays running for. */
  readonly runningPolls?: number
  /** What `retrieve` says of a batch the first times: e.g. a queue-full failure. */
  readonly refuse?: (created: number) => Generator.BatchState | undefined
}) => {
  const entries = new Map<string, Generator.BatchEntry>()
  const batches = new Map<string, { ids: Array<string>; polls: number; number: number }>()
  const log = { created: [] as Array<Array<string>>, results: [] as Array<string>, cancelled: [] as Array<string> }
  const api: Generator.BatchApi = {
    limits: { maxRequests: 100, maxBytes: 1_000_000 },
    encode: (entry) =>
      Effect.sync(() => {
        entries.set(entry.customId, entry)
        return JSON.stringify({ custom_id: entry.customId, request: entry.kind })
      }),
    create: (lines) =>
      Effect.sync(() => {
        const ids = lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)
        log.created.push(ids)
        const id = `b${log.created.length}`
        batches.set(id, { ids, polls: 0, number: log.created.length })
        return id
      }),
    retrieve: (batchId) =>
      Effect.sync((): Generator.BatchState => {
        const batch = batches.get(batchId)!
        const refused = options.refuse?.(batch.number)
        if (refused !== undefined) return refused
        batch.polls++
        return batch.polls > (options.runningPolls ?? 0)
          ? { _tag: "Ended", status: "ended" }
          : { _tag: "Running", status: "in_progress" }
      }),
    results: (batchId) =>
      Stream.fromIterable(batches.get(batchId)!.ids.flatMap((customId) => {
        log.results.push(customId)
        const outcome = options.answer(entries.get(customId)!)
        return outcome === undefined ? [] : [{ customId, outcome }]
      })),
    cancel: (batchId) => Effect.sync(() => void log.cancelled.push(batchId))
  }
  return { api, log }
}

const answered = (text: string): Generator.BatchOutcome => ({
  _tag: "Answered",
  generation: Generation.fromTexts([text], new Usage.Usage({ inputTokens: 3, outputTokens: 2 }))
})

/** A mock generator (realtime answers "realtime: <prompt>") with `api` as its batch API. */
const withBatchApi = (
  api: Generator.BatchApi | undefined,
  record?: (prompt: string) => void,
  options: MockGenerator.Options = {}
) =>
  Layer.effect(
    Generator.Generator,
    Effect.gen(function*() {
      const service = yield* Generator.Generator
      return { ...service, batch: api }
    })
  ).pipe(
    Layer.provide(MockGenerator.layer((request) => {
      const prompt = request._tag === "chat" ? request.messages.at(-1)!.text : request.prompt
      record?.(prompt)
      return `realtime: ${prompt}`
    }, options))
  )

describe("Batch via provider-batch", () => {
  it.live("rows from a provider batch are the rows a realtime run writes, with the batch in their metadata", () =>
    Effect.gen(function*() {
      const list = yield* items(["hi", "bye"])
      const realtime = yield* Batch.run(list).pipe(Effect.provide(Generator.layer("mock!echo")))
      const batched = yield* Batch.run(list, { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(Generator.layer("mock!echo"))
      )
      expect(batched.rows.map((r) => r.output)).toEqual(realtime.rows.map((r) => r.output))
      expect(batched.rows.map((r) => r.messages)).toEqual(realtime.rows.map((r) => r.messages))
      expect(batched.rows.map((r) => r.generator)).toEqual(realtime.rows.map((r) => r.generator))
      expect(batched.rows[0]!.metadata).toEqual({
        via: "provider-batch",
        batchId: "mockbatch_1",
        customId: "item-0-c0"
      })
      expect(batched.rows.every((r) => r.attempts === 1)).toBe(true)
      expect(realtime.rows[0]!.metadata).toBeUndefined()
    }))

  it.live("an item's choices asked one per request go into the same batch, one custom id per choice", () =>
    Effect.gen(function*() {
      const { api, log } = scriptedApi({ answer: (entry) => answered(`answer to ${entry.customId}`) })
      const list = yield* items(["a", "b"])
      const { rows } = yield* Batch.run(list, { via: "provider-batch", params: { n: 3 }, providerBatch: fast }).pipe(
        Effect.provide(withBatchApi(api, undefined, { capabilities: { maxChoices: 1 } }))
      )
      expect(log.created).toHaveLength(1)
      expect([...log.created[0]!].sort()).toEqual(
        ["item-0-c0", "item-0-c1", "item-0-c2", "item-1-c0", "item-1-c1", "item-1-c2"]
      )
      expect(rows.map((r) => [r.id, r.choice, r.output])).toEqual([
        ["item-0", 0, "answer to item-0-c0"],
        ["item-0", 1, "answer to item-0-c1"],
        ["item-0", 2, "answer to item-0-c2"],
        ["item-1", 0, "answer to item-1-c0"],
        ["item-1", 1, "answer to item-1-c1"],
        ["item-1", 2, "answer to item-1-c2"]
      ])
      expect(rows.map((r) => r.metadata?.customId)).toEqual(
        ["item-0-c0", "item-0-c1", "item-0-c2", "item-1-c0", "item-1-c1", "item-1-c2"]
      )
    }))

  it.live("an item id that does not fit the providers' pattern gets a custom id from its SHA-256", () =>
    Effect.gen(function*() {
      const { api, log } = scriptedApi({ answer: () => answered("ok") })
      // Ids that need the digest: other characters, or too long with the suffix; lengths around SHA-256's blocks.
      const ids = ["ünïcödé id", "with space", "x".repeat(62), ...[55, 56, 63, 64, 119, 200].map((n) => "é".repeat(n))]
      const list = yield* Dataset.validate(Template.make("Say {word}"), ids.map((id) => ({ id, word: "w" })))
      const { rows } = yield* Batch.run(list, { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(withBatchApi(api))
      )
      const expected = ids.map((id) => `h${createHash("sha256").update(id, "utf8").digest("base64url")}-c0`)
      expect(rows.map((r) => r.metadata?.customId)).toEqual(expected)
      expect(log.created.flat().sort()).toEqual([...expected].sort())
      expect(expected.every((id) => /^[a-zA-Z0-9_-]{1,64}$/.test(id))).toBe(true)
    }))

  it.live("chunks stay within maxRequests and maxBytes", () =>
    Effect.gen(function*() {
      const { api, log } = scriptedApi({ answer: () => answered("ok") })
      const list = yield* items(Array.from({ length: 7 }, (_, i) => `w${i}`))
      const { summary } = yield* Batch.run(list, {
        via: "provider-batch",
        providerBatch: { ...fast, maxRequests: 3 }
      }).pipe(Effect.provide(withBatchApi(api)))
      expect(summary.ok).toBe(7)
      expect(log.created.map((ids) => ids.length).sort()).toEqual([1, 3, 3])
      const line = JSON.stringify({ custom_id: "item-0-c0", request: "chat" }).length + 1
      const { api: api2, log: log2 } = scriptedApi({ answer: () => answered("ok") })
      yield* Batch.run(list, { via: "provider-batch", providerBatch: { ...fast, maxBytes: line * 2 } }).pipe(
        Effect.provide(withBatchApi(api2))
      )
      expect(log2.created.every((ids) => ids.length <= 2)).toBe(true)
      expect(log2.created.flat()).toHaveLength(7)
    }))

  it.live("with a parse model, round one is batched and the recovery rounds go to realtime", () =>
    Effect.gen(function*() {
      const sent: Array<string> = []
      const { api, log } = scriptedApi({ answer: () => answered("not a number") })
      const list = yield* items(["one"])
      const { rows } = yield* Batch.run(list, {
        via: "provider-batch",
        parse: Model.json(Schema.Number),
        maxRounds: 2,
        providerBatch: fast
      }).pipe(Effect.provide(withBatchApi(api, (prompt) => sent.push(prompt))))
      expect(log.created).toEqual([["item-0-c0"]])
      expect(sent).toHaveLength(1) // the recovery round, in realtime
      expect(rows[0]!.attempts).toBe(2)
    }))

  it.live("a retryable failure or an expired request falls back to realtime; an invalid request is an error row", () =>
    Effect.gen(function*() {
      const sent: Array<string> = []
      const { api } = scriptedApi({
        answer: (entry) =>
          entry.customId.startsWith("item-0")
            ? { _tag: "Failed", error: new ServerError({ provider: "mock", detail: "boom", status: 500 }) }
            : entry.customId.startsWith("item-1")
            ? { _tag: "Unfinished", reason: "expired" }
            : entry.customId.startsWith("item-2")
            ? { _tag: "Failed", error: new InvalidRequest({ provider: "mock", detail: "bad", status: 400 }) }
            : undefined // missing from the results
      })
      const list = yield* items(["a", "b", "c", "d"])
      const { rows } = yield* Batch.run(list, { via: "provider-batch", providerBatch: fast, stopAfter: Infinity }).pipe(
        Effect.provide(withBatchApi(api, (prompt) => sent.push(prompt)))
      )
      expect(rows.map((r) => r.output ?? r.error?._tag)).toEqual([
        "realtime: Say a",
        "realtime: Say b",
        "InvalidRequest",
        "realtime: Say d"
      ])
      expect(rows.map((r) => r.metadata?.via)).toEqual(["realtime", "realtime", "provider-batch", "realtime"])
      expect(rows[1]!.metadata?.unanswered).toContain("expired")
      expect(rows[0]!.attempts).toBe(2)
      expect(sent.sort()).toEqual(["Say a", "Say b", "Say d"])
    }))

  it.live("fallback none records the error; rebatch sends once more in a later batch", () =>
    Effect.gen(function*() {
      let expire = true
      const { api, log } = scriptedApi({
        answer: () => {
          if (expire) {
            expire = false
            return { _tag: "Unfinished", reason: "expired" }
          }
          return answered("second time")
        }
      })
      const list = yield* items(["a"])
      const none = yield* Batch.run(list, { via: "provider-batch", providerBatch: { ...fast, fallback: "none" } }).pipe(
        Effect.provide(withBatchApi(scriptedApi({ answer: () => ({ _tag: "Unfinished", reason: "cancelled" }) }).api))
      )
      expect(none.rows[0]!.error?._tag).toBe("BatchUnfinished")
      expect(none.rows[0]!.error?.message).toContain("cancelled")
      const rebatched = yield* Batch.run(list, {
        via: "provider-batch",
        providerBatch: { ...fast, fallback: "rebatch" }
      }).pipe(Effect.provide(withBatchApi(api)))
      expect(rebatched.rows[0]!.output).toBe("second time")
      expect(log.created).toEqual([["item-0-c0"], ["item-0-c0"]])
    }))

  it.live("a batch refused for the provider's queue limit is created again after a backoff", () =>
    Effect.gen(function*() {
      const { api, log } = scriptedApi({
        answer: () => answered("ok"),
        refuse: (created) =>
          created === 1
            ? {
              _tag: "Failed",
              status: "failed",
              error: new RateLimited({ provider: "mock", detail: "token_limit_exceeded" })
            }
            : undefined
      })
      const { rows } = yield* Batch.run(yield* items(["a"]), { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(withBatchApi(api))
      )
      expect(rows[0]!.output).toBe("ok")
      expect(log.created).toHaveLength(2)
    }))

  it.live("under provider-batch a generator without a batch API gives Unsupported rows; auto runs it in realtime", () =>
    Effect.gen(function*() {
      const list = yield* items(["a", "b"])
      const auto = yield* Batch.run(list, { via: "auto", providerBatch: fast }).pipe(
        Effect.provide(withBatchApi(undefined))
      )
      expect(auto.rows.map((r) => r.output)).toEqual(["realtime: Say a", "realtime: Say b"])
      const forced = yield* Batch.run(list, { via: "provider-batch", providerBatch: fast, stopAfter: Infinity }).pipe(
        Effect.provide(withBatchApi(undefined))
      )
      expect(forced.rows.map((r) => r.error?._tag)).toEqual(["Unsupported", "Unsupported"])
      expect(forced.rows[0]!.error?.message).toContain("no batch API")
      const stopped = yield* Batch.run(yield* items(["a", "b", "c"]), {
        via: "provider-batch",
        providerBatch: fast,
        stopAfter: 2
      }).pipe(Effect.provide(withBatchApi(undefined)), Effect.flip)
      expect(stopped).toBeInstanceOf(BatchStopped)
    }))

  it("options that cannot work are refused when the batch is built", () => {
    expect(() => Batch.stream([], { via: "provider-batch", providerBatch: { maxRequests: 0 } })).toThrow(
      /providerBatch.maxRequests/
    )
    expect(() => Batch.stream([], { via: "provider-batch", providerBatch: { maxBatchesInFlight: 1.5 } })).toThrow(
      /maxBatchesInFlight/
    )
  })

  it.live("a journal lets a later run collect the batches an interrupted one created, paying for nothing twice", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capstan-journal-"))
      const journalPath = path.join(dir, "results.batches.jsonl")
      const { api, log } = scriptedApi({
        answer: (entry) => answered(`batched ${entry.customId}`),
        runningPolls: 1_000_000
      })
      const list = yield* items(["a", "b", "c"])
      // First run: the batch is created and keeps running; the run is interrupted.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const journal = yield* ProviderBatch.journalFile(journalPath)
        return yield* Batch.run(list, { via: "provider-batch", providerBatch: { ...fast, journal } })
      })).pipe(Effect.provide([withBatchApi(api), NodeServices.layer]), Effect.forkChild)
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(first)
      expect(log.created).toHaveLength(1)
      expect(log.cancelled).toEqual([]) // left running for a resume
      const recorded = fs.readFileSync(journalPath, "utf8").trim().split("\n").map((l) => JSON.parse(l).event)
      expect(recorded).toEqual(["planned", "created"])
      // The batch ends; a second run with the same journal reads its results and creates nothing.
      const { api: sameProvider, log: log2 } = scriptedApi({ answer: () => answered("never") })
      const { rows } = yield* Effect.scoped(Effect.gen(function*() {
        const journal = yield* ProviderBatch.journalFile(journalPath)
        return yield* Batch.run(list, {
          via: "provider-batch",
          providerBatch: { ...fast, journal }
        })
      })).pipe(
        Effect.provide([
          withBatchApi({
            ...sameProvider,
            retrieve: () => Effect.succeed({ _tag: "Ended", status: "ended" }),
            results: (batchId) => {
              expect(batchId).toBe("b1")
              return Stream.fromIterable(["item-0-c0", "item-1-c0", "item-2-c0"]).pipe(
                Stream.map((customId) => ({ customId, outcome: answered(`batched ${customId}`) }))
              )
            }
          }),
          NodeServices.layer
        ])
      )
      expect(log2.created).toEqual([])
      expect(rows.map((r) => [r.output, r.metadata?.batchId])).toEqual([
        ["batched item-0-c0", "b1"],
        ["batched item-1-c0", "b1"],
        ["batched item-2-c0", "b1"]
      ])
      // fresh: a new run ignores the journal
      const journal = yield* Effect.scoped(ProviderBatch.journalFile(journalPath, { fresh: true })).pipe(
        Effect.provide(NodeServices.layer)
      )
      expect(journal.recorded).toEqual([])
    }))

  it.live("a chunk uploaded but not recorded as created is looked up: found, its batch is collected; not, it is sent", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capstan-journal-"))
      const journalPath = path.join(dir, "results.batches.jsonl")
      const events = [
        { event: "planned", chunk: 0, kind: "chat", ids: ["item-0-c0"] },
        { event: "uploaded", chunk: 0, fileId: "file-0" },
        { event: "planned", chunk: 1, kind: "chat", ids: ["item-1-c0"] },
        { event: "uploaded", chunk: 1, fileId: "file-1" }
      ]
      // a torn last line, as a process killed while writing leaves it
      fs.writeFileSync(journalPath, events.map((e) => JSON.stringify(e)).join("\n") + "\n{\"event\":\"crea")
      const { api, log } = scriptedApi({ answer: () => answered("new batch") })
      const { rows } = yield* Effect.scoped(Effect.gen(function*() {
        const journal = yield* ProviderBatch.journalFile(journalPath)
        expect(journal.recorded).toHaveLength(4)
        return yield* Batch.run(yield* items(["a", "b"]), {
          via: "provider-batch",
          providerBatch: { ...fast, journal }
        })
      })).pipe(
        Effect.provide([
          withBatchApi({
            ...api,
            find: (fileId) => Effect.succeed(fileId === "file-0" ? "found-0" : undefined),
            retrieve: (batchId) =>
              batchId === "found-0" ? Effect.succeed({ _tag: "Ended", status: "ended" }) : api.retrieve(batchId),
            results: (batchId) =>
              batchId === "found-0"
                ? Stream.make({ customId: "item-0-c0", outcome: answered("found batch") })
                : api.results(batchId)
          }),
          NodeServices.layer
        ])
      )
      expect(rows.map((r) => [r.output, r.metadata?.batchId])).toEqual([["found batch", "found-0"], [
        "new batch",
        "b1"
      ]])
      expect(log.created).toEqual([["item-1-c0"]])
      const journal = fs.readFileSync(journalPath, "utf8").trim().split("\n").slice(5).map((l) => JSON.parse(l))
      expect(journal[0]).toEqual({ event: "created", chunk: 0, batchId: "found-0" })
      expect(journal.slice(1).map((e) => [e.event, e.chunk])).toEqual([["planned", 2], ["created", 2]])
    }))

  it.live("a batch an earlier run created that failed as a whole ran nothing: its requests are sent again", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capstan-journal-"))
      const journalPath = path.join(dir, "results.batches.jsonl")
      const events = [
        { event: "planned", chunk: 0, kind: "chat", ids: ["item-0-c0", "item-1-c0"] },
        { event: "created", chunk: 0, batchId: "failed-0" }
      ]
      fs.writeFileSync(journalPath, events.map((e) => JSON.stringify(e)).join("\n") + "\n")
      const { api, log } = scriptedApi({ answer: () => answered("sent again") })
      const { rows } = yield* Effect.scoped(Effect.gen(function*() {
        const journal = yield* ProviderBatch.journalFile(journalPath)
        return yield* Batch.run(yield* items(["a", "b"]), {
          via: "provider-batch",
          providerBatch: { ...fast, journal }
        })
      })).pipe(
        Effect.provide([
          withBatchApi({
            ...api,
            retrieve: (batchId) =>
              batchId === "failed-0"
                ? Effect.succeed({
                  _tag: "Failed",
                  status: "failed",
                  error: new InvalidRequest({ provider: "mock", detail: "validation", status: 400 })
                })
                : api.retrieve(batchId)
          }),
          NodeServices.layer
        ])
      )
      expect(rows.map((r) => [r.output, r.metadata?.batchId])).toEqual([["sent again", "b1"], ["sent again", "b1"]])
      expect(log.created).toEqual([["item-0-c0", "item-1-c0"]])
    }))

  it.live("with cancelOnInterrupt, an interrupted run cancels its batches", () =>
    Effect.gen(function*() {
      const { api, log } = scriptedApi({ answer: () => answered("x"), runningPolls: 1_000_000 })
      const fiber = yield* Batch.run(yield* items(["a"]), {
        via: "provider-batch",
        providerBatch: { ...fast, cancelOnInterrupt: true }
      }).pipe(Effect.provide(withBatchApi(api)), Effect.forkChild)
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(fiber)
      expect(log.cancelled).toEqual(["b1"])
    }))
})
