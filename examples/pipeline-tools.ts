/**
 * A pipeline that uses tools (rigging's `using`), defined with effect/ai's `Tool` and `Toolkit`: the model asks
 * for the weather of three cities at once, the calls run in parallel, a city the tool does not know goes back to
 * the model as an error result (typed: the tool's failure schema), and the model answers from the results. Every
 * call and result is in the chat; its usage covers both requests.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/pipeline-tools.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import { ChatPipeline, type Generator, type Message, Tools } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { runMain } from "./run.js"

class UnknownCity extends Schema.TaggedError<UnknownCity>()("UnknownCity", { city: Schema.String }) {}

export const Weather = Tool.make("weather", {
  description: "Today's weather in a city: temperature in Celsius and the sky",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ celsius: Schema.Number, sky: Schema.String }),
  failure: UnknownCity
})

export const toolkit = Toolkit.make(Weather)

const forecasts: Record<string, { readonly celsius: number; readonly sky: string }> = {
  Lyon: { celsius: 21, sky: "sunny" },
  Oslo: { celsius: 4, sky: "snow" }
}

/** The handlers: a lookup that fails, typed, for a city it does not know. */
export const handlers = toolkit.toLayer({
  weather: ({ city }) => {
    const forecast = forecasts[city]
    return forecast === undefined ? Effect.fail(new UnknownCity({ city })) : Effect.succeed(forecast)
  }
})

const pipeline = ChatPipeline.make([
  { role: "system", content: "Answer with the weather tool; say when a city is unknown." },
  "Where is it warmest today: Lyon, Oslo or Atlantis?"
]).pipe(ChatPipeline.using(toolkit, { maxDepth: 3 }))

/** The answer, after one line per tool call and its result. */
export const program: Effect.Effect<string, unknown, Generator.Generator> = Effect.gen(function*() {
  const chat = yield* pipeline.pipe(ChatPipeline.run())
  const results = Tools.results(chat)
  for (const call of Tools.calls(chat)) {
    const result = results.find((r) => r.id === call.id)
    yield* Console.log(
      `${call.name}(${JSON.stringify(call.input)}) -> ${result?.isError === true ? "error " : ""}${
        JSON.stringify(result?.output)
      }`
    )
  }
  yield* Console.log(`answer: ${chat.text}`)
  yield* Console.log(`${chat.attempts} requests, ${chat.usage.totalTokens} tokens`)
  return chat.text
}).pipe(Effect.provide(handlers))

const cities = ["Lyon", "Oslo", "Atlantis"]

// Answers like a model would: first one weather call per city named, then an answer from the results.
export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.layer((request) => {
  if (request._tag !== "chat") return ""
  const results = request.messages.flatMap((m) =>
    m.parts.filter((p): p is Message.ToolResultPart => p._tag === "ToolResult")
  )
  if (results.length === 0) {
    const asked = cities.filter((city) => request.messages.some((m) => m.role === "user" && m.text.includes(city)))
    return MockGenerator.callTools(asked.map((city) => ({ name: "weather", input: { city } })))
  }
  const known = results.filter((r) => r.isError !== true).map((r) => r.output as { celsius: number })
  const warmest = Math.max(...known.map((r) => r.celsius))
  return `Lyon is warmest at ${warmest}°C; Oslo has snow; I know no Atlantis.`
}, { identifier: "mock!weather" })

runMain(import.meta, program, mock)
