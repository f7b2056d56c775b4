/**
 * Request parsing and success-response bodies for the OpenAI (chat + legacy completions) and Anthropic Messages wire formats.
 * Only what the official SDKs read is produced; token counts are `ceil(chars / 4)` estimates (images a flat
 * `IMAGE_TOKENS`). Conversations are parsed and checked in `messages.ts`.
 * @module
 */
import { sampleFromSchema } from "./jsonSchemaSample.js"
import { anthropicMessages, contentText, conversationTokens, isProblem, openaiMessages } from "./messages.js"
import { toolAnswer, toolsOf, type ToolsSpec } from "./tools.js"
import type { ApiKind, FakeMessage, FakeReplyToolCall } from "./types.js"

type Json = Readonly<Record<string, unknown>>

/** A JSON object (not an array, not null). */
export const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)
const asString = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)
const asPositiveInt = (u: unknown): number | undefined =>
  typeof u === "number" && Number.isInteger(u) && u > 0 ? u : undefined

/** Token estimate used everywhere (prompt, answer, rate limits): one token per 4 characters, rounded up. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** A tool the request forces the model to call, with the JSON schema of its input. */
export interface ForcedTool {
  readonly name: string
  readonly schema: unknown
}

/** A request reduced to what the fake needs to answer it. */
export interface ParsedCall {
  readonly api: ApiKind
  readonly model: string
  readonly messages: ReadonlyArray<FakeMessage>
  readonly system: string | undefined
  /** One entry per answer to produce: the last user text (chat/messages) or each legacy prompt. */
  readonly prompts: ReadonlyArray<string>
  /** Prompt token estimate per entry of `prompts` (chat/messages: the whole conversation). */
  readonly promptTokens: ReadonlyArray<number>
  readonly n: number
  readonly maxTokens: number | undefined
  readonly stop: ReadonlyArray<string>
  readonly outputSchema: unknown
  readonly jsonObject: boolean
  readonly forcedTool: ForcedTool | undefined
  /** The tools the model may call and the tool choice (`tools.ts`), when the request has tools. */
  readonly tools?: ToolsSpec | undefined
  readonly stream: boolean
  /** Log probabilities asked for, as the number of alternatives per token (0: the chosen token only). */
  readonly logprobs: number | undefined
}

/** A request the fake refuses as malformed (answered with 400 invalid_request_error). */
export interface InvalidCall {
  readonly invalid: string
  readonly param: string | null
}

/** What one answer will contain before `stop` / `max_tokens` are applied. */
export type Answer =
  | { readonly kind: "text"; readonly text: string }
  /** The forced tool's call (structured output). */
  | { readonly kind: "tool"; readonly name: string; readonly input: unknown }
  /** Tool calls the model chose to make, after some text (possibly empty). */
  | { readonly kind: "calls"; readonly text: string; readonly calls: ReadonlyArray<FakeReplyToolCall> }

// ---------------------------------------------------------------------------------------------------------------------
// Parsing

/** Parses a JSON body for `api`; returns a description of the problem when the SDK-level contract is violated. */
export const parseCall = (api: ApiKind, body: Json): ParsedCall | InvalidCall => {
  const model = asString(body["model"])
  if (model === undefined) return { invalid: "you must provide a model parameter", param: "model" }
  const stream = body["stream"] === true
  if (api === "openai-completion") return parseCompletion(model, body, stream)
  if (!Array.isArray(body["messages"])) return { invalid: "messages: Field required", param: "messages" }
  return api === "anthropic" ? parseAnthropic(model, body, stream) : parseChat(model, body, stream)
}

const parseChat = (model: string, body: Json, stream: boolean): ParsedCall | InvalidCall => {
  const messages = openaiMessages(body["messages"] as ReadonlyArray<unknown>)
  if (isProblem(messages)) return messages
  const top = body["top_logprobs"]
  if (top !== undefined && !(Number.isInteger(top) && (top as number) >= 0 && (top as number) <= 20)) {
    return {
      invalid: `Invalid 'top_logprobs': integer below minimum value or above maximum value 20.`,
      param: "top_logprobs"
    }
  }
  if (top !== undefined && body["logprobs"] !== true) {
    return { invalid: "Invalid value for 'top_logprobs': 'logprobs' must be set to true.", param: "top_logprobs" }
  }
  const systemParts = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => m.text)
  const format = isRecord(body["response_format"]) ? body["response_format"] : undefined
  const jsonSchema = format?.["type"] === "json_schema" && isRecord(format["json_schema"])
    ? format["json_schema"]["schema"]
    : undefined
  return {
    api: "openai-chat",
    model,
    messages,
    system: systemParts.length > 0 ? systemParts.join("\n") : undefined,
    prompts: [lastUserText(messages)],
    promptTokens: [conversationTokens(estimateTokens, "", messages)],
    n: asPositiveInt(body["n"]) ?? 1,
    maxTokens: asPositiveInt(body["max_completion_tokens"]) ?? asPositiveInt(body["max_tokens"]),
    stop: stopList(body["stop"]),
    outputSchema: jsonSchema,
    jsonObject: format?.["type"] === "json_object",
    forcedTool: openaiForcedTool(body),
    tools: toolsOf("openai-chat", body),
    stream,
    logprobs: body["logprobs"] === true ? (top as number | undefined) ?? 0 : undefined
  }
}

const parseCompletion = (model: string, body: Json, stream: boolean): ParsedCall | InvalidCall => {
  const logprobs = body["logprobs"]
  if (
    logprobs !== undefined && logprobs !== null &&
    !(Number.isInteger(logprobs) && (logprobs as number) >= 0 && (logprobs as number) <= 5)
  ) {
    return { invalid: "Invalid 'logprobs': an integer from 0 to 5.", param: "logprobs" }
  }
  const prompt = body["prompt"]
  // Token-id prompts are rare; stringifying keeps them countable without a tokenizer.
  const prompts = Array.isArray(prompt) && prompt.every((p) => typeof p === "string")
    ? prompt as ReadonlyArray<string>
    : [typeof prompt === "string" ? prompt : prompt === undefined ? "" : JSON.stringify(prompt)]
  return {
    api: "openai-completion",
    model,
    messages: prompts.map((text) => ({ role: "user", text, images: 0, toolCalls: [], toolResults: [] })),
    system: undefined,
    prompts,
    promptTokens: prompts.map(estimateTokens),
    n: asPositiveInt(body["n"]) ?? 1,
    maxTokens: asPositiveInt(body["max_tokens"]),
    stop: stopList(body["stop"]),
    outputSchema: undefined,
    jsonObject: false,
    forcedTool: undefined,
    stream,
    logprobs: typeof logprobs === "number" ? logprobs : undefined
  }
}

const parseAnthropic = (model: string, body: Json, stream: boolean): ParsedCall | InvalidCall => {
  const maxTokens = asPositiveInt(body["max_tokens"])
  if (maxTokens === undefined) return { invalid: "max_tokens: Field required", param: "max_tokens" }
  const messages = anthropicMessages(body["messages"] as ReadonlyArray<unknown>)
  if (isProblem(messages)) return messages
  const system = body["system"] === undefined ? undefined : contentText(body["system"])
  const outputConfig = isRecord(body["output_config"]) ? body["output_config"] : undefined
  const format = isRecord(outputConfig?.["format"])
    ? outputConfig["format"]
    : isRecord(body["output_format"])
    ? body["output_format"]
    : undefined
  return {
    api: "anthropic",
    model,
    messages,
    system,
    prompts: [lastUserText(messages)],
    promptTokens: [conversationTokens(estimateTokens, system ?? "", messages)],
    n: 1,
    maxTokens,
    stop: stopList(body["stop_sequences"]),
    outputSchema: format?.["type"] === "json_schema" ? format["schema"] : undefined,
    jsonObject: false,
    forcedTool: anthropicForcedTool(body),
    tools: toolsOf("anthropic", body),
    stream,
    logprobs: undefined
  }
}

const lastUserText = (messages: ReadonlyArray<FakeMessage>): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (m !== undefined && m.role === "user") return m.text
  }
  return ""
}

const stopList = (stop: unknown): ReadonlyArray<string> =>
  typeof stop === "string"
    ? [stop]
    : Array.isArray(stop)
    ? stop.filter((s): s is string => typeof s === "string" && s.length > 0)
    : []

const openaiForcedTool = (body: Json): ForcedTool | undefined => {
  const tools = Array.isArray(body["tools"]) ? body["tools"].filter(isRecord) : []
  const functions = tools.map((t) => (isRecord(t["function"]) ? t["function"] : undefined)).filter(isRecord)
  const choice = body["tool_choice"]
  const wanted = choice === "required"
    ? functions[0]
    : isRecord(choice) && isRecord(choice["function"])
    ? functions.find((f) => f["name"] === (choice["function"] as Json)["name"])
    : undefined
  const name = asString(wanted?.["name"])
  return name === undefined ? undefined : { name, schema: wanted?.["parameters"] ?? { type: "object" } }
}

const anthropicForcedTool = (body: Json): ForcedTool | undefined => {
  const tools = Array.isArray(body["tools"]) ? body["tools"].filter(isRecord) : []
  const choice = isRecord(body["tool_choice"]) ? body["tool_choice"] : undefined
  const wanted = choice?.["type"] === "any"
    ? tools[0]
    : choice?.["type"] === "tool"
    ? tools.find((t) => t["name"] === choice["name"])
    : undefined
  const name = asString(wanted?.["name"])
  return name === undefined ? undefined : { name, schema: wanted?.["input_schema"] ?? { type: "object" } }
}

// ---------------------------------------------------------------------------------------------------------------------
// Answers

/**
 * The deterministic answer for one prompt: the tools' answer (calls of the tools the user named, or the quoted
 * tool results, see `tools.ts`), a forced tool call, a schema instance, or `echo: <prompt>`.
 */
export const defaultAnswer = (call: ParsedCall, prompt: string): Answer => {
  const byTools = toolAnswer(call.tools, call.messages)
  if (byTools?.kind === "calls") return { kind: "calls", text: "", calls: byTools.calls }
  // After tool results, a request for JSON of a schema still gets an instance of it.
  if (byTools !== undefined && call.outputSchema === undefined) return byTools
  if (call.forcedTool !== undefined) {
    return { kind: "tool", name: call.forcedTool.name, input: sampleFromSchema(call.forcedTool.schema) }
  }
  if (call.outputSchema !== undefined) {
    return { kind: "text", text: JSON.stringify(sampleFromSchema(call.outputSchema)) }
  }
  if (call.jsonObject) return { kind: "text", text: JSON.stringify({ echo: prompt }) }
  return { kind: "text", text: `echo: ${prompt}` }
}

/** Estimated output tokens of an answer before truncation. */
export const answerTokens = (answer: Answer): number => estimateTokens(answerAsText(answer))

type Finish = "natural" | "stop_sequence" | "length"

interface FinishedText {
  readonly text: string
  readonly tokens: number
  readonly finish: Finish
  readonly stopSequence: string | null
}

/** Applies stop sequences (cut at the earliest) and then `max_tokens` (cut to `4 × max_tokens` characters). */
const finishText = (text: string, stop: ReadonlyArray<string>, maxTokens: number | undefined): FinishedText => {
  let cut = text
  let stopSequence: string | null = null
  for (const s of stop) {
    const at = cut.indexOf(s)
    if (at >= 0) {
      cut = cut.slice(0, at)
      stopSequence = s
    }
  }
  const tokens = estimateTokens(cut)
  if (maxTokens !== undefined && tokens > maxTokens) {
    return { text: cut.slice(0, maxTokens * 4), tokens: maxTokens, finish: "length", stopSequence: null }
  }
  return { text: cut, tokens, finish: stopSequence === null ? "natural" : "stop_sequence", stopSequence }
}

/** Everything the body builders need besides the parsed call. */
export interface AnswerContext {
  readonly call: ParsedCall
  /** One answer per prompt. */
  readonly answers: ReadonlyArray<Answer>
  readonly contentFilter: boolean
  readonly seq: number
  readonly nowMs: number
  /** Prompt tokens to report as read from the prompt cache (capped at the request's prompt tokens). */
  readonly cachedTokens?: number
}

/** Output token count of the built body, for stats. */
export interface BuiltBody {
  readonly body: unknown
  readonly outputTokens: number
}

/** Builds the 200 body for the call's API. */
export const buildSuccessBody = (ctx: AnswerContext): BuiltBody => {
  switch (ctx.call.api) {
    case "openai-chat":
      return chatBody(ctx)
    case "openai-completion":
      return completionBody(ctx)
    case "anthropic":
      return anthropicBody(ctx)
  }
}

function answerAsText(answer: Answer): string {
  switch (answer.kind) {
    case "text":
      return answer.text
    case "tool":
      return JSON.stringify(answer.input)
    case "calls":
      return answer.text + JSON.stringify(answer.calls.map((c) => ({ name: c.name, input: c.input })))
  }
}

/** The calls of an answer, each with its id (scripted, else derived from the request's sequence number). */
const callsWithIds = (answer: Extract<Answer, { kind: "calls" }>, prefix: string, seq: number) =>
  answer.calls.map((call, i) => ({ id: call.id ?? `${prefix}${seq}_${i}`, name: call.name, input: call.input }))

const openaiUsage = (prompt: number, completion: number, cached: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: Math.min(cached, prompt), audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0
  }
})

const chatBody = ({ answers, cachedTokens = 0, call, contentFilter, nowMs, seq }: AnswerContext): BuiltBody => {
  const answer = answers[0] ?? { kind: "text", text: "" }
  const choice = chatChoice(call, answer, contentFilter, seq)
  const choices = Array.from({ length: call.n }, (_, index) => ({ index, ...choice.value }))
  const completion = choice.tokens * call.n
  const prompt = call.promptTokens[0] ?? 0
  return {
    body: {
      id: `chatcmpl-fake${seq}`,
      object: "chat.completion",
      created: Math.floor(nowMs / 1000),
      model: call.model,
      choices,
      usage: openaiUsage(prompt, completion, cachedTokens),
      service_tier: "default",
      system_fingerprint: "fp_fake"
    },
    outputTokens: completion
  }
}

const chatChoice = (call: ParsedCall, answer: Answer, contentFilter: boolean, seq: number) => {
  if (!contentFilter && answer.kind === "tool" && call.forcedTool !== undefined) {
    const args = JSON.stringify(answer.input)
    const toolCall = { id: `call_fake${seq}`, type: "function", function: { name: answer.name, arguments: args } }
    // OpenAI quirk: a FORCED tool call (named or "required") ends with finish_reason "stop", not "tool_calls".
    return {
      tokens: estimateTokens(args),
      value: { message: { ...assistant(null), tool_calls: [toolCall] }, logprobs: null, finish_reason: "stop" }
    }
  }
  if (!contentFilter && answer.kind === "calls") {
    const toolCalls = callsWithIds(answer, "call_fake", seq).map(({ id, name, input }) => ({
      id,
      type: "function",
      function: { name, arguments: JSON.stringify(input) }
    }))
    return {
      tokens: answerTokens(answer),
      value: {
        message: { ...assistant(answer.text.length === 0 ? null : answer.text), tool_calls: toolCalls },
        logprobs: null,
        finish_reason: "tool_calls"
      }
    }
  }
  const done = openaiText(call, answer, contentFilter)
  const logprobs = call.logprobs === undefined
    ? null
    : { content: chatLogprobs(done.text, call.logprobs), refusal: null }
  return { tokens: done.tokens, value: { message: assistant(done.text), logprobs, finish_reason: done.finish } }
}

/**
 * Made-up log probabilities of a text's tokens (a word with the spaces before it): deterministic, the chosen token
 * first among its `top` alternatives, the others less likely.
 */
const fakeLogprobs = (text: string, top: number) =>
  (text.match(/\s*\S+/g) ?? []).map((token, i) => {
    const logprob = -0.05 * ((i % 7) + 1)
    const alternatives = Array.from({ length: top }, (_, j) =>
      j === 0 ? { token, logprob } : { token: `${token}~${j}`, logprob: logprob - j })
    return { token, logprob, alternatives }
  })

const bytesOf = (token: string) => [...Buffer.from(token, "utf8")]

const chatLogprobs = (text: string, top: number) =>
  fakeLogprobs(text, top).map(({ alternatives, logprob, token }) => ({
    token,
    logprob,
    bytes: bytesOf(token),
    top_logprobs: alternatives.map((a) => ({ ...a, bytes: bytesOf(a.token) }))
  }))

const completionLogprobs = (text: string, top: number) => {
  const tokens = fakeLogprobs(text, top)
  let offset = 0
  return {
    tokens: tokens.map((t) => t.token),
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map((t) => Object.fromEntries(t.alternatives.map((a) => [a.token, a.logprob]))),
    text_offset: tokens.map((t) => (offset += t.token.length) - t.token.length)
  }
}

const assistant = (content: string | null) => ({ role: "assistant", content, refusal: null, annotations: [] })

const completionBody = ({ call, answers, contentFilter, seq, nowMs }: AnswerContext): BuiltBody => {
  const choices: Array<unknown> = []
  let completion = 0
  answers.forEach((answer, promptIndex) => {
    const done = openaiText(call, answer, contentFilter)
    for (let j = 0; j < call.n; j++) {
      const logprobs = call.logprobs === undefined ? null : completionLogprobs(done.text, call.logprobs)
      choices.push({ index: promptIndex * call.n + j, text: done.text, logprobs, finish_reason: done.finish })
      completion += done.tokens
    }
  })
  const prompt = call.promptTokens.reduce((a, b) => a + b, 0)
  return {
    body: {
      id: `cmpl-fake${seq}`,
      object: "text_completion",
      created: Math.floor(nowMs / 1000),
      model: call.model,
      choices,
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    },
    outputTokens: completion
  }
}

/** The text of an OpenAI choice (chat or legacy) and its `finish_reason`: filtered away, or cut by `stop` / `max_tokens`. */
const openaiText = (call: ParsedCall, answer: Answer, contentFilter: boolean) => {
  if (contentFilter) return { text: "", tokens: 0, finish: "content_filter" }
  const done = finishText(answerAsText(answer), call.stop, call.maxTokens)
  return { text: done.text, tokens: done.tokens, finish: done.finish === "length" ? "length" : "stop" }
}

const anthropicBody = ({ answers, cachedTokens = 0, call, contentFilter, seq }: AnswerContext): BuiltBody => {
  const answer = answers[0] ?? { kind: "text", text: "" }
  const base = { id: `msg_fake${seq}`, type: "message", role: "assistant", model: call.model }
  const prompt = call.promptTokens[0] ?? 0
  const cached = Math.min(cachedTokens, prompt)
  // Anthropic's input_tokens counts only what was neither read from nor written to the cache.
  const usage = (output: number) => ({
    input_tokens: prompt - cached,
    output_tokens: output,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    service_tier: "standard"
  })
  if (contentFilter) {
    return {
      body: { ...base, content: [], stop_reason: "refusal", stop_sequence: null, usage: usage(0) },
      outputTokens: 0
    }
  }
  if (answer.kind === "tool") {
    const tokens = estimateTokens(JSON.stringify(answer.input))
    const block = { type: "tool_use", id: `toolu_fake${seq}`, name: answer.name, input: answer.input }
    return {
      body: { ...base, content: [block], stop_reason: "tool_use", stop_sequence: null, usage: usage(tokens) },
      outputTokens: tokens
    }
  }
  if (answer.kind === "calls") {
    const tokens = answerTokens(answer)
    const content = [
      ...(answer.text.length === 0 ? [] : [{ type: "text", text: answer.text, citations: null }]),
      ...callsWithIds(answer, "toolu_fake", seq).map(({ id, name, input }) => ({ type: "tool_use", id, name, input }))
    ]
    return {
      body: { ...base, content, stop_reason: "tool_use", stop_sequence: null, usage: usage(tokens) },
      outputTokens: tokens
    }
  }
  const done = finishText(answer.text, call.stop, call.maxTokens)
  const stopReason = done.finish === "length"
    ? "max_tokens"
    : done.finish === "stop_sequence"
    ? "stop_sequence"
    : "end_turn"
  const content = done.text.length > 0 ? [{ type: "text", text: done.text, citations: null }] : []
  return {
    body: { ...base, content, stop_reason: stopReason, stop_sequence: done.stopSequence, usage: usage(done.tokens) },
    outputTokens: done.tokens
  }
}
