/**
 * Anthropic generators over the official `@anthropic-ai/sdk`: the Messages API, system messages lifted to
 * `system`, a default `max_tokens`, and structured output through a forced tool call.
 *
 * Message parts become content blocks (`text`, `image`, `tool_use`, `tool_result`), consecutive turns of one role
 * merged; a conversation the API cannot take is an `InvalidRequest` before any request. `tool_use` blocks in an
 * answer (other than the structured-output tool) come back as the choice's `toolCalls`. The generator sends the
 * `anthropic` entry of `params.providerOptions`; `seed` and the presence/frequency penalties have no Anthropic
 * equivalent and are not sent, which the generation's `warnings` say.
 *
 * The SDK's own retries are off (`maxRetries: 0`): the engine owns retries and pacing. Every SDK failure becomes
 * a typed generation error, and every answer carries the `anthropic-ratelimit-*` headers of its response.
 *
 * `stream` sends the request with `stream: true`: `text_delta`s as they arrive, then the message the events add up
 * to (tool inputs from their `input_json_delta`s); an `error` event mid-stream (`overloaded_error`) is its typed error.
 *
 * @since 0.1.0
 */
import type AnthropicSdk from "@anthropic-ai/sdk"
import {
  ContentFiltered,
  GenerateParams,
  Generation,
  type GenerationError,
  type Generator,
  type GeneratorRegistry,
  type Identifier,
  type InvalidRequest,
  Secrets,
  Unsupported
} from "@capstan/core"
import { Effect, Redacted, Result, Schema, type Scope, Stream } from "effect"
import { toCodecAnthropic } from "effect/ai/AnthropicStructuredOutput"
import type * as HttpTransport from "./HttpTransport.js"
import * as AnthropicBatch from "./internal/anthropicBatch.js"
import { toAnthropicMessages, toolCallsOf } from "./internal/anthropicMessages.js"
import * as AnthropicStream from "./internal/anthropicStream.js"
import { statusError } from "./internal/batch.js"
import { connect, lazySdk, overTransport, sender } from "./internal/call.js"
import { classify } from "./internal/failure.js"
import { type Built, optionNamesOf, withProviderOptions } from "./internal/options.js"
import { apiKey, baseUrl, stringSetting } from "./internal/settings.js"
import { streamer } from "./internal/streamCall.js"
import * as Structured from "./internal/structured.js"
import * as Tools from "./internal/tools.js"
import { decoder, defined, nullish, tokenCount, trusted, usageOf } from "./internal/wire.js"

/**
 * How to reach the Anthropic API.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Anthropic } from "@capstan/providers"
 *
 * const options: Anthropic.ClientOptions = { apiKey: Redacted.make("sk-ant-..."), baseURL: Anthropic.defaultBaseUrl }
 * ```
 * @since 0.1.0
 */
export interface ClientOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** The API root, without `/v1` (the SDK appends `/v1/messages`). */
  readonly baseURL: string
  /**
   * `true` lets the SDK emit its own OpenTelemetry spans. Off by default: Capstan's engine already records each
   * request as a GenAI client span, and two spans of one call would count its tokens twice.
   */
  readonly sdkTracing?: boolean | undefined
  /**
   * The HTTP transport the SDK sends through. Default: the `HttpTransport` in context (`Providers.layer` provides
   * one), else one made for the generator's scope. Pass `globalThis.fetch` (or a fetch bound to your own undici
   * dispatcher) to choose; the caller then owns it.
   */
  readonly fetch?: HttpTransport.Fetch | undefined
}

/**
 * Anthropic's API root.
 *
 * @example
 * ```ts
 * import { Anthropic } from "@capstan/providers"
 *
 * Anthropic.defaultBaseUrl // "https://api.anthropic.com"
 * ```
 * @since 0.1.0
 */
export const defaultBaseUrl = "https://api.anthropic.com"

/**
 * `max_tokens` when the params set none: the Messages API requires one. Every current Claude model can produce
 * this many tokens, and it stays far below the size at which the SDK insists on streaming.
 *
 * @example
 * ```ts
 * import { Anthropic } from "@capstan/providers"
 *
 * Anthropic.defaultMaxTokens // 4096; set max_tokens=... in the identifier or the params for more
 * ```
 * @since 0.1.0
 */
export const defaultMaxTokens = 4096

const sdk = lazySdk(
  () => import("@anthropic-ai/sdk").then((module) => module.default),
  (Sdk: typeof AnthropicSdk) =>
    classify({
      SdkError: Sdk.AnthropicError,
      APIError: Sdk.APIError,
      APIConnectionTimeoutError: Sdk.APIConnectionTimeoutError,
      details: (error: InstanceType<typeof Sdk.APIError>) => ({
        message: error.apiMessage ?? error.message,
        code: error.errorCode ?? undefined,
        type: error.type ?? undefined
      })
    })
)

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** The Messages API body, with what was not sent as asked. */

/**
 * The Messages API body. The provider options go under what Capstan sets (a default `max_tokens` under them);
 * seed and the presence/frequency penalties have no Anthropic equivalent and are not sent (the API rejects unknown
 * fields), with a warning.
 */
const messagesBody = (
  model: string,
  request: Generation.ChatRequest,
  provider: { readonly name: string; readonly optionNames: ReadonlyArray<string> },
  structured: Structured.Wire | undefined
): Result.Result<Built<AnthropicSdk.MessageCreateParamsNonStreaming>, InvalidRequest> =>
  Tools.checked(
    provider.name,
    request,
    () =>
      Result.map(toAnthropicMessages(provider.name, request.messages), ({ messages, system }) => {
        const params = request.params
        const warnings = unsent(params)
        const body = withProviderOptions(
          params,
          provider.optionNames,
          {
            model,
            messages,
            ...(system === undefined ? {} : { system }),
            ...defined({
              max_tokens: params.maxTokens,
              temperature: params.temperature,
              top_p: params.topP,
              stop_sequences: params.stop === undefined ? undefined : [...params.stop]
            }),
            ...Tools.anthropicTools(
              request,
              structured === undefined
                ? undefined
                : { name: structured.name, description: request.structured?.description, schema: structured.jsonSchema }
            )
          },
          warnings,
          { max_tokens: defaultMaxTokens }
        ) as AnthropicSdk.MessageCreateParamsNonStreaming
        return { body, warnings }
      })
  )

/** The params the Messages API has no field for, each as the warning that it was not sent. */
const unsent = (params: GenerateParams.GenerateParams): Array<string> => {
  const warnings: Array<string> = []
  const note = (key: string, value: number | boolean | undefined) => {
    if (value !== undefined) warnings.push(`${key}=${value} was not sent: the Anthropic Messages API has no ${key}`)
  }
  note("seed", params.seed)
  note("presence_penalty", params.presencePenalty)
  note("frequency_penalty", params.frequencyPenalty)
  note("logprobs", params.logprobs === true ? true : undefined)
  note("top_logprobs", params.topLogprobs)
  return warnings
}

const structuredWire = Structured.make(toCodecAnthropic)

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const Count = nullish(Schema.Finite)

const MessageWire = Schema.Struct({
  content: Schema.Array(Schema.Struct({
    type: Schema.String,
    id: Schema.optional(Schema.String),
    text: Schema.optional(Schema.String),
    name: Schema.optional(Schema.String),
    input: Schema.optional(Schema.Unknown)
  })),
  stop_reason: nullish(Schema.String),
  id: nullish(Schema.String),
  model: nullish(Schema.String),
  usage: nullish(Schema.Struct({
    input_tokens: Count,
    output_tokens: Count,
    cache_creation_input_tokens: Count,
    cache_read_input_tokens: Count
  }))
})

const stopReasonOf = (reason: string | null | undefined, structured: boolean): Generation.StopReason => {
  if (reason === "model_context_window_exceeded") return "length"
  // The forced tool call IS the structured answer, not a request to run a tool.
  if (structured && reason === "tool_use") return "stop"
  return Generation.normalizeStopReason(reason)
}

/**
 * The answer's text: for structured output the forced tool's input, as the canonical JSON of the request's schema;
 * else the text blocks. Its other `tool_use` blocks are tool calls.
 */
const toGeneration = (
  provider: string,
  message: typeof MessageWire.Type,
  structured: Structured.Wire | undefined,
  rateLimit: Generation.RateLimitSnapshot | undefined,
  warnings: ReadonlyArray<string>
): Effect.Effect<Generation.Generation, GenerationError> => {
  const tool = structured === undefined
    ? undefined
    : message.content.find((block) => block.type === "tool_use" && block.name === structured.name)
  const text = tool === undefined || structured === undefined
    ? message.content.flatMap((block) => block.type === "text" && block.text !== undefined ? [block.text] : []).join("")
    : structured.answer(tool.input ?? {})
  const toolCalls = toolCallsOf(message.content, structured?.name)
  if (text.length === 0 && toolCalls === undefined && message.stop_reason === "refusal") {
    return Effect.fail(new ContentFiltered({ provider, detail: "stop_reason: refusal" }))
  }
  const usage = message.usage
  return Effect.succeed(
    new Generation.Generation({
      choices: [
        new Generation.Choice({
          text,
          // An answer that also calls tools of the request goes on with them.
          stopReason: stopReasonOf(message.stop_reason, tool !== undefined && toolCalls === undefined),
          ...(toolCalls === undefined ? {} : { toolCalls })
        }, trusted)
      ],
      // Cache writes and reads are prompt tokens too: Anthropic's input_tokens counts only the rest.
      usage: usageOf(
        tokenCount(usage?.input_tokens) + tokenCount(usage?.cache_creation_input_tokens) +
          tokenCount(usage?.cache_read_input_tokens),
        tokenCount(usage?.output_tokens),
        tokenCount(usage?.cache_read_input_tokens)
      ),
      ...(rateLimit === undefined ? {} : { rateLimit }),
      ...(warnings.length === 0 ? {} : { warnings }),
      ...(typeof message.id === "string" ? { responseId: message.id } : {}),
      ...(typeof message.model === "string" ? { responseModel: message.model } : {})
    }, trusted)
  )
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const generatorOver = (
  identifier: Identifier.Identifier,
  options: ClientOptions,
  fetch: HttpTransport.Fetch
): Generator.Service => {
  const provider = identifier.provider
  const connection = {
    provider,
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    client: (Sdk: typeof AnthropicSdk) =>
      new Sdk({
        apiKey: Redacted.value(options.apiKey),
        // null, not undefined: the SDK would look for ANTHROPIC_AUTH_TOKEN behind Config's back.
        authToken: null,
        baseURL: options.baseURL,
        maxRetries: 0,
        fetch,
        ...(options.sdkTracing === true ? {} : { openTelemetry: false })
      })
  }
  const connected = connect(sdk, connection)
  const send = sender(connected)
  const streamed = streamer(connected)
  const decode = decoder(provider, MessageWire)
  // A provider registered under another name over this API reads the `anthropic` options, then its own.
  const optionNames = optionNamesOf("anthropic", provider)
  // Built before sending: a conversation the API cannot take fails here, without a request.
  const messagesRequest = (request: Generation.ChatRequest): Effect.Effect<
    {
      readonly body: AnthropicSdk.MessageCreateParamsNonStreaming
      readonly toGeneration: (
        answer: { readonly wire: typeof MessageWire.Type; readonly rateLimit: Generation.RateLimitSnapshot | undefined }
      ) => Effect.Effect<Generation.Generation, GenerationError>
    },
    GenerationError
  > => {
    const n = request.params.n ?? 1
    if (n > 1) {
      return Effect.fail(
        new Unsupported({ provider, detail: `n=${n}: the Messages API answers one choice per request; use runMany` })
      )
    }
    const structured = request.structured === undefined ? undefined : structuredWire(request.structured)
    const built = messagesBody(identifier.model, request, { name: provider, optionNames }, structured)
    if (Result.isFailure(built)) return Effect.fail(built.failure)
    const { body, warnings } = built.success
    return Effect.succeed({
      body,
      toGeneration: (
        { rateLimit, wire }: {
          readonly wire: typeof MessageWire.Type
          readonly rateLimit: Generation.RateLimitSnapshot | undefined
        }
      ) => toGeneration(provider, wire, structured, rateLimit, warnings)
    })
  }
  return {
    identifier,
    endpoint: Secrets.withoutCredentials(options.baseURL),
    // The batch engine sends one request per choice instead of asking for n.
    capabilities: { maxChoices: 1 },
    generate: (request) =>
      Effect.flatMap(messagesRequest(request), ({ body, toGeneration }) =>
        send(
          request.params,
          (client, perRequest) => client.messages.create(body, perRequest).withResponse(),
          decode
        ).pipe(Effect.flatMap(toGeneration))),
    stream: (request) =>
      Stream.unwrap(Effect.map(messagesRequest(request), ({ body, toGeneration }) =>
        streamed(
          request.params,
          (client, perRequest) => client.messages.create({ ...body, stream: true }, perRequest).withResponse(),
          () => AnthropicStream.accumulator(provider),
          ({ rateLimit, wire }) => Effect.flatMap(decode(wire), (message) => toGeneration({ wire: message, rateLimit }))
        ))),
    batch: AnthropicBatch.make({
      provider,
      send: (request, decodeWith) => send(GenerateParams.empty, request, decodeWith),
      encode: (request) =>
        Effect.map(messagesRequest(request), ({ body, toGeneration }) => ({
          params: body,
          toGeneration: (message: unknown) =>
            Effect.flatMap(decode(message), (wire) => toGeneration({ wire, rateLimit: undefined }))
        })),
      statusError: statusError({ provider, apiKey: options.apiKey, baseURL: options.baseURL })
    })
  }
}

/**
 * A generator for `identifier` over the `@anthropic-ai/sdk`. `complete` fails with `Unsupported` (the Messages
 * API has no plain-text completion), and so does a request for `n > 1`: the generator declares `maxChoices: 1`,
 * so batches send one request per choice (and pipelines sample with `runMany`). It sends through `options.fetch`,
 * else the `HttpTransport` in context, else a transport it makes for the current scope (closed with it).
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { GenerateParams, Identifier, Message } from "@capstan/core"
 * import { Anthropic } from "@capstan/providers"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Anthropic.makeGenerator(
 *     Identifier.make({ provider: "anthropic", model: "claude-3-5-haiku-latest" }),
 *     { apiKey: Redacted.make("sk-ant-..."), baseURL: Anthropic.defaultBaseUrl }
 *   )
 *   return yield* generator.generate({ messages: [Message.user("Hello")], params: GenerateParams.make({}) })
 * }))
 * ```
 * @since 0.1.0
 */
export const makeGenerator: (
  identifier: Identifier.Identifier,
  options: ClientOptions
) => Effect.Effect<Generator.Service, never, Scope.Scope> = overTransport(generatorOver)

/**
 * The `anthropic` provider: `anthropic!claude-3-5-haiku-latest`, or just `claude-...` (inferred). Settings:
 * `api_key`, `base_url`. The key comes from `api_key=` or `ANTHROPIC_API_KEY`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 * import { Anthropic } from "@capstan/providers"
 *
 * const chat = Generator.chat([{ role: "system", content: "Be brief." }, "Hello"]).pipe(
 *   Effect.provide(Generator.layer("claude-3-5-haiku-latest,max_tokens=200")),
 *   Effect.provide(GeneratorRegistry.register(Anthropic.provider))
 * )
 * ```
 * @since 0.1.0
 */
export const provider: GeneratorRegistry.Provider = {
  name: "anthropic",
  description: "Anthropic Messages API (Claude)",
  models: /^claude-/,
  settings: {
    api_key: { kind: "secret", description: "the API key (default: ANTHROPIC_API_KEY)" },
    base_url: { kind: "string", description: `the API root (default: ANTHROPIC_BASE_URL, else ${defaultBaseUrl})` },
    sdk_tracing: { kind: "bool", description: "let the SDK emit its own OpenTelemetry spans too (default: false)" }
  },
  env: [
    { name: "ANTHROPIC_API_KEY", description: "API key of the anthropic provider" },
    { name: "ANTHROPIC_BASE_URL", description: "API root of the anthropic provider (optional)" }
  ],
  make: (identifier) =>
    Effect.gen(function*() {
      const key = yield* apiKey(identifier, { provider: "anthropic", variable: "ANTHROPIC_API_KEY" })
      const base = yield* stringSetting(identifier, "base_url", "ANTHROPIC_BASE_URL")
      return yield* makeGenerator(identifier, {
        apiKey: key,
        baseURL: base === undefined ? defaultBaseUrl : yield* baseUrl(identifier, base),
        sdkTracing: identifier.setting("sdk_tracing") === true
      })
    })
}
