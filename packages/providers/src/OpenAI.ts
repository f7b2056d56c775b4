/**
 * OpenAI generators over the official `openai` SDK: chat and legacy completions (several prompts in one request
 * too: `completeMany`), native structured output (`response_format: json_schema`), and any OpenAI-compatible server
 * by `base_url`. Usage includes the prompt tokens read from OpenAI's prompt cache (`cachedInputTokens`).
 *
 * Messages are sent in the chat wire format, parts included (text, `image_url`, assistant `tool_calls`, `tool`
 * messages); a conversation the server cannot take is an `InvalidRequest` before any request. Tool calls in an
 * answer come back as the choice's `toolCalls`. A generator sends the `openai` entry of `params.providerOptions`,
 * then, for a compatible provider under another name (`ollama`, `vllm`, your own), that name's entry over it: they
 * speak the same wire format, and the name targets one server.
 *
 * The SDK's own retries are off (`maxRetries: 0`): the engine owns retries and pacing. Every SDK failure becomes
 * a typed generation error, and every answer carries the rate-limit headers of its response.
 *
 * `stream` sends the chat request with `stream: true` and `stream_options.include_usage`: text deltas per choice,
 * then the generation the chunks add up to (tool calls and structured output assembled, usage from the last chunk;
 * log probabilities are not read from chunks).
 *
 * @since 0.1.0
 */
import {
  ContentFiltered,
  GenerateParams,
  Generation,
  type GenerationError,
  type Generator,
  type GeneratorRegistry,
  type Identifier,
  type InvalidRequest,
  MalformedResponse,
  type Message,
  Secrets
} from "@capstan/core"
import { Effect, Redacted, Result, Schema, type Scope, Stream } from "effect"
import { toCodecOpenAI } from "effect/ai/OpenAiStructuredOutput"
import type OpenAISdk from "openai"
import type * as HttpTransport from "./HttpTransport.js"
import { statusError } from "./internal/batch.js"
import { connect, lazySdk, overTransport, sender } from "./internal/call.js"
import { classify } from "./internal/failure.js"
import * as Logprobs from "./internal/logprobs.js"
import * as OpenAIBatch from "./internal/openaiBatch.js"
import { toolCallsOf, ToolCallsWire, toOpenAiMessages } from "./internal/openaiMessages.js"
import * as OpenAIStream from "./internal/openaiStream.js"
import { type Built, optionNamesOf, withProviderOptions } from "./internal/options.js"
import { apiKey, baseUrl, stringSetting } from "./internal/settings.js"
import { streamer } from "./internal/streamCall.js"
import * as Structured from "./internal/structured.js"
import * as Tools from "./internal/tools.js"
import { decoder, defined, nullish, tokenCount, trusted, usageOf } from "./internal/wire.js"

/**
 * How to reach an OpenAI-compatible server.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAI } from "@capstan/providers"
 *
 * const options: OpenAI.ClientOptions = {
 *   apiKey: Redacted.make("sk-..."),
 *   baseURL: OpenAI.defaultBaseUrl,
 *   organization: "org-..."
 * }
 * ```
 * @since 0.1.0
 */
export interface ClientOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** The API root, including `/v1`. */
  readonly baseURL: string
  readonly organization?: string | undefined
  readonly project?: string | undefined
  /**
   * The body field `maxTokens` is sent as in chat requests. OpenAI's own API wants `max_completion_tokens`
   * (reasoning models reject `max_tokens`); compatible servers generally read `max_tokens`. Default
   * `max_completion_tokens`.
   */
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
  /**
   * The HTTP transport the SDK sends through. Default: the `HttpTransport` in context (`Providers.layer` provides
   * one), else one made for the generator's scope. Pass `globalThis.fetch` (or a fetch bound to your own undici
   * dispatcher) to choose; the caller then owns it.
   */
  readonly fetch?: HttpTransport.Fetch | undefined
  /**
   * Whether the server reads images by URL. Default true; false for servers that read only image bytes (Ollama),
   * where an image by URL is refused before the request.
   */
  readonly imageUrls?: boolean | undefined
  /**
   * How many choices (`n`) one request can get. Unset: as many as asked; 1 for servers that ignore `n` (Ollama), so
   * the batch engine sends one request per choice.
   */
  readonly maxChoices?: number | undefined
  /**
   * How many prompts one legacy completions request can carry (`prompt` as a list, for a batch's
   * `promptsPerRequest`). Unset: as many as asked; 1 for servers that take one prompt (Ollama), so each is sent alone.
   */
  readonly maxPromptsPerRequest?: number | undefined
}

/**
 * OpenAI's API root.
 *
 * @example
 * ```ts
 * import { OpenAI } from "@capstan/providers"
 *
 * OpenAI.defaultBaseUrl // "https://api.openai.com/v1"
 * ```
 * @since 0.1.0
 */
export const defaultBaseUrl = "https://api.openai.com/v1"

const sdk = lazySdk(() => import("openai").then((module) => module.default), (Sdk: typeof OpenAISdk) =>
  classify({
    SdkError: Sdk.OpenAIError,
    APIError: Sdk.APIError,
    APIConnectionTimeoutError: Sdk.APIConnectionTimeoutError,
    details: (error: InstanceType<typeof Sdk.APIError>) => ({
      message: messageIn(error.error) ?? error.message,
      code: error.code ?? undefined,
      type: error.type
    })
  }))

const messageIn = (body: unknown): string | undefined =>
  typeof body === "object" && body !== null && "message" in body && typeof body.message === "string"
    ? body.message
    : undefined

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

const sampling = (params: GenerateParams.GenerateParams, maxTokensField: string) =>
  defined({
    temperature: params.temperature,
    top_p: params.topP,
    [maxTokensField]: params.maxTokens,
    stop: params.stop === undefined ? undefined : [...params.stop],
    seed: params.seed,
    presence_penalty: params.presencePenalty,
    frequency_penalty: params.frequencyPenalty,
    n: params.n
  })

const structuredWire = Structured.make(toCodecOpenAI)

/**
 * The schema as OpenAI's strict mode takes it (optional properties required and nullable, no keywords it refuses;
 * a list, scalar or union as `{ value: ... }`), whenever effect's adapter can rewrite it. One it cannot (a record,
 * which would become an array of entries) is sent with `strict: false` and the plain JSON Schema: the API then
 * follows it as guidance, and core's parse checks the answer.
 */
const responseFormat = (
  wire: Structured.Wire,
  description: string | undefined
): OpenAISdk.ResponseFormatJSONSchema => {
  return {
    type: "json_schema",
    json_schema: {
      name: wire.name,
      ...(description === undefined ? {} : { description }),
      schema: wire.jsonSchema,
      strict: wire.adapted
    }
  }
}

/** How one server reads a request: the body field of `maxTokens`, images by URL or not, whose provider options. */
interface Dialect {
  readonly provider: string
  readonly maxTokensField: string
  readonly imageUrls: boolean
  readonly optionNames: ReadonlyArray<string>
}

const chatBody = (
  model: string,
  request: Generation.ChatRequest,
  dialect: Dialect,
  structured: Structured.Wire | undefined
): Result.Result<Built<OpenAISdk.ChatCompletionCreateParamsNonStreaming>, InvalidRequest> =>
  Tools.checked(
    dialect.provider,
    request,
    () =>
      Result.map(toOpenAiMessages(request.messages, dialect), ({ messages, warnings }) => {
        const notes = [...warnings]
        const body = withProviderOptions(request.params, dialect.optionNames, {
          model,
          messages,
          ...sampling(request.params, dialect.maxTokensField),
          ...Logprobs.chatRequest(request.params),
          ...(structured === undefined
            ? {}
            : { response_format: responseFormat(structured, request.structured?.description) }),
          ...Tools.openAiTools(request)
        }, notes)
        return { body, warnings: notes }
      })
  )

/** A legacy completions body: one prompt, or (a packed request) a list of them, answered prompt after prompt. */
const completionBody = (
  model: string,
  request: { readonly prompt: string | ReadonlyArray<string>; readonly params: GenerateParams.GenerateParams },
  dialect: Dialect
): Built<OpenAISdk.CompletionCreateParamsNonStreaming> => {
  const warnings: Array<string> = []
  const body = withProviderOptions(request.params, dialect.optionNames, {
    model,
    prompt: typeof request.prompt === "string" ? request.prompt : [...request.prompt],
    ...sampling(request.params, "max_tokens"),
    ...Logprobs.completionRequest(request.params)
  }, warnings)
  return { body, warnings }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const Count = nullish(Schema.Finite)
const Text = nullish(Schema.String)
const UsageWire = nullish(Schema.Struct({
  prompt_tokens: Count,
  completion_tokens: Count,
  prompt_tokens_details: nullish(Schema.Struct({ cached_tokens: Count }))
}))

// Only what Capstan reads; compatible servers differ in everything else.
const ChatCompletionWire = Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    index: Count,
    message: nullish(Schema.Struct({ content: Text, refusal: Text, tool_calls: ToolCallsWire })),
    finish_reason: Text,
    logprobs: Logprobs.ChatWire
  })),
  usage: UsageWire,
  id: Text,
  model: Text
})

const CompletionWire = Schema.Struct({
  choices: Schema.Array(
    Schema.Struct({ index: Count, text: Text, finish_reason: Text, logprobs: Logprobs.CompletionWire })
  ),
  usage: UsageWire,
  id: Text,
  model: Text
})

type WireUsage = (typeof ChatCompletionWire.Type)["usage"]

/** One choice, as both endpoints report it. */
interface WireChoice {
  readonly index: number
  readonly text: string
  readonly refusal: string | undefined
  readonly finishReason: string | undefined
  readonly toolCalls: ReadonlyArray<Message.ToolCallPart> | undefined
  readonly logprobs: ReadonlyArray<Generation.TokenLogprob> | undefined
}

/** The choices of a chat answer; structured answers become the canonical JSON of the request's schema. */
const chatChoices =
  (structured: Structured.Wire | undefined) =>
  (wire: typeof ChatCompletionWire.Type, warnings: Array<string>): ReadonlyArray<WireChoice> =>
    wire.choices.map((c, i) => ({
      index: c.index ?? i,
      text: structured === undefined
        ? c.message?.content ?? ""
        : Structured.answerText(structured, c.message?.content ?? ""),
      refusal: c.message?.refusal ?? undefined,
      finishReason: c.finish_reason ?? undefined,
      toolCalls: toolCallsOf(c.message?.tool_calls, warnings),
      logprobs: Logprobs.fromChat(c.logprobs)
    }))

const completionChoices = (wire: typeof CompletionWire.Type): ReadonlyArray<WireChoice> =>
  wire.choices.map((c, i) => ({
    index: c.index ?? i,
    text: c.text ?? "",
    refusal: undefined,
    finishReason: c.finish_reason ?? undefined,
    toolCalls: undefined,
    logprobs: Logprobs.fromCompletion(c.logprobs)
  }))

/**
 * The generation of an answer's choices, in index order, with the warnings of its request and answer. When every
 * choice came back empty because a filter or a refusal stopped it, the call failed: `ContentFiltered`.
 */
const toGeneration = <
  W extends {
    readonly usage?: WireUsage
    readonly id?: string | null | undefined
    readonly model?: string | null | undefined
  }
>(
  provider: string,
  choicesOf: (wire: W, warnings: Array<string>) => ReadonlyArray<WireChoice>
) =>
(
  { rateLimit, wire }: { readonly wire: W; readonly rateLimit: Generation.RateLimitSnapshot | undefined },
  asked: { readonly n: number; readonly warnings: ReadonlyArray<string> }
): Effect.Effect<Generation.Generation, GenerationError> => {
  const warnings = [...asked.warnings]
  const choices = choicesOf(wire, warnings)
  const usage = wire.usage
  if (choices.length === 0) {
    return Effect.fail(new MalformedResponse({ provider, detail: "the response has no choices" }))
  }
  const filtered = (c: WireChoice) =>
    c.text.length === 0 && c.toolCalls === undefined && (c.finishReason === "content_filter" || c.refusal !== undefined)
  if (choices.every(filtered)) {
    const refusal = choices.find((c) => c.refusal !== undefined)?.refusal
    return Effect.fail(new ContentFiltered({ provider, detail: refusal ?? "finish_reason: content_filter" }))
  }
  // Servers that ignore `n` (Ollama) answer one choice: say so rather than let a caller count on `n`.
  if (choices.length < asked.n) {
    warnings.push(`n=${asked.n} was not honoured: the server answered ${choices.length} choice(s)`)
  }
  return Effect.succeed(
    new Generation.Generation({
      choices: [...choices].sort((a, b) => a.index - b.index).map((c) =>
        new Generation.Choice({
          text: c.text,
          stopReason: filtered(c) ? "content_filter" : Generation.normalizeStopReason(c.finishReason),
          ...(c.toolCalls === undefined ? {} : { toolCalls: c.toolCalls }),
          ...(c.logprobs === undefined ? {} : { logprobs: c.logprobs })
        }, trusted)
      ),
      usage: usageOf(
        tokenCount(usage?.prompt_tokens),
        tokenCount(usage?.completion_tokens),
        tokenCount(usage?.prompt_tokens_details?.cached_tokens)
      ),
      ...(rateLimit === undefined ? {} : { rateLimit }),
      ...(warnings.length === 0 ? {} : { warnings }),
      ...(typeof wire.id === "string" ? { responseId: wire.id } : {}),
      ...(typeof wire.model === "string" ? { responseModel: wire.model } : {})
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
  const dialect: Dialect = {
    provider,
    maxTokensField: options.maxTokensField ?? "max_completion_tokens",
    imageUrls: options.imageUrls ?? true,
    optionNames: optionNamesOf("openai", provider)
  }
  const connection = {
    provider,
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    client: (Sdk: typeof OpenAISdk) =>
      new Sdk({
        apiKey: Redacted.value(options.apiKey),
        baseURL: options.baseURL,
        // null, not undefined: the SDK would read OPENAI_ORG_ID / OPENAI_PROJECT_ID behind Config's back.
        organization: options.organization ?? null,
        project: options.project ?? null,
        maxRetries: 0,
        fetch
      })
  }
  const connected = connect(sdk, connection)
  const send = sender(connected)
  const streamed = streamer(connected)
  const decodeChat = decoder(provider, ChatCompletionWire)
  const decodeCompletion = decoder(provider, CompletionWire)
  const chatGeneration = toGeneration(provider, chatChoices(undefined))
  const completionGeneration = toGeneration(provider, completionChoices)
  // `prompts`: a packed request asks for `n` choices for each of its prompts.
  const asked = (params: GenerateParams.GenerateParams, warnings: ReadonlyArray<string>, prompts = 1) => ({
    n: (params.n ?? 1) * prompts,
    warnings
  })
  // Built before sending: a conversation the server cannot take fails here, without a request.
  const chatRequest = (request: Generation.ChatRequest) => {
    const structured = request.structured === undefined ? undefined : structuredWire(request.structured)
    const built = chatBody(identifier.model, request, dialect, structured)
    if (Result.isFailure(built)) return Effect.fail(built.failure)
    const { body, warnings } = built.success
    const generation = structured === undefined ? chatGeneration : toGeneration(provider, chatChoices(structured))
    return Effect.succeed({
      body,
      toGeneration: (
        answer: {
          readonly wire: typeof ChatCompletionWire.Type
          readonly rateLimit: Generation.RateLimitSnapshot | undefined
        }
      ) => generation(answer, asked(request.params, warnings))
    })
  }
  const completionRequest = (
    request: { readonly prompt: string | ReadonlyArray<string>; readonly params: GenerateParams.GenerateParams },
    prompts = 1
  ) => {
    const { body, warnings } = completionBody(identifier.model, request, dialect)
    return {
      body,
      toGeneration: (
        answer: {
          readonly wire: typeof CompletionWire.Type
          readonly rateLimit: Generation.RateLimitSnapshot | undefined
        }
      ) => completionGeneration(answer, asked(request.params, warnings, prompts))
    }
  }
  const complete = (
    request: { readonly prompt: string | ReadonlyArray<string>; readonly params: GenerateParams.GenerateParams },
    prompts: number
  ) => {
    const { body, toGeneration } = completionRequest(request, prompts)
    return send(
      request.params,
      (client, perRequest) => client.completions.create(body, perRequest).withResponse(),
      decodeCompletion
    ).pipe(Effect.flatMap(toGeneration))
  }
  const capabilities = defined({ maxChoices: options.maxChoices, maxPromptsPerRequest: options.maxPromptsPerRequest })
  return {
    identifier,
    endpoint: Secrets.withoutCredentials(options.baseURL),
    ...(Object.keys(capabilities).length === 0 ? {} : { capabilities }),
    generate: (request) =>
      Effect.flatMap(chatRequest(request), ({ body, toGeneration }) =>
        send(
          request.params,
          (client, perRequest) => client.chat.completions.create(body, perRequest).withResponse(),
          decodeChat
        ).pipe(Effect.flatMap(toGeneration))),
    // The last chunk carries the usage (`include_usage`), which the engine's limiter settles with.
    stream: (request) =>
      Stream.unwrap(Effect.map(chatRequest(request), ({ body, toGeneration }) =>
        streamed(
          request.params,
          (client, perRequest) =>
            client.chat.completions.create(
              { ...body, stream: true, stream_options: { include_usage: true } },
              perRequest
            ).withResponse(),
          () => OpenAIStream.accumulator(provider),
          ({ rateLimit, wire }) => Effect.flatMap(decodeChat(wire), (chat) => toGeneration({ wire: chat, rateLimit }))
        ))),
    complete: (request) => complete(request, 1),
    // The legacy endpoint takes `prompt` as a list: choices come back by `index` = prompt × n + choice, sorted here.
    completeMany: (request) => complete({ prompt: request.prompts, params: request.params }, request.prompts.length),
    batch: OpenAIBatch.make({
      provider,
      send: (request, decode) => send(GenerateParams.empty, request, decode),
      encode: (entry) =>
        entry.kind === "chat"
          ? Effect.map(chatRequest(entry.request), ({ body, toGeneration }) => ({
            body,
            toGeneration: (data: unknown) =>
              Effect.flatMap(decodeChat(data), (wire) => toGeneration({ wire, rateLimit: undefined }))
          }))
          : Effect.sync(() => {
            const { body, toGeneration } = completionRequest(entry.request)
            return {
              body,
              toGeneration: (data: unknown) =>
                Effect.flatMap(decodeCompletion(data), (wire) => toGeneration({ wire, rateLimit: undefined }))
            }
          }),
      statusError: statusError({ provider, apiKey: options.apiKey, baseURL: options.baseURL })
    })
  }
}

/**
 * A generator for `identifier` over the `openai` SDK, talking to the server `options` names. Used by the
 * `openai`, `ollama` and `vllm` providers; use it to register another OpenAI-compatible provider. It sends
 * through `options.fetch`, else the `HttpTransport` in context, else a transport it makes for the current scope
 * (closed with it: a provider's `make` runs in its generator's Layer).
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { GeneratorRegistry, Identifier } from "@capstan/core"
 * import { OpenAI } from "@capstan/providers"
 *
 * const together: GeneratorRegistry.Provider = {
 *   name: "together",
 *   description: "Together AI",
 *   settings: {},
 *   env: [],
 *   make: (identifier: Identifier.Identifier) =>
 *     OpenAI.makeGenerator(identifier, {
 *       apiKey: Redacted.make("..."),
 *       baseURL: "https://api.together.xyz/v1",
 *       maxTokensField: "max_tokens"
 *     })
 * }
 * ```
 * @since 0.1.0
 */
export const makeGenerator: (
  identifier: Identifier.Identifier,
  options: ClientOptions
) => Effect.Effect<Generator.Service, never, Scope.Scope> = overTransport(generatorOver)

const secretSetting = { kind: "secret", description: "the API key (default: the environment variable)" } as const

/**
 * The `openai` provider: `openai!gpt-4o-mini`, or just `gpt-4o-mini` (models `gpt-*`, `o1*`, `o3*`, `o4*` and
 * `chatgpt-*` are inferred). Settings: `api_key`, `base_url` (any OpenAI-compatible server), `organization`,
 * `project`. The key comes from `api_key=` or `OPENAI_API_KEY`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 * import { OpenAI } from "@capstan/providers"
 *
 * const chat = Generator.chat("Hello").pipe(
 *   Effect.provide(Generator.layer("openai!gpt-4o-mini,temperature=0")),
 *   Effect.provide(GeneratorRegistry.register(OpenAI.provider))
 * )
 * ```
 * @since 0.1.0
 */
export const provider: GeneratorRegistry.Provider = {
  name: "openai",
  description: "OpenAI chat and completions (or any OpenAI-compatible server with base_url=...)",
  models: /^(?:gpt-|chatgpt-|o[134])/,
  settings: {
    api_key: secretSetting,
    base_url: { kind: "string", description: `the API root (default: OPENAI_BASE_URL, else ${defaultBaseUrl})` },
    organization: { kind: "string", description: "the OpenAI organization (default: OPENAI_ORG_ID)" },
    project: { kind: "string", description: "the OpenAI project (default: OPENAI_PROJECT_ID)" }
  },
  env: [
    { name: "OPENAI_API_KEY", description: "API key of the openai provider" },
    { name: "OPENAI_BASE_URL", description: "API root of the openai provider (optional)" },
    { name: "OPENAI_ORG_ID", description: "OpenAI organization (optional)" },
    { name: "OPENAI_PROJECT_ID", description: "OpenAI project (optional)" }
  ],
  make: (identifier) =>
    Effect.gen(function*() {
      const key = yield* apiKey(identifier, { provider: "openai", variable: "OPENAI_API_KEY" })
      const base = yield* stringSetting(identifier, "base_url", "OPENAI_BASE_URL")
      return yield* makeGenerator(identifier, {
        apiKey: key,
        baseURL: base === undefined ? defaultBaseUrl : yield* baseUrl(identifier, base, { apiPath: "/v1" }),
        organization: yield* stringSetting(identifier, "organization", "OPENAI_ORG_ID"),
        project: yield* stringSetting(identifier, "project", "OPENAI_PROJECT_ID")
      })
    })
}
