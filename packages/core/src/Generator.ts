/**
 * The `Generator` service: one model behind one provider, built from an identifier string by a Layer
 * (`Generator.layer("openai!gpt-4o-mini,temperature=0.5")`) with the providers of the `GeneratorRegistry`, and run
 * through the `Engine` (rate limiter and retries).
 *
 * A generator declares what it can do: `generate` (chat) always, `complete` (plain-text completion) and `stream`
 * (text as it arrives) when its provider has them, and `capabilities` such as how many choices one request can ask
 * for.
 *
 * @since 0.1.0
 */
import { Clock, type Config, Effect, Layer, Result, Stream } from "effect"
import type * as Scope from "effect/Scope"
import type * as Chat from "./Chat.js"
import * as Engine from "./Engine.js"
import * as GenerateParams from "./GenerateParams.js"
import type { ChatRequest, CompletionRequest, Generation, PackedCompletionRequest, StreamPart } from "./Generation.js"
import { type GenerationError, MalformedResponse, Unsupported } from "./GenerationError.js"
import * as GeneratorRegistry from "./GeneratorRegistry.js"
import type * as Identifier from "./Identifier.js"
import * as Fallback from "./internal/fallback.js"
import * as internal from "./internal/generator.js"
import { Generator, type Service } from "./internal/generator.js"
import * as Message from "./Message.js"

/**
 * What a generator does: `generate` answers chat messages; `complete`, `completeMany` and `stream` are there when
 * the provider has them. The request's params are merged over the identifier's, so the identifier's params are the generator's base
 * params.
 *
 * @since 0.1.0
 */
export type { Service } from "./internal/generator.js"

/**
 * What a generator declares about itself, so callers adapt before sending instead of collecting `Unsupported`
 * errors. `maxChoices` is how many choices (`n`) one request can ask for: a provider that answers one choice per
 * request (Anthropic) declares 1, and the batch engine then sends one request per choice. `maxPromptsPerRequest` is
 * how many prompts one `completeMany` request may carry (unset: as many as asked); a batch's `promptsPerRequest`
 * packs no more than that.
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const oneAnswerPerRequest: Generator.Capabilities = { maxChoices: 1 }
 * const smallPacks: Generator.Capabilities = { maxPromptsPerRequest: 16 }
 * ```
 * @since 0.2.0
 */
export type { Capabilities } from "./internal/generator.js"

/**
 * A provider's asynchronous batch API, as a generator declares it (`Service.batch`): used by `Batch` under
 * `via: "provider-batch"` (see `ProviderBatch`). Providers implement it; applications do not call it.
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * declare const generator: Generator.Service
 * const canBatch = generator.batch !== undefined
 * const perBatch = generator.batch?.limits.maxRequests // 50000 for OpenAI
 * ```
 * @since 0.3.0
 */
export type { BatchApi } from "./internal/generator.js"

/**
 * One request of a provider batch and the custom id its result comes back under.
 *
 * @example
 * ```ts
 * import { GenerateParams, Message, type Generator } from "@capstan/core"
 *
 * const entry: Generator.BatchEntry = {
 *   customId: "item-1-c0",
 *   kind: "chat",
 *   request: { messages: [Message.user("Hi")], params: GenerateParams.empty }
 * }
 * ```
 * @since 0.3.0
 */
export type { BatchEntry } from "./internal/generator.js"

/**
 * Where a provider batch stands: `Running`, `Ended` (its results can be read) or `Failed` as a whole.
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const state: Generator.BatchState = { _tag: "Running", status: "in_progress" }
 * ```
 * @since 0.3.0
 */
export type { BatchState } from "./internal/generator.js"

/**
 * What became of one request of a provider batch: `Answered`, `Failed` with a typed error, or `Unfinished`
 * (expired, cancelled, or missing from the results).
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const outcome: Generator.BatchOutcome = { _tag: "Unfinished", reason: "expired" }
 * ```
 * @since 0.3.0
 */
export type { BatchOutcome } from "./internal/generator.js"

/**
 * One result of a provider batch: a custom id and its outcome.
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const result: Generator.BatchResult = { customId: "item-1-c0", outcome: { _tag: "Unfinished", reason: "cancelled" } }
 * ```
 * @since 0.3.0
 */
export type { BatchResult } from "./internal/generator.js"

/**
 * The generator in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GenerateParams, Message } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const generator = yield* Generator.Generator
 *   const generation = yield* generator.generate({ messages: [Message.user("Hi")], params: GenerateParams.empty })
 *   return generation.choices[0]?.text
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export { Generator } from "./internal/generator.js"

/**
 * Wraps a service so that every request's params are merged over the identifier's (base) params.
 *
 * @example
 * ```ts
 * import { Generator } from "@capstan/core"
 *
 * declare const raw: Generator.Service
 * const service = Generator.withBaseParams(raw)
 * ```
 * @since 0.1.0
 */
export const withBaseParams: (service: Service) => Service = internal.withBaseParams

/**
 * Builds a generator from an identifier with the providers of the current `GeneratorRegistry`, run through the
 * engine in context (or an engine of the scope's own): its rate limiter and retry policy are configured by the
 * identifier's `rpm`, `tpm`, `max_connections`, `min_delay_ms`, `max_retries` and by `options`. Resources the
 * provider acquires, and the generator's hold on its limiter, live as long as the surrounding scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Generator.make("mock!echo,rpm=600")
 *   return generator.identifier.model // "echo"
 * }))
 * ```
 * @since 0.1.0
 */
export const make = (
  identifier: string | Identifier.Identifier,
  options?: Engine.Options
): Effect.Effect<Service, GeneratorRegistry.GeneratorInitError, Scope.Scope> =>
  Effect.flatMap(fromRegistry(identifier), (service) => Engine.applyDefault(service, options))

/** The provider's generator for an identifier, its base params applied, not yet run through the engine. */
const fromRegistry = (
  identifier: string | Identifier.Identifier
): Effect.Effect<Service, GeneratorRegistry.GeneratorInitError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* GeneratorRegistry.GeneratorRegistry
    const parse = GeneratorRegistry.parseWith(registry.providers)
    const parsed = typeof identifier === "string" ? yield* Effect.fromResult(parse(identifier)) : identifier
    const provider = registry.providers.find((p) => p.name === parsed.provider)
    if (provider === undefined) {
      // A hand-built identifier naming no registered provider: the parser says so, and how to fix it.
      return yield* Result.match(parse(`${parsed.provider}!${parsed.model}`), {
        onFailure: Effect.fail,
        onSuccess: () => Effect.die(`the provider "${parsed.provider}" parses but is not registered`)
      })
    }
    return internal.withBaseParams(yield* provider.make(parsed))
  })

/**
 * A Layer that builds the generator named by an identifier, e.g. `"openai!gpt-4o-mini,temperature=0.5,rpm=500"`,
 * run through the engine (see {@link make}). Without an `Engine` in context it uses `Engine.layer`, built once with
 * the application's layers, so every generator of the application for the same account and model shares one
 * limiter.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const chat = Generator.chat("Hello").pipe(Effect.provide(Generator.layer("mock!echo", { maxRetries: 3 })))
 * ```
 * @since 0.1.0
 */
export const layer = (
  identifier: string | Identifier.Identifier,
  options?: Engine.Options
): Layer.Layer<Generator, GeneratorRegistry.GeneratorInitError> =>
  Engine.provideDefault(
    Layer.effect(Generator, Effect.flatMap(fromRegistry(identifier), (service) => Engine.apply(service, options)))
  )

/**
 * {@link layer} with the identifier read from the application's configuration, e.g.
 * `Generator.layerConfig(Config.String("GENERATOR"))`.
 *
 * @example
 * ```ts
 * import { Config, Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const chat = Generator.chat("Hello").pipe(
 *   Effect.provide(Generator.layerConfig(Config.String("CAPSTAN_GENERATOR").pipe(Config.withDefault("mock!echo"))))
 * )
 * ```
 * @since 0.2.0
 */
export const layerConfig = (
  identifier: Config.Config<string>,
  options?: Engine.Options
): Layer.Layer<Generator, GeneratorRegistry.GeneratorInitError | Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    return layer(yield* identifier, options)
  }))

/**
 * Options of {@link fallback}: `when` says which failures pass a request on to the next generator (a list of error
 * tags, or a predicate); by default the failures where another generator may answer: rate limits, overload, server
 * errors, timeouts, dropped connections, malformed answers, a refused key, an exhausted quota, a missing model or
 * capability, and a prompt too long for the context window. `engine` configures each generator's engine (as
 * {@link make}'s options).
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const onLimits: Generator.FallbackOptions = { when: ["RateLimited", "Overloaded", "QuotaExceeded"] }
 * const always: Generator.FallbackOptions = { when: () => true, engine: { maxRetries: 2 } }
 * ```
 * @since 0.4.0
 */
export interface FallbackOptions {
  readonly when?: Fallback.When | undefined
  readonly engine?: Engine.Options | undefined
}

/**
 * A generator of several, tried in order: the first answers, and when it fails with an error `when` accepts (after
 * its own retries), the next one is asked the same request, and so on; any other failure, or the last generator's,
 * is the request's. Each generator keeps its own engine (its own limiter and retries, built once with the
 * generator, shared with every other generator of the application on the same account and model). Chats and rows
 * record the generator that answered (`Generation.answeredBy`). A stream falls back only before its first text. The
 * fallback has no provider batch API (a provider batch belongs to one provider: `via: "auto"` then runs realtime).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const primary = "mock!echo,fail_every=1,fail_with=Overloaded" // always overloaded
 * const answered = Generator.chat("Hi").pipe(
 *   Effect.map((chat) => chat.generator), // "mock!fixed,reply=from the backup"
 *   Effect.provide(Generator.fallback([primary, "mock!fixed,reply=from the backup"], { engine: { maxRetries: 0 } }))
 * )
 * ```
 * @since 0.4.0
 */
export const fallback = (
  identifiers: readonly [string | Identifier.Identifier, ...Array<string | Identifier.Identifier>],
  options?: FallbackOptions
): Layer.Layer<Generator, GeneratorRegistry.GeneratorInitError> =>
  Engine.provideDefault(
    Layer.effect(
      Generator,
      Effect.map(
        Effect.forEach(identifiers, (identifier) =>
          Effect.flatMap(fromRegistry(identifier), (service) => Engine.apply(service, options?.engine))),
        (members) =>
          Fallback.make(members as unknown as readonly [Service, ...Array<Service>], options?.when)
      )
    )
  )

/**
 * {@link fallback} over generators already built (e.g. with {@link make}, or mocks): the same order and rules; each
 * keeps the engine it was built with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const primary = yield* Generator.make("mock!echo")
 *   const backup = yield* Generator.make("mock!fixed,reply=backup")
 *   const generator = Generator.fallbackOf([primary, backup])
 *   return generator.identifier.model // "echo": a fallback is known by its first generator
 * }))
 * ```
 * @since 0.4.0
 */
export const fallbackOf = (
  generators: readonly [Service, ...Array<Service>],
  options?: Pick<FallbackOptions, "when">
): Service => Fallback.make(generators, options?.when)

/**
 * Runs the generator a Layer provides through the engine (see `Engine.apply`); the layer's other services (e.g. a
 * mock's recorder) pass through. `MockGenerator` layers answer directly, without rate limits or retries, unless
 * wrapped with this.
 *
 * @example
 * ```ts
 * import { ServerError } from "@capstan/core"
 * import { Generator } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const flaky = MockGenerator.failing(new ServerError({ provider: "mock", detail: "", status: 500 }), { every: 2 }).pipe(
 *   Generator.withEngine({ maxRetries: 3 })
 * )
 * ```
 * @since 0.1.0
 */
export const withEngine = (options?: Engine.Options) =>
<ROut, E, R>(
  self: Layer.Layer<ROut | Generator, E, R>
): Layer.Layer<ROut | Generator, E, Exclude<R, Engine.Engine>> =>
  Engine.provideDefault(
    Layer.effect(Generator, Generator.use((service) => Engine.apply(service, options))).pipe(
      Layer.provideMerge(self)
    )
  )

/**
 * Sends one chat request to the generator in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GenerateParams, Message } from "@capstan/core"
 *
 * const generation = Generator.generate({ messages: [Message.user("Hi")], params: GenerateParams.empty }).pipe(
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const generate = (request: ChatRequest): Effect.Effect<Generation, GenerationError, Generator> =>
  Generator.use((g) => g.generate(request))

/**
 * Sends one plain-text completion request to the generator in context; a generator without completions fails
 * with `Unsupported`, sending nothing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GenerateParams } from "@capstan/core"
 *
 * const generation = Generator.complete({ prompt: "Once upon", params: GenerateParams.empty }).pipe(
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export const complete = (request: CompletionRequest): Effect.Effect<Generation, GenerationError, Generator> =>
  Generator.use((g) => g.complete === undefined ? Effect.fail(lacks(g, "plain-text completion")) : g.complete(request))

/**
 * Sends several completion prompts with the same params in one request to the generator in context (see
 * `Generation.PackedCompletionRequest`): one generation, `n` choices per prompt in prompt order, one usage. A
 * generator that cannot pack prompts fails with `Unsupported`, sending nothing; pipelines and batches pack for you
 * with their `promptsPerRequest` option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GenerateParams } from "@capstan/core"
 *
 * const texts = Generator.completeMany({ prompts: ["Once upon", "In a galaxy"], params: GenerateParams.empty }).pipe(
 *   Effect.map((generation) => generation.choices.map((choice) => choice.text)),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.2.0
 */
export const completeMany = (request: PackedCompletionRequest): Effect.Effect<Generation, GenerationError, Generator> =>
  Generator.use((g) =>
    g.completeMany === undefined
      ? Effect.fail(lacks(g, "packed completion (several prompts per request)"))
      : g.completeMany(request)
  )

/**
 * Streams one chat request's answer from the generator in context: text deltas as they arrive, then the whole
 * generation with its usage. A generator that cannot stream fails with `Unsupported`, sending nothing.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Generator, GenerateParams, Message } from "@capstan/core"
 *
 * const text = Generator.stream({ messages: [Message.user("Hi there")], params: GenerateParams.empty }).pipe(
 *   Stream.runFold(() => "", (text, part) => part._tag === "Delta" ? text + part.text : text),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.2.0
 */
export const stream = (request: ChatRequest): Stream.Stream<StreamPart, GenerationError, Generator> =>
  Stream.unwrap(
    Generator.useSync((g) => g.stream === undefined ? Stream.fail(lacks(g, "streaming")) : g.stream(request))
  )

/** The `Unsupported` error of a generator that lacks a capability. */
const lacks = (service: Service, what: string) =>
  new Unsupported({ provider: service.identifier.provider, detail: `${service.identifier.model} has no ${what}` })

/**
 * What a chat records about the generator that answered it: the request's params merged over the identifier's,
 * and the identifier printed with those merged params (secrets masked).
 *
 * @example
 * ```ts
 * import { Generator, GenerateParams, Identifier } from "@capstan/core"
 *
 * const identifier = Identifier.make({ provider: "mock", model: "echo" })
 * Generator.describe(identifier, GenerateParams.make({ temperature: 0.6 })).generator // "mock!echo,temperature=0.6"
 * ```
 * @since 0.1.0
 */
export const describe: (
  identifier: Identifier.Identifier,
  params: GenerateParams.GenerateParams
) => internal.Description = internal.describe

/**
 * Builds the chats of a generation: one per choice, each recording the generator identifier with the merged
 * params, the usage of the call (on the first choice), its attempts, warnings and timing.
 *
 * @example
 * ```ts
 * import { Generation, Generator, GenerateParams, Identifier, Message, Usage } from "@capstan/core"
 *
 * const chats = Generator.toChats({
 *   identifier: Identifier.make({ provider: "mock", model: "echo" }),
 *   messages: [Message.user("Hi")],
 *   params: GenerateParams.empty,
 *   generation: Generation.fromTexts(["Hello"], Usage.empty),
 *   startedAt: 0,
 *   durationMs: 5
 * })
 * chats[0]?.text // "Hello"
 * ```
 * @since 0.1.0
 */
export const toChats: typeof internal.toChats = internal.toChats

/**
 * Sends messages to the generator in context and returns the chat of the first choice, with the attempts it took.
 * A generation without any choice is a `MalformedResponse`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const chat = yield* Generator.chat("Hello", { temperature: 0 })
 *   return [chat.text, chat.usage.totalTokens, chat.generator, chat.attempts]
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const chat = (
  input: Message.MessageInput,
  params: GenerateParams.GenerateParams | GenerateParams.Fields = GenerateParams.empty
): Effect.Effect<Chat.Chat<undefined>, GenerationError, Generator> =>
  Effect.gen(function*() {
    const generator = yield* Generator
    const messages = Message.fromInput(input)
    const startedAt = yield* Clock.currentTimeMillis
    const requestParams = GenerateParams.make(params)
    const generation = yield* generator.generate({ messages, params: requestParams })
    const durationMs = (yield* Clock.currentTimeMillis) - startedAt
    const [first] = toChats({
      identifier: generator.identifier,
      messages,
      params: requestParams,
      generation,
      startedAt,
      durationMs
    })
    if (first === undefined) {
      return yield* new MalformedResponse({
        provider: generator.identifier.provider,
        detail: "the generation had no choices",
        ...(generation.attempts === undefined ? {} : { attempts: generation.attempts })
      })
    }
    return first as Chat.Chat<undefined>
  })
