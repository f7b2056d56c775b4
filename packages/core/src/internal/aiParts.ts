/**
 * What effect/ai and Capstan say to a model and hear back, translated both ways: prompts and messages (text,
 * images, tool calls and their results), tool definitions and tool choices, finish reasons and usage, and the
 * response parts of a generation, whole or streamed.
 *
 * @internal
 */
import { Result, type Schema } from "effect"
import * as AiError from "effect/ai/AiError"
import type * as LanguageModel from "effect/ai/LanguageModel"
import type * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Tool from "effect/ai/Tool"
import * as Generation from "../Generation.js"
import { Unsupported } from "../GenerationError.js"
import * as Message from "../Message.js"
import * as Usage from "../Usage.js"
import { json as jsonModel } from "./jsonModel.js"

// --- effect/ai to Capstan ---------------------------------------------------------------------------------------

/** The request's content an effect/ai prompt cannot be sent as: the user is told what and where. */
const invalidInput = (description: string): AiError.AiErrorReason => new AiError.InvalidUserInputError({ description })

const base64Of = (bytes: Uint8Array): string => Message.imageBytes(bytes, "application/octet-stream").data ?? ""

/** An effect/ai file part as a Capstan image; other files have no Capstan part. */
const imageOf = (part: Prompt.FilePart, where: string): Result.Result<Message.ImagePart, AiError.AiErrorReason> => {
  if (!part.mediaType.startsWith("image/")) {
    return Result.fail(invalidInput(
      `${where} holds a file of type ${part.mediaType}: Capstan messages carry images only (image/*)`
    ))
  }
  const data = part.data
  if (data instanceof URL) return Result.succeed(new Message.ImagePart({ url: data.href, mediaType: part.mediaType }))
  if (typeof data === "string") {
    return Result.succeed(
      /^(https?|data):/i.test(data)
        ? new Message.ImagePart({ url: data, mediaType: part.mediaType })
        : new Message.ImagePart({ data, mediaType: part.mediaType })
    )
  }
  return Result.succeed(new Message.ImagePart({ data: base64Of(data), mediaType: part.mediaType }))
}

/** One text part is plain text content: the form every provider sends as it is. */
const contentOf = (parts: ReadonlyArray<Message.Part>): Message.Content =>
  parts.length === 1 && parts[0]!._tag === "Text" ? parts[0]!.text : parts

/**
 * An effect/ai prompt as Capstan messages. Reasoning, provider-executed tool results and tool approvals have no
 * Capstan part and are left out (a model reads its own reasoning only within one turn).
 */
export const messagesOf = (
  prompt: Prompt.Prompt
): Result.Result<ReadonlyArray<Message.Message>, AiError.AiErrorReason> => {
  const messages: Array<Message.Message> = []
  for (const [index, message] of prompt.content.entries()) {
    const where = `message ${index} (${message.role})`
    switch (message.role) {
      case "system":
        messages.push(Message.system(message.content))
        break
      case "user": {
        const parts: Array<Message.Part> = []
        for (const part of message.content) {
          if (part.type === "text") parts.push(new Message.TextPart({ text: part.text }))
          else {
            const image = imageOf(part, where)
            if (Result.isFailure(image)) return Result.fail(image.failure)
            parts.push(image.success)
          }
        }
        messages.push(Message.user(contentOf(parts)))
        break
      }
      case "assistant": {
        const parts: Array<Message.Part> = []
        for (const part of message.content) {
          switch (part.type) {
            case "text":
              parts.push(new Message.TextPart({ text: part.text }))
              break
            case "tool-call":
              if (!part.providerExecuted) {
                parts.push(
                  new Message.ToolCallPart({ id: part.id, name: part.name, input: part.params })
                )
              }
              break
            case "file": {
              const image = imageOf(part, where)
              if (Result.isFailure(image)) return Result.fail(image.failure)
              parts.push(image.success)
              break
            }
            default:
              break
          }
        }
        if (parts.length > 0) messages.push(Message.assistant(contentOf(parts)))
        break
      }
      case "tool": {
        const results = message.content.flatMap((part) =>
          part.type === "tool-result" && !part.providerExecuted
            ? [
              new Message.ToolResultPart({
                id: part.id,
                name: part.name,
                output: part.result,
                ...(part.isFailure ? { isError: true } : {})
              })
            ]
            : []
        )
        if (results.length > 0) messages.push(Message.tool(results))
        break
      }
    }
  }
  return Result.succeed(messages)
}

/** effect/ai tools as Capstan tool definitions; provider-defined tools (run by one vendor's API) have none. */
export const toolDefinitionsOf = (
  tools: ReadonlyArray<Tool.Any>
): Result.Result<ReadonlyArray<Generation.ToolDefinition>, AiError.AiErrorReason> => {
  const definitions: Array<Generation.ToolDefinition> = []
  for (const tool of tools) {
    if (Tool.isProviderDefined(tool)) {
      return Result.fail(
        new AiError.ToolConfigurationError({
          toolName: tool.name,
          description:
            "a provider-defined tool runs inside one vendor's API and cannot be sent through a Capstan generator; use a user-defined tool (Tool.make or Tool.dynamic)"
        })
      )
    }
    const description = Tool.getDescription(tool)
    const jsonSchemaOnly = Tool.isDynamic(tool) && tool.jsonSchema !== undefined
    definitions.push({
      name: tool.name,
      ...(description === undefined ? {} : { description }),
      parameters: Tool.getJsonSchema(tool),
      ...(jsonSchemaOnly ? {} : { codec: tool.parametersSchema as Schema.Decoder<unknown> })
    })
  }
  return Result.succeed(definitions)
}

/** An effect/ai tool choice as Capstan's (`oneOf` already narrowed the tools: its mode is what remains). */
export const toolChoiceOf = (choice: LanguageModel.ToolChoice<string>): Generation.ToolChoice =>
  typeof choice === "string" ? choice : "tool" in choice ? { tool: choice.tool } : choice.mode ?? "auto"

/** effect/ai's structured-output request as Capstan's, so providers use their native structured output. */
export const structuredOf = (
  format: { readonly objectName: string; readonly schema: Schema.Top }
): Result.Result<Generation.StructuredOutput, AiError.AiErrorReason> =>
  Result.try({
    try: () => jsonModel(format.schema as Schema.Decoder<unknown>, { name: format.objectName }).structured,
    catch: (error) =>
      new AiError.UnsupportedSchemaError({ description: error instanceof Error ? error.message : String(error) })
  })

/** An effect/ai finish reason as Capstan's. */
export const stopReasonOf = (reason: Response.FinishReason): Generation.StopReason => {
  switch (reason) {
    case "stop":
    case "length":
      return reason
    case "content-filter":
      return "content_filter"
    case "tool-calls":
      return "tool_calls"
    default:
      return "unknown"
  }
}

/** effect/ai usage as Capstan's: input counts cache reads and writes; reasoning tokens are output tokens. */
export const usageOf = (usage: Response.Usage): Usage.Usage => {
  const input = usage.inputTokens
  const output = usage.outputTokens
  const inputTokens = input.total ??
    (input.uncached ?? 0) + (input.cacheRead ?? 0) + (input.cacheWrite ?? 0)
  const outputTokens = output.total ?? (output.text ?? 0) + (output.reasoning ?? 0)
  return new Usage.Usage({
    inputTokens: Math.max(0, inputTokens),
    outputTokens: Math.max(0, outputTokens),
    ...(input.cacheRead === undefined ? {} : { cachedInputTokens: Math.max(0, Math.min(input.cacheRead, inputTokens)) })
  })
}

/** The response parts of an effect/ai answer as one Capstan choice. */
export const generationOf = (
  content: ReadonlyArray<Response.AnyPart>,
  warnings: ReadonlyArray<string>
): Generation.Generation => {
  let text = ""
  const toolCalls: Array<Message.ToolCallPart> = []
  let finish: Response.FinishPart | undefined
  for (const part of content) {
    if (part.type === "text") text += part.text
    else if (part.type === "text-delta") text += part.delta
    else if (part.type === "tool-call" && !part.providerExecuted) {
      toolCalls.push(new Message.ToolCallPart({ id: part.id, name: part.name, input: part.params as Schema.Json }))
    } else if (part.type === "finish") finish = part
  }
  const stopReason = finish === undefined
    ? (toolCalls.length > 0 ? "tool_calls" : "unknown")
    : stopReasonOf(finish.reason)
  return new Generation.Generation({
    choices: [
      new Generation.Choice({ text, stopReason, ...(toolCalls.length === 0 ? {} : { toolCalls }) })
    ],
    usage: finish === undefined ? Usage.empty : usageOf(finish.usage),
    ...(warnings.length === 0 ? {} : { warnings })
  })
}

// --- Capstan to effect/ai ---------------------------------------------------------------------------------------

/**
 * Capstan messages as an effect/ai prompt (its encoded form, which `LanguageModel` decodes). A part effect/ai
 * has no place for in its message's role is `Unsupported`, before any request.
 */
export const promptOf = (
  messages: ReadonlyArray<Message.Message>,
  provider: string
): Result.Result<ReadonlyArray<Prompt.MessageEncoded>, Unsupported> => {
  const encoded: Array<Prompt.MessageEncoded> = []
  for (const [index, message] of messages.entries()) {
    const refuse = (part: Message.Part) =>
      Result.fail(
        new Unsupported({
          provider,
          detail:
            `message ${index} (${message.role}) holds a ${part._tag} part, which an effect/ai ${message.role} message cannot carry`
        })
      )
    const parts = message.parts
    switch (message.role) {
      case "system": {
        const other = parts.find((part) => part._tag !== "Text")
        if (other !== undefined) return refuse(other)
        encoded.push({ role: "system", content: message.text })
        break
      }
      case "user": {
        const content: Array<Prompt.UserMessagePartEncoded> = []
        for (const part of parts) {
          if (part._tag === "Text") content.push({ type: "text", text: part.text })
          else if (part._tag === "Image") content.push(filePartOf(part))
          else return refuse(part)
        }
        encoded.push({ role: "user", content })
        break
      }
      case "assistant": {
        const content: Array<Prompt.AssistantMessagePartEncoded> = []
        for (const part of parts) {
          if (part._tag === "Text") content.push({ type: "text", text: part.text })
          else if (part._tag === "Image") content.push(filePartOf(part))
          else if (part._tag === "ToolCall") {
            content.push({ type: "tool-call", id: part.id, name: part.name, params: part.input })
          } else return refuse(part)
        }
        encoded.push({ role: "assistant", content })
        break
      }
      case "tool": {
        const content: Array<Prompt.ToolMessagePartEncoded> = []
        for (const part of parts) {
          if (part._tag !== "ToolResult") return refuse(part)
          content.push({
            type: "tool-result",
            id: part.id,
            name: part.name,
            isFailure: part.isError === true,
            result: part.output
          })
        }
        encoded.push({ role: "tool", content })
        break
      }
    }
  }
  return Result.succeed(encoded)
}

const filePartOf = (image: Message.ImagePart): Prompt.FilePartEncoded => {
  const fromUrl = image.url === undefined ? undefined : /^data:([^;,]+)/i.exec(image.url)?.[1]
  const mediaType = image.mediaType ?? fromUrl ?? "image/*"
  return image.url !== undefined
    ? { type: "file", mediaType, data: { _tag: "URL", href: image.url } }
    : { type: "file", mediaType, data: image.data ?? "" }
}

/** A Capstan stop reason as effect/ai's finish reason. */
export const finishReasonOf = (reason: Generation.StopReason): Response.FinishReason => {
  switch (reason) {
    case "stop":
    case "length":
      return reason
    case "content_filter":
      return "content-filter"
    case "tool_calls":
      return "tool-calls"
    case "unknown":
      return "unknown"
  }
}

/** Capstan usage as effect/ai's (encoded): cached input tokens are its cache reads. */
export const aiUsageOf = (usage: Usage.Usage): typeof Response.Usage.Encoded => ({
  inputTokens: {
    total: usage.inputTokens,
    ...(usage.cachedInputTokens === undefined
      ? {}
      : { cacheRead: usage.cachedInputTokens, uncached: usage.inputTokens - usage.cachedInputTokens })
  },
  outputTokens: { total: usage.outputTokens }
})

const toolCallPartsOf = (choice: Generation.Choice | undefined): Array<Response.ToolCallPartEncoded> =>
  (choice?.toolCalls ?? []).map((call) => ({
    type: "tool-call",
    id: call.id,
    name: call.name,
    params: call.input,
    providerExecuted: false
  }))

const finishPartOf = (generation: Generation.Generation): Response.FinishPartEncoded => ({
  type: "finish",
  reason: finishReasonOf(generation.choices[0]?.stopReason ?? "unknown"),
  usage: aiUsageOf(generation.usage)
})

/**
 * A Capstan generation as effect/ai response parts: its first choice (effect/ai has one answer per request) as
 * text and tool calls, then the finish part with the reason and usage.
 */
export const responsePartsOf = (
  generation: Generation.Generation,
  modelId: string
): Array<Response.PartEncoded> => {
  const choice = generation.choices[0]
  return [
    { type: "response-metadata", modelId },
    ...(choice === undefined || choice.text.length === 0 ? [] : [{ type: "text" as const, text: choice.text }]),
    ...toolCallPartsOf(choice),
    finishPartOf(generation)
  ]
}

/** Where a stream of Capstan parts stands as effect/ai parts: whether its text part was opened. */
export interface StreamState {
  readonly textOpen: boolean
}

/** The id of the one text part a Capstan stream becomes (its first choice). */
const textId = "0"

/**
 * One Capstan stream part as effect/ai stream parts: the first choice's deltas inside one text part, then on
 * `Done` the text part closed, the tool calls and the finish part.
 */
export const streamPartsOf = (
  state: StreamState,
  part: Generation.StreamPart
): readonly [StreamState, ReadonlyArray<Response.StreamPartEncoded>] => {
  if (part._tag === "Delta") {
    if (part.index !== 0 || part.text.length === 0) return [state, []]
    const delta: Response.StreamPartEncoded = { type: "text-delta", id: textId, delta: part.text }
    return state.textOpen
      ? [state, [delta]]
      : [{ textOpen: true }, [{ type: "text-start", id: textId }, delta]]
  }
  return [
    { textOpen: false },
    [
      ...(state.textOpen ? [{ type: "text-end" as const, id: textId }] : []),
      ...toolCallPartsOf(part.generation.choices[0]),
      finishPartOf(part.generation)
    ]
  ]
}

/** A whole generation as the parts a stream of it would have had: one delta, then `Done`. */
export const asStreamParts = (generation: Generation.Generation): ReadonlyArray<Generation.StreamPart> => [
  { _tag: "Delta", index: 0, text: generation.choices[0]?.text ?? "" },
  { _tag: "Done", generation }
]
