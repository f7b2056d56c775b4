/**
 * The fake's default answer to a request with tools the model may call, for both wire formats (OpenAI
 * `tools[].function` + `tool_choice`, Anthropic `tools[]` + `tool_choice`), deterministic so tests can predict it:
 *
 * - the conversation ends with a user message: call every tool whose name appears in its text (as a word), in the
 *   order of the request's tools, all in one answer (parallel calls), with arguments generated from the tool's input
 *   JSON Schema. None named: no call, the usual default answer (`echo: ...`; with `required` / `any`, the first
 *   tool's call). A tool choice naming one tool gets that tool's forced call, as before;
 * - the conversation ends with tool results: answer text that quotes them, `tool results: <name> → <content>; ...`
 *   (`<name> failed → ...` for an error result), so a test sees what reached the model. A forced tool choice is
 *   answered as before (it must call a tool), and a request for JSON of a schema gets an instance of it.
 *
 * A tool choice of `none` calls nothing. A scripted `respond` reply wins over all of this.
 * @module
 */
import { sampleFromSchema } from "./jsonSchemaSample.js"
import type { FakeMessage } from "./types.js"

type Json = Readonly<Record<string, unknown>>

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** A tool of a request: its name and the JSON Schema of its input. */
export interface FakeTool {
  readonly name: string
  readonly schema: unknown
}

/** The tools of a request and its tool choice, normalized across wire formats. */
export interface ToolsSpec {
  readonly tools: ReadonlyArray<FakeTool>
  /** `auto` when unset; a tool's name when one is forced. */
  readonly choice: "auto" | "none" | "required" | { readonly name: string }
}

/** The tools of an OpenAI chat or Anthropic messages body, if it has any. */
export const toolsOf = (api: "openai-chat" | "anthropic", body: Json): ToolsSpec | undefined => {
  const raw = Array.isArray(body["tools"]) ? body["tools"].filter(isRecord) : []
  const tools = raw.flatMap((t): Array<FakeTool> => {
    const definition = api === "openai-chat" ? t["function"] : t
    if (!isRecord(definition) || typeof definition["name"] !== "string") return []
    const schema = api === "openai-chat" ? definition["parameters"] : definition["input_schema"]
    return [{ name: definition["name"], schema: schema ?? { type: "object" } }]
  })
  if (tools.length === 0) return undefined
  const choice = body["tool_choice"]
  if (api === "openai-chat") {
    if (choice === "none" || choice === "required" || choice === "auto") return { tools, choice }
    const forced = isRecord(choice) && isRecord(choice["function"]) ? choice["function"]["name"] : undefined
    return { tools, choice: typeof forced === "string" ? { name: forced } : "auto" }
  }
  const type = isRecord(choice) ? choice["type"] : undefined
  if (type === "tool" && isRecord(choice) && typeof choice["name"] === "string") {
    return { tools, choice: { name: choice["name"] } }
  }
  return { tools, choice: type === "any" ? "required" : type === "none" ? "none" : "auto" }
}

/** What the default answer to a request with tools is, when the tools decide it. */
export type ToolAnswer =
  | { readonly kind: "calls"; readonly calls: ReadonlyArray<{ readonly name: string; readonly input: unknown }> }
  | { readonly kind: "text"; readonly text: string }

const escaped = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The tools named (as words) in a text. */
const namedIn = (text: string, tools: ReadonlyArray<FakeTool>): ReadonlyArray<FakeTool> =>
  tools.filter((tool) => new RegExp(`(^|[^A-Za-z0-9_-])${escaped(tool.name)}($|[^A-Za-z0-9_-])`).test(text))

/** The tool results the conversation ends with (OpenAI: the trailing `tool` messages). */
const trailingResults = (messages: ReadonlyArray<FakeMessage>) => {
  const last = messages.at(-1)
  if (last === undefined || last.toolResults.length === 0) return []
  if (last.role !== "tool") return last.toolResults
  let first = messages.length - 1
  while (first > 0 && messages[first - 1]!.role === "tool") first--
  return messages.slice(first).flatMap((m) => m.toolResults)
}

/**
 * The tools' default answer (see the module's comment), or `undefined` to let the usual default answer (echo,
 * schema instance, forced tool) stand.
 */
export const toolAnswer = (
  spec: ToolsSpec | undefined,
  messages: ReadonlyArray<FakeMessage>
): ToolAnswer | undefined => {
  if (spec === undefined || spec.choice === "none") return undefined
  const forced = typeof spec.choice === "object" ? spec.choice.name : undefined
  const results = trailingResults(messages)
  if (results.length > 0) {
    if (spec.choice !== "auto") return undefined
    const names = new Map(messages.flatMap((m) => m.toolCalls.map((c) => [c.id, c.name] as const)))
    const quoted = results.map((r) => `${names.get(r.id) ?? r.id}${r.isError ? " failed" : ""} → ${r.content}`)
    return { kind: "text", text: `tool results: ${quoted.join("; ")}` }
  }
  const last = messages.at(-1)
  if (last === undefined || last.role !== "user") return undefined
  // A forced tool is called as before (OpenAI's forced call ends with finish_reason "stop").
  if (forced !== undefined) return undefined
  const named = namedIn(last.text, spec.tools)
  if (named.length === 0) return undefined
  return { kind: "calls", calls: named.map((tool) => ({ name: tool.name, input: sampleFromSchema(tool.schema) })) }
}
