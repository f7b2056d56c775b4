/**
 * Tools through the real SDKs against the fake server: the definitions and the tool choice on both wire formats,
 * tools refused before any request, the tool loop of `ChatPipeline.using` end to end (the fake calls the tools the
 * user names and quotes the results it gets back), and Anthropic's structured output (a forced tool) with tools.
 */
import {
  Batch,
  ChatPipeline,
  Dataset,
  GenerateParams,
  type Generation,
  Generator,
  Message,
  Model,
  Template,
  Tools
} from "@capstan/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { FakeProvider } from "../support/FakeProvider.js"
import { generatorFor } from "./harness.js"

const openai = (baseUrl: string) =>
  generatorFor("openai!gpt-4o-mini", { OPENAI_API_KEY: "sk-test-openai-0123456789", OPENAI_BASE_URL: baseUrl })
const anthropic = (baseUrl: string) =>
  generatorFor("anthropic!claude-3-5-haiku-latest", {
    ANTHROPIC_API_KEY: "sk-ant-test-0123456789",
    ANTHROPIC_BASE_URL: baseUrl
  })

const Weather = Tool.make("weather", {
  description: "Today's weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ celsius: Schema.Number })
})
const Clock = Tool.make("clock", { description: "The time now", success: Schema.String })
const toolkit = Toolkit.make(Weather, Clock)
const handlers = toolkit.toLayer({
  weather: () => Effect.succeed({ celsius: 21 }),
  clock: () => Effect.succeed("12:00")
})
const definitions = Tools.definitions(toolkit)

const request = (content: string, extra: Partial<Generation.ChatRequest> = {}): Generation.ChatRequest => ({
  messages: [Message.user(content)],
  params: GenerateParams.empty,
  tools: definitions,
  ...extra
})

type Body = Record<string, any>
const bodies = (server: { readonly requests: ReadonlyArray<{ readonly body: unknown }> }) =>
  server.requests.map((r) => r.body as Body)

describe("openai: tools on the wire", () => {
  it.live("sends tools[].function and each tool choice", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const choices: ReadonlyArray<Generation.ToolChoice | undefined> = [undefined, "auto", "none", "required", {
        tool: "clock"
      }]
      for (const toolChoice of choices) {
        yield* generator.generate(request("Hi", toolChoice === undefined ? {} : { toolChoice }))
      }
      const sent = bodies(server)
      assert.deepStrictEqual(sent[0]!.tools[0], {
        type: "function",
        function: { name: "weather", description: "Today's weather in a city", parameters: definitions[0]!.parameters }
      })
      assert.strictEqual(sent[0]!.tools[1].function.name, "clock")
      assert.deepStrictEqual(sent.map((b) => b.tool_choice), [undefined, "auto", "none", "required", {
        type: "function",
        function: { name: "clock" }
      }])
    }))

  it.live("refuses bad tools before any request", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const bad = yield* Effect.flip(
        generator.generate(request("Hi", { tools: [{ name: "not ok", parameters: { type: "object" } }] }))
      )
      assert.strictEqual(bad._tag, "InvalidRequest")
      assert.include(bad.message, `tools[0].name "not ok" is not a tool name`)
      const unknown = yield* Effect.flip(generator.generate(request("Hi", { toolChoice: { tool: "radar" } })))
      assert.include(unknown.message, `toolChoice names the tool "radar", which the request does not define`)
      const twice = yield* Effect.flip(generator.generate(request("Hi", { tools: [definitions[0]!, definitions[0]!] })))
      assert.include(twice.message, `two tools are named "weather"`)
      assert.strictEqual(server.requests.length, 0)
    }))

  it.live("ChatPipeline.using: the model calls the named tools in parallel, then reads their results", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const chat = yield* ChatPipeline.make("Use weather and clock, please.").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run(),
        Effect.provide(handlers),
        Effect.provideService(Generator.Generator, generator)
      )
      assert.deepStrictEqual(Tools.calls(chat).map((c) => c.name), ["weather", "clock"])
      assert.strictEqual(chat.text, `tool results: weather → {"celsius":21}; clock → 12:00`)
      assert.strictEqual(chat.stopReason, "stop")
      assert.strictEqual(chat.attempts, 2)
      const [first, second] = bodies(server)
      assert.strictEqual(first!.tools.length, 2)
      assert.deepStrictEqual(second!.messages.map((m: Body) => m.role), ["user", "assistant", "tool", "tool"])
      assert.strictEqual(server.requests[0]!.status, 200)
      // usage of both rounds
      assert.isAbove(chat.usage.inputTokens, 0)
      assert.strictEqual(chat.usage.totalTokens, chat.usage.inputTokens + chat.usage.outputTokens)
    }))

  it.live("structured output and tools go together: response_format and tools", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* openai(server.openaiBaseUrl)
      const chat = yield* ChatPipeline.make("Check the clock, then give a verdict.").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.untilParsedAs(Model.json(Schema.Struct({ ok: Schema.Boolean }), { name: "verdict" })),
        ChatPipeline.run(),
        Effect.provide(handlers),
        Effect.provideService(Generator.Generator, generator)
      )
      const [body, second] = bodies(server)
      assert.strictEqual(body!.response_format.json_schema.name, "verdict")
      assert.strictEqual(body!.tools.length, 2)
      assert.deepStrictEqual(Tools.calls(chat).map((c) => c.name), ["clock"])
      assert.strictEqual(second!.response_format.json_schema.name, "verdict")
      assert.deepStrictEqual(chat.parsed, { ok: true })
      assert.strictEqual(server.requests.length, 2)
    }))
})

describe("anthropic: tools on the wire", () => {
  it.live("sends tools[] with input_schema and each tool choice", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const choices: ReadonlyArray<Generation.ToolChoice | undefined> = [undefined, "auto", "none", "required", {
        tool: "clock"
      }]
      for (const toolChoice of choices) {
        yield* generator.generate(request("Hi", toolChoice === undefined ? {} : { toolChoice }))
      }
      const sent = bodies(server)
      assert.deepStrictEqual(sent[0]!.tools[0], {
        name: "weather",
        description: "Today's weather in a city",
        input_schema: definitions[0]!.parameters
      })
      assert.deepStrictEqual(sent.map((b) => b.tool_choice), [
        undefined,
        { type: "auto" },
        { type: "none" },
        { type: "any" },
        { type: "tool", name: "clock" }
      ])
    }))

  it.live("ChatPipeline.using: tool_use blocks run, tool_result blocks go back", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const chat = yield* ChatPipeline.make("What does the weather say?").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run(),
        Effect.provide(handlers),
        Effect.provideService(Generator.Generator, generator)
      )
      assert.deepStrictEqual(Tools.calls(chat).map((c) => [c.name, c.input]), [["weather", { city: "sample" }]])
      assert.strictEqual(chat.text, `tool results: weather → {"celsius":21}`)
      const second = bodies(server)[1]!
      assert.deepStrictEqual(second.messages[2].content[0].type, "tool_result")
      assert.strictEqual(chat.metadata["toolCalls"], 1)
    }))

  it.live("structured output with tools: the answer tool first, tool_choice any; the model calls a tool, then answers", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const generator = yield* anthropic(server.anthropicBaseUrl)
      const chat = yield* ChatPipeline.make("Check the clock, then give a verdict.").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.untilParsedAs(Model.json(Schema.Struct({ ok: Schema.Boolean }), { name: "verdict" })),
        ChatPipeline.run(),
        Effect.provide(handlers),
        Effect.provideService(Generator.Generator, generator)
      )
      const [first, second] = bodies(server)
      assert.deepStrictEqual(first!.tools.map((t: Body) => t.name), ["verdict", "weather", "clock"])
      assert.deepStrictEqual(first!.tool_choice, { type: "any" })
      assert.deepStrictEqual(Tools.calls(chat).map((c) => c.name), ["clock"])
      assert.deepStrictEqual(chat.parsed, { ok: true })
      assert.strictEqual(chat.stopReason, "stop")
      assert.strictEqual(second!.messages.length, 3)
      // toolChoice none: only the answer
      const none = yield* generator.generate({
        ...request("x", { toolChoice: "none" }),
        structured: Model.json(Schema.Struct({ ok: Schema.Boolean }), { name: "verdict" }).structured
      })
      assert.deepStrictEqual(bodies(server)[2]!.tool_choice, { type: "tool", name: "verdict" })
      assert.strictEqual(none.choices[0]!.toolCalls, undefined)
      const clash = yield* Effect.flip(generator.generate({
        ...request("x"),
        structured: Model.json(Schema.Struct({ ok: Schema.Boolean }), { name: "clock" }).structured
      }))
      assert.include(clash.message, `a tool is named "clock" like the structured answer`)
    }))
})

describe("tools in provider batches: definitions only", () => {
  for (const identifier of ["openai!gpt-4o-mini", "anthropic!claude-3-5-haiku-latest"]) {
    it.live(`${identifier}: the batch lines carry the tools; rows keep the calls, nothing runs, nothing follows`, () =>
      Effect.gen(function*() {
        const seen: Array<unknown> = []
        const server = yield* FakeProvider.scoped({
          respond: (request) => {
            if (request.batch !== undefined) seen.push(request.params["tools"])
            return undefined
          }
        })
        const env = identifier.startsWith("openai")
          ? { OPENAI_API_KEY: "sk-test-openai-0123456789", OPENAI_BASE_URL: server.openaiBaseUrl }
          : { ANTHROPIC_API_KEY: "sk-ant-test-0123456789", ANTHROPIC_BASE_URL: server.anthropicBaseUrl }
        const generator = yield* generatorFor(identifier, env)
        let ran = 0
        const counting = toolkit.toLayer({
          weather: () => Effect.sync(() => ran++).pipe(Effect.as({ celsius: 0 })),
          clock: () => Effect.succeed("12:00")
        })
        const list = yield* Dataset.validate(Template.make("Ask weather about {city}."), [
          { id: "a", city: "Lyon" },
          { id: "b", city: "Oslo" }
        ])
        const { rows } = yield* Batch.run(list, {
          pipeline: ChatPipeline.make().pipe(ChatPipeline.using(toolkit)),
          via: "provider-batch",
          providerBatch: { linger: "5 millis", pollInterval: "5 millis" }
        }).pipe(Effect.provide(counting), Effect.provideService(Generator.Generator, generator))
        assert.strictEqual(ran, 0)
        assert.strictEqual(seen.length, 2)
        assert.strictEqual((seen[0] as ReadonlyArray<unknown>).length, 2)
        assert.strictEqual(
          server.requests.filter((r) => r.path === "/v1/chat/completions" || r.path === "/v1/messages").length,
          0
        )
        for (const row of rows) {
          assert.isTrue(row.ok)
          assert.strictEqual(row.stopReason, "tool_calls")
          assert.strictEqual(row.metadata?.["toolsRun"], false)
          assert.strictEqual(row.metadata?.["toolCalls"], 1)
          assert.strictEqual(row.metadata?.["via"], "provider-batch")
          const parts = row.generated?.[0]?.parts ?? []
          assert.deepStrictEqual(parts.map((p) => p._tag === "ToolCall" ? p.name : p._tag), ["weather"])
        }
      }))
  }
})
