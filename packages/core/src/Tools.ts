/**
 * Tools for chat pipelines (rigging's `using`), built on effect/ai's `Tool` and `Toolkit`: define tools with
 * `Tool.make(name, { description, parameters, success, failure })`, group them with `Toolkit.make(...)`, provide
 * their handlers with `toolkit.toLayer({...})`, and let a pipeline use them with `ChatPipeline.using(toolkit)`.
 *
 * The tool-call loop runs inside the pipeline: every request carries the tools' definitions; while an answer calls
 * tools, their arguments are decoded with the tools' parameter schemas, the handlers run (in parallel up to
 * `concurrency`), the results (encoded with the success schemas) go back as a tool message, and the model is asked
 * again. An unknown tool or arguments the schema refuses go back to the model as error results, so it can correct
 * itself; a handler's failure does too (`onToolError: "feed"`, the default), or fails the chat
 * (`onToolError: "fail"`, the pipeline's error type then includes the tools' failures). More than `maxDepth` rounds
 * of calls fail with `MaxDepthExceeded { step: "using" }`.
 *
 * Every call and every result is in the chat (`chat.generated`: the assistant's calls, the tool messages, the
 * final answer), so in batch rows too; `chat.metadata.toolCalls` counts the calls. Usage and attempts sum over all
 * rounds. In provider batch mode the tools are sent as definitions only: the row keeps the model's calls, nothing
 * runs, no step follows (a parse would go on with unanswered calls), and `metadata.toolsRun` is `false`.
 *
 * @since 0.4.0
 */
import type * as Tool from "effect/ai/Tool"
import type * as Toolkit from "effect/ai/Toolkit"
import type * as Chat from "./Chat.js"
import type * as Generation from "./Generation.js"
import * as internal from "./internal/toolLoop.js"
import type * as Message from "./Message.js"
import type { MaxDepthExceeded } from "./PipelineError.js"

/**
 * What to do when a tool's handler fails: `"feed"` sends the failure to the model as an error result (encoded with
 * the tool's failure schema) and goes on; `"fail"` fails the chat with it (recorded as `StepFailed`).
 *
 * @example
 * ```ts
 * import type { Tools } from "@capstan/core"
 *
 * const strict: Tools.OnToolError = "fail"
 * ```
 * @since 0.4.0
 */
export type OnToolError = internal.OnToolError

/**
 * Options of `ChatPipeline.using`.
 *
 * - `maxDepth`: rounds of tool calls before an answer (default {@link defaultMaxDepth}; a parse retry starts
 *   again); a model still calling tools after that many fails the chat with `MaxDepthExceeded { step: "using" }`.
 * - `concurrency`: how many calls of one answer run at once (default `"unbounded"`: all of them).
 * - `toolChoice`: sent with each new answer's first request (`"auto"`, `"none"`, `"required"`, `{ tool }`); the
 *   requests after tool results use the provider's default (`auto`), else a forced choice would call tools for ever.
 * - `onToolError`: see {@link OnToolError} (default `"feed"`).
 *
 * A pipeline may use several toolkits (one `using` each): each runs its own tools' calls, under its own
 * `onToolError`; the smallest `maxDepth` and `concurrency` apply, and the last `toolChoice` given.
 *
 * @example
 * ```ts
 * import type { Tools } from "@capstan/core"
 *
 * const options: Tools.Options = { maxDepth: 4, concurrency: 2, toolChoice: "required", onToolError: "fail" }
 * ```
 * @since 0.4.0
 */
export interface Options extends internal.Options {}

/**
 * The rounds of tool calls before an answer unless `maxDepth` says otherwise: 10, as rigging's `max_depth`.
 *
 * @example
 * ```ts
 * import { Tools } from "@capstan/core"
 *
 * Tools.defaultMaxDepth // 10
 * ```
 * @since 0.4.0
 */
export const defaultMaxDepth: number = internal.defaultMaxDepth

/**
 * The definitions a request carries for a toolkit's tools: name, description and the JSON Schema of the
 * parameters (`Tool.getJsonSchema`). Throws `InvalidParams` for a name providers refuse (`[A-Za-z0-9_-]{1,64}`) or
 * a provider-defined tool.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Tool, Toolkit } from "effect/ai"
 * import { Tools } from "@capstan/core"
 *
 * const Weather = Tool.make("weather", {
 *   description: "Today's weather in a city",
 *   parameters: Schema.Struct({ city: Schema.String }),
 *   success: Schema.Struct({ celsius: Schema.Number })
 * })
 * Tools.definitions(Toolkit.make(Weather))[0]?.parameters // { type: "object", properties: { city: ... }, ... }
 * ```
 * @since 0.4.0
 */
export const definitions: (toolkit: Toolkit.Any) => ReadonlyArray<Generation.ToolDefinition> = internal.definitionsOf

/**
 * What the handlers of a toolkit's tools may fail with (the failure schemas of the tools whose `failureMode` is
 * `"error"`, the default, and `AiError`): a pipeline's errors under `onToolError: "fail"`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Tool, Toolkit } from "effect/ai"
 * import type { Tools } from "@capstan/core"
 *
 * const toolkit = Toolkit.make(Tool.make("lookup", { failure: Schema.String }))
 * type Failures = Tools.HandlerError<typeof toolkit.tools> // string | AiError
 * ```
 * @since 0.4.0
 */
export type HandlerError<T extends Record<string, Tool.Any>> = Tool.HandlerError<T[keyof T]>

/**
 * What a pipeline using a toolkit needs: the handlers (`toolkit.toLayer({...})`) and what they need.
 *
 * @example
 * ```ts
 * import { Tool } from "effect/ai"
 * import type { Tools } from "@capstan/core"
 *
 * const Now = Tool.make("now")
 * type Needs = Tools.Requirements<{ now: typeof Now }> // Tool.Handler<"now">
 * ```
 * @since 0.4.0
 */
export type Requirements<T extends Record<string, Tool.Any>> =
  | Tool.HandlersFor<T>
  | Tool.HandlerServices<T[keyof T]>

/**
 * The errors a pipeline gains from `using`: `MaxDepthExceeded`, and the handlers' failures under
 * `onToolError: "fail"`.
 *
 * @example
 * ```ts
 * import { Tool } from "effect/ai"
 * import type { Tools } from "@capstan/core"
 *
 * const Now = Tool.make("now")
 * type Errors = Tools.LoopError<{ now: typeof Now }, { onToolError: "fail" }> // MaxDepthExceeded | AiError
 * ```
 * @since 0.4.0
 */
export type LoopError<T extends Record<string, Tool.Any>, O> =
  | MaxDepthExceeded
  | (O extends { readonly onToolError: "fail" } ? HandlerError<T> : never)

/**
 * Every tool call a chat's answers made, in order.
 *
 * @example
 * ```ts
 * import { Tools } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * Tools.calls(chat).map((call) => call.name) // e.g. ["weather", "weather"]
 * ```
 * @since 0.4.0
 */
export const calls = (chat: Chat.Chat<unknown>): ReadonlyArray<Message.ToolCallPart> =>
  partsOf(chat, (part): part is Message.ToolCallPart => part._tag === "ToolCall")

/**
 * Every tool result a chat sent back, in order (`isError` for failures and the model's mistakes).
 *
 * @example
 * ```ts
 * import { Tools } from "@capstan/core"
 * import type { Chat } from "@capstan/core"
 *
 * declare const chat: Chat.Chat
 * Tools.results(chat).filter((result) => result.isError === true).length // failed calls
 * ```
 * @since 0.4.0
 */
export const results = (chat: Chat.Chat<unknown>): ReadonlyArray<Message.ToolResultPart> =>
  partsOf(chat, (part): part is Message.ToolResultPart => part._tag === "ToolResult")

const partsOf = <P extends Message.Part>(
  chat: Chat.Chat<unknown>,
  is: (part: Message.Part) => part is P
): ReadonlyArray<P> =>
  chat.generated.flatMap((message) => typeof message.content === "string" ? [] : message.content.filter(is))
