/**
 * A chat: the messages sent, the messages generated, and everything needed to reproduce and account for
 * them (generator identifier, merged params, usage, stop reason, timing, and the typed error when it failed).
 *
 * @since 0.1.0
 */
import { type Effect, Pipeable, Schema } from "effect"
import { dual } from "effect/Function"
import * as GenerateParams from "./GenerateParams.js"
import { StopReason, TokenLogprob } from "./Generation.js"
import { NonNegativeInt } from "./internal/numbers.js"
import * as Message from "./Message.js"
import { ChatError } from "./PipelineError.js"
import * as Usage from "./Usage.js"

/**
 * A chat. `messages` are what was sent, `generated` what came back (one assistant message per generation
 * round, recovery rounds included unless dropped). `generator` is the identifier of the generator with its
 * merged params, secrets masked. `parsed` is what a pipeline's parse step read from the answer, typed by the
 * pipeline (`Chat<A>`): after `untilParsedAs(model)` it is the model's value. A failed chat carries its typed
 * `error`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ChatPipeline, Generator, Model } from "@capstan/core"
 *
 * const Sentiment = Model.json(Schema.Struct({ sentiment: Schema.Literals(["positive", "negative"]) }))
 * const program = Effect.gen(function*() {
 *   const chat = yield* ChatPipeline.make("Great coffee!").pipe(ChatPipeline.untilParsedAs(Sentiment), ChatPipeline.run())
 *   return chat.parsed.sentiment // "positive" | "negative"
 * }).pipe(Effect.provide(Generator.layer("mock!demo")))
 * ```
 * @since 0.1.0
 */
export class Chat<out A = unknown> extends Schema.Class<Chat<unknown>>("@capstan/core/Chat")({
  messages: Schema.Array(Message.Message),
  generated: Schema.Array(Message.Message),
  metadata: Schema.Record(Schema.String, Schema.Json),
  generator: Schema.String,
  params: GenerateParams.GenerateParams,
  usage: Usage.Usage,
  stopReason: StopReason,
  startedAt: Schema.Finite,
  durationMs: Schema.Finite,
  /** Requests sent for this chat, retries and recovery rounds included (unset when nothing counted them). */
  attempts: Schema.optionalKey(NonNegativeInt),
  /** The parsed value of the last answer, when the pipeline parses (its JSON form when encoded). */
  parsed: Schema.optionalKey(Schema.Unknown),
  /** What the generator did not do as asked without failing (params it does not take, ...). */
  warnings: Schema.optionalKey(Schema.Array(Schema.String)),
  /** The log probabilities of the last answer's tokens, when the params asked for them (`logprobs`, `topLogprobs`). */
  logprobs: Schema.optionalKey(Schema.Array(TokenLogprob)),
  error: Schema.optionalKey(ChatError)
}) {
  declare readonly parsed: A
  /** Sent and generated messages, in order. */
  get all(): ReadonlyArray<Message.Message> {
    return [...this.messages, ...this.generated]
  }
  /** The last message of the chat, usually the assistant's answer. */
  get last(): Message.Message | undefined {
    return this.generated.at(-1) ?? this.messages.at(-1)
  }
  /** The text of the last message. */
  get text(): string {
    return this.last?.text ?? ""
  }
  /** True when the chat carries an error. */
  get failed(): boolean {
    return this.error !== undefined
  }
  /** The whole chat as `[role]: content` lines. */
  get conversation(): string {
    return Message.render(this.all)
  }
}

/**
 * The encoded (JSON) form of a {@link Chat}.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const json: Chat.ChatEncoded = Chat.encodeSync(chat)
 * json.generated.map((message) => message.role) // ["assistant"]
 * ```
 * @since 0.1.0
 */
export type ChatEncoded = typeof Chat.Encoded

/** Chats are pipeable: `chat.pipe(Chat.withMetadata({ ... }), ChatPipeline.fork("..."))`. */
export interface Chat extends Pipeable.Pipeable {}
Chat.prototype.pipe = function(this: Chat) {
  return Pipeable.pipeArguments(this, arguments)
}

/**
 * The fields of a chat, as passed to its constructor.
 *
 * @example
 * ```ts
 * import { Chat, GenerateParams, Message, Usage } from "@capstan/core"
 *
 * const fields: Chat.Fields = {
 *   messages: [Message.user("Hi")],
 *   generated: [Message.assistant("Hello!")],
 *   metadata: {},
 *   generator: "mock!echo",
 *   params: GenerateParams.empty,
 *   usage: Usage.empty,
 *   stopReason: "stop",
 *   startedAt: Date.now(),
 *   durationMs: 12
 * }
 * new Chat.Chat(fields).text // "Hello!"
 * ```
 * @since 0.1.0
 */
export type Fields = ConstructorParameters<typeof Chat>[0]

/**
 * A chat whose parse step read an `A` from its answer.
 *
 * @example
 * ```ts
 * import type { Chat } from "@capstan/core"
 *
 * const label = (chat: Chat.Parsed<{ readonly sentiment: "positive" | "negative" }>) => chat.parsed.sentiment
 * ```
 * @since 0.2.0
 */
export type Parsed<A> = Chat<A>

/**
 * Renders a chat as `[role]: content` lines.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * console.log(Chat.conversation(chat))
 * ```
 * @since 0.1.0
 */
export const conversation = (chat: Chat): string => chat.conversation

/**
 * A chat with metadata merged in (new keys win).
 *
 * @example
 * ```ts
 * import { pipe } from "effect"
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * pipe(chat, Chat.withMetadata({ reviewed: true })).metadata.reviewed // true
 * ```
 * @since 0.1.0
 */
export const withMetadata: {
  (metadata: Readonly<Record<string, Schema.Json>>): <A>(chat: Chat<A>) => Chat<A>
  <A>(chat: Chat<A>, metadata: Readonly<Record<string, Schema.Json>>): Chat<A>
} = dual(
  2,
  <A>(chat: Chat<A>, metadata: Readonly<Record<string, Schema.Json>>): Chat<A> =>
    new Chat({ ...chat, metadata: { ...chat.metadata, ...metadata } })
)

/**
 * Encodes a chat to its JSON form (a parsed value is kept as it is: its model's JSON form for the values models
 * parse, such as objects, lists, strings, numbers and booleans). Fails with a `SchemaError` when it is not a chat.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const text = Effect.map(Chat.encode(chat), (json) => JSON.stringify(json))
 * ```
 * @since 0.1.0
 */
export const encode: (chat: Chat<unknown>) => Effect.Effect<ChatEncoded, Schema.SchemaError> = Schema.encodeEffect(Chat)

/**
 * Decodes a chat from its JSON form, failing with a `SchemaError` that says what does not fit. `decode(encode(c))`
 * gives a chat equal to `c`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const roundTrip = Effect.flatMap(Chat.encode(chat), Chat.decode)
 * ```
 * @since 0.1.0
 */
export const decode: (json: unknown) => Effect.Effect<Chat, Schema.SchemaError> = Schema.decodeUnknownEffect(Chat)

/**
 * {@link encode}, synchronously: throws the `SchemaError`.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * JSON.stringify(Chat.encodeSync(chat))
 * ```
 * @since 0.2.0
 */
export const encodeSync: (chat: Chat<unknown>) => ChatEncoded = Schema.encodeSync(Chat)

/**
 * {@link decode}, synchronously: throws the `SchemaError`.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const json: unknown
 * Chat.decodeSync(json).text
 * ```
 * @since 0.2.0
 */
export const decodeSync: (json: unknown) => Chat = Schema.decodeUnknownSync(Chat)
