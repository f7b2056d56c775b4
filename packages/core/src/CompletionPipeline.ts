/**
 * Completion pipelines: the same as `ChatPipeline`, for plain-text completion (a generator's `complete`),
 * run by the same engine with the same steps, failure policy, batching and streaming.
 *
 * A completion is recorded as a `Chat` whose one sent message holds the prompt and whose generated message
 * holds the completion: {@link prompt} and {@link text} read them back. Each input of a batch is appended
 * to the pipeline's prompt as text. `untilParsedAs` regenerates from the prompt on a parse failure (a
 * completion model has no dialog to send an error back into).
 *
 * @since 0.1.0
 */
import type { Effect, Inspectable, Pipeable, Schema, Stream, Types } from "effect"
import { dual } from "effect/Function"
import * as Chat from "./Chat.js"
import type {
  BatchError,
  BatchOptions,
  BatchParams,
  Indexed,
  OnFailed,
  RunError,
  RunOptions,
  RunResult,
  AndThenOptions
} from "./ChatPipeline.js"
import type * as Errors from "./Errors.js"
import type * as GenerateParams from "./GenerateParams.js"
import type { Generation } from "./Generation.js"
import type * as Generator from "./Generator.js"
import * as Message from "./Message.js"
import * as internal from "./internal/pipeline.js"
import type * as Model from "./Model.js"

export type { BatchError, BatchOptions, BatchParams, Indexed, OnFailed, RunError, RunOptions, RunResult, AndThenOptions }

/**
 * @since 0.1.0
 */
export const TypeId: typeof internal.CompletionTypeId = internal.CompletionTypeId

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * A completion pipeline. `E` collects the errors its callbacks may raise, `R` the services it needs.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const chat = CompletionPipeline.make("Once upon a time").pipe(
 *   CompletionPipeline.withParams({ maxTokens: 50 }),
 *   CompletionPipeline.run(),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export interface CompletionPipeline<out E = never, out R = Generator.Generator>
  extends Pipeable.Pipeable, Inspectable.Inspectable
{
  readonly [TypeId]: { readonly _E: Types.Covariant<E>; readonly _R: Types.Covariant<R> }
  /** The text every completion starts with (inputs are appended to it). */
  readonly prompt: string
  readonly params: GenerateParams.GenerateParams
  readonly metadata: Readonly<Record<string, Schema.Json>>
  readonly generator: Generator.Service | undefined
}

/**
 * What an `andThen` callback may answer: a replacement chat, a pipeline to run whose chat replaces it, or
 * nothing to keep the chat.
 *
 * @since 0.1.0
 */
export type AndThenResult = Chat.Chat | CompletionPipeline<any, any> | void | undefined

/**
 * The errors of a pipeline returned by an `andThen` callback.
 *
 * @since 0.1.0
 */
export type ErrorOf<A> = A extends CompletionPipeline<infer E, infer _R> ? E : never

/**
 * The services of a pipeline returned by an `andThen` callback.
 *
 * @since 0.1.0
 */
export type ContextOf<A> = A extends CompletionPipeline<infer _E, infer R> ? R : never

/**
 * Options of {@link untilParsedAs}.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const options: CompletionPipeline.ParseOptions = { maxRounds: 3 }
 * ```
 * @since 0.1.0
 */
export interface ParseOptions {
  /** Completions tried in all, the first included. Default 5. */
  readonly maxRounds?: number | undefined
}

/**
 * The inputs of a batch: texts appended to the prompt. A single string is one input, never split.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const inputs: CompletionPipeline.BatchInputs = ["cat", "dog"]
 * ```
 * @since 0.1.0
 */
export type BatchInputs = string | ReadonlyArray<string>

const isCompletionPipeline_ = (u: unknown): boolean => internal.isPipeline(u) && u.mode === "completion"

const pipelineFirst = (args: IArguments) => isCompletionPipeline_(args[0])

const impl = (self: CompletionPipeline<any, any>): internal.Pipeline => self as unknown as internal.Pipeline

const toPublic = <E, R>(pipeline: internal.Pipeline): CompletionPipeline<E, R> =>
  pipeline as unknown as CompletionPipeline<E, R>

const promptMessages = (text: string): ReadonlyArray<Message.Message> => text.length === 0 ? [] : [Message.user(text)]

/**
 * True for a completion pipeline.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.isCompletionPipeline(CompletionPipeline.make("x")) // true
 * ```
 * @since 0.1.0
 */
export const isCompletionPipeline = (u: unknown): u is CompletionPipeline<unknown, unknown> => isCompletionPipeline_(u)

/**
 * A pipeline completing this prompt (empty to take the whole prompt from the inputs of a batch).
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.make("Translate to French: ").prompt // "Translate to French: "
 * ```
 * @since 0.1.0
 */
export const make = (prompt: string = ""): CompletionPipeline => toPublic(internal.make("completion", promptMessages(prompt)))

/**
 * Appends text to the prompt.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.make("foo").pipe(CompletionPipeline.add("bar")).prompt // "foobar"
 * ```
 * @since 0.1.0
 */
export const add: {
  (text: string): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E, R>
  <E, R>(self: CompletionPipeline<E, R>, text: string): CompletionPipeline<E, R>
} = dual(2, <E, R>(self: CompletionPipeline<E, R>, text: string): CompletionPipeline<E, R> =>
  toPublic(internal.update(impl(self), { messages: promptMessages(self.prompt + text) })))

/**
 * Merges params over the pipeline's: they win over the generator's and lose to per-item params.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Once").pipe(CompletionPipeline.withParams({ temperature: 0.7 }))
 * ```
 * @since 0.1.0
 */
export const withParams: {
  (
    params: GenerateParams.GenerateParams | GenerateParams.Fields
  ): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E, R>
  <E, R>(self: CompletionPipeline<E, R>, params: GenerateParams.GenerateParams | GenerateParams.Fields): CompletionPipeline<E, R>
} = dual(2, <E, R>(self: CompletionPipeline<E, R>, params: GenerateParams.GenerateParams | GenerateParams.Fields) =>
  toPublic<E, R>(internal.withParams(impl(self), params)))

/**
 * Merges metadata into every chat the pipeline produces.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Once").pipe(CompletionPipeline.meta({ run: 1 }))
 * ```
 * @since 0.1.0
 */
export const meta: {
  (metadata: Readonly<Record<string, Schema.Json>>): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E, R>
  <E, R>(self: CompletionPipeline<E, R>, metadata: Readonly<Record<string, Schema.Json>>): CompletionPipeline<E, R>
} = dual(2, <E, R>(self: CompletionPipeline<E, R>, metadata: Readonly<Record<string, Schema.Json>>) =>
  toPublic<E, R>(internal.meta(impl(self), metadata)))

/**
 * Adds a per-completion step, as `ChatPipeline.andThen`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Once upon a time").pipe(
 *   CompletionPipeline.andThen((chat) => Effect.succeed(CompletionPipeline.continue(chat, " The end?")))
 * )
 * ```
 * @since 0.1.0
 */
export const andThen: {
  <A extends AndThenResult, E2, R2>(
    f: (chat: Chat.Chat) => Effect.Effect<A, E2, R2>,
    options?: AndThenOptions
  ): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E | E2 | ErrorOf<A>, R | R2 | ContextOf<A>>
  <E, R, A extends AndThenResult, E2, R2>(
    self: CompletionPipeline<E, R>,
    f: (chat: Chat.Chat) => Effect.Effect<A, E2, R2>,
    options?: AndThenOptions
  ): CompletionPipeline<E | E2 | ErrorOf<A>, R | R2 | ContextOf<A>>
} = dual(
  pipelineFirst,
  (
    self: CompletionPipeline<any, any>,
    f: (chat: Chat.Chat) => Effect.Effect<unknown, unknown, unknown>,
    options?: AndThenOptions
  ) => toPublic(internal.andThen(impl(self), f, options))
)

/**
 * Adds a step over all the completions of a run at once, as `ChatPipeline.map`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat, CompletionPipeline } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Once").pipe(
 *   CompletionPipeline.map((chats) => Effect.succeed(chats.map(Chat.withMetadata({ seen: true }))))
 * )
 * ```
 * @since 0.1.0
 */
export const map: {
  <E2, R2>(
    f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, E2, R2>
  ): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E | E2, R | R2>
  <E, R, E2, R2>(
    self: CompletionPipeline<E, R>,
    f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, E2, R2>
  ): CompletionPipeline<E | E2, R | R2>
} = dual(
  2,
  (self: CompletionPipeline<any, any>, f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>>) =>
    toPublic(internal.map(impl(self), f))
)

/**
 * Adds a parse step: parse the completion as `model`, regenerating from the prompt on failure, up to
 * `maxRounds` completions in all, then fail with `ExhaustedMaxRounds`.
 *
 * @example
 * ```ts
 * import { CompletionPipeline, Model } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Is water wet? Answer <yes-no-answer>yes</yes-no-answer> or no: ").pipe(
 *   CompletionPipeline.untilParsedAs(Model.YesNoAnswer, { maxRounds: 3 })
 * )
 * ```
 * @since 0.1.0
 */
export const untilParsedAs: {
  <A>(model: Model.Model<A>, options?: ParseOptions): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E, R>
  <E, R, A>(self: CompletionPipeline<E, R>, model: Model.Model<A>, options?: ParseOptions): CompletionPipeline<E, R>
} = dual(
  pipelineFirst,
  <E, R, A>(self: CompletionPipeline<E, R>, model: Model.Model<A>, options?: ParseOptions) =>
    toPublic<E, R>(
      internal.untilParsedAs(impl(self), model as Model.Model<unknown>, {
        maxRounds: options?.maxRounds,
        attemptRecovery: false
      })
    )
)

/**
 * Binds a generator: the pipeline (its callbacks included) runs on it instead of the one in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Generator.make("mock!echo")
 *   return yield* CompletionPipeline.make("Once").pipe(CompletionPipeline.withGenerator(generator), CompletionPipeline.run())
 * }))
 * ```
 * @since 0.1.0
 */
export const withGenerator: {
  (
    generator: Generator.Service
  ): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E, Exclude<R, Generator.Generator>>
  <E, R>(self: CompletionPipeline<E, R>, generator: Generator.Service): CompletionPipeline<E, Exclude<R, Generator.Generator>>
} = dual(2, <E, R>(self: CompletionPipeline<E, R>, generator: Generator.Service) =>
  toPublic<E, Exclude<R, Generator.Generator>>(internal.withGenerator(impl(self), generator)))

/**
 * Transforms every generation Effect of the pipeline, as `ChatPipeline.wrap`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline } from "@capstan/core"
 *
 * const pipeline = CompletionPipeline.make("Once").pipe(
 *   CompletionPipeline.wrap((generation) => Effect.tap(generation, () => Effect.log("completed")))
 * )
 * ```
 * @since 0.1.0
 */
export const wrap: {
  <E2, R2>(
    f: (generation: Effect.Effect<Generation, Errors.GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): <E, R>(self: CompletionPipeline<E, R>) => CompletionPipeline<E | E2, R | R2>
  <E, R, E2, R2>(
    self: CompletionPipeline<E, R>,
    f: (generation: Effect.Effect<Generation, Errors.GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): CompletionPipeline<E | E2, R | R2>
} = dual(2, (self: CompletionPipeline<any, any>, f: internal.Wrap) => toPublic(internal.wrap(impl(self), f)))

/**
 * The prompt a completion was asked with.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * CompletionPipeline.prompt(chat)
 * ```
 * @since 0.1.0
 */
export const prompt = (chat: Chat.Chat): string => internal.promptOf(chat.messages)

/**
 * The completed text (the last generation; the empty string for a completion that failed before one).
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * CompletionPipeline.text(chat)
 * ```
 * @since 0.1.0
 */
export const text = (chat: Chat.Chat): string => chat.generated.at(-1)?.content ?? ""

/**
 * A new pipeline from a completion's prompt (its completion dropped), plus optional text.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const again = CompletionPipeline.fork(chat)
 * ```
 * @since 0.1.0
 */
export const fork: {
  (text?: string): (chat: Chat.Chat) => CompletionPipeline
  (chat: Chat.Chat, text?: string): CompletionPipeline
} = dual(
  (args) => args[0] instanceof Chat.Chat,
  (chat: Chat.Chat, text: string = ""): CompletionPipeline =>
    toPublic(internal.fromChat("completion", chat, promptMessages(prompt(chat) + text)))
)

/**
 * A new pipeline that continues a completion: prompt, completion, then `text`. Exported as `continue`.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const next = CompletionPipeline.continue(chat, "\n\nChapter 2:")
 * ```
 * @since 0.1.0
 */
const continue_: {
  (text: string): (chat: Chat.Chat) => CompletionPipeline
  (chat: Chat.Chat, text: string): CompletionPipeline
} = dual(
  2,
  (chat: Chat.Chat, text: string): CompletionPipeline =>
    toPublic(internal.fromChat("completion", chat, promptMessages(internal.promptOf(chat.all) + text)))
)

export { continue_ as continue }

/**
 * Runs the pipeline once on its own prompt. In `pipe`, call it: `CompletionPipeline.run()`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const completion = CompletionPipeline.make("Once upon a time").pipe(
 *   CompletionPipeline.run(),
 *   Effect.map(CompletionPipeline.text),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const run: {
  <const O extends RunOptions = {}>(
    options?: O
  ): <E, R>(self: CompletionPipeline<E, R>) => Effect.Effect<RunResult<O>, RunError<O, E>, R>
  <E, R, const O extends RunOptions = {}>(
    self: CompletionPipeline<E, R>,
    options?: O
  ): Effect.Effect<RunResult<O>, RunError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: CompletionPipeline<any, any>, options?: RunOptions) => internal.runWith(impl(self), options)
) as any

/**
 * Runs the pipeline `n` times on its own prompt.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const completions = CompletionPipeline.make("Once upon a time").pipe(
 *   CompletionPipeline.runMany(3),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const runMany: {
  <const O extends BatchOptions = {}>(
    n: number,
    options?: O
  ): <E, R>(self: CompletionPipeline<E, R>) => Effect.Effect<ReadonlyArray<Chat.Chat>, BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: CompletionPipeline<E, R>,
    n: number,
    options?: O
  ): Effect.Effect<ReadonlyArray<Chat.Chat>, BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: CompletionPipeline<any, any>, n: number, options?: BatchOptions) => internal.runMany(impl(self), n, options)
) as any

/**
 * Runs the pipeline over a batch of texts appended to its prompt, with the same scaling rule as
 * `ChatPipeline.runBatch`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const completions = CompletionPipeline.make("Translate to French: ").pipe(
 *   CompletionPipeline.runBatch(["cat", "dog"]),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const runBatch: {
  <const O extends BatchOptions = {}>(
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): <E, R>(
    self: CompletionPipeline<E, R>
  ) => Effect.Effect<ReadonlyArray<Chat.Chat>, Errors.BatchSizeMismatch | BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: CompletionPipeline<E, R>,
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): Effect.Effect<ReadonlyArray<Chat.Chat>, Errors.BatchSizeMismatch | BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: CompletionPipeline<any, any>, inputs: BatchInputs, params?: BatchParams, options?: BatchOptions) =>
    internal.runBatchWith(impl(self), batchInputs(inputs), params, options)
) as any

/**
 * Like {@link runBatch}, as a stream of results in the order they complete, each tagged with its input's index.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const printed = CompletionPipeline.make("Say: ").pipe(
 *   CompletionPipeline.stream(["a", "b"]),
 *   Stream.runForEach(({ index, chat }) => Effect.log(index, CompletionPipeline.text(chat))),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const stream: {
  <const O extends BatchOptions = {}>(
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): <E, R>(self: CompletionPipeline<E, R>) => Stream.Stream<Indexed, Errors.BatchSizeMismatch | BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: CompletionPipeline<E, R>,
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): Stream.Stream<Indexed, Errors.BatchSizeMismatch | BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: CompletionPipeline<any, any>, inputs: BatchInputs, params?: BatchParams, options?: BatchOptions) =>
    internal.streamWith(impl(self), batchInputs(inputs), params, options)
) as any

const batchInputs = (inputs: BatchInputs): ReadonlyArray<ReadonlyArray<Message.Message>> =>
  (typeof inputs === "string" ? [inputs] : inputs).map((text) => [Message.user(text)])
