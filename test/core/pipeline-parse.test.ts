import { ChatPipeline, CompletionPipeline, Generation, Model, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

/** Answers call i with replies[i] (the last one repeated), each costing 10 input and 1 output token. */
const scripted = (replies: ReadonlyArray<string>) =>
  MockGenerator.layer((r) =>
    Generation.fromTexts(
      [replies[Math.min(r.call, replies.length) - 1]!],
      new Usage.Usage({ inputTokens: 10, outputTokens: 1 })
    )
  )

const reasonOf = (model: Model.Model<unknown>, text: string) =>
  Effect.map(Effect.flip(Model.parse(model, text)), (e) => e.reason)

const chatMessages = (request: MockGenerator.RecordedRequest | undefined) =>
  request?._tag === "chat" ? request.messages.map((m) => `${m.role}:${m.text}`) : []

describe("untilParsedAs", () => {
  const question = ChatPipeline.make([{ role: "system", content: "Use tags." }, "What is 6 x 7?"])

  it.effect("sends the parse error back as a user message and asks again; usage sums every round", () =>
    Effect.gen(function*() {
      const chat = yield* question.pipe(ChatPipeline.untilParsedAs(Model.Answer), ChatPipeline.run())
      const reason1 = yield* reasonOf(Model.Answer, "no idea")
      const reason2 = yield* reasonOf(Model.Answer, "still nothing")
      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(3)
      expect(chatMessages(requests[1])).toEqual([
        "system:Use tags.",
        "user:What is 6 x 7?",
        "assistant:no idea",
        `user:${reason1}`
      ])
      expect(chatMessages(requests[2]).slice(-2)).toEqual(["assistant:still nothing", `user:${reason2}`])
      expect(chat.messages.map((m) => m.text)).toEqual(["Use tags.", "What is 6 x 7?"])
      expect(chat.generated.map((m) => m.role)).toEqual(["assistant", "user", "assistant", "user", "assistant"])
      expect(chat.usage).toEqual(new Usage.Usage({ inputTokens: 30, outputTokens: 3 }))
      expect(yield* Model.parse(Model.Answer, chat.last!.text)).toBe("42")
      expect(chat.failed).toBe(false)
    }).pipe(Effect.provide(scripted(["no idea", "still nothing", "<answer>42</answer>"]))))

  it.effect("attemptRecovery: false regenerates from the original context and keeps only the answer", () =>
    Effect.gen(function*() {
      const chat = yield* question.pipe(
        ChatPipeline.untilParsedAs(Model.Answer, { attemptRecovery: false }),
        ChatPipeline.run()
      )
      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(3)
      for (const request of requests) expect(chatMessages(request)).toEqual(["system:Use tags.", "user:What is 6 x 7?"])
      expect(chat.generated.map((m) => m.text)).toEqual(["<answer>42</answer>"])
      expect(chat.usage).toEqual(new Usage.Usage({ inputTokens: 30, outputTokens: 3 }))
    }).pipe(Effect.provide(scripted(["no idea", "nope", "<answer>42</answer>"]))))

  it.effect("dropDialog keeps only the final successful exchange (usage still sums every round)", () =>
    Effect.gen(function*() {
      const chat = yield* question.pipe(
        ChatPipeline.untilParsedAs(Model.Answer, { dropDialog: true }),
        ChatPipeline.run()
      )
      expect(chat.conversation).toBe(
        "[system]: Use tags.\n\n[user]: What is 6 x 7?\n\n[assistant]: <answer>42</answer>"
      )
      expect(chat.usage.outputTokens).toBe(2)
      // the dialog was still sent
      expect(chatMessages((yield* MockGenerator.requests)[1]).length).toBe(4)
    }).pipe(Effect.provide(scripted(["no idea", "<answer>42</answer>"]))))

  it.effect("after maxRounds fails with ExhaustedMaxRounds { rounds, lastError }; the failed chat holds the dialog", () =>
    Effect.gen(function*() {
      const pipeline = question.pipe(ChatPipeline.untilParsedAs(Model.Answer, { maxRounds: 3 }))
      const error = yield* Effect.flip(ChatPipeline.run(pipeline))
      expect(error._tag).toBe("ExhaustedMaxRounds")
      if (error._tag !== "ExhaustedMaxRounds") return
      expect(error.rounds).toBe(3)
      expect(error.lastError._tag).toBe("ParseError")
      expect(error.lastError.model).toBe("answer")
      expect(error.lastError.reason).toBe(yield* reasonOf(Model.Answer, "never"))
      expect(yield* MockGenerator.calls).toBe(3)
      const included = yield* ChatPipeline.run(pipeline, { onFailed: "include" })
      expect(included.error?._tag).toBe("ExhaustedMaxRounds")
      expect(included.generated.length).toBe(5)
      expect(included.usage.outputTokens).toBe(3)
      expect(included.parsed).toBeUndefined()
    }).pipe(Effect.provide(scripted(["never"]))))

  it.effect("maxRounds: 1 never retries; an invalid maxRounds throws when the pipeline is built", () =>
    Effect.gen(function*() {
      const once = yield* Effect.flip(
        question.pipe(ChatPipeline.untilParsedAs(Model.Answer, { maxRounds: 1 }), ChatPipeline.run())
      )
      expect(once._tag === "ExhaustedMaxRounds" && once.rounds).toBe(1)
      expect(yield* MockGenerator.calls).toBe(1)
      expect(() => question.pipe(ChatPipeline.untilParsedAs(Model.Answer, { maxRounds: 0 }))).toThrow(
        "untilParsedAs(answer): maxRounds must be an integer >= 1, got 0"
      )
      expect(yield* MockGenerator.calls).toBe(1)
    }).pipe(Effect.provide(scripted(["never"]))))

  it.effect("a JSON model is requested as native structured output, in every round", () =>
    Effect.gen(function*() {
      const Person = Model.json(Schema.Struct({ name: Schema.String }), { name: "person" })
      const chat = yield* ChatPipeline.make("Who?").pipe(ChatPipeline.untilParsedAs(Person), ChatPipeline.run())
      expect(yield* Model.parse(Person, chat.last!.text)).toEqual({ name: "Ada" })
      const requests = yield* MockGenerator.requests
      expect(requests.length).toBe(2)
      for (const request of requests) {
        expect(request._tag === "chat" && request.structured).toEqual(Person.structured)
      }
      // without a parse step nothing structured is asked for
      yield* ChatPipeline.run(ChatPipeline.make("plain"))
      const plain = (yield* MockGenerator.requests)[2]
      expect(plain?._tag === "chat" && plain.structured).toBeUndefined()
    }).pipe(Effect.provide(scripted(["not json", "{\"name\":\"Ada\"}", "{}"]))))

  it.effect("parses the chat as an earlier andThen step left it", () =>
    Effect.gen(function*() {
      const chat = yield* ChatPipeline.make("Q").pipe(
        ChatPipeline.andThen((chat) => Effect.succeed(ChatPipeline.continue(chat, "Now in tags."))),
        ChatPipeline.untilParsedAs(Model.Answer, { attemptRecovery: false }),
        ChatPipeline.run()
      )
      expect(chat.all.map((m) => m.text)).toEqual(["Q", "plain", "Now in tags.", "<answer>x</answer>"])
      // regenerated from the continued context, not the pipeline's first one
      expect(chatMessages((yield* MockGenerator.requests)[2])).toEqual([
        "user:Q",
        "assistant:plain",
        "user:Now in tags."
      ])
    }).pipe(Effect.provide(scripted(["plain", "still plain", "<answer>x</answer>"]))))

  it.effect("CompletionPipeline regenerates from the prompt", () =>
    Effect.gen(function*() {
      const chat = yield* CompletionPipeline.make("The answer is ").pipe(
        CompletionPipeline.untilParsedAs(Model.NumberAnswer, { maxRounds: 3 }),
        CompletionPipeline.run()
      )
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r._tag === "completion" ? r.prompt : "")).toEqual(["The answer is ", "The answer is "])
      expect(CompletionPipeline.text(chat)).toBe("<number-answer>42</number-answer>")
      expect(chat.generated.length).toBe(1)
      expect(chat.usage.outputTokens).toBe(2)
    }).pipe(Effect.provide(scripted(["forty-two", "<number-answer>42</number-answer>"]))))
})
