/**
 * The fake provider's streamed answers (`stream: true`), read by the real SDKs: OpenAI chunks with a usage chunk
 * and `[DONE]`, Anthropic's event sequence (the SDK's own `messages.stream()` helper rebuilds the message), pacing,
 * faults mid-stream, and how a stream ended.
 */
import Anthropic from "@anthropic-ai/sdk"
import OpenAI from "openai"
import { afterEach, describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderOptions, type FakeProviderServer } from "./support/FakeProvider.js"

const servers: Array<FakeProviderServer> = []
const start = async (options: FakeProviderOptions = {}) => {
  const server = await FakeProvider.start(options)
  servers.push(server)
  return server
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const openai = (server: FakeProviderServer) =>
  new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test", maxRetries: 0, timeout: 2_000 })
const anthropic = (server: FakeProviderServer) =>
  new Anthropic({ baseURL: server.anthropicBaseUrl, apiKey: "ak-test", maxRetries: 0, timeout: 2_000 })

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(condition()).toBe(true)
}

describe("OpenAI chat streaming", () => {
  it("sends chunks of streamChunkChars, each choice's finish_reason, the usage chunk and [DONE]", async () => {
    const server = await start({ streamChunkChars: 3, rpm: 600 })
    const { data: stream, response } = await openai(server).chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "hello there" }],
      n: 2,
      stream: true,
      stream_options: { include_usage: true }
    }).withResponse()
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("600")
    const chunks: Array<OpenAI.ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    const text = (index: number) =>
      chunks.flatMap((c) => c.choices.filter((choice) => choice.index === index).map((x) => x.delta.content ?? ""))
    expect(text(0).filter((piece) => piece.length > 0)).toEqual(["ech", "o: ", "hel", "lo ", "the", "re"])
    expect(text(1).join("")).toBe("echo: hello there")
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter(Boolean)).toEqual([
      "stop",
      "stop"
    ])
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    expect(last.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 10, total_tokens: 13 })
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true)
    expect(server.stats.streams).toEqual({ complete: 1, "cut-by-client": 0, dropped: 0 })
  })

  it("streams tool calls as tool_calls deltas with the arguments in pieces; no usage chunk unless asked", async () => {
    const server = await start({ respond: () => ({ toolCalls: [{ name: "lookup", input: { q: "capstan" } }] }) })
    const stream = await openai(server).chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "x" }],
      stream: true
    })
    const chunks: Array<OpenAI.ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    const calls = chunks.flatMap((c) => c.choices.flatMap((choice) => choice.delta.tool_calls ?? []))
    expect(calls[0]).toMatchObject({ index: 0, id: "call_fake0_0", function: { name: "lookup", arguments: "" } })
    expect(calls.map((call) => call.function?.arguments ?? "").join("")).toBe(JSON.stringify({ q: "capstan" }))
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("tool_calls")
    expect(chunks.every((c) => c.usage === undefined)).toBe(true)
  })

  it("paces chunks streamChunkDelayMs apart, and counts a stream the client left as cut-by-client", async () => {
    const server = await start({ streamChunkChars: 1, streamChunkDelayMs: 20 })
    const started = Date.now()
    const stream = await openai(server).chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "hello there" }],
      stream: true
    })
    let seen = 0
    for await (const _ of stream) if (++seen === 4) break
    expect(Date.now() - started).toBeGreaterThanOrEqual(55)
    await until(() => server.stats.streams["cut-by-client"] === 1)
    expect(server.stats.inFlight).toBe(0)
  })

  it("reset-after-headers sends part of the stream, then drops the connection", async () => {
    const server = await start({ streamChunkDelayMs: 2 })
    server.failNext("reset-after-headers")
    const stream = await openai(server).chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "hello there" }],
      stream: true
    })
    const seen: Array<string> = []
    const error = await (async () => {
      try {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "")
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(TypeError) // undici's "terminated", unwrapped by the SDK
    expect(seen.length).toBeGreaterThan(1)
    expect(server.stats.streams.dropped).toBe(1)
  })
})

describe("Anthropic messages streaming", () => {
  it("sends the event sequence the SDK's stream helper rebuilds into the non-streamed message", async () => {
    const server = await start({ streamChunkChars: 4, cachedPromptTokens: 1 })
    const client = anthropic(server)
    const body = { model: "claude-fake", max_tokens: 64, messages: [{ role: "user" as const, content: "hello there" }] }
    const plain = await client.messages.create(body)
    const helper = client.messages.stream(body)
    const texts: Array<string> = []
    helper.on("text", (text) => texts.push(text))
    const streamed = await helper.finalMessage()
    expect(texts.length).toBeGreaterThan(2)
    expect(texts.join("")).toBe("echo: hello there")
    const blocks = (message: Anthropic.Message) => message.content.map((b) => (b.type === "text" ? b.text : b.type))
    expect(blocks(streamed)).toEqual(blocks(plain))
    expect(streamed.stop_reason).toBe(plain.stop_reason)
    expect(streamed.usage).toMatchObject({
      input_tokens: plain.usage.input_tokens,
      output_tokens: plain.usage.output_tokens,
      cache_read_input_tokens: 1
    })
  })

  it("streams tool_use blocks as input_json_delta pieces", async () => {
    const server = await start({
      streamChunkChars: 3,
      respond: () => ({ text: "Checking.", toolCalls: [{ name: "lookup", input: { q: "capstan", n: 2 } }] })
    })
    const events: Array<Anthropic.RawMessageStreamEvent> = []
    const stream = await anthropic(server).messages.create({
      model: "claude-fake",
      max_tokens: 64,
      messages: [{ role: "user", content: "x" }],
      stream: true
    })
    for await (const event of stream) events.push(event)
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["message_start", "message_stop"]))
    const json = events.flatMap((e) =>
      e.type === "content_block_delta" && e.delta.type === "input_json_delta" ? [e.delta.partial_json] : []
    )
    expect(json.length).toBeGreaterThan(2)
    expect(JSON.parse(json.join(""))).toEqual({ q: "capstan", n: 2 })
    const delta = events.find((e) => e.type === "message_delta")
    expect(delta?.type === "message_delta" && delta.delta.stop_reason).toBe("tool_use")
  })

  it("overloaded on a streamed request is an error event after the 200, as Anthropic sends it", async () => {
    const server = await start()
    server.failNext("overloaded")
    const stream = await anthropic(server).messages.create({
      model: "claude-fake",
      max_tokens: 64,
      messages: [{ role: "user", content: "x" }],
      stream: true
    })
    const error = await (async () => {
      try {
        for await (const _ of stream) { /* until the error event */ }
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error")
    expect(server.requests[0]!.status).toBe(200)
  })
})
