/**
 * The batch engine: rendered template items in, one provenance {@link Row} per item and choice out — in
 * input order ({@link run}), as they complete ({@link stream}), or appended to a JSON Lines file
 * ({@link writeJsonl}). A failed item is a row carrying its typed error: a batch never loses an item, and
 * never fails because one did.
 *
 * Every request goes through the generator's engine (its rate limiter and the one retry layer, configured
 * by the identifier's `rpm`, `tpm`, `max_connections`, `max_retries`), and each item through a
 * `ChatPipeline` (a system prompt, params, `andThen` steps, parsing with recovery) or a `CompletionPipeline`
 * (whose prompts can share requests: `promptsPerRequest`).
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Option, Schema, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import type * as Chat from "./Chat.js"
import { InvalidParams } from "./ConfigError.js"
import type * as Dataset from "./Dataset.js"
import * as GenerateParams from "./GenerateParams.js"
import { StopReason, TokenLogprob } from "./Generation.js"
import { type Generator, Generator as GeneratorService } from "./internal/generator.js"
import * as Packing from "./internal/packing.js"
import * as internal from "./internal/pipeline.js"
import * as batch from "./internal/pipelineBatch.js"
import * as ProviderBatchRun from "./internal/providerBatchRun.js"
import { forItem } from "./internal/requestSlot.js"
import { stopping } from "./internal/stopAfter.js"
import { trusted } from "./internal/trusted.js"
import * as Message from "./Message.js"
import type * as Model from "./Model.js"
import type * as Pipeline from "./Pipeline.js"
import { type BatchStopped, ChatError } from "./PipelineError.js"
import * as Prices from "./Prices.js"
import type * as ProviderBatch from "./ProviderBatch.js"
import type * as ResponseCache from "./ResponseCache.js"
import * as Template from "./Template.js"
import * as Usage from "./Usage.js"

/**
 * One result row, with its provenance: which item (`id`, its position `index`), which choice (`n > 1` gives
 * one row per choice), the template as written and its variables, the exact messages sent, the generator
 * identifier with the merged params, and the output (`parsed` too when the batch parses) or the typed
 * error; usage, requests sent (`attempts`, retries and recovery rounds included) and latency; `warnings` when the
 * provider did not do everything as asked (a param it does not take, an option it did not send).
 *
 * The usage and attempts of one request for `n` choices are recorded on its first choice's row, so sums
 * over rows are true totals.
 *
 * @example
 * ```ts
 * import { Batch } from "@capstan/core"
 *
 * declare const row: Batch.Row
 * const line = Batch.toJsonLine(row) // one line of JSON; Batch.fromJsonLine(line) decodes it back
 * ```
 * @since 0.1.0
 */
export class Row extends Schema.Class<Row>("@capstan/core/Batch/Row")({
  id: Schema.String,
  index: Schema.Int,
  choice: Schema.Int,
  templateId: Schema.optionalKey(Schema.String),
  template: Template.Source,
  vars: Schema.Record(Schema.String, Template.Value),
  messages: Schema.Array(Message.Message),
  /**
   * Every message generated, when the model called tools (`ChatPipeline.using`): its calls, their results, then the
   * output; `metadata.toolCalls` counts the calls.
   */
  generated: Schema.optionalKey(Schema.Array(Message.Message)),
  generator: Schema.String,
  params: GenerateParams.GenerateParams,
  output: Schema.optionalKey(Schema.String),
  parsed: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(ChatError),
  stopReason: StopReason,
  usage: Usage.Usage,
  attempts: Schema.Int,
  latencyMs: Schema.Finite,
  startedAt: Schema.Finite,
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.Json)),
  warnings: Schema.optionalKey(Schema.Array(Schema.String)),
  /** The log probabilities of the output's tokens, when the params asked for them (`logprobs`, `topLogprobs`). */
  logprobs: Schema.optionalKey(Schema.Array(TokenLogprob))
}) {
  /** True when the row has an output and no error. */
  get ok(): boolean {
    return this.error === undefined
  }
}

/**
 * Options of {@link stream} and {@link run}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Model, Template } from "@capstan/core"
 *
 * const options: Batch.Options = {
 *   parse: Model.Answer,
 *   instruct: true,
 *   maxRounds: 2,
 *   params: { temperature: 0 },
 *   concurrency: 16,
 *   stopAfter: 10
 * }
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Classify: {review}"), [{ review: "Great!" }])
 *   return yield* Batch.run(items, options)
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export interface Options<E = never, R = never> {
  /**
   * What to do with each item: its rendered messages are appended to this pipeline's (e.g. a system prompt),
   * with its params, `andThen` steps and parse steps (the last parse step's value is the row's `parsed`). `map`
   * steps are not allowed (they need every chat at once; use `ChatPipeline.runBatch`). A `CompletionPipeline`
   * sends each item as plain-text completion: its prompt, then the item's text (rows have the same shape).
   */
  readonly pipeline?: Pipeline.Pipeline<Pipeline.Kind, unknown, E, R> | undefined
  /** Parse every output with this model, asking again on failure (`maxRounds` generations at most). */
  readonly parse?: Model.Model<unknown> | undefined
  /**
   * Send the parse model's format instructions (`model.instructions`) as a system message before each item.
   * Default false: your template or pipeline says what format to answer in.
   */
  readonly instruct?: boolean | undefined
  /** Generations per item for `parse`, the first included. Default 3. */
  readonly maxRounds?: number | undefined
  /** Params of every request, over the generator's and the pipeline's (`n` gives one row per choice). */
  readonly params?: GenerateParams.GenerateParams | GenerateParams.Fields | undefined
  /**
   * Items in flight at once, as a sliding window. Default 64; the generator's `max_connections` caps it further.
   * Options that cannot work (a concurrency of 0, `stopAfter: 0`, a pipeline with `map` steps) throw
   * `InvalidParams` when the batch is built, before any request.
   */
  readonly concurrency?: number | undefined
  /**
   * Stop sending once this many items in a row failed with an error every request would meet (a refused key, an
   * exhausted quota, an unknown model: see `failsEveryRequest`): the stream then fails with `BatchStopped` after the
   * rows finished so far, and the items not yet answered are not sent. Default 5; `Infinity` never stops.
   */
  readonly stopAfter?: number | undefined
  /**
   * With a `CompletionPipeline`: send up to this many items' prompts in one request (batch-prompt's
   * `queries_per_batch`; see `ChatPipeline.BatchOptions`). Rows stay one per item and choice; each carries its share
   * of the request's usage and `metadata.packed`. Default 1 (no packing).
   */
  readonly promptsPerRequest?: number | undefined
  /**
   * How requests are sent: one by one (`realtime`, the default), through the provider's asynchronous batch API at
   * its discount (`provider-batch`: answered within the provider's window, usually minutes to hours), or through
   * the batch API when the generator has one and realtime otherwise (`auto`). In provider batch mode each item's
   * first generation is batched and later rounds (parse recovery, `andThen` steps) run in realtime; rows are the
   * same, with `metadata.via`, `metadata.batchId` and `metadata.customId`. A generator without a batch API gives
   * `Unsupported` rows under `provider-batch`. The generator is the one in context: a pipeline bound to its own
   * (`ChatPipeline.withGenerator`) runs in realtime.
   */
  readonly via?: "realtime" | "provider-batch" | "auto" | undefined
  /** Options of provider batch mode: its journal, chunk sizes, polling and fallback. */
  readonly providerBatch?: ProviderBatch.Options | undefined
  /**
   * The response cache (default `"off"`, or the pipeline's `withCache`): `"readwrite"` answers what was asked before
   * from the `ResponseCache` in context and stores new answers, so a second run of a finished batch sends nothing;
   * `"read"` only reads, `"write"` only stores. Rows answered from the cache have `attempts: 0`, no usage and
   * `cached: true` in their metadata. Any mode but `"off"` needs a `ResponseCache` layer.
   */
  readonly cache?: ResponseCache.Mode | undefined
}

const emptyPipeline = internal.make("chat", [])

/** The pipeline each item runs through, and the model its rows' `parsed` values come from; checked when built. */
const planOf = (
  options: Options<unknown, unknown>
): { readonly state: internal.Pipeline; readonly model: Model.Model<unknown> | undefined } => {
  const base = (options.pipeline ?? emptyPipeline) as unknown as internal.Pipeline
  if (base.steps.some((step) => step._tag === "Map")) {
    throw new InvalidParams({
      reason:
        "Batch runs items as a stream, but the pipeline has map steps, which need every chat at once; use ChatPipeline.runBatch"
    })
  }
  const cached = options.cache === undefined ? base : internal.update(base, { cache: options.cache })
  const withParams = options.params === undefined
    ? cached
    : internal.update(cached, { params: GenerateParams.merge(base.params, options.params) })
  const parse = options.parse
  if (parse === undefined) {
    const last = [...base.steps].reverse().find((step) => step._tag === "Parse")
    return { state: withParams, model: last?._tag === "Parse" ? last.model : undefined }
  }
  // A completion's prompt is its messages' text run together: the instructions end with a blank line there.
  const instructions = base.kind === "chat"
    ? Message.system(parse.instructions)
    : Message.user(`${parse.instructions}\n\n`)
  const instructed = options.instruct === true
    ? internal.update(withParams, { messages: [...withParams.messages, instructions] })
    : withParams
  const maxRounds = options.maxRounds ?? 3
  internal.requireWhole("maxRounds", maxRounds, 1)
  const state = internal.addStep(instructed, {
    _tag: "Parse",
    model: parse,
    maxRounds,
    // A completion has no dialog to send the parse error back into: it regenerates.
    attemptRecovery: base.kind === "chat",
    dropDialog: false
  })
  return { state, model: parse }
}

// The parsed value is stored as the JSON form of its decoded type (a list stays a list, a number a number), so
// `parsedOf` decodes it back to the same value.
const typeJsonCodec = <A>(schema: Schema.Decoder<A>): Schema.Codec<A, unknown> =>
  Schema.toCodecJson(Schema.toType(schema as unknown as Schema.Codec<A>))

// A memo of pure values (a model's compiled encoder), not application state.
const jsonCodecs = new WeakMap<Model.Model<unknown>, (value: unknown) => Schema.Json>()
const jsonCodecOf = (model: Model.Model<unknown>) => {
  let encode = jsonCodecs.get(model)
  if (encode === undefined) {
    encode = Schema.encodeUnknownSync(typeJsonCodec(model.schema)) as (value: unknown) => Schema.Json
    jsonCodecs.set(model, encode)
  }
  return encode
}

const jsonOf = (model: Model.Model<unknown>, value: unknown): Schema.Json | undefined => {
  try {
    return jsonCodecOf(model)(value)
  } catch {
    return undefined
  }
}

/**
 * The parsed value of a row, decoded back to the model's type (`None` when the row has none or it does
 * not decode).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Batch, Model } from "@capstan/core"
 *
 * const Sentiment = Model.json(Schema.Struct({ sentiment: Schema.Literals(["positive", "negative"]) }))
 * declare const row: Batch.Row
 * Batch.parsedOf(Sentiment)(row) // Option<{ readonly sentiment: "positive" | "negative" }>
 * ```
 * @since 0.1.0
 */
export const parsedOf = <A>(model: Model.Model<A>) => {
  const decode = Schema.decodeUnknownOption(typeJsonCodec(model.schema))
  return (row: Row): Option.Option<A> => row.parsed === undefined ? Option.none() : decode(row.parsed)
}

const toRow = (
  item: Dataset.RenderedItem,
  index: number,
  choice: number,
  chat: Chat.Chat,
  model: Model.Model<unknown> | undefined,
  extraMetadata?: Record<string, Schema.Json>
): Row => {
  const output = chat.generated.at(-1)?.text
  // The pipeline's parse step kept the value it read: stored in its JSON form, not parsed from the text again.
  const parsed = model === undefined || chat.error !== undefined || chat.parsed === undefined
    ? undefined
    : jsonOf(model, chat.parsed)
  // Every part comes from a validated item and chat: their checks are not run again.
  return new Row({
    id: item.id,
    index,
    choice,
    ...(item.templateId === undefined ? {} : { templateId: item.templateId }),
    template: item.template,
    vars: item.vars,
    messages: chat.messages,
    ...(chat.metadata["toolCalls"] === undefined ? {} : { generated: chat.generated }),
    generator: chat.generator,
    params: chat.params,
    ...(output === undefined ? {} : { output }),
    ...(parsed === undefined ? {} : { parsed }),
    ...(chat.error === undefined ? {} : { error: chat.error }),
    stopReason: chat.stopReason,
    usage: chat.usage,
    attempts: chat.attempts ?? 0,
    latencyMs: chat.durationMs,
    startedAt: chat.startedAt,
    ...(extraMetadata === undefined
      ? Object.keys(chat.metadata).length === 0 ? {} : { metadata: chat.metadata }
      : { metadata: { ...chat.metadata, ...extraMetadata } }),
    ...(chat.warnings === undefined ? {} : { warnings: chat.warnings }),
    ...(chat.logprobs === undefined || chat.error !== undefined ? {} : { logprobs: chat.logprobs })
  }, trusted)
}

/**
 * Runs items through the generator in context, yielding rows as they complete (completion order; `index`
 * and `choice` say where each belongs). Items may be a lazy iterable or a stream, so memory stays flat
 * however many there are. Fails only for unusable options, before any request.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Batch, Dataset, Generator, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Classify: {review}"), [{ id: "r1", review: "Great!" }])
 *   yield* Batch.stream(items, { concurrency: 8 }).pipe(
 *     Stream.runForEach((row) => Effect.log(`${row.id}: ${row.output ?? row.error?.message}`))
 *   )
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const stream = <E = never, R = never, EI = never, RI = never, M extends ResponseCache.Mode = "off">(
  items: Iterable<Dataset.RenderedItem> | Stream.Stream<Dataset.RenderedItem, EI, RI>,
  options: Options<E, R> & { readonly cache?: M | undefined } = {}
): Stream.Stream<
  Row,
  BatchStopped | EI,
  Generator | Exclude<R, Generator> | RI | ResponseCache.Requirement<M>
> => {
  const concurrency = batch.concurrencyOf(options.concurrency)
  const stopAfter = options.stopAfter ?? defaultStopAfter
  if (stopAfter !== Infinity) internal.requireWhole("stopAfter (or Infinity)", stopAfter, 1)
  const { model, state } = planOf(options)
  const packer = batch.packerOf(options.promptsPerRequest, state)
  const source = Stream.isStream(items) ? items : Stream.fromIterable(items)
  const via = options.via ?? "realtime"
  const realtime = () =>
    source.pipe(
      Stream.mapEffect(
        (item, index) =>
          Effect.map(
            batch.runChoices(state, item.messages, GenerateParams.empty).pipe(
              Packing.within(packer),
              forItem({ index, id: item.id })
            ),
            (outcomes) => outcomes.map(({ chat }, choice) => toRow(item, index, choice, chat, model))
          ),
        { concurrency, unordered: true }
      )
    )
  const perItem = via === "realtime" ? realtime() : ProviderBatchRun.perItem({
    source,
    auto: via === "auto",
    options: options.providerBatch,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    realtime,
    run: (item, index, service, metadataOf) =>
      batch.runChoices(state, item.messages, GenerateParams.empty, { concurrentRequests: true }).pipe(
        Effect.provideService(GeneratorService, service),
        forItem({ index, id: item.id }),
        Effect.map((outcomes) =>
          outcomes.map(({ chat }, choice) => toRow(item, index, choice, chat, model, metadataOf(choice)))
        )
      )
  })
  return (stopAfter === Infinity ? Stream.flattenIterable(perItem) : stopping(perItem, stopAfter)) as Stream.Stream<
    Row,
    BatchStopped | EI,
    Generator | Exclude<R, Generator> | RI | ResponseCache.Requirement<M>
  >
}

const defaultStopAfter = 5

/**
 * Totals of a batch: items and rows, ok and failed rows, failures by error kind, usage (retries and recovery
 * rounds included; cached input tokens when the provider reported them), requests sent, and cost when the prices
 * (yours, or the built-in `Prices` table) know every row's model.
 *
 * @example
 * ```ts
 * import { Batch } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<Batch.Row>
 * const summary = Batch.summarize(rows, { prices: { "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 } } })
 * summary.failedByKind // e.g. { RateLimited: 2 }
 * ```
 * @since 0.1.0
 */
export class Summary extends Schema.Class<Summary>("@capstan/core/Batch/Summary")({
  items: Schema.Int,
  rows: Schema.Int,
  ok: Schema.Int,
  failed: Schema.Int,
  failedByKind: Schema.Record(Schema.String, Schema.Int),
  usage: Usage.Usage,
  attempts: Schema.Int,
  cost: Schema.optionalKey(Schema.Finite)
}) {}

/**
 * Options of {@link summarize}: your prices, merged over the built-in table (`Prices.builtIn`: yours win for the
 * models they name), and `builtInPrices: false` to price with yours alone.
 *
 * @example
 * ```ts
 * import type { Batch } from "@capstan/core"
 *
 * const options: Batch.SummaryOptions = {
 *   prices: { "openai!gpt-4o-mini": { inputPerMillion: 0.12, outputPerMillion: 0.5 } },
 *   builtInPrices: true
 * }
 * ```
 * @since 0.2.0
 */
export interface SummaryOptions {
  readonly prices?: Usage.PriceTable | undefined
  /** Price models your table does not name from `Prices.builtIn`. Default true. */
  readonly builtInPrices?: boolean | undefined
}

/** The marker of a row answered through a provider's batch API: it is charged at the batch rates. */
const viaProviderBatch = (row: Row): boolean => row.metadata?.["via"] === "provider-batch"

/**
 * Totals rows (see {@link Summary}). Cost is given when the prices know every row's model (see
 * {@link SummaryOptions}): cached input tokens at the cached rate, and rows answered through a provider's batch API
 * (`metadata.via === "provider-batch"`) at its batch rates.
 *
 * @example
 * ```ts
 * import { Batch } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<Batch.Row>
 * Batch.summarize(rows).cost // priced from the built-in table when it knows the model
 * Batch.summarize(rows, { prices: {}, builtInPrices: false }).cost // undefined: no prices at all
 * ```
 * @since 0.1.0
 */
export const summarize = (rows: Iterable<Row>, options: SummaryOptions = {}): Summary => {
  const items = new Set<string>()
  const failedByKind: Record<string, number> = {}
  const prices = { prices: options.prices, builtIn: options.builtInPrices }
  const priced = new Map<string, Usage.PerMillion | undefined>()
  let count = 0
  let ok = 0
  let attempts = 0
  let usage = Usage.empty
  let cost: number | undefined = 0
  for (const row of rows) {
    count++
    items.add(row.id)
    attempts += row.attempts
    usage = Usage.add(usage, row.usage)
    if (row.error === undefined) ok++
    else failedByKind[row.error._tag] = (failedByKind[row.error._tag] ?? 0) + 1
    if (cost !== undefined) {
      if (!priced.has(row.generator)) priced.set(row.generator, Prices.forGenerator(row.generator, prices))
      const price = priced.get(row.generator)
      cost = price === undefined ? undefined : cost + Usage.cost(row.usage, price, { batch: viaProviderBatch(row) })
    }
  }
  return new Summary({
    items: items.size,
    rows: count,
    ok,
    failed: count - ok,
    failedByKind,
    usage,
    attempts,
    ...(cost === undefined ? {} : { cost })
  })
}

/**
 * Runs items and collects every row in input order (then choice order), with the batch's summary.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }, { word: "bye" }])
 *   const { rows, summary } = yield* Batch.run(items)
 *   return [rows.map((row) => row.output), summary.ok]
 * }).pipe(Effect.provide(Generator.layer("mock!echo")))
 * ```
 * @since 0.1.0
 */
export const run = <E = never, R = never, EI = never, RI = never, M extends ResponseCache.Mode = "off">(
  items: Iterable<Dataset.RenderedItem> | Stream.Stream<Dataset.RenderedItem, EI, RI>,
  options: Options<E, R> & SummaryOptions & { readonly cache?: M | undefined } = {}
): Effect.Effect<
  { readonly rows: ReadonlyArray<Row>; readonly summary: Summary },
  BatchStopped | EI,
  Generator | Exclude<R, Generator> | RI | ResponseCache.Requirement<M>
> =>
  Stream.runCollect(stream(items, options)).pipe(
    Effect.map((rows) => {
      const sorted = rows.sort((a, b) => a.index - b.index || a.choice - b.choice)
      return {
        rows: sorted,
        summary: summarize(sorted, options)
      }
    }),
    Effect.withSpan("capstan.batch.run")
  )

const encodeRow = Schema.encodeSync(Row)
const decodeRow = Schema.decodeUnknownEffect(Schema.fromJsonString(Row))

/**
 * A row as one line of JSON (no trailing newline).
 *
 * @example
 * ```ts
 * import { Batch } from "@capstan/core"
 *
 * declare const row: Batch.Row
 * Batch.toJsonLine(row).startsWith("{") // true
 * ```
 * @since 0.1.0
 */
export const toJsonLine = (row: Row): string => JSON.stringify(encodeRow(row))

/**
 * Decodes a row from one line of JSON, failing with a `SchemaError` that says what does not fit.
 *
 * @example
 * ```ts
 * import { Batch } from "@capstan/core"
 *
 * declare const line: string
 * const row = Batch.fromJsonLine(line)
 * ```
 * @since 0.1.0
 */
export const fromJsonLine = (line: string) => decodeRow(line)

/**
 * Appends rows to a JSON Lines file as they come, returning how many were written. Lines are buffered and
 * written about 64 KiB at a time (one write per row cost more CPU than the request that made it); whatever is
 * buffered is written when the stream ends, fails or is interrupted. A process killed outright loses at most
 * the last buffer, so use a sink that writes every row (as the CLI does) when each one must survive `kill -9`.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   return yield* Batch.stream(items).pipe(Batch.writeJsonl("results.jsonl"))
 * }).pipe(Effect.provide([Generator.layer("mock!echo"), NodeServices.layer]))
 * ```
 * @since 0.1.0
 */
export const writeJsonl =
  (path: string, options: { readonly append?: boolean } = {}) =>
  <E, R>(rows: Stream.Stream<Row, E, R>): Effect.Effect<number, E | PlatformError, R | FileSystem.FileSystem> =>
    Effect.scoped(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const file = yield* fs.open(path, { flag: options.append === true ? "a" : "w" })
      const encoder = new TextEncoder()
      let buffered = ""
      let written = 0
      const flush = Effect.suspend(() => {
        if (buffered.length === 0) return Effect.void
        const bytes = encoder.encode(buffered)
        buffered = ""
        return file.writeAll(bytes)
      })
      yield* rows.pipe(
        Stream.runForEach((row) => {
          buffered += `${toJsonLine(row)}\n`
          written++
          return buffered.length >= flushAt ? flush : Effect.void
        }),
        // failed or interrupted: keep what finished (best effort; the stream's own error is the one reported)
        Effect.onError(() => Effect.ignore(flush))
      )
      yield* flush
      return written
    }))

const flushAt = 64 * 1024
