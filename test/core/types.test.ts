/**
 * Type-level tests: a pipeline keeps what it parses, and its error type holds only what its steps can raise.
 * `expectTypeOf` fails the type check (and so `pnpm typecheck`) when a type drifts.
 */
import {
  Batch,
  type BatchSizeMismatch,
  type BatchStopped,
  type Chat,
  ChatPipeline,
  CompletionPipeline,
  type ExhaustedMaxRounds,
  Extraction,
  type GenerationError,
  type Generator,
  type ItemFailed,
  type MaxDepthExceeded,
  Model
} from "@capstan/core"
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Effect, type Option, Schema, type Stream } from "effect"

const Sentiment = Model.json(
  Schema.Struct({ sentiment: Schema.Literals(["positive", "negative"]), score: Schema.Number })
)

class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}

describe("pipeline types", () => {
  it("a plain pipeline parses nothing and fails only as its generator can", () => {
    const pipeline = ChatPipeline.make("Hi")
    expectTypeOf(pipeline).toEqualTypeOf<ChatPipeline.ChatPipeline<undefined, GenerationError, Generator.Generator>>()
    const run = ChatPipeline.run(pipeline)
    expectTypeOf(run).toEqualTypeOf<Effect.Effect<Chat.Chat<undefined>, GenerationError, Generator.Generator>>()
  })

  it("untilParsedAs makes the chat's parsed the model's type and adds ExhaustedMaxRounds", () => {
    const run = ChatPipeline.make("Review: great").pipe(ChatPipeline.untilParsedAs(Sentiment), ChatPipeline.run())
    expectTypeOf(run).toEqualTypeOf<
      Effect.Effect<
        Chat.Chat<{ readonly sentiment: "positive" | "negative"; readonly score: number }>,
        GenerationError | ExhaustedMaxRounds,
        Generator.Generator
      >
    >()
    const label = Effect.map(run, (chat) => chat.parsed.sentiment)
    expectTypeOf(label).toEqualTypeOf<
      Effect.Effect<"positive" | "negative", GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
    // An XML answer parses to its schema's type too.
    const yes = ChatPipeline.make("Is it?").pipe(ChatPipeline.untilParsedAs(Model.YesNoAnswer), ChatPipeline.run())
    expectTypeOf(Effect.map(yes, (chat) => chat.parsed)).toEqualTypeOf<
      Effect.Effect<boolean, GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
  })

  it("andThen adds its callback's errors; MaxDepthExceeded only when it may continue", () => {
    const keeps = ChatPipeline.make("Hi").pipe(ChatPipeline.andThen(() => Effect.void))
    expectTypeOf(keeps).toEqualTypeOf<ChatPipeline.ChatPipeline<undefined, GenerationError, Generator.Generator>>()
    const fails = ChatPipeline.make("Hi").pipe(ChatPipeline.andThen(() => Effect.fail(new Boom())))
    expectTypeOf(fails).toEqualTypeOf<
      ChatPipeline.ChatPipeline<undefined, GenerationError | Boom, Generator.Generator>
    >()
    const continues = ChatPipeline.make("Hi").pipe(
      ChatPipeline.andThen((chat) => Effect.succeed(ChatPipeline.continue(chat, "More?")))
    )
    expectTypeOf(continues).toEqualTypeOf<
      ChatPipeline.ChatPipeline<undefined, GenerationError | MaxDepthExceeded, Generator.Generator>
    >()
    // The callback sees the parsed type of the steps before it, and a replacement chat keeps it.
    const parsed = ChatPipeline.make("Hi").pipe(
      ChatPipeline.untilParsedAs(Sentiment),
      ChatPipeline.andThen((chat) => {
        expectTypeOf(chat.parsed.score).toEqualTypeOf<number>()
        return Effect.succeed(chat)
      })
    )
    expectTypeOf(Effect.map(ChatPipeline.run(parsed), (chat) => chat.parsed.score)).toEqualTypeOf<
      Effect.Effect<number, GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
  })

  it("run, runMany and runBatch say what onFailed does to the result and the error", () => {
    const pipeline = ChatPipeline.make("Hi").pipe(ChatPipeline.untilParsedAs(Model.NumberAnswer))
    expectTypeOf(ChatPipeline.run(pipeline, { onFailed: "skip" })).toEqualTypeOf<
      Effect.Effect<Option.Option<Chat.Chat<number>>, never, Generator.Generator>
    >()
    expectTypeOf(ChatPipeline.run(pipeline, { onFailed: "include" })).toEqualTypeOf<
      Effect.Effect<Chat.Chat<number | undefined>, never, Generator.Generator>
    >()
    expectTypeOf(ChatPipeline.runMany(pipeline, 3)).toEqualTypeOf<
      Effect.Effect<
        ReadonlyArray<Chat.Chat<number>>,
        ItemFailed<GenerationError | ExhaustedMaxRounds> | GenerationError | ExhaustedMaxRounds,
        Generator.Generator
      >
    >()
    // Only a list of params can fail to pair with the inputs.
    expectTypeOf(ChatPipeline.runBatch(pipeline, ["a", "b"], { params: { temperature: 0 }, onFailed: "skip" }))
      .toEqualTypeOf<
        Effect.Effect<ReadonlyArray<Chat.Chat<number>>, never, Generator.Generator>
      >()
    expectTypeOf(ChatPipeline.runBatch(pipeline, ["a", "b"], { params: [{ seed: 1 }, { seed: 2 }], onFailed: "skip" }))
      .toEqualTypeOf<
        Effect.Effect<ReadonlyArray<Chat.Chat<number>>, BatchSizeMismatch, Generator.Generator>
      >()
    expectTypeOf(ChatPipeline.stream(pipeline, ["a"], { onFailed: "include" })).toEqualTypeOf<
      Stream.Stream<ChatPipeline.Indexed<number | undefined>, never, Generator.Generator>
    >()
  })

  it("withGenerator removes the Generator requirement; the completion pipeline shares every step", () => {
    const bound = ChatPipeline.make("Hi").pipe(ChatPipeline.withGenerator({} as Generator.Service), ChatPipeline.run())
    expectTypeOf(bound).toEqualTypeOf<Effect.Effect<Chat.Chat<undefined>, GenerationError, never>>()
    const completion = CompletionPipeline.make("2 + 2 = ").pipe(
      CompletionPipeline.untilParsedAs(Model.NumberAnswer),
      CompletionPipeline.run()
    )
    expectTypeOf(completion).toEqualTypeOf<
      Effect.Effect<Chat.Chat<number>, GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
  })

  it("extraction returns the value and advertises only what it raises; batches fail only when stopped", () => {
    expectTypeOf(Extraction.extract(Schema.Array(Schema.String), "Ada met Grace.")).toEqualTypeOf<
      Effect.Effect<ReadonlyArray<string>, GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
    expectTypeOf(Extraction.classify(["spam", "ham"], "WIN!")).toEqualTypeOf<
      Effect.Effect<"spam" | "ham", GenerationError | ExhaustedMaxRounds, Generator.Generator>
    >()
    expectTypeOf(Batch.stream([])).toEqualTypeOf<Stream.Stream<Batch.Row, BatchStopped, Generator.Generator>>()
  })
})
