/**
 * A chat: the messages sent, the messages generated, and everything needed to reproduce and account for
 * them (generator identifier, merged params, usage, stop reason, timing, and the typed error when it failed).
 *
 * @since 0.1.0
 */
import { Pipeable, Schema } from "effect"
import { dual } from "effect/Function"
import * as Errors from "./Errors.js"
import * as GenerateParams from "./GenerateParams.js"
import { StopReason } from "./Generation.js"
import * as Message from "./Message.js"
import * as Usage from "./Usage.js"
import { NonNegativeInt } from "./internal/numbers.js"

/**
 * The encoded (JSON) form of a {@link Chat}.
 *
 * @since 0.1.0
 */
export interface ChatEncoded {
  readonly messages: ReadonlyArray<typeof Message.Message.Encoded>
  readonly generated: ReadonlyArray<typeof Message.Message.Encoded>
  readonly metadata: { readonly [key: string]: Schema.Json }
  readonly generator: string
  readonly params: typeof GenerateParams.GenerateParams.Encoded
  readonly usage: typeof Usage.Usage.Encoded
  readonly stopReason: StopReason
  readonly startedAt: number
  readonly durationMs: number
  readonly attempts?: number
  readonly error?: Errors.ChatErrorEncoded
}

/**
 * A chat. `messages` are what was sent, `generated` what came back (one assistant message per generation
 * round, recovery rounds included unless dropped). `generator` is the identifier of the generator with its
 * merged params, secrets masked. A failed chat carries its typed `error`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Chat, Generator } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const chat = yield* Generator.chat("Hello")
 *   const json = Schema.encodeSync(Chat.Chat)(chat)
 *   return Schema.decodeSync(Chat.Chat)(json).last?.content
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export class Chat extends Schema.Class<Chat>("@capstan/core/Chat")({
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
  error: Schema.optionalKey(Schema.suspend((): Schema.Codec<Errors.ChatError, Errors.ChatErrorEncoded> => Errors.ChatError))
}) {
  /** Sent and generated messages, in order. */
  get all(): ReadonlyArray<Message.Message> {
    return [...this.messages, ...this.generated]
  }
  /** The last message of the chat, usually the assistant's answer. */
  get last(): Message.Message | undefined {
    return this.generated.at(-1) ?? this.messages.at(-1)
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

/** Chats are pipeable: `chat.pipe(Chat.withMetadata({ ... }), ChatPipeline.fork("..."))`. */
export interface Chat extends Pipeable.Pipeable {}
Chat.prototype.pipe = function(this: Chat) {
  return Pipeable.pipeArguments(this, arguments)
}

/**
 * The fields of a chat, as passed to its constructor.
 *
 * @since 0.1.0
 */
export type Fields = ConstructorParameters<typeof Chat>[0]

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
  (metadata: Readonly<Record<string, Schema.Json>>): (chat: Chat) => Chat
  (chat: Chat, metadata: Readonly<Record<string, Schema.Json>>): Chat
} = dual(2, (chat: Chat, metadata: Readonly<Record<string, Schema.Json>>): Chat =>
  new Chat({ ...chat, metadata: { ...chat.metadata, ...metadata } }))

/**
 * Encodes a chat to its JSON form.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * const text = JSON.stringify(Chat.encode(chat))
 * ```
 * @since 0.1.0
 */
export const encode: (chat: Chat) => ChatEncoded = Schema.encodeSync(Chat)

/**
 * Decodes a chat from its JSON form, failing with a `SchemaError` when it is not one.
 *
 * @example
 * ```ts
 * import { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * Chat.decode(JSON.parse(JSON.stringify(Chat.encode(chat))))
 * ```
 * @since 0.1.0
 */
export const decode = Schema.decodeUnknownEffect(Chat)
