/**
 * OpenAI generators over the official `openai` SDK: chat and legacy completions, native structured output
 * (`response_format: json_schema`), and any OpenAI-compatible server by `base_url`.
 *
 * The SDK's own retries are off (`maxRetries: 0`): the engine owns retries and pacing. Every SDK failure becomes
 * a typed generation error, and every answer carries the rate-limit headers of its response.
 *
 * @since 0.1.0
 */
import {
  ContentFiltered,
  type GenerateParams,
  Generation,
  type GenerationError,
  type Generator,
  type GeneratorRegistry,
  type Identifier,
  MalformedResponse,
  Secrets,
  Usage
} from "@capstan/core"
import { Effect, Redacted, Schema, type Scope } from "effect"
import type OpenAISdk from "openai"
import * as HttpTransport from "./HttpTransport.js"
import { lazySdk, sender } from "./internal/call.js"
import { classify } from "./internal/failure.js"
import { closeObjects, isStrictCompatible, rootObject, safeName } from "./internal/jsonSchema.js"
import { apiKey, baseUrl, stringSetting } from "./internal/settings.js"
import { decoder, defined, nullish, tokenCount, trusted } from "./internal/wire.js"

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

const responseFormat = (structured: Generation.StructuredOutput): OpenAISdk.ResponseFormatJSONSchema => {
  const schema = closeObjects(rootObject(structured.schema))
  return {
    type: "json_schema",
    json_schema: {
      name: safeName(structured.name),
      ...(structured.description === undefined ? {} : { description: structured.description }),
      schema,
      strict: isStrictCompatible(schema)
    }
  }
}

// `extra` goes first: provider-specific fields pass through, the typed params win on a clash.
const chatBody = (
  model: string,
  request: Generation.ChatRequest,
  maxTokensField: string
): OpenAISdk.ChatCompletionCreateParamsNonStreaming => ({
  ...request.params.extra,
  model,
  messages: request.messages.map((message) => ({ role: message.role, content: message.text }) as OpenAISdk.ChatCompletionMessageParam),
  ...sampling(request.params, maxTokensField),
  ...(request.structured === undefined ? {} : { response_format: responseFormat(request.structured) })
})

const completionBody = (
  model: string,
  request: Generation.CompletionRequest
): OpenAISdk.CompletionCreateParamsNonStreaming => ({
  ...request.params.extra,
  model,
  prompt: request.prompt,
  ...sampling(request.params, "max_tokens")
})

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const Count = nullish(Schema.Finite)
const Text = nullish(Schema.String)
const UsageWire = nullish(Schema.Struct({ prompt_tokens: Count, completion_tokens: Count }))

// Only what Capstan reads; compatible servers differ in everything else.
const ChatCompletionWire = Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    index: Count,
    message: nullish(Schema.Struct({ content: Text, refusal: Text })),
    finish_reason: Text
  })),
  usage: UsageWire
})

const CompletionWire = Schema.Struct({
  choices: Schema.Array(Schema.Struct({ index: Count, text: Text, finish_reason: Text })),
  usage: UsageWire
})

type WireUsage = (typeof ChatCompletionWire.Type)["usage"]

/** One choice, as both endpoints report it. */
interface WireChoice {
  readonly index: number
  readonly text: string
  readonly refusal: string | undefined
  readonly finishReason: string | undefined
}

const chatChoices = (wire: typeof ChatCompletionWire.Type): ReadonlyArray<WireChoice> =>
  wire.choices.map((c, i) => ({
    index: c.index ?? i,
    text: c.message?.content ?? "",
    refusal: c.message?.refusal ?? undefined,
    finishReason: c.finish_reason ?? undefined
  }))

const completionChoices = (wire: typeof CompletionWire.Type): ReadonlyArray<WireChoice> =>
  wire.choices.map((c, i) => ({ index: c.index ?? i, text: c.text ?? "", refusal: undefined, finishReason: c.finish_reason ?? undefined }))

/**
 * The generation of an answer's choices, in index order. When every choice came back empty because a filter or a
 * refusal stopped it, the call failed: `ContentFiltered`.
 */
const toGeneration = <W extends { readonly usage?: WireUsage }>(
  provider: string,
  choicesOf: (wire: W) => ReadonlyArray<WireChoice>
) =>
({ rateLimit, wire }: {
  readonly wire: W
  readonly rateLimit: Generation.RateLimitSnapshot | undefined
}): Effect.Effect<Generation.Generation, GenerationError> => {
  const choices = choicesOf(wire)
  const usage = wire.usage
  if (choices.length === 0) return Effect.fail(new MalformedResponse({ provider, detail: "the response has no choices" }))
  const filtered = (c: WireChoice) => c.text.length === 0 && (c.finishReason === "content_filter" || c.refusal !== undefined)
  if (choices.every(filtered)) {
    const refusal = choices.find((c) => c.refusal !== undefined)?.refusal
    return Effect.fail(new ContentFiltered({ provider, detail: refusal ?? "finish_reason: content_filter" }))
  }
  return Effect.succeed(
    new Generation.Generation({
      choices: [...choices].sort((a, b) => a.index - b.index).map((c) =>
        new Generation.Choice({
          text: c.text,
          stopReason: filtered(c) ? "content_filter" : Generation.normalizeStopReason(c.finishReason)
        }, trusted)
      ),
      usage: new Usage.Usage({
        inputTokens: tokenCount(usage?.prompt_tokens),
        outputTokens: tokenCount(usage?.completion_tokens)
      }, trusted),
      ...(rateLimit === undefined ? {} : { rateLimit })
    }, trusted)
  )
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

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
export const makeGenerator = (
  identifier: Identifier.Identifier,
  options: ClientOptions
): Effect.Effect<Generator.Service, never, Scope.Scope> =>
  Effect.map(HttpTransport.current(options.fetch), (fetch) => generatorOver(identifier, options, fetch))

const generatorOver = (identifier: Identifier.Identifier, options: ClientOptions, fetch: HttpTransport.Fetch): Generator.Service => {
  const provider = identifier.provider
  const maxTokensField = options.maxTokensField ?? "max_completion_tokens"
  const send = sender(sdk, {
    provider,
    // The SDKs' messages may quote the URL they called.
    secrets: [Redacted.value(options.apiKey), ...Secrets.credentialsOf(options.baseURL)],
    client: (Sdk) =>
      new Sdk({
        apiKey: Redacted.value(options.apiKey),
        baseURL: options.baseURL,
        // null, not undefined: the SDK would read OPENAI_ORG_ID / OPENAI_PROJECT_ID behind Config's back.
        organization: options.organization ?? null,
        project: options.project ?? null,
        maxRetries: 0,
        fetch
      })
  })
  const decodeChat = decoder(provider, ChatCompletionWire)
  const decodeCompletion = decoder(provider, CompletionWire)
  const chatGeneration = toGeneration(provider, chatChoices)
  const completionGeneration = toGeneration(provider, completionChoices)
  return {
    identifier,
    generate: (request) =>
      send(
        request.params,
        (client, perRequest) =>
          client.chat.completions.create(chatBody(identifier.model, request, maxTokensField), perRequest).withResponse(),
        decodeChat
      ).pipe(Effect.flatMap(chatGeneration)),
    complete: (request) =>
      send(
        request.params,
        (client, perRequest) => client.completions.create(completionBody(identifier.model, request), perRequest).withResponse(),
        decodeCompletion
      ).pipe(Effect.flatMap(completionGeneration))
  }
}

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
