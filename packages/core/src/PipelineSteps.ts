/**
 * What a pipeline does around its generations, for both kinds (`ChatPipeline` and `CompletionPipeline` export
 * these as their own): its params (`withParams`), metadata (`meta`), per-chat steps (`andThen`, `untilParsedAs`),
 * steps over every chat of a run (`map`), the generator it runs on (`withGenerator`), and wrappers of each
 * generation (`wrap`). Each returns a new pipeline; options that cannot work throw `InvalidParams` when the
 * pipeline is built.
 *
 * @since 0.4.0
 */
import type { Effect, Schema } from "effect"
import { dual } from "effect/Function"
import type * as Chat from "./Chat.js"
import * as GenerateParams from "./GenerateParams.js"
import type { Generation } from "./Generation.js"
import type { GenerationError } from "./GenerationError.js"
import type * as Generator from "./Generator.js"
import * as internal from "./internal/pipeline.js"
import * as Facade from "./internal/pipelineFacade.js"
import type * as Model from "./Model.js"
import type {
  AndThenOptions,
  AndThenResult,
  ContinueContext,
  ContinueError,
  Kind,
  ParsedAfter,
  ParseOptions,
  Pipeline
} from "./Pipeline.js"
import type { ExhaustedMaxRounds } from "./PipelineError.js"

/**
 * Merges params over the pipeline's (rigging's `with_`): they win over the generator's and lose to per-item
 * params.
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
  (
    params: GenerateParams.GenerateParams | GenerateParams.Fields
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, A, E, R>
  <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>,
    params: GenerateParams.GenerateParams | GenerateParams.Fields
  ): Pipeline<K, A, E, R>
} = dual(
  2,
  (self: Pipeline<Kind, unknown, unknown, unknown>, params: GenerateParams.GenerateParams | GenerateParams.Fields) =>
    Facade.toPublic(internal.update(Facade.impl(self), { params: GenerateParams.merge(self.params, params) }))
)

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
  (
    metadata: Readonly<Record<string, Schema.Json>>
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, A, E, R>
  <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>,
    metadata: Readonly<Record<string, Schema.Json>>
  ): Pipeline<K, A, E, R>
} = dual(
  2,
  (self: Pipeline<Kind, unknown, unknown, unknown>, metadata: Readonly<Record<string, Schema.Json>>) =>
    Facade.toPublic(internal.update(Facade.impl(self), { metadata: { ...self.metadata, ...metadata } }))
)

/**
 * Adds a per-chat step: the callback answers a replacement chat, a pipeline to run whose chat replaces this one
 * (its usage adds to this chat's), or nothing. Its errors are the pipeline's (`StepFailed` when recorded on a
 * chat). A callback that keeps continuing fails with `MaxDepthExceeded` past `maxDepth`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline } from "@capstan/core"
 *
 * const pipeline = ChatPipeline.make("Name an animal.").pipe(
 *   ChatPipeline.andThen((chat) =>
 *     Effect.succeed(chat.text.includes("cat") ? ChatPipeline.continue(chat, "Why a cat?") : undefined)
 *   )
 * )
 * ```
 * @since 0.1.0
 */
export const andThen: {
  <A, X extends AndThenResult, E2, R2>(
    f: (chat: Chat.Chat<A>) => Effect.Effect<X, E2, R2>,
    options?: AndThenOptions
  ): <K extends Kind, E, R>(
    self: Pipeline<K, A, E, R>
  ) => Pipeline<K, ParsedAfter<X, A>, E | E2 | ContinueError<X>, R | R2 | ContinueContext<X>>
  <K extends Kind, A, E, R, X extends AndThenResult, E2, R2>(
    self: Pipeline<K, A, E, R>,
    f: (chat: Chat.Chat<A>) => Effect.Effect<X, E2, R2>,
    options?: AndThenOptions
  ): Pipeline<K, ParsedAfter<X, A>, E | E2 | ContinueError<X>, R | R2 | ContinueContext<X>>
} = dual(
  Facade.kindFirst,
  (
    self: Pipeline<Kind, unknown, unknown, unknown>,
    f: (chat: Chat.Chat) => Effect.Effect<unknown, unknown, unknown>,
    options?: AndThenOptions
  ) => {
    const maxDepth = options?.maxDepth ?? internal.defaultMaxDepth
    internal.requireWhole("andThen: maxDepth", maxDepth, 1)
    return Facade.toPublic(internal.addStep(Facade.impl(self), { _tag: "AndThen", f, maxDepth }))
  }
)

/**
 * Adds a step over all the chats of a run at once (every successful chat of a `runMany`/`runBatch`, in input
 * order). It must answer one chat per chat; a failure concerns them all.
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
  <A, B, E2, R2>(
    f: (chats: ReadonlyArray<Chat.Chat<A>>) => Effect.Effect<ReadonlyArray<Chat.Chat<B>>, E2, R2>
  ): <K extends Kind, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, B, E | E2, R | R2>
  <K extends Kind, A, E, R, B, E2, R2>(
    self: Pipeline<K, A, E, R>,
    f: (chats: ReadonlyArray<Chat.Chat<A>>) => Effect.Effect<ReadonlyArray<Chat.Chat<B>>, E2, R2>
  ): Pipeline<K, B, E | E2, R | R2>
} = dual(
  2,
  (
    self: Pipeline<Kind, unknown, unknown, unknown>,
    f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, unknown>
  ) => Facade.toPublic(internal.addStep(Facade.impl(self), { _tag: "Map", f }))
)

/**
 * Adds a parse step: parse the last message as `model` and keep the value as the chat's `parsed` (so the pipeline
 * runs to `Chat<A>`); on failure send the error back as a user message and generate again (or, with
 * `attemptRecovery: false`, regenerate from the original context), up to `maxRounds` generations in all, then fail
 * with `ExhaustedMaxRounds { rounds, lastError }`. A JSON model is requested as native structured output. The chat
 * keeps the recovery dialog unless `dropDialog`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator, Model } from "@capstan/core"
 *
 * const painters = ChatPipeline.make("Give me 3 famous painters").pipe(
 *   ChatPipeline.untilParsedAs(Model.CommaDelimitedAnswer, { maxRounds: 3 }),
 *   ChatPipeline.run(),
 *   Effect.map((chat) => chat.parsed), // ReadonlyArray<string>
 *   Effect.provide(Generator.layer("mock!demo"))
 * )
 * ```
 * @since 0.1.0
 */
export const untilParsedAs: {
  <B>(
    model: Model.Model<B>,
    options?: ParseOptions
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, B, E | ExhaustedMaxRounds, R>
  <K extends Kind, A, E, R, B>(
    self: Pipeline<K, A, E, R>,
    model: Model.Model<B>,
    options?: ParseOptions
  ): Pipeline<K, B, E | ExhaustedMaxRounds, R>
} = dual(
  Facade.kindFirst,
  (self: Pipeline<Kind, unknown, unknown, unknown>, model: Model.Model<unknown>, options?: ParseOptions) => {
    const maxRounds = options?.maxRounds ?? internal.defaultMaxRounds
    internal.requireWhole(`untilParsedAs(${model.name}): maxRounds`, maxRounds, 1)
    return Facade.toPublic(internal.addStep(Facade.impl(self), {
      _tag: "Parse",
      model,
      maxRounds,
      attemptRecovery: self.kind === "chat" && options?.attemptRecovery !== false,
      dropDialog: options?.dropDialog ?? false
    }))
  }
)

/**
 * Binds a generator: the pipeline (its callbacks included) runs on it instead of the one in context. Build it once
 * (e.g. `Generator.make` in a scope) and share it, so its rate limits are shared too.
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
  (
    generator: Generator.Service
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, A, E, Exclude<R, Generator.Generator>>
  <K extends Kind, A, E, R>(
    self: Pipeline<K, A, E, R>,
    generator: Generator.Service
  ): Pipeline<K, A, E, Exclude<R, Generator.Generator>>
} = dual(
  2,
  (self: Pipeline<Kind, unknown, unknown, unknown>, generator: Generator.Service) =>
    Facade.toPublic(internal.update(Facade.impl(self), { generator }))
)

/**
 * Transforms every generation Effect of the pipeline, e.g. to add a timeout or a custom retry. Wraps apply in the
 * order added (the first is innermost). A generation error it raises is recorded as such; any other error as
 * `StepFailed { step: "wrap" }`.
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
    f: (generation: Effect.Effect<Generation, GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, A, E | E2, R | R2>
  <K extends Kind, A, E, R, E2, R2>(
    self: Pipeline<K, A, E, R>,
    f: (generation: Effect.Effect<Generation, GenerationError>) => Effect.Effect<Generation, E2, R2>
  ): Pipeline<K, A, E | E2, R | R2>
} = dual(
  2,
  (self: Pipeline<Kind, unknown, unknown, unknown>, f: internal.Wrap) =>
    Facade.toPublic(internal.update(Facade.impl(self), { wraps: [...Facade.impl(self).wraps, f] }))
)
