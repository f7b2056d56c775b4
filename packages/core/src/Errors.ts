/**
 * The typed errors of `@capstan/core`. Every error is a `Schema.TaggedError`, so a failed chat or result row
 * encodes its error to JSON and decodes it back (all but `ItemFailed`, which wraps the caller's own errors).
 *
 * Generation errors carry `retryable`: the engine's one retry layer retries exactly those that are.
 *
 * @since 0.1.0
 */
import { Data, Schema } from "effect"
import * as Chat from "./Chat.js"
import { RateLimitSnapshot } from "./Generation.js"

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

/**
 * A generator identifier that cannot be used: says what is wrong, where, and how to fix it.
 * Secrets in the identifier are masked as `***`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(Identifier.parse("mock!echo,temperature=hot")))
 * error.key // "temperature"
 * ```
 * @since 0.1.0
 */
export class InvalidIdentifier extends Schema.TaggedError<InvalidIdentifier>()("InvalidIdentifier", {
  identifier: Schema.String,
  reason: Schema.String,
  position: Schema.optionalKey(Schema.Int),
  key: Schema.optionalKey(Schema.String),
  hint: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const where = this.position === undefined ? "" : ` (at character ${this.position + 1})`
    const hint = this.hint === undefined ? "" : `. ${this.hint}`
    return `Invalid generator identifier "${this.identifier}": ${this.reason}${where}${hint}`
  }
}

/**
 * Generation parameters that fail validation (a negative temperature, `n = 0`, ...).
 *
 * @example
 * ```ts
 * import { InvalidParams } from "@capstan/core"
 *
 * new InvalidParams({ reason: "temperature must be >= 0" }).message
 * ```
 * @since 0.1.0
 */
export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid generation parameters: ${this.reason}`
  }
}

/**
 * No API key was found for a provider.
 *
 * @example
 * ```ts
 * import { MissingApiKey } from "@capstan/core"
 *
 * new MissingApiKey({ provider: "openai", variable: "OPENAI_API_KEY" }).message
 * // "No API key for provider \"openai\": set the OPENAI_API_KEY environment variable, or add api_key=... to the identifier"
 * ```
 * @since 0.1.0
 */
export class MissingApiKey extends Schema.TaggedError<MissingApiKey>()("MissingApiKey", {
  provider: Schema.String,
  variable: Schema.String
}) {
  override get message(): string {
    return `No API key for provider "${this.provider}": set the ${this.variable} environment variable, or add api_key=... to the identifier`
  }
}

// ---------------------------------------------------------------------------------------------
// Generation errors
// ---------------------------------------------------------------------------------------------

const generationFields = {
  /** The provider that raised the error, e.g. `openai`. */
  provider: Schema.String,
  /** What the provider said, with secrets removed. */
  detail: Schema.String
}

const describe = (what: string, self: { readonly provider: string; readonly detail: string }) =>
  `${what} (${self.provider})${self.detail.length > 0 ? `: ${self.detail}` : ""}`

/**
 * The provider refused the request for its rate limit (HTTP 429). Retryable; `retryAfterMs` is the server's
 * own hint and wins over any computed backoff.
 *
 * @example
 * ```ts
 * import { RateLimited } from "@capstan/core"
 *
 * new RateLimited({ provider: "openai", detail: "slow down", retryAfterMs: 1000 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  ...generationFields,
  retryAfterMs: Schema.optionalKey(Schema.Finite),
  rateLimit: Schema.optionalKey(RateLimitSnapshot)
}) {
  readonly retryable = true
  override get message(): string {
    const wait = this.retryAfterMs === undefined ? "" : ` (retry after ${Math.ceil(this.retryAfterMs)} ms)`
    return describe("Rate limited", this) + wait
  }
}

/**
 * The provider is overloaded (HTTP 503, Anthropic 529). Retryable.
 *
 * @example
 * ```ts
 * import { Overloaded } from "@capstan/core"
 *
 * new Overloaded({ provider: "anthropic", detail: "overloaded", status: 529 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  ...generationFields,
  status: Schema.Int,
  retryAfterMs: Schema.optionalKey(Schema.Finite)
}) {
  readonly retryable = true
  override get message(): string {
    return describe(`Provider overloaded (HTTP ${this.status})`, this)
  }
}

/**
 * The provider failed with a server error (HTTP 5xx). Retryable.
 *
 * @example
 * ```ts
 * import { ServerError } from "@capstan/core"
 *
 * new ServerError({ provider: "openai", detail: "oops", status: 500 }).retryable // true
 * ```
 * @since 0.1.0
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = true
  override get message(): string {
    return describe(`Server error (HTTP ${this.status})`, this)
  }
}

/**
 * No answer within the request timeout. Retryable.
 *
 * @example
 * ```ts
 * import { Timeout } from "@capstan/core"
 *
 * new Timeout({ provider: "openai", detail: "", timeoutMs: 30000 }).message // "Timed out after 30000 ms (openai)"
 * ```
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  ...generationFields,
  timeoutMs: Schema.optionalKey(Schema.Finite)
}) {
  readonly retryable = true
  override get message(): string {
    return describe(this.timeoutMs === undefined ? "Timed out" : `Timed out after ${this.timeoutMs} ms`, this)
  }
}

/**
 * The connection failed or was reset before an answer arrived. Retryable.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@capstan/core"
 *
 * new ConnectionError({ provider: "openai", detail: "ECONNRESET" }).retryable // true
 * ```
 * @since 0.1.0
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", generationFields) {
  readonly retryable = true
  override get message(): string {
    return describe("Connection failed", this)
  }
}

/**
 * The provider answered with a body that could not be read (truncated or not JSON). Retryable.
 *
 * @example
 * ```ts
 * import { MalformedResponse } from "@capstan/core"
 *
 * new MalformedResponse({ provider: "openai", detail: "Unexpected end of JSON input" }).retryable // true
 * ```
 * @since 0.1.0
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", generationFields) {
  readonly retryable = true
  override get message(): string {
    return describe("Malformed response", this)
  }
}

/**
 * The API key was refused (HTTP 401/403). Not retryable.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "@capstan/core"
 *
 * new AuthenticationError({ provider: "openai", detail: "bad key", status: 401 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>()("AuthenticationError", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Authentication failed (HTTP ${this.status}); check the API key`, this)
  }
}

/**
 * The provider rejected the request as invalid (HTTP 400/404/422, ...). Not retryable.
 *
 * @example
 * ```ts
 * import { InvalidRequest } from "@capstan/core"
 *
 * new InvalidRequest({ provider: "openai", detail: "unknown model", status: 404 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  ...generationFields,
  status: Schema.optionalKey(Schema.Int)
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Invalid request${this.status === undefined ? "" : ` (HTTP ${this.status})`}`, this)
  }
}

/**
 * The prompt does not fit the model's context window. Not retryable.
 *
 * @example
 * ```ts
 * import { ContextLengthExceeded } from "@capstan/core"
 *
 * new ContextLengthExceeded({ provider: "openai", detail: "too long" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>()(
  "ContextLengthExceeded",
  generationFields
) {
  readonly retryable = false
  override get message(): string {
    return describe("Context length exceeded; shorten the prompt or lower max_tokens", this)
  }
}

/**
 * The provider's content filter stopped the answer. Not retryable.
 *
 * @example
 * ```ts
 * import { ContentFiltered } from "@capstan/core"
 *
 * new ContentFiltered({ provider: "openai", detail: "" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class ContentFiltered extends Schema.TaggedError<ContentFiltered>()("ContentFiltered", generationFields) {
  readonly retryable = false
  override get message(): string {
    return describe("Content filtered", this)
  }
}

/**
 * The account is out of quota or credit (a 429 that waiting does not cure: OpenAI `insufficient_quota`,
 * Anthropic spend limits). Not retryable: top up or raise the limit.
 *
 * @example
 * ```ts
 * import { QuotaExceeded } from "@capstan/core"
 *
 * new QuotaExceeded({ provider: "openai", detail: "insufficient_quota", status: 429 }).retryable // false
 * ```
 * @since 0.1.0
 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()("QuotaExceeded", {
  ...generationFields,
  status: Schema.Int
}) {
  readonly retryable = false
  override get message(): string {
    return describe(`Quota exceeded (HTTP ${this.status}); check the account's plan and billing`, this)
  }
}

/**
 * The generator cannot do what was asked (e.g. plain-text completion on a chat-only provider). Not retryable.
 *
 * @example
 * ```ts
 * import { Unsupported } from "@capstan/core"
 *
 * new Unsupported({ provider: "anthropic", detail: "no text completion endpoint" }).retryable // false
 * ```
 * @since 0.1.0
 */
export class Unsupported extends Schema.TaggedError<Unsupported>()("Unsupported", generationFields) {
  readonly retryable = false
  override get message(): string {
    return describe("Unsupported", this)
  }
}

/**
 * Every error a generator call can fail with.
 *
 * @since 0.1.0
 */
export type GenerationError =
  | RateLimited
  | Overloaded
  | ServerError
  | Timeout
  | ConnectionError
  | MalformedResponse
  | AuthenticationError
  | InvalidRequest
  | ContextLengthExceeded
  | ContentFiltered
  | QuotaExceeded
  | Unsupported

const generationErrorUnion = Schema.Union([
  RateLimited,
  Overloaded,
  ServerError,
  Timeout,
  ConnectionError,
  MalformedResponse,
  AuthenticationError,
  InvalidRequest,
  ContextLengthExceeded,
  ContentFiltered,
  QuotaExceeded,
  Unsupported
])

/**
 * The schema of {@link GenerationError}.
 *
 * @since 0.1.0
 */
export const GenerationError: Schema.Codec<GenerationError, typeof generationErrorUnion.Encoded> = generationErrorUnion

/**
 * True for errors the engine's retry layer may retry: rate limits, overload, 5xx, timeouts, connection
 * failures and malformed responses.
 *
 * @example
 * ```ts
 * import { isRetryable, ServerError, InvalidRequest } from "@capstan/core"
 *
 * isRetryable(new ServerError({ provider: "p", detail: "", status: 502 }))   // true
 * isRetryable(new InvalidRequest({ provider: "p", detail: "" }))             // false
 * ```
 * @since 0.1.0
 */
export const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "retryable" in error && error.retryable === true

/**
 * True for errors that say nothing about the request and everything about the account or the generator: a refused
 * key, an exhausted quota, a model that does not exist, a capability the generator lacks. Every later request would
 * fail the same way, so a batch stops sending after a few of them in a row (see `Batch.Options.stopAfter`).
 *
 * @example
 * ```ts
 * import { AuthenticationError, failsEveryRequest, ServerError } from "@capstan/core"
 *
 * failsEveryRequest(new AuthenticationError({ provider: "openai", detail: "", status: 401 })) // true
 * failsEveryRequest(new ServerError({ provider: "openai", detail: "", status: 500 }))          // false
 * ```
 * @since 0.2.0
 */
export const failsEveryRequest = (
  error: { readonly _tag: string }
): error is AuthenticationError | QuotaExceeded | Unsupported | InvalidRequest => {
  switch (error._tag) {
    case "AuthenticationError":
    case "QuotaExceeded":
    case "Unsupported":
      return true
    case "InvalidRequest":
      return (error as InvalidRequest).status === 404
    default:
      return false
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing and pipelines
// ---------------------------------------------------------------------------------------------

/**
 * Model output that could not be parsed. `reason` is written for a model to read: it is sent back as the
 * recovery message by `untilParsedAs`.
 *
 * @example
 * ```ts
 * import { ParseError } from "@capstan/core"
 *
 * new ParseError({ model: "answer", reason: "Missing <answer></answer> tags" }).message
 * ```
 * @since 0.1.0
 */
export class ParseError extends Schema.TaggedError<ParseError>()("ParseError", {
  /** The tag (XML) or name (JSON) of the model that failed. */
  model: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Could not parse <${this.model}>: ${this.reason}`
  }
}

/**
 * `untilParsedAs` ran out of rounds: carries the last parse error and the chat as it stood.
 *
 * @example
 * ```ts
 * import { ExhaustedMaxRounds } from "@capstan/core"
 *
 * declare const error: ExhaustedMaxRounds
 * error.rounds // how many generations were tried
 * ```
 * @since 0.1.0
 */
export class ExhaustedMaxRounds extends Schema.TaggedError<ExhaustedMaxRounds>()("ExhaustedMaxRounds", {
  rounds: Schema.Int,
  lastError: ParseError,
  // Lazy on both sides: a chat may carry this error and this error carries a chat.
  chat: Schema.suspend((): Schema.Codec<Chat.Chat, Chat.ChatEncoded> => Chat.Chat)
}) {
  override get message(): string {
    return `Gave up after ${this.rounds} rounds: ${this.lastError.message}`
  }
}

/**
 * A user callback (`andThen`, `map`, `wrap`) failed. The original error is kept in `cause`.
 *
 * @example
 * ```ts
 * import { StepFailed } from "@capstan/core"
 *
 * new StepFailed({ step: "andThen", cause: new Error("boom") }).message // "Pipeline step \"andThen\" failed: boom"
 * ```
 * @since 0.1.0
 */
export class StepFailed extends Schema.TaggedError<StepFailed>()("StepFailed", {
  step: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const cause = this.cause
    const text = cause instanceof Error
      ? cause.message
      : typeof cause === "object" && cause !== null && "message" in cause
      ? String(cause.message)
      : String(cause)
    return `Pipeline step "${this.step}" failed: ${text}`
  }
}

/**
 * `runBatch` was given lists of inputs and params whose lengths neither match nor broadcast (one of them
 * must have length 1 or both the same length).
 *
 * @example
 * ```ts
 * import { BatchSizeMismatch } from "@capstan/core"
 *
 * new BatchSizeMismatch({ inputs: 3, params: 2 }).message
 * ```
 * @since 0.1.0
 */
export class BatchSizeMismatch extends Schema.TaggedError<BatchSizeMismatch>()("BatchSizeMismatch", {
  inputs: Schema.Int,
  params: Schema.Int
}) {
  override get message(): string {
    return `runBatch got ${this.inputs} inputs and ${this.params} parameter sets: pass lists of equal length, or a list of length 1 to broadcast over the other`
  }
}

/**
 * An `andThen` callback kept continuing its chat (returning or running a pipeline from inside the callback)
 * deeper than `maxDepth` levels: usually a callback that never stops continuing. Stop it, or raise
 * `maxDepth` in `ChatPipeline.andThen(f, { maxDepth })`.
 *
 * @example
 * ```ts
 * import { MaxDepthExceeded } from "@capstan/core"
 *
 * new MaxDepthExceeded({ step: "andThen", maxDepth: 20 }).message
 * ```
 * @since 0.1.0
 */
export class MaxDepthExceeded extends Schema.TaggedError<MaxDepthExceeded>()("MaxDepthExceeded", {
  step: Schema.String,
  maxDepth: Schema.Int
}) {
  override get message(): string {
    return `Pipeline step "${this.step}" nested deeper than maxDepth ${this.maxDepth}: the callback keeps continuing its chat; stop it, or raise maxDepth`
  }
}

/**
 * Every error that can be recorded on a failed chat.
 *
 * @since 0.1.0
 */
export type ChatError =
  | GenerationError
  | ParseError
  | ExhaustedMaxRounds
  | StepFailed
  | InvalidParams
  | MissingApiKey
  | MaxDepthExceeded

/**
 * The encoded (JSON) form of a {@link ChatError}.
 *
 * @since 0.1.0
 */
export type ChatErrorEncoded =
  | typeof generationErrorUnion.Encoded
  | typeof ParseError.Encoded
  | ExhaustedMaxRoundsEncoded
  | typeof StepFailed.Encoded
  | typeof InvalidParams.Encoded
  | typeof MissingApiKey.Encoded
  | typeof MaxDepthExceeded.Encoded

/**
 * The encoded (JSON) form of {@link ExhaustedMaxRounds}.
 *
 * @since 0.1.0
 */
export interface ExhaustedMaxRoundsEncoded {
  readonly _tag: "ExhaustedMaxRounds"
  readonly rounds: number
  readonly lastError: typeof ParseError.Encoded
  readonly chat: Chat.ChatEncoded
}

/**
 * The schema of {@link ChatError}.
 *
 * @since 0.1.0
 */
export const ChatError: Schema.Codec<ChatError, ChatErrorEncoded> = Schema.Union([
  generationErrorUnion,
  ParseError,
  ExhaustedMaxRounds,
  StepFailed,
  InvalidParams,
  MissingApiKey,
  MaxDepthExceeded
])

// ---------------------------------------------------------------------------------------------
// Templates and batch items
// ---------------------------------------------------------------------------------------------

// Long templates and keys are cut in messages only; the fields keep the full text.
const excerpt = (text: string, max = 80): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/**
 * A template that cannot be used: unbalanced braces, an empty or invalid variable name, an unknown role, a
 * duplicate template id. `position` is the 0-based character in the template (or in message `messageIndex` of
 * a chat template) where the problem starts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(Template.parse("Review: {review")))
 * error.position // 8
 * error.message  // 'Invalid template "Review: {review": unclosed "{" (at character 9). Write {{ and }} for literal braces'
 * ```
 * @since 0.1.0
 */
export class InvalidTemplate extends Schema.TaggedError<InvalidTemplate>()("InvalidTemplate", {
  template: Schema.String,
  reason: Schema.String,
  position: Schema.optionalKey(Schema.Int),
  messageIndex: Schema.optionalKey(Schema.Int),
  hint: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const where = this.position === undefined && this.messageIndex === undefined
      ? ""
      : ` (${
        [
          this.position === undefined ? undefined : `at character ${this.position + 1}`,
          this.messageIndex === undefined ? undefined : `in message ${this.messageIndex + 1}`
        ].filter((part) => part !== undefined).join(" ")
      })`
    const hint = this.hint === undefined ? "" : `. ${this.hint}`
    return `Invalid template "${excerpt(this.template)}": ${this.reason}${where}${hint}`
  }
}

/**
 * An input that is not a usable batch item: not an object, an id that is empty or not a string/number, a
 * duplicate id, or a variable whose value is not a string, finite number or boolean. `index` is the item's
 * 0-based position in the input.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(Template.items([{ id: "a", x: 1 }, { id: "a", x: 2 }])))
 * error.itemId // "a"
 * error.index  // 1
 * ```
 * @since 0.1.0
 */
export class InvalidItem extends Schema.TaggedError<InvalidItem>()("InvalidItem", {
  index: Schema.Int,
  itemId: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    const id = this.itemId === undefined ? "" : ` "${excerpt(this.itemId)}"`
    return `Invalid item${id} at index ${this.index}: ${this.reason}`
  }
}

/**
 * Batch items whose variables do not fit the template(s), found before any request. Every item is checked:
 * `itemId`, `missing` and `unexpected` describe the first bad item, `badItems` counts all of them and
 * `badItemIds` lists the first few. `expected` is the set of variables every item must give.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Template } from "@capstan/core"
 *
 * const template = Template.make("Review: {review}")
 * const error = Effect.runSync(Effect.flip(Template.validate(template, [{ id: "r1", text: "great" }])))
 * error.itemId     // "r1"
 * error.missing    // ["review"]
 * error.unexpected // ["text"]
 * ```
 * @since 0.1.0
 */
export class TemplateMismatch extends Schema.TaggedError<TemplateMismatch>()("TemplateMismatch", {
  itemId: Schema.String,
  missing: Schema.Array(Schema.String),
  unexpected: Schema.Array(Schema.String),
  expected: Schema.Array(Schema.String),
  template: Schema.String,
  badItems: Schema.Int,
  totalItems: Schema.Int,
  badItemIds: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const list = (keys: ReadonlyArray<string>) => keys.map((key) => excerpt(key, 40)).join(", ")
    const problems = [
      this.missing.length > 0 ? `missing ${list(this.missing)}` : undefined,
      this.unexpected.length > 0 ? `unexpected ${list(this.unexpected)}` : undefined
    ].filter((part) => part !== undefined).join("; ")
    const others = this.badItems > 1
      ? ` ${this.badItems} of ${this.totalItems} items do not fit (${list(this.badItemIds)}${
        this.badItems > this.badItemIds.length ? ", …" : ""
      }).`
      : ""
    const expected = this.expected.length > 0 ? `the variables ${list(this.expected)}` : "no variables"
    const fix = this.itemId === ""
      ? ` Pass a value for each of ${list(this.expected)}.`
      : this.unexpected.length > 0
      ? ` Give each item exactly ${expected}: rename or drop the other keys, or pass allowExtra: true to keep them as provenance.`
      : ` Give each item ${expected}.`
    const subject = this.itemId === "" ? "The variables do" : `Item "${excerpt(this.itemId)}" does`
    return `${subject} not fit the template "${excerpt(this.template)}": ${problems}.${others}${fix}`
  }
}

/**
 * A batch stopped sending: `consecutive` items in a row failed with `error`, an error every later request would
 * meet too (see {@link failsEveryRequest}). The items finished before are kept; the others were not sent (a run
 * resumed once the cause is fixed sends them).
 *
 * @example
 * ```ts
 * import { AuthenticationError, BatchStopped } from "@capstan/core"
 *
 * new BatchStopped({ consecutive: 5, error: new AuthenticationError({ provider: "openai", detail: "bad key", status: 401 }) }).message
 * ```
 * @since 0.2.0
 */
export class BatchStopped extends Schema.TaggedError<BatchStopped>()("BatchStopped", {
  consecutive: Schema.Int,
  error: GenerationError
}) {
  override get message(): string {
    return `Stopped sending: ${this.consecutive} requests in a row failed with ${this.error._tag}, as every other request would. ${this.error.message}. Fix that, then resume to send the rest`
  }
}

/**
 * Every error a pipeline run can fail with on its own (besides the errors of the user's callbacks): the
 * generator's, parse exhaustion, invalid parameters, runaway `andThen` recursion, and a misbehaving step.
 *
 * @since 0.1.0
 */
export type PipelineError = GenerationError | ExhaustedMaxRounds | InvalidParams | MaxDepthExceeded | StepFailed

/**
 * One item of a batch (`runMany`, `runBatch`, `stream` with `onFailed: "fail"`) failed, and with it the
 * batch: `index` is the item's position in the inputs, `error` its own typed error. Unlike the other
 * errors it is not encodable, since it carries the caller's callback errors as they are; it is never
 * recorded on a chat.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline } from "@capstan/core"
 *
 * const program = ChatPipeline.make("Hi").pipe(
 *   ChatPipeline.runMany(3),
 *   Effect.catchTag("ItemFailed", (e) => Effect.succeed(`item ${e.index}: ${e.error._tag}`))
 * )
 * ```
 * @since 0.1.0
 */
export class ItemFailed<out E = unknown> extends Data.TaggedError("ItemFailed")<{
  readonly index: number
  readonly error: E
}> {
  override get message(): string {
    const error: unknown = this.error
    const text = typeof error === "object" && error !== null && "message" in error
      ? String(error.message)
      : String(error)
    return `Batch item ${this.index} failed: ${text}`
  }
}
