/**
 * Chat pipelines: what to send, with which params, and what to do with the answer — as an immutable, pipeable
 * value, run once (`run`), many times (`runMany`), over a batch of inputs (`runBatch`), or as a stream of results
 * as they complete (`stream`).
 *
 * A pipeline's type says what its run gives and how it can fail: `ChatPipeline<A, E, R>` runs to a `Chat<A>`, whose
 * `parsed` is an `A` (`undefined` until `untilParsedAs(model)` makes it the model's type), fails with `E` (the
 * generator's errors, `ExhaustedMaxRounds` once it parses, the errors of its callbacks) and needs `R` (the
 * `Generator` unless one is bound).
 *
 * Steps run in this order for each chat: the generation, then every `andThen` and `untilParsedAs` step in the
 * order they were added; after every chat of a run is done, the `map` steps (in order) over all of them. (rigging's
 * `then` is `andThen` here: a module that exports `then` is a thenable, which every `await import()` would call.)
 *
 * Params precedence: the generator's (identifier) < the pipeline's `withParams` < per-item params. A pipeline keeps
 * one chat per input, so it asks for one choice even when the params say `n > 1` (the chat carries a warning);
 * sample with `runMany`, or use a `Batch` for one row per choice.
 *
 * `onFailed` decides what a typed failure does: `"fail"` fails the run (in batches wrapped in `ItemFailed`, naming
 * the item), `"skip"` drops the chat, `"include"` keeps it as a failed chat carrying its error. Callback errors are
 * recorded on chats as `StepFailed { step, cause }`. Nothing is lost silently: ok + skipped + included = inputs.
 *
 * The functions that shape a pipeline (`withParams`, `meta`, `andThen`, `map`, `untilParsedAs`, `withGenerator`,
 * `wrap`: see `PipelineSteps`) and the runs from `run` to `stream` serve both pipeline kinds: `CompletionPipeline`
 * exports the same ones; the pipeline type and what the functions take and give are in `Pipeline`, re-exported here.
 * Options that cannot work (`maxRounds: 0`, `concurrency: 0`, `runMany(-1)`) throw `InvalidParams` when the
 * pipeline or run is built, before anything runs.
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"
import type * as Tool from "effect/ai/Tool"
import type * as Toolkit from "effect/ai/Toolkit"
import { dual } from "effect/Function"
import * as Chat from "./Chat.js"
import * as GenerateParams from "./GenerateParams.js"
import type { GenerationError } from "./GenerationError.js"
import * as Generator from "./Generator.js"
import type * as GeneratorRegistry from "./GeneratorRegistry.js"
import * as Identifier from "./Identifier.js"
import * as internal from "./internal/pipeline.js"
import * as batch from "./internal/pipelineBatch.js"
import * as Facade from "./internal/pipelineFacade.js"
import * as PipelineStream from "./internal/pipelineStream.js"
import * as ToolLoop from "./internal/toolLoop.js"
import * as Message from "./Message.js"
import type {
  BatchChat,
  BatchError,
  BatchInputs,
  BatchOptions,
  Indexed,
  Kind,
  PairingError,
  Pipeline,
  RunBatchOptions,
  RunError,
  RunOptions,
  RunResult
} from "./Pipeline.js"
import type * as Tools from "./Tools.js"

export {
  type AndThenOptions,
  type AndThenResult,
  type BatchChat,
  type BatchError,
  type BatchInputs,
  type BatchOptions,
  type BatchParams,
  type ContinueContext,
  type ContinueError,
  type Indexed,
  isPipeline,
  type Kind,
  type OnFailed,
  type PairingError,
  type ParsedAfter,
  type ParseOptions,
  type Pipeline,
  type RunBatchOptions,
  type RunError,
  type RunOptions,
  type RunResult,
  TypeId
} from "./Pipeline.js"
export { andThen, map, meta, untilParsedAs, withGenerator, withParams, wrap } from "./PipelineSteps.js"
export { withCache } from "./ResponseCache.js"

/**
 * A chat pipeline: runs to a `Chat<A>`, fails with `E`, needs `R`.
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
export type ChatPipeline<A = undefined, E = GenerationError, R = Generator.Generator> = Pipeline<"chat", A, E, R>

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
export const isChatPipeline = (u: unknown): u is ChatPipeline<unknown, unknown, unknown> =>
  internal.isPipeline(u) && u.kind === "chat"

/**
 * A pipeline starting with these messages (a string is one user message; none to take every message from the
 * inputs of a batch).
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
  Facade.toPublic(internal.make("chat", messages === undefined ? [] : Message.fromInput(messages)))

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
  (messages: Message.MessageInput): <A, E, R>(self: ChatPipeline<A, E, R>) => ChatPipeline<A, E, R>
  <A, E, R>(self: ChatPipeline<A, E, R>, messages: Message.MessageInput): ChatPipeline<A, E, R>
} = dual(
  2,
  <A, E, R>(self: ChatPipeline<A, E, R>, messages: Message.MessageInput): ChatPipeline<A, E, R> =>
    Facade.toPublic(
      internal.update(Facade.impl(self), { messages: [...self.messages, ...Message.fromInput(messages)] })
    )
)

/**
 * Lets the model call a toolkit's tools (rigging's `using`; effect/ai `Tool` and `Toolkit`): requests carry their
 * definitions, and the tool-call loop runs inside the pipeline until an answer calls none (see `Tools`). The
 * pipeline needs the handlers (`toolkit.toLayer({...})`); it fails with `MaxDepthExceeded` past `maxDepth` rounds,
 * and with the handlers' failures only under `onToolError: "fail"`. Bad options throw `InvalidParams`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Tool, Toolkit } from "effect/ai"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const Weather = Tool.make("weather", {
 *   description: "Today's weather in a city",
 *   parameters: Schema.Struct({ city: Schema.String }),
 *   success: Schema.Struct({ celsius: Schema.Number })
 * })
 * const tools = Toolkit.make(Weather)
 * const chat = ChatPipeline.make("Is it warm in Lyon?").pipe(
 *   ChatPipeline.using(tools, { maxDepth: 3 }),
 *   ChatPipeline.run(),
 *   Effect.provide(tools.toLayer({ weather: () => Effect.succeed({ celsius: 21 }) })),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.4.0
 */
export const using: {
  <T extends Record<string, Tool.Any>, const O extends Tools.Options = {}>(
    toolkit: Toolkit.Toolkit<T>,
    options?: O
  ): <A, E, R>(self: ChatPipeline<A, E, R>) => ChatPipeline<A, E | Tools.LoopError<T, O>, R | Tools.Requirements<T>>
  <A, E, R, T extends Record<string, Tool.Any>, const O extends Tools.Options = {}>(
    self: ChatPipeline<A, E, R>,
    toolkit: Toolkit.Toolkit<T>,
    options?: O
  ): ChatPipeline<A, E | Tools.LoopError<T, O>, R | Tools.Requirements<T>>
} = dual(
  Facade.kindFirst,
  (self: ChatPipeline<unknown, unknown, unknown>, toolkit: Toolkit.Any, options?: Tools.Options) =>
    Facade.toPublic(ToolLoop.use(Facade.impl(self), toolkit, options))
)

/**
 * A new pipeline from a chat's sent messages (its answers dropped), plus optional new messages: ask the same again,
 * or differently. It keeps the chat's params and metadata.
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
    Facade.toPublic(
      internal.fromChat("chat", chat, [
        ...chat.messages,
        ...(messages === undefined ? [] : Message.fromInput(messages))
      ])
    )
)

/**
 * A new pipeline that continues a chat: all its messages, answers included, plus new ones. It keeps the chat's
 * params and metadata. Exported as `continue`.
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
    Facade.toPublic(internal.fromChat("chat", chat, [...chat.all, ...Message.fromInput(messages)]))
)

export { continue_ as continue }

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
 *   return [chat.text, kept.failed]
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const run: {
  <const O extends RunOptions = {}>(
    options?: O
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Effect.Effect<RunResult<O, A>, RunError<O, E>, R>
  <K extends Kind, A, E, R, const O extends RunOptions = {}>(
    self: Pipeline<K, A, E, R>,
    options?: O
  ): Effect.Effect<RunResult<O, A>, RunError<O, E>, R>
} = dual(
  Facade.kindFirst,
  (self: Pipeline<Kind, unknown, unknown, unknown>, options?: RunOptions) =>
    batch.runOnce(Facade.impl(self), options?.onFailed ?? "fail")
)

/**
 * What {@link runStream} emits: the text of the run's requests as it arrives (`request` counts the run's requests
 * from 0: a parse retry or an `andThen` step sends another; `index` is the choice), then, last, the finished chat.
 *
 * @example
 * ```ts
 * import type { ChatPipeline } from "@capstan/core"
 *
 * const show = (event: ChatPipeline.StreamEvent<unknown>) => event._tag === "Delta" ? event.text : `\n${event.chat.usage.totalTokens} tokens`
 * ```
 * @since 0.4.0
 */
export type StreamEvent<A> = PipelineStream.StreamEvent<A>

/**
 * Runs the pipeline once, as {@link run} does, streaming its text: every request of the run goes through the
 * generator's `stream`, its text deltas are emitted as they arrive, and the finished chat (parsed, `andThen` steps
 * applied) comes last. A generator that cannot stream fails with `Unsupported` before any request. A pipeline
 * with its own generator (`withGenerator`) streams through that one. In `pipe`, call it: `ChatPipeline.runStream()`.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const printed = ChatPipeline.make("Tell me a story.").pipe(
 *   ChatPipeline.runStream(),
 *   Stream.runForEach((event) =>
 *     event._tag === "Delta" ? Effect.sync(() => process.stdout.write(event.text)) : Effect.log(event.chat.usage)
 *   ),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.4.0
 */
export const runStream: {
  (): <A, E, R>(
    self: ChatPipeline<A, E, R>
  ) => Stream.Stream<StreamEvent<A>, E | GenerationError, R | Generator.Generator>
  <A, E, R>(self: ChatPipeline<A, E, R>): Stream.Stream<StreamEvent<A>, E | GenerationError, R | Generator.Generator>
} = dual(
  Facade.kindFirst,
  <A, E, R>(self: ChatPipeline<A, E, R>) => {
    const state = Facade.impl(self)
    // A bound generator streams too: the run reads it from context, where the stream swaps in its streaming form.
    const bound = state.generator
    const run = batch.runOnce(bound === undefined ? state : internal.update(state, { generator: undefined }), "fail")
    const streamed = PipelineStream.streamRun(run as Effect.Effect<Chat.Chat<A>, E, R>)
    return bound === undefined ? streamed : Stream.provideService(streamed, Generator.Generator, bound)
  }
)

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
  ): <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>
  ) => Effect.Effect<ReadonlyArray<BatchChat<O, A>>, BatchError<O, E>, R>
  <K extends Kind, A, E, R, const O extends BatchOptions = {}>(
    self: Pipeline<K, A, E, R>,
    n: number,
    options?: O
  ): Effect.Effect<ReadonlyArray<BatchChat<O, A>>, BatchError<O, E>, R>
} = dual(Facade.kindFirst, (self: Pipeline<Kind, unknown, unknown, unknown>, n: number, options?: BatchOptions) => {
  internal.requireWhole("runMany: the number of runs", n, 0)
  const settled = batch.settledOptions(options, self)
  const items = Array.from({ length: n }, () => ({ input: [], params: GenerateParams.empty }))
  return batch.runBatch(Facade.impl(self), items, settled)
})

/**
 * Runs the pipeline once on each generator (rigging's `run_over`): one chat per generator, in the generators'
 * order, each recording its generator. Identifiers are built for the run (with the engine in context, so they share
 * limiters with the application's other generators); built generators are used as they are. Under `onFailed:
 * "fail"` a failure is `ItemFailed` naming the generator's index; `concurrency` bounds how many run at once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline } from "@capstan/core"
 *
 * const chats = ChatPipeline.make("Name a colour.").pipe(
 *   ChatPipeline.runOver(["mock!echo", "mock!fixed,reply=Blue", "mock!demo"], { onFailed: "include" })
 * )
 * const generators = Effect.map(chats, (all) => all.map((chat) => chat.generator)) // one chat per generator
 * ```
 * @since 0.4.0
 */
export const runOver: {
  <const O extends BatchOptions = {}>(
    generators: ReadonlyArray<string | Identifier.Identifier | Generator.Service>,
    options?: O
  ): <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>
  ) => Effect.Effect<
    ReadonlyArray<BatchChat<O, A>>,
    BatchError<O, E> | GeneratorRegistry.GeneratorInitError,
    Exclude<R, Generator.Generator>
  >
  <K extends Kind, A, E, R, const O extends BatchOptions = {}>(
    self: Pipeline<K, A, E, R>,
    generators: ReadonlyArray<string | Identifier.Identifier | Generator.Service>,
    options?: O
  ): Effect.Effect<
    ReadonlyArray<BatchChat<O, A>>,
    BatchError<O, E> | GeneratorRegistry.GeneratorInitError,
    Exclude<R, Generator.Generator>
  >
} = dual(Facade.kindFirst, (
  self: Pipeline<Kind, unknown, unknown, unknown>,
  generators: ReadonlyArray<string | Identifier.Identifier | Generator.Service>,
  options?: BatchOptions
) => {
  const settled = batch.settledOptions(options, self)
  return Effect.scoped(Effect.flatMap(
    Effect.forEach(generators, (g) =>
      typeof g === "string" || g instanceof Identifier.Identifier
        ? Generator.make(g) :
        Effect.succeed(g)),
    (built) => batch.runOver(Facade.impl(self), built, settled)
  ))
})

/**
 * Runs the pipeline over a batch: each input is appended to the pipeline's messages, with its params (`options.params`)
 * merged over the pipeline's. Inputs and params of equal length pair up; a list of length 1 is broadcast over the
 * other; any other mismatch fails with `BatchSizeMismatch` before a single request (a list of params is the only
 * way to get one, and the error type says so). It pairs, it does not cross
 * (`Dataset.cross` gives every input × every set). The chats come back in input order (skipped ones left out).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const chats = ChatPipeline.make().pipe(
 *   ChatPipeline.runBatch(["Tell me a short fact about a Japanese city."], {
 *     params: [0.6, 0.9, 1.2].map((temperature) => ({ temperature }))
 *   }),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const runBatch: {
  <const O extends RunBatchOptions = {}>(
    inputs: BatchInputs,
    options?: O
  ): <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>
  ) => Effect.Effect<ReadonlyArray<BatchChat<O, A>>, PairingError<O> | BatchError<O, E>, R>
  <K extends Kind, A, E, R, const O extends RunBatchOptions = {}>(
    self: Pipeline<K, A, E, R>,
    inputs: BatchInputs,
    options?: O
  ): Effect.Effect<ReadonlyArray<BatchChat<O, A>>, PairingError<O> | BatchError<O, E>, R>
} = dual(
  Facade.kindFirst,
  (self: Pipeline<Kind, unknown, unknown, unknown>, inputs: BatchInputs, options?: RunBatchOptions) => {
    const settled = batch.settledOptions(options, self)
    return Effect.flatMap(
      batch.pair(batch.inputsOf(inputs), batch.paramsList(options?.params)),
      (items) => batch.runBatch(Facade.impl(self), items, settled)
    )
  }
)

/**
 * Like {@link runBatch}, as a stream of results in the order they complete, each tagged with the index of its
 * input. With `map` steps, results wait until every chat is done (a map sees them all).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ChatPipeline, Generator } from "@capstan/core"
 *
 * const printed = ChatPipeline.make().pipe(
 *   ChatPipeline.stream(["a", "b", "c"], { onFailed: "include" }),
 *   Stream.runForEach(({ index, chat }) => Effect.log(index, chat.text)),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const stream: {
  <const O extends RunBatchOptions = {}>(
    inputs: BatchInputs,
    options?: O
  ): <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>
  ) => Stream.Stream<
    Indexed<O extends { readonly onFailed: "include" } ? A | undefined : A>,
    PairingError<O> | BatchError<O, E>,
    R
  >
  <K extends Kind, A, E, R, const O extends RunBatchOptions = {}>(
    self: Pipeline<K, A, E, R>,
    inputs: BatchInputs,
    options?: O
  ): Stream.Stream<
    Indexed<O extends { readonly onFailed: "include" } ? A | undefined : A>,
    PairingError<O> | BatchError<O, E>,
    R
  >
} = dual(
  Facade.kindFirst,
  (self: Pipeline<Kind, unknown, unknown, unknown>, inputs: BatchInputs, options?: RunBatchOptions) => {
    const settled = batch.settledOptions(options, self)
    return Stream.unwrap(Effect.map(
      batch.pair(batch.inputsOf(inputs), batch.paramsList(options?.params)),
      (items) => Stream.map(batch.stream(Facade.impl(self), items, settled), ({ chat, index }) => ({ index, chat }))
    ))
  }
)
