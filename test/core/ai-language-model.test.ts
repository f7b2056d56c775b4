import {
  AiLanguageModel,
  Batch,
  ChatPipeline,
  Dataset,
  GenerateParams,
  Generation,
  Generator,
  GeneratorRegistry,
  Identifier,
  Message,
  Model,
  RateLimited,
  ServerError,
  Template,
  Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { AiError, LanguageModel, type Response, Tool, Toolkit } from "effect/ai"
import { TestClock } from "effect/testing"

const Person = Schema.Struct({ name: Schema.String, age: Schema.Int }).annotate({ identifier: "Person" })

const usage = (input: number, output: number, cached?: number): typeof Response.Usage.Encoded => ({
  inputTokens: { total: input, ...(cached === undefined ? {} : { cacheRead: cached }) },
  outputTokens: { total: output }
})

const finish = (
  reason: Response.FinishReason,
  input = 10,
  output = 5,
  cached?: number
): Response.PartEncoded => ({ type: "finish", reason, usage: usage(input, output, cached) })

/** A `LanguageModel.make` fake: answers by `script` with the call's number, recording what each call was sent. */
const fakeModel = (
  script: (options: LanguageModel.ProviderOptions, call: number) => Effect.Effect<
    Array<Response.PartEncoded>,
    AiError.AiError
  >,
  stream?: (options: LanguageModel.ProviderOptions) => Stream.Stream<Response.StreamPartEncoded, AiError.AiError>
) => {
  const seen: Array<LanguageModel.ProviderOptions> = []
  const layer = Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (options) =>
        Effect.suspend(() => {
          seen.push(options)
          return script(options, seen.length)
        }),
      streamText: (options) =>
        Stream.suspend(() => {
          seen.push(options)
          return stream === undefined ? Stream.die("no stream scripted") : stream(options)
        })
    })
  )
  return { seen, layer }
}

const answer = (text: string): Effect.Effect<Array<Response.PartEncoded>> =>
  Effect.succeed([{ type: "text", text }, finish("stop", 12, 3, 4)])

const rateLimited = (retryAfterMs: number) =>
  AiError.make({
    module: "FakeLanguageModel",
    method: "generateText",
    reason: new AiError.RateLimitError({ retryAfter: Duration.millis(retryAfterMs) })
  })

/** A generator over the fake, registered as provider `fake`, run through the engine. */
const viaRegistry = (model: Layer.Layer<LanguageModel.LanguageModel>, identifier = "fake!m1") =>
  Generator.layer(identifier).pipe(Layer.provide(GeneratorRegistry.register(AiLanguageModel.provider("fake", model))))

const lastUser = (request: MockGenerator.RecordedRequest) =>
  request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : request.prompt

describe("AiLanguageModel.layer: a Capstan generator as an effect/ai LanguageModel", () => {
  it.effect("generateText sends the prompt as Capstan messages and answers with text, finish reason and usage", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({
        prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello there" }]
      })
      expect(response.text).toBe("Hello!")
      expect(response.finishReason).toBe("stop")
      const [request] = yield* MockGenerator.requests
      expect(request?._tag === "chat" && request.messages.map(String)).toEqual([
        "[system]: Be brief.",
        "[user]: Hello there"
      ])
      expect(response.usage.inputTokens.total).toBe(MockGenerator.estimateTokens("Be brief.\nHello there"))
      expect(response.usage.outputTokens.total).toBe(MockGenerator.estimateTokens("Hello!"))
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed("Hello!"))))))

  it.effect("every message part maps: images, tool calls and tool results", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({
        prompt: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "file", mediaType: "image/png", data: new URL("https://example.com/cat.png") },
              { type: "file", mediaType: "image/jpeg", data: new Uint8Array([255, 216, 255]) }
            ]
          },
          {
            role: "assistant",
            content: [{ type: "reasoning", text: "hmm" }, {
              type: "tool-call",
              id: "c1",
              name: "look",
              params: { x: 1 }
            }]
          },
          {
            role: "tool",
            content: [{ type: "tool-result", id: "c1", name: "look", isFailure: true, result: "blurry" }]
          }
        ]
      })
      const [request] = yield* MockGenerator.requests
      const messages = request?._tag === "chat" ? request.messages : []
      expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "tool"])
      expect(messages[0]?.parts).toEqual([
        new Message.TextPart({ text: "What is this?" }),
        new Message.ImagePart({ url: "https://example.com/cat.png", mediaType: "image/png" }),
        new Message.ImagePart({ data: "/9j/", mediaType: "image/jpeg" })
      ])
      // reasoning has no Capstan part: left out
      expect(messages[1]?.parts).toEqual([new Message.ToolCallPart({ id: "c1", name: "look", input: { x: 1 } })])
      expect(messages[2]?.parts).toEqual([
        new Message.ToolResultPart({ id: "c1", name: "look", output: "blurry", isError: true })
      ])
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed("ok"))))))

  it.effect("a file that is not an image is refused before any request, saying where", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({
        prompt: [{ role: "user", content: [{ type: "file", mediaType: "application/pdf", data: "JVBERi0=" }] }]
      }))
      expect(error.reason._tag).toBe("InvalidUserInputError")
      expect(error.message).toContain("message 0 (user)")
      expect(error.message).toContain("application/pdf")
      expect(yield* MockGenerator.calls).toBe(0)
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed("ok"))))))

  it.effect("generateObject asks for native structured output and decodes the answer with the schema", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateObject({ prompt: "Who wrote the first program?", schema: Person })
      expect(response.value).toEqual({ name: "Ada", age: 36 })
      const [request] = yield* MockGenerator.requests
      const structured = request?._tag === "chat" ? request.structured : undefined
      expect(structured?.name).toBe("Person")
      expect(structured?.schema).toMatchObject({ type: "object", required: ["name", "age"] })
      expect(structured?.codec).toBe(Person)
    }).pipe(Effect.provide(
      AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed(`{"name":"Ada","age":36}`)))
    )))

  it.effect("an answer that does not fit the schema fails generateObject with a StructuredOutputError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateObject({ prompt: "Who?", schema: Person }))
      expect(error.reason._tag).toBe("StructuredOutputError")
    }).pipe(Effect.provide(
      AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed(`{"name":"Ada"}`)))
    )))

  const Weather = Tool.make("weather", {
    description: "The weather in a city",
    parameters: Schema.Struct({ city: Schema.String }),
    success: Schema.Number
  })
  const Tools = Toolkit.make(Weather)

  it.effect("a toolkit's tools go out as tool definitions, and the model's calls come back and are run", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Weather in Lyon?", toolkit: Tools })
      expect(response.toolCalls.map((call) => [call.name, call.params])).toEqual([["weather", { city: "Lyon" }]])
      expect(response.toolResults.map((result) => result.result)).toEqual([21])
      expect(response.finishReason).toBe("tool-calls")
      const [request] = yield* MockGenerator.requests
      const sent = request?._tag === "chat" ? request : undefined
      expect(sent?.tools?.map((tool) => [tool.name, tool.description])).toEqual([["weather", "The weather in a city"]])
      expect(sent?.tools?.[0]?.parameters).toMatchObject({ type: "object", required: ["city"] })
      expect(sent?.toolChoice).toBe("auto")
    }).pipe(Effect.provide(Layer.mergeAll(
      AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.layer(() =>
        new Generation.Generation({
          choices: [
            new Generation.Choice({
              text: "",
              stopReason: "tool_calls",
              toolCalls: [new Message.ToolCallPart({ id: "call_1", name: "weather", input: { city: "Lyon" } })]
            })
          ],
          usage: Usage.empty
        })
      ))),
      Tools.toLayer({ weather: () => Effect.succeed(21) })
    ))))

  it.effect("streamText streams the generator's deltas in one text part, then the finish part with usage", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Tell me" }))
      const deltas = parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])
      expect(deltas.length).toBe(3)
      expect(deltas.join("")).toBe("one two three")
      expect(parts.map((part) => part.type)).toEqual([
        "response-metadata",
        "text-start",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-end",
        "finish"
      ])
      const last = parts.at(-1)
      expect(last?.type === "finish" && [last.reason, last.usage.outputTokens.total]).toEqual([
        "stop",
        MockGenerator.estimateTokens("one two three")
      ])
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.fixed("one two three"))))))

  it.effect("streamText with a toolkit: the streamed answer's tool calls come out and are run; cached tokens kept", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Weather in Lyon?", toolkit: Tools }))
      const call = parts.find((part) => part.type === "tool-call")
      expect(call?.type === "tool-call" && [call.name, call.params]).toEqual(["weather", { city: "Lyon" }])
      const result = parts.find((part) => part.type === "tool-result")
      expect(result?.type === "tool-result" && result.result).toBe(21)
      const end = parts.find((part) => part.type === "finish")
      expect(end?.type === "finish" && [end.reason, end.usage.inputTokens]).toEqual([
        "tool-calls",
        { total: 40, cacheRead: 32, uncached: 8 }
      ])
    }).pipe(Effect.provide(Layer.mergeAll(
      AiLanguageModel.layer.pipe(Layer.provideMerge(MockGenerator.layer(() =>
        new Generation.Generation({
          choices: [
            new Generation.Choice({
              text: "Let me look.",
              stopReason: "tool_calls",
              toolCalls: [new Message.ToolCallPart({ id: "call_1", name: "weather", input: { city: "Lyon" } })]
            })
          ],
          usage: new Usage.Usage({ inputTokens: 40, outputTokens: 6, cachedInputTokens: 32 })
        })
      ))),
      Tools.toLayer({ weather: () => Effect.succeed(21) })
    ))))

  it.effect("a generator that cannot stream answers streamText with one generate, its text as one delta", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Tell me" }))
      expect(parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])).toEqual(["whole answer"])
      expect(parts.at(-1)?.type).toBe("finish")
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provide(Layer.succeed(Generator.Generator, {
      identifier: Identifier.make({ provider: "plain", model: "p1" }),
      generate: () => Effect.succeed(Generation.fromTexts(["whole answer"], Usage.empty))
    }))))))

  it.effect("a Capstan error reaches effect/ai as an AiError, the retry-after kept", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      expect(error.reason._tag).toBe("RateLimitError")
      expect(error.isRetryable).toBe(true)
      expect(error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)).toBe(1500)
      const streamed = yield* Effect.flip(Stream.runDrain(LanguageModel.streamText({ prompt: "Hi" })))
      expect(streamed.reason._tag).toBe("RateLimitError")
    }).pipe(Effect.provide(AiLanguageModel.layer.pipe(Layer.provideMerge(
      MockGenerator.failing(new RateLimited({ provider: "mock", detail: "slow down", retryAfterMs: 1500 }))
    )))))

  it.effect("effect/ai's calls go through the engine: a failed request is retried, and params are sent", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generateText({ prompt: "Hi" }))
      yield* TestClock.adjust("1 minute")
      const response = yield* Fiber.join(fiber)
      expect(response.text).toBe("Hi")
      expect(yield* MockGenerator.calls).toBe(2)
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r.params.temperature)).toEqual([0, 0])
    }).pipe(Effect.provide(
      AiLanguageModel.layerWith({ params: { temperature: 0 } }).pipe(Layer.provideMerge(
        MockGenerator.layer(
          (request) =>
            request.call === 1
              ? Effect.fail(new ServerError({ provider: "mock", detail: "oops", status: 500 }))
              : lastUser(request)
        ).pipe(Generator.withEngine({ maxRetries: 2 }))
      ))
    )))

  it.effect("fromIdentifier builds the LanguageModel from an identifier, its params applied", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "a b c d e f g h i j" })
      expect(response.text).toBe("a b c d ")
      expect(response.finishReason).toBe("length")
    }).pipe(Effect.provide(AiLanguageModel.fromIdentifier("mock!echo,max_tokens=2"))))
})

describe("AiLanguageModel.provider: an effect/ai LanguageModel as a Capstan provider", () => {
  const fake = fakeModel(() => answer("Hello from effect/ai"))

  it.effect("a generator built from an identifier answers through generateText, usage and warnings mapped", () =>
    Effect.gen(function*() {
      const chat = yield* Generator.chat([Message.system("Be brief."), Message.user("Hi")])
      expect(chat.text).toBe("Hello from effect/ai")
      expect(chat.stopReason).toBe("stop")
      expect(chat.usage).toEqual(new Usage.Usage({ inputTokens: 12, outputTokens: 3, cachedInputTokens: 4 }))
      expect(chat.warnings).toEqual(["effect/ai's LanguageModel takes no temperature: not sent"])
      expect(fake.seen[0]?.prompt.content.map((m) => m.role)).toEqual(["system", "user"])
      expect(fake.seen[0]?.responseFormat.type).toBe("text")
      const generator = yield* Generator.Generator
      expect(generator.capabilities?.maxChoices).toBe(1)
    }).pipe(Effect.provide(viaRegistry(fake.layer, "fake!m1,temperature=0.2"))))

  it.effect("a conversation with tool calls and results reaches the model as effect/ai parts", () =>
    Effect.gen(function*() {
      const model = fakeModel(() => answer("21 degrees"))
      const generator = AiLanguageModel.toGenerator(
        yield* Effect.provide(Effect.service(LanguageModel.LanguageModel), model.layer),
        Identifier.make({ provider: "fake", model: "m1" })
      )
      yield* generator.generate({
        messages: [
          Message.user([
            new Message.TextPart({ text: "Weather?" }),
            new Message.ImagePart({ url: "data:image/gif;base64,R0lG" })
          ]),
          Message.assistant([new Message.ToolCallPart({ id: "c1", name: "weather", input: { city: "Lyon" } })]),
          Message.tool([new Message.ToolResultPart({ id: "c1", name: "weather", output: 21 })])
        ],
        params: GenerateParams.empty
      })
      const [user, assistant, tool] = model.seen[0]?.prompt.content ?? []
      expect(user?.role === "user" && user.content.map((part) => part.type === "file" && part.mediaType)).toEqual([
        false,
        "image/gif"
      ])
      expect(assistant?.role === "assistant" && assistant.content[0]).toMatchObject({
        type: "tool-call",
        id: "c1",
        name: "weather",
        params: { city: "Lyon" }
      })
      expect(tool?.role === "tool" && tool.content[0]).toMatchObject({
        type: "tool-result",
        id: "c1",
        result: 21,
        isFailure: false
      })
      const refused = yield* Effect.flip(generator.generate({
        messages: [Message.system([new Message.ImagePart({ url: "https://example.com/x.png" })])],
        params: GenerateParams.empty
      }))
      expect(refused._tag).toBe("Unsupported")
      expect(refused.message).toContain("message 0 (system)")
      expect(model.seen.length).toBe(1)
    }))

  it.effect("tool definitions go out as effect/ai tools; the model's calls come back unresolved as toolCalls", () =>
    Effect.gen(function*() {
      const model = fakeModel(() =>
        Effect.succeed([
          { type: "tool-call", id: "call_9", name: "weather", params: { city: "Oslo" } },
          finish("tool-calls")
        ])
      )
      const generation = yield* Generator.generate({
        messages: [Message.user("Weather in Oslo?")],
        params: GenerateParams.empty,
        tools: [{
          name: "weather",
          description: "The weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        }],
        toolChoice: "required"
      }).pipe(Effect.provide(viaRegistry(model.layer)))
      const sent = model.seen[0]
      expect(sent?.tools.map((tool) => [tool.name, Tool.getDescription(tool)])).toEqual([[
        "weather",
        "The weather in a city"
      ]])
      expect(sent?.tools[0] === undefined ? undefined : Tool.getJsonSchema(sent.tools[0])).toMatchObject({
        required: ["city"]
      })
      expect(sent?.toolChoice).toBe("required")
      const choice = generation.choices[0]
      expect(choice?.stopReason).toBe("tool_calls")
      expect(choice?.toolCalls).toEqual([
        new Message.ToolCallPart({ id: "call_9", name: "weather", input: { city: "Oslo" } })
      ])
    }))

  it.effect("a structured request uses generateObject: the schema goes out as the response format", () =>
    Effect.gen(function*() {
      const model = fakeModel(() => answer(`{"name":"Ada","age":36}`))
      const Review = Model.json(Person, { name: "person" })
      const chat = yield* ChatPipeline.make("Who wrote the first program?").pipe(
        ChatPipeline.untilParsedAs(Review),
        ChatPipeline.run(),
        Effect.provide(viaRegistry(model.layer))
      )
      expect(chat.parsed).toEqual({ name: "Ada", age: 36 })
      const format = model.seen[0]?.responseFormat
      expect(format?.type === "json" && format.objectName).toBe("person")
      expect(format?.type === "json" && format.schema).toBe(Person)
    }))

  it.effect("a structured answer that does not decode is a MalformedResponse, which the engine retries", () =>
    Effect.gen(function*() {
      const model = fakeModel((_, call) => answer(call === 1 ? `{"name":1}` : `{"name":"Ada","age":36}`))
      const fiber = yield* Effect.forkChild(
        Generator.generate({
          messages: [Message.user("Who?")],
          params: GenerateParams.empty,
          structured: Model.json(Person).structured
        }).pipe(Effect.provide(viaRegistry(model.layer, "fake!m1,max_retries=2")))
      )
      yield* TestClock.adjust("1 minute")
      const generation = yield* Fiber.join(fiber)
      expect(generation.choices[0]?.text).toBe(`{"name":"Ada","age":36}`)
      expect(generation.attempts).toBe(2)
    }))

  it.effect("a batch runs through the engine: a rate limit is retried after the model's retry-after", () =>
    Effect.gen(function*() {
      const model = fakeModel((options, call) => {
        const text = options.prompt.content.at(-1)
        const said = text?.role === "user" && text.content[0]?.type === "text" ? text.content[0].text : ""
        return call === 1 ? Effect.fail(rateLimited(3000)) : answer(`re: ${said}`)
      })
      const items = yield* Dataset.validate(Template.make("Review: {text}"), [{ id: "a", text: "great" }])
      const fiber = yield* Effect.forkChild(
        Batch.run(items).pipe(Effect.provide(viaRegistry(model.layer, "fake!m1,max_retries=3")))
      )
      yield* TestClock.adjust("2999 millis")
      expect(model.seen.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      const { rows } = yield* Fiber.join(fiber)
      expect(model.seen.length).toBe(2)
      expect(rows.map((row) => [row.output, row.attempts, row.ok])).toEqual([["re: Review: great", 2, true]])
    }))

  it.effect("n > 1 in a batch becomes one request per choice (maxChoices 1); n > 1 asked directly is Unsupported", () =>
    Effect.gen(function*() {
      const model = fakeModel((_, call) => answer(`answer ${call}`))
      const layer = viaRegistry(model.layer)
      const items = yield* Dataset.validate(Template.make("Q: {q}"), [{ id: "a", q: "why" }])
      const { rows } = yield* Batch.run(items, { params: { n: 2 } }).pipe(Effect.provide(layer))
      expect(rows.map((row) => row.output).sort()).toEqual(["answer 1", "answer 2"])
      expect(model.seen.length).toBe(2)
      const error = yield* Effect.flip(
        Generator.generate({ messages: [Message.user("x")], params: GenerateParams.make({ n: 2 }) }).pipe(
          Effect.provide(layer)
        )
      )
      expect(error._tag).toBe("Unsupported")
      expect(model.seen.length).toBe(2)
    }))

  it.effect("stream is streamText: deltas as they come, then the whole generation with its usage", () =>
    Effect.gen(function*() {
      const model = fakeModel(
        () => answer("unused"),
        () =>
          Stream.fromIterable<Response.StreamPartEncoded>([
            { type: "text-start", id: "t" },
            { type: "text-delta", id: "t", delta: "Hel" },
            { type: "text-delta", id: "t", delta: "lo" },
            { type: "text-end", id: "t" },
            { type: "finish", reason: "stop", usage: usage(7, 2) }
          ])
      )
      const parts = yield* Stream.runCollect(
        Generator.stream({ messages: [Message.user("Hi")], params: GenerateParams.empty }).pipe(
          Stream.provide(viaRegistry(model.layer))
        )
      )
      expect(parts.flatMap((part) => part._tag === "Delta" ? [part.text] : [])).toEqual(["Hel", "lo"])
      const done = parts.at(-1)
      expect(done?._tag === "Done" && done.generation.choices[0]?.text).toBe("Hello")
      expect(done?._tag === "Done" && done.generation.usage).toEqual(
        new Usage.Usage({ inputTokens: 7, outputTokens: 2 })
      )
    }))

  it.effect("a failed stream fails with the mapped Capstan error", () =>
    Effect.gen(function*() {
      const model = fakeModel(() => answer("unused"), () => Stream.fail(rateLimited(250)))
      const error = yield* Effect.flip(Stream.runDrain(
        Generator.stream({ messages: [Message.user("Hi")], params: GenerateParams.empty }).pipe(
          Stream.provide(
            Generator.layer("fake!m1,max_retries=0").pipe(
              Layer.provide(GeneratorRegistry.register(AiLanguageModel.provider("fake", model.layer)))
            )
          )
        )
      ))
      expect(error._tag).toBe("RateLimited")
      expect(error._tag === "RateLimited" && error.retryAfterMs).toBe(250)
    }))

  it.effect("the model name selects the layer when the provider is given a function", () =>
    Effect.gen(function*() {
      const chat = yield* Generator.chat("Hi").pipe(Effect.provide(
        Generator.layer("fake!small").pipe(Layer.provide(GeneratorRegistry.register(
          AiLanguageModel.provider("fake", (model) => fakeModel(() => answer(`I am ${model}`)).layer)
        )))
      ))
      expect(chat.text).toBe("I am small")
    }))

  it.effect("a timeout param bounds the call: a model that does not answer fails with Timeout", () =>
    Effect.gen(function*() {
      const model = fakeModel(() => Effect.never)
      const fiber = yield* Effect.forkChild(Effect.flip(
        Generator.generate({ messages: [Message.user("Hi")], params: GenerateParams.make({ timeout: 2 }) }).pipe(
          Effect.provide(viaRegistry(model.layer, "fake!m1,max_retries=0"))
        )
      ))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("Timeout")
    }))
})
