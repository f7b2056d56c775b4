/**
 * Chat messages: the unit every generator reads and writes. A message's content is text, or a list of parts: text,
 * images (a URL, or bytes with their media type), the model's tool calls and the results sent back for them.
 * Providers map the parts to their wire formats; a part a provider cannot take is refused before the request.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The role of a message's author. `tool` messages carry the results of tool calls.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Message } from "@capstan/core"
 *
 * const role: Message.Role = "tool"
 * Schema.is(Message.Role)("developer") // false
 * ```
 * @since 0.1.0
 */
export const Role = Schema.Literals(["system", "user", "assistant", "tool"])

/**
 * @since 0.1.0
 */
export type Role = typeof Role.Type

/**
 * A text part.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * new Message.TextPart({ text: "Describe this picture." })
 * ```
 * @since 0.2.0
 */
export class TextPart extends Schema.TaggedClass<TextPart>()("Text", {
  text: Schema.String
}) {}

/**
 * An image, by URL (`https:` or a `data:` URL) or as base64 bytes with their media type.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * new Message.ImagePart({ url: "https://example.com/cat.png" })
 * Message.imageBytes(new Uint8Array([137, 80, 78, 71]), "image/png")
 * ```
 * @since 0.2.0
 */
export class ImagePart extends Schema.TaggedClass<ImagePart>()("Image", {
  url: Schema.optionalKey(Schema.String),
  /** Base64 bytes, with `mediaType`. */
  data: Schema.optionalKey(Schema.String),
  mediaType: Schema.optionalKey(Schema.String)
}) {}

/**
 * A tool call made by the model: the call's id, the tool's name and its input.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * new Message.ToolCallPart({ id: "call_1", name: "weather", input: { city: "Lyon" } })
 * ```
 * @since 0.2.0
 */
export class ToolCallPart extends Schema.TaggedClass<ToolCallPart>()("ToolCall", {
  id: Schema.String,
  name: Schema.String,
  input: Schema.Json
}) {}

/**
 * The result of a tool call, sent back to the model (`isError` when the tool failed).
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * new Message.ToolResultPart({ id: "call_1", name: "weather", output: { celsius: 21 } })
 * ```
 * @since 0.2.0
 */
export class ToolResultPart extends Schema.TaggedClass<ToolResultPart>()("ToolResult", {
  id: Schema.String,
  name: Schema.String,
  output: Schema.Json,
  isError: Schema.optionalKey(Schema.Boolean)
}) {}

/**
 * One part of a message's content.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const texts = (parts: ReadonlyArray<Message.Part>) =>
 *   parts.flatMap((part) => (part._tag === "Text" ? [part.text] : []))
 * texts(Message.user("Hi").parts) // ["Hi"]
 * ```
 * @since 0.2.0
 */
export const Part = Schema.Union([TextPart, ImagePart, ToolCallPart, ToolResultPart])

/**
 * @since 0.2.0
 */
export type Part = typeof Part.Type

/**
 * One message of a conversation. `content` is text, or a list of {@link Part}s; `text` is its text either way.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const m = new Message.Message({ role: "user", content: "Hello" })
 * Message.user("Hello").text === m.text // true
 * Message.user([new Message.TextPart({ text: "What is this?" }), new Message.ImagePart({ url: "https://example.com/x.png" })]).text
 * // "What is this?"
 * ```
 * @since 0.1.0
 */
export class Message extends Schema.Class<Message>("@capstan/core/Message")({
  role: Role,
  content: Schema.Union([Schema.String, Schema.Array(Part)])
}) {
  /** The text of the message: its content, or its text parts joined. */
  get text(): string {
    return typeof this.content === "string" ? this.content : textOf(this.content)
  }
  /** The content as parts (a text content is one text part). */
  get parts(): ReadonlyArray<Part> {
    return typeof this.content === "string" ? [new TextPart({ text: this.content })] : this.content
  }
  /** `[role]: content`, the line a conversation is rendered with (parts other than text shown in brackets). */
  override toString(): string {
    return `[${this.role}]: ${
      typeof this.content === "string" ? this.content : this.content.map(describePart).join("")
    }`
  }
}

const textOf = (parts: ReadonlyArray<Part>): string => {
  let text = ""
  for (const part of parts) if (part._tag === "Text") text += part.text
  return text
}

const describePart = (part: Part): string => {
  switch (part._tag) {
    case "Text":
      return part.text
    case "Image":
      return `[image ${part.url ?? part.mediaType ?? ""}]`
    case "ToolCall":
      return `[tool call ${part.id}: ${part.name}(${JSON.stringify(part.input)})]`
    case "ToolResult":
      return `[tool result ${part.id}${part.isError === true ? " (error)" : ""}: ${JSON.stringify(part.output)}]`
  }
}

/**
 * What a message's content may be given as: text, or a list of parts.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const content: Message.Content = [
 *   new Message.TextPart({ text: "What is in this picture?" }),
 *   new Message.ImagePart({ url: "https://example.com/cat.png" })
 * ]
 * Message.user(content).text // "What is in this picture?"
 * ```
 * @since 0.2.0
 */
export type Content = string | ReadonlyArray<Part>

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
export const system = (content: Content): Message => new Message({ role: "system", content })

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
export const user = (content: Content): Message => new Message({ role: "user", content })

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
export const assistant = (content: Content): Message => new Message({ role: "assistant", content })

/**
 * A tool message: the results of the model's tool calls.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * Message.tool([new Message.ToolResultPart({ id: "call_1", name: "weather", output: { celsius: 21 } })]).role // "tool"
 * ```
 * @since 0.2.0
 */
export const tool = (results: ReadonlyArray<ToolResultPart>): Message => new Message({ role: "tool", content: results })

/**
 * An image part from bytes, kept as base64 with its media type.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const photo = Message.imageBytes(new Uint8Array([255, 216, 255]), "image/jpeg")
 * Message.user([new Message.TextPart({ text: "What is in it?" }), photo])
 * ```
 * @since 0.2.0
 */
export const imageBytes = (bytes: Uint8Array, mediaType: string): ImagePart =>
  new ImagePart({ data: base64Of(bytes), mediaType })

// `btoa` takes a binary string; built in chunks so large images do not overflow the argument list.
const base64Of = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/**
 * Anything that reads as messages: a string (one user message), a message, a `{ role, content }`
 * object, or a list of those.
 *
 * @example
 * ```ts
 * import { Message } from "@capstan/core"
 *
 * const input: Message.MessageInput = [{ role: "system", content: "Be brief." }, "Hi"]
 * Message.fromInput(input).map((m) => m.role) // ["system", "user"]
 * ```
 * @since 0.1.0
 */
export type MessageInput =
  | string
  | Message
  | { readonly role: Role; readonly content: Content }
  | ReadonlyArray<string | Message | { readonly role: Role; readonly content: Content }>

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
  const one = (item: string | Message | { readonly role: Role; readonly content: Content }): Message =>
    typeof item === "string" ? user(item) : item instanceof Message ? item : new Message(item)
  return typeof input === "string" || !Array.isArray(input)
    ? [one(input as string | Message | { readonly role: Role; readonly content: Content })]
    : (input as ReadonlyArray<string | Message | { readonly role: Role; readonly content: Content }>).map(one)
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
