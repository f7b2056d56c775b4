/**
 * The `Generator` service: one model behind one provider, built from an identifier string by a Layer.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer } from "effect"
import type * as Scope from "effect/Scope"
import * as Chat from "./Chat.js"
import type { GenerationError } from "./Errors.js"
import * as GenerateParams from "./GenerateParams.js"
import type { ChatRequest, CompletionRequest, Generation } from "./Generation.js"
import { type GeneratorInitError, GeneratorRegistry } from "./GeneratorRegistry.js"
import * as Identifier from "./Identifier.js"
import * as Engine from "./internal/limiterEngine.js"
import * as Message from "./Message.js"
import type * as RateLimiter from "./RateLimiter.js"
import type * as RetryPolicy from "./RetryPolicy.js"

/**
 * What a generator does. `generate` answers chat messages, `complete` plain text (a provider without a
 * completion endpoint fails with `Unsupported`). The request's params are merged over the identifier's,
 * so the identifier's params are the generator's base params.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly identifier: Identifier.Identifier
  /** What the generator can do beyond one answer per chat request; unset means no declared limits. */
  readonly capabilities?: Capabilities | undefined
  readonly generate: (request: ChatRequest) => Effect.Effect<Generation, GenerationError>
  readonly complete: (request: CompletionRequest) => Effect.Effect<Generation, GenerationError>
}

/**
 * What a generator declares about itself, so callers adapt before sending instead of collecting `Unsupported`
 * errors. `maxChoices` is how many choices (`n`) one request can ask for: a provider that answers one choice per
 * request (Anthropic) declares 1, and the batch engine then sends one request per choice.
 *
 * @example
 * ```ts
 * import type { Generator } from "@capstan/core"
 *
 * const oneAnswerPerRequest: Generator.Capabilities = { maxChoices: 1 }
 * ```
 * @since 0.2.0
 */
export interface Capabilities {
  readonly maxChoices?: number | undefined
}

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
export class Generator extends Context.Service<Generator, Service>()("@capstan/core/Generator") {}

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
export const withBaseParams = (service: Service): Service => {
  const base = service.identifier.params
  if (GenerateParams.isEmpty(base)) return service
  // `describe` merges the same way, once per params object (every request of a batch usually shares one).
  const paramsOf = (params: GenerateParams.GenerateParams) => describe(service.identifier, params).params
  return {
    identifier: service.identifier,
    capabilities: service.capabilities,
    generate: (request) => service.generate({ ...request, params: paramsOf(request.params) }),
    complete: (request) => service.complete({ ...request, params: paramsOf(request.params) })
  }
}

/**
 * How the batch engine runs a generator's requests. Each field overrides the identifier's setting of the
 * same meaning (`rpm`, `tpm`, `max_connections`, `min_delay_ms`, `max_retries`); unset limits are not
 * enforced until the provider reports them.
 *
 * @example
 * ```ts
 * import { Generator, RetryPolicy } from "@capstan/core"
 *
 * const options: Generator.EngineOptions = {
 *   rpm: 500,
 *   maxConnections: 32,
 *   retry: new RetryPolicy.RetryPolicy({ baseDelayMs: 200 })
 * }
 * const layer = Generator.layer("mock!echo", options)
 * ```
 * @since 0.1.0
 */
export interface EngineOptions {
  /** Requests per minute. */
  readonly rpm?: number | undefined
  /** Tokens (prompt + output) per minute. */
  readonly tpm?: number | undefined
  /** Requests in flight at once. */
  readonly maxConnections?: number | undefined
  /** Minimum delay between two request starts, in milliseconds. */
  readonly minDelayMs?: number | undefined
  /** Seconds of each limit that may be spent at once (default 1, as providers enforce). */
  readonly burstSeconds?: number | undefined
  /** Retries of a retryable failure, at most (overrides `retry.maxRetries`). */
  readonly maxRetries?: number | undefined
  /** The retry policy (default `RetryPolicy.defaultPolicy`). */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /**
   * A limiter to use instead of the generator's own. By default every engine for the same provider, model and
   * account settings in the process shares one limiter and one retry budget while any of them is alive.
   */
  readonly limiter?: RateLimiter.RateLimiter | undefined
  /** `false` gives this generator a limiter and budget of its own instead of the shared ones. */
  readonly share?: boolean | undefined
  /** Called before each retry. */
  readonly onRetry?: ((event: RetryPolicy.RetryEvent<GenerationError>) => Effect.Effect<void>) | undefined
  /**
   * A gate every request passes just before it is sent, under the rate limiter and inside the retries (so it
   * sees each real request, retries included), e.g. to hold back new requests after Ctrl-C.
   */
  readonly admit?: (<A, E>(request: Effect.Effect<A, E>) => Effect.Effect<A, E>) | undefined
}

/**
 * Runs a generator service's requests through the batch engine: the generator's rate limiter (shared, see
 * {@link EngineOptions}), the one retry layer, and `attempts` on every generation. `make` and `layer` do this
 * for every generator they build; use this (or {@link withEngine}) for services built any other way.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * declare const raw: Generator.Service
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const service = yield* Generator.applyEngine(raw, { rpm: 60, maxRetries: 2 })
 *   return service.identifier
 * }))
 * ```
 * @since 0.1.0
 */
export const applyEngine = (service: Service, options?: EngineOptions): Effect.Effect<Service, never, Scope.Scope> =>
  Engine.make(service, options)

/**
 * Runs the generator a Layer provides through the batch engine (see {@link applyEngine}); the layer's other
 * services (e.g. a mock's recorder) pass through. Generators from `MockGenerator` layers are not run through
 * the engine unless wrapped with this.
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
export const withEngine = (options?: EngineOptions) =>
<ROut, E, R>(self: Layer.Layer<ROut | Generator, E, R>): Layer.Layer<ROut | Generator, E, R> =>
  Layer.effect(Generator, Generator.use((service) => applyEngine(service, options))).pipe(
    Layer.provideMerge(self)
  )

/**
 * Builds a generator from an identifier with the providers of the current {@link GeneratorRegistry}, run
 * through the batch engine (rate limiter and retry, configured by the identifier's `rpm`, `tpm`,
 * `max_connections`, `min_delay_ms`, `max_retries` and by `options`). Resources the provider acquires, and the
 * generator's share of its limiter, live as long as the surrounding scope.
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
  options?: EngineOptions
): Effect.Effect<Service, GeneratorInitError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* GeneratorRegistry
    const parsed = typeof identifier === "string"
      ? yield* Effect.fromResult(Identifier.parseWith(registry.providers)(identifier))
      : identifier
    const provider = registry.providers.find((p) => p.name === parsed.provider)
    if (provider === undefined) {
      return yield* Effect.fromResult(Identifier.parseWith(registry.providers)(Identifier.format(parsed)))
    }
    return yield* applyEngine(withBaseParams(yield* provider.make(parsed)), options)
  }) as Effect.Effect<Service, GeneratorInitError, Scope.Scope>

/**
 * A Layer that builds the generator named by an identifier, e.g. `"openai!gpt-4o-mini,temperature=0.5,rpm=500"`,
 * run through the batch engine (see {@link make}).
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
  options?: EngineOptions
): Layer.Layer<Generator, GeneratorInitError> => Layer.effect(Generator, make(identifier, options))

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
 * Sends one plain-text completion request to the generator in context.
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
  Generator.use((g) => g.complete(request))

/**
 * What a chat records about the generator that answered it: the request's params merged over the
 * identifier's, and the identifier printed with those merged params (secrets masked).
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
export const describe = (
  identifier: Identifier.Identifier,
  params: GenerateParams.GenerateParams
): { readonly generator: string; readonly params: GenerateParams.GenerateParams } => {
  // Every item of a batch usually asks with the same params object: describe it once per identifier.
  let byParams = described.get(identifier)
  if (byParams === undefined) described.set(identifier, byParams = new WeakMap())
  let description = byParams.get(params)
  if (description === undefined) {
    const merged = GenerateParams.merge(identifier.params, params)
    description = { generator: Identifier.format(Identifier.withParams(identifier, merged)), params: merged }
    byParams.set(params, description)
  }
  return description
}

const described = new WeakMap<
  Identifier.Identifier,
  WeakMap<GenerateParams.GenerateParams, { readonly generator: string; readonly params: GenerateParams.GenerateParams }>
>()

/**
 * Builds the chats of a generation: one per choice, each recording the generator identifier with the
 * merged params, the usage of the call and its timing.
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
 * chats[0]?.last?.content // "Hello"
 * ```
 * @since 0.1.0
 */
export const toChats = (options: {
  readonly identifier: Identifier.Identifier
  readonly messages: ReadonlyArray<Message.Message>
  readonly params: GenerateParams.GenerateParams
  readonly generation: Generation
  readonly startedAt: number
  readonly durationMs: number
}): ReadonlyArray<Chat.Chat> => {
  const { generator, params } = describe(options.identifier, options.params)
  return options.generation.choices.map((choice) =>
    new Chat.Chat({
      messages: options.messages,
      generated: [Message.assistant(choice.text)],
      metadata: {},
      generator,
      params,
      usage: options.generation.usage,
      stopReason: choice.stopReason,
      startedAt: options.startedAt,
      durationMs: options.durationMs
    })
  )
}

/**
 * Sends messages to the generator in context and returns the chat of the first choice.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const chat = yield* Generator.chat("Hello", { temperature: 0 })
 *   return [chat.last?.content, chat.usage.totalTokens, chat.generator]
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const chat = (
  input: Message.MessageInput,
  params: GenerateParams.GenerateParams | GenerateParams.Fields = GenerateParams.empty
): Effect.Effect<Chat.Chat, GenerationError, Generator> =>
  Effect.gen(function*() {
    const generator = yield* Generator
    const messages = Message.fromInput(input)
    const startedAt = yield* Clock.currentTimeMillis
    const requestParams = GenerateParams.make(params)
    const generation = yield* generator.generate({ messages, params: requestParams })
    const durationMs = (yield* Clock.currentTimeMillis) - startedAt
    const chats = toChats({ identifier: generator.identifier, messages, params: requestParams, generation, startedAt, durationMs })
    return chats[0]!
  })
