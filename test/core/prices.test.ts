/** Prices: cached input and batch rates, the built-in table, snapshot names, and what a summary costs. */
import { Batch, ChatPipeline, Dataset, Prices, Template, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

const million = 1_000_000

describe("Usage with cached input tokens", () => {
  it("adds and sums them when reported, and keeps the old shape when not", () => {
    const plain = new Usage.Usage({ inputTokens: 10, outputTokens: 5 })
    const cached = new Usage.Usage({ inputTokens: 10, outputTokens: 5, cachedInputTokens: 8 })
    expect(Usage.add(plain, plain)).toEqual(new Usage.Usage({ inputTokens: 20, outputTokens: 10 }))
    expect("cachedInputTokens" in Usage.add(plain, plain)).toBe(false)
    expect(Usage.add(plain, cached).cachedInputTokens).toBe(8)
    expect(Usage.sum([cached, plain, cached]).cachedInputTokens).toBe(16)
  })

  it("rows written before cached tokens existed still decode, and new ones round-trip", () => {
    const decode = Schema.decodeUnknownSync(Usage.Usage)
    expect(decode({ inputTokens: 3, outputTokens: 4 })).toEqual(new Usage.Usage({ inputTokens: 3, outputTokens: 4 }))
    const cached = new Usage.Usage({ inputTokens: 3, outputTokens: 4, cachedInputTokens: 2 })
    expect(Schema.encodeSync(Usage.Usage)(cached)).toEqual({ inputTokens: 3, outputTokens: 4, cachedInputTokens: 2 })
    expect(decode(Schema.encodeSync(Usage.Usage)(cached))).toEqual(cached)
  })
})

describe("Usage.cost", () => {
  const price = { inputPerMillion: 2.5, outputPerMillion: 10, cachedInputPerMillion: 1.25 }

  it("charges cached input at the cached rate, the rest at the input rate", () => {
    const usage = new Usage.Usage({ inputTokens: million, outputTokens: million, cachedInputTokens: 600_000 })
    expect(Usage.cost(usage, price)).toBeCloseTo(0.4 * 2.5 + 0.6 * 1.25 + 10)
    // without a cached price, cached input costs what input does
    expect(Usage.cost(usage, { inputPerMillion: 2.5, outputPerMillion: 10 })).toBeCloseTo(12.5)
    // more cached than input (a confused server) never costs less than nothing
    expect(Usage.cost({ inputTokens: 10, outputTokens: 0, cachedInputTokens: 50 }, price)).toBeCloseTo(
      10 * 1.25 / million
    )
  })

  it("charges batch requests at the batch rates: 50 % off by default, or as given", () => {
    const usage = new Usage.Usage({ inputTokens: million, outputTokens: million, cachedInputTokens: 400_000 })
    expect(Usage.cost(usage, price, { batch: true })).toBeCloseTo((0.6 * 2.5 + 0.4 * 1.25 + 10) / 2)
    expect(Usage.ratesOf({ ...price, batchDiscount: 0.25 }, { batch: true })).toEqual({
      input: 1.875,
      cachedInput: 0.9375,
      output: 7.5
    })
    const explicit = { inputPerMillion: 1, outputPerMillion: 4, batchInputPerMillion: 0.7, batchOutputPerMillion: 3 }
    expect(Usage.ratesOf(explicit, { batch: true })).toEqual({ input: 0.7, cachedInput: 0.7, output: 3 })
  })
})

describe("price tables", () => {
  it("a name prices its dated snapshots and -latest aliases, the longest known name first", () => {
    const table = {
      "gpt-4o": { inputPerMillion: 2.5, outputPerMillion: 10 },
      "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 },
      "claude-3-5-haiku": { inputPerMillion: 0.8, outputPerMillion: 4 }
    }
    expect(Usage.priceOf(table, "openai", "gpt-4o-mini-2024-07-18")?.inputPerMillion).toBe(0.15)
    expect(Usage.priceOf(table, "openai", "gpt-4o-2024-08-06")?.inputPerMillion).toBe(2.5)
    expect(Usage.priceOf(table, "anthropic", "claude-3-5-haiku-20241022")?.inputPerMillion).toBe(0.8)
    expect(Usage.priceOf(table, "anthropic", "claude-3-5-haiku-latest")?.inputPerMillion).toBe(0.8)
    // another model that merely starts with a known name is not that model
    expect(Usage.priceOf(table, "openai", "gpt-4o-audio-preview")).toBeUndefined()
    expect(Usage.priceOf({ o3: { inputPerMillion: 2, outputPerMillion: 8 } }, "openai", "o3-mini")).toBeUndefined()
  })

  it("the built-in table knows common OpenAI and Anthropic models, by provider", () => {
    expect(Prices.lookup("openai", "gpt-4o-mini")).toEqual({
      inputPerMillion: 0.15,
      outputPerMillion: 0.6,
      cachedInputPerMillion: 0.075
    })
    expect(Prices.lookup("openai", "gpt-3.5-turbo-instruct-0914")?.outputPerMillion).toBe(2)
    expect(Prices.lookup("openai", "gpt-4.1-nano-2025-04-14")?.inputPerMillion).toBe(0.1)
    expect(Prices.lookup("openai", "gpt-4o-2024-05-13")?.inputPerMillion).toBe(5) // a snapshot priced apart
    expect(Prices.lookup("anthropic", "claude-sonnet-4-20250514")?.outputPerMillion).toBe(15)
    expect(Prices.lookup("anthropic", "claude-opus-4-1-20250805")?.inputPerMillion).toBe(15)
    expect(Prices.lookup("anthropic", "claude-haiku-4-5")?.cachedInputPerMillion).toBe(0.1)
    // a model of the same name elsewhere is not OpenAI's
    expect(Prices.lookup("ollama", "gpt-4o-mini")).toBeUndefined()
    expect(Prices.lookup("mock", "echo")).toBeUndefined()
    expect(Prices.forGenerator("openai!o4-mini,temperature=1")?.inputPerMillion).toBe(1.1)
  })

  it("your prices win over the built-in ones, bare or qualified; builtIn: false leaves only yours", () => {
    const ours = { "gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 1 } }
    expect(Prices.lookup("openai", "gpt-4o-mini-2024-07-18", { prices: ours })?.inputPerMillion).toBe(1)
    expect(Prices.lookup("openai", "gpt-4o", { prices: ours })?.inputPerMillion).toBe(2.5)
    expect(Prices.lookup("openai", "gpt-4o", { prices: ours, builtIn: false })).toBeUndefined()
  })
})

describe("Batch.summarize prices rows", () => {
  const items = Effect.runSync(Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }, { word: "bye" }]))
  const run = (identifier: string, pipeline = ChatPipeline.make()) =>
    Effect.runSync(Batch.run(items, { pipeline }).pipe(Effect.provide(MockGenerator.echo({ identifier })))).rows

  it("from the built-in table when no prices are given, and not at all for an unknown model", () => {
    const rows = run("openai!gpt-4o-mini")
    const usage = Usage.sum(rows.map((r) => r.usage))
    expect(Batch.summarize(rows).cost).toBeCloseTo((usage.inputTokens * 0.15 + usage.outputTokens * 0.6) / million)
    expect(Batch.summarize(run("mock!echo")).cost).toBeUndefined()
    expect(Batch.summarize(rows, { builtInPrices: false }).cost).toBeUndefined()
  })

  it("with your prices over the built-in ones", () => {
    const rows = run("openai!gpt-4o-mini")
    const usage = Usage.sum(rows.map((r) => r.usage))
    const summary = Batch.summarize(rows, {
      prices: { "openai!gpt-4o-mini": { inputPerMillion: million, outputPerMillion: 0 } }
    })
    expect(summary.cost).toBe(usage.inputTokens)
  })

  it("rows answered through a provider's batch API at its batch rates", () => {
    const realtime = run("openai!gpt-4o")
    const batched = run("openai!gpt-4o", ChatPipeline.make().pipe(ChatPipeline.meta({ via: "provider-batch" })))
    expect(batched.every((r) => r.metadata?.["via"] === "provider-batch")).toBe(true)
    const full = Batch.summarize(realtime).cost!
    expect(full).toBeGreaterThan(0)
    expect(Batch.summarize(batched).cost).toBeCloseTo(full / 2)
  })

  it("cached input at the cached rate", () => {
    const [row] = run("anthropic!claude-3-5-haiku-20241022")
    const cached = new Batch.Row({
      ...row!,
      usage: new Usage.Usage({ inputTokens: million, outputTokens: 0, cachedInputTokens: million })
    })
    expect(Batch.summarize([cached]).cost).toBeCloseTo(0.08)
    expect(Batch.summarize([cached]).usage.cachedInputTokens).toBe(million)
  })
})
