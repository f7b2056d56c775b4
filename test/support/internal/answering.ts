/**
 * How one call is answered, shared by the realtime endpoints and the batch APIs so a batch request gets exactly the
 * body a realtime call with the same JSON would get: the request check, the `respond` hook's reply, the default
 * answer and the success body.
 * @module
 */
import type { IncomingHttpHeaders } from "node:http"
import { type ErrorSpec, fromFakeError, statusError } from "./errors.js"
import type { ApiKind, FakeBatchRef, FakeReply, FakeRequest, FaultKind } from "./types.js"
import { type Answer, answerTokens, buildSuccessBody, isRecord, parseCall, type ParsedCall } from "./wire.js"

/** What a call will be answered with. */
export type Outcome =
  | { readonly kind: "answer"; readonly answers: ReadonlyArray<Answer> }
  | { readonly kind: "fault"; readonly fault: FaultKind }
  | { readonly kind: "error"; readonly spec: ErrorSpec }

/** The respond hook of the configuration. */
export type Respond = (request: FakeRequest) => string | FakeReply | undefined

/** Checks a body the way the realtime endpoint does: the parsed call, or the 400 it is refused with. */
export const checkCall = (api: ApiKind, body: unknown): ParsedCall | ErrorSpec => {
  if (!isRecord(body)) {
    return statusError(400, "We could not parse the JSON body of your request. The body must be a JSON object.")
  }
  const call = parseCall(api, body)
  if ("invalid" in call) return statusError(400, call.invalid, null, call.param)
  if (call.stream && api === "openai-completion") {
    return statusError(400, "stream: the fake provider streams chat and messages only", null, "stream")
  }
  return call
}

export const isErrorSpec = (u: ParsedCall | ErrorSpec): u is ErrorSpec => "status" in u

/** OpenAI-style reservation: prompt estimate + n × (max_tokens, or the default answer's estimate). */
export const tokenCost = (call: ParsedCall, defaults: ReadonlyArray<Answer>): number => {
  let cost = 0
  call.promptTokens.forEach((p, i) => {
    const answer = defaults[i]
    cost += p + call.n * (call.maxTokens ?? (answer === undefined ? 0 : answerTokens(answer)))
  })
  return cost
}

/** Where a request came from, for the {@link FakeRequest} that `respond` sees. */
export interface RequestOrigin {
  readonly seq: number
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly batch?: FakeBatchRef | undefined
}

/** The normalized request `respond` sees for one prompt of `call`. */
export const fakeRequest = (
  origin: RequestOrigin,
  call: ParsedCall,
  params: Readonly<Record<string, unknown>>,
  promptIndex: number
): FakeRequest => {
  const prompt = call.prompts[promptIndex] ?? ""
  const request: FakeRequest = {
    seq: origin.seq,
    api: call.api,
    path: origin.path,
    model: call.model,
    messages: call.api === "openai-completion"
      ? [{ role: "user", text: prompt, images: 0, toolCalls: [], toolResults: [] }]
      : call.messages,
    system: call.system,
    prompt,
    promptIndex,
    maxTokens: call.maxTokens,
    n: call.n,
    params,
    headers: origin.headers
  }
  return origin.batch === undefined ? request : { ...request, batch: origin.batch }
}

/**
 * Asks `respond` (once per prompt) and turns its replies into the outcome: the first scripted fault or error wins,
 * otherwise one answer per prompt (the default where `respond` returned undefined). `onReply` sees each object reply
 * before it is applied, for the parts only the realtime path uses (latency, headers).
 */
export const scriptedOutcome = (
  call: ParsedCall,
  defaults: ReadonlyArray<Answer>,
  respond: Respond | undefined,
  requestFor: (promptIndex: number) => FakeRequest,
  onReply: (reply: FakeReply) => void = () => {}
): Outcome => {
  if (respond === undefined) return { kind: "answer", answers: defaults }
  const answers: Array<Answer> = []
  for (let i = 0; i < call.prompts.length; i++) {
    const fallback = defaults[i]!
    let reply: string | FakeReply | undefined
    try {
      reply = respond(requestFor(i))
    } catch (e) {
      return { kind: "error", spec: statusError(500, `respond() threw: ${e instanceof Error ? e.message : String(e)}`) }
    }
    if (reply === undefined) answers.push(fallback)
    else if (typeof reply === "string") answers.push({ kind: "text", text: reply })
    else {
      onReply(reply)
      if (reply.fault !== undefined) return { kind: "fault", fault: reply.fault }
      if (reply.error !== undefined) return { kind: "error", spec: fromFakeError(reply.error) }
      answers.push(replyAnswer(call, reply, fallback))
    }
  }
  return { kind: "answer", answers }
}

/**
 * Turns a scripted reply into an answer; a `toolInput` without a forced tool is sent as JSON text, and so are
 * `toolCalls` on the legacy completions endpoint (it has no tool calls).
 */
const replyAnswer = (call: ParsedCall, reply: FakeReply, fallback: Answer): Answer => {
  if (reply.toolInput !== undefined) {
    return call.forcedTool !== undefined
      ? { kind: "tool", name: call.forcedTool.name, input: reply.toolInput }
      : { kind: "text", text: JSON.stringify(reply.toolInput) }
  }
  if (reply.toolCalls !== undefined) {
    const calls: Answer = { kind: "calls", text: reply.text ?? "", calls: reply.toolCalls }
    return call.api === "openai-completion" ? { kind: "text", text: JSON.stringify(reply.toolCalls) } : calls
  }
  return reply.text !== undefined ? { kind: "text", text: reply.text } : fallback
}

/** The 200 body of a call (a content filter empties every answer), with its output token count. */
export const answerBody = (
  call: ParsedCall,
  answers: ReadonlyArray<Answer>,
  contentFilter: boolean,
  seq: number,
  nowMs: number,
  cachedTokens = 0
): { readonly body: unknown; readonly outputTokens: number } => {
  const filled = contentFilter ? call.prompts.map((): Answer => ({ kind: "text", text: "" })) : answers
  return buildSuccessBody({ call, answers: filled, contentFilter, seq, nowMs, cachedTokens })
}
