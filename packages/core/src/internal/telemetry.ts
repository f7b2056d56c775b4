/**
 * The engine's instrumentation: a client span per request and the GenAI client metrics, with the names of
 * `Telemetry.ts`. A generator's metric series are made once, when the engine wraps it, so a request only looks its
 * series up; a span's attributes are set on the span as they become known, without building records first.
 *
 * @internal
 */
import { Cause, Clock, Context, Effect, Exit, type Fiber, Metric, Option, References, Stream } from "effect"
import * as Tracer from "effect/Tracer"
import type { ChatRequest, CompletionRequest, Generation, PackedCompletionRequest, StreamPart } from "../Generation.js"
import type { GenerationError } from "../GenerationError.js"
import type * as Identifier from "../Identifier.js"
import type * as Message from "../Message.js"
import * as Telemetry from "../Telemetry.js"
import { ChoiceOffset, CurrentItem } from "./requestSlot.js"

const A = Telemetry.Attribute

type AnyRequest = ChatRequest | CompletionRequest | PackedCompletionRequest

/** The metric series of one operation of one generator. */
interface Series {
  readonly name: string
  readonly base: Readonly<Record<string, string>>
  readonly inputTokens: Metric.Histogram<number>
  readonly outputTokens: Metric.Histogram<number>
  readonly duration: Metric.Histogram<number>
}

/** What the engine records for one generator: its span options and metric series. */
export interface Instruments {
  readonly provider: string
  readonly model: string
  readonly server: { readonly address: string; readonly port: number | undefined } | undefined
  readonly chat: Series
  readonly completion: Series
  readonly retries: Metric.Counter<number>
  readonly rateLimitPauses: Metric.Counter<number>
  readonly limiterWait: Metric.Counter<number>
}

const seriesOf = (operation: Telemetry.Operation, provider: string, model: string): Series => {
  const base = { [A.operationName]: operation, [A.providerName]: provider, [A.requestModel]: model }
  return {
    name: Telemetry.spanName(operation, model),
    base,
    inputTokens: Telemetry.tokenUsage({ ...base, [A.tokenType]: "input" }),
    outputTokens: Telemetry.tokenUsage({ ...base, [A.tokenType]: "output" }),
    duration: Telemetry.operationDuration(base)
  }
}

const serverOf = (endpoint: string | undefined): Instruments["server"] => {
  if (endpoint === undefined || !URL.canParse(endpoint)) return undefined
  const url = new URL(endpoint)
  return { address: url.hostname, port: url.port === "" ? undefined : Number(url.port) }
}

/** The instruments of a generator, made once when the engine wraps it. */
export const instrumentsOf = (identifier: Identifier.Identifier, endpoint: string | undefined): Instruments => {
  const provider = Telemetry.providerName(identifier.provider)
  const model = identifier.model
  const common = { [A.providerName]: provider, [A.requestModel]: model }
  return {
    provider,
    model,
    server: serverOf(endpoint),
    chat: seriesOf(Telemetry.Operation.chat, provider, model),
    completion: seriesOf(Telemetry.Operation.textCompletion, provider, model),
    retries: Telemetry.counter("retries", common),
    rateLimitPauses: Telemetry.counter("rateLimitPauses", common),
    limiterWait: Telemetry.counter("limiterWait", common)
  }
}

const spanOptions = { kind: "client", captureStackTrace: false } as const
const noStackTrace = { captureStackTrace: false } as const

/** Sets what the request says: the operation, provider, model and params, and where the request sits in its batch. */
const recordRequest = (
  span: Tracer.Span,
  instruments: Instruments,
  series: Series,
  request: AnyRequest,
  context: Context.Context<never>
): void => {
  span.attribute(A.operationName, series.base[A.operationName])
  span.attribute(A.providerName, instruments.provider)
  span.attribute(A.requestModel, instruments.model)
  if (instruments.server !== undefined) {
    span.attribute(A.serverAddress, instruments.server.address)
    if (instruments.server.port !== undefined) span.attribute(A.serverPort, instruments.server.port)
  }
  const params = request.params
  if (params.temperature !== undefined) span.attribute(A.requestTemperature, params.temperature)
  if (params.maxTokens !== undefined) span.attribute(A.requestMaxTokens, params.maxTokens)
  if (params.topP !== undefined) span.attribute(A.requestTopP, params.topP)
  if (params.stop !== undefined) span.attribute(A.requestStopSequences, params.stop)
  if (params.seed !== undefined) span.attribute(A.requestSeed, params.seed)
  if (params.presencePenalty !== undefined) span.attribute(A.requestPresencePenalty, params.presencePenalty)
  if (params.frequencyPenalty !== undefined) span.attribute(A.requestFrequencyPenalty, params.frequencyPenalty)
  if (params.n !== undefined && params.n !== 1) span.attribute(A.requestChoiceCount, params.n)
  if ("structured" in request && request.structured !== undefined) span.attribute(A.outputType, "json")
  if ("prompts" in request) span.attribute(A.promptCount, request.prompts.length)
  const item = Context.get(context, CurrentItem)
  if (item !== undefined) {
    span.attribute(A.itemIndex, item.index)
    if (item.id !== undefined) span.attribute(A.itemId, item.id)
    span.attribute(A.choice, Context.get(context, ChoiceOffset))
  }
  if (Context.get(context, Telemetry.CaptureContent)) recordInput(span, request)
}

/** The conventions' message parts of a message's content. */
const partsOf = (message: Message.Message): ReadonlyArray<Record<string, unknown>> =>
  message.parts.map((part) => {
    switch (part._tag) {
      case "Text":
        return { type: "text", content: part.text }
      case "Image":
        return { type: "uri", modality: "image", ...(part.url === undefined ? {} : { uri: part.url }) }
      case "ToolCall":
        return { type: "tool_call", id: part.id, name: part.name, arguments: part.input }
      case "ToolResult":
        return { type: "tool_call_response", id: part.id, response: part.output }
    }
  })

const recordInput = (span: Tracer.Span, request: AnyRequest): void => {
  if ("messages" in request) {
    const system = request.messages.filter((m) => m.role === "system")
    if (system.length > 0) span.attribute(A.systemInstructions, JSON.stringify(system.flatMap(partsOf)))
    const input = request.messages.filter((m) => m.role !== "system").map((m) => ({ role: m.role, parts: partsOf(m) }))
    span.attribute(A.inputMessages, JSON.stringify(input))
  } else {
    const prompts = "prompt" in request ? [request.prompt] : request.prompts
    const input = prompts.map((prompt) => ({ role: "user", parts: [{ type: "text", content: prompt }] }))
    span.attribute(A.inputMessages, JSON.stringify(input))
  }
}

const recordOutput = (span: Tracer.Span, generation: Generation): void => {
  const output = generation.choices.map((choice) => ({
    role: "assistant",
    parts: [
      ...(choice.text === "" ? [] : [{ type: "text", content: choice.text }]),
      ...(choice.toolCalls ?? []).map((call) => ({
        type: "tool_call",
        id: call.id,
        name: call.name,
        arguments: call.input
      }))
    ],
    finish_reason: choice.stopReason
  }))
  span.attribute(A.outputMessages, JSON.stringify(output))
}

/** Records an answer on the span, if any, and in the token histograms. */
const recordGeneration = (
  span: Tracer.Span | undefined,
  series: Series,
  generation: Generation,
  context: Context.Context<never>
): void => {
  const usage = generation.usage
  series.inputTokens.updateUnsafe(usage.inputTokens, context)
  series.outputTokens.updateUnsafe(usage.outputTokens, context)
  if (span === undefined) return
  if (generation.responseId !== undefined) span.attribute(A.responseId, generation.responseId)
  if (generation.responseModel !== undefined) span.attribute(A.responseModel, generation.responseModel)
  span.attribute(A.responseFinishReasons, generation.choices.map((choice) => choice.stopReason))
  span.attribute(A.usageInputTokens, usage.inputTokens)
  span.attribute(A.usageOutputTokens, usage.outputTokens)
  if (usage.cachedInputTokens !== undefined) span.attribute(A.usageCacheReadInputTokens, usage.cachedInputTokens)
  span.attribute(A.attempts, generation.attempts ?? 1)
  if (Context.get(context, Telemetry.CaptureContent)) recordOutput(span, generation)
}

/**
 * Records a failure on the span, if any, and counts a 429 (which pauses the limiter); the failure's duration goes
 * to a series of its own, told apart by `error.type`.
 */
const recordFailure = (
  span: Tracer.Span | undefined,
  instruments: Instruments,
  cause: Cause.Cause<GenerationError>,
  context: Context.Context<never>
): string => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error) && error.value._tag === "RateLimited") instruments.rateLimitPauses.updateUnsafe(1, context)
  const type = Option.isSome(error) ? error.value._tag : Cause.hasInterruptsOnly(cause) ? "interrupted" : "_OTHER"
  if (span === undefined) return type
  span.attribute(A.errorType, type)
  if (Option.isSome(error)) span.attribute(A.attempts, error.value.attempts ?? 1)
  return type
}

/**
 * Whether spans go anywhere: tracing is on and a tracer other than effect's native one (which exports nothing) is
 * installed. Without one, a request makes no span: the span would cost more than the rest of the engine's work.
 */
const tracing = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  fiber.getRef(References.TracerEnabled) && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

const recordDuration = (
  series: Series,
  seconds: number,
  errorType: string | undefined,
  context: Context.Context<never>
) =>
  (errorType === undefined
    ? series.duration
    : Telemetry.operationDuration({ ...series.base, [A.errorType]: errorType })).updateUnsafe(seconds, context)

const seriesFor = (instruments: Instruments, request: AnyRequest): Series =>
  "messages" in request ? instruments.chat : instruments.completion

/**
 * Runs one request (its retries and limiter waits included) in its client span, and records its duration and token
 * usage. A provider batch's request (`customId` given) records no duration: its wait is the batch's, not a client
 * operation's; the batch it went in is annotated on the span as it becomes known.
 */
export const traced = (instruments: Instruments, request: AnyRequest, customId?: string) =>
(
  self: Effect.Effect<Generation, GenerationError>
): Effect.Effect<Generation, GenerationError> => {
  const series = seriesFor(instruments, request)
  return Effect.withFiber((fiber) => {
    const context = fiber.context
    const clock = fiber.getRef(Clock.Clock)
    const start = clock.currentTimeNanosUnsafe()
    const recorded = (span: Tracer.Span | undefined) =>
      Effect.onExit(self, (exit) =>
        Effect.sync(() => {
          const errorType = Exit.isSuccess(exit)
            ? (recordGeneration(span, series, exit.value, context), undefined)
            : recordFailure(span, instruments, exit.cause, context)
          if (customId !== undefined) return
          recordDuration(series, Number(clock.currentTimeNanosUnsafe() - start) / 1e9, errorType, context)
        }))
    if (!tracing(fiber)) return recorded(undefined)
    return Effect.useSpan(series.name, spanOptions, (span) => {
      recordRequest(span, instruments, series, request, context)
      if (customId !== undefined) span.attribute(A.batchCustomId, customId)
      return Effect.withParentSpan(recorded(span), span, noStackTrace)
    })
  })
}

/**
 * The metrics of one request, recorded by the engine's own success and failure steps (no wrapper around the
 * request): what `traced` records when no span is made. `start` is read when the request begins.
 */
export interface Measured {
  readonly succeeded: (generation: Generation) => void
  readonly failed: (error: GenerationError) => void
}

/** The metric recorders of one request run in `fiber` (see {@link Measured}). */
export const measured = (
  instruments: Instruments,
  request: AnyRequest,
  fiber: Fiber.Fiber<unknown, unknown>
): Measured => {
  const series = seriesFor(instruments, request)
  const context = fiber.context
  const clock = fiber.getRef(Clock.Clock)
  const start = clock.currentTimeNanosUnsafe()
  const seconds = () => Number(clock.currentTimeNanosUnsafe() - start) / 1e9
  return {
    succeeded: (generation) => {
      recordGeneration(undefined, series, generation, context)
      recordDuration(series, seconds(), undefined, context)
    },
    failed: (error) => {
      if (error._tag === "RateLimited") instruments.rateLimitPauses.updateUnsafe(1, context)
      recordDuration(series, seconds(), error._tag, context)
    }
  }
}

/** Whether requests of `fiber` make spans: a tracer other than effect's native one (which exports nothing). */
export const makesSpans = (fiber: Fiber.Fiber<unknown, unknown>): boolean => tracing(fiber)

/** A stream in its client span, ended when the stream ends; its `Done` part is the answer recorded. */
export const tracedStream = (instruments: Instruments, request: ChatRequest) =>
(
  self: Stream.Stream<StreamPart, GenerationError>
): Stream.Stream<StreamPart, GenerationError> =>
  Stream.unwrap(Effect.withFiber((fiber) => {
    const context = fiber.context
    const clock = fiber.getRef(Clock.Clock)
    const start = clock.currentTimeNanosUnsafe()
    const series = instruments.chat
    const recorded = (span: Tracer.Span | undefined) =>
      self.pipe(
        Stream.tap((part) =>
          part._tag === "Done"
            ? Effect.sync(() => recordGeneration(span, series, part.generation, context))
            : Effect.void
        ),
        Stream.onExit((exit) =>
          Effect.sync(() => {
            const errorType = Exit.isSuccess(exit) ? undefined : recordFailure(span, instruments, exit.cause, context)
            recordDuration(series, Number(clock.currentTimeNanosUnsafe() - start) / 1e9, errorType, context)
          })
        )
      )
    if (!tracing(fiber)) return Effect.succeed(recorded(undefined))
    return Effect.map(Effect.makeSpanScoped(series.name, spanOptions), (span) => {
      recordRequest(span, instruments, series, request, context)
      return recorded(span)
    })
  })).pipe(Stream.scoped)

/**
 * Wraps what one attempt sends, once the limiter let it through: counts the time it waited since `queuedAt`
 * (`clock` milliseconds), its turn and a connection. Nothing is updated when it did not wait.
 */
export const admitted = (
  instruments: Instruments,
  clock: Clock.Clock,
  queuedAt: number,
  self: Effect.Effect<Generation, GenerationError>
): Effect.Effect<Generation, GenerationError> =>
  Effect.suspend(() => {
    const waited = clock.currentTimeMillisUnsafe() - queuedAt
    return waited > 0 ? Effect.andThen(Metric.update(instruments.limiterWait, waited), self) : self
  })

/**
 * Counts a retry, and the 429 that caused it (each pauses the limiter). A request's last 429, not retried, is
 * counted with its span ({@link traced}), so a request that succeeds on its first attempt pays for neither.
 */
export const retried = (instruments: Instruments, error: GenerationError): Effect.Effect<void> =>
  Effect.withFiber((fiber) =>
    Effect.sync(() => {
      instruments.retries.updateUnsafe(1, fiber.context)
      if (error._tag === "RateLimited") instruments.rateLimitPauses.updateUnsafe(1, fiber.context)
    })
  )
