/**
 * Provider batch mode with the real SDKs against the fake provider's batch endpoints: OpenAI's files and batches,
 * Anthropic's message batches.
 */
import { Batch, CompletionPipeline, Dataset, Generator, Model, Template } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { batchLedgerKey, FakeProvider, type FakeProviderServer } from "../support/FakeProvider.js"

const env = (server: FakeProviderServer) => ({
  OPENAI_API_KEY: "sk-test-openai-0123456789",
  OPENAI_BASE_URL: server.openaiBaseUrl,
  ANTHROPIC_API_KEY: "sk-ant-test-0123456789",
  ANTHROPIC_BASE_URL: server.anthropicBaseUrl
})

const layerFor = (identifier: string, server: FakeProviderServer) =>
  Generator.layer(identifier, { maxRetries: 0 }).pipe(
    Layer.provide(Layer.mergeAll(Providers.layer, ConfigProvider.layer(ConfigProvider.fromUnknown(env(server)))))
  )

const fast = { linger: "5 millis", pollInterval: "5 millis", queueBackoff: "20 millis" } as const

const items = (count: number) =>
  Dataset.validate(
    Template.make("Say {word}"),
    Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, word: `w${i}` }))
  )

const realtimeRequests = (server: FakeProviderServer) =>
  server.requests.filter((r) => r.path === "/v1/chat/completions" || r.path === "/v1/messages").length

describe("provider batches against the fake provider", () => {
  it.live("openai: one file, one batch, the rows a realtime run writes, each request paid once", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({})
      const list = yield* items(5)
      const batched = yield* Batch.run(list, { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(layerFor("openai!gpt-4o-mini", server))
      )
      assert.strictEqual(realtimeRequests(server), 0)
      assert.strictEqual(server.stats.batches.filesUploaded, 1)
      assert.strictEqual(server.stats.batches.batchesCreated, 1)
      const realtime = yield* Batch.run(list).pipe(Effect.provide(layerFor("openai!gpt-4o-mini", server)))
      assert.deepStrictEqual(batched.rows.map((r) => r.output), realtime.rows.map((r) => r.output))
      assert.deepStrictEqual(batched.rows.map((r) => r.usage), realtime.rows.map((r) => r.usage))
      assert.deepStrictEqual(batched.rows.map((r) => r.messages), realtime.rows.map((r) => r.messages))
      for (const row of batched.rows) {
        assert.strictEqual(row.metadata?.via, "provider-batch")
        assert.match(JSON.stringify(row.metadata?.batchId), /^"batch_/)
        assert.strictEqual(row.metadata?.customId, `${row.id}-c0`)
      }
      const ledger = server.batchLedger()
      for (let i = 0; i < 5; i++) {
        assert.strictEqual(ledger.get(batchLedgerKey("openai", `item-${i}-c0`, "gpt-4o-mini")), 1)
      }
      // the summary prices batch rows at the batch discount
      const cost = Batch.summarize(batched.rows).cost!
      const realtimeCost = Batch.summarize(realtime.rows).cost!
      assert.closeTo(cost, realtimeCost / 2, 1e-12)
    }))

  it.live("openai: n choices in one request per item; a completion pipeline's batch goes to /v1/completions", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({})
      const { rows } = yield* Batch.run(yield* items(3), {
        via: "provider-batch",
        params: { n: 2 },
        providerBatch: fast
      }).pipe(Effect.provide(layerFor("openai!gpt-4o-mini", server)))
      assert.strictEqual(rows.length, 6)
      assert.deepStrictEqual(rows.map((r) => r.metadata?.customId), [
        "item-0-c0",
        "item-0-c0",
        "item-1-c0",
        "item-1-c0",
        "item-2-c0",
        "item-2-c0"
      ])
      const completions = yield* Batch.run(yield* items(2), {
        via: "provider-batch",
        pipeline: CompletionPipeline.make(),
        providerBatch: fast
      }).pipe(Effect.provide(layerFor("openai!gpt-3.5-turbo-instruct", server)))
      assert.deepStrictEqual(completions.rows.map((r) => r.ok), [true, true])
      const created = server.requests.filter((r) => r.path === "/v1/batches" && r.method === "POST")
      assert.deepStrictEqual(created.map((r) => (r.body as { endpoint: string }).endpoint), [
        "/v1/chat/completions",
        "/v1/completions"
      ])
    }))

  it.live("anthropic: one request per choice, one message batch, results streamed back", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({})
      const { rows } = yield* Batch.run(yield* items(3), {
        via: "provider-batch",
        params: { n: 2, maxTokens: 50 },
        providerBatch: fast
      }).pipe(Effect.provide(layerFor("anthropic!claude-3-5-haiku-latest", server)))
      assert.strictEqual(realtimeRequests(server), 0)
      assert.strictEqual(server.stats.batches.batchesCreated, 1)
      assert.deepStrictEqual(rows.map((r) => [r.id, r.choice, r.metadata?.customId]), [
        ["item-0", 0, "item-0-c0"],
        ["item-0", 1, "item-0-c1"],
        ["item-1", 0, "item-1-c0"],
        ["item-1", 1, "item-1-c1"],
        ["item-2", 0, "item-2-c0"],
        ["item-2", 1, "item-2-c1"]
      ])
      assert.isTrue(rows.every((r) => r.ok && (r.output ?? "").includes("Say w")))
      assert.match(JSON.stringify(rows[0]!.metadata?.batchId), /^"msgbatch_/)
    }))

  it.live("errored requests fall back to realtime; invalid ones are error rows; expired ones fall back too", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ batchFaults: { errorRate: 1, errorKinds: ["server"] } })
      const { rows } = yield* Batch.run(yield* items(4), { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(layerFor("openai!gpt-4o-mini", server))
      )
      assert.isTrue(rows.every((r) => r.ok && r.metadata?.via === "realtime"))
      assert.strictEqual(realtimeRequests(server), 4)
      assert.match(JSON.stringify(rows[0]!.metadata?.unanswered), /Server error/i)

      server.reset()
      server.configure({ batchFaults: { errorRate: 1, errorKinds: ["invalid"] } })
      const invalid = yield* Batch.run(yield* items(2), {
        via: "provider-batch",
        providerBatch: fast,
        stopAfter: Infinity
      }).pipe(Effect.provide(layerFor("anthropic!claude-3-5-haiku-latest", server)))
      assert.deepStrictEqual(invalid.rows.map((r) => r.error?._tag), ["InvalidRequest", "InvalidRequest"])
      assert.strictEqual(realtimeRequests(server), 0)

      server.reset()
      server.configure({ batchFaults: { expire: true }, batch: { completionWindowMs: 50 } })
      const expired = yield* Batch.run(yield* items(2), { via: "provider-batch", providerBatch: fast }).pipe(
        Effect.provide(layerFor("anthropic!claude-3-5-haiku-latest", server))
      )
      assert.isTrue(expired.rows.every((r) => r.ok && r.metadata?.via === "realtime"))
      assert.match(JSON.stringify(expired.rows[0]!.metadata?.unanswered), /expired/)
    }))

  it.live("openai: a batch refused for the enqueued-token limit is created again once the earlier one ends", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ batch: { enqueuedTokenLimit: 20, perRequestMs: 20 } })
      const { rows } = yield* Batch.run(yield* items(4), {
        via: "provider-batch",
        params: { maxTokens: 5 },
        providerBatch: { ...fast, maxRequests: 2, maxBatchesInFlight: 2 }
      }).pipe(Effect.provide(layerFor("openai!gpt-4o-mini", server)))
      assert.isTrue(rows.every((r) => r.ok && r.metadata?.via === "provider-batch"))
      assert.isAbove(server.stats.batches.batchesCreated, 2) // one refused, then created again
      const paid = [...server.batchLedger().values()]
      assert.deepStrictEqual(paid, [1, 1, 1, 1])
    }))

  it.live("structured output in a batch: the parse model's schema is sent, and rows carry the parsed value", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({})
      const Sentiment = Model.json(Schema.Struct({ sentiment: Schema.Literals(["positive", "negative"]) }))
      const { rows } = yield* Batch.run(yield* items(2), {
        via: "provider-batch",
        parse: Sentiment,
        providerBatch: fast
      })
        .pipe(Effect.provide(layerFor("openai!gpt-4o-mini", server)))
      assert.isTrue(rows.every((r) => r.ok))
      assert.deepStrictEqual(rows.map((r) => Object.keys(r.parsed as object)), [["sentiment"], ["sentiment"]])
    }))
})
