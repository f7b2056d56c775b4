/**
 * The fake provider's default answers to requests with tools (test/support/internal/tools.ts), through the real
 * SDKs: it calls the tools the user names (several in one answer), with arguments from their input schemas, and
 * quotes the tool results it gets back.
 */
import Anthropic from "@anthropic-ai/sdk"
import OpenAI from "openai"
import { describe, expect, it } from "vitest"
import { FakeProvider, type FakeProviderServer } from "./support/FakeProvider.js"

const withServer = async <A>(body: (server: FakeProviderServer) => Promise<A>): Promise<A> => {
  const server = await FakeProvider.start()
  try {
    return await body(server)
  } finally {
    await server.close()
  }
}

const weatherSchema = {
  type: "object",
  properties: { city: { type: "string", enum: ["Lyon", "Oslo"] }, days: { type: "integer", minimum: 1 } },
  required: ["city", "days"]
}
const clockSchema = { type: "object", properties: {} }

const openaiTools: Array<OpenAI.ChatCompletionTool> = [
  { type: "function", function: { name: "weather", parameters: weatherSchema } },
  { type: "function", function: { name: "clock", parameters: clockSchema } }
]
const anthropicTools: Array<Anthropic.Tool> = [
  { name: "weather", input_schema: weatherSchema as Anthropic.Tool.InputSchema },
  { name: "clock", input_schema: clockSchema as Anthropic.Tool.InputSchema }
]

describe("fake provider: tools, OpenAI", () => {
  it("calls every tool the user names, in parallel, with arguments from the schema", () =>
    withServer(async (server) => {
      const client = new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test", maxRetries: 0 })
      const answer = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [{ role: "user", content: "Ask weather and clock." }],
        tools: openaiTools
      })
      const choice = answer.choices[0]!
      expect(choice.finish_reason).toBe("tool_calls")
      const calls = choice.message.tool_calls!.flatMap((c) => c.type === "function" ? [c] : [])
      expect(calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
        ["call_fake0_0", "weather", { city: "Lyon", days: 1 }],
        ["call_fake0_1", "clock", {}]
      ])
      expect(answer.usage!.completion_tokens).toBeGreaterThan(0)
      // results back: the answer quotes them
      const next = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [
          { role: "user", content: "Ask weather and clock." },
          choice.message,
          { role: "tool", tool_call_id: "call_fake0_0", content: "21 C" },
          { role: "tool", tool_call_id: "call_fake0_1", content: "noon" }
        ],
        tools: openaiTools
      })
      expect(next.choices[0]!.finish_reason).toBe("stop")
      expect(next.choices[0]!.message.content).toBe("tool results: weather → 21 C; clock → noon")
    }))

  it("names no tool: the usual answer; tool_choice none: no call even when named", () =>
    withServer(async (server) => {
      const client = new OpenAI({ baseURL: server.openaiBaseUrl, apiKey: "sk-test", maxRetries: 0 })
      const plain = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [{ role: "user", content: "Hello" }],
        tools: openaiTools
      })
      expect(plain.choices[0]!.message.content).toBe("echo: Hello")
      const none = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [{ role: "user", content: "weather?" }],
        tools: openaiTools,
        tool_choice: "none"
      })
      expect(none.choices[0]!.message.tool_calls).toBeUndefined()
      // a name inside another word is not a call
      const inside = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [{ role: "user", content: "clockwise" }],
        tools: openaiTools
      })
      expect(inside.choices[0]!.message.content).toBe("echo: clockwise")
      // required with no name: the first tool, forced (finish_reason stop, as before)
      const required = await client.chat.completions.create({
        model: "gpt-fake",
        messages: [{ role: "user", content: "Hello" }],
        tools: openaiTools,
        tool_choice: "required"
      })
      const forced = required.choices[0]!.message.tool_calls![0]!
      expect(forced.type === "function" && forced.function.name).toBe("weather")
    }))
})

describe("fake provider: tools, Anthropic", () => {
  it("calls the named tools as tool_use blocks, then quotes tool_result blocks (errors marked)", () =>
    withServer(async (server) => {
      const client = new Anthropic({ baseURL: server.anthropicBaseUrl, apiKey: "ak-test", maxRetries: 0 })
      const answer = await client.messages.create({
        model: "claude-fake",
        max_tokens: 256,
        messages: [{ role: "user", content: "clock and weather please" }],
        tools: anthropicTools,
        tool_choice: { type: "auto" }
      })
      expect(answer.stop_reason).toBe("tool_use")
      const uses = answer.content.flatMap((b) => b.type === "tool_use" ? [b] : [])
      expect(uses.map((b) => [b.id, b.name, b.input])).toEqual([
        ["toolu_fake0_0", "weather", { city: "Lyon", days: 1 }],
        ["toolu_fake0_1", "clock", {}]
      ])
      const next = await client.messages.create({
        model: "claude-fake",
        max_tokens: 256,
        messages: [
          { role: "user", content: "clock and weather please" },
          { role: "assistant", content: answer.content },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_fake0_0", content: "no such city", is_error: true },
              { type: "tool_result", tool_use_id: "toolu_fake0_1", content: "noon" }
            ]
          }
        ],
        tools: anthropicTools
      })
      expect(next.stop_reason).toBe("end_turn")
      expect(next.content).toEqual([{
        type: "text",
        text: "tool results: weather failed → no such city; clock → noon",
        citations: null
      }])
    }))
})
