/**
 * Pipelines over many items: the failure policy, `map` steps over every chat of a run, sliding-window batches and
 * streams, pairing inputs with params, and one item's `n` choices as batch rows want them.
 *
 * @internal
 */
import { Clock, Effect, Option, Stream } from "effect"
import type * as Chat from "../Chat.js"
import { InvalidParams } from "../ConfigError.js"
import * as GenerateParams from "../GenerateParams.js"
import { MalformedResponse } from "../GenerationError.js"
import * as Message from "../Message.js"
import type { BatchInputs, BatchOptions, BatchParams } from "../Pipeline.js"
import { BatchSizeMismatch, type ChatError, ItemFailed, StepFailed } from "../PipelineError.js"
import * as Usage from "../Usage.js"
import { copyChat } from "./chat.js"
import * as Generator from "./generator.js"
import * as Packing from "./packing.js"
import {
  applySteps,
  bindGenerator,
  checkCapabilities,
  draftOf,
  extend,
  Failure,
  firstThenSteps,
  type Kind,
  type OnFailed,
  type Pipeline,
  requireWhole,
  rounds,
  runItem,
  type State,
  type Step,
  structuredOf,
  timed,
  update,
  withError
} from "./pipeline.js"
import { atChoice, forItem } from "./requestSlot.js"

// The runtime form erases a pipeline's error and service types; the public `Pipeline` type carries them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

/** The default sliding-window size of `runMany` / `runBatch` / `stream`. */
const defaultConcurrency = 64

/** Checks `concurrency` when the run is built; the default when unset. */
export const concurrencyOf = (concurrency: number | undefined): number => {
  const value = concurrency ?? defaultConcurrency
  requireWhole("concurrency", value, 1)
  return value
}

/** The result of one item: `ok` is false for a failed chat (which carries its error). */
export interface Outcome {
  readonly index: number
  readonly chat: Chat.Chat
  readonly ok: boolean
}

export interface Item {
  readonly input: ReadonlyArray<Message.Message>
  readonly params: GenerateParams.GenerateParams
}

/** The item of a run on the pipeline's own messages. */
const emptyItem: Item = { input: [], params: GenerateParams.empty }

/**
 * Runs one item under a failure policy: under "fail" the item's error fails the effect (`tag` wraps it with the
 * item's index), otherwise the failed chat becomes an outcome.
 */
const settle = (
  state: State,
  item: Item,
  index: number,
  onFailed: OnFailed,
  tag: boolean
): Effect.Effect<Outcome, unknown, Any> => {
  const chat = runItem(state, item.input, item.params).pipe(forItem({ index }))
  return onFailed === "fail"
    ? chat.pipe(
      Effect.map((chat) => ({ index, chat, ok: true })),
      Effect.mapError((failure) => tag ? new ItemFailed({ index, error: failure.error }) : failure.error)
    )
    : chat.pipe(
      Effect.map((chat) => ({ index, chat, ok: true })),
      Effect.catch((failure) => Effect.succeed({ index, chat: failure.chat, ok: false }))
    )
}

/** A map step failed: it concerns every chat it was given. */
class MapFailure {
  constructor(readonly error: unknown, readonly recorded: ChatError) {}
}

const mapsOf = (state: State) => state.steps.filter((s): s is Extract<Step, { _tag: "Map" }> => s._tag === "Map")

const applyMaps = (
  state: State,
  maps: ReadonlyArray<Extract<Step, { _tag: "Map" }>>,
  chats: ReadonlyArray<Chat.Chat>
): Effect.Effect<ReadonlyArray<Chat.Chat>, MapFailure, Any> =>
  Effect.gen(function*() {
    let current = chats
    for (const step of maps) {
      const out: ReadonlyArray<Chat.Chat> = yield* step.f(current).pipe(
        Effect.mapError((error) => new MapFailure(error, new StepFailed({ step: "map", cause: error })))
      )
      if (!Array.isArray(out) || out.length !== current.length) {
        // The types say one chat per chat: a callback that answers otherwise is a bug, not a typed failure.
        return yield* Effect.die(
          new StepFailed({
            step: "map",
            cause: `a map callback must return one Chat per chat it is given (${current.length}); it returned ${
              Array.isArray(out) ? `${out.length} values` : typeof out
            }`
          })
        )
      }
      current = out
    }
    return current
  }).pipe(bindGenerator(state))

/** Applies the map steps to the successful outcomes (in input order); keeps the outcomes' order. */
const mapOutcomes = (
  state: State,
  outcomes: ReadonlyArray<Outcome>,
  onFailed: OnFailed
): Effect.Effect<ReadonlyArray<Outcome>, unknown, Any> => {
  const maps = mapsOf(state)
  const ok = outcomes.filter((o) => o.ok).sort((a, b) => a.index - b.index)
  if (maps.length === 0 || ok.length === 0) return Effect.succeed(outcomes)
  return applyMaps(state, maps, ok.map((o) => o.chat)).pipe(
    Effect.map((mapped) => {
      const byIndex = new Map(ok.map((o, i) => [o.index, mapped[i]!]))
      return outcomes.map((o) => o.ok ? { ...o, chat: byIndex.get(o.index)! } : o)
    }),
    Effect.catch((failure) =>
      onFailed === "fail"
        ? Effect.fail(failure.error)
        : Effect.succeed(outcomes.map((o) => o.ok ? { ...o, chat: withError(o.chat, failure.recorded), ok: false } : o))
    )
  )
}

/** Runs a pipeline once on its own messages: the chat, or `None` when it failed under "skip". */
export const runOnce = (
  state: State,
  onFailed: OnFailed
): Effect.Effect<Chat.Chat | Option.Option<Chat.Chat>, unknown, Any> =>
  settle(state, emptyItem, 0, onFailed, false).pipe(
    Effect.flatMap((outcome) => mapOutcomes(state, [outcome], onFailed)),
    Effect.map(([outcome]) =>
      onFailed === "skip" ? (outcome!.ok ? Option.some(outcome!.chat) : Option.none()) : outcome!.chat
    ),
    Effect.withSpan("capstan.pipeline.run", { attributes: { kind: state.kind } })
  )

/**
 * Runs items through a sliding window of `concurrency`, yielding outcomes as they complete (skipped failures left
 * out). With map steps, the outcomes wait for every item, since a map sees them all.
 */
export const stream = (
  state: State,
  items: ReadonlyArray<Item>,
  options: Settled
): Stream.Stream<Outcome, unknown, Any> => {
  const { concurrency, onFailed, packer } = options
  const outcomes = Stream.fromIterable(items).pipe(
    Stream.mapEffect(
      (item, index) => settle(state, item, index, onFailed, true).pipe(Packing.within(packer)),
      { concurrency, unordered: true }
    )
  )
  const all = mapsOf(state).length === 0 ? outcomes : Stream.unwrap(
    Stream.runCollect(outcomes).pipe(
      Effect.flatMap((list) => mapOutcomes(state, list, onFailed)),
      Effect.map(Stream.fromIterable)
    )
  )
  return onFailed === "skip" ? Stream.filter(all, (o) => o.ok) : all
}

/** Runs items and collects their chats in input order. */
export const runBatch = (
  state: State,
  items: ReadonlyArray<Item>,
  options: Settled
): Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, Any> =>
  Stream.runCollect(stream(state, items, options)).pipe(
    Effect.map((outcomes) => outcomes.sort((a, b) => a.index - b.index).map((o) => o.chat)),
    Effect.withSpan("capstan.pipeline.batch", { attributes: { kind: state.kind, items: items.length } })
  )

/**
 * Runs the pipeline once per generator (rigging's `run_over`): one chat per generator, in the generators' order
 * (skipped ones left out), each run on its generator (its callbacks too). A failure under "fail" names the
 * generator's index; `map` steps see every generator's chat.
 */
export const runOver = (
  state: Pipeline,
  generators: ReadonlyArray<Generator.Service>,
  options: Settled
): Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, Any> =>
  Effect.forEach(
    generators,
    (generator, index) => settle(update(state, { generator }), emptyItem, index, options.onFailed, true),
    { concurrency: options.concurrency }
  ).pipe(
    Effect.flatMap((outcomes) => mapOutcomes(state, outcomes, options.onFailed)),
    Effect.map((outcomes) => outcomes.filter((o) => o.ok || options.onFailed !== "skip").map((o) => o.chat)),
    Effect.withSpan("capstan.pipeline.runOver", { attributes: { kind: state.kind, generators: generators.length } })
  )

/**
 * Pairs inputs with params: equal lengths pair up, a list of length 1 is broadcast over the other, and no params
 * (or an empty list) means the pipeline's own. Anything else fails before a single request.
 */
export const pair = (
  inputs: ReadonlyArray<ReadonlyArray<Message.Message>>,
  params: ReadonlyArray<GenerateParams.GenerateParams> | undefined
): Effect.Effect<ReadonlyArray<Item>, BatchSizeMismatch> => {
  if (params === undefined || params.length === 0) {
    return Effect.succeed(inputs.map((input) => ({ input, params: GenerateParams.empty })))
  }
  if (inputs.length === params.length) return Effect.succeed(inputs.map((input, i) => ({ input, params: params[i]! })))
  if (inputs.length === 1) return Effect.succeed(params.map((p) => ({ input: inputs[0]!, params: p })))
  if (params.length === 1) return Effect.succeed(inputs.map((input) => ({ input, params: params[0]! })))
  return Effect.fail(new BatchSizeMismatch({ inputs: inputs.length, params: params.length }))
}

// ---------------------------------------------------------------------------------------------
// One item's choices, for batch rows
// ---------------------------------------------------------------------------------------------

/** The chat of one choice, and whether it succeeded (a failed chat carries its error). */
export interface ChoiceOutcome {
  readonly chat: Chat.Chat
  readonly ok: boolean
}

/**
 * One failed outcome as `count` choices: the first keeps the request's usage and attempts (unless `free`), the
 * others carry the same error at no cost, so sums over rows stay true.
 */
const asChoices = (outcome: ChoiceOutcome, count: number, free = false): ReadonlyArray<ChoiceOutcome> => {
  const costless = { chat: copyChat(outcome.chat, { usage: Usage.empty, attempts: 0 }), ok: outcome.ok }
  return Array.from({ length: count }, (_, i) => (i === 0 && !free ? outcome : costless))
}

/**
 * Runs one input to one chat per choice (`n`, as batch result rows want): the first generation asks for every
 * choice in one request (or in several, when the generator declares fewer `maxChoices` per request), then each
 * choice goes through the pipeline's steps on its own (recovery rounds ask for one answer each). Failures are
 * recorded on their chats, never raised; a failed request still gives one chat per choice it asked for, so a batch
 * always has `n` rows per item. A request's usage and attempts stay on its first choice.
 */
export const runChoices = (
  state: State,
  input: ReadonlyArray<Message.Message>,
  itemParams: GenerateParams.GenerateParams,
  options: { readonly concurrentRequests?: boolean } = {}
): Effect.Effect<ReadonlyArray<ChoiceOutcome>, never, Any> =>
  Effect.gen(function*() {
    const generator = yield* Generator.Generator
    const startedAt = yield* Clock.currentTimeMillis
    const requestParams = GenerateParams.merge(state.params, itemParams)
    const draft = draftOf(state, generator, input, requestParams, startedAt)
    const settleOne = (chat: Effect.Effect<Chat.Chat, Failure, Any>) =>
      chat.pipe(
        timed(startedAt),
        Effect.map((chat): ChoiceOutcome => ({ chat, ok: true })),
        Effect.catch((failure) => Effect.succeed<ChoiceOutcome>({ chat: failure.chat, ok: false }))
      )
    // `n` may come from the generator's own params (its identifier), hence the merged params of the draft.
    const n = draft.params.n ?? 1
    if (n <= 1) return [yield* settleOne(firstThenSteps(state, generator, requestParams, draft))]
    const lacking = checkCapabilities(state, generator, draft)
    if (lacking !== undefined) return asChoices(yield* settleOne(lacking), n)
    const structured = structuredOf(state)
    const single = GenerateParams.merge(requestParams, { n: 1 })
    const request = (size: number, offset: number) =>
      Effect.gen(function*() {
        const params = size === n ? requestParams : GenerateParams.merge(requestParams, { n: size })
        const answers = yield* Effect.result(rounds(state, generator, draft.messages, params, structured, draft))
        if (answers._tag === "Failure") return asChoices(yield* settleOne(Effect.fail(answers.failure)), size)
        // Each choice's own steps (its regenerations) ask for that choice: their requests are told apart by it.
        const chats = yield* Effect.forEach(
          answers.success.slice(0, size),
          (answer, i) =>
            settleOne(applySteps(state, generator, single, extend(draft, [answer.answer], answer))).pipe(
              atChoice(offset + i)
            )
        )
        if (chats.length === size) return chats
        // A server that ignores `n` answers fewer choices: the missing ones are failed rows, not missing rows.
        const missing = new MalformedResponse({
          provider: generator.identifier.provider,
          detail: `asked for ${size} choices, the answer had ${chats.length}`
        })
        const failed = yield* settleOne(
          Effect.fail(new Failure(missing, withError(copyChat(draft, { attempts: 0 }), missing)))
        )
        return [...chats, ...asChoices(failed, size - chats.length, true)]
      })
    const perRequest = Math.max(1, Math.min(n, generator.capabilities?.maxChoices ?? n))
    const sizes = Array.from({ length: Math.ceil(n / perRequest) }, (_, i) => Math.min(perRequest, n - i * perRequest))
    // One request after another: the batch's concurrency counts items, and an item's requests stay within it. In
    // a provider batch they go together, so that they share a batch instead of waiting for each other's.
    return (yield* Effect.forEach(sizes, (size, i) => atChoice(i * perRequest)(request(size, i * perRequest)), {
      concurrency: options.concurrentRequests === true ? "unbounded" : 1
    })).flat()
  }).pipe(bindGenerator(state))

/** Pipelines built by the public modules are this engine's `Pipeline`. */
export type { Pipeline }

/** A batch's options, checked when the run is built. */
export interface Settled {
  readonly onFailed: OnFailed
  readonly concurrency: number
  /** How the run packs completion prompts (`promptsPerRequest` > 1), if it does. */
  readonly packer?: Packing.Packer | undefined
}

/** A batch's options, checked when the run is built (the pipeline says whether prompts can be packed). */
export const settledOptions = (options: BatchOptions | undefined, pipeline: { readonly kind: Kind }): Settled => ({
  onFailed: options?.onFailed ?? "fail",
  concurrency: concurrencyOf(options?.concurrency),
  packer: packerOf(options?.promptsPerRequest, pipeline)
})

/**
 * The packer of a run asking for `promptsPerRequest` completion prompts per request (none for 1 or unset); checked
 * when the run is built: a whole number >= 1, and a completion pipeline (a chat request has no prompt to share).
 */
export const packerOf = (
  promptsPerRequest: number | undefined,
  pipeline: { readonly kind: Kind }
): Packing.Packer | undefined => {
  if (promptsPerRequest === undefined) return undefined
  requireWhole("promptsPerRequest", promptsPerRequest, 1)
  if (pipeline.kind !== "completion") {
    throw new InvalidParams({
      reason:
        `promptsPerRequest=${promptsPerRequest} packs the prompts of a completion pipeline into one request, and this ` +
        "is a chat pipeline (a chat request is one conversation); use a CompletionPipeline, or drop the option"
    })
  }
  return promptsPerRequest === 1 ? undefined : Packing.make(promptsPerRequest)
}

export const inputsOf = (inputs: BatchInputs): ReadonlyArray<ReadonlyArray<Message.Message>> =>
  Array.isArray(inputs)
    ? (inputs as ReadonlyArray<Message.MessageInput>).map(Message.fromInput)
    : [Message.fromInput(inputs as string | Message.Message)]

/** Normalizes the `params` option: one set, a list of sets, or nothing. */
export const paramsList = (params: BatchParams | undefined): ReadonlyArray<GenerateParams.GenerateParams> | undefined =>
  params === undefined
    ? undefined
    : Array.isArray(params)
    ? params.map(GenerateParams.make)
    : [GenerateParams.make(params as GenerateParams.Fields)]
