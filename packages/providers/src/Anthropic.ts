/**
 * Anthropic generators over the official `@anthropic-ai/sdk`: the Messages API, system messages lifted to
 * `system`, a default `max_tokens`, and structured output through a forced tool call.
 *
 * The SDK's own retries are off (`maxRetries: 0`): the engine owns retries and pacing. Every SDK failure becomes
 * a typed generation error, and every answer carries the `anthropic-ratelimit-*` headers of its response.
 *
 * @since 0.1.0
 */
import type AnthropicSdk from "@anthropic-ai/sdk"
import {
  ContentFiltered,
  Generation,
  type GenerationError,
  type Generator,
  type GeneratorRegistry,
  type Identifier,
  Secrets,
  Unsupported,
  Usage
} from "@capstan/core"
import { Effect, Redacted, Schema, type Scope } from "effect"
import * as HttpTransport from "./HttpTransport.js"
import { lazySdk, sender } from "./internal/call.js"
import { classify } from "./internal/failure.js"
import { rootObject, safeName } from "./internal/jsonSchema.js"
import { apiKey, baseUrl, stringSetting } from "./internal/settings.js"
import { decoder, defined, nullish, tokenCount, trusted } from "./internal/wire.js"

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

const sdk = lazySdk(() => import("@anthropic-ai/sdk").then((module) => module.default), (Sdk: typeof AnthropicSdk) =>
  classify({
    SdkError: Sdk.AnthropicError,
    APIError: Sdk.APIError,
    APIConnectionTimeoutError: Sdk.APIConnectionTimeoutError,
    details: (error: InstanceType<typeof Sdk.APIError>) => ({
      message: error.apiMessage ?? error.message,
      code: error.errorCode ?? undefined,
      type: error.type ?? undefined
    })
  }))

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/**
 * The Messages API body. Seed and the presence/frequency penalties have no Anthropic equivalent and are not
 * sent (the API rejects unknown fields); `extra` passes through, and the typed params win on a clash.
 */
const messagesBody = (model: string, request: Generation.ChatRequest): AnthropicSdk.MessageCreateParamsNonStreaming => {
  const { params, structured } = request
  const system = request.messages.filter((m) => m.role === "system").map((m) => m.text)
  return {
    max_tokens: defaultMaxTokens,
    ...params.extra,
    model,
    messages: request.messages.flatMap((m) =>
      m.role === "system" ? [] : [{ role: m.role === "assistant" ? "assistant" as const : "user" as const, content: m.text }]
    ),
    ...(system.length === 0 ? {} : { system: system.join("\n\n") }),
    ...defined({
      max_tokens: params.maxTokens,
      temperature: params.temperature,
      top_p: params.topP,
      stop_sequences: params.stop === undefined ? undefined : [...params.stop]
    }),
    ...(structured === undefined ? {} : forcedTool(structured))
  }
}

/** Structured output as the one tool the model must call: its input is the answer. */
const forcedTool = (
  structured: Generation.StructuredOutput
): Pick<AnthropicSdk.MessageCreateParamsNonStreaming, "tools" | "tool_choice"> => {
  const name = safeName(structured.name)
  return {
    tools: [{
      name,
      ...(structured.description === undefined ? {} : { description: structured.description }),
      input_schema: rootObject(structured.schema) as AnthropicSdk.Tool.InputSchema
    }],
    tool_choice: { type: "tool", name }
  }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

const Count = nullish(Schema.Finite)

const MessageWire = Schema.Struct({
  content: Schema.Array(Schema.Struct({
    type: Schema.String,
    text: Schema.optional(Schema.String),
    name: Schema.optional(Schema.String),
    input: Schema.optional(Schema.Unknown)
  })),
  stop_reason: nullish(Schema.String),
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

/** The answer's text: the forced tool's input as JSON for structured output, else the text blocks. */
const toGeneration = (
  provider: string,
  message: typeof MessageWire.Type,
  toolName: string | undefined,
  rateLimit: Generation.RateLimitSnapshot | undefined
): Effect.Effect<Generation.Generation, GenerationError> => {
  const tool = toolName === undefined
    ? undefined
    : message.content.find((block) => block.type === "tool_use" && block.name === toolName)
  const text = tool === undefined
    ? message.content.flatMap((block) => block.type === "text" && block.text !== undefined ? [block.text] : []).join("")
    : JSON.stringify(tool.input ?? {})
  if (text.length === 0 && message.stop_reason === "refusal") {
    return Effect.fail(new ContentFiltered({ provider, detail: "stop_reason: refusal" }))
  }
  const usage = message.usage
  return Effect.succeed(
    new Generation.Generation({
      choices: [new Generation.Choice({ text, stopReason: stopReasonOf(message.stop_reason, tool !== undefined) }, trusted)],
      // Cached prompt tokens are prompt tokens too; Usage has one input count.
      usage: new Usage.Usage({
        inputTokens: tokenCount(usage?.input_tokens) + tokenCount(usage?.cache_creation_input_tokens) +
          tokenCount(usage?.cache_read_input_tokens),
        outputTokens: tokenCount(usage?.output_tokens)
      }, trusted),
      ...(rateLimit === undefined ? {} : { rateLimit })
    }, trusted)
  )
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

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
export const makeGenerator = (
  identifier: Identifier.Identifier,
  options: ClientOptions
): Effect.Effect<Generator.Service, never, Scope.Scope> =>
  Effect.map(HttpTransport.current(options.fetch), (fetch) => generatorOver(identifier, options, fetch))

const generatorOver = (identifier: Identifier.Identifier, options: ClientOptions, fetch: HttpTransport.Fetch): Generator.Service => {
  const provider = identifier.provider
  const send = sender(sdk, {
    provider,
    // The SDKs' messages may quote the URL they called.
    secrets: [Redacted.value(options.apiKey), ...Secrets.credentialsOf(options.baseURL)],
    client: (Sdk) =>
      new Sdk({
        apiKey: Redacted.value(options.apiKey),
        // null, not undefined: the SDK would look for ANTHROPIC_AUTH_TOKEN behind Config's back.
        authToken: null,
        baseURL: options.baseURL,
        maxRetries: 0,
        fetch
      })
  })
  const decode = decoder(provider, MessageWire)
  return {
    identifier,
    // The batch engine sends one request per choice instead of asking for n.
    capabilities: { maxChoices: 1 },
    generate: (request) => {
      const n = request.params.n ?? 1
      if (n > 1) {
        return Effect.fail(
          new Unsupported({ provider, detail: `n=${n}: the Messages API answers one choice per request; use runMany` })
        )
      }
      const body = messagesBody(identifier.model, request)
      const toolName = body.tool_choice?.type === "tool" ? body.tool_choice.name : undefined
      return send(request.params, (client, perRequest) => client.messages.create(body, perRequest).withResponse(), decode).pipe(
        Effect.flatMap(({ wire, rateLimit }) => toGeneration(provider, wire, toolName, rateLimit))
      )
    }
  }
}

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
    base_url: { kind: "string", description: `the API root (default: ANTHROPIC_BASE_URL, else ${defaultBaseUrl})` }
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
        baseURL: base === undefined ? defaultBaseUrl : yield* baseUrl(identifier, base)
      })
    })
}
