/**
 * Completion pipelines: the same as `ChatPipeline`, for plain-text completion (a generator's `complete`), run by
 * the same engine with the same steps, failure policy, batching and streaming: every function from `withParams` to
 * `stream` (and `withCache`) is `ChatPipeline`'s own, exported here too. Only how a pipeline starts and continues differs.
 *
 * A completion is recorded as a `Chat` whose one sent message holds the prompt and whose generated message holds
 * the completion: {@link prompt} and {@link text} read them back. Each input of a batch is appended to the
 * pipeline's prompt as text. `untilParsedAs` regenerates from the prompt on a parse failure (a completion has no
 * dialog to send an error back into). A generator without completions (Anthropic) fails with `Unsupported` before
 * any request. Batches (`runBatch`, `runMany`, `stream`, and `Batch` over a completion pipeline) can send several
 * items' prompts in one request with `promptsPerRequest` (batch-prompt's `queries_per_batch`), each still its own
 * chat with its share of the usage.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Chat from "./Chat.js"
import type { GenerationError } from "./GenerationError.js"
import type * as Generator from "./Generator.js"
import * as internal from "./internal/pipeline.js"
import * as Message from "./Message.js"
import type { Pipeline } from "./Pipeline.js"

export {
  andThen,
  type AndThenOptions,
  type AndThenResult,
  type BatchChat,
  type BatchError,
  type BatchInputs,
  type BatchOptions,
  type BatchParams,
  type ContinueContext,
  type ContinueError,
  type Indexed,
  isPipeline,
  type Kind,
  map,
  meta,
  type OnFailed,
  type PairingError,
  type ParsedAfter,
  type ParseOptions,
  type Pipeline,
  run,
  runBatch,
  type RunBatchOptions,
  type RunError,
  runMany,
  type RunOptions,
  type RunResult,
  stream,
  TypeId,
  untilParsedAs,
  withCache,
  withGenerator,
  withParams,
  wrap
} from "./ChatPipeline.js"

/**
 * A completion pipeline: runs to a `Chat<A>` holding the prompt and its completion, fails with `E`, needs `R`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CompletionPipeline, Generator } from "@capstan/core"
 *
 * const chat = CompletionPipeline.make("Once upon a time").pipe(
 *   CompletionPipeline.withParams({ maxTokens: 50 }),
 *   CompletionPipeline.run(),
 *   Effect.provide(Generator.layer("mock!echo"))
 * )
 * ```
 * @since 0.1.0
 */
export type CompletionPipeline<A = undefined, E = GenerationError, R = Generator.Generator> = Pipeline<
  "completion",
  A,
  E,
  R
>

const toPublic = (pipeline: internal.Pipeline): CompletionPipeline => pipeline as unknown as CompletionPipeline

const promptMessages = (text: string): ReadonlyArray<Message.Message> => text.length === 0 ? [] : [Message.user(text)]

/**
 * True for a completion pipeline.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.isCompletionPipeline(CompletionPipeline.make("x")) // true
 * ```
 * @since 0.1.0
 */
export const isCompletionPipeline = (u: unknown): u is CompletionPipeline<unknown, unknown, unknown> =>
  internal.isPipeline(u) && u.kind === "completion"

/**
 * A pipeline completing this prompt (empty to take the whole prompt from the inputs of a batch).
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.make("Translate to French: ").messages[0]?.text // "Translate to French: "
 * ```
 * @since 0.1.0
 */
export const make = (prompt: string = ""): CompletionPipeline =>
  toPublic(internal.make("completion", promptMessages(prompt)))

/**
 * Appends text to the prompt.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 *
 * CompletionPipeline.make("foo").pipe(CompletionPipeline.add("bar")).messages.length // 2
 * ```
 * @since 0.1.0
 */
export const add: {
  (text: string): <A, E, R>(self: CompletionPipeline<A, E, R>) => CompletionPipeline<A, E, R>
  <A, E, R>(self: CompletionPipeline<A, E, R>, text: string): CompletionPipeline<A, E, R>
} = dual(
  2,
  <A, E, R>(self: CompletionPipeline<A, E, R>, text: string): CompletionPipeline<A, E, R> =>
    internal.update(self as unknown as internal.Pipeline, {
      messages: [...self.messages, ...promptMessages(text)]
    }) as unknown as CompletionPipeline<A, E, R>
)

/**
 * The prompt of a completion's chat.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * CompletionPipeline.prompt(chat)
 * ```
 * @since 0.1.0
 */
export const prompt = (chat: Chat.Chat<unknown>): string => internal.promptOf(chat.messages)

/**
 * The completed text (the last generation; the empty string for a completion that failed before one).
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * CompletionPipeline.text(chat)
 * ```
 * @since 0.1.0
 */
export const text = (chat: Chat.Chat<unknown>): string => chat.generated.at(-1)?.text ?? ""

/**
 * A new pipeline from a completion's prompt (its completion dropped), plus optional text.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const again = CompletionPipeline.fork(chat)
 * ```
 * @since 0.1.0
 */
export const fork: {
  (text?: string): (chat: Chat.Chat<unknown>) => CompletionPipeline
  (chat: Chat.Chat<unknown>, text?: string): CompletionPipeline
} = dual(
  (args) => args[0] instanceof Chat.Chat,
  (chat: Chat.Chat, text: string = ""): CompletionPipeline =>
    toPublic(internal.fromChat("completion", chat, promptMessages(prompt(chat) + text)))
)

/**
 * A new pipeline that continues a completion: prompt, completion, then `text`. Exported as `continue`.
 *
 * @example
 * ```ts
 * import { CompletionPipeline } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const next = CompletionPipeline.continue(chat, "\n\nChapter 2:")
 * ```
 * @since 0.1.0
 */
const continue_: {
  (text: string): (chat: Chat.Chat<unknown>) => CompletionPipeline
  (chat: Chat.Chat<unknown>, text: string): CompletionPipeline
} = dual(
  2,
  (chat: Chat.Chat, text: string): CompletionPipeline =>
    toPublic(internal.fromChat("completion", chat, promptMessages(internal.promptOf(chat.all) + text)))
)

export { continue_ as continue }
