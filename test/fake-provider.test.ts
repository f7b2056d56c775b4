import Anthropic from "@anthropic-ai/sdk"
import { Effect, Schema } from "effect"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  FakeProvider,
  type FakeProviderOptions,
  type FakeProviderServer,
  type FakeRequest,
  FAULT_KINDS,
  type FaultKind,
  formatGoDuration,
  type HeaderStyle,
  IMAGE_TOKENS,
  sampleFromSchema
} from "./support/FakeProvider.js"

const openai = (server: FakeProviderServer, timeout = 2_000) =>
  new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test-123", maxRetries: 0, timeout })
const anthropic = (server: FakeProviderServer, timeout = 2_000) =>
  new Anthropic({ baseURL: server.anthropicBaseUrl, apiKey: "ak-test-456", maxRetries: 0, timeout })

const chat = (client: OpenAI, content = "hi") =>
  client.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content }] })
const message = (client: Anthropic, content = "hi") =>
  client.messages.create({ model: "claude-fake", max_tokens: 64, messages: [{ role: "user", content }] })

/** Runs `body` against a fresh server, always closing it. */
const withServer = async <A>(
  options: FakeProviderOptions,
  body: (server: FakeProviderServer) => Promise<A>
): Promise<A> => {
  const server = await FakeProvider.start(options)
  try {
    return await body(server)
  } finally {
    await server.close()
  }
}

/** Settles a promise into its value or its rejection, for asserting on errors. */
const settle = <A>(p: Promise<A>): Promise<{ ok: true; value: A } | { ok: false; error: unknown }> =>
  p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))

const rejection = async (p: Promise<unknown>): Promise<unknown> => {
  const r = await settle(p)
  if (r.ok) throw new Error("expected a rejection")
  return r.error
}

let shared: FakeProviderServer
beforeAll(async () => {
  shared = await FakeProvider.start()
})
afterAll(() => shared.close())

describe("OpenAI wire format", () => {
  it("answers chat with n choices, usage and the completion envelope", async () => {
    const res = await openai(shared).chat.completions.create({
      model: "gpt-fake",
      n: 3,
      messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "hello there" }]
    })
    expect(res.object).toBe("chat.completion")
    expect(res.model).toBe("gpt-fake")
    expect(res.id).toMatch(/^chatcmpl-/)
    expect(typeof res.created).toBe("number")
    expect(res.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, "echo: hello there", "stop"],
      [1, "echo: hello there", "stop"],
      [2, "echo: hello there", "stop"]
    ])
    // prompt: ceil((14 + 11) / 4) = 7; answer: ceil(17 / 4) = 5 per choice
    expect(res.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 15, total_tokens: 22 })
  })

  it("truncates to max_tokens with finish_reason length, and honours stop", async () => {
    const client = openai(shared)
    const long = await client.chat.completions.create({
      model: "m",
      max_completion_tokens: 2,
      messages: [{ role: "user", content: "hello there" }]
    })
    expect(long.choices[0]?.message.content).toBe("echo: he")
    expect(long.choices[0]?.finish_reason).toBe("length")
    expect(long.usage?.completion_tokens).toBe(2)
    const stopped = await client.chat.completions.create({
      model: "m",
      stop: ["there"],
      messages: [{ role: "user", content: "hello there" }]
    })
    expect(stopped.choices[0]?.message.content).toBe("echo: hello ")
    expect(stopped.choices[0]?.finish_reason).toBe("stop")
  })

  it("answers json_schema requests with a document that decodes with the schema", async () => {
    const Item = Schema.Struct({ sku: Schema.String, qty: Schema.Int, tags: Schema.Array(Schema.String) })
    const Order = Schema.Struct({
      id: Schema.Int,
      status: Schema.Literals(["open", "closed"]),
      items: Schema.Array(Item),
      note: Schema.NullOr(Schema.String),
      paid: Schema.Boolean,
      total: Schema.Finite,
      coupon: Schema.optionalKey(Schema.String)
    })
    const doc = Schema.toJsonSchemaDocument(Order)
    const schema = Object.keys(doc.definitions).length > 0 ? { ...doc.schema, $defs: doc.definitions } : doc.schema
    const res = await openai(shared).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "make an order" }],
      response_format: {
        type: "json_schema",
        json_schema: { name: "order", strict: true, schema }
      }
    })
    const order = Schema.decodeUnknownSync(Schema.fromJsonString(Order))(res.choices[0]?.message.content ?? "")
    expect(order.status).toBe("open")
    expect(order.items).toHaveLength(1)
  })

  it("walks $ref, anyOf, const, enum, bounds and formats in hand-written schemas", () => {
    const value = sampleFromSchema({
      type: "object",
      required: ["kind", "child", "choice", "when", "n", "list"],
      properties: {
        kind: { const: "fixed" },
        child: { $ref: "#/$defs/Child" },
        choice: { anyOf: [{ type: "null" }, { type: "string", enum: ["b", "a"] }] },
        when: { type: "string", format: "date-time" },
        n: { type: "integer", minimum: 10, maximum: 20, multipleOf: 3 },
        list: { type: "array", items: { type: "number", exclusiveMinimum: 5 }, minItems: 2 },
        nullable: { type: ["null", "boolean"] },
        short: { type: "string", minLength: 8, maxLength: 9 }
      },
      $defs: { Child: { type: "object", properties: { self: { $ref: "#/definitions/Leaf" } } } },
      definitions: { Leaf: { type: "string" } }
    })
    expect(value).toEqual({
      kind: "fixed",
      child: { self: "sample" },
      choice: "b",
      when: "2026-01-01T00:00:00Z",
      n: 12,
      list: [5.5, 5.5],
      nullable: true,
      short: "samplexx"
    })
    // Recursive schemas terminate.
    expect(
      sampleFromSchema({
        $ref: "#/$defs/T",
        $defs: { T: { type: "object", properties: { next: { $ref: "#/$defs/T" } } } }
      })
    )
      .toBeTypeOf("object")
  })

  it("forces a function tool call (finish_reason stop, like the real API)", async () => {
    const res = await openai(shared).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "weather?" }],
      tools: [{
        type: "function",
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        }
      }],
      tool_choice: { type: "function", function: { name: "get_weather" } }
    })
    const call = res.choices[0]?.message.tool_calls?.[0]
    expect(call?.type === "function" ? [call.function.name, JSON.parse(call.function.arguments)] : undefined)
      .toEqual(["get_weather", { city: "sample" }])
    expect(res.choices[0]?.finish_reason).toBe("stop")
  })

  it("answers legacy completions for string-array prompts with n choices each", async () => {
    const res = await openai(shared).completions.create({ model: "davinci-fake", prompt: ["a", "b"], n: 2 })
    expect(res.object).toBe("text_completion")
    expect(res.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual([
      [0, "echo: a", "stop"],
      [1, "echo: a", "stop"],
      [2, "echo: b", "stop"],
      [3, "echo: b", "stop"]
    ])
    expect(res.usage).toEqual({ prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 })
  })

  it("refuses stream: true on legacy completions with an OpenAI-shaped 400 (chat streams: fake-provider-streaming)", async () => {
    const error = await rejection(openai(shared).completions.create({ model: "m", stream: true, prompt: "x" }))
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("stream")
  })
})

describe("Anthropic wire format", () => {
  it("answers with text blocks, system counted in usage, stop_sequences honoured", async () => {
    const res = await anthropic(shared).messages.create({
      model: "claude-fake",
      max_tokens: 100,
      system: "Be brief.",
      stop_sequences: ["STOP"],
      messages: [{ role: "user", content: "hello STOP world" }]
    })
    expect(res).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-fake",
      stop_reason: "stop_sequence",
      stop_sequence: "STOP"
    })
    expect(res.id).toMatch(/^msg_/)
    expect(res.content).toEqual([{ type: "text", text: "echo: hello ", citations: null }])
    // input: ceil((9 + 16) / 4) = 7; output: ceil(12 / 4) = 3
    expect(res.usage).toMatchObject({ input_tokens: 7, output_tokens: 3 })
  })

  it("reports max_tokens and end_turn", async () => {
    const client = anthropic(shared)
    const cut = await client.messages.create({
      model: "c",
      max_tokens: 1,
      messages: [{ role: "user", content: "hello" }]
    })
    expect([cut.stop_reason, cut.content[0]?.type === "text" ? cut.content[0].text : undefined]).toEqual([
      "max_tokens",
      "echo"
    ])
    expect((await message(client)).stop_reason).toBe("end_turn")
  })

  it("answers a forced tool with a tool_use block whose input follows input_schema", async () => {
    const res = await anthropic(shared).messages.create({
      model: "claude-fake",
      max_tokens: 200,
      messages: [{ role: "user", content: "extract" }],
      tools: [
        { name: "other", input_schema: { type: "object", properties: {} } },
        {
          name: "extract",
          input_schema: {
            type: "object",
            properties: {
              name: { type: "string" },
              age: { type: "integer", minimum: 18 },
              role: { enum: ["admin", "user"] }
            },
            required: ["name", "age"]
          }
        }
      ],
      tool_choice: { type: "tool", name: "extract" }
    })
    expect(res.stop_reason).toBe("tool_use")
    expect(res.content).toEqual([{
      type: "tool_use",
      id: expect.stringMatching(/^toolu_/),
      name: "extract",
      input: { name: "sample", age: 18, role: "admin" }
    }])
  })

  it("answers output_config json_schema with JSON text", async () => {
    const res = await anthropic(shared).messages.create({
      model: "c",
      max_tokens: 200,
      messages: [{ role: "user", content: "json please" }],
      output_config: {
        format: {
          type: "json_schema",
          schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] }
        }
      }
    })
    const block = res.content[0]
    expect(block?.type === "text" ? JSON.parse(block.text) : undefined).toEqual({ ok: true })
  })
})

describe("content parts and tool calls", () => {
  const PNG = "iVBORw0KGgo="

  it("OpenAI: reads text and image_url parts, assistant tool_calls and tool messages, counting images in usage", async () => {
    const seen: Array<FakeRequest> = []
    await withServer({ respond: (req) => void seen.push(req) }, async (server) => {
      const res = await openai(server).chat.completions.create({
        model: "m",
        messages: [
          {
            role: "user",
            content: [{ type: "text", text: "what is it?" }, {
              type: "image_url",
              image_url: { url: "https://x.test/a.png" }
            }]
          },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "look", arguments: "{\"zoom\":2}" } }]
          },
          { role: "tool", tool_call_id: "c1", content: "a cat" },
          { role: "user", content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } }] }
        ]
      })
      const text = "what is it?" + "{\"zoom\":2}" + "a cat"
      expect(res.usage?.prompt_tokens).toBe(Math.ceil(text.length / 4) + 2 * IMAGE_TOKENS)
      expect(seen[0]?.messages.map((m) => [m.role, m.text, m.images, m.toolCalls, m.toolResults])).toEqual([
        ["user", "what is it?", 1, [], []],
        ["assistant", "", 0, [{ id: "c1", name: "look", input: { zoom: 2 } }], []],
        ["tool", "a cat", 0, [], [{ id: "c1", content: "a cat", isError: false }]],
        ["user", "", 1, [], []]
      ])
    })
  })

  it("OpenAI: refuses what the real API refuses with a 400 naming the parameter", async () => {
    const client = openai(shared)
    const refused = async (messages: Array<unknown>) => {
      const error = await rejection(client.chat.completions.create({ model: "m", messages } as never))
      expect(error).toBeInstanceOf(OpenAI.BadRequestError)
      return (error as InstanceType<typeof OpenAI.BadRequestError>).message
    }
    const call = {
      role: "assistant",
      content: "",
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]
    }
    expect(
      await refused([{ role: "system", content: [{ type: "image_url", image_url: { url: "https://x.test/a.png" } }] }])
    )
      .toMatch(/Invalid value: 'image_url'/)
    expect(await refused([{ role: "user", content: "q" }, { role: "tool", tool_call_id: "nope", content: "r" }]))
      .toMatch(/must be a response to a preceeding message with 'tool_calls'/)
    expect(await refused([{ role: "user", content: "q" }, call, { role: "user", content: "next" }])).toMatch(
      /did not have response messages: c1/
    )
    expect(
      await refused([{
        role: "user",
        content: [{ type: "image_url", image_url: { url: "data:text/plain;base64,aGk=" } }]
      }])
    )
      .toMatch(/Invalid image URL/)
    expect(
      await refused([{ role: "user", content: "q" }, {
        ...call,
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: {} } }]
      }])
    )
      .toMatch(/tool_calls\[0\]/)
  })

  it("Anthropic: reads image, tool_use and tool_result blocks, counting images in usage", async () => {
    const seen: Array<FakeRequest> = []
    await withServer({ respond: (req) => void seen.push(req) }, async (server) => {
      const res = await anthropic(server).messages.create({
        model: "c",
        max_tokens: 100,
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "what is it?" },
              { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
              { type: "image", source: { type: "url", url: "https://x.test/a.png" } }
            ]
          },
          { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "look", input: { zoom: 2 } }] },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "t1", content: "a cat", is_error: true }, {
              type: "text",
              text: "so?"
            }]
          }
        ]
      })
      expect(res.usage.input_tokens).toBe(
        Math.ceil(("what is it?" + "{\"zoom\":2}" + "a catso?").length / 4) + 2 * IMAGE_TOKENS
      )
      expect(seen[0]?.messages.map((m) => [m.role, m.images, m.toolCalls, m.toolResults])).toEqual([
        ["user", 2, [], []],
        ["assistant", 0, [{ id: "t1", name: "look", input: { zoom: 2 } }], []],
        ["user", 0, [], [{ id: "t1", content: "a cat", isError: true }]]
      ])
    })
  })

  it("Anthropic: refuses what the real API refuses with a 400", async () => {
    const client = anthropic(shared)
    const refused = async (messages: Array<unknown>) => {
      const error = await rejection(client.messages.create({ model: "c", max_tokens: 10, messages } as never))
      expect(error).toBeInstanceOf(Anthropic.BadRequestError)
      return (error as InstanceType<typeof Anthropic.BadRequestError>).message
    }
    const use = { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "f", input: {} }] }
    const result = { type: "tool_result", tool_use_id: "t1", content: "r" }
    expect(await refused([{ role: "system", content: "s" }])).toMatch(/Unexpected role .*system/)
    expect(await refused([{ role: "user", content: "a" }, { role: "user", content: "b" }])).toMatch(
      /roles must alternate/
    )
    expect(await refused([{ role: "user", content: [{ type: "text", text: "" }] }])).toMatch(/non-empty/)
    expect(
      await refused([{
        role: "user",
        content: [{ type: "image", source: { type: "base64", media_type: "image/bmp", data: PNG } }]
      }])
    )
      .toMatch(/media_type/)
    expect(await refused([{ role: "user", content: "q" }, use, { role: "user", content: "next" }])).toMatch(
      /without `tool_result` blocks/
    )
    expect(
      await refused([{ role: "user", content: "q" }, use, {
        role: "user",
        content: [{ type: "text", text: "x" }, result]
      }])
    )
      .toMatch(/must come first/)
    expect(await refused([{ role: "user", content: [{ ...result, tool_use_id: "zz" }] }])).toMatch(
      /unexpected `tool_use_id`/
    )
    expect(
      await refused([{
        role: "assistant",
        content: [{ type: "image", source: { type: "url", url: "https://x.test/a.png" } }]
      }])
    )
      .toMatch(/not a valid assistant content block/)
  })

  it("answers with scripted tool calls: OpenAI tool_calls (finish_reason tool_calls), Anthropic tool_use blocks", async () => {
    await withServer({
      respond: (req) => ({
        ...(req.prompt === "both" ? { text: "Let me look." } : {}),
        toolCalls: [{ name: "look", input: { zoom: 2 } }, { id: "mine", name: "read", input: {} }]
      })
    }, async (server) => {
      const chatRes = await openai(server).chat.completions.create({
        model: "m",
        n: 2,
        messages: [{ role: "user", content: "both" }]
      })
      expect(chatRes.choices.map((c) => c.finish_reason)).toEqual(["tool_calls", "tool_calls"])
      const choice = chatRes.choices[0]!.message
      expect(choice.content).toBe("Let me look.")
      expect(choice.tool_calls).toEqual([
        { id: "call_fake0_0", type: "function", function: { name: "look", arguments: "{\"zoom\":2}" } },
        { id: "mine", type: "function", function: { name: "read", arguments: "{}" } }
      ])
      const msg = await anthropic(server).messages.create({
        model: "c",
        max_tokens: 100,
        messages: [{ role: "user", content: "only calls" }]
      })
      expect(msg.stop_reason).toBe("tool_use")
      expect(msg.content).toEqual([
        { type: "tool_use", id: "toolu_fake1_0", name: "look", input: { zoom: 2 } },
        { type: "tool_use", id: "mine", name: "read", input: {} }
      ])
      const legacy = await openai(server).completions.create({ model: "m", prompt: "x" })
      expect(JSON.parse(legacy.choices[0]!.text)).toEqual([{ name: "look", input: { zoom: 2 } }, {
        id: "mine",
        name: "read",
        input: {}
      }])
    })
  })
})

describe("scripted answers", () => {
  it("passes the normalized request to respond and uses its reply", async () => {
    const seen: Array<FakeRequest> = []
    await withServer({
      respond: (req) => {
        seen.push(req)
        if (req.prompt === "fail") return { error: { status: 418, message: "teapot" } }
        if (req.prompt === "default") return undefined
        return `custom:${req.api}:${req.model}`
      }
    }, async (server) => {
      const oa = openai(server)
      const res = await oa.chat.completions.create({
        model: "m1",
        max_tokens: 50,
        messages: [{ role: "developer", content: "sys" }, { role: "user", content: "q" }]
      })
      expect(res.choices[0]?.message.content).toBe("custom:openai-chat:m1")
      expect((await chat(oa, "default")).choices[0]?.message.content).toBe("echo: default")
      const error = await rejection(chat(oa, "fail"))
      expect(error).toBeInstanceOf(OpenAI.APIError)
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(418)
      const msg = await message(anthropic(server), "q2")
      expect(msg.content[0]).toMatchObject({ type: "text", text: "custom:anthropic:claude-fake" })
    })
    expect(seen[0]).toMatchObject({
      seq: 0,
      api: "openai-chat",
      path: "/v1/chat/completions",
      model: "m1",
      system: "sys",
      prompt: "q",
      maxTokens: 50,
      n: 1
    })
    expect(seen[0]?.messages).toEqual([
      { role: "developer", text: "sys", images: 0, toolCalls: [], toolResults: [] },
      { role: "user", text: "q", images: 0, toolCalls: [], toolResults: [] }
    ])
    expect(seen[0]?.headers["authorization"]).toBe("Bearer sk-test-123")
    expect(seen[3]).toMatchObject({ api: "anthropic", prompt: "q2", maxTokens: 64 })
  })

  it("calls respond once per legacy prompt, and a reply can force a fault", async () => {
    await withServer(
      { respond: (req) => (req.prompt === "boom" ? { fault: "server-error" } : `#${req.promptIndex}`) },
      async (server) => {
        const oa = openai(server)
        const res = await oa.completions.create({ model: "m", prompt: ["x", "y"] })
        expect(res.choices.map((c) => c.text)).toEqual(["#0", "#1"])
        expect(await rejection(oa.completions.create({ model: "m", prompt: "boom" }))).toBeInstanceOf(
          OpenAI.InternalServerError
        )
        expect(server.stats.faults).toEqual({ "server-error": 1 })
      }
    )
  })

  it("answers a packed prompt array like the API: n choices per prompt by index, one usage, one failure for all", async () => {
    const replies: Record<string, string> = { "Paris is": "in France", "Rome": "in Italy, the capital of a country" }
    await withServer({ respond: (req) => replies[req.prompt] }, async (server) => {
      const oa = openai(server)
      const prompts = ["Paris is", "Rome", "Bern"]
      const res = await oa.completions.create({ model: "m", prompt: prompts, n: 2, max_tokens: 4, logprobs: 1 })
      expect(res.choices.map((c) => [c.index, c.text])).toEqual([
        [0, "in France"],
        [1, "in France"],
        [2, "in Italy, the ca"], // cut at 4 × max_tokens characters
        [3, "in Italy, the ca"],
        [4, "echo: Bern"],
        [5, "echo: Bern"]
      ])
      expect(res.choices.map((c) => c.finish_reason)).toEqual(["stop", "stop", "length", "length", "stop", "stop"])
      expect(res.choices.every((c) => c.logprobs?.tokens?.join("") === c.text)).toBe(true)
      // one usage: every prompt's tokens, every choice's output
      const promptTokens = prompts.reduce((sum, p) => sum + Math.ceil(p.length / 4), 0)
      const outputTokens = 2 * (Math.ceil("in France".length / 4) + 4 + Math.ceil("echo: Bern".length / 4))
      expect(res.usage).toEqual({
        prompt_tokens: promptTokens,
        completion_tokens: outputTokens,
        total_tokens: promptTokens + outputTokens
      })
      expect(server.stats.requests).toBe(1)
      expect(server.stats.tokensCharged).toBe(promptTokens + 3 * 2 * 4)

      server.configure({ respond: (req) => (req.promptIndex === 1 ? { error: { status: 400, message: "no" } } : "ok") })
      expect(await rejection(oa.completions.create({ model: "m", prompt: ["a", "b", "c"] }))).toBeInstanceOf(
        OpenAI.BadRequestError
      )
    })
  })

  it("can send choices in reverse order, and report cached prompt tokens", async () => {
    await withServer({ choiceOrder: "reversed", cachedPromptTokens: 3 }, async (server) => {
      const packed = await openai(server).completions.create({ model: "m", prompt: ["a", "b"] })
      expect(packed.choices.map((c) => [c.index, c.text])).toEqual([[1, "echo: b"], [0, "echo: a"]])
      const answer = await chat(openai(server), "a prompt of five tokens")
      expect(answer.usage?.prompt_tokens).toBe(6)
      expect(answer.usage?.prompt_tokens_details?.cached_tokens).toBe(3)
      const claude = await message(anthropic(server), "short")
      // Anthropic counts cache reads apart from input_tokens
      expect([claude.usage.input_tokens, claude.usage.cache_read_input_tokens]).toEqual([0, 2])
    })
  })
})

type ErrorClass = abstract new(...args: never) => unknown
interface Expectation {
  readonly openai: ErrorClass | "ok"
  readonly anthropic: ErrorClass | "ok"
  readonly status?: number
}

// What each SDK raises for each fault (see README "SDK quirks").
const EXPECTED: Readonly<Record<FaultKind, Expectation>> = {
  "rate-limit": { openai: OpenAI.RateLimitError, anthropic: Anthropic.RateLimitError, status: 429 },
  quota: { openai: OpenAI.RateLimitError, anthropic: Anthropic.EnforcedSpendLimitReachedError, status: 429 },
  "server-error": { openai: OpenAI.InternalServerError, anthropic: Anthropic.InternalServerError, status: 500 },
  unavailable: { openai: OpenAI.InternalServerError, anthropic: Anthropic.ServiceUnavailableError, status: 503 },
  overloaded: { openai: OpenAI.InternalServerError, anthropic: Anthropic.OverloadedError, status: 529 },
  "bad-request": { openai: OpenAI.BadRequestError, anthropic: Anthropic.BadRequestError, status: 400 },
  unauthorized: { openai: OpenAI.AuthenticationError, anthropic: Anthropic.AuthenticationError, status: 401 },
  forbidden: { openai: OpenAI.PermissionDeniedError, anthropic: Anthropic.PermissionDeniedError, status: 403 },
  "not-found": { openai: OpenAI.NotFoundError, anthropic: Anthropic.NotFoundError, status: 404 },
  "too-large": { openai: OpenAI.APIError, anthropic: Anthropic.ContentTooLargeError, status: 413 },
  "context-length": { openai: OpenAI.BadRequestError, anthropic: Anthropic.BadRequestError, status: 400 },
  "content-filter": { openai: "ok", anthropic: "ok" },
  reset: { openai: OpenAI.APIConnectionError, anthropic: Anthropic.APIConnectionError },
  // Body-read failure after headers: undici's TypeError("terminated") escapes both SDKs unwrapped.
  "reset-after-headers": { openai: TypeError, anthropic: TypeError },
  truncated: { openai: SyntaxError, anthropic: SyntaxError },
  malformed: { openai: SyntaxError, anthropic: SyntaxError },
  hang: { openai: OpenAI.APIConnectionTimeoutError, anthropic: Anthropic.APIConnectionTimeoutError }
}

describe("faults", () => {
  it.each(FAULT_KINDS)("%s maps to the expected SDK outcome", async (kind) => {
    const expected = EXPECTED[kind]
    shared.reset()
    shared.failNext(kind, 2)
    const a = await settle(chat(openai(shared, 200)))
    const b = await settle(message(anthropic(shared, 200)))
    for (const [outcome, want] of [[a, expected.openai], [b, expected.anthropic]] as const) {
      if (want === "ok") expect(outcome.ok).toBe(true)
      else {
        expect(outcome.ok ? outcome.value : outcome.error).toBeInstanceOf(want)
        if (expected.status !== undefined && !outcome.ok) {
          expect((outcome.error as { status?: number }).status).toBe(expected.status)
        }
      }
    }
    expect(shared.stats.faults).toEqual({ [kind]: 2 })
  })

  it("shapes error bodies like the providers", async () => {
    shared.failNext("context-length")
    const oa = await rejection(chat(openai(shared)))
    expect(oa).toMatchObject({
      status: 400,
      code: "context_length_exceeded",
      type: "invalid_request_error",
      param: "messages"
    })
    shared.failNext("context-length")
    const an = await rejection(message(anthropic(shared)))
    expect(an).toMatchObject({ status: 400, type: "invalid_request_error" })
    expect((an as InstanceType<typeof Anthropic.APIError>).apiMessage).toMatch(/^prompt is too long/)
    shared.failNext("quota")
    const quota = await rejection(chat(openai(shared))) as InstanceType<typeof OpenAI.RateLimitError>
    expect([quota.code, quota.type, quota.headers.get("retry-after")]).toEqual([
      "insufficient_quota",
      "insufficient_quota",
      null
    ])
    shared.failNext("rate-limit")
    const limited = await rejection(chat(openai(shared))) as InstanceType<typeof OpenAI.RateLimitError>
    expect([limited.code, limited.headers.get("retry-after"), limited.headers.get("retry-after-ms")]).toEqual([
      "rate_limit_exceeded",
      "1",
      "1000"
    ])
  })

  it("content-filter ends OpenAI choices with content_filter and Anthropic with refusal", async () => {
    shared.failNext("content-filter", 2)
    const res = await chat(openai(shared))
    expect([res.choices[0]?.finish_reason, res.choices[0]?.message.content]).toEqual(["content_filter", ""])
    const msg = await message(anthropic(shared))
    expect([msg.stop_reason, msg.content]).toEqual(["refusal", []])
  })

  it("failNext queues apply in order and then stop", async () => {
    shared.reset()
    shared.failNext("server-error", 2)
    shared.failNext("unavailable")
    const client = openai(shared)
    const statuses = []
    for (let i = 0; i < 4; i++) {
      const r = await settle(chat(client))
      statuses.push(r.ok ? 200 : (r.error as { status?: number }).status)
    }
    expect(statuses).toEqual([500, 500, 503, 200])
    expect(shared.stats.byStatus).toEqual({ 200: 1, 500: 2, 503: 1 })
  })

  it("draws random faults reproducibly from the seed", async () => {
    const run = (seed: number) =>
      withServer({ seed, faults: { rate: 0.5, kinds: ["server-error", "unavailable"] } }, async (server) => {
        const client = openai(server)
        const statuses: Array<number | undefined> = []
        for (let i = 0; i < 20; i++) {
          const r = await settle(chat(client))
          statuses.push(r.ok ? 200 : (r.error as { status?: number }).status)
        }
        const faults = server.stats.faults
        expect((faults["server-error"] ?? 0) + (faults.unavailable ?? 0)).toBe(statuses.filter((s) => s !== 200).length)
        return statuses
      })
    const first = await run(7)
    expect(await run(7)).toEqual(first)
    expect(first).toContain(200)
    expect(first.some((s) => s !== 200)).toBe(true)
    expect(await run(8)).not.toEqual(first)
  })
})

describe("rate limits", () => {
  it("rpm=60 with a 1 s burst admits 1 of 5 simultaneous requests and 429s the rest with real headers", async () => {
    await withServer({ rpm: 60 }, async (server) => {
      const client = openai(server)
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          settle(
            client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] }).withResponse()
          ))
      )
      const ok = results.filter((r) => r.ok)
      const refused = results.flatMap((r) => (r.ok ? [] : [r.error]))
      expect(ok).toHaveLength(1)
      expect(refused).toHaveLength(4)
      const okHeaders = ok[0]?.ok ? ok[0].value.response.headers : undefined
      expect(okHeaders?.get("x-ratelimit-limit-requests")).toBe("60")
      expect(okHeaders?.get("x-ratelimit-remaining-requests")).toBe("59")
      expect(okHeaders?.get("x-ratelimit-reset-requests")).toBe("1s")
      for (const error of refused) {
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        const e = error as InstanceType<typeof OpenAI.RateLimitError>
        expect([e.status, e.code, e.type]).toEqual([429, "rate_limit_exceeded", "requests"])
        expect(e.headers.get("retry-after")).toBe("1")
        const ms = Number(e.headers.get("retry-after-ms"))
        expect(ms).toBeGreaterThan(800)
        expect(ms).toBeLessThanOrEqual(1000)
        expect(e.headers.get("x-ratelimit-limit-requests")).toBe("60")
        expect(e.headers.get("x-ratelimit-remaining-requests")).toBe("59")
        expect(e.headers.get("x-ratelimit-reset-requests")).toMatch(/^(\d{3}ms|1s)$/)
        expect(e.message).toMatch(
          /on requests per min \(RPM\): Limit 60, Used 1, Requested 1\. Please try again in \d+ms/
        )
      }
      expect(server.stats).toMatchObject({ requests: 5, rateLimited: 4, byStatus: { 200: 1, 429: 4 } })
    })
  })

  it("refills continuously: after retry-after-ms the next request is admitted", async () => {
    await withServer({ rpm: 600 }, async (server) => {
      const client = openai(server)
      const results = await Promise.all(Array.from({ length: 12 }, () => settle(chat(client))))
      expect(results.filter((r) => r.ok)).toHaveLength(10)
      const refused = results.find((r) => !r.ok)
      const wait = Number(
        (refused?.ok === false ? (refused.error as InstanceType<typeof OpenAI.RateLimitError>) : undefined)?.headers
          .get("retry-after-ms")
      )
      expect(wait).toBeGreaterThan(50)
      expect(wait).toBeLessThanOrEqual(100)
      await new Promise((r) => setTimeout(r, wait + 5))
      expect((await settle(chat(client))).ok).toBe(true)
    })
  })

  it("charges prompt + max_tokens against tpm, waits for a full bucket for big requests, rejects requests over the limit", async () => {
    await withServer({ tpm: 6_000 }, async (server) => {
      // capacity = 6000 / 60 = 100 tokens, refilling 100 tokens/s
      const client = openai(server)
      const ask = (max_tokens: number) =>
        client.chat.completions.create({
          model: "m",
          max_tokens,
          messages: [{ role: "user", content: "x".repeat(40) }]
        })
      const first = await ask(50).withResponse() // 10 + 50 = 60
      expect(first.response.headers.get("x-ratelimit-limit-tokens")).toBe("6000")
      expect(first.response.headers.get("x-ratelimit-remaining-tokens")).toBe("5940")
      const second = await rejection(ask(50)) as InstanceType<typeof OpenAI.RateLimitError>
      expect([second.type, second.headers.get("retry-after")]).toEqual(["tokens", "1"])
      expect(Number(second.headers.get("retry-after-ms"))).toBeGreaterThan(150) // needs 20 more tokens: ~200 ms
      expect(Number(second.headers.get("retry-after-ms"))).toBeLessThanOrEqual(200)
      const tooLarge = await rejection(ask(7_000)) as InstanceType<typeof OpenAI.RateLimitError>
      expect(tooLarge.message).toMatch(/Request too large/)
      expect(tooLarge.headers.get("retry-after")).toBeNull()
      expect(server.stats.tokensCharged).toBe(60)
    })
    await withServer({ tpm: 6_000 }, async (server) => {
      const client = openai(server)
      // 500 tokens > one burst (100) but < the minute limit: admitted on a full bucket, leaving a 400-token debt.
      expect(
        (await settle(
          client.chat.completions.create({
            model: "m",
            max_tokens: 490,
            messages: [{ role: "user", content: "x".repeat(40) }]
          })
        )).ok
      ).toBe(true)
      const next = await rejection(
        client.chat.completions.create({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] })
      )
      expect((next as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")).toBe("5") // (400 + 2) / 100 per s
    })
  })

  it("chargeRejected makes every 429 consume a request slot", async () => {
    await withServer({ rpm: 60, chargeRejected: true }, async (server) => {
      const client = openai(server)
      const retryAfter = async () =>
        ((await rejection(chat(client))) as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")
      await chat(client)
      expect(await retryAfter()).toBe("1")
      expect(await retryAfter()).toBe("2") // the previous refusal put the bucket one request into debt
    })
  })

  it("sends Anthropic rate-limit headers with RFC 3339 resets and retry-after on 429", async () => {
    await withServer({ rpm: 60, tpm: 60_000 }, async (server) => {
      const client = anthropic(server)
      const before = Date.now()
      const ok = await client.messages.create({
        model: "c",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }]
      }).withResponse()
      const h = ok.response.headers
      expect([h.get("anthropic-ratelimit-requests-limit"), h.get("anthropic-ratelimit-requests-remaining")]).toEqual([
        "60",
        "59"
      ])
      expect([h.get("anthropic-ratelimit-tokens-limit"), h.get("anthropic-ratelimit-tokens-remaining")]).toEqual([
        "60000",
        "59989"
      ])
      const reset = h.get("anthropic-ratelimit-requests-reset") ?? ""
      expect(reset).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      expect(Date.parse(reset) - before).toBeGreaterThan(0)
      expect(Date.parse(reset) - before).toBeLessThanOrEqual(2_000)
      expect(h.get("request-id")).toMatch(/^req_/)
      const refused = await rejection(message(client)) as InstanceType<typeof Anthropic.RateLimitError>
      expect(refused).toBeInstanceOf(Anthropic.RateLimitError)
      expect([refused.type, refused.headers.get("retry-after")]).toEqual(["rate_limit_error", "1"])
      expect(refused.headers.get("anthropic-ratelimit-requests-remaining")).toBe("59")
    })
  })

  describe("header styles", () => {
    const requestHeaders = (h: Headers) =>
      ["limit", "remaining", "reset"].map((part) => h.get(`x-ratelimit-${part}-requests`))

    it("remaining on the burst scale is what is left in the bucket; limit stays per minute", async () => {
      await withServer({ rpm: 600, tpm: 60_000, rateLimitHeaderStyle: { remaining: "burst" } }, async (server) => {
        // A bucket of 10 requests and 1000 tokens; "x" costs 1 + its answer "echo: x" (2) = 3 tokens.
        const { response } = await chat(openai(server), "x").withResponse()
        expect(requestHeaders(response.headers)).toEqual(["600", "9", "100ms"])
        expect([response.headers.get("x-ratelimit-limit-tokens"), response.headers.get("x-ratelimit-remaining-tokens")])
          .toEqual(["60000", "997"])
        const results = await Promise.all(Array.from({ length: 10 }, () => settle(chat(openai(server)))))
        const refused = results.flatMap((r) => (r.ok ? [] : [r.error as InstanceType<typeof OpenAI.RateLimitError>]))
        expect(refused).toHaveLength(1)
        expect(refused[0]!.headers.get("x-ratelimit-remaining-requests")).toBe("0")
        expect(refused[0]!.message).toMatch(/Limit 600, Used 10, Requested 1/)
      })
      await withServer({ rpm: 60, rateLimitHeaderStyle: { remaining: "burst" } }, async (server) => {
        const { response } = await message(anthropic(server)).withResponse()
        expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("60")
        expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0")
      })
    })

    it("the view at answer time counts the requests admitted and the refill during the latency", async () => {
      const remainings = (style: HeaderStyle) =>
        withServer(
          { rpm: 600, latencyMs: 150, rateLimitHeaderStyle: style },
          (server) =>
            Promise.all(Array.from({ length: 3 }, () => chat(openai(server)).withResponse())).then((all) =>
              all.map(({ response }) => Number(response.headers.get("x-ratelimit-remaining-requests"))).sort()
            )
        )
      // 600 rpm: one request refills every 100 ms. At admission each sees those before it; at the answer, 150 ms
      // later, each sees all three and 1.5 refilled.
      expect(await remainings({})).toEqual([597, 598, 599])
      expect(Math.min(...await remainings({ at: "answer" }))).toBeGreaterThanOrEqual(598)
    })

    it("reset to next is 0 while some remain, else the time until one more is available", async () => {
      // 120 rpm: a bucket of 2, one request refilling every 500 ms.
      await withServer({ rpm: 120, rateLimitHeaderStyle: { reset: "to-next" } }, async (server) => {
        const client = openai(server)
        const first = await chat(client).withResponse()
        expect(requestHeaders(first.response.headers)).toEqual(["120", "119", "0s"])
        const second = await chat(client).withResponse()
        expect(second.response.headers.get("x-ratelimit-remaining-requests")).toBe("118")
        expect(second.response.headers.get("x-ratelimit-reset-requests")).toMatch(/^4\d\dms$/)
        server.configure({ rateLimitHeaderStyle: undefined })
        const refused = await rejection(chat(client)) as InstanceType<typeof OpenAI.RateLimitError>
        expect(refused.headers.get("x-ratelimit-reset-requests")).toMatch(/^(9\d\dms|1s)$/) // until full again
      })
    })
  })

  it("omits rate-limit headers when asked to (degradation tests)", async () => {
    await withServer({ rpm: 60, rateLimitHeaders: false }, async (server) => {
      const { response } = await chat(openai(server)).withResponse()
      expect(response.headers.get("x-ratelimit-limit-requests")).toBeNull()
      expect(response.headers.get("x-request-id")).toMatch(/^req_/)
      const refused = await rejection(chat(openai(server))) as InstanceType<typeof OpenAI.RateLimitError>
      expect(refused.headers.get("retry-after")).toBe("1")
    })
  })
})

describe("operations", () => {
  it("logs each request with api, path, parsed params, credentials and status", async () => {
    await withServer({}, async (server) => {
      await openai(server).chat.completions.create({
        model: "m",
        n: 2,
        temperature: 0.5,
        messages: [{ role: "user", content: "a" }]
      })
      await message(anthropic(server))
      const [o, a] = server.requests
      expect(o).toMatchObject({
        seq: 0,
        api: "openai-chat",
        method: "POST",
        path: "/v1/chat/completions",
        status: 200,
        fault: undefined
      })
      expect(o?.body).toMatchObject({ model: "m", n: 2, temperature: 0.5 })
      expect(o?.headers["authorization"]).toBe("Bearer sk-test-123")
      expect(a).toMatchObject({ seq: 1, api: "anthropic", path: "/v1/messages", status: 200 })
      // @anthropic-ai/sdk 1.x sends `apiKey` as `Authorization: Bearer …`, not `x-api-key`.
      expect(a?.headers["authorization"]).toBe("Bearer ak-test-456")
      expect(a?.headers["anthropic-version"]).toBeTypeOf("string")
      expect(a?.body).toMatchObject({ max_tokens: 64 })
      expect(server.stats.byApi).toEqual({ "openai-chat": 1, "openai-completion": 0, anthropic: 1 })
      server.reset()
      expect(server.requests).toEqual([])
      expect(server.stats).toMatchObject({ requests: 0, byStatus: {}, faults: {}, rateLimited: 0 })
    })
  })

  it("bounds the log to the most recent N entries", async () => {
    await withServer({ logRequests: 2 }, async (server) => {
      const client = openai(server)
      for (const c of ["1", "2", "3"]) await chat(client, c)
      expect(server.requests.map((r) => r.seq)).toEqual([1, 2])
      server.configure({ logRequests: false })
      await chat(client)
      expect(server.requests).toEqual([])
      expect(server.stats.requests).toBe(4)
    })
  })

  it("applies latency with timers and serves many concurrent requests", async () => {
    await withServer({ latencyMs: 100, logRequests: false }, async (server) => {
      const client = openai(server, 5_000)
      const started = Date.now()
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => chat(client, `n${i}`)))
      const elapsed = Date.now() - started
      expect(results.map((r) => r.choices[0]?.message.content)).toEqual(
        Array.from({ length: 300 }, (_, i) => `echo: n${i}`)
      )
      expect(elapsed).toBeGreaterThanOrEqual(100)
      expect(elapsed).toBeLessThan(2_000)
      expect(server.stats.peakInFlight).toBeGreaterThan(50)
    })
  })

  it("lets a hang end by the client's own timeout", async () => {
    shared.failNext("hang")
    const started = Date.now()
    expect(await rejection(chat(openai(shared, 200)))).toBeInstanceOf(OpenAI.APIConnectionTimeoutError)
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it("close() ends hanging requests in flight", async () => {
    const server = await FakeProvider.start()
    server.failNext("hang")
    const pending = settle(chat(openai(server, 10_000)))
    while (server.stats.inFlight === 0) await new Promise((r) => setTimeout(r, 5))
    const started = Date.now()
    await server.close()
    expect(Date.now() - started).toBeLessThan(500)
    const outcome = await pending
    expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(OpenAI.APIConnectionError)
    await server.close() // idempotent
  })

  it("configure() changes behaviour at runtime", async () => {
    await withServer({}, async (server) => {
      const client = openai(server)
      server.configure({ respond: () => "changed" })
      expect((await chat(client)).choices[0]?.message.content).toBe("changed")
      server.configure({ respond: undefined, rpm: 60 })
      expect((await chat(client)).choices[0]?.message.content).toBe("echo: hi")
      expect(await rejection(chat(client))).toBeInstanceOf(OpenAI.RateLimitError)
    })
  })

  it("is usable as a scoped Effect resource", async () => {
    const url = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const server = yield* FakeProvider.scoped({ latencyMs: 1 })
      const res = yield* Effect.promise(() => chat(openai(server), "from effect"))
      expect(res.choices[0]?.message.content).toBe("echo: from effect")
      return server.url
    })))
    expect(await rejection(fetch(`${url}/v1/chat/completions`, { method: "POST", body: "{}" }))).toBeInstanceOf(
      TypeError
    )
  })

  it("answers unknown paths with a provider-shaped 404", async () => {
    const res = await fetch(`${shared.url}/v1/embeddings`, { method: "POST", body: "{}" })
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({
      error: { type: "invalid_request_error", message: "Invalid URL (POST /v1/embeddings)" }
    })
  })

  it("formats Go durations like OpenAI's reset headers", () => {
    expect([0, 12, 577, 1_000, 7_660, 86_400, 360_000, 3_723_500].map(formatGoDuration))
      .toEqual(["0s", "12ms", "577ms", "1s", "7.66s", "1m26.4s", "6m0s", "1h2m3.5s"])
  })
})
