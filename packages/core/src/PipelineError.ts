/**
 * The errors of pipelines and batches beyond the generator's own: answers that do not parse, callbacks that fail
 * or never stop continuing, mismatched batch shapes, a batch that stopped sending; and `ChatError`, everything a
 * failed chat can record.
 *
 * @since 0.2.0
 */
import { Data, Schema } from "effect"
import { InvalidParams, MissingApiKey } from "./ConfigError.js"
import { GenerationError } from "./GenerationError.js"

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
 * `untilParsedAs` ran out of rounds: how many generations were tried and the last parse error. The failed chat
 * itself records the error (and the dialog), so the error does not carry it.
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
  lastError: ParseError
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
 * `maxDepth` in `ChatPipeline.andThen(f, { maxDepth })`. With `step: "using"`: the model kept calling tools after
 * `maxDepth` rounds of tool calls (`ChatPipeline.using(toolkit, { maxDepth })`).
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
    return this.step === "using"
      ? `The model kept calling tools after maxDepth ${this.maxDepth} rounds of tool calls: raise using's maxDepth, or make the tools' results answer what the model asks`
      : `Pipeline step "${this.step}" nested deeper than maxDepth ${this.maxDepth}: the callback keeps continuing its chat; stop it, or raise maxDepth`
  }
}

const chatErrorUnion = Schema.Union([
  GenerationError,
  ParseError,
  ExhaustedMaxRounds,
  StepFailed,
  InvalidParams,
  MissingApiKey,
  MaxDepthExceeded
])

/**
 * Every error that can be recorded on a failed chat.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { type Chat, ChatError } from "@capstan/core"
 *
 * const why = (error: ChatError): string =>
 *   error._tag === "ExhaustedMaxRounds" ? error.lastError.reason : error.message
 * declare const chat: Chat.Chat
 * if (chat.error !== undefined) console.log(why(chat.error))
 * declare const json: unknown // the `error` of a chat's or a row's JSON form
 * why(Schema.decodeUnknownSync(ChatError)(json))
 * ```
 * @since 0.1.0
 */
export type ChatError = typeof chatErrorUnion.Type

/**
 * The encoded (JSON) form of a {@link ChatError}.
 *
 * @example
 * ```ts
 * import { Chat, type ChatErrorEncoded } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const recorded: ChatErrorEncoded | undefined = Chat.encodeSync(chat).error
 * recorded?._tag // "RateLimited", "ParseError", ...
 * ```
 * @since 0.1.0
 */
export type ChatErrorEncoded = typeof chatErrorUnion.Encoded

/**
 * The schema of {@link ChatError}.
 *
 * @since 0.1.0
 */
export const ChatError: Schema.Codec<ChatError, ChatErrorEncoded> = chatErrorUnion

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
 * Every error a pipeline's own steps can raise: the generator's, parse exhaustion after `untilParsedAs`, and
 * runaway `andThen` continuations. A pipeline's type holds the ones its steps can actually raise.
 *
 * @example
 * ```ts
 * import type { PipelineError } from "@capstan/core"
 *
 * const explain = (error: PipelineError): string =>
 *   error._tag === "ExhaustedMaxRounds" ? `no parsable answer in ${error.rounds} rounds` : error.message
 * ```
 * @since 0.1.0
 */
export type PipelineError = GenerationError | ExhaustedMaxRounds | MaxDepthExceeded

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
