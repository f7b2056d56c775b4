/**
 * What a generator is asked (`ChatRequest`, `CompletionRequest`) and what it answers (`Generation`),
 * including the provider's rate-limit headers so the engine can pace itself before it is refused.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as GenerateParams from "./GenerateParams.js"
import { PositiveInt } from "./internal/numbers.js"
import { RateLimitSnapshot } from "./internal/rateLimitSnapshot.js"
import { type Message, ToolCallPart } from "./Message.js"
import * as Usage from "./Usage.js"

/**
 * Why a generation stopped, normalized across providers.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Generation } from "@capstan/core"
 *
 * const cutOff = (reason: Generation.StopReason) => reason === "length" // raise maxTokens and ask again
 * Schema.is(Generation.StopReason)("end_turn") // false: a provider's reason goes through normalizeStopReason
 * ```
 * @since 0.1.0
 */
export const StopReason = Schema.Literals(["stop", "length", "content_filter", "tool_calls", "unknown"])

/**
 * @since 0.1.0
 */
export type StopReason = typeof StopReason.Type

/**
 * Maps a provider's finish/stop reason to a {@link StopReason}.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * Generation.normalizeStopReason("end_turn")   // "stop"
 * Generation.normalizeStopReason("max_tokens") // "length"
 * ```
 * @since 0.1.0
 */
export const normalizeStopReason = (reason: string | null | undefined): StopReason => {
  switch (reason) {
    case "stop":
    case "eos":
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "length":
    case "max_tokens":
    case "model_length":
      return "length"
    case "content_filter":
    case "refusal":
      return "content_filter"
    default:
      return reason !== null && reason !== undefined && reason.includes("tool") ? "tool_calls" : "unknown"
  }
}

export {
  /**
   * The provider's rate-limit state as its response headers told it, normalized (see `internal/rateLimitSnapshot`).
   *
   * @since 0.1.0
   */
  RateLimitSnapshot
}

/**
 * A request for native structured output: the provider is asked to answer with JSON of the schema `codec`
 * (OpenAI `response_format: json_schema`, Anthropic a forced tool call). Providers derive the JSON Schema they send
 * from `codec` (each API accepts its own subset: OpenAI's strict mode wants optional properties as required
 * nullable ones) and answer with the canonical JSON of `codec` (`Schema.toCodecJson`), so parsing does not depend
 * on the provider. `schema` is the same answer as a plain JSON Schema, for generators that sample or show it.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const Review = Model.json(Schema.Struct({ stars: Schema.Int }), { name: "review" })
 * const structured: Generation.StructuredOutput = Review.structured
 * structured.codec // the Effect schema of the answer
 * structured.schema // { type: "object", properties: { stars: { type: "integer", ... } }, ... }
 * ```
 * @since 0.1.0
 */
export interface StructuredOutput {
  /** The answer's name, matching `[A-Za-z0-9_-]{1,64}`. */
  readonly name: string
  readonly description?: string
  /** The answer's JSON Schema (draft 2020-12, definitions under `$defs`, an object root when the answer is one). */
  readonly schema: Readonly<Record<string, unknown>>
  /** The answer's Effect schema: providers derive their wire schema from it, and answer with its canonical JSON. */
  readonly codec: Schema.Decoder<unknown>
}

/**
 * A tool the model may call, as a request carries it to the provider: its name, what it does, and the JSON Schema of
 * its input. Pipelines build these from their tools (`ChatPipeline.using`); providers send them as OpenAI
 * `tools[].function` or Anthropic `tools[]`. `codec`, when known, is the input's Effect schema, from which a provider
 * may derive a stricter wire schema (as for `StructuredOutput`).
 *
 * @example
 * ```ts
 * import type { Generation } from "@capstan/core"
 *
 * const weather: Generation.ToolDefinition = {
 *   name: "weather",
 *   description: "The weather in a city today",
 *   parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
 * }
 * ```
 * @since 0.4.0
 */
export interface ToolDefinition {
  /** The tool's name, matching `[A-Za-z0-9_-]{1,64}`. */
  readonly name: string
  readonly description?: string | undefined
  /** The JSON Schema of the tool's input: an object schema, definitions under `$defs`. */
  readonly parameters: Readonly<Record<string, unknown>>
  /** The input's Effect schema, when the tool was built from one. */
  readonly codec?: Schema.Decoder<unknown> | undefined
}

/**
 * Whether the model may call tools: `auto` (it decides, the default), `none`, `required` (some tool), or one tool
 * by name.
 *
 * @example
 * ```ts
 * import type { Generation } from "@capstan/core"
 *
 * const mustLookUp: Generation.ToolChoice = { tool: "weather" }
 * ```
 * @since 0.4.0
 */
export type ToolChoice = "auto" | "none" | "required" | { readonly tool: string }

/**
 * A chat request: messages, params, and optionally a structured answer to ask for or tools the model may call.
 *
 * @example
 * ```ts
 * import { GenerateParams, Message } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const request: Generation.ChatRequest = { messages: [Message.user("Hi")], params: GenerateParams.empty }
 * ```
 * @since 0.1.0
 */
export interface ChatRequest {
  readonly messages: ReadonlyArray<Message>
  readonly params: GenerateParams.GenerateParams
  readonly structured?: StructuredOutput
  /** Tools the model may call; their calls come back as `Choice.toolCalls` (stop reason `tool_calls`). */
  readonly tools?: ReadonlyArray<ToolDefinition>
  readonly toolChoice?: ToolChoice
}

/**
 * A plain-text completion request.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const request: Generation.CompletionRequest = { prompt: "Once upon a time", params: GenerateParams.empty }
 * ```
 * @since 0.1.0
 */
export interface CompletionRequest {
  readonly prompt: string
  readonly params: GenerateParams.GenerateParams
}

/**
 * Several plain-text completion prompts sent in one request, all with the same params (OpenAI's legacy completions
 * take `prompt` as a list; batch-prompt's `queries_per_batch`). A generator that can (`Generator.Service`'s
 * `completeMany`) answers one generation holding `params.n` choices per prompt, prompt after prompt (prompt `i`'s
 * choices at `i * n` to `i * n + n - 1`), with one usage for the whole request.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 * import type { Generation } from "@capstan/core"
 *
 * const request: Generation.PackedCompletionRequest = {
 *   prompts: ["Paris is the capital of", "Rome is the capital of"],
 *   params: GenerateParams.make({ maxTokens: 5 })
 * }
 * ```
 * @since 0.2.0
 */
export interface PackedCompletionRequest {
  readonly prompts: ReadonlyArray<string>
  readonly params: GenerateParams.GenerateParams
}

/**
 * A token and its log probability (natural log), as a provider reported it.
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * const yes = new Generation.TokenAlternative({ token: "Yes", logprob: -0.01 })
 * Math.exp(yes.logprob) // about 0.99
 * ```
 * @since 0.2.0
 */
export class TokenAlternative extends Schema.Class<TokenAlternative>("@capstan/core/TokenAlternative")({
  token: Schema.String,
  logprob: Schema.Finite
}) {}

/**
 * One generated token with its log probability and, when `topLogprobs` asked for them, the likeliest
 * alternatives at its position (the token itself usually among them).
 *
 * @example
 * ```ts
 * import { Generation } from "@capstan/core"
 *
 * const alternative = (token: string, logprob: number) => new Generation.TokenAlternative({ token, logprob })
 * const token = new Generation.TokenLogprob({
 *   token: "Yes",
 *   logprob: -0.01,
 *   top: [alternative("Yes", -0.01), alternative("No", -4.6)]
 * })
 * token.top?.map((t) => t.token) // ["Yes", "No"]
 * ```
 * @since 0.2.0
 */
export class TokenLogprob extends Schema.Class<TokenLogprob>("@capstan/core/TokenLogprob")({
  token: Schema.String,
  logprob: Schema.Finite,
  top: Schema.optionalKey(Schema.Array(TokenAlternative))
}) {}

/**
 * One choice of a generation: its text (structured output arrives as its JSON text), the tool calls the model
 * made, if any, and its tokens' log probabilities when the params asked for them (`logprobs`, `topLogprobs`).
 *
 * @example
 * ```ts
 * import { Generation, Message } from "@capstan/core"
 *
 * const choice = new Generation.Choice({
 *   text: "",
 *   stopReason: "tool_calls",
 *   toolCalls: [new Message.ToolCallPart({ id: "call_1", name: "weather", input: { city: "Lyon" } })]
 * })
 * choice.toolCalls?.[0]?.name // "weather"
 * ```
 * @since 0.1.0
 */
export class Choice extends Schema.Class<Choice>("@capstan/core/Choice")({
  text: Schema.String,
  stopReason: StopReason,
  toolCalls: Schema.optionalKey(Schema.Array(ToolCallPart)),
  logprobs: Schema.optionalKey(Schema.Array(TokenLogprob))
}) {}

/**
 * A provider's answer: one or more choices (`n`), the usage of the call, the rate-limit state
 * the response reported, and how many attempts the engine needed (or `cached` when a response cache answered).
 *
 * @example
 * ```ts
 * import { Generation, Usage } from "@capstan/core"
 *
 * const g = new Generation.Generation({
 *   choices: [new Generation.Choice({ text: "Hi", stopReason: "stop" })],
 *   usage: Usage.empty
 * })
 * g.choices[0]?.text // "Hi"
 * ```
 * @since 0.1.0
 */
export class Generation extends Schema.Class<Generation>("@capstan/core/Generation")({
  choices: Schema.Array(Choice),
  usage: Usage.Usage,
  rateLimit: Schema.optionalKey(RateLimitSnapshot),
  /** How many requests were sent for this generation when the engine had to retry; unset means one. */
  attempts: Schema.optionalKey(PositiveInt),
  /** What the provider did not do as asked without failing: params it does not take, options it ignored. */
  warnings: Schema.optionalKey(Schema.Array(Schema.String)),
  /**
   * True when the answer came from a response cache (`ResponseCache`): no request was sent for it, and `usage` is
   * what the answer cost when it was first generated, paid then. Chats and rows built from it record no usage and
   * no attempts (nothing was paid or sent this time) and `cached: true` in their metadata.
   */
  cached: Schema.optionalKey(Schema.Boolean),
  /**
   * The generator that answered when it is not the one asked: a fallback (`Generator.fallback`) answered with a
   * later generator of its list. Its identifier printed with the request's params merged over its own, and those
   * params; chats and rows record these instead of the asked generator's.
   */
  answeredBy: Schema.optionalKey(Schema.Struct({ generator: Schema.String, params: GenerateParams.GenerateParams })),
  /** The provider's id of the response (OpenAI `id`, Anthropic `id`), when it gives one. */
  responseId: Schema.optionalKey(Schema.String),
  /** The model that answered, as the provider names it (may be more precise than the one asked for). */
  responseModel: Schema.optionalKey(Schema.String)
}) {}

/**
 * What a streaming generation yields: text as it arrives (`Delta`, for the choice at `index`), then the whole
 * generation with its usage (`Done`), always last.
 *
 * @example
 * ```ts
 * import type { Generation } from "@capstan/core"
 *
 * const show = (part: Generation.StreamPart) => part._tag === "Delta" ? part.text : `\n(${part.generation.usage.totalTokens} tokens)`
 * ```
 * @since 0.2.0
 */
export type StreamPart =
  | { readonly _tag: "Delta"; readonly index: number; readonly text: string }
  | { readonly _tag: "Done"; readonly generation: Generation }

/**
 * A generation of one choice per text, with the given usage.
 *
 * @example
 * ```ts
 * import { Generation, Usage } from "@capstan/core"
 *
 * Generation.fromTexts(["a", "b"], Usage.empty).choices.length // 2
 * ```
 * @since 0.1.0
 */
export const fromTexts = (
  texts: ReadonlyArray<string>,
  usage: Usage.Usage,
  stopReason: StopReason = "stop"
): Generation => new Generation({ choices: texts.map((text) => new Choice({ text, stopReason })), usage })
