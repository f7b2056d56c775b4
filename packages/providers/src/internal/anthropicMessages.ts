/**
 * Messages in Anthropic's Messages format, and the tool calls of its answers back as parts.
 *
 * System messages are lifted to `system` (their text, joined by a blank line). The rest alternate user and
 * assistant turns: a string content stays a string; parts become `text`, `image` (a `url` source, or `base64` with
 * its `media_type`), `tool_use` (assistant) and `tool_result` blocks (tool messages become user turns). Consecutive
 * turns of one role are merged into one, as the API requires, with the `tool_result` blocks first, where the API
 * looks for them.
 *
 * @internal
 */
import type AnthropicSdk from "@anthropic-ai/sdk"
import { type InvalidRequest, Message } from "@capstan/core"
import { Result } from "effect"
import { checkToolFlow, imageSource, misplaced, outputText, partName, refuse } from "./content.js"
import { trusted } from "./wire.js"

/** The image media types the Messages API reads. */
const imageMediaTypes = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const

type MediaType = (typeof imageMediaTypes)[number]

const isMediaType = (mediaType: string): mediaType is MediaType =>
  (imageMediaTypes as ReadonlyArray<string>).includes(mediaType)

/** The `system` and `messages` of a request body. */
export interface Mapped {
  readonly system: string | undefined
  readonly messages: Array<AnthropicSdk.MessageParam>
}

type Block = AnthropicSdk.ContentBlockParam

/** Maps a conversation to Anthropic's system and turns, or refuses it before any request. */
export const toAnthropicMessages = (
  provider: string,
  messages: ReadonlyArray<Message.Message>
): Result.Result<Mapped, InvalidRequest> => {
  const system: Array<string> = []
  const turns: Array<AnthropicSdk.MessageParam> = []
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    const fail = (problem: string) => Result.fail(refuse(provider, index, message.role, problem))
    if (typeof message.content !== "string") {
      for (const part of message.content) {
        const where = misplaced(message.role, part)
        if (where !== undefined) return fail(`${partName[part._tag]} cannot go here: ${where}`)
      }
    }
    if (message.role === "system") {
      system.push(message.text)
      continue
    }
    if (message.role === "tool" && typeof message.content === "string") {
      return fail("a tool message carries tool results; build it with Message.tool([...])")
    }
    let content: string | Array<Block> = message.content as string
    if (typeof message.content !== "string") {
      const blocks = blocksOf(message.content)
      if (typeof blocks === "string") return fail(blocks)
      content = blocks
    }
    appendTurn(turns, message.role === "assistant" ? "assistant" : "user", content)
  }
  const flow = checkToolFlow(provider, messages)
  if (flow !== undefined) return Result.fail(flow)
  return Result.succeed({
    system: system.length === 0 ? undefined : system.join("\n\n"),
    messages: turns.map(resultsFirst)
  })
}

/** The blocks of a content, or what is wrong with one of its images. */
const blocksOf = (parts: ReadonlyArray<Message.Part>): Array<Block> | string => {
  const blocks: Array<Block> = []
  for (const part of parts) {
    switch (part._tag) {
      case "Text":
        // The API refuses empty text blocks; an empty part says nothing.
        if (part.text.length > 0) blocks.push({ type: "text", text: part.text })
        break
      case "Image": {
        const image = imageBlock(part)
        if (typeof image === "string") return image
        blocks.push(image)
        break
      }
      case "ToolCall":
        blocks.push({ type: "tool_use", id: part.id, name: part.name, input: part.input })
        break
      case "ToolResult":
        blocks.push({
          type: "tool_result",
          tool_use_id: part.id,
          content: outputText(part.output),
          ...(part.isError === true ? { is_error: true } : {})
        })
        break
    }
  }
  return blocks
}

const imageBlock = (part: Message.ImagePart): AnthropicSdk.ImageBlockParam | string => {
  const source = imageSource(part)
  if (typeof source === "string") return source
  if (source._tag === "Url") {
    return /^https?:/i.test(source.url)
      ? { type: "image", source: { type: "url", url: source.url } }
      : `an image URL must be http(s) (got "${source.url.slice(0, 40)}"); or pass the bytes with Message.imageBytes`
  }
  return isMediaType(source.mediaType)
    ? { type: "image", source: { type: "base64", media_type: source.mediaType, data: source.data } }
    : `the image's media type ${source.mediaType} is not one Anthropic reads (${
      imageMediaTypes.join(", ")
    }); convert it`
}

/** Adds a turn, merged into the previous one when it has the same role. */
const appendTurn = (
  turns: Array<AnthropicSdk.MessageParam>,
  role: "user" | "assistant",
  content: string | Array<Block>
) => {
  const last = turns.at(-1)
  if (last === undefined || last.role !== role) {
    turns.push({ role, content })
    return
  }
  turns[turns.length - 1] = { role, content: [...asBlocks(last.content), ...asBlocks(content)] }
}

const asBlocks = (content: string | Array<Block>): Array<Block> =>
  typeof content !== "string" ? content : content.length === 0 ? [] : [{ type: "text", text: content }]

/** A user turn's `tool_result` blocks go first: the API reads the results of the previous turn's calls there. */
const resultsFirst = (turn: AnthropicSdk.MessageParam): AnthropicSdk.MessageParam => {
  if (turn.role !== "user" || typeof turn.content === "string") return turn
  const results = turn.content.filter((block) => block.type === "tool_result")
  if (results.length === 0 || results.length === turn.content.length) return turn
  return { role: "user", content: [...results, ...turn.content.filter((block) => block.type !== "tool_result")] }
}

/** A content block of an answer, as far as Capstan reads it. */
export interface WireBlock {
  readonly type: string
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly input?: unknown
}

/** The tool calls of an answer as parts: its `tool_use` blocks, except the forced structured-output tool. */
export const toolCallsOf = (
  content: ReadonlyArray<WireBlock>,
  structuredTool: string | undefined
): ReadonlyArray<Message.ToolCallPart> | undefined => {
  const calls: Array<Message.ToolCallPart> = []
  for (const block of content) {
    if (block.type !== "tool_use" || block.name === undefined || block.name === structuredTool) continue
    calls.push(
      new Message.ToolCallPart(
        { id: block.id ?? "", name: block.name, input: (block.input ?? {}) },
        trusted
      )
    )
  }
  return calls.length === 0 ? undefined : calls
}
