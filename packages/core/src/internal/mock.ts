import { Duration, Effect, Redacted, type Schema, Stream } from "effect"
import * as Errors from "../Errors.js"
import type { GenerateParams } from "../GenerateParams.js"
import type { ChatRequest, CompletionRequest, PackedCompletionRequest } from "../Generation.js"
import { Generation } from "../Generation.js"
import * as GenerationModule from "../Generation.js"
import type { Identifier } from "../Identifier.js"
import { ToolCallPart } from "../Message.js"
import * as Usage from "../Usage.js"
import type { BatchApi, BatchEntry, BatchOutcome, Capabilities, Provider, Service } from "./generator.js"

/** Where a prompt sat in a packed request (`completeMany`): how many prompts it held, and this one's position. */
export interface PackPlace {
  readonly prompts: number
  readonly position: number
}

/**
 * A request as a mock generator saw it. The prompts of a packed request are recorded one by one, with the same
 * `call` and their place in the pack.
 */
export type RecordedRequest =
  | ({ readonly _tag: "chat"; readonly call: number } & ChatRequest)
  | ({ readonly _tag: "completion"; readonly call: number; readonly packed?: PackPlace } & CompletionRequest)

/** What a script may answer: one text, one text per choice, a whole generation, or an Effect of those. */
export type Reply =
  | string
  | ReadonlyArray<string>
  | Generation
  | Effect.Effect<string | ReadonlyArray<string> | Generation, Errors.GenerationError>

export type Script = (request: RecordedRequest) => Reply

export interface Options {
  readonly script: Script
  readonly delay?: Duration.Input | undefined
  /** Fail calls 1..n (1-based) for which this answers an error. */
  readonly failure?: ((call: number) => Errors.GenerationError | undefined) | undefined
  readonly record?: ((request: RecordedRequest) => void) | undefined
  readonly capabilities?: Capabilities | undefined
}

/** A rough token count (four characters a token), so mock usage is plausible and deterministic. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

const textOf = (request: RecordedRequest): string =>
  request._tag === "chat" ? request.messages.map((m) => m.text).join("\n") : request.prompt

const toGeneration = (reply: string | ReadonlyArray<string> | Generation, request: RecordedRequest): Generation => {
  if (reply instanceof Generation) return reply
  const n = request.params.n ?? 1
  const texts = typeof reply === "string" ? Array.from({ length: n }, () => reply) : reply
  const capped = texts.map((t) => truncate(t, request.params))
  return new Generation({
    choices: capped.map(({ text, stopReason }) => new GenerationModule.Choice({ text, stopReason })),
    usage: new Usage.Usage({
      inputTokens: estimateTokens(textOf(request)),
      outputTokens: capped.reduce((sum, c) => sum + estimateTokens(c.text), 0)
    })
  })
}

const truncate = (text: string, params: GenerateParams): { text: string; stopReason: GenerationModule.StopReason } =>
  params.maxTokens !== undefined && estimateTokens(text) > params.maxTokens
    ? { text: text.slice(0, params.maxTokens * 4), stopReason: "length" }
    : { text, stopReason: "stop" }

/** Builds a mock generator service. */
export const make = (identifier: Identifier, options: Options): Service => {
  let calls = 0
  const run = (request: RecordedRequest): Effect.Effect<Generation, Errors.GenerationError> =>
    Effect.gen(function*() {
      options.record?.(request)
      if (options.delay !== undefined) yield* Effect.sleep(options.delay)
      const failure = options.failure?.(request.call)
      if (failure !== undefined) return yield* failure
      const reply = options.script(request)
      const value = Effect.isEffect(reply) ? yield* reply : reply
      return toGeneration(value, request)
    })
  const generate = (request: ChatRequest) => Effect.suspend(() => run({ _tag: "chat", call: ++calls, ...request }))
  const complete = (request: CompletionRequest) =>
    Effect.suspend(() => run({ _tag: "completion", call: ++calls, ...request }))
  // A packed request is one call: recorded once per prompt, answered (or failed) as a whole, prompt after prompt.
  const completeMany = (request: PackedCompletionRequest) =>
    Effect.suspend(() => {
      const call = ++calls
      const prompts = request.prompts.length
      const records = request.prompts.map((prompt, position): RecordedRequest => ({
        _tag: "completion",
        call,
        prompt,
        params: request.params,
        packed: { prompts, position }
      }))
      records.forEach((record) => options.record?.(record))
      return Effect.gen(function*() {
        if (options.delay !== undefined) yield* Effect.sleep(options.delay)
        const failure = options.failure?.(call)
        if (failure !== undefined) return yield* failure
        const answers: Array<Generation> = []
        for (const record of records) {
          const reply = options.script(record)
          answers.push(toGeneration(Effect.isEffect(reply) ? yield* reply : reply, record))
        }
        return new Generation({
          choices: answers.flatMap((answer) => answer.choices),
          usage: Usage.sum(answers.map((answer) => answer.usage))
        })
      })
    })
  return {
    identifier,
    ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }),
    generate,
    complete,
    completeMany,
    // The whole answer, then its text a word at a time: a stream as a provider would send it.
    stream: (request) =>
      Stream.unwrap(
        Effect.map(generate(request), (generation) =>
          Stream.fromIterable(generation.choices.flatMap((choice, index) =>
            (choice.text.match(/\S+\s*|\s+/g) ?? []).map((text) => ({ _tag: "Delta" as const, index, text }))
          )).pipe(Stream.concat(Stream.make({ _tag: "Done" as const, generation }))))
      ),
    batch: batchApi(generate, complete)
  }
}

/**
 * A provider batch API in memory: a batch ends as soon as it is created, and its results are the mock's answers
 * (a failing call is a failed result), so provider batch mode can be tried and tested offline.
 */
const batchApi = (
  generate: (request: ChatRequest) => Effect.Effect<Generation, Errors.GenerationError>,
  complete: (request: CompletionRequest) => Effect.Effect<Generation, Errors.GenerationError>
): BatchApi => {
  const entries = new Map<string, BatchEntry>()
  const batches = new Map<string, ReadonlyArray<string>>()
  const encode = (entry: BatchEntry) =>
    Effect.sync(() => {
      const key = `${entries.size}`
      entries.set(key, entry)
      return JSON.stringify({ key, custom_id: entry.customId })
    })
  return {
    limits: { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 },
    encode,
    create: (lines) =>
      Effect.sync(() => {
        const id = `mockbatch_${batches.size + 1}`
        batches.set(id, lines.map((line) => (JSON.parse(line) as { readonly key: string }).key))
        return id
      }),
    retrieve: (batchId) =>
      Effect.succeed(
        batches.has(batchId)
          ? { _tag: "Ended", status: "ended" }
          : {
            _tag: "Failed",
            status: "not_found",
            error: new Errors.InvalidRequest({ provider: "mock", detail: `no batch ${batchId}`, status: 404 })
          }
      ),
    results: (batchId) =>
      Stream.fromIterable(batches.get(batchId) ?? []).pipe(
        Stream.mapEffect((key) => {
          const entry = entries.get(key)!
          entries.delete(key)
          const answer = entry.kind === "chat" ? generate(entry.request) : complete(entry.request)
          return answer.pipe(
            Effect.map((generation): BatchOutcome => ({ _tag: "Answered", generation })),
            Effect.catch((error) => Effect.succeed<BatchOutcome>({ _tag: "Failed", error })),
            Effect.map((outcome) => ({ customId: entry.customId, outcome }))
          )
        })
      ),
    cancel: () => Effect.void
  }
}

/** A tool call a mock answer makes: the tool's name, its input (default `{}`), and its id. */
export interface ToolCallReply {
  readonly name: string
  readonly input?: Schema.Json | undefined
  readonly id?: string | undefined
}

/** A generation of one choice that calls tools (after `text`); ids default to `call_<round>_<i>`. */
export const toolCallsGeneration = (calls: ReadonlyArray<ToolCallReply>, text = "", round = 0): Generation => {
  const parts = calls.map((call, i) =>
    new ToolCallPart({ id: call.id ?? `call_${round}_${i}`, name: call.name, input: call.input ?? {} })
  )
  return new Generation({
    choices: [new GenerationModule.Choice({ text, stopReason: "tool_calls", toolCalls: parts })],
    usage: new Usage.Usage({
      inputTokens: 0,
      outputTokens: estimateTokens(text + JSON.stringify(calls.map((c) => ({ name: c.name, input: c.input ?? {} }))))
    })
  })
}

/** How many rounds of tool results a chat request carries: which step of a tool script answers it. */
export const toolRoundOf = (request: RecordedRequest): number =>
  request._tag === "chat" ? request.messages.filter((m) => m.role === "tool").length : 0

/** The last user message (or prompt) of a request. */
export const lastText = (request: RecordedRequest): string =>
  request._tag === "chat"
    ? [...request.messages].reverse().find((m) => m.role === "user")?.text ?? request.messages.at(-1)?.text ?? ""
    : request.prompt

/** The errors `fail_with=` may name, built as a mock would raise them. */
const errorsByTag: Readonly<Record<string, () => Errors.GenerationError>> = {
  RateLimited: () => new Errors.RateLimited({ provider: "mock", detail: "simulated rate limit", retryAfterMs: 1000 }),
  Overloaded: () => new Errors.Overloaded({ provider: "mock", detail: "simulated overload", status: 529 }),
  ServerError: () => new Errors.ServerError({ provider: "mock", detail: "simulated server error", status: 500 }),
  Timeout: () => new Errors.Timeout({ provider: "mock", detail: "simulated timeout" }),
  ConnectionError: () => new Errors.ConnectionError({ provider: "mock", detail: "simulated connection reset" }),
  MalformedResponse: () => new Errors.MalformedResponse({ provider: "mock", detail: "simulated malformed body" }),
  AuthenticationError: () =>
    new Errors.AuthenticationError({ provider: "mock", detail: "simulated bad key", status: 401 }),
  InvalidRequest: () =>
    new Errors.InvalidRequest({ provider: "mock", detail: "simulated invalid request", status: 400 }),
  ContextLengthExceeded: () => new Errors.ContextLengthExceeded({ provider: "mock", detail: "simulated long prompt" }),
  ContentFiltered: () => new Errors.ContentFiltered({ provider: "mock", detail: "simulated content filter" })
}

// --- mock!demo: plausible offline answers for the quick start -------------------------------------------------

/** A deterministic 32-bit hash (FNV-1a), so the demo answers the same prompt the same way on every run. */
const hashOf = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** The prompt's last non-empty line without a `Label:` prefix, cut to a dozen words: what a terse model might quote back. */
const excerpt = (text: string): string => {
  const last = text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0).at(-1) ?? ""
  const line = last.replace(/^[A-Za-z][\w ]{0,20}:\s+/, "")
  const words = line.split(/\s+/)
  return words.length > 12 ? `${words.slice(0, 12).join(" ")}...` : line
}

// A tiny sentiment lexicon, so the offline demo labels reviews the way a reader would (a placeholder for a model,
// not a classifier: anything else is picked by the prompt's hash).
const positiveWords =
  /\b(great|love[sd]?|lovely|favou?rite|wonderful(ly)?|excellent|perfect|delicious|smooth|bright|juicy|clean|crisp|worth|praise|reorder(ed)?|treat|good|best|sweet(ness)?|balanced|complex|evenly|chocolatey|floral|could taste like this|does the job)\b/gi
const negativeWords =
  /\b(bad|burnt|bitter|cardboard|not for me|never|worst|awful|watery|sour|flat|broken|harsh|muddy|boring|artificial|lingers|clogged|sadly|expensive|less so)\b/gi

const sentimentOf = (text: string): "positive" | "negative" | "mixed" | "neutral" => {
  const positive = text.match(positiveWords)?.length ?? 0
  const negative = text.match(negativeWords)?.length ?? 0
  if (positive === 0 && negative === 0) return "neutral"
  if (positive > 0 && negative > 0 && Math.abs(positive - negative) <= 1) return "mixed"
  return positive > negative ? "positive" : "negative"
}

/** An enum value: a sentiment label matching the prompt when the enum holds sentiment labels, else by hash. */
const pickEnum = (values: ReadonlyArray<unknown>, text: string, seed: number): unknown => {
  const labels = values.map((v) => String(v).toLowerCase())
  if (labels.includes("positive") && labels.includes("negative")) {
    const review = text.split("\n").filter((line) => line.trim().length > 0).slice(-2).join("\n")
    const sentiment = sentimentOf(review)
    const fallback = sentiment === "mixed" || sentiment === "neutral"
      ? labels.findIndex((l) => l === "mixed" || l === "neutral")
      : -1
    const index = labels.indexOf(sentiment) >= 0 ? labels.indexOf(sentiment) : fallback
    if (index >= 0) return values[index]
  }
  return values[seed % values.length]
}

type JsonSchema = Readonly<Record<string, unknown>>

/** A JSON value that fits `schema`: enum values picked by the prompt's hash, strings quoted from the prompt. */
const sample = (schema: JsonSchema, root: JsonSchema, text: string, seed: number, depth = 0): unknown => {
  const ref = typeof schema.$ref === "string" ? schema.$ref.match(/^#\/(?:\$defs|definitions)\/(.+)$/)?.[1] : undefined
  const defs = (root.$defs ?? root.definitions) as Readonly<Record<string, JsonSchema>> | undefined
  if (ref !== undefined && defs?.[ref] !== undefined && depth < 8) return sample(defs[ref], root, text, seed, depth + 1)
  if ("const" in schema) return schema.const
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return pickEnum(schema.enum, text, seed)
  const branches = (schema.anyOf ?? schema.oneOf) as ReadonlyArray<JsonSchema> | undefined
  const branch = branches?.find((b) => b.type !== "null")
  if (branch !== undefined) return sample(branch, root, text, seed, depth + 1)
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type
  switch (type) {
    case "object": {
      const properties = (schema.properties ?? {}) as Readonly<Record<string, JsonSchema>>
      return Object.fromEntries(
        Object.entries(properties).map((
          [key, property]
        ) => [key, sample(property, root, text, hashOf(`${seed}:${key}`), depth + 1)])
      )
    }
    case "array":
      return depth < 8 ? [sample((schema.items ?? {}) as JsonSchema, root, text, seed, depth + 1)] : []
    case "integer":
    case "number": {
      const min = typeof schema.minimum === "number" ? schema.minimum : 0
      const max = typeof schema.maximum === "number" ? schema.maximum : min + 10
      return Math.min(max, min + (seed % (Math.floor(max - min) + 1)))
    }
    case "boolean":
      return seed % 2 === 0
    case "null":
      return null
    default: {
      const quote = excerpt(text)
      return typeof schema.maxLength === "number" ? quote.slice(0, schema.maxLength) : quote
    }
  }
}

const demo: Script = (request) => {
  const text = lastText(request)
  if (request._tag === "chat" && request.structured !== undefined) {
    return JSON.stringify(sample(request.structured.schema, request.structured.schema, text, hashOf(text)))
  }
  return `(offline demo answer) ${excerpt(text)}`
}

const scripts: Readonly<Record<string, (identifier: Identifier) => Script>> = {
  demo: () => demo,
  echo: () => lastText,
  fixed: (identifier) => {
    const reply = identifier.setting("reply")
    // A reply shaped like a key is held redacted (it prints masked); the mock still answers it.
    const text = Redacted.isRedacted(reply) ? String(Redacted.value(reply)) : typeof reply === "string" ? reply : "ok"
    return () => text
  }
}

/** The built-in offline provider: `mock!echo`, `mock!fixed,reply=...`, with optional delay and failures. */
export const mockProvider: Provider = {
  name: "mock",
  description:
    "Built-in offline generator: mock!echo repeats the last user message, mock!fixed,reply=TEXT answers TEXT, mock!demo answers plausibly (JSON fitting the schema when asked for structured output)",
  models: /^mock$/,
  env: [],
  settings: {
    reply: { kind: "string", description: "the answer of mock!fixed" },
    delay_ms: { kind: "float", description: "latency of every call, in milliseconds", minimum: 0 },
    fail_every: { kind: "int", description: "fail every k-th call (with fail_with)", minimum: 1 },
    fail_with: { kind: "string", description: `the error to fail with: ${Object.keys(errorsByTag).join(", ")}` }
  },
  make: (identifier) => {
    const script = scripts[identifier.model]
    if (script === undefined) {
      return Effect.fail(
        new Errors.InvalidIdentifier({
          identifier: String(identifier),
          reason: `the mock provider has no model "${identifier.model}"`,
          hint: `Use one of: ${Object.keys(scripts).join(", ")}`
        })
      )
    }
    const delay = identifier.setting("delay_ms")
    const every = identifier.setting("fail_every")
    const failWith = identifier.setting("fail_with")
    const failWithTag = typeof failWith === "string" ? failWith : "ServerError"
    const errorOf = errorsByTag[failWithTag]
    if (errorOf === undefined) {
      return Effect.fail(
        new Errors.InvalidIdentifier({
          identifier: String(identifier),
          reason: `fail_with names no known error: "${failWithTag}"`,
          key: "fail_with",
          hint: `Use one of: ${Object.keys(errorsByTag).join(", ")}`
        })
      )
    }
    return Effect.succeed(make(identifier, {
      script: script(identifier),
      delay: typeof delay === "number" ? Duration.millis(delay) : undefined,
      failure: typeof every === "number" && every > 0 ? (call) => call % every === 0 ? errorOf() : undefined : undefined
    }))
  }
}
