/**
 * Anthropic Messages stream events (`stream: true`) read one after another: the text of `text_delta`s as it
 * arrives, and the message they add up to (text and `tool_use` blocks, each tool's input from its
 * `input_json_delta`s, stop reason, usage from `message_start` and `message_delta`), in the shape of the
 * non-streamed answer.
 *
 * @internal
 */
import { type Generation, type GenerationError, MalformedResponse } from "@capstan/core"
import { Result, Schema } from "effect"
import { type Accumulator, endedEarly } from "./streamCall.js"
import { nullish } from "./wire.js"

const Text = nullish(Schema.String)
const UsageWire = nullish(Schema.Record(Schema.String, Schema.Unknown))

// Only what Capstan reads; the events it does not know (`ping`, new ones) pass by.
const EventWire = Schema.Struct({
  type: Schema.String,
  index: Schema.optional(Schema.Finite),
  message: Schema.optional(Schema.Struct({ usage: UsageWire })),
  content_block: Schema.optional(Schema.Struct({
    type: Schema.String,
    id: Text,
    name: Text,
    text: Text
  })),
  delta: Schema.optional(Schema.Struct({
    type: Text,
    text: Text,
    partial_json: Text,
    stop_reason: Text
  })),
  usage: UsageWire
})

const decodeEvent = Schema.decodeUnknownResult(EventWire)

interface Block {
  readonly type: string
  readonly id: string | undefined
  readonly name: string | undefined
  text: string
  json: string
}

/**
 * An accumulator of one stream's events. The stream is whole at `message_stop`: a stream cut before it is a
 * `ConnectionError` (retryable); an event that is not one, or a tool input that is not JSON, a `MalformedResponse`.
 */
export const accumulator = (provider: string): Accumulator<unknown> => {
  const blocks = new Map<number, Block>()
  let usage: Record<string, unknown> = {}
  let stopReason: string | undefined
  let stopped = false
  const malformed = (detail: string) => Result.fail(new MalformedResponse({ provider, detail }))
  const none: ReadonlyArray<Extract<Generation.StreamPart, { readonly _tag: "Delta" }>> = []
  return {
    push: (raw) => {
      const decoded = decodeEvent(raw)
      if (Result.isFailure(decoded)) {
        return malformed(`unexpected stream event: ${decoded.failure.message.slice(0, 500)}`)
      }
      const event = decoded.success
      switch (event.type) {
        case "message_start":
          usage = { ...usage, ...event.message?.usage }
          return Result.succeed(none)
        case "content_block_start": {
          const block = event.content_block
          if (event.index === undefined || block === undefined) return malformed("content_block_start without a block")
          blocks.set(event.index, {
            type: block.type,
            id: block.id ?? undefined,
            name: block.name ?? undefined,
            text: block.text ?? "",
            json: ""
          })
          return Result.succeed(none)
        }
        case "content_block_delta": {
          const block = event.index === undefined ? undefined : blocks.get(event.index)
          const delta = event.delta
          if (block === undefined || delta === undefined) return malformed("content_block_delta of no open block")
          if (delta.type === "text_delta" && typeof delta.text === "string") {
            block.text += delta.text
            return Result.succeed([{ _tag: "Delta", index: 0, text: delta.text }])
          }
          if (delta.type === "input_json_delta" && typeof delta.partial_json === "string") {
            block.json += delta.partial_json
          }
          return Result.succeed(none)
        }
        case "message_delta":
          if (typeof event.delta?.stop_reason === "string") stopReason = event.delta.stop_reason
          // Counts are cumulative: the last one of each field is the message's.
          usage = { ...usage, ...event.usage }
          return Result.succeed(none)
        case "message_stop":
          stopped = true
          return Result.succeed(none)
        default:
          return Result.succeed(none)
      }
    },
    finish: (): Result.Result<unknown, GenerationError> => {
      if (!stopped) return Result.fail(endedEarly(provider, "message_stop"))
      const content: Array<unknown> = []
      for (const [, block] of [...blocks.entries()].sort(([a], [b]) => a - b)) {
        if (block.type !== "tool_use") {
          content.push({ type: block.type, text: block.text })
          continue
        }
        let input: unknown
        try {
          input = block.json.trim().length === 0 ? {} : JSON.parse(block.json)
        } catch {
          return malformed(`the input of tool call ${block.id ?? "?"} (${block.name ?? "?"}) is not JSON`)
        }
        content.push({ type: "tool_use", id: block.id, name: block.name, input })
      }
      return Result.succeed({ content, stop_reason: stopReason ?? null, usage })
    }
  }
}
