/**
 * The tool-call loop of a chat pipeline that uses tools (`ChatPipeline.using`): while the last answer calls tools,
 * run the calls with the toolkit's handlers (effect/ai `Toolkit`), record the results as a tool message, and ask
 * again, at most `maxDepth` times. What the model got wrong (an unknown tool, arguments its schema refuses) goes
 * back to it as an error result; what a handler failed with too, unless `onToolError: "fail"`.
 *
 * @internal
 */
import { Cause, Context, Effect, Option, Schema, Stream } from "effect"
import type * as AiError from "effect/ai/AiError"
import * as Tool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import type * as Chat from "../Chat.js"
import { InvalidParams } from "../ConfigError.js"
import type { ToolChoice, ToolDefinition } from "../Generation.js"
import * as Message from "../Message.js"
import { MaxDepthExceeded, StepFailed } from "../PipelineError.js"
import { copyChat } from "./chat.js"
import { Failure, type Pipeline, requireWhole, type ToolSetup, update, withError } from "./pipeline.js"
import { trusted } from "./trusted.js"

// The loop is untyped in what handlers raise and need: `ChatPipeline.using` tracks those in the pipeline's type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

/** What to do when a tool's handler fails: tell the model (an error result), or fail the chat. */
export type OnToolError = "feed" | "fail"

export interface Options {
  readonly maxDepth?: number | undefined
  readonly concurrency?: number | "unbounded" | undefined
  readonly toolChoice?: ToolChoice | undefined
  readonly onToolError?: OnToolError | undefined
}

/** Rounds of tool calls one answer may take by default: rigging's `max_depth`. */
export const defaultMaxDepth = 10

/**
 * Whether the loop runs the calls. Provider batch mode sends each item's first request in a batch and cannot hold
 * a conversation open around a handler: there the tools are definitions only, and the chat ends with the calls.
 */
export const RunsTools = Context.Reference<boolean>("@capstan/core/internal/toolLoop/RunsTools", {
  defaultValue: () => true
})

/** Tool names the providers take (`[A-Za-z0-9_-]{1,64}`). */
export const toolNamePattern = /^[A-Za-z0-9_-]{1,64}$/

/** The definitions a request carries for a toolkit's tools, checked when a pipeline is built. */
export const definitionsOf = (toolkit: Toolkit.Any): ReadonlyArray<ToolDefinition> =>
  Object.values(toolkit.tools).map((tool) => {
    if (!toolNamePattern.test(tool.name)) {
      throw new InvalidParams({
        reason: `tool name "${tool.name}" is not one providers take: use 1 to 64 letters, digits, "_" or "-"`
      })
    }
    if (Tool.isProviderDefined(tool)) {
      throw new InvalidParams({
        reason: `tool "${tool.name}" is provider-defined: using takes tools Capstan runs (Tool.make, Tool.dynamic)`
      })
    }
    const description = Tool.getDescription(tool)
    return {
      name: tool.name,
      ...(description === undefined ? {} : { description }),
      parameters: Tool.getJsonSchema(tool),
      ...(Schema.isSchema(tool.parametersSchema) ? { codec: tool.parametersSchema as Schema.Decoder<unknown> } : {})
    }
  })

/** The pipeline with the toolkit's tools, its options checked (a bad one throws `InvalidParams`). */
export const use = (self: Pipeline, toolkit: Toolkit.Any, options: Options = {}): Pipeline => {
  if (self.kind !== "chat") {
    throw new InvalidParams({ reason: "using: tools need a ChatPipeline (a completion sends plain text)" })
  }
  const maxDepth = options.maxDepth ?? defaultMaxDepth
  requireWhole("using: maxDepth", maxDepth, 1)
  const concurrency = options.concurrency ?? "unbounded"
  if (concurrency !== "unbounded") requireWhole("using: concurrency", concurrency, 1)
  const definitions = [...(self.tools?.definitions ?? []), ...definitionsOf(toolkit)]
  const names = definitions.map((d) => d.name)
  const twice = names.find((name, i) => names.indexOf(name) !== i)
  if (twice !== undefined) {
    throw new InvalidParams({ reason: `using: two tools are named "${twice}"; a model calls tools by name` })
  }
  const choice = options.toolChoice
  if (typeof choice === "object" && !names.includes(choice.tool)) {
    throw new InvalidParams({
      reason: `using: toolChoice names "${choice.tool}", which is none of ${names.join(", ")}`
    })
  }
  const previous = self.tools
  // A second `using` adds its toolkit: each runs the calls of its own tools.
  const settings: ReadonlyArray<Settings> = [
    ...(previous?.settings ?? []) as ReadonlyArray<Settings>,
    { toolkit, maxDepth, concurrency, onToolError: options.onToolError ?? "feed" }
  ]
  return update(self, {
    tools: { definitions, toolChoice: choice ?? previous?.toolChoice, settings, loop: loopWith(settings) }
  })
}

interface Settings {
  readonly toolkit: Toolkit.Any
  readonly maxDepth: number
  readonly concurrency: number | "unbounded"
  readonly onToolError: OnToolError
}

/** The tool calls of a chat's last answer. */
const callsOf = (chat: Chat.Chat): ReadonlyArray<Message.ToolCallPart> => {
  const last = chat.generated.at(-1)
  if (last === undefined || last.role !== "assistant" || typeof last.content === "string") return []
  return last.content.filter((part): part is Message.ToolCallPart => part._tag === "ToolCall")
}

const countOf = (chat: Chat.Chat): number => {
  const count = chat.metadata["toolCalls"]
  return typeof count === "number" ? count : 0
}

const loopWith = (all: ReadonlyArray<Settings>): ToolSetup["loop"] => {
  // The strictest bound and concurrency of the toolkits used; each toolkit keeps its own onToolError.
  const maxDepth = Math.min(...all.map((s) => s.maxDepth))
  const bounded = all.map((s) => s.concurrency).filter((c): c is number => c !== "unbounded")
  const concurrency = bounded.length === 0 ? "unbounded" : Math.min(...bounded)
  return (first, ask) =>
    Effect.gen(function*() {
      let chat = first
      const runs = yield* RunsTools
      const handlers = runs ? yield* Effect.forEach(all, (s) => Effect.map(handlersOf(s.toolkit), toHandlers(s))) : []
      for (let depth = 0;; depth++) {
        const calls = callsOf(chat)
        if (calls.length === 0) return chat
        const counted = { ...chat.metadata, toolCalls: countOf(chat) + calls.length }
        if (!runs) return copyChat(chat, { metadata: { ...counted, toolsRun: false } })
        if (depth >= maxDepth) {
          const error = new MaxDepthExceeded({ step: "using", maxDepth })
          return yield* Effect.fail(new Failure(error, withError(copyChat(chat, { metadata: counted }), error)))
        }
        const results = yield* Effect.forEach(calls, (call) => runCall(handlers, call, chat), { concurrency })
        chat = yield* ask(copyChat(chat, { generated: [...chat.generated, Message.tool(results)], metadata: counted }))
      }
    })
}

interface Handlers {
  readonly settings: Settings
  readonly handlers: Toolkit.WithHandler<Record<string, Tool.Any>>
}

/** A toolkit is the Effect of its handlers, from the context its `toLayer` provides. */
const handlersOf = (toolkit: Toolkit.Any) =>
  toolkit as unknown as Effect.Effect<Toolkit.WithHandler<Record<string, Tool.Any>>, never, Any>

const toHandlers = (settings: Settings) => (handlers: Toolkit.WithHandler<Record<string, Tool.Any>>): Handlers => ({
  settings,
  handlers
})

const result = (call: Message.ToolCallPart, output: unknown, isError: boolean): Message.ToolResultPart =>
  new Message.ToolResultPart({
    id: call.id,
    name: call.name,
    // Results are the JSON encodings of the tool's schemas, or text.
    output: (output === undefined ? null : output),
    ...(isError ? { isError: true } : {})
  }, trusted)

/** One call's result: the handler's, or an error result for the model; fails only on `onToolError: "fail"`. */
const runCall = (
  all: ReadonlyArray<Handlers>,
  call: Message.ToolCallPart,
  chat: Chat.Chat
): Effect.Effect<Message.ToolResultPart, Failure, Any> => {
  const owner = all.find((h) => Object.hasOwn(h.settings.toolkit.tools, call.name))
  if (owner === undefined) {
    const names = all.flatMap((h) => Object.keys(h.settings.toolkit.tools))
    return Effect.succeed(
      result(call, `There is no tool named "${call.name}". The tools are: ${names.join(", ")}.`, true)
    )
  }
  const tool = owner.settings.toolkit.tools[call.name]!
  return owner.handlers.handle(call.name, call.input, call.id).pipe(
    Effect.flatMap((stream) => Stream.runLast(Stream.filter(stream, (r) => !r.preliminary))),
    Effect.map(Option.match({
      onNone: () => result(call, `The tool "${call.name}" gave no result.`, true),
      onSome: (r) => result(call, r.isFailure ? failureOutput(tool, r.result) : r.encodedResult, r.isFailure)
    })),
    Effect.catchCause((cause): Effect.Effect<Message.ToolResultPart, Failure, Any> => {
      const found = Cause.findError(cause)
      if (found._tag === "Failure") return Effect.failCause(found.failure)
      const error = found.success
      const origin = Context.get(Cause.annotations(cause), Toolkit.FailureOrigin)
      // Arguments the tool's schema refuses are the model's mistake: it reads what is wrong, and calls again.
      if (origin === "parameters" || owner.settings.onToolError === "feed") {
        return Effect.succeed(result(call, failureOutput(tool, error), true))
      }
      const recorded = new StepFailed({ step: `using: tool ${call.name}`, cause: error })
      return Effect.fail(new Failure(error, withError(chat, recorded)))
    })
  )
}

const isAiError = (u: unknown): u is AiError.AiError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "AiError"

/** What the model reads of a failure: the tool's failure as its schema encodes it, else the error's message. */
const failureOutput = (tool: Tool.Any, error: unknown): unknown => {
  if (isAiError(error)) return error.message
  const encoded = Schema.encodeUnknownOption(Schema.toCodecJson(tool.failureSchema as Schema.Codec<unknown, unknown>))(
    error
  )
  if (Option.isSome(encoded)) return encoded.value
  return error instanceof Error ? error.message : String(error)
}
