/**
 * Packed completions (batch-prompt's `queries_per_batch`) through the real `openai` SDK against the fake server:
 * several items' prompts in one legacy completions request, split back into rows one per prompt and choice.
 */
import { Batch, CompletionPipeline, Dataset, Engine, Generator, RetryPolicy, Template, Usage } from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FakeProvider, type FakeProviderOptions, type FakeProviderServer } from "../support/FakeProvider.js"
import { generatorFor } from "./harness.js"

const KEY = "sk-test-openai-0123456789"

const tokens = (text: string) => Math.ceil(text.length / 4)

/** An `openai` completion model on the fake server, run through an engine of its own with quick retries. */
const setUp = (options: FakeProviderOptions = {}, identifier = "openai!gpt-3.5-turbo-instruct") =>
  Effect.gen(function*() {
    const server = yield* FakeProvider.scoped(options)
    const raw = yield* generatorFor(identifier, { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: server.openaiBaseUrl })
    const generator = yield* Engine.applyDefault(raw, {
      retry: new RetryPolicy.RetryPolicy({ baseDelayMs: 1, maxDelayMs: 5, maxRetries: 2 })
    })
    return { server, generator }
  })

const template = Template.make("Q: {question}\nA:")
const questions = Array.from({ length: 10 }, (_, i) => ({ id: `q${i}`, question: `what is ${i} + ${"1".repeat(i)}?` }))
const promptOf = (question: string) => Template.renderText(template, { question })

/** The prompt arrays of the legacy completion requests the server received, in arrival order. */
const packsOf = (server: FakeProviderServer): ReadonlyArray<ReadonlyArray<string>> =>
  server.requests.map((r) => (r.body as { prompt: ReadonlyArray<string> }).prompt)

/** A batch of the ten questions through a completion pipeline, packing up to four prompts per request. */
const runBatch = (generator: Generator.Service, options: Omit<Batch.Options, "cache"> = {}) =>
  Effect.gen(function*() {
    const items = yield* Dataset.validate(template, questions)
    return yield* Batch.run(items, {
      pipeline: CompletionPipeline.make(),
      promptsPerRequest: 4,
      concurrency: 16,
      ...options
    })
  }).pipe(Effect.provideService(Generator.Generator, generator))

/** Every row's usage, summed. */
const total = (rows: ReadonlyArray<Batch.Row>) => Usage.sum(rows.map((row) => row.usage))

describe("packed completions over the openai SDK", () => {
  it.live("10 prompts, 4 per request: 3 requests, one row per prompt and choice in its place, usage as charged", () =>
    Effect.gen(function*() {
      // Choices come back last first: rows must be placed by the choices' index, not their position.
      const { generator, server } = yield* setUp({ choiceOrder: "reversed" })
      const { rows, summary } = yield* runBatch(generator, { params: { n: 2 } })

      const packs = packsOf(server)
      assert.strictEqual(packs.length, 3)
      assert.deepStrictEqual(packs.map((p) => p.length).sort(), [2, 4, 4])
      assert.deepStrictEqual(packs.flat().sort(), questions.map((q) => promptOf(q.question)).sort())
      for (const request of server.requests) {
        assert.strictEqual(request.path, "/v1/completions")
        assert.strictEqual((request.body as { n: number }).n, 2)
      }

      assert.strictEqual(rows.length, 20)
      assert.deepStrictEqual(rows.map((r) => [r.id, r.choice]), questions.flatMap((q) => [[q.id, 0], [q.id, 1]]))
      for (const row of rows) {
        const question = questions.find((q) => q.id === row.id)!.question
        assert.strictEqual(row.output, `echo: ${promptOf(question)}`)
        assert.strictEqual(row.error, undefined)
      }
      // Usage: what the server charged (its prompts' and answers' tokens), split among the rows without a token lost.
      const charged = packs.flat().reduce((sum, p) => sum + tokens(p), 0)
      assert.strictEqual(total(rows).inputTokens, charged)
      assert.strictEqual(total(rows).totalTokens, server.stats.tokensCharged)
      assert.deepStrictEqual(summary.usage, total(rows))
      // Each pack's usage is on the first choice of each of its prompts; requests are counted once per pack.
      for (const row of rows.filter((r) => r.choice === 1)) assert.strictEqual(row.usage.totalTokens, 0)
      for (const row of rows.filter((r) => r.choice === 0)) assert.isAbove(row.usage.inputTokens, 0)
      assert.strictEqual(summary.attempts, 3)
      const places = rows.filter((r) => r.choice === 0).map((r) => r.metadata?.["packed"] as { prompts: number })
      assert.deepStrictEqual(places.map((p) => p.prompts).sort(), [2, 2, 4, 4, 4, 4, 4, 4, 4, 4])
    }))

  it.live("a pack that keeps failing fails every one of its prompts' rows, its requests counted once", () =>
    Effect.gen(function*() {
      const doomed = promptOf(questions[5]!.question)
      const { generator, server } = yield* setUp({
        respond: (request) => (request.prompt === doomed ? { fault: "server-error" } : undefined)
      })
      const { rows, summary } = yield* runBatch(generator)

      const failing = packsOf(server).find((pack) => pack.includes(doomed))!
      // Retried whole: the first attempt and two retries, the same prompts each time.
      assert.strictEqual(packsOf(server).filter((pack) => pack.includes(doomed)).length, 3)
      const failed = rows.filter((r) => r.error !== undefined)
      assert.deepStrictEqual(
        failed.map((r) => promptOf(questions.find((q) => q.id === r.id)!.question)).sort(),
        [...failing].sort()
      )
      for (const row of failed) assert.strictEqual(row.error?._tag, "ServerError")
      assert.strictEqual(failed.reduce((sum, r) => sum + r.attempts, 0), 3)
      assert.strictEqual(summary.attempts, server.stats.requests)
      assert.strictEqual(summary.ok, 10 - failing.length)
      assert.strictEqual(total(failed).totalTokens, 0)
    }))

  it.live("prompts with different params never share a request", () =>
    Effect.gen(function*() {
      const { generator, server } = yield* setUp()
      const inputs = questions.map((q) => q.question)
      const chats = yield* CompletionPipeline.make("Q: ").pipe(
        CompletionPipeline.runBatch(inputs, {
          params: inputs.map((_, i) => ({ temperature: i % 2 === 0 ? 0 : 1 })),
          promptsPerRequest: 4
        }),
        Effect.provideService(Generator.Generator, generator)
      )
      // five prompts at each temperature: a pack of four and one alone, twice
      assert.strictEqual(server.requests.length, 4)
      for (const request of server.requests) {
        const body = request.body as { prompt: string | ReadonlyArray<string>; temperature: number }
        const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt
        for (const prompt of prompts) {
          const index = inputs.findIndex((input) => `Q: ${input}` === prompt)
          assert.strictEqual(index % 2 === 0 ? 0 : 1, body.temperature)
        }
      }
      assert.deepStrictEqual(chats.map((c) => CompletionPipeline.text(c)), inputs.map((input) => `echo: Q: ${input}`))
      assert.deepStrictEqual(chats.map((c) => c.params.temperature), inputs.map((_, i) => (i % 2 === 0 ? 0 : 1)))
    }))

  it.live("a server that takes one prompt per request (Ollama) gets each prompt alone, and the rows say so", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* generatorFor("ollama!llama3.1", { OLLAMA_API_BASE: server.url })
      const { rows } = yield* runBatch(generator)
      assert.strictEqual(server.requests.length, 10)
      for (const request of server.requests) assert.isString((request.body as { prompt: unknown }).prompt)
      for (const row of rows) {
        assert.include(row.warnings?.[0], "promptsPerRequest=4: ollama!llama3.1 takes one prompt per request")
        assert.strictEqual(row.metadata?.["packed"], undefined)
      }
    }))
})
