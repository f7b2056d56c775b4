/**
 * Chat pipelines: what to send, with which params, and what to do with the answer — as an immutable,
 * pipeable value, run once (`run`), many times (`runMany`), over a batch of inputs (`runBatch`), or as a
 * stream of results as they complete (`stream`).
 *
 * Steps run in this order for each chat: the generation, then every `andThen` and `untilParsedAs` step in the
 * order they were added; after every chat of a run is done, the `map` steps (in order) over all of them.
 * (rigging's `then` is `andThen` here: a module that exports `then` is a thenable, which every
 * `await import()` of it would call.)
 *
 * Params precedence: the generator's (identifier) < the pipeline's `withParams` < per-item params. Each chat
 * records the generator identifier with the merged params. Its usage is the sum over every generation it
 * took, recovery rounds and continued chats included.
 *
 * `onFailed` decides what a typed failure does — a generation error, parse exhaustion, an error raised in an
 * `andThen`/`map` callback: `"fail"` fails the run (in batches wrapped in `ItemFailed`, naming the item),
 * `"skip"` drops the chat, `"include"` keeps it as a failed chat carrying its error. Callback errors are
 * recorded as `StepFailed { step, cause }`. Nothing is lost silently: ok + skipped + included = inputs.
 *
 * A pipeline keeps one chat per input, so it refuses `n > 1` (`InvalidParams`): sample with `runMany` or
 * `runBatch` instead. `untilParsedAs` records no parsed value: it guarantees that the chat's last message
 * parses, so `Model.parse(model, chat.last.content)` succeeds on every chat it returns.
 *
 * @since 0.1.0
 */
import type { Effect, Inspectable, Option, Pipeable, Schema, Stream, Types } from "effect"
import { dual } from "effect/Function"
import * as Chat from "./Chat.js"
import type * as Errors from "./Errors.js"
import type * as GenerateParams from "./GenerateParams.js"
import type { Generation } from "./Generation.js"
import type * as Generator from "./Generator.js"
import * as Message from "./Message.js"
import * as internal from "./internal/pipeline.js"
import type * as Model from "./Model.js"

/**
 * @since 0.1.0
 */
export const TypeId: typeof internal.ChatTypeId = internal.ChatTypeId

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * A chat pipeline. `E` collects the errors its callbacks may raise, `R` the services it needs (the
 * `Generator` unless one is bound with {@link withGenerator}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make([{ role: "system", content: "Be terse." }, "Hello"]).pipe(
 *   ChatPipeline.withParams({ temperature: 0.2 })
 * )
 * const chat = ChatPipeline.run(pipeline).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export interface ChatPipeline<out E = never, out R = Generator.Generator> extends Pipeable.Pipeable, Inspectable.Inspectable {
  readonly [TypeId]: { readonly _E: Types.Covariant<E>; readonly _R: Types.Covariant<R> }
  /** The messages every chat starts with (inputs are appended after them). */
  readonly messages: ReadonlyArray<Message.Message>
  /** The pipeline's params, merged over the generator's and under each item's. */
  readonly params: GenerateParams.GenerateParams
  /** Merged into the metadata of every chat. */
  readonly metadata: Readonly<Record<string, Schema.Json>>
  /** The generator bound with {@link withGenerator}, if any. */
  readonly generator: Generator.Service | undefined
}

/**
 * What a failure does: fail the run, skip the chat, or include it as a failed chat.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const onFailed: ChatPipeline.OnFailed = "include"
 * ```
 * @since 0.1.0
 */
export type OnFailed = internal.OnFailed

/**
 * Options of {@link run}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.RunOptions = { onFailed: "skip" } // run answers an Option
 * ```
 * @since 0.1.0
 */
export interface RunOptions {
  /** Default `"fail"`. With `"skip"`, `run` answers an `Option`. */
  readonly onFailed?: OnFailed | undefined
}

/**
 * Options of {@link runMany}, {@link runBatch} and {@link stream}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.BatchOptions = { onFailed: "skip", concurrency: 8 }
 * ```
 * @since 0.1.0
 */
export interface BatchOptions {
  /** Default `"fail"`. */
  readonly onFailed?: OnFailed | undefined
  /** How many items run at once, as a sliding window. Default 64. */
  readonly concurrency?: number | undefined
}

/**
 * The inputs of a batch: a list of inputs, each a string (one user message), a message, or a conversation.
 * A single string or message is one input, never split.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const one: ChatPipeline.BatchInputs = "a single input, not split"
 * const three: ChatPipeline.BatchInputs = ["a", "b", [{ role: "system", content: "Be brief." }, "c"]]
 * ```
 * @since 0.1.0
 */
export type BatchInputs = string | Message.Message | ReadonlyArray<Message.MessageInput>

/**
 * The params of a batch: one set (broadcast over every input) or a list (paired with the inputs).
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const temperatures: ChatPipeline.BatchParams = [0.2, 0.8].map((temperature) => ({ temperature }))
 * ```
 * @since 0.1.0
 */
export type BatchParams = internal.ParamsInput

/**
 * A result of {@link stream}: a chat and the position of its input.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const describe = ({ index, chat }: ChatPipeline.Indexed) => `#${index}: ${chat.last?.content}`
 * ```
 * @since 0.1.0
 */
export interface Indexed {
  readonly index: number
  readonly chat: Chat.Chat
}

/**
 * Options of {@link andThen}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.AndThenOptions = { maxDepth: 3 }
 * ```
 * @since 0.1.0
 */
export interface AndThenOptions {
  /** How deep callbacks may keep continuing their chat before `MaxDepthExceeded`. Default 20. */
  readonly maxDepth?: number | undefined
}

/**
 * Options of {@link untilParsedAs}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.ParseOptions = { maxRounds: 3, attemptRecovery: true, dropDialog: true }
 * ```
 * @since 0.1.0
 */
export interface ParseOptions {
  /** Generations tried in all, the first included. Default 5. */
  readonly maxRounds?: number | undefined
  /** Send the parse error back and ask again (default), or regenerate from the original context. */
  readonly attemptRecovery?: boolean | undefined
  /** Keep only the final successful exchange, not the recovery dialog. Default false. */
  readonly dropDialog?: boolean | undefined
}

/**
 * What an `andThen` callback may answer: a replacement chat, a pipeline to run whose chat replaces it (e.g.
 * {@link continue}), or nothing to keep the chat.
 *
 * @since 0.1.0
 */
export type AndThenResult = Chat.Chat | ChatPipeline<any, any> | void | undefined

/**
 * The errors of a pipeline returned by an `andThen` callback.
 *
 * @since 0.1.0
 */
export type ErrorOf<A> = A extends ChatPipeline<infer E, infer _R> ? E : never

/**
 * The services of a pipeline returned by an `andThen` callback.
 *
 * @since 0.1.0
 */
export type ContextOf<A> = A extends ChatPipeline<infer _E, infer R> ? R : never

/**
 * How a run fails: under `onFailed: "fail"` (the default) with the typed error; never otherwise.
 *
 * @since 0.1.0
 */
export type RunError<O, E> = O extends { readonly onFailed: "skip" | "include" } ? never : Errors.PipelineError | E

/**
 * What {@link run} answers: a chat, or an `Option` of it under `onFailed: "skip"`.
 *
 * @since 0.1.0
 */
export type RunResult<O> = O extends { readonly onFailed: "skip" } ? Option.Option<Chat.Chat>
  : O extends { readonly onFailed?: "fail" | "include" | undefined } ? Chat.Chat
  : Chat.Chat | Option.Option<Chat.Chat>

/**
 * How a batch fails: bad options before any request (`InvalidParams`), and under `onFailed: "fail"` the
 * first failing item (`ItemFailed`) or a failing `map` step.
 *
 * @since 0.1.0
 */
export type BatchError<O, E> = O extends { readonly onFailed: "skip" | "include" } ? Errors.InvalidParams
  : Errors.InvalidParams | Errors.ItemFailed<Errors.PipelineError | E> | Errors.PipelineError | E

const isChatPipeline_ = (u: unknown): boolean => internal.isPipeline(u) && u.mode === "chat"

const pipelineFirst = (args: IArguments) => isChatPipeline_(args[0])

const impl = (self: ChatPipeline<any, any>): internal.Pipeline => self as unknown as internal.Pipeline

const toPublic = <E, R>(pipeline: internal.Pipeline): ChatPipeline<E, R> => pipeline as unknown as ChatPipeline<E, R>

/**
 * True for a chat pipeline.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * ChatPipeline.isChatPipeline(ChatPipeline.make("Hi")) // true
 * ```
 * @since 0.1.0
 */
export const isChatPipeline = (u: unknown): u is ChatPipeline<unknown, unknown> => isChatPipeline_(u)

/**
 * A pipeline starting with these messages (a string is one user message; none to take every message from
 * the inputs of a batch).
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make([{ role: "system", content: "Answer in French." }, "Hello"])
 * pipeline.messages.length // 2
 * ```
 * @since 0.1.0
 */
export const make = (messages?: Message.MessageInput): ChatPipeline =>
  toPublic(internal.make("chat", messages === undefined ? [] : Message.fromInput(messages)))

/**
 * Appends messages to the pipeline's own.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make({ role: "system", content: "Be terse." }).pipe(ChatPipeline.add("Hi"))
 * pipeline.messages.length // 2
 * ```
 * @since 0.1.0
 */
export const add: {
  (messages: Message.MessageInput): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E, R>
  <E, R>(self: ChatPipeline<E, R>, messages: Message.MessageInput): ChatPipeline<E, R>
} = dual(2, <E, R>(self: ChatPipeline<E, R>, messages: Message.MessageInput): ChatPipeline<E, R> =>
  toPublic(internal.update(impl(self), { messages: [...self.messages, ...Message.fromInput(messages)] })))

/**
 * Merges params over the pipeline's (rigging's `with_`): they win over the generator's and lose to
 * per-item params.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Say a haiku about boats")
 * const variants = [0.1, 0.5, 1.0].map((t) => pipeline.pipe(ChatPipeline.withParams({ temperature: t })))
 * ```
 * @since 0.1.0
 */
export const withParams: {
  (params: GenerateParams.GenerateParams | GenerateParams.Fields): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E, R>
  <E, R>(self: ChatPipeline<E, R>, params: GenerateParams.GenerateParams | GenerateParams.Fields): ChatPipeline<E, R>
} = dual(2, <E, R>(self: ChatPipeline<E, R>, params: GenerateParams.GenerateParams | GenerateParams.Fields) =>
  toPublic<E, R>(internal.withParams(impl(self), params)))

/**
 * Merges metadata into every chat the pipeline produces.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Hi").pipe(ChatPipeline.meta({ experiment: "a" }))
 * ```
 * @since 0.1.0
 */
export const meta: {
  (metadata: Readonly<Record<string, Schema.Json>>): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E, R>
  <E, R>(self: ChatPipeline<E, R>, metadata: Readonly<Record<string, Schema.Json>>): ChatPipeline<E, R>
} = dual(2, <E, R>(self: ChatPipeline<E, R>, metadata: Readonly<Record<string, Schema.Json>>) =>
  toPublic<E, R>(internal.meta(impl(self), metadata)))

/**
 * Adds a per-chat step: the callback answers a replacement chat, a pipeline to run whose chat replaces
 * this one (its usage adds to this chat's), or nothing. Its errors are the pipeline's (`StepFailed` when
 * recorded on a chat). A callback that keeps continuing fails with `MaxDepthExceeded` past `maxDepth`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Name an animal.").pipe(
 *   ChatPipeline.andThen((chat) =>
 *     Effect.succeed(chat.last?.content.includes("cat") ? ChatPipeline.continue(chat, "Why a cat?") : undefined)
 *   )
 * )
 * ```
 * @since 0.1.0
 */
export const andThen: {
  <A extends AndThenResult, E2, R2>(
    f: (chat: Chat.Chat) => Effect.Effect<A, E2, R2>,
    options?: AndThenOptions
  ): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E | E2 | ErrorOf<A>, R | R2 | ContextOf<A>>
  <E, R, A extends AndThenResult, E2, R2>(
    self: ChatPipeline<E, R>,
    f: (chat: Chat.Chat) => Effect.Effect<A, E2, R2>,
    options?: AndThenOptions
  ): ChatPipeline<E | E2 | ErrorOf<A>, R | R2 | ContextOf<A>>
} = dual(
  pipelineFirst,
  (self: ChatPipeline<any, any>, f: (chat: Chat.Chat) => Effect.Effect<unknown, unknown, unknown>, options?: AndThenOptions) =>
    toPublic(internal.andThen(impl(self), f, options))
)

/**
 * Adds a step over all the chats of a run at once (every successful chat of a `runMany`/`runBatch`, in
 * input order). It must answer one chat per chat; a failure concerns them all.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat, ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Tell me a joke.").pipe(
 *   ChatPipeline.map((chats) => Effect.succeed(chats.map(Chat.withMetadata({ batch: chats.length }))))
 * )
 * ```
 * @since 0.1.0
 */
export const map: {
  <E2, R2>(
    f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, E2, R2>
  ): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E | E2, R | R2>
  <E, R, E2, R2>(
    self: ChatPipeline<E, R>,
    f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, E2, R2>
  ): ChatPipeline<E | E2, R | R2>
} = dual(
  2,
  (self: ChatPipeline<any, any>, f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>>) =>
    toPublic(internal.map(impl(self), f))
)

/**
 * Adds a parse step: parse the last message as `model`; on failure send the error back as a user message
 * and generate again (or, with `attemptRecovery: false`, regenerate from the original context), up to
 * `maxRounds` generations in all, then fail with `ExhaustedMaxRounds { rounds, lastError, chat }`. A JSON
 * model is requested as native structured output. The chat keeps the recovery dialog unless `dropDialog`.
 *
 * @example
 * ```ts
 * import { ChatPipeline, Model } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Give me 3 famous painters").pipe(
 *   ChatPipeline.untilParsedAs(Model.CommaDelimitedAnswer, { maxRounds: 3 })
 * )
 * ```
 * @since 0.1.0
 */
export const untilParsedAs: {
  <A>(model: Model.Model<A>, options?: ParseOptions): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E, R>
  <E, R, A>(self: ChatPipeline<E, R>, model: Model.Model<A>, options?: ParseOptions): ChatPipeline<E, R>
} = dual(
  pipelineFirst,
  <E, R, A>(self: ChatPipeline<E, R>, model: Model.Model<A>, options?: ParseOptions) =>
    toPublic<E, R>(internal.untilParsedAs(impl(self), model as Model.Model<unknown>, options))
)

/**
 * Binds a generator: the pipeline (its callbacks included) runs on it instead of the one in context. Build
 * it once (e.g. `Generator.make` in a scope) and share it, so its rate limits are shared too.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Generator.make("mock!echo")
 *   return yield* ChatPipeline.make("Hi").pipe(ChatPipeline.withGenerator(generator), ChatPipeline.run())
 * }))
 * ```
 * @since 0.1.0
 */
export const withGenerator: {
  (generator: Generator.Service): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E, Exclude<R, Generator.Generator>>
  <E, R>(self: ChatPipeline<E, R>, generator: Generator.Service): ChatPipeline<E, Exclude<R, Generator.Generator>>
} = dual(2, <E, R>(self: ChatPipeline<E, R>, generator: Generator.Service) =>
  toPublic<E, Exclude<R, Generator.Generator>>(internal.withGenerator(impl(self), generator)))

/**
 * Transforms every generation Effect of the pipeline, e.g. to add a timeout or a custom retry. Wraps apply
 * in the order added (the first is innermost). A generation error it raises is recorded as such; any other
 * error as `StepFailed { step: "wrap" }`.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Hi").pipe(
 *   ChatPipeline.wrap((generation) => Effect.retry(generation, Schedule.recurs(2)))
 * )
 * ```
 * @since 0.1.0
 */
export const wrap: {
  <E2, R2>(
    f: (generation: Effect.Effect<Generation, Errors.GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): <E, R>(self: ChatPipeline<E, R>) => ChatPipeline<E | E2, R | R2>
  <E, R, E2, R2>(
    self: ChatPipeline<E, R>,
    f: (generation: Effect.Effect<Generation, Errors.GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): ChatPipeline<E | E2, R | R2>
} = dual(2, (self: ChatPipeline<any, any>, f: internal.Wrap) => toPublic(internal.wrap(impl(self), f)))

/**
 * A new pipeline from a chat's sent messages (its answers dropped), plus optional new messages: ask the
 * same again, or differently. It keeps the chat's params and metadata.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const again = ChatPipeline.fork(chat)
 * const other = chat.pipe(ChatPipeline.fork("Answer in one word."))
 * ```
 * @since 0.1.0
 */
export const fork: {
  (messages?: Message.MessageInput): (chat: Chat.Chat) => ChatPipeline
  (chat: Chat.Chat, messages?: Message.MessageInput): ChatPipeline
} = dual(
  (args) => args[0] instanceof Chat.Chat,
  (chat: Chat.Chat, messages?: Message.MessageInput): ChatPipeline =>
    toPublic(internal.fromChat("chat", chat, [...chat.messages, ...inputMessages(messages)]))
)

/**
 * A new pipeline that continues a chat: all its messages, answers included, plus new ones. It keeps the
 * chat's params and metadata. Exported as `continue`.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const next = ChatPipeline.continue(chat, "Why did you pick that animal?")
 * ```
 * @since 0.1.0
 */
const continue_: {
  (messages: Message.MessageInput): (chat: Chat.Chat) => ChatPipeline
  (chat: Chat.Chat, messages: Message.MessageInput): ChatPipeline
} = dual(
  2,
  (chat: Chat.Chat, messages: Message.MessageInput): ChatPipeline =>
    toPublic(internal.fromChat("chat", chat, [...chat.all, ...Message.fromInput(messages)]))
)

export { continue_ as continue }

const inputMessages = (messages: Message.MessageInput | undefined): ReadonlyArray<Message.Message> =>
  messages === undefined ? [] : Message.fromInput(messages)

/**
 * Runs the pipeline once on its own messages. In `pipe`, call it: `ChatPipeline.run()`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const chat = yield* ChatPipeline.make("Hello").pipe(ChatPipeline.run())
 *   const kept = yield* ChatPipeline.make("Hello").pipe(ChatPipeline.run({ onFailed: "include" }))
 *   return [chat.last?.content, kept.failed]
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const run: {
  <const O extends RunOptions = {}>(
    options?: O
  ): <E, R>(self: ChatPipeline<E, R>) => Effect.Effect<RunResult<O>, RunError<O, E>, R>
  <E, R, const O extends RunOptions = {}>(
    self: ChatPipeline<E, R>,
    options?: O
  ): Effect.Effect<RunResult<O>, RunError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: ChatPipeline<any, any>, options?: RunOptions) => internal.runWith(impl(self), options)
) as any

/**
 * Runs the pipeline `n` times on its own messages (a sliding window of `concurrency`), in order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const chats = ChatPipeline.make("Tell me a joke about an animal.").pipe(
 *   ChatPipeline.runMany(3, { onFailed: "skip" }),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const runMany: {
  <const O extends BatchOptions = {}>(
    n: number,
    options?: O
  ): <E, R>(self: ChatPipeline<E, R>) => Effect.Effect<ReadonlyArray<Chat.Chat>, BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: ChatPipeline<E, R>,
    n: number,
    options?: O
  ): Effect.Effect<ReadonlyArray<Chat.Chat>, BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: ChatPipeline<any, any>, n: number, options?: BatchOptions) => internal.runMany(impl(self), n, options)
) as any

/**
 * Runs the pipeline over a batch: each input is appended to the pipeline's messages, with its params
 * merged over the pipeline's. Inputs and params of equal length pair up; a list of length 1 is broadcast
 * over the other; any other mismatch fails with `BatchSizeMismatch` before a single request. The chats
 * come back in input order (skipped ones left out).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const chats = ChatPipeline.make().pipe(
 *   ChatPipeline.runBatch(["Tell me a short fact about a Japanese city."], [0.6, 0.9, 1.2].map((t) => ({ temperature: t }))),
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
    self: ChatPipeline<E, R>
  ) => Effect.Effect<ReadonlyArray<Chat.Chat>, Errors.BatchSizeMismatch | BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: ChatPipeline<E, R>,
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): Effect.Effect<ReadonlyArray<Chat.Chat>, Errors.BatchSizeMismatch | BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: ChatPipeline<any, any>, inputs: BatchInputs, params?: BatchParams, options?: BatchOptions) =>
    internal.runBatchWith(impl(self), batchInputs(inputs), params, options)
) as any

/**
 * Like {@link runBatch}, as a stream of results in the order they complete, each tagged with the index of
 * its input. With `map` steps, results wait until every chat is done (a map sees them all).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const printed = ChatPipeline.make().pipe(
 *   ChatPipeline.stream(["a", "b", "c"], undefined, { onFailed: "include" }),
 *   Stream.runForEach(({ index, chat }) => Effect.log(index, chat.last?.content)),
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
  ): <E, R>(self: ChatPipeline<E, R>) => Stream.Stream<Indexed, Errors.BatchSizeMismatch | BatchError<O, E>, R>
  <E, R, const O extends BatchOptions = {}>(
    self: ChatPipeline<E, R>,
    inputs: BatchInputs,
    params?: BatchParams,
    options?: O
  ): Stream.Stream<Indexed, Errors.BatchSizeMismatch | BatchError<O, E>, R>
} = dual(
  pipelineFirst,
  (self: ChatPipeline<any, any>, inputs: BatchInputs, params?: BatchParams, options?: BatchOptions) =>
    internal.streamWith(impl(self), batchInputs(inputs), params, options)
) as any

const batchInputs = (inputs: BatchInputs): ReadonlyArray<ReadonlyArray<Message.Message>> =>
  Array.isArray(inputs)
    ? (inputs as ReadonlyArray<Message.MessageInput>).map(Message.fromInput)
    : [Message.fromInput(inputs as string | Message.Message)]
