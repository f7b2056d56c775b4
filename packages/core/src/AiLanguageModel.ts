/**
 * Capstan and effect/ai, both ways.
 *
 * - {@link layer}: the Capstan `Generator` in context as effect/ai's `LanguageModel`, so programs written against
 *   effect/ai (`LanguageModel.generateText`, `generateObject`, `streamText`, toolkits) run on any Capstan generator
 *   with its rate limiter, retries, response cache and mocks. A `MockGenerator` is thereby a mock `LanguageModel`.
 * - {@link provider}: any effect/ai `LanguageModel` layer as a Capstan provider, registered with
 *   `GeneratorRegistry.register` and built from identifiers like `"mymodel!some-model,rpm=60"`, so pipelines and
 *   batches run on it through the engine.
 * - {@link fromAiError} and {@link toAiError}: the error mapping both ways (`AiError` reasons ↔ Capstan's tagged
 *   errors, the retry-after hint kept).
 *
 * What does not map: effect/ai asks for one answer per request (no `n`: a provider built here declares
 * `maxChoices: 1`, and a `LanguageModel` over a generator answers with the first choice); effect/ai has no
 * sampling params, so a provider built here sends none of Capstan's (`temperature`, `maxTokens`, ...; the
 * generation's `warnings` say which were left out) except `timeout`, applied around the call; no log
 * probabilities; usage keeps input, output and cached input tokens (reasoning tokens count as output, cache writes
 * as input), and a generation's warnings, attempts and rate-limit state have no place in effect/ai's response; reasoning parts, provider-executed tools and tool approvals have no Capstan counterpart and are left
 * out; effect/ai provider options (per message or part) are not read, nor are Capstan's `providerOptions` sent.
 *
 * @since 0.4.0
 */
import { Context, Duration, Effect, Layer, Result, type Schema, Stream } from "effect"
import * as AiError from "effect/ai/AiError"
import * as LanguageModel from "effect/ai/LanguageModel"
import type * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Tool from "effect/ai/Tool"
import type * as Toolkit from "effect/ai/Toolkit"
import type * as Engine from "./Engine.js"
import * as GenerateParams from "./GenerateParams.js"
import type { ChatRequest, StreamPart, ToolDefinition } from "./Generation.js"
import { type GenerationError, Timeout, Unsupported } from "./GenerationError.js"
import * as Generator from "./Generator.js"
import type * as GeneratorRegistry from "./GeneratorRegistry.js"
import type * as Identifier from "./Identifier.js"
import * as Errors from "./internal/aiError.js"
import * as Parts from "./internal/aiParts.js"

// --- A Capstan generator as an effect/ai LanguageModel -----------------------------------------------------------

/**
 * Options of {@link layerWith} and {@link make}: `params` are sent with every request (over the identifier's own),
 * since effect/ai's calls carry no sampling params.
 *
 * @example
 * ```ts
 * import { AiLanguageModel } from "@capstan/core"
 *
 * const options: AiLanguageModel.LayerOptions = { params: { temperature: 0, maxTokens: 400 } }
 * ```
 * @since 0.4.0
 */
export interface LayerOptions {
  readonly params?: GenerateParams.GenerateParams | GenerateParams.Fields | undefined
}

const aiFailure = (method: string) => (reason: AiError.AiErrorReason) =>
  AiError.make({ module: "LanguageModel", method, reason })

/** The Capstan chat request an effect/ai call stands for. */
const chatRequestOf = (
  options: LanguageModel.ProviderOptions,
  params: GenerateParams.GenerateParams
): Result.Result<ChatRequest, AiError.AiErrorReason> =>
  Result.gen(function*() {
    const messages = yield* Parts.messagesOf(options.prompt)
    const tools = yield* Parts.toolDefinitionsOf(options.tools)
    const structured = options.responseFormat.type === "json"
      ? yield* Parts.structuredOf(options.responseFormat)
      : undefined
    return {
      messages,
      params,
      ...(structured === undefined ? {} : { structured }),
      ...(tools.length === 0 ? {} : { tools, toolChoice: Parts.toolChoiceOf(options.toolChoice) })
    }
  })

/**
 * effect/ai's `LanguageModel` answered by a Capstan generator: every call is one `generate` (or `stream`) of that
 * generator, so a generator from `Generator.layer` paces, retries and caches effect/ai's calls like its own.
 * `generateObject` asks for the provider's native structured output (`ChatRequest.structured`); a toolkit's tools
 * are sent as `ChatRequest.tools` and the model's calls come back as tool-call parts. A generator that cannot
 * stream answers `streamText` with one `generate`, its text as one delta. Errors are `AiError`s (see
 * {@link toAiError}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { AiLanguageModel, Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const generator = yield* Generator.Generator
 *   const model = yield* AiLanguageModel.make(generator, { params: { temperature: 0 } })
 *   return (yield* model.generateText({ prompt: "Hello" })).text
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.4.0
 */
export const make = (
  generator: Generator.Service,
  options?: LayerOptions
): Effect.Effect<LanguageModel.LanguageModel> => {
  const params = options?.params === undefined ? GenerateParams.empty : GenerateParams.make(options.params)
  const modelId = generator.identifier.model
  const url = generator.endpoint
  const toAi = (method: string) => (error: GenerationError) => Errors.toAiError(error, { method, url })
  return LanguageModel.make({
    generateText: (request) =>
      Effect.fromResult(chatRequestOf(request, params)).pipe(
        Effect.mapError(aiFailure("generateText")),
        Effect.flatMap((chat) => Effect.mapError(generator.generate(chat), toAi("generateText"))),
        Effect.map((generation) => Parts.responsePartsOf(generation, modelId))
      ),
    streamText: (request) =>
      Stream.unwrap(Effect.map(
        Effect.mapError(Effect.fromResult(chatRequestOf(request, params)), aiFailure("streamText")),
        (chat): Stream.Stream<StreamPart, GenerationError> =>
          generator.stream === undefined
            ? Stream.fromIterableEffect(Effect.map(generator.generate(chat), Parts.asStreamParts))
            : generator.stream(chat)
      )).pipe(
        Stream.mapError((error) => AiError.isAiError(error) ? error : toAi("streamText")(error)),
        Stream.mapAccum((): Parts.StreamState => ({ textOpen: false }), Parts.streamPartsOf),
        Stream.prepend([{ type: "response-metadata", modelId } satisfies Response.StreamPartEncoded])
      )
  })
}

/**
 * A Layer of effect/ai's `LanguageModel` answered by the Capstan `Generator` in context (see {@link make}).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { AiLanguageModel, Generator } from "@capstan/core"
 *
 * const text = LanguageModel.generateText({ prompt: "Hello" }).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.provide(AiLanguageModel.layer.pipe(Layer.provide(Generator.layer("mock!echo"))))
 * )
 * ```
 * @since 0.4.0
 */
export const layer: Layer.Layer<LanguageModel.LanguageModel, never, Generator.Generator> = Layer.effect(
  LanguageModel.LanguageModel,
  Generator.Generator.use((generator) => make(generator))
)

/**
 * {@link layer} with options, e.g. the params every request is sent with.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AiLanguageModel, Generator } from "@capstan/core"
 *
 * const model = AiLanguageModel.layerWith({ params: { temperature: 0 } }).pipe(
 *   Layer.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.4.0
 */
export const layerWith = (
  options: LayerOptions
): Layer.Layer<LanguageModel.LanguageModel, never, Generator.Generator> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Generator.Generator.use((generator) => make(generator, options))
  )

/**
 * effect/ai's `LanguageModel` answered by the generator an identifier names, run through the engine (see
 * `Generator.layer`): e.g. `fromIdentifier("openai!gpt-4o-mini,rpm=500")` with `Providers.layer` provided.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { AiLanguageModel } from "@capstan/core"
 *
 * const text = LanguageModel.generateText({ prompt: "Hello" }).pipe(
 *   Effect.provide(AiLanguageModel.fromIdentifier("mock!echo", { maxRetries: 3 }))
 * )
 * ```
 * @since 0.4.0
 */
export const fromIdentifier = (
  identifier: string | Identifier.Identifier,
  options?: Engine.Options & LayerOptions
): Layer.Layer<LanguageModel.LanguageModel, GeneratorRegistry.GeneratorInitError> =>
  (options?.params === undefined ? layer : layerWith({ params: options.params })).pipe(
    Layer.provide(Generator.layer(identifier, options))
  )

// --- An effect/ai LanguageModel as a Capstan provider ------------------------------------------------------------

/**
 * Options of {@link provider}: what `capstan providers` shows, and the model names that select the provider when
 * an identifier names none.
 *
 * @example
 * ```ts
 * import { AiLanguageModel } from "@capstan/core"
 *
 * const options: AiLanguageModel.ProviderOptions = { description: "our gateway", models: /^gw-/ }
 * ```
 * @since 0.4.0
 */
export interface ProviderOptions {
  readonly description?: string | undefined
  readonly models?: RegExp | undefined
}

/** What effect/ai's calls take besides the prompt; the toolkit is never run (Capstan runs tools itself). */
interface CallOptions {
  readonly prompt: Prompt.RawInput
  readonly toolkit?: Toolkit.WithHandler<Record<string, Tool.Any>>
  readonly toolChoice?: LanguageModel.ToolChoice<string>
  readonly disableToolCallResolution: true
}

interface CallResponse {
  readonly content: ReadonlyArray<Response.AnyPart>
}

// effect/ai's overloads type a call from its literal options; these calls are built at run time from Capstan's
// request, so they are typed at this one boundary: the answer's parts, failing with an AiError.
const generateText = (model: LanguageModel.LanguageModel, options: CallOptions) =>
  model.generateText(options as Parameters<LanguageModel.LanguageModel["generateText"]>[0]) as unknown as Effect.Effect<
    CallResponse,
    AiError.AiError
  >

const generateObject = (
  model: LanguageModel.LanguageModel,
  options: CallOptions & { readonly objectName: string; readonly schema: Schema.Decoder<unknown> }
) => (model.generateObject as unknown as (options: unknown) => Effect.Effect<CallResponse, AiError.AiError>)(options)

const streamText = (model: LanguageModel.LanguageModel, options: CallOptions) =>
  model.streamText(options as Parameters<LanguageModel.LanguageModel["streamText"]>[0]) as unknown as Stream.Stream<
    Response.AnyPart,
    AiError.AiError
  >

/** Capstan's tool definitions as an effect/ai toolkit whose calls come back unresolved. */
const toolkitOf = (tools: ReadonlyArray<ToolDefinition>): Toolkit.WithHandler<Record<string, Tool.Any>> => ({
  tools: Object.fromEntries(tools.map((tool) => [
    tool.name,
    Tool.dynamic(tool.name, {
      ...(tool.description === undefined ? {} : { description: tool.description }),
      parameters: tool.parameters
    }) as unknown as Tool.Any
  ])),
  // Calls are made with `disableToolCallResolution`: the caller's tool loop runs them, never effect/ai.
  handle: (name) => Effect.die(`the tool ${String(name)} is run by Capstan, not by effect/ai`)
})

/** Capstan's params effect/ai has no place for; `n` and `timeout` are handled by the generator itself. */
const unsentParams = (params: GenerateParams.GenerateParams): ReadonlyArray<string> =>
  Object.entries(params)
    .filter(([key, value]) => value !== undefined && key !== "n" && key !== "timeout")
    .map(([key]) => `effect/ai's LanguageModel takes no ${key}: not sent`)

/**
 * A Capstan generator answered by an effect/ai `LanguageModel`: `generate` is `generateText` (`generateObject`
 * for a structured request, so the model's native structured output is used), `stream` is `streamText` (a
 * structured request is answered whole, as effect/ai streams text only). Tool definitions go out as effect/ai
 * dynamic tools whose calls come back unresolved, as the choice's `toolCalls`. One choice per request; the `timeout`
 * param bounds each `generate`, and params effect/ai has no place for are named in the generation's `warnings`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { AiLanguageModel, Identifier } from "@capstan/core"
 *
 * declare const model: LanguageModel.LanguageModel
 * const generator = AiLanguageModel.toGenerator(model, Identifier.make({ provider: "mine", model: "m1" }))
 * generator.capabilities?.maxChoices // 1
 * ```
 * @since 0.4.0
 */
export const toGenerator = (
  model: LanguageModel.LanguageModel,
  identifier: Identifier.Identifier
): Generator.Service => {
  const provider = identifier.provider
  const fromAi = (error: AiError.AiError) => Errors.fromAiError(error, provider)
  const prepared = (request: ChatRequest) => {
    const n = request.params.n ?? 1
    if (n > 1) {
      return Result.fail(
        new Unsupported({ provider, detail: `n=${n}: an effect/ai LanguageModel answers one choice per request` })
      )
    }
    return Result.map(Parts.promptOf(request.messages, provider), (prompt): CallOptions => ({
      prompt,
      disableToolCallResolution: true,
      ...(request.tools === undefined || request.tools.length === 0
        ? {}
        : { toolkit: toolkitOf(request.tools), toolChoice: request.toolChoice ?? "auto" })
    }))
  }
  const withTimeout = <A>(params: GenerateParams.GenerateParams) => (effect: Effect.Effect<A, GenerationError>) => {
    const seconds = params.timeout
    return seconds === undefined ? effect : Effect.timeoutOrElse(effect, {
      duration: Duration.seconds(seconds),
      orElse: () => Effect.fail(new Timeout({ provider, detail: "", timeoutMs: seconds * 1000 }))
    })
  }
  const generate = (request: ChatRequest) =>
    Effect.fromResult(prepared(request)).pipe(
      Effect.flatMap((call) =>
        Effect.mapError(
          request.structured === undefined
            ? generateText(model, call)
            : generateObject(model, {
              ...call,
              objectName: request.structured.name,
              schema: request.structured.codec
            }),
          fromAi
        )
      ),
      Effect.map((response) => Parts.generationOf(response.content, unsentParams(request.params))),
      withTimeout(request.params)
    )
  const stream = (request: ChatRequest): Stream.Stream<StreamPart, GenerationError> => {
    if (request.structured !== undefined) {
      return Stream.fromIterableEffect(Effect.map(generate(request), Parts.asStreamParts))
    }
    return Stream.unwrap(Effect.map(Effect.fromResult(prepared(request)), (call) =>
      streamText(model, call).pipe(
        Stream.mapError(fromAi),
        Stream.mapEffect((part) =>
          part.type === "error"
            ? Effect.fail(
              AiError.isAiError(part.error)
                ? fromAi(part.error)
                : Errors.fromAiError(new AiError.UnknownError({ description: String(part.error) }), provider)
            )
            : Effect.succeed(part)
        ),
        Stream.mapAccum(
          (): Array<Response.AnyPart> => [],
          (parts, part): readonly [Array<Response.AnyPart>, ReadonlyArray<StreamPart>] => {
            parts.push(part)
            return [parts, part.type === "text-delta" ? [{ _tag: "Delta", index: 0, text: part.delta }] : []]
          },
          {
            onHalt: (parts) => [{ _tag: "Done", generation: Parts.generationOf(parts, unsentParams(request.params)) }]
          }
        )
      )))
  }
  return { identifier, capabilities: { maxChoices: 1 }, generate, stream }
}

/**
 * A Capstan provider answered by an effect/ai `LanguageModel` layer (see {@link toGenerator}): register it with
 * `GeneratorRegistry.register` and build generators from identifiers naming it, which run through the engine
 * (`rpm`, `max_retries`, ...). `model` is one layer for every model name, or a function from the identifier's
 * model name to a layer (e.g. `(model) => OpenAiLanguageModel.layer({ model })`). The layer is built once per
 * generator, in the generator's scope; it must not fail (`Layer.orDie` one that may).
 *
 * @example
 * ```ts
 * import { Effect, Layer, Stream } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { AiLanguageModel, Generator, GeneratorRegistry } from "@capstan/core"
 *
 * const fake = Layer.effect(LanguageModel.LanguageModel, LanguageModel.make({
 *   generateText: () => Effect.succeed([{ type: "text", text: "Hi" }]),
 *   streamText: () => Stream.make({ type: "text-delta", id: "0", delta: "Hi" })
 * }))
 * const generator = Generator.layer("fake!any,max_retries=3").pipe(
 *   Layer.provide(GeneratorRegistry.register(AiLanguageModel.provider("fake", fake)))
 * )
 * ```
 * @since 0.4.0
 */
export const provider = (
  name: string,
  model: Layer.Layer<LanguageModel.LanguageModel> | ((model: string) => Layer.Layer<LanguageModel.LanguageModel>),
  options?: ProviderOptions
): GeneratorRegistry.Provider => ({
  name,
  description: options?.description ?? "an effect/ai LanguageModel",
  ...(options?.models === undefined ? {} : { models: options.models }),
  settings: {},
  env: [],
  make: (identifier) =>
    Effect.map(
      Layer.build(typeof model === "function" ? model(identifier.model) : model),
      (context) => toGenerator(Context.get(context, LanguageModel.LanguageModel), identifier)
    )
})

// --- Errors -------------------------------------------------------------------------------------------------------

/**
 * The Capstan error an effect/ai `AiError` (or one of its reasons) stands for, raised by the generator of
 * `provider`: a rate limit is `RateLimited` with its `retryAfter` as `retryAfterMs`, a server error `ServerError`
 * (`Overloaded` for 503/529), a network failure `ConnectionError`, and so on (the table is in the README, section
 * "effect/ai"). An `AiError` made by {@link toAiError} comes back as the Capstan error it was made from.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { AiError } from "effect/ai"
 * import { AiLanguageModel } from "@capstan/core"
 *
 * const error = AiError.make({
 *   module: "OpenAiLanguageModel",
 *   method: "generateText",
 *   reason: new AiError.RateLimitError({ retryAfter: Duration.seconds(2) })
 * })
 * const capstan = AiLanguageModel.fromAiError(error, "openai")
 * capstan._tag // "RateLimited"
 * ```
 * @since 0.4.0
 */
export const fromAiError: (error: AiError.AiError | AiError.AiErrorReason, provider: string) => GenerationError =
  Errors.fromAiError

/**
 * The effect/ai `AiError` a Capstan error stands for, as raised by `LanguageModel.<method>` (default
 * `generateText`): `RateLimited` becomes a `RateLimitError` with its `retryAfter`, `ServerError` and `Overloaded` an
 * `InternalProviderError` with the HTTP status, `Timeout` and `ConnectionError` a `NetworkError`, and so on. The
 * Capstan error travels in the reason's `metadata.capstan`, so {@link fromAiError} restores it.
 *
 * @example
 * ```ts
 * import { AiLanguageModel, RateLimited } from "@capstan/core"
 *
 * const error = AiLanguageModel.toAiError(new RateLimited({ provider: "openai", detail: "", retryAfterMs: 1500 }))
 * error.reason._tag // "RateLimitError"
 * error.isRetryable // true
 * ```
 * @since 0.4.0
 */
export const toAiError = (error: GenerationError, method: string = "generateText"): AiError.AiError =>
  Errors.toAiError(error, { method })
