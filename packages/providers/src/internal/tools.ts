/**
 * The tools of a chat request on the wire: OpenAI `tools[].function` with `tool_choice`, Anthropic `tools[]` with
 * `tool_choice`, both checked before any request (names the APIs take, no name twice, a tool choice naming a tool
 * of the request).
 *
 * Anthropic asks for structured output with a forced tool. With tools as well, the answer tool goes first among
 * them and the model must call one of them (`tool_choice: any`): a tool of the request to go on, or the answer tool
 * to answer (its input is then the structured answer, its call never a tool call). `toolChoice` still decides:
 * `{ tool }` forces that tool, `"none"` forces the answer.
 *
 * @internal
 */
import type AnthropicSdk from "@anthropic-ai/sdk"
import { type Generation, InvalidRequest } from "@capstan/core"
import { Result } from "effect"
import type OpenAISdk from "openai"

const namePattern = /^[A-Za-z0-9_-]{1,64}$/

const isObject = (u: unknown): boolean => typeof u === "object" && u !== null && !Array.isArray(u)

/** What is wrong with a request's tools and tool choice, if anything: refused before any request. */
export const checkTools = (provider: string, request: Generation.ChatRequest): InvalidRequest | undefined => {
  const refuse = (detail: string) => new InvalidRequest({ provider, detail })
  const tools = request.tools ?? []
  const seen = new Set<string>()
  for (const [index, tool] of tools.entries()) {
    if (!namePattern.test(tool.name)) {
      return refuse(`tools[${index}].name "${tool.name}" is not a tool name: use 1 to 64 letters, digits, "_" or "-"`)
    }
    if (seen.has(tool.name)) return refuse(`tools[${index}]: two tools are named "${tool.name}"; rename one`)
    seen.add(tool.name)
    if (!isObject(tool.parameters) || (tool.parameters["type"] !== undefined && tool.parameters["type"] !== "object")) {
      return refuse(`tools[${index}] ("${tool.name}"): parameters must be a JSON Schema of an object`)
    }
  }
  const choice = request.toolChoice
  if (typeof choice === "object" && !seen.has(choice.tool)) {
    return refuse(
      `toolChoice names the tool "${choice.tool}", which the request does not define` +
        (tools.length === 0 ? " (it has no tools)" : ` (its tools: ${[...seen].join(", ")})`)
    )
  }
  if (choice === "required" && tools.length === 0) return refuse(`toolChoice "required" needs tools; add some`)
  if (request.structured !== undefined && seen.has(request.structured.name)) {
    return refuse(
      `a tool is named "${request.structured.name}" like the structured answer asked for; rename one of them`
    )
  }
  return undefined
}

/** The OpenAI chat `tools` and `tool_choice` of a request (none without tools). */
export const openAiTools = (
  request: Generation.ChatRequest
): Pick<OpenAISdk.ChatCompletionCreateParamsNonStreaming, "tools" | "tool_choice"> => {
  const tools = request.tools ?? []
  if (tools.length === 0) return {}
  const choice = request.toolChoice
  return {
    tools: tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters
      }
    })),
    ...(choice === undefined
      ? {}
      : { tool_choice: typeof choice === "string" ? choice : { type: "function", function: { name: choice.tool } } })
  }
}

/** An Anthropic tool: its name, description and input schema. */
const anthropicTool = (name: string, description: string | undefined, schema: unknown): AnthropicSdk.Tool => ({
  name,
  ...(description === undefined ? {} : { description }),
  input_schema: schema as AnthropicSdk.Tool.InputSchema
})

const anthropicChoice = (choice: Generation.ToolChoice): AnthropicSdk.ToolChoice =>
  typeof choice === "object"
    ? { type: "tool", name: choice.tool }
    : choice === "required"
    ? { type: "any" }
    : { type: choice }

/**
 * The Anthropic `tools` and `tool_choice` of a request: its tools, and the forced answer tool of its structured
 * output (see the module's comment for both together). Structured output is a forced tool, not the native
 * `output_config.format`, because every Claude model takes tools while only recent ones take an output format; its
 * input schema is effect's Anthropic rewrite of the answer's schema (`structured.ts`).
 */
export const anthropicTools = (
  request: Generation.ChatRequest,
  answer: { readonly name: string; readonly description: string | undefined; readonly schema: unknown } | undefined
): Pick<AnthropicSdk.MessageCreateParamsNonStreaming, "tools" | "tool_choice"> => {
  const tools = (request.tools ?? []).map((tool) => anthropicTool(tool.name, tool.description, tool.parameters))
  const choice = request.toolChoice
  if (answer === undefined) {
    return tools.length === 0
      ? {}
      : { tools, ...(choice === undefined ? {} : { tool_choice: anthropicChoice(choice) }) }
  }
  const forced = anthropicTool(answer.name, answer.description, answer.schema)
  const toolChoice: AnthropicSdk.ToolChoice = tools.length === 0 || choice === "none"
    ? { type: "tool", name: answer.name }
    : typeof choice === "object"
    ? { type: "tool", name: choice.tool }
    : { type: "any" }
  return { tools: [forced, ...tools], tool_choice: toolChoice }
}

/** A request's tools refused as a failed `Result`, for the request builders. */
export const checked = <A>(
  provider: string,
  request: Generation.ChatRequest,
  build: () => Result.Result<A, InvalidRequest>
): Result.Result<A, InvalidRequest> => {
  const problem = checkTools(provider, request)
  return problem === undefined ? build() : Result.fail(problem)
}
