/**
 * The conversation of a chat (OpenAI) or messages (Anthropic) body, parsed into `FakeMessage`s and checked the way
 * the real APIs check it, so a provider that maps a part wrongly gets the 400 the real API would give:
 * - OpenAI: content parts `text` / `image_url` (user only) / `input_audio` / `file`, system and tool messages text
 *   only; assistant `tool_calls` with string `arguments`; every `tool` message answers a call of the assistant
 *   message before it, and every call is answered before the next other message.
 * - Anthropic: roles `user` / `assistant` only, alternating (stricter than the API, which combines turns of one role:
 *   a test sees whether the provider merged them); blocks `text` (non-empty), `image` (user; `base64` with
 *   a supported `media_type`, or `url`), `tool_use` (assistant), `tool_result` (user, first in the turn, answering
 *   the `tool_use` blocks of the turn before), and every `tool_use` answered in the next turn.
 * @module
 */
import type { FakeMessage, FakeToolCall, FakeToolResult } from "./types.js"

type Json = Readonly<Record<string, unknown>>

/** A conversation the real API refuses: its message and the parameter it names. */
export interface Problem {
  readonly invalid: string
  readonly param: string | null
}

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)
const problem = (invalid: string, param: string | null = null): Problem => ({ invalid, param })
export const isProblem = (u: unknown): u is Problem => isRecord(u) && typeof u["invalid"] === "string"

/** Prompt tokens an image costs: OpenAI's flat price of a low-detail image, a fair middle for both APIs. */
export const IMAGE_TOKENS = 85

const ANTHROPIC_MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]
const OPENAI_ROLES = ["system", "developer", "user", "assistant", "tool"]

/** Flattens OpenAI / Anthropic content (string, or an array of parts/blocks, incl. nested tool_result content) to text. */
export const contentText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  let out = ""
  for (const part of content) {
    if (typeof part === "string") out += part
    else if (isRecord(part)) {
      if (typeof part["text"] === "string") out += part["text"]
      else if (part["type"] === "tool_result") out += contentText(part["content"])
    }
  }
  return out
}

const parseArguments = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// OpenAI

/** Parses and checks OpenAI chat messages. */
export const openaiMessages = (raw: ReadonlyArray<unknown>): ReadonlyArray<FakeMessage> | Problem => {
  const out: Array<FakeMessage> = []
  // Calls of the last assistant message not answered yet by a tool message.
  let pending = new Set<string>()
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i]
    const at = `messages[${i}]`
    if (!isRecord(m)) return problem(`Invalid type for '${at}': expected an object.`, at)
    const role = m["role"]
    if (typeof role !== "string" || !OPENAI_ROLES.includes(role)) {
      return problem(
        `Invalid value: '${String(role)}'. Supported values are: ${OPENAI_ROLES.map((r) => `'${r}'`).join(", ")}.`,
        `${at}.role`
      )
    }
    if (role !== "tool" && pending.size > 0) return unanswered(pending)
    const parsed = openaiMessage(m, role, at, pending)
    if (isProblem(parsed)) return parsed
    if (role === "assistant") pending = new Set(parsed.toolCalls.map((c) => c.id))
    out.push(parsed)
  }
  return pending.size > 0 ? unanswered(pending) : out
}

const unanswered = (pending: ReadonlySet<string>): Problem =>
  problem(
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
      `The following tool_call_ids did not have response messages: ${[...pending].join(", ")}`,
    "messages"
  )

const openaiMessage = (m: Json, role: string, at: string, pending: Set<string>): FakeMessage | Problem => {
  const content = m["content"]
  const toolCalls: Array<FakeToolCall> = []
  const toolResults: Array<FakeToolResult> = []
  let images = 0
  if (Array.isArray(content)) {
    const allowed = role === "user"
      ? ["text", "image_url", "input_audio", "file"]
      : role === "assistant"
      ? ["text", "refusal"]
      : ["text"]
    for (let j = 0; j < content.length; j++) {
      const part = content[j]
      const where = `${at}.content[${j}]`
      const type = isRecord(part) ? part["type"] : undefined
      if (!isRecord(part) || typeof type !== "string" || !allowed.includes(type)) {
        return problem(
          `Invalid value: '${String(type)}'. Supported values are: ${allowed.map((t) => `'${t}'`).join(", ")}.`,
          `${where}.type`
        )
      }
      if (type === "text" && typeof part["text"] !== "string") {
        return problem(`Missing required parameter: '${where}.text'.`, `${where}.text`)
      }
      if (type === "image_url") {
        const url = isRecord(part["image_url"]) ? part["image_url"]["url"] : undefined
        if (typeof url !== "string" || url.length === 0) {
          return problem(`Missing required parameter: '${where}.image_url.url'.`, `${where}.image_url.url`)
        }
        if (url.startsWith("data:") && !/^data:image\/[\w.+-]+;base64,./.test(url)) {
          return problem(
            "Invalid image URL: a data URL must be data:image/<type>;base64,<data>.",
            `${where}.image_url.url`
          )
        }
        images++
      }
    }
  } else if (typeof content !== "string" && !(role === "assistant" && (content === null || content === undefined))) {
    return problem(`Missing required parameter: '${at}.content'.`, `${at}.content`)
  }
  if (role === "assistant" && m["tool_calls"] !== undefined) {
    const calls = m["tool_calls"]
    if (!Array.isArray(calls)) {
      return problem(`Invalid type for '${at}.tool_calls': expected an array.`, `${at}.tool_calls`)
    }
    for (let j = 0; j < calls.length; j++) {
      const call = calls[j]
      const fn = isRecord(call) ? call["function"] : undefined
      if (
        !isRecord(call) || typeof call["id"] !== "string" || call["type"] !== "function" || !isRecord(fn) ||
        typeof fn["name"] !== "string" || typeof fn["arguments"] !== "string"
      ) {
        return problem(
          `Invalid '${at}.tool_calls[${j}]': expected { id, type: 'function', function: { name, arguments: string } }.`,
          `${at}.tool_calls[${j}]`
        )
      }
      toolCalls.push({ id: call["id"], name: fn["name"], input: parseArguments(fn["arguments"]) })
    }
  }
  if (role === "tool") {
    const id = m["tool_call_id"]
    if (typeof id !== "string") {
      return problem(`Missing required parameter: '${at}.tool_call_id'.`, `${at}.tool_call_id`)
    }
    if (!pending.delete(id)) {
      return problem(
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
        `${at}.role`
      )
    }
    toolResults.push({ id, content: contentText(content), isError: false })
  }
  return { role, text: contentText(content), images, toolCalls, toolResults }
}

// ---------------------------------------------------------------------------------------------------------------------
// Anthropic

const ANTHROPIC_BLOCKS: Readonly<Record<string, ReadonlyArray<string>>> = {
  user: ["text", "image", "document", "tool_result"],
  assistant: ["text", "tool_use", "thinking", "redacted_thinking"]
}

/** Parses and checks Anthropic messages. */
export const anthropicMessages = (raw: ReadonlyArray<unknown>): ReadonlyArray<FakeMessage> | Problem => {
  const out: Array<FakeMessage> = []
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i]
    if (!isRecord(m)) return problem(`messages.${i}: Input should be an object`)
    const role = m["role"]
    if (role !== "user" && role !== "assistant") {
      return problem(
        `messages.${i}.role: Unexpected role "${
          String(role)
        }". The Messages API accepts a top-level \`system\` parameter, ` +
          `not "system" as an input message role.`
      )
    }
    if (out.at(-1)?.role === role) {
      return problem(
        `messages: roles must alternate between "user" and "assistant", but found multiple "${role}" roles in a row`
      )
    }
    const parsed = anthropicMessage(m, role, i)
    if (isProblem(parsed)) return parsed
    const previous = out.at(-1)
    const wanted = new Set(previous?.toolCalls.map((c) => c.id) ?? [])
    for (const result of parsed.toolResults) {
      if (!wanted.delete(result.id)) {
        return problem(
          `messages.${i}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${result.id}. Each \`tool_result\` ` +
            "block must have a corresponding `tool_use` block in the previous message."
        )
      }
    }
    if (wanted.size > 0) {
      return problem(
        `messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
          [...wanted].join(", ")
        }. ` +
          "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
      )
    }
    out.push(parsed)
  }
  return out
}

const anthropicMessage = (m: Json, role: "user" | "assistant", i: number): FakeMessage | Problem => {
  const content = m["content"]
  const toolCalls: Array<FakeToolCall> = []
  const toolResults: Array<FakeToolResult> = []
  let images = 0
  if (Array.isArray(content)) {
    let seenOther = false
    for (let j = 0; j < content.length; j++) {
      const block = content[j]
      const where = `messages.${i}.content.${j}`
      const type = isRecord(block) ? block["type"] : undefined
      if (!isRecord(block) || typeof type !== "string" || !ANTHROPIC_BLOCKS[role]!.includes(type)) {
        return problem(`${where}.type: Input tag '${String(type)}' is not a valid ${role} content block`)
      }
      if (type === "text" && (typeof block["text"] !== "string" || block["text"].length === 0)) {
        return problem("messages: text content blocks must be non-empty")
      }
      if (type === "image") {
        const invalid = imageProblem(block["source"], where)
        if (invalid !== undefined) return invalid
        images++
      }
      if (type === "tool_use") {
        if (typeof block["id"] !== "string" || typeof block["name"] !== "string" || !isRecord(block["input"])) {
          return problem(`${where}.tool_use: id, name and an object input are required`)
        }
        toolCalls.push({ id: block["id"], name: block["name"], input: block["input"] })
      }
      if (type === "tool_result") {
        const body = block["content"]
        if (typeof block["tool_use_id"] !== "string") return problem(`${where}.tool_result.tool_use_id: Field required`)
        if (body !== undefined && typeof body !== "string" && !Array.isArray(body)) {
          return problem(`${where}.tool_result.content: Input should be a valid string or list`)
        }
        if (seenOther) {
          return problem(
            `messages.${i}: tool_result blocks must come first in a user message, before any other content`
          )
        }
        toolResults.push({ id: block["tool_use_id"], content: contentText(body), isError: block["is_error"] === true })
      } else {
        seenOther = true
      }
    }
  } else if (typeof content !== "string") {
    return problem(`messages.${i}.content: Input should be a valid string or list`)
  }
  return { role, text: contentText(content), images, toolCalls, toolResults }
}

const imageProblem = (source: unknown, where: string): Problem | undefined => {
  if (!isRecord(source)) return problem(`${where}.image.source: Field required`)
  if (source["type"] === "url") {
    return typeof source["url"] === "string"
      ? undefined
      : problem(`${where}.image.source.url: Field required`)
  }
  if (source["type"] !== "base64") {
    return problem(`${where}.image.source.type: Input tag '${String(source["type"])}' is not valid`)
  }
  if (typeof source["data"] !== "string" || source["data"].length === 0) {
    return problem(`${where}.image.source.data: Field required`)
  }
  return ANTHROPIC_MEDIA_TYPES.includes(source["media_type"] as string)
    ? undefined
    : problem(
      `${where}.image.source.base64.media_type: Input should be ${
        ANTHROPIC_MEDIA_TYPES.map((t) => `'${t}'`).join(", ")
      }`
    )
}

/** Prompt token estimate of a conversation: its text and tool-call arguments at 4 characters a token, images flat. */
export const conversationTokens = (
  estimate: (text: string) => number,
  prefix: string,
  messages: ReadonlyArray<FakeMessage>
): number => {
  let text = prefix
  let images = 0
  for (const m of messages) {
    text += m.text
    for (const call of m.toolCalls) text += JSON.stringify(call.input)
    images += m.images
  }
  return estimate(text) + images * IMAGE_TOKENS
}
