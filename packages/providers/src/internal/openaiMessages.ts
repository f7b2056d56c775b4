/**
 * Messages in OpenAI's chat wire format, and the tool calls of its answers back as parts.
 *
 * A message whose content is a string is sent as a string. Parts become a content array of `text` and `image_url`
 * parts (a URL as it is, bytes as a `data:` URL); an assistant message's tool calls become `tool_calls`, and each
 * tool result a `tool` message with its `tool_call_id` (results found in a user message are sent as tool messages
 * before the rest of it). A system message's text parts are joined into one string, the form every compatible
 * server reads.
 *
 * @internal
 */
import { type InvalidRequest, Message } from "@capstan/core"
import { Result, Schema } from "effect"
import type OpenAISdk from "openai"
import { checkToolFlow, imageSource, imageUrl, misplaced, outputText, partName, refuse } from "./content.js"
import { nullish, trusted } from "./wire.js"

/** What the server takes besides the chat format itself. */
export interface Dialect {
  readonly provider: string
  /** False for servers that read images as bytes only (Ollama): an image by URL is refused before the request. */
  readonly imageUrls: boolean
}

/** The messages of a request body, and what was sent other than asked. */
export interface Mapped {
  readonly messages: Array<OpenAISdk.ChatCompletionMessageParam>
  readonly warnings: ReadonlyArray<string>
}

/** Maps a conversation to OpenAI chat messages, or refuses it before any request. */
export const toOpenAiMessages = (
  messages: ReadonlyArray<Message.Message>,
  dialect: Dialect
): Result.Result<Mapped, InvalidRequest> => {
  const out: Array<OpenAISdk.ChatCompletionMessageParam> = []
  const warnings: Array<string> = []
  for (let index = 0; index < messages.length; index++) {
    const problem = mapMessage(messages[index]!, index, dialect, out, warnings)
    if (problem !== undefined) return Result.fail(problem)
  }
  const flow = checkToolFlow(dialect.provider, messages)
  return flow === undefined ? Result.succeed({ messages: out, warnings }) : Result.fail(flow)
}

const mapMessage = (
  message: Message.Message,
  index: number,
  dialect: Dialect,
  out: Array<OpenAISdk.ChatCompletionMessageParam>,
  warnings: Array<string>
): InvalidRequest | undefined => {
  const { content, role } = message
  const fail = (problem: string) => refuse(dialect.provider, index, role, problem)
  if (typeof content === "string") {
    if (role === "tool") return fail("a tool message carries tool results; build it with Message.tool([...])")
    out.push({ role, content })
    return undefined
  }
  for (const part of content) {
    const where = misplaced(role, part)
    if (where !== undefined) return fail(`${partName[part._tag]} cannot go here: ${where}`)
  }
  switch (role) {
    case "system":
      out.push({ role, content: message.text })
      return undefined
    case "assistant": {
      const calls = content.filter((p): p is Message.ToolCallPart => p._tag === "ToolCall")
      out.push({
        role,
        // Text is sent even when empty: some compatible servers require `content` next to `tool_calls`.
        content: message.text,
        ...(calls.length === 0 ? {} : {
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: "function" as const,
            function: { name: call.name, arguments: JSON.stringify(call.input) }
          }))
        })
      })
      return undefined
    }
    case "tool":
    case "user": {
      const parts: Array<OpenAISdk.ChatCompletionContentPart> = []
      for (const part of content) {
        if (part._tag === "ToolResult") {
          out.push({ role: "tool", tool_call_id: part.id, content: outputText(part.output) })
          if (part.isError === true) {
            warnings.push(
              `messages[${index}]: tool result ${part.id} is an error, and ${dialect.provider} tool messages have no ` +
                "error flag; its output was sent alone (say in the output that the tool failed)"
            )
          }
        } else if (part._tag === "Text") {
          parts.push({ type: "text", text: part.text })
        } else if (part._tag === "Image") {
          const source = imageSource(part)
          if (typeof source === "string") return fail(source)
          if (source._tag === "Url" && !dialect.imageUrls) {
            return fail(
              `${dialect.provider} takes images as bytes only, not by URL; download the image and pass ` +
                "Message.imageBytes(bytes, mediaType)"
            )
          }
          parts.push({ type: "image_url", image_url: { url: imageUrl(source) } })
        }
      }
      if (parts.length > 0) out.push({ role: "user", content: parts })
      return undefined
    }
  }
}

/** Tool calls as OpenAI answers them: `function` calls with JSON arguments, or `custom` tools with text input. */
export const ToolCallsWire = nullish(Schema.Array(Schema.Struct({
  id: Schema.String,
  function: Schema.optional(Schema.Struct({ name: Schema.String, arguments: nullish(Schema.String) })),
  custom: Schema.optional(Schema.Struct({ name: Schema.String, input: nullish(Schema.String) }))
})))

/**
 * The tool calls of a choice as parts. Arguments that are not JSON (models do write such) are kept as their raw
 * text, with a warning, rather than failing an answer that may still be useful.
 */
export const toolCallsOf = (
  wire: typeof ToolCallsWire.Type,
  warnings: Array<string>
): ReadonlyArray<Message.ToolCallPart> | undefined => {
  if (wire === undefined || wire === null || wire.length === 0) return undefined
  const calls: Array<Message.ToolCallPart> = []
  for (const call of wire) {
    if (call.function !== undefined) {
      const input = argumentsOf(call.function.arguments ?? "")
      if (input === undefined) {
        warnings.push(`tool call ${call.id} (${call.function.name}): its arguments are not JSON; kept as text`)
      }
      calls.push(
        new Message.ToolCallPart({
          id: call.id,
          name: call.function.name,
          input: input ?? call.function.arguments ?? ""
        }, trusted)
      )
    } else if (call.custom !== undefined) {
      calls.push(
        new Message.ToolCallPart({ id: call.id, name: call.custom.name, input: call.custom.input ?? "" }, trusted)
      )
    }
  }
  return calls.length === 0 ? undefined : calls
}

const argumentsOf = (text: string): Schema.Json | undefined => {
  if (text.trim().length === 0) return {}
  try {
    return JSON.parse(text) as Schema.Json
  } catch {
    return undefined
  }
}
