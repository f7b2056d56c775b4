/**
 * OpenAI chat completion chunks (`stream: true`) read one after another: each choice's `content` as it arrives, and
 * the chat completion they add up to (content, refusal, `tool_calls` with their arguments joined, finish reason,
 * the usage of the last chunk), in the shape of the non-streamed answer.
 *
 * @internal
 */
import { type Generation, type GenerationError, MalformedResponse } from "@capstan/core"
import { Result, Schema } from "effect"
import { type Accumulator, endedEarly } from "./streamCall.js"
import { nullish } from "./wire.js"

const Count = nullish(Schema.Finite)
const Text = nullish(Schema.String)

// Only what Capstan reads; compatible servers differ in everything else.
const ChunkWire = Schema.Struct({
  choices: nullish(Schema.Array(Schema.Struct({
    index: Count,
    delta: nullish(Schema.Struct({
      content: Text,
      refusal: Text,
      tool_calls: nullish(Schema.Array(Schema.Struct({
        index: Count,
        id: Text,
        function: nullish(Schema.Struct({ name: Text, arguments: Text }))
      })))
    })),
    finish_reason: Text
  }))),
  usage: Schema.optional(Schema.Unknown)
})

const decodeChunk = Schema.decodeUnknownResult(ChunkWire)

interface ToolCall {
  id: string
  name: string
  arguments: string
}

interface Choice {
  readonly index: number
  content: string
  refusal: string | undefined
  finishReason: string | undefined
  readonly toolCalls: Map<number, ToolCall>
}

/**
 * An accumulator of one stream's chunks. The stream is whole once every choice it opened has a finish reason: a
 * stream cut before that is a `ConnectionError` (retryable), a chunk that is not a chunk a `MalformedResponse`.
 */
export const accumulator = (provider: string): Accumulator<unknown> => {
  const choices = new Map<number, Choice>()
  let usage: unknown = undefined
  const choiceAt = (index: number): Choice => {
    let choice = choices.get(index)
    if (choice === undefined) {
      choice = { index, content: "", refusal: undefined, finishReason: undefined, toolCalls: new Map() }
      choices.set(index, choice)
    }
    return choice
  }
  return {
    push: (event) => {
      const decoded = decodeChunk(event)
      if (Result.isFailure(decoded)) {
        return Result.fail(
          new MalformedResponse({
            provider,
            detail: `unexpected stream chunk: ${decoded.failure.message.slice(0, 500)}`
          })
        )
      }
      const chunk = decoded.success
      if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
      const deltas: Array<Extract<Generation.StreamPart, { readonly _tag: "Delta" }>> = []
      for (const [position, wire] of (chunk.choices ?? []).entries()) {
        const choice = choiceAt(wire.index ?? position)
        const delta = wire.delta
        if (typeof delta?.content === "string" && delta.content.length > 0) {
          choice.content += delta.content
          deltas.push({ _tag: "Delta", index: choice.index, text: delta.content })
        }
        if (typeof delta?.refusal === "string") choice.refusal = (choice.refusal ?? "") + delta.refusal
        for (const [i, call] of (delta?.tool_calls ?? []).entries()) {
          const at = call.index ?? i
          let known = choice.toolCalls.get(at)
          if (known === undefined) {
            known = { id: "", name: "", arguments: "" }
            choice.toolCalls.set(at, known)
          }
          if (typeof call.id === "string" && call.id.length > 0) known.id = call.id
          if (typeof call.function?.name === "string" && call.function.name.length > 0) known.name = call.function.name
          if (typeof call.function?.arguments === "string") known.arguments += call.function.arguments
        }
        if (typeof wire.finish_reason === "string") choice.finishReason = wire.finish_reason
      }
      return Result.succeed(deltas)
    },
    finish: (): Result.Result<unknown, GenerationError> => {
      const all = [...choices.values()]
      if (all.length === 0 || all.some((choice) => choice.finishReason === undefined)) {
        return Result.fail(endedEarly(provider, "every choice had a finish reason"))
      }
      return Result.succeed({
        choices: all.map((choice) => ({
          index: choice.index,
          message: {
            content: choice.content,
            refusal: choice.refusal ?? null,
            tool_calls: choice.toolCalls.size === 0
              ? null
              : [...choice.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => ({
                id: call.id,
                type: "function",
                function: { name: call.name, arguments: call.arguments }
              }))
          },
          finish_reason: choice.finishReason
        })),
        usage
      })
    }
  }
}
