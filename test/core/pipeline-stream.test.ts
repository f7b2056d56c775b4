import { ChatPipeline, Generation, Generator, Identifier, Model, ServerError, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"

/** Answers call i with replies[i] (the last one repeated). */
const scripted = (replies: ReadonlyArray<string>) =>
  MockGenerator.layer((r) =>
    Generation.fromTexts(
      [replies[Math.min(r.call, replies.length) - 1]!],
      new Usage.Usage({ inputTokens: 10, outputTokens: 1 })
    )
  )

const textOf = (events: ReadonlyArray<ChatPipeline.StreamEvent<unknown>>, request?: number) =>
  events.flatMap((e) => e._tag === "Delta" && (request === undefined || e.request === request) ? [e.text] : []).join("")

describe("ChatPipeline.runStream", () => {
  it.effect("streams the answer's text in pieces, then the chat run would give", () =>
    Effect.gen(function*() {
      const pipeline = ChatPipeline.make("the quick brown fox")
      const events = yield* pipeline.pipe(ChatPipeline.runStream(), Stream.runCollect)
      expect(events.filter((e) => e._tag === "Delta").length).toBeGreaterThan(2)
      expect(textOf(events)).toBe("the quick brown fox")
      const last = events.at(-1)
      expect(last?._tag).toBe("Done")
      const chat = last?._tag === "Done" ? last.chat : undefined
      const ran = yield* pipeline.pipe(ChatPipeline.run())
      expect(chat?.text).toBe(ran.text)
      expect(chat?.usage).toEqual(ran.usage)
      expect(events.filter((e) => e._tag === "Done").length).toBe(1)
    }).pipe(Effect.provide(MockGenerator.echo())))

  it.effect("a parse retry streams its own request; Done carries the parsed chat", () =>
    Effect.gen(function*() {
      const events = yield* ChatPipeline.make("What is 6 x 7?").pipe(
        ChatPipeline.untilParsedAs(Model.Answer),
        ChatPipeline.runStream(),
        Stream.runCollect
      )
      expect(textOf(events, 0)).toBe("no idea")
      expect(textOf(events, 1)).toBe("<answer>42</answer>")
      const last = events.at(-1)
      expect(last?._tag === "Done" && last.chat.parsed).toBe("42")
      expect((yield* MockGenerator.requests).length).toBe(2)
    }).pipe(Effect.provide(scripted(["no idea", "<answer>42</answer>"]))))

  it.effect("a generator that cannot stream fails with Unsupported before any request", () =>
    Effect.gen(function*() {
      let sent = 0
      const chatOnly = Layer.succeed(Generator.Generator, {
        identifier: Identifier.make({ provider: "plain", model: "m" }),
        generate: () => Effect.sync(() => sent++).pipe(Effect.as(Generation.fromTexts(["x"], Usage.empty)))
      })
      const error = yield* ChatPipeline.make("hi").pipe(
        ChatPipeline.runStream(),
        Stream.runCollect,
        Effect.flip,
        Effect.provide(chatOnly)
      )
      expect(error._tag).toBe("Unsupported")
      expect(error.message).toContain("no streaming")
      expect(sent).toBe(0)
    }))

  it.effect("a failing request fails the stream with its typed error", () =>
    Effect.gen(function*() {
      const error = yield* ChatPipeline.make("hi").pipe(ChatPipeline.runStream(), Stream.runCollect, Effect.flip)
      expect(error._tag).toBe("ServerError")
    }).pipe(
      Effect.provide(MockGenerator.echo({ fail: new ServerError({ provider: "mock", detail: "boom", status: 500 }) }))
    ))

  it.effect("a pipeline using tools streams every request of its tool loop; the calls and results are in the chat", () =>
    Effect.gen(function*() {
      const Weather = Tool.make("weather", {
        parameters: Schema.Struct({ city: Schema.String }),
        success: Schema.Struct({ celsius: Schema.Number })
      })
      const tools = Toolkit.make(Weather)
      const events = yield* ChatPipeline.make("Is it warm in Lyon?").pipe(
        ChatPipeline.using(tools),
        ChatPipeline.runStream(),
        Stream.runCollect,
        Effect.provide(tools.toLayer({ weather: () => Effect.succeed({ celsius: 21 }) }))
      )
      const last = events.at(-1)
      const chat = last?._tag === "Done" ? last.chat : undefined
      expect(chat?.text).toBe("It is 21 degrees in Lyon.")
      expect(chat?.generated.map((m) => m.role)).toEqual(["assistant", "tool", "assistant"])
      expect(textOf(events, 1)).toBe("It is 21 degrees in Lyon.")
    }).pipe(
      Effect.provide(
        MockGenerator.toolRounds([[{ name: "weather", input: { city: "Lyon" } }], "It is 21 degrees in Lyon."])
      )
    ))

  it.effect("a pipeline with its own generator streams through it, its callbacks too", () =>
    Effect.gen(function*() {
      const bound = yield* Generator.make("mock!fixed,reply=from the bound generator")
      const events = yield* ChatPipeline.make("hi").pipe(
        ChatPipeline.withGenerator(bound),
        ChatPipeline.andThen((chat) =>
          Effect.succeed(chat.all.length > 2 ? undefined : ChatPipeline.continue(chat, "Sure?"))
        ),
        ChatPipeline.runStream(),
        Stream.runCollect
      )
      expect(textOf(events, 0)).toBe("from the bound generator")
      expect(textOf(events, 1)).toBe("from the bound generator")
      const last = events.at(-1)
      expect(last?._tag === "Done" ? last.chat.generator : undefined).toBe("mock!fixed,reply=from the bound generator")
    }).pipe(Effect.scoped, Effect.provide(MockGenerator.echo())))
})
