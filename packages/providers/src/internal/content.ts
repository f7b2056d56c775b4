/**
 * What both wire formats check in a conversation before it is sent: where each kind of part may appear, what an
 * image is (a URL, or base64 bytes with their media type), and that tool calls and tool results pair up. A problem
 * is an `InvalidRequest` naming the message, what is wrong and how to fix it, raised before any request.
 *
 * @internal
 */
import { InvalidRequest, type Message } from "@capstan/core"
import type { Schema } from "effect"

/** A conversation that cannot be sent: where (the message's index) and what is wrong, with how to fix it. */
export const refuse = (provider: string, index: number, role: Message.Role, problem: string): InvalidRequest =>
  new InvalidRequest({ provider, detail: `messages[${index}] (${role}): ${problem}` })

/** How a part is named in a refusal. */
export const partName: Record<Message.Part["_tag"], string> = {
  Text: "a text part",
  Image: "an image",
  ToolCall: "a tool call",
  ToolResult: "a tool result"
}

/** Where a part may not go, and where it should go instead; `undefined` when the role takes it. */
export const misplaced = (role: Message.Role, part: Message.Part): string | undefined => {
  switch (part._tag) {
    case "Text":
      return role === "tool" ? "a tool message carries tool results only; put the text in a user message" : undefined
    case "Image":
      return role === "user" ? undefined : `${role} messages take no images; put the image in a user message`
    case "ToolCall":
      return role === "assistant"
        ? undefined
        : "tool calls are made by the model; they belong in an assistant message (the one whose answer made them)"
    case "ToolResult":
      return role === "tool" || role === "user"
        ? undefined
        : "a tool result answers a tool call; send it in a tool message (Message.tool([...])) after the call"
  }
}

/** An image as the wire formats take it. */
export type ImageSource =
  | { readonly _tag: "Url"; readonly url: string }
  | { readonly _tag: "Base64"; readonly data: string; readonly mediaType: string }

const dataUrl = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s

/**
 * The source of an image part, or what is wrong with it. A `data:` URL with base64 bytes is read as bytes, so
 * either form reaches a provider that takes only one of them.
 */
export const imageSource = (part: Message.ImagePart): ImageSource | string => {
  if (part.url !== undefined && part.data !== undefined) {
    return "an image has both a url and data; keep one"
  }
  if (part.url !== undefined) {
    const match = dataUrl.exec(part.url)
    return match === null ? { _tag: "Url", url: part.url } : { _tag: "Base64", data: match[3]!, mediaType: match[1]! }
  }
  if (part.data === undefined) return "an image needs a url, or data with its mediaType"
  if (part.mediaType === undefined || part.mediaType.length === 0) {
    return `an image given as data needs its mediaType; build it with Message.imageBytes(bytes, "image/png")`
  }
  return { _tag: "Base64", data: part.data, mediaType: part.mediaType }
}

/** The image as a URL: a base64 image becomes a `data:` URL. */
export const imageUrl = (source: ImageSource): string =>
  source._tag === "Url" ? source.url : `data:${source.mediaType};base64,${source.data}`

/** A tool's output as the text both wire formats carry: a string as it is, anything else as JSON. */
export const outputText = (output: Schema.Json): string => typeof output === "string" ? output : JSON.stringify(output)

/**
 * Checks that tool calls and results pair up as both APIs require: every result answers a call made by an earlier
 * assistant message and not answered yet, and every call is answered before the next assistant message (or the end
 * of the conversation).
 */
export const checkToolFlow = (
  provider: string,
  messages: ReadonlyArray<Message.Message>
): InvalidRequest | undefined => {
  // Calls made and not answered yet, by id, with the message that made them.
  const pending = new Map<string, { readonly index: number; readonly name: string }>()
  const answered = new Set<string>()
  const unanswered = (): InvalidRequest | undefined => {
    const first = pending.entries().next()
    if (first.done === true) return undefined
    const [id, call] = first.value
    return refuse(
      provider,
      call.index,
      "assistant",
      `tool call ${id} (${call.name}) has no result; add Message.tool([new Message.ToolResultPart({ id: "${id}", ... })]) ` +
        "right after this message"
    )
  }
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    if (message.role === "assistant") {
      const open = unanswered()
      if (open !== undefined) return open
    }
    if (typeof message.content === "string") continue
    for (const part of message.content) {
      if (part._tag === "ToolCall" && message.role === "assistant") {
        if (pending.has(part.id) || answered.has(part.id)) {
          return refuse(
            provider,
            index,
            message.role,
            `tool call id ${part.id} is used twice; each call needs its own id`
          )
        }
        pending.set(part.id, { index, name: part.name })
      } else if (part._tag === "ToolResult" && (message.role === "tool" || message.role === "user")) {
        if (pending.delete(part.id)) answered.add(part.id)
        else {
          return refuse(
            provider,
            index,
            message.role,
            answered.has(part.id)
              ? `tool call ${part.id} is answered twice; keep one result per call`
              : `the tool result ${part.id} (${part.name}) answers no tool call of an earlier assistant message; ` +
                "keep the assistant message that made the call, or fix the result's id"
          )
        }
      }
    }
  }
  return unanswered()
}
