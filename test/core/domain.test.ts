import {
  AuthenticationError,
  Chat,
  ConnectionError,
  ContentFiltered,
  ContextLengthExceeded,
  ExhaustedMaxRounds,
  GenerateParams,
  Generation,
  Identifier,
  InvalidRequest,
  isRetryable,
  MalformedResponse,
  Message,
  Overloaded,
  ParseError,
  QuotaExceeded,
  RateLimited,
  ServerError,
  StepFailed,
  Timeout,
  Unsupported,
  Usage
} from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Equal, pipe, Result, Schema } from "effect"

describe("GenerateParams", () => {
  it("merge: set fields of the override win, unset fields never erase", () => {
    const base = GenerateParams.make({
      temperature: 0.1,
      maxTokens: 100,
      stop: ["x"],
      providerOptions: { openai: { a: 1, b: 2 }, anthropic: { top_k: 5 } }
    })
    const merged = GenerateParams.merge(base, {
      temperature: 0.9,
      providerOptions: { openai: { b: 3 }, vllm: { c: 4 } }
    })
    expect(merged.temperature).toBe(0.9)
    expect(merged.maxTokens).toBe(100)
    expect(merged.stop).toEqual(["x"])
    // per provider, key by key: a set key wins, an unset one (or provider) is kept
    expect(merged.providerOptions).toEqual({ openai: { a: 1, b: 3 }, anthropic: { top_k: 5 }, vllm: { c: 4 } })
    expect(GenerateParams.merge(base, { seed: 1 }).providerOptions).toEqual(base.providerOptions)
    // an explicit undefined is "unset", not "erase"
    const same = GenerateParams.merge(base, { temperature: undefined } as unknown as GenerateParams.Fields)
    expect(same.temperature).toBe(0.1)
    expect(pipe(base, GenerateParams.merge({ seed: 7 })).seed).toBe(7)
    expect(base.temperature).toBe(0.1) // immutable
  })

  it("optionsFor reads the named providers' entries in order, a later name winning key by key", () => {
    const params = GenerateParams.make({ providerOptions: { openai: { user: "u", top_k: 1 }, vllm: { top_k: 20 } } })
    expect(GenerateParams.optionsFor(params, ["openai", "vllm"])).toEqual({ user: "u", top_k: 20 })
    expect(GenerateParams.optionsFor(params, ["anthropic"])).toEqual({})
    expect(pipe(params, GenerateParams.optionsFor(["vllm"]))).toEqual({ top_k: 20 })
    expect(GenerateParams.optionsFor(GenerateParams.empty, ["openai"])).toEqual({})
  })

  it("providerOptions hold JSON only, and no identifier key sets them", () => {
    expect(() => GenerateParams.make({ providerOptions: { openai: { f: (() => 1) } } })).toThrow()
    expect(GenerateParams.identifierKeys.some((k) => (k.field as string) === "providerOptions")).toBe(false)
    const parse = Identifier.parseWith([{ name: "p", settings: {} }])
    for (const key of ["providerOptions", "provider_options", "extra"]) {
      expect(Result.isFailure(parse(`p!m,${key}=x`))).toBe(true)
    }
  })

  it("validates ranges", () => {
    expect(() => GenerateParams.make({ temperature: -0.1 })).toThrow()
    expect(() => GenerateParams.make({ n: 0 })).toThrow()
    expect(() => GenerateParams.make({ maxTokens: 1.5 })).toThrow()
    expect(() => GenerateParams.make({ topP: 1.1 })).toThrow()
    expect(() => GenerateParams.make({ timeout: 0 })).toThrow()
    expect(GenerateParams.make({ presencePenalty: -2 }).presencePenalty).toBe(-2)
  })

  it("is empty until a field is set", () => {
    expect(GenerateParams.isEmpty(GenerateParams.empty)).toBe(true)
    expect(GenerateParams.isEmpty(GenerateParams.make({ n: 1 }))).toBe(false)
  })
})

describe("Usage", () => {
  it("adds and sums", () => {
    const a = new Usage.Usage({ inputTokens: 3, outputTokens: 4 })
    expect(a.totalTokens).toBe(7)
    expect(Usage.add(a, a)).toEqual(new Usage.Usage({ inputTokens: 6, outputTokens: 8 }))
    expect(Usage.sum([a, a, a]).totalTokens).toBe(21)
    expect(Usage.sum([])).toEqual(Usage.empty)
  })

  it("prices usage from a table, provider!model before model", () => {
    const usage = new Usage.Usage({ inputTokens: 2_000_000, outputTokens: 1_000_000 })
    expect(Usage.cost(usage, { inputPerMillion: 0.15, outputPerMillion: 0.6 })).toBeCloseTo(0.9)
    const table: Usage.PriceTable = {
      "gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 1 },
      "azure!gpt-4o-mini": new Usage.Price({ inputPerMillion: 2, outputPerMillion: 2 })
    }
    expect(Usage.priceOf(table, "openai", "gpt-4o-mini")?.inputPerMillion).toBe(1)
    expect(Usage.priceOf(table, "azure", "gpt-4o-mini")?.inputPerMillion).toBe(2)
    expect(Usage.priceOf(table, "openai", "gpt-4o")).toBeUndefined()
  })
})

describe("Message", () => {
  it("normalizes inputs; a string is one user message, never split", () => {
    expect(Message.fromInput("Hello there")).toEqual([Message.user("Hello there")])
    expect(Message.fromInput(["a", { role: "system", content: "s" }, Message.assistant("b")]).map((m) => m.role))
      .toEqual(["user", "system", "assistant"])
    expect(Message.render([Message.user("Hi"), Message.assistant("Hello")])).toBe("[user]: Hi\n\n[assistant]: Hello")
  })
})

describe("Generation", () => {
  it("normalizes stop reasons", () => {
    expect(Generation.normalizeStopReason("stop")).toBe("stop")
    expect(Generation.normalizeStopReason("end_turn")).toBe("stop")
    expect(Generation.normalizeStopReason("length")).toBe("length")
    expect(Generation.normalizeStopReason("max_tokens")).toBe("length")
    expect(Generation.normalizeStopReason("tool_use")).toBe("tool_calls")
    expect(Generation.normalizeStopReason("content_filter")).toBe("content_filter")
    expect(Generation.normalizeStopReason(null)).toBe("unknown")
  })
})

describe("Errors", () => {
  const p = { provider: "openai", detail: "d" }
  it("classifies retryable errors per DESIGN.md", () => {
    const retryable = [
      new RateLimited(p),
      new Overloaded({ ...p, status: 529 }),
      new ServerError({ ...p, status: 500 }),
      new Timeout(p),
      new ConnectionError(p),
      new MalformedResponse(p)
    ]
    const fatal = [
      new AuthenticationError({ ...p, status: 401 }),
      new InvalidRequest(p),
      new ContextLengthExceeded(p),
      new ContentFiltered(p),
      new QuotaExceeded({ ...p, status: 429 }),
      new Unsupported(p)
    ]
    expect(retryable.map(isRetryable)).toEqual(retryable.map(() => true))
    expect(fatal.map(isRetryable)).toEqual(fatal.map(() => false))
    expect(isRetryable(new Error("x"))).toBe(false)
  })

  it("writes readable messages", () => {
    expect(new RateLimited({ ...p, retryAfterMs: 1500 }).message).toBe("Rate limited (openai): d (retry after 1500 ms)")
    expect(new ServerError({ ...p, status: 502 }).message).toBe("Server error (HTTP 502) (openai): d")
    expect(new StepFailed({ step: "then", cause: new Error("boom") }).message).toBe(`Pipeline step "then" failed: boom`)
  })
})

const chatOf = (fields: Partial<Chat.Fields> = {}) =>
  new Chat.Chat({
    messages: [Message.system("Be brief"), Message.user("Hi")],
    generated: [Message.assistant("Hello!")],
    metadata: { source: "test", tags: ["a", 1, null] },
    generator: "mock!echo,temperature=0.5",
    params: GenerateParams.make({ temperature: 0.5, stop: ["\n"] }),
    usage: new Usage.Usage({ inputTokens: 5, outputTokens: 2 }),
    stopReason: "stop",
    startedAt: 1_700_000_000_000,
    durationMs: 12,
    ...fields
  })

describe("Chat", () => {
  it("renders its conversation", () => {
    const chat = chatOf()
    expect(chat.conversation).toBe("[system]: Be brief\n\n[user]: Hi\n\n[assistant]: Hello!")
    expect(Chat.conversation(chat)).toBe(chat.conversation)
    expect(chat.last?.text).toBe("Hello!")
    expect(chat.all).toHaveLength(3)
    expect(chat.failed).toBe(false)
  })

  it.effect("encodes to JSON and decodes back to an equal chat", () =>
    Effect.gen(function*() {
      const chat = chatOf()
      const text = JSON.stringify(Chat.encodeSync(chat))
      const back = yield* Chat.decode(JSON.parse(text))
      expect(back).toEqual(chat)
      expect(back).toBeInstanceOf(Chat.Chat)
      expect(back.params).toBeInstanceOf(GenerateParams.GenerateParams)
    }))

  it.effect("a failed chat keeps its typed error through JSON", () =>
    Effect.gen(function*() {
      const failed = chatOf({
        generated: [Message.assistant("no tags")],
        error: new ExhaustedMaxRounds({
          rounds: 5,
          lastError: new ParseError({ model: "answer", reason: "Missing tags" })
        })
      })
      const back = yield* Chat.decode(JSON.parse(JSON.stringify(Chat.encodeSync(failed))))
      expect(back.failed).toBe(true)
      const error = back.error
      if (error?._tag !== "ExhaustedMaxRounds") throw new Error("lost the error tag")
      expect(error).toBeInstanceOf(ExhaustedMaxRounds)
      expect(error.rounds).toBe(5)
      expect(error.lastError.reason).toBe("Missing tags")
      for (
        const e of [
          new RateLimited({ provider: "x", detail: "y", retryAfterMs: 10 }),
          new StepFailed({ step: "map", cause: new Error("bad") })
        ]
      ) {
        const round = yield* Chat.decode(JSON.parse(JSON.stringify(Chat.encodeSync(chatOf({ error: e })))))
        expect(round.error?._tag).toBe(e._tag)
        expect(round.error?.message).toBe(e.message)
      }
    }))

  it("rejects malformed JSON with a SchemaError", () => {
    const result = Schema.decodeUnknownResult(Chat.Chat)({ messages: "nope" })
    expect(Result.isFailure(result)).toBe(true)
  })

  it("adds metadata without losing the rest", () => {
    const chat = pipe(chatOf(), Chat.withMetadata({ reviewed: true }))
    expect(chat.metadata).toEqual({ source: "test", tags: ["a", 1, null], reviewed: true })
  })
})

describe("Identifier equality", () => {
  it("ignores key order", () => {
    const providers = [{ name: "p", settings: {} }]
    const a = Result.getOrThrow(Identifier.parseWith(providers)("p!m,temperature=1,seed=2"))
    const b = Result.getOrThrow(Identifier.parseWith(providers)("p!m,seed=2,temperature=1"))
    expect(Equal.equals(a, b)).toBe(true)
    expect(Identifier.format(b)).toBe("p!m,seed=2,temperature=1")
  })
})
