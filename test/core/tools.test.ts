import {
  Batch,
  ChatPipeline,
  Dataset,
  type GenerationError,
  type Generator,
  InvalidParams,
  type MaxDepthExceeded,
  Message,
  Model,
  StepFailed,
  Template,
  Tools,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import type * as AiError from "effect/ai/AiError"

class CityUnknown extends Schema.TaggedError<CityUnknown>()("CityUnknown", { city: Schema.String }) {}

const Weather = Tool.make("weather", {
  description: "Today's weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number }),
  failure: CityUnknown
})
const Clock = Tool.make("clock", { description: "The time", success: Schema.String })
const toolkit = Toolkit.make(Weather, Clock)

const temperatures: Record<string, number> = { Lyon: 21, Oslo: 4 }

const handlers = toolkit.toLayer({
  weather: ({ city }) =>
    temperatures[city] === undefined
      ? Effect.fail(new CityUnknown({ city }))
      : Effect.succeed({ city, celsius: temperatures[city] }),
  clock: () => Effect.succeed("12:00")
})

const lyonAndOslo = [
  { name: "weather", input: { city: "Lyon" } },
  { name: "weather", input: { city: "Oslo" } }
]

describe("ChatPipeline.using", () => {
  it.effect("runs the calls, records calls and results, and answers with the last text", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Is Lyon warmer than Oslo?").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run()
      )
      expect(chat.text).toBe("Lyon is warmer.")
      expect(chat.generated.map((m) => m.role)).toEqual(["assistant", "tool", "assistant"])
      expect(Tools.calls(chat).map((c) => c.input)).toEqual([{ city: "Lyon" }, { city: "Oslo" }])
      expect(Tools.results(chat).map((r) => [r.id, r.name, r.output, r.isError])).toEqual([
        ["call_0_0", "weather", { city: "Lyon", celsius: 21 }, undefined],
        ["call_0_1", "weather", { city: "Oslo", celsius: 4 }, undefined]
      ])
      expect(chat.metadata["toolCalls"]).toBe(2)
      // both generations were paid for
      const requests = yield* MockGenerator.requests
      expect(requests).toHaveLength(2)
      expect(chat.attempts).toBe(2)
      expect(chat.usage.outputTokens).toBe(
        Usage.sum([Usage.empty]).outputTokens + Math.ceil(JSON.stringify(lyonAndOslo).length / 4) +
          Math.ceil("Lyon is warmer.".length / 4)
      )
      // every request carries the definitions; the second the calls and their results
      const first = requests[0]!
      expect(first._tag === "chat" && first.tools?.map((t) => t.name)).toEqual(["weather", "clock"])
      expect(first._tag === "chat" && first.tools?.[0]?.parameters).toMatchObject({
        type: "object",
        properties: { city: { type: "string" } }
      })
      const second = requests[1]!
      expect(second._tag === "chat" && second.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool"])
    }).pipe(
      Effect.provide(Layer.mergeAll(handlers, MockGenerator.toolRounds([lyonAndOslo, "Lyon is warmer."])))
    ))

  it.live("runs the calls of one answer in parallel up to concurrency", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const slow = toolkit.toLayer({
        weather: ({ city }) =>
          Effect.gen(function*() {
            const now = yield* Ref.updateAndGet(running, (n) => n + 1)
            yield* Ref.update(peak, (p) => Math.max(p, now))
            yield* Effect.sleep("10 millis")
            yield* Ref.update(running, (n) => n - 1)
            return { city, celsius: 0 }
          }),
        clock: () => Effect.succeed("12:00")
      })
      const calls = ["A", "B", "C", "D"].map((city) => ({ name: "weather", input: { city } }))
      const run = (concurrency: number | "unbounded") =>
        ChatPipeline.make("Weather everywhere?").pipe(
          ChatPipeline.using(toolkit, { concurrency }),
          ChatPipeline.run(),
          Effect.provide(Layer.mergeAll(slow, MockGenerator.toolRounds([calls, "done"])))
        )
      const all = yield* run("unbounded")
      expect(yield* Ref.get(peak)).toBe(4)
      // results stay in call order
      expect(Tools.results(all).map((r) => (r.output as { city: string }).city)).toEqual(["A", "B", "C", "D"])
      yield* Ref.set(peak, 0)
      yield* run(2)
      expect(yield* Ref.get(peak)).toBe(2)
    }))

  it.effect("feeds a handler failure, an unknown tool and bad arguments back to the model as error results", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Weather?").pipe(ChatPipeline.using(toolkit), ChatPipeline.run())
      const results = Tools.results(chat)
      expect(results.map((r) => r.isError)).toEqual([true, true, true])
      expect(results[0]!.output).toEqual({ _tag: "CityUnknown", city: "Atlantis" })
      expect(results[1]!.output).toContain(`There is no tool named "forecast". The tools are: weather, clock.`)
      expect(results[2]!.output).toEqual(expect.stringContaining(`weather`))
      expect(results[2]!.output).toEqual(expect.stringContaining(`city`))
      expect(chat.text).toBe("Sorry.")
    }).pipe(Effect.provide(Layer.mergeAll(
      handlers,
      MockGenerator.toolRounds([[
        { name: "weather", input: { city: "Atlantis" } },
        { name: "forecast", input: {} },
        { name: "weather", input: { town: "Lyon" } }
      ], "Sorry."])
    ))))

  it.effect("onToolError: fail fails the run with the handler's typed failure, recorded on the chat", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("Weather?").pipe(ChatPipeline.using(toolkit, { onToolError: "fail" }))
      const error = yield* Effect.flip(ChatPipeline.run(pipeline))
      expect(error).toEqual(new CityUnknown({ city: "Atlantis" }))
      const kept = yield* ChatPipeline.run(pipeline, { onFailed: "include" })
      expect(kept.error).toBeInstanceOf(StepFailed)
      expect(kept.error?.message).toContain(`"using: tool weather" failed`)
      expect(kept.generated.map((m) => m.role)).toEqual(["assistant"])
      // The error type says what can happen: the tools' failures, AiError, MaxDepthExceeded.
      const failing: Effect.Effect<
        unknown,
        GenerationError | MaxDepthExceeded | CityUnknown | AiError.AiError,
        unknown
      > = ChatPipeline.run(pipeline)
      // ...and by default (failures fed back) only MaxDepthExceeded is added.
      const feeding: Effect.Effect<unknown, GenerationError | MaxDepthExceeded, unknown> = ChatPipeline.make("x").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.run()
      )
      expect([failing, feeding]).toHaveLength(2)
    }).pipe(Effect.provide(Layer.mergeAll(
      handlers,
      MockGenerator.toolRounds([[{ name: "weather", input: { city: "Atlantis" } }], "never"])
    ))))

  it.effect("a model that keeps calling tools fails with MaxDepthExceeded after maxDepth rounds", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Loop").pipe(
        ChatPipeline.using(toolkit, { maxDepth: 3 }),
        ChatPipeline.run({ onFailed: "include" })
      )
      expect(chat.error?._tag).toBe("MaxDepthExceeded")
      expect(chat.error?.message).toContain("maxDepth 3 rounds of tool calls")
      expect(yield* MockGenerator.calls).toBe(4)
      expect(Tools.results(chat)).toHaveLength(3)
      expect(chat.attempts).toBe(4)
    }).pipe(Effect.provide(Layer.mergeAll(handlers, MockGenerator.toolRounds([[{ name: "clock" }]])))))

  it.effect("sends the tool choice with the first request only, then the provider's default", () =>
    Effect.gen(function*() {
      yield* ChatPipeline.make("Time?").pipe(
        ChatPipeline.using(toolkit, { toolChoice: { tool: "clock" } }),
        ChatPipeline.run()
      )
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r._tag === "chat" ? r.toolChoice : "completion")).toEqual([
        { tool: "clock" },
        undefined
      ])
    }).pipe(Effect.provide(Layer.mergeAll(handlers, MockGenerator.toolRounds([[{ name: "clock" }], "Noon."])))))

  it.effect("tool rounds come before parsing, and each parse retry may call tools again", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("How warm is Lyon?").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.untilParsedAs(Model.Answer),
        ChatPipeline.run()
      )
      expect(chat.parsed).toBe("21")
      expect(chat.generated.map((m) => m.role)).toEqual(["assistant", "tool", "assistant"])
    }).pipe(Effect.provide(Layer.mergeAll(
      handlers,
      MockGenerator.toolRounds([[{ name: "weather", input: { city: "Lyon" } }], "<answer>21</answer>"])
    ))))

  it.effect("without tool calls a pipeline using tools answers as before", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Hi").pipe(ChatPipeline.using(toolkit), ChatPipeline.run())
      expect(chat.text).toBe("Hi")
      expect(chat.metadata["toolCalls"]).toBeUndefined()
    }).pipe(Effect.provide(Layer.mergeAll(handlers, MockGenerator.echo()))))

  it("the pipeline's type: R gains the handlers, E only what can happen", () => {
    const feeding = ChatPipeline.make("x").pipe(ChatPipeline.using(toolkit))
    expectTypeOf(feeding).toEqualTypeOf<
      ChatPipeline.ChatPipeline<
        undefined,
        GenerationError | MaxDepthExceeded,
        Generator.Generator | Tool.Handler<"weather"> | Tool.Handler<"clock">
      >
    >()
    const failing = ChatPipeline.make("x").pipe(ChatPipeline.using(toolkit, { onToolError: "fail" }))
    expectTypeOf(failing).toEqualTypeOf<
      ChatPipeline.ChatPipeline<
        undefined,
        GenerationError | MaxDepthExceeded | CityUnknown | AiError.AiError,
        Generator.Generator | Tool.Handler<"weather"> | Tool.Handler<"clock">
      >
    >()
  })

  it("refuses options and tools that cannot work when the pipeline is built", () => {
    const pipeline = ChatPipeline.make("x")
    expect(() => ChatPipeline.using(pipeline, toolkit, { maxDepth: 0 })).toThrow(InvalidParams)
    expect(() => ChatPipeline.using(pipeline, toolkit, { concurrency: 0 })).toThrow(InvalidParams)
    expect(() => ChatPipeline.using(pipeline, toolkit, { toolChoice: { tool: "nope" } })).toThrow(
      /toolChoice names "nope"/
    )
    expect(() => ChatPipeline.using(pipeline, Toolkit.make(Tool.make("bad name")))).toThrow(/not one providers take/)
    expect(() => pipeline.pipe(ChatPipeline.using(toolkit), ChatPipeline.using(toolkit))).toThrow(
      /two tools are named "weather"/
    )
  })

  it.effect("two toolkits: each runs its own tools", () =>
    Effect.gen(function*() {
      const Echo = Tool.make("echo", { parameters: Schema.Struct({ text: Schema.String }), success: Schema.String })
      const other = Toolkit.make(Echo)
      const chat = yield* ChatPipeline.make("Both").pipe(
        ChatPipeline.using(toolkit),
        ChatPipeline.using(other),
        ChatPipeline.run(),
        Effect.provide(other.toLayer({ echo: ({ text }) => Effect.succeed(text.toUpperCase()) }))
      )
      expect(Tools.results(chat).map((r) => r.output)).toEqual(["12:00", "HI"])
    }).pipe(Effect.provide(Layer.mergeAll(
      handlers,
      MockGenerator.toolRounds([[{ name: "clock" }, { name: "echo", input: { text: "hi" } }], "ok"])
    ))))

  it.effect("MockGenerator.callTools works in any script", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Time?").pipe(ChatPipeline.using(toolkit), ChatPipeline.run())
      expect(chat.all.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant"])
      expect(chat.text).toBe("Noon.")
      expect(chat.generated[0]!.content).toEqual([new Message.ToolCallPart({ id: "t1", name: "clock", input: {} })])
    }).pipe(Effect.provide(Layer.mergeAll(
      handlers,
      MockGenerator.replies([MockGenerator.callTools([{ name: "clock", id: "t1" }]), "Noon."])
    ))))
})

describe("tools in batches", () => {
  const items = Dataset.validate(Template.make("Weather in {city}?"), [{ id: "a", city: "Lyon" }, {
    id: "b",
    city: "Oslo"
  }])
  const pipeline = ChatPipeline.make().pipe(ChatPipeline.using(toolkit))
  const script = MockGenerator.toolRounds([[{ name: "weather", input: { city: "Lyon" } }], "Warm."])

  it.effect("rows keep every call and result, survive JSONL, and count the calls", () =>
    Effect.gen(function*() {
      const { rows } = yield* Batch.run(yield* items, { pipeline })
      expect(rows.map((r) => r.output)).toEqual(["Warm.", "Warm."])
      const row = rows[0]!
      expect(row.generated?.map((m) => m.role)).toEqual(["assistant", "tool", "assistant"])
      expect(row.metadata?.["toolCalls"]).toBe(1)
      expect(row.attempts).toBe(2)
      const back = yield* Batch.fromJsonLine(Batch.toJsonLine(row))
      expect(back.generated).toEqual(row.generated)
      expect(back.generated?.[1]!.content).toEqual([
        new Message.ToolResultPart({ id: "call_0_0", name: "weather", output: { city: "Lyon", celsius: 21 } })
      ])
    }).pipe(Effect.provide(Layer.mergeAll(handlers, script))))

  it.live("provider batch mode sends the definitions, runs no handler and no second round", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      const counting = toolkit.toLayer({
        weather: ({ city }) => Effect.as(Ref.update(ran, (n) => n + 1), { city, celsius: 0 }),
        clock: () => Effect.succeed("12:00")
      })
      const { rows } = yield* Batch.run(yield* items, {
        pipeline,
        // nothing to parse: the chat ends with the calls, its steps skipped (no realtime round follows)
        parse: Model.Answer,
        via: "provider-batch",
        providerBatch: { linger: "5 millis", pollInterval: "5 millis" }
      }).pipe(Effect.provide(counting))
      expect(yield* Ref.get(ran)).toBe(0)
      expect(yield* MockGenerator.calls).toBe(2)
      const requests = yield* MockGenerator.requests
      expect(requests.every((r) => r._tag === "chat" && r.tools?.[0]?.name === "weather")).toBe(true)
      const row = rows[0]!
      expect(row.ok).toBe(true)
      expect(row.parsed).toBeUndefined()
      expect(row.metadata).toMatchObject({ via: "provider-batch", toolCalls: 1, toolsRun: false })
      expect(row.stopReason).toBe("tool_calls")
      expect(row.generated?.map((m) => m.role)).toEqual(["assistant"])
      expect(row.generated?.[0]?.parts.map((p) => p._tag === "ToolCall" ? p.name : p._tag)).toEqual(["weather"])
    }).pipe(Effect.provide(script)))
})
