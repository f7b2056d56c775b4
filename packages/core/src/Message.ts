/**
 * Chat messages: the unit every generator reads and writes.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The role of a message's author.
 *
 * @since 0.1.0
 */
export const Role = Schema.Literals(["system", "user", "assistant"])

/**
 * @since 0.1.0
 */
export type Role = typeof Role.Type

/**
 * One message of a conversation.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const m = new Message.Message({ role: "user", content: "Hello" })
 * Message.user("Hello").content === m.content // true
 * ```
 * @since 0.1.0
 */
export class Message extends Schema.Class<Message>("@capstan/core/Message")({
  role: Role,
  content: Schema.String
}) {
  /** `[role]: content`, the line a conversation is rendered with. */
  override toString(): string {
    return `[${this.role}]: ${this.content}`
  }
}

/**
 * A system message.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.system("You are terse.").role // "system"
 * ```
 * @since 0.1.0
 */
export const system = (content: string): Message => new Message({ role: "system", content })

/**
 * A user message.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.user("Hi").role // "user"
 * ```
 * @since 0.1.0
 */
export const user = (content: string): Message => new Message({ role: "user", content })

/**
 * An assistant message.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.assistant("Hello!").role // "assistant"
 * ```
 * @since 0.1.0
 */
export const assistant = (content: string): Message => new Message({ role: "assistant", content })

/**
 * Anything that reads as messages: a string (one user message), a message, a `{ role, content }`
 * object, or a list of those.
 *
 * @since 0.1.0
 */
export type MessageInput =
  | string
  | Message
  | { readonly role: Role; readonly content: string }
  | ReadonlyArray<string | Message | { readonly role: Role; readonly content: string }>

/**
 * Normalizes a {@link MessageInput} to a list of messages. A plain string is one user message,
 * never split into characters.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.fromInput("Hi").length // 1
 * Message.fromInput([{ role: "system", content: "Be brief" }, "Hi"]).map((m) => m.role) // ["system", "user"]
 * ```
 * @since 0.1.0
 */
export const fromInput = (input: MessageInput): ReadonlyArray<Message> => {
  const one = (item: string | Message | { readonly role: Role; readonly content: string }): Message =>
    typeof item === "string" ? user(item) : item instanceof Message ? item : new Message(item)
  return typeof input === "string" || !Array.isArray(input)
    ? [one(input as string | Message | { readonly role: Role; readonly content: string })]
    : (input as ReadonlyArray<string | Message | { readonly role: Role; readonly content: string }>).map(one)
}

/**
 * Renders messages as `[role]: content` lines.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.render([Message.user("Hi"), Message.assistant("Hello")]) // "[user]: Hi\n\n[assistant]: Hello"
 * ```
 * @since 0.1.0
 */
export const render = (messages: ReadonlyArray<Message>): string => messages.map((m) => m.toString()).join("\n\n")
