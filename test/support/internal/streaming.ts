/**
 * Streamed answers (`stream: true`) as server-sent events. A streamed answer is the complete body a non-streamed call
 * would get, cut into the events the real APIs send: OpenAI `chat.completion.chunk`s ending in `data: [DONE]`,
 * Anthropic `message_start` … `message_stop`. So everything the plain answer knows (scripted replies, `n`, tool
 * calls, schema instances, `stop`, `max_tokens`, content filter, usage) streams the same way.
 * @module
 */
import type * as http from "node:http"
import { isRecord } from "./wire.js"

type Json = Readonly<Record<string, unknown>>

/** How an answer is cut and paced: `chunkChars` characters of text (or tool arguments) per event, `delayMs` apart. */
export interface StreamPacing {
  readonly chunkChars: number
  readonly delayMs: number
}

/** How a streamed answer ended: every event sent, the client went away, or the server dropped the connection. */
export type StreamEnd = "complete" | "cut-by-client" | "dropped"

const pieces = (text: string, size: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

const dataFrame = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`
const eventFrame = (type: string, data: Json): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`

const array = (u: unknown): ReadonlyArray<unknown> => (Array.isArray(u) ? u : [])
const record = (u: unknown): Json => (isRecord(u) ? u : {})

/**
 * The events of an OpenAI chat completion body: per choice a role chunk, its content (or refusal) and tool-call
 * arguments in pieces, then its `finish_reason`; with `include_usage` every chunk carries `usage: null` and one last
 * chunk with no choices carries the usage. Then `[DONE]`.
 */
export const openaiChatEvents = (body: Json, includeUsage: boolean, chunkChars: number): Array<string> => {
  const head = {
    id: body["id"],
    object: "chat.completion.chunk",
    created: body["created"],
    model: body["model"],
    system_fingerprint: body["system_fingerprint"] ?? null,
    ...(includeUsage ? { usage: null } : {})
  }
  const chunk = (index: number, delta: Json, finish: unknown = null) =>
    dataFrame({ ...head, choices: [{ index, delta, logprobs: null, finish_reason: finish }] })
  const frames: Array<string> = []
  for (const raw of array(body["choices"])) {
    const choice = record(raw)
    const index = typeof choice["index"] === "number" ? choice["index"] : 0
    const message = record(choice["message"])
    frames.push(chunk(index, { role: "assistant", content: "", refusal: null }))
    const content = typeof message["content"] === "string" ? message["content"] : ""
    for (const piece of pieces(content, chunkChars)) frames.push(chunk(index, { content: piece }))
    if (typeof message["refusal"] === "string") frames.push(chunk(index, { refusal: message["refusal"] }))
    array(message["tool_calls"]).forEach((rawCall, callIndex) => {
      const call = record(rawCall)
      const fn = record(call["function"])
      frames.push(chunk(index, {
        tool_calls: [{
          index: callIndex,
          id: call["id"],
          type: "function",
          function: { name: fn["name"], arguments: "" }
        }]
      }))
      const args = typeof fn["arguments"] === "string" ? fn["arguments"] : ""
      for (const piece of pieces(args, chunkChars)) {
        frames.push(chunk(index, { tool_calls: [{ index: callIndex, function: { arguments: piece } }] }))
      }
    })
    frames.push(chunk(index, {}, choice["finish_reason"] ?? "stop"))
  }
  if (includeUsage) frames.push(dataFrame({ ...head, choices: [], usage: body["usage"] }))
  frames.push("data: [DONE]\n\n")
  return frames
}

/**
 * The events of an Anthropic message body: `message_start` (input usage, 1 output token so far), per content block
 * `content_block_start`, its `text_delta`s or `input_json_delta`s, `content_block_stop`, then `message_delta` (stop
 * reason and the output tokens) and `message_stop`. A `ping` follows the first block's start, as the API sends one.
 */
export const anthropicEvents = (body: Json, chunkChars: number): Array<string> => {
  const usage = record(body["usage"])
  const frames: Array<string> = [eventFrame("message_start", {
    type: "message_start",
    message: { ...body, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } }
  })]
  array(body["content"]).forEach((rawBlock, index) => {
    const block = record(rawBlock)
    if (block["type"] === "tool_use") {
      frames.push(eventFrame("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: block["id"], name: block["name"], input: {} }
      }))
      for (const piece of pieces(JSON.stringify(block["input"] ?? {}), chunkChars)) {
        frames.push(eventFrame("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: piece }
        }))
      }
    } else {
      frames.push(eventFrame("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "text", text: "" }
      }))
      const text = typeof block["text"] === "string" ? block["text"] : ""
      for (const piece of pieces(text, chunkChars)) {
        frames.push(eventFrame("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text: piece }
        }))
      }
    }
    if (index === 0) frames.push(eventFrame("ping", { type: "ping" }))
    frames.push(eventFrame("content_block_stop", { type: "content_block_stop", index }))
  })
  frames.push(eventFrame("message_delta", {
    type: "message_delta",
    delta: { stop_reason: body["stop_reason"] ?? null, stop_sequence: body["stop_sequence"] ?? null },
    usage: { output_tokens: usage["output_tokens"] ?? 0 }
  }))
  frames.push(eventFrame("message_stop", { type: "message_stop" }))
  return frames
}

/** An event whose data is not JSON, as a broken proxy or server would send (the `malformed` fault). */
export const malformedFrame = (anthropic: boolean): string =>
  `${anthropic ? "event: content_block_delta\n" : ""}data: <html><body><h1>502 Bad Gateway</h1></body></html>\n\n`

/** Anthropic's mid-stream overload: an `error` event after the 200 and `message_start`. */
export const overloadedFrame = eventFrame("error", {
  type: "error",
  error: { type: "overloaded_error", message: "Overloaded" }
})

/**
 * Writes the frames `delayMs` apart (all at once when 0), honouring back-pressure. `cutAfter` frames, `end: "drop"`
 * destroys the socket (a connection lost mid-stream) and `end: "close"` ends the response cleanly, short of its end.
 * `onEnd` hears once how the stream ended, a client that closed the connection first included.
 */
export const writeFrames = (
  res: http.ServerResponse,
  frames: ReadonlyArray<string>,
  options: {
    readonly delayMs: number
    readonly cut?: { readonly after: number; readonly end: "drop" | "close" } | undefined
    readonly onEnd: (end: StreamEnd) => void
  }
): void => {
  const last = options.cut === undefined ? frames.length : Math.min(frames.length, options.cut.after)
  let next = 0
  let ended = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const end = (how: StreamEnd) => {
    if (ended) return
    ended = true
    if (timer !== undefined) clearTimeout(timer)
    options.onEnd(how)
  }
  res.once("close", () => end(next >= last && options.cut === undefined ? "complete" : "cut-by-client"))
  const finish = () => {
    end(options.cut === undefined ? "complete" : "dropped")
    // Dropped once the frames before are on the wire, so that the client reads them before the error.
    if (options.cut?.end === "drop") res.write("", () => res.socket?.destroy())
    else res.end()
  }
  const pump = (): void => {
    timer = undefined
    while (next < last) {
      if (res.destroyed) return
      const ok = res.write(frames[next++]!)
      if (options.delayMs > 0) {
        if (next < last) timer = setTimeout(ok ? pump : () => res.once("drain", pump), options.delayMs)
        else if (ok) finish()
        else res.once("drain", finish)
        return
      }
      if (!ok) return void res.once("drain", pump)
    }
    finish()
  }
  pump()
}
