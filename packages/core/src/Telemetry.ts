/**
 * Telemetry: the names of every span, attribute and metric Capstan records, following the OpenTelemetry GenAI
 * semantic conventions, and the opt-in that records message content.
 *
 * Every request a generator sends through the engine runs in a client span named `"{operation} {model}"`
 * (`chat gpt-4o-mini`) carrying the request's model and params, the response's id, model and finish reasons, its
 * usage, `error.type` on failure, and Capstan's own attributes (item, choice, attempts, provider batch). Metrics are
 * effect `Metric`s. Nothing is exported anywhere until an application installs a tracer and a metrics exporter:
 * `@effect/opentelemetry` or effect's own OTLP exporter (`effect/observability/Otlp`); the `capstan` CLI installs the
 * latter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * @since 0.4.0
 */
import { Context, Layer, Metric } from "effect"
import type { WellKnownOperationName, WellKnownProviderName } from "effect/ai/Telemetry"

/**
 * The attribute keys Capstan's spans and metrics carry: the GenAI conventions' (`gen_ai.*`, `error.type`,
 * `server.*`) and Capstan's own (`capstan.*`).
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.Attribute.usageInputTokens // "gen_ai.usage.input_tokens"
 * Telemetry.Attribute.itemId // "capstan.item.id"
 * ```
 * @since 0.4.0
 */
export const Attribute = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  outputType: "gen_ai.output.type",
  requestModel: "gen_ai.request.model",
  requestTemperature: "gen_ai.request.temperature",
  requestMaxTokens: "gen_ai.request.max_tokens",
  requestTopP: "gen_ai.request.top_p",
  requestStopSequences: "gen_ai.request.stop_sequences",
  requestSeed: "gen_ai.request.seed",
  requestPresencePenalty: "gen_ai.request.presence_penalty",
  requestFrequencyPenalty: "gen_ai.request.frequency_penalty",
  requestChoiceCount: "gen_ai.request.choice.count",
  responseId: "gen_ai.response.id",
  responseModel: "gen_ai.response.model",
  responseFinishReasons: "gen_ai.response.finish_reasons",
  usageInputTokens: "gen_ai.usage.input_tokens",
  usageOutputTokens: "gen_ai.usage.output_tokens",
  usageCacheReadInputTokens: "gen_ai.usage.cache_read.input_tokens",
  tokenType: "gen_ai.token.type",
  /** The request's messages as JSON, only when content is captured ({@link CaptureContent}). */
  inputMessages: "gen_ai.input.messages",
  /** The response's choices as JSON, only when content is captured. */
  outputMessages: "gen_ai.output.messages",
  /** The request's system messages as JSON, only when content is captured. */
  systemInstructions: "gen_ai.system_instructions",
  errorType: "error.type",
  serverAddress: "server.address",
  serverPort: "server.port",
  /** The batch item's id (`Batch.run`'s rows' `id`). */
  itemId: "capstan.item.id",
  /** The batch item's position in its input. */
  itemIndex: "capstan.item.index",
  /** The first choice (0-based) of its item that the request asks for. */
  choice: "capstan.choice",
  /** How many requests were sent for the answer or the final error (retries included). */
  attempts: "capstan.attempts",
  /** The provider batch the request went in. */
  batchId: "capstan.batch.id",
  /** The request's custom id within its provider batch. */
  batchCustomId: "capstan.batch.custom_id",
  /** The completion prompts one packed request carried. */
  promptCount: "capstan.request.prompt_count"
} as const

/**
 * The names of Capstan's metrics: the GenAI conventions' client metrics and Capstan's own engine counters.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "@capstan/core"
 *
 * const retriesSoFar = Metric.value(Metric.counter(Telemetry.MetricName.retries))
 * ```
 * @since 0.4.0
 */
export const MetricName = {
  /** Histogram of input and output tokens per request (`gen_ai.token.type`: `input` or `output`). */
  tokenUsage: "gen_ai.client.token.usage",
  /** Histogram of request durations, in seconds, retries and limiter waits included. */
  operationDuration: "gen_ai.client.operation.duration",
  /** Counter of requests sent again after a retryable failure. */
  retries: "capstan.client.retries",
  /** Counter of 429 refusals, each of which pauses its account and model's limiter. */
  rateLimitPauses: "capstan.client.rate_limit.pauses",
  /** Counter of milliseconds requests waited for the rate limiter (their turn and a connection). */
  limiterWait: "capstan.client.limiter.wait"
} as const

/**
 * The GenAI operation names Capstan's requests are: a chat request is `chat`, a plain completion `text_completion`.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.Operation.chat // "chat"
 * ```
 * @since 0.4.0
 */
export const Operation = {
  chat: "chat",
  textCompletion: "text_completion"
} as const satisfies Record<string, WellKnownOperationName>

/**
 * A GenAI operation name Capstan records.
 *
 * @example
 * ```ts
 * import type { Telemetry } from "@capstan/core"
 *
 * const operation: Telemetry.Operation = "text_completion"
 * ```
 * @since 0.4.0
 */
export type Operation = typeof Operation[keyof typeof Operation]

/** Capstan's provider names that differ from the conventions' well-known ones. */
const wellKnownProviders: Readonly<Record<string, WellKnownProviderName>> = {
  mistral: "mistral_ai",
  xai: "x_ai",
  gemini: "gcp.gemini"
}

/**
 * The `gen_ai.provider.name` of a Capstan provider: the conventions' well-known name (`openai`, `anthropic`, ...) or,
 * for any other provider, its Capstan name.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.providerName("openai") // "openai"
 * Telemetry.providerName("mistral") // "mistral_ai"
 * ```
 * @since 0.4.0
 */
export const providerName = (provider: string): string => wellKnownProviders[provider] ?? provider

/**
 * The name of a request's span, as the conventions say: `"{operation} {model}"`.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.spanName("chat", "gpt-4o-mini") // "chat gpt-4o-mini"
 * ```
 * @since 0.4.0
 */
export const spanName = (operation: Operation, model: string): string => `${operation} ${model}`

/**
 * The bucket boundaries of `gen_ai.client.token.usage`, as the conventions advise.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.tokenUsageBoundaries[0] // 1
 * ```
 * @since 0.4.0
 */
export const tokenUsageBoundaries: ReadonlyArray<number> = [
  1,
  4,
  16,
  64,
  256,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  16777216,
  67108864
]

/**
 * The bucket boundaries of `gen_ai.client.operation.duration` (seconds), as the conventions advise.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * Telemetry.durationBoundaries.at(-1) // 81.92
 * ```
 * @since 0.4.0
 */
export const durationBoundaries: ReadonlyArray<number> = [
  0.01,
  0.02,
  0.04,
  0.08,
  0.16,
  0.32,
  0.64,
  1.28,
  2.56,
  5.12,
  10.24,
  20.48,
  40.96,
  81.92
]

/**
 * The `gen_ai.client.token.usage` histogram, with the given attributes (one series per set of attributes).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Telemetry } from "@capstan/core"
 *
 * const input = Telemetry.tokenUsage({ "gen_ai.token.type": "input", "gen_ai.request.model": "echo" })
 * const program = Effect.map(Metric.value(input), (state) => state.count)
 * ```
 * @since 0.4.0
 */
export const tokenUsage = (attributes: Readonly<Record<string, string>>): Metric.Histogram<number> =>
  Metric.histogram(MetricName.tokenUsage, {
    description: "Number of input and output tokens used",
    boundaries: tokenUsageBoundaries,
    attributes
  })

/**
 * The `gen_ai.client.operation.duration` histogram (seconds), with the given attributes.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * const chats = Telemetry.operationDuration({ "gen_ai.operation.name": "chat" })
 * ```
 * @since 0.4.0
 */
export const operationDuration = (attributes: Readonly<Record<string, string>>): Metric.Histogram<number> =>
  Metric.histogram(MetricName.operationDuration, {
    description: "GenAI operation duration",
    boundaries: durationBoundaries,
    attributes
  })

/**
 * One of Capstan's engine counters (`retries`, `rateLimitPauses`, `limiterWait`), with the given attributes.
 *
 * @example
 * ```ts
 * import { Telemetry } from "@capstan/core"
 *
 * const retries = Telemetry.counter("retries", { "gen_ai.request.model": "gpt-4o-mini" })
 * ```
 * @since 0.4.0
 */
export const counter = (
  name: "retries" | "rateLimitPauses" | "limiterWait",
  attributes: Readonly<Record<string, string>>
): Metric.Counter<number> =>
  Metric.counter(MetricName[name], {
    description: counterDescriptions[name],
    incremental: true,
    attributes
  })

const counterDescriptions = {
  retries: "Requests sent again after a retryable failure",
  rateLimitPauses: "429 refusals, each pausing its limiter",
  limiterWait: "Milliseconds requests waited for the rate limiter"
} as const

/**
 * Whether spans record message content (`gen_ai.input.messages`, `gen_ai.output.messages`,
 * `gen_ai.system_instructions`). Off by default: prompts and answers may hold what must not leave the application.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, Telemetry } from "@capstan/core"
 *
 * const traced = Generator.chat("Hi").pipe(
 *   Effect.provideService(Telemetry.CaptureContent, true),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.4.0
 */
export const CaptureContent: Context.Reference<boolean> = Context.Reference<boolean>(
  "@capstan/core/Telemetry/CaptureContent",
  { defaultValue: () => false }
)

/**
 * A Layer that turns on {@link CaptureContent} for everything it is provided to.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, Telemetry } from "@capstan/core"
 *
 * const program = Generator.chat("Hi").pipe(
 *   Effect.provide(Generator.layer("mock!echo")),
 *   Effect.provide(Telemetry.layerCaptureContent)
 * )
 * ```
 * @since 0.4.0
 */
export const layerCaptureContent: Layer.Layer<never> = Layer.succeed(CaptureContent, true)
