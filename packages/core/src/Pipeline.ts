/**
 * The pipeline type both kinds share, and what its functions take and give: a `Pipeline<K, A, E, R>` of kind `K`
 * (chat or completion) runs to a `Chat<A>` (what its parse step read), fails with `E` (only what its steps can
 * raise) and needs `R`. The functions are `ChatPipeline`'s (`CompletionPipeline` exports the same ones).
 *
 * @since 0.2.0
 */
import type { Inspectable, Option, Pipeable, Schema, Types } from "effect"
import type * as Chat from "./Chat.js"
import type * as GenerateParams from "./GenerateParams.js"
import type { Service as GeneratorService } from "./internal/generator.js"
import type * as internal from "./internal/pipeline.js"
import { isPipeline as isPipelineValue, TypeId as TypeIdValue } from "./internal/pipeline.js"
import type * as Message from "./Message.js"
import type { BatchSizeMismatch, ItemFailed, MaxDepthExceeded } from "./PipelineError.js"

/**
 * @since 0.1.0
 */
export const TypeId: typeof internal.TypeId = TypeIdValue

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * The two kinds of pipeline: chat (a generator's `generate`) and completion (its `complete`).
 *
 * @example
 * ```ts
 * import { ChatPipeline, CompletionPipeline } from "@capstan/core"
 *
 * const kind: ChatPipeline.Kind = CompletionPipeline.make("Once upon a time").kind // "completion"
 * ```
 * @since 0.2.0
 */
export type Kind = internal.Kind

/**
 * A pipeline of either kind. `A` is what its runs parse (`Chat<A>`), `E` how they can fail, `R` what they need.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const describe = <K extends ChatPipeline.Kind>(pipeline: ChatPipeline.Pipeline<K, unknown, unknown, unknown>) =>
 *   `${pipeline.kind}: ${pipeline.messages.length} messages`
 * ```
 * @since 0.2.0
 */
export interface Pipeline<out K extends Kind, out A, out E, out R> extends Pipeable.Pipeable, Inspectable.Inspectable {
  readonly [TypeId]: {
    readonly _K: Types.Covariant<K>
    readonly _A: Types.Covariant<A>
    readonly _E: Types.Covariant<E>
    readonly _R: Types.Covariant<R>
  }
  readonly kind: K
  /** The messages every chat starts with (inputs are appended after them). */
  readonly messages: ReadonlyArray<Message.Message>
  /** The messages' text, concatenated: a completion pipeline's prompt. */
  readonly prompt: string
  /** The pipeline's params, merged over the generator's and under each item's. */
  readonly params: GenerateParams.GenerateParams
  /** Merged into the metadata of every chat. */
  readonly metadata: Readonly<Record<string, Schema.Json>>
  /** The generator bound with {@link withGenerator}, if any. */
  readonly generator: GeneratorService | undefined
}

/**
 * What a failure does: fail the run, skip the chat, or include it as a failed chat.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const onFailed: ChatPipeline.OnFailed = "include"
 * ```
 * @since 0.1.0
 */
export type OnFailed = internal.OnFailed

/**
 * Options of {@link run}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.RunOptions = { onFailed: "skip" } // run answers an Option
 * ```
 * @since 0.1.0
 */
export interface RunOptions {
  /** Default `"fail"`. With `"skip"`, `run` answers an `Option`. */
  readonly onFailed?: OnFailed | undefined
}

/**
 * Options of {@link runMany}, {@link runBatch} and {@link stream}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.BatchOptions = { onFailed: "skip", concurrency: 8 }
 * const packed: ChatPipeline.BatchOptions = { promptsPerRequest: 4 } // completion pipelines
 * ```
 * @since 0.1.0
 */
export interface BatchOptions {
  /** Default `"fail"`. */
  readonly onFailed?: OnFailed | undefined
  /** How many items run at once, as a sliding window. Default 64. */
  readonly concurrency?: number | undefined
  /**
   * Completion pipelines only: send up to this many prompts in one request (batch-prompt's `queries_per_batch`;
   * OpenAI's legacy completions take a list of prompts). Prompts of items in flight at once, with the same params,
   * are packed together; each still gets its own chat, with its share of the request's usage (input by prompt
   * length, output by answer length; the sums stay exact) and `metadata.packed = { prompts, position }`. The request
   * goes through the engine as one (one limiter turn, retried whole; its attempts count on position 0), and when it
   * fails, every prompt in it fails. A generator that takes one prompt per request sends each alone and says so in
   * the chat's warnings. Default 1 (no packing); a chat pipeline refuses it (`InvalidParams`).
   */
  readonly promptsPerRequest?: number | undefined
}

/**
 * Options of {@link runBatch} and {@link stream}: {@link BatchOptions}, and the params of the items.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.RunBatchOptions = { params: [{ temperature: 0.2 }, { temperature: 0.8 }], concurrency: 8 }
 * ```
 * @since 0.2.0
 */
export interface RunBatchOptions extends BatchOptions {
  /**
   * One set of params for every input, or a list paired with the inputs: equal lengths pair up, a list of length
   * 1 is broadcast over the other (rigging's rule). It pairs, it does not cross: for every input × every set, see
   * `Dataset.cross`.
   */
  readonly params?: BatchParams | undefined
}

/**
 * The inputs of a batch: a list of inputs, each a string (one user message), a message, or a conversation. A
 * single string or message is one input, never split. (A completion pipeline appends each input's text to its
 * prompt.)
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const one: ChatPipeline.BatchInputs = "a single input, not split"
 * const three: ChatPipeline.BatchInputs = ["a", "b", [{ role: "system", content: "Be brief." }, "c"]]
 * ```
 * @since 0.1.0
 */
export type BatchInputs = string | Message.Message | ReadonlyArray<Message.MessageInput>

/**
 * The params of a batch: one set (broadcast over every input) or a list (paired with the inputs).
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const temperatures: ChatPipeline.BatchParams = [0.2, 0.8].map((temperature) => ({ temperature }))
 * ```
 * @since 0.1.0
 */
export type BatchParams =
  | GenerateParams.GenerateParams
  | GenerateParams.Fields
  | ReadonlyArray<GenerateParams.GenerateParams | GenerateParams.Fields>

/**
 * A result of {@link stream}: a chat and the position of its input.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const describe = ({ index, chat }: ChatPipeline.Indexed<unknown>) => `#${index}: ${chat.text}`
 * ```
 * @since 0.1.0
 */
export interface Indexed<A> {
  readonly index: number
  readonly chat: Chat.Chat<A>
}

/**
 * Options of {@link andThen}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.AndThenOptions = { maxDepth: 3 }
 * ```
 * @since 0.1.0
 */
export interface AndThenOptions {
  /** How deep callbacks may keep continuing their chat before `MaxDepthExceeded`. Default 20. */
  readonly maxDepth?: number | undefined
}

/**
 * Options of {@link untilParsedAs}.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * const options: ChatPipeline.ParseOptions = { maxRounds: 3, attemptRecovery: true, dropDialog: true }
 * ```
 * @since 0.1.0
 */
export interface ParseOptions {
  /** Generations tried in all, the first included. Default 5. */
  readonly maxRounds?: number | undefined
  /**
   * Send the parse error back and ask again (default), or regenerate from the original context. A completion
   * pipeline always regenerates: a completion has no dialog to send an error back into.
   */
  readonly attemptRecovery?: boolean | undefined
  /** Keep only the final successful exchange, not the recovery dialog. Default false. */
  readonly dropDialog?: boolean | undefined
}

/**
 * What an `andThen` callback may answer: a replacement chat, a pipeline to run whose chat replaces it (e.g.
 * {@link continue}), or nothing to keep the chat.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { type Chat, ChatPipeline } from "@capstan/core"
 *
 * // Keep a short answer; ask for a shorter one otherwise.
 * const terse = (chat: Chat.Chat): Effect.Effect<ChatPipeline.AndThenResult> =>
 *   Effect.succeed(chat.text.length <= 80 ? undefined : ChatPipeline.continue(chat, "Shorter, please."))
 * ```
 * @since 0.1.0
 */
export type AndThenResult = Chat.Chat<unknown> | Pipeline<Kind, unknown, unknown, unknown> | void | undefined

/**
 * What a chat parses after an `andThen` callback answered `X`: the replacement's, the continued pipeline's, or
 * (for nothing) what it parsed before.
 *
 * @example
 * ```ts
 * import type { Chat, ChatPipeline } from "@capstan/core"
 *
 * type Kept = ChatPipeline.ParsedAfter<void, number> // number: the callback kept the chat
 * type Replaced = ChatPipeline.ParsedAfter<Chat.Chat<string>, number> // string
 * ```
 * @since 0.2.0
 */
export type ParsedAfter<X, A> = [X] extends [never] ? A
  : X extends Chat.Chat<infer B> ? B
  : X extends Pipeline<Kind, infer B, infer _E, infer _R> ? B
  : A

/**
 * The errors a continued pipeline adds: its own, and `MaxDepthExceeded` for callbacks that keep continuing.
 *
 * @example
 * ```ts
 * import type { ChatPipeline } from "@capstan/core"
 *
 * type E = ChatPipeline.ContinueError<ChatPipeline.ChatPipeline> // GenerationError | MaxDepthExceeded
 * type None = ChatPipeline.ContinueError<void> // never: keeping the chat adds no error
 * ```
 * @since 0.2.0
 */
export type ContinueError<X> = X extends Pipeline<Kind, infer _A, infer E, infer _R> ? E | MaxDepthExceeded : never

/**
 * The services a continued pipeline needs.
 *
 * @example
 * ```ts
 * import type { ChatPipeline } from "@capstan/core"
 *
 * type R = ChatPipeline.ContinueContext<ChatPipeline.ChatPipeline> // Generator
 * type None = ChatPipeline.ContinueContext<void> // never
 * ```
 * @since 0.2.0
 */
export type ContinueContext<X> = X extends Pipeline<Kind, infer _A, infer _E, infer R> ? R : never

/**
 * What {@link run} answers: the chat, an `Option` of it under `onFailed: "skip"`, and under `"include"` a chat that
 * may have failed (and then parsed nothing).
 *
 * @example
 * ```ts
 * import type { ChatPipeline } from "@capstan/core"
 *
 * type Skipped = ChatPipeline.RunResult<{ onFailed: "skip" }, string> // Option<Chat<string>>
 * type Included = ChatPipeline.RunResult<{ onFailed: "include" }, string> // Chat<string | undefined>
 * ```
 * @since 0.1.0
 */
export type RunResult<O, A> = O extends { readonly onFailed: "skip" } ? Option.Option<Chat.Chat<A>>
  : O extends { readonly onFailed: "include" } ? Chat.Chat<A | undefined>
  : Chat.Chat<A>

/**
 * How a run fails: under `onFailed: "fail"` (the default) with the pipeline's error; never otherwise.
 *
 * @example
 * ```ts
 * import type { ChatPipeline, GenerationError } from "@capstan/core"
 *
 * type Fails = ChatPipeline.RunError<{}, GenerationError> // GenerationError
 * type Never = ChatPipeline.RunError<{ onFailed: "include" }, GenerationError> // never
 * ```
 * @since 0.1.0
 */
export type RunError<O, E> = O extends { readonly onFailed: "skip" | "include" } ? never : E

/**
 * What a batch gives per input: the chat, which under `onFailed: "include"` may have failed.
 *
 * @example
 * ```ts
 * import type { ChatPipeline } from "@capstan/core"
 *
 * type Row = ChatPipeline.BatchChat<{ onFailed: "include" }, number> // Chat<number | undefined>: check `failed`
 * ```
 * @since 0.2.0
 */
export type BatchChat<O, A> = O extends { readonly onFailed: "include" } ? Chat.Chat<A | undefined> : Chat.Chat<A>

/**
 * How a batch fails: under `onFailed: "fail"` with the first failing item's error wrapped in `ItemFailed` (or a
 * failing `map` step's); never otherwise.
 *
 * @example
 * ```ts
 * import type { ChatPipeline, GenerationError } from "@capstan/core"
 *
 * type Fails = ChatPipeline.BatchError<{}, GenerationError> // ItemFailed<GenerationError> | GenerationError
 * type Never = ChatPipeline.BatchError<{ onFailed: "skip" }, GenerationError> // never
 * ```
 * @since 0.1.0
 */
export type BatchError<O, E> = O extends { readonly onFailed: "skip" | "include" } ? never : ItemFailed<E> | E

/**
 * `BatchSizeMismatch` when a batch is given a list of params, which may not pair with its inputs; never otherwise.
 *
 * @example
 * ```ts
 * import type { ChatPipeline, GenerateParams } from "@capstan/core"
 *
 * type Paired = ChatPipeline.PairingError<{ params: ReadonlyArray<GenerateParams.Fields> }> // BatchSizeMismatch
 * type Broadcast = ChatPipeline.PairingError<{ params: GenerateParams.Fields }> // never: one set fits every input
 * ```
 * @since 0.2.0
 */
export type PairingError<O> = O extends { readonly params: ReadonlyArray<unknown> } ? BatchSizeMismatch : never

/**
 * True for a pipeline of either kind.
 *
 * @example
 * ```ts
 * import { ChatPipeline } from "@capstan/core"
 *
 * ChatPipeline.isPipeline(ChatPipeline.make("Hi")) // true
 * ```
 * @since 0.2.0
 */
export const isPipeline = (u: unknown): u is Pipeline<Kind, unknown, unknown, unknown> => isPipelineValue(u)
