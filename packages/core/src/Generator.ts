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
import * as Message from "./Message.js"

/**
 * What a generator does. `generate` answers chat messages, `complete` plain text (a provider without a
 * completion endpoint fails with `Unsupported`). The request's params are merged over the identifier's,
 * so the identifier's params are the generator's base params.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly identifier: Identifier.Identifier
  readonly generate: (request: ChatRequest) => Effect.Effect<Generation, GenerationError>
  readonly complete: (request: CompletionRequest) => Effect.Effect<Generation, GenerationError>
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
  return {
    identifier: service.identifier,
    generate: (request) => service.generate({ ...request, params: GenerateParams.merge(base, request.params) }),
    complete: (request) => service.complete({ ...request, params: GenerateParams.merge(base, request.params) })
  }
}

/**
 * Builds a generator from an identifier with the providers of the current {@link GeneratorRegistry}.
 * Resources the provider acquires live as long as the surrounding scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Generator.make("mock!echo")
 *   return generator.identifier.model // "echo"
 * }))
 * ```
 * @since 0.1.0
 */
export const make = (
  identifier: string | Identifier.Identifier
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
    return withBaseParams(yield* provider.make(parsed))
  }) as Effect.Effect<Service, GeneratorInitError, Scope.Scope>

/**
 * A Layer that builds the generator named by an identifier, e.g. `"openai!gpt-4o-mini,temperature=0.5"`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 *
 * const chat = Generator.chat("Hello").pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const layer = (identifier: string | Identifier.Identifier): Layer.Layer<Generator, GeneratorInitError> =>
  Layer.effect(Generator, make(identifier))

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
  const params = GenerateParams.merge(options.identifier.params, options.params)
  const generator = Identifier.format(Identifier.withParams(options.identifier, params))
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
