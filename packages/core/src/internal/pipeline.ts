/**
 * The one pipeline engine behind `ChatPipeline` and `CompletionPipeline`. The two differ only in how a
 * context is sent (`generate` with messages, `complete` with the prompt text): everything else — steps,
 * parse recovery, failure policy, batching, streaming — is shared.
 */
import { Clock, Context, Effect, Inspectable, Option, Pipeable, Schema, Stream } from "effect"
import * as Chat from "../Chat.js"
import * as Errors from "../Errors.js"
import * as GenerateParams from "../GenerateParams.js"
import type { Generation, StructuredOutput } from "../Generation.js"
import * as Generator from "../Generator.js"
import * as Message from "../Message.js"
import * as Model from "../Model.js"
import * as Usage from "../Usage.js"
import { AttemptCounter } from "./attempts.js"
import { copyChat, makeChat } from "./chat.js"
import { trustedMake } from "./trusted.js"

export type Mode = "chat" | "completion"

export type OnFailed = "fail" | "skip" | "include"

export const ChatTypeId = "~@capstan/core/ChatPipeline" as const
export const CompletionTypeId = "~@capstan/core/CompletionPipeline" as const

/** The default sliding-window size of `runMany` / `runBatch` / `stream`. */
const defaultConcurrency = 64

/** The default nesting limit of `andThen` callbacks that continue their chat. */
const defaultMaxDepth = 20

// The engine is untyped in E and R: the public modules track them in the pipeline's type parameters.
type Any = any

export type Step =
  | {
    readonly _tag: "AndThen"
    readonly f: (chat: Chat.Chat) => Effect.Effect<unknown, Any, Any>
    readonly maxDepth: number
  }
  | {
    readonly _tag: "Map"
    readonly f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, Any, Any>
  }
  | {
    readonly _tag: "Parse"
    readonly model: Model.Model<unknown>
    readonly maxRounds: number
    readonly attemptRecovery: boolean
    readonly dropDialog: boolean
  }

export type Wrap = (
  generation: Effect.Effect<Generation, Errors.GenerationError>
) => Effect.Effect<Generation, Any, Any>

export interface State {
  readonly mode: Mode
  readonly messages: ReadonlyArray<Message.Message>
  readonly params: GenerateParams.GenerateParams
  readonly metadata: Readonly<Record<string, Schema.Json>>
  readonly steps: ReadonlyArray<Step>
  readonly wraps: ReadonlyArray<Wrap>
  readonly generator: Generator.Service | undefined
}

const variance = { _E: (_: never) => _, _R: (_: never) => _ }

/** A pipeline value: immutable state plus `pipe` and inspection. */
export interface Pipeline extends State {}
export class Pipeline implements Pipeable.Pipeable, Inspectable.Inspectable {
  constructor(state: State) {
    Object.assign(this, state)
    ;(this as Any)[state.mode === "chat" ? ChatTypeId : CompletionTypeId] = variance
  }
  /** The prompt of a completion pipeline: its messages' text, concatenated. */
  get prompt(): string {
    return promptOf(this.messages)
  }
  pipe() {
    return Pipeable.pipeArguments(this, arguments)
  }
  toJSON(): unknown {
    return {
      _id: this.mode === "chat" ? "ChatPipeline" : "CompletionPipeline",
      messages: this.messages.map((m) => m.toString()),
      params: this.params,
      metadata: this.metadata,
      steps: this.steps.map((s) => s._tag),
      wraps: this.wraps.length,
      generator: this.generator === undefined ? undefined : String(this.generator.identifier)
    }
  }
  toString(): string {
    return Inspectable.toStringUnknown(this.toJSON(), 2)
  }
  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

export const make = (mode: Mode, messages: ReadonlyArray<Message.Message>): Pipeline =>
  new Pipeline({
    mode,
    messages,
    params: GenerateParams.empty,
    metadata: {},
    steps: [],
    wraps: [],
    generator: undefined
  })

export const update = (self: Pipeline, patch: Partial<State>): Pipeline => new Pipeline({ ...self, ...patch })

const addStep = (self: Pipeline, step: Step): Pipeline => update(self, { steps: [...self.steps, step] })

/** A new pipeline that reproduces a chat's request: its params, metadata, and the given messages. */
export const fromChat = (mode: Mode, chat: Chat.Chat, messages: ReadonlyArray<Message.Message>): Pipeline =>
  update(make(mode, messages), { params: chat.params, metadata: chat.metadata })

export const promptOf = (messages: ReadonlyArray<Message.Message>): string => messages.map((m) => m.content).join("")

// ---------------------------------------------------------------------------------------------
// Running one item
// ---------------------------------------------------------------------------------------------

/** How deep the current `andThen` callback nesting is. */
const Depth = Context.Reference<number>("@capstan/core/internal/pipeline/Depth", { defaultValue: () => 0 })

/** An item failed: `error` is the typed error as raised, `chat` the chat as it stood, recording it. */
class Failure {
  constructor(readonly error: unknown, readonly chat: Chat.Chat) {}
}

const withError = (chat: Chat.Chat, error: Errors.ChatError): Chat.Chat => copyChat(chat, { error })

const failWith = (error: unknown, recorded: Errors.ChatError, chat: Chat.Chat) =>
  Effect.fail(new Failure(error, withError(chat, recorded)))

/** An engine error is recorded as it is. */
const failEngine = (error: Errors.PipelineError, chat: Chat.Chat) => failWith(error, error, chat)

const isGenerationError = Schema.is(Errors.GenerationError)

/** A generator error is recorded as it is; anything else a `wrap` raised is recorded as a failed step. */
const recordGenerationError = (error: unknown): Errors.ChatError =>
  isGenerationError(error) ? error : new Errors.StepFailed({ step: "wrap", cause: error })

const addUsage = (chat: Chat.Chat, usage: Usage.Usage): Chat.Chat =>
  copyChat(chat, { usage: Usage.add(chat.usage, usage) })

const bindGenerator = (state: State) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  state.generator === undefined ? effect : Effect.provideService(effect, Generator.Generator, state.generator)

const contextOf = (state: State, input: ReadonlyArray<Message.Message>): ReadonlyArray<Message.Message> => {
  const messages = input.length === 0 ? state.messages : [...state.messages, ...input]
  return state.mode === "chat" || messages.length <= 1 ? messages : [Message.user(promptOf(messages))]
}

/**
 * THE seam between pipelines and generators: every generation of every pipeline goes through here, once.
 * Rate limiting and retries belong to the `Generator` service itself (decorated where it is built), so
 * every pipeline sharing a generator shares its limiter; this function adds no retry of its own, only the
 * user's `wrap`s (first added innermost).
 */
const generate = (
  state: State,
  generator: Generator.Service,
  messages: ReadonlyArray<Message.Message>,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined
): Effect.Effect<Generation, unknown, Any> => {
  const request = state.mode === "completion"
    ? generator.complete({ prompt: promptOf(messages), params })
    : generator.generate(structured === undefined ? { messages, params } : { messages, params, structured })
  return state.wraps.reduce<Effect.Effect<Generation, unknown, Any>>((effect, wrap) => wrap(effect as Any), request).pipe(
    Effect.withSpan(
      "capstan.generate",
      { attributes: { provider: generator.identifier.provider, model: generator.identifier.model, mode: state.mode } },
      // a stack trace per generation costs more than the rest of the span; the span's name says where it is
      { captureStackTrace: false }
    )
  )
}

interface Round {
  readonly answer: Message.Message
  readonly usage: Usage.Usage
  readonly stopReason: Chat.Chat["stopReason"]
  readonly attempts: number
}

const addAttempts = (chat: Chat.Chat, attempts: number): Chat.Chat =>
  copyChat(chat, { attempts: (chat.attempts ?? 0) + attempts })

/**
 * One generation, counting the requests it took (retries included: the generator's engine bumps the
 * counter); a generator without an engine took one.
 */
const counted = (
  generation: Effect.Effect<Generation, unknown, Any>
): Effect.Effect<{ readonly generation: Generation; readonly attempts: number }, { readonly error: unknown; readonly attempts: number }, Any> =>
  Effect.suspend(() => {
    const counter = { count: 0 }
    const attempts = () => Math.max(1, counter.count)
    return generation.pipe(
      Effect.provideService(AttemptCounter, counter),
      Effect.map((generation) => ({ generation, attempts: attempts() })),
      Effect.mapError((error) => ({ error, attempts: attempts() }))
    )
  })

/** A generation's choices as answers; a generation without any is a malformed response. */
const answersOf = (
  generator: Generator.Service,
  generation: Generation,
  attempts: number,
  chat: Chat.Chat
): Effect.Effect<ReadonlyArray<Round>, Failure> => {
  if (generation.choices.length === 0) {
    const error = new Errors.MalformedResponse({
      provider: generator.identifier.provider,
      detail: "the generation had no choices"
    })
    return failEngine(error, addAttempts(addUsage(chat, generation.usage), attempts))
  }
  // The usage and attempts of one request for n choices go to its first choice, so sums over chats stay true.
  return Effect.succeed(generation.choices.map((choice, i) => ({
    answer: trustedMake(Message.Message, { role: "assistant", content: choice.text }),
    usage: i === 0 ? generation.usage : Usage.empty,
    stopReason: choice.stopReason,
    attempts: i === 0 ? attempts : 0
  })))
}

/** One generation (every choice of it), failing as the item's failure on `chat` (the chat as it stood before). */
const rounds = (
  state: State,
  generator: Generator.Service,
  context: ReadonlyArray<Message.Message>,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined,
  chat: Chat.Chat
): Effect.Effect<ReadonlyArray<Round>, Failure, Any> =>
  counted(generate(state, generator, context, params, structured)).pipe(
    Effect.catch(({ attempts, error }) => failWith(error, recordGenerationError(error), addAttempts(chat, attempts))),
    Effect.flatMap(({ attempts, generation }) => answersOf(generator, generation, attempts, chat))
  )

/** One generation of one answer. */
const round = (...args: Parameters<typeof rounds>): Effect.Effect<Round, Failure, Any> =>
  Effect.map(rounds(...args), (all) => all[0]!)

const extend = (chat: Chat.Chat, generated: ReadonlyArray<Message.Message>, r: Round): Chat.Chat =>
  copyChat(chat, {
    generated,
    usage: Usage.add(chat.usage, r.usage),
    stopReason: r.stopReason,
    attempts: (chat.attempts ?? 0) + r.attempts
  })

/** The chat an item starts from: the pipeline's messages plus the input, nothing generated yet. */
const draftOf = (
  state: State,
  generator: Generator.Service,
  input: ReadonlyArray<Message.Message>,
  requestParams: GenerateParams.GenerateParams,
  startedAt: number
): Chat.Chat => {
  const recorded = Generator.describe(generator.identifier, requestParams)
  return makeChat({
    messages: contextOf(state, input),
    generated: [],
    metadata: state.metadata,
    generator: recorded.generator,
    params: recorded.params,
    usage: Usage.empty,
    stopReason: "unknown",
    startedAt,
    durationMs: 0
  })
}

const retime = (chat: Chat.Chat, startedAt: number, end: number): Chat.Chat =>
  copyChat(chat, { startedAt, durationMs: Math.max(0, end - startedAt) })

/** Every chat of an item, failed or not, is timed from the item's start to its end. */
const timed = (startedAt: number) =>
<R>(effect: Effect.Effect<Chat.Chat, Failure, R>): Effect.Effect<Chat.Chat, Failure, R> =>
  effect.pipe(
    Effect.flatMap((chat) => Effect.map(Clock.currentTimeMillis, (end) => retime(chat, startedAt, end))),
    Effect.catch((failure) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (end) => Effect.fail(new Failure(failure.error, retime(failure.chat, startedAt, end)))
      )
    )
  )

/** Runs a pipeline on one input: first generation, then its `andThen` and parse steps in order. */
const runItem = (
  state: State,
  input: ReadonlyArray<Message.Message>,
  itemParams: GenerateParams.GenerateParams
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const generator = yield* Generator.Generator
    const startedAt = yield* Clock.currentTimeMillis
    const requestParams = GenerateParams.merge(state.params, itemParams)
    const draft = draftOf(state, generator, input, requestParams, startedAt)
    return yield* runSteps(state, generator, requestParams, draft).pipe(
      timed(startedAt)
    )
  }).pipe(bindGenerator(state))

/**
 * Runs one input to one chat per choice (`n`, as batch result rows want): the first generation asks for
 * every choice in one request (or in several, when the generator declares fewer `maxChoices` per request), then
 * each choice goes through the pipeline's steps on its own (recovery rounds ask for one answer each). Failures
 * are recorded on their chats, never raised; a failed request still gives one chat per choice it asked for, so a
 * batch always has `n` rows per item. A request's usage and attempts stay on its first choice.
 */
export const runChoices = (
  state: State,
  input: ReadonlyArray<Message.Message>,
  itemParams: GenerateParams.GenerateParams
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
    if (n <= 1) return [yield* settleOne(runSteps(state, generator, requestParams, draft))]
    const invalid = checkSteps(state, draft)
    if (invalid !== undefined) return asChoices(yield* settleOne(invalid), n)
    const structured = state.steps.find((s) => s._tag === "Parse")?.model.structured
    const single = GenerateParams.merge(requestParams, { n: 1 })
    const request = (size: number) =>
      Effect.gen(function*() {
        const params = size === n ? requestParams : GenerateParams.merge(requestParams, { n: size })
        const answers = yield* Effect.result(rounds(state, generator, draft.messages, params, structured, draft))
        if (answers._tag === "Failure") return asChoices(yield* settleOne(Effect.fail(answers.failure)), size)
        const chats = yield* Effect.forEach(
          answers.success.slice(0, size),
          (answer) => settleOne(applySteps(state, generator, single, extend(draft, [answer.answer], answer)))
        )
        if (chats.length === size) return chats
        // A server that ignores `n` answers fewer choices: the missing ones are failed rows, not missing rows.
        const missing = new Errors.MalformedResponse({
          provider: generator.identifier.provider,
          detail: `asked for ${size} choices, the answer had ${chats.length}`
        })
        const failed = yield* settleOne(failEngine(missing, copyChat(draft, { attempts: 0 })))
        return [...chats, ...asChoices(failed, size - chats.length, true)]
      })
    const perRequest = Math.max(1, Math.min(n, generator.capabilities?.maxChoices ?? n))
    const sizes = Array.from({ length: Math.ceil(n / perRequest) }, (_, i) => Math.min(perRequest, n - i * perRequest))
    // One request after another: the batch's concurrency counts items, and an item's requests stay within it.
    return (yield* Effect.forEach(sizes, request)).flat()
  }).pipe(bindGenerator(state))

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

/** Options that cannot work, found before any request. */
const checkSteps = (state: State, draft: Chat.Chat): Effect.Effect<never, Failure> | undefined => {
  for (const step of state.steps) {
    if (step._tag === "Parse" && !(Number.isInteger(step.maxRounds) && step.maxRounds >= 1)) {
      return failEngine(
        new Errors.InvalidParams({
          reason: `untilParsedAs(${step.model.name}): maxRounds must be an integer >= 1, got ${step.maxRounds}`
        }),
        draft
      )
    }
  }
  return undefined
}

const runSteps = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  draft: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const invalid = checkSteps(state, draft)
    if (invalid !== undefined) return yield* invalid
    const n = draft.params.n ?? 1
    if (n > 1) {
      return yield* failEngine(
        new Errors.InvalidParams({
          reason:
            `n=${n}: a pipeline keeps one chat per input, so it does not ask for several choices; use runMany(${n}) or runBatch to sample ${n} answers`
        }),
        draft
      )
    }
    const firstParse = state.steps.find((s) => s._tag === "Parse")
    const first = yield* round(state, generator, draft.messages, params, firstParse?.model.structured, draft)
    return yield* applySteps(state, generator, params, extend(draft, [first.answer], first))
  })

/** The `andThen` and parse steps, in the order they were added, on a chat that has its first answer. */
const applySteps = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  first: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    let chat = first
    for (const step of state.steps) {
      if (step._tag === "AndThen") chat = yield* applyAndThen(step, chat)
      else if (step._tag === "Parse") chat = yield* applyParse(state, generator, params, step, chat)
    }
    return chat
  })

const applyAndThen = (step: Extract<Step, { _tag: "AndThen" }>, chat: Chat.Chat): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const depth = yield* Depth
    if (depth >= step.maxDepth) {
      return yield* failEngine(new Errors.MaxDepthExceeded({ step: "andThen", maxDepth: step.maxDepth }), chat)
    }
    const nested = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, Depth, depth + 1)
    const out = yield* step.f(chat).pipe(
      nested,
      Effect.catch((error) => failWith(error, new Errors.StepFailed({ step: "andThen", cause: error }), chat))
    )
    if (out === undefined) return chat
    if (out instanceof Chat.Chat) return out
    if (out instanceof Pipeline) {
      // The continued chat's usage includes what this chat already cost.
      return yield* runItem(out, [], GenerateParams.empty).pipe(
        nested,
        Effect.map((continued) => addUsage(continued, chat.usage)),
        Effect.mapError((failure) => new Failure(failure.error, addUsage(failure.chat, chat.usage)))
      )
    }
    return yield* failEngine(
      new Errors.StepFailed({
        step: "andThen",
        cause: `the callback returned ${Inspectable.toStringUnknown(out)}; return a Chat, a pipeline, or nothing`
      }),
      chat
    )
  })

/**
 * What is sent back after an answer that did not parse: the parse error's reason, which `Model` writes for
 * the model to read (what is wrong, and the format again).
 */
const recoveryMessage = (error: Errors.ParseError): Message.Message => Message.user(error.reason)

const applyParse = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  step: Extract<Step, { _tag: "Parse" }>,
  chat: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    // What came before the answer being parsed: regenerating without recovery starts from here again.
    const before = chat.generated.slice(0, -1)
    let current = chat
    for (let rounds = 1;; rounds++) {
      const parsed = yield* Effect.result(Model.parse(step.model, current.last?.content ?? ""))
      if (parsed._tag === "Success") {
        const answer = current.generated.at(-1)
        return step.dropDialog && answer !== undefined && current.generated.length > before.length + 1
          ? copyChat(current, { generated: [...before, answer] })
          : current
      }
      const lastError = parsed.failure
      if (rounds >= step.maxRounds) {
        return yield* failEngine(new Errors.ExhaustedMaxRounds({ rounds, lastError, chat: current }), current)
      }
      // With recovery the dialog goes on after the error's feedback; without, the answer is asked for again.
      const kept = step.attemptRecovery ? [...current.generated, recoveryMessage(lastError)] : before
      const next = yield* round(state, generator, [...current.messages, ...kept], params, step.model.structured, current)
      current = extend(current, [...kept, next.answer], next)
    }
  })

// ---------------------------------------------------------------------------------------------
// Map steps, failure policy, batches
// ---------------------------------------------------------------------------------------------

/** A map step failed: it concerns every chat it was given. */
class MapFailure {
  constructor(readonly error: unknown, readonly recorded: Errors.ChatError) {}
}

const applyMaps = (
  state: State,
  maps: ReadonlyArray<Extract<Step, { _tag: "Map" }>>,
  chats: ReadonlyArray<Chat.Chat>
): Effect.Effect<ReadonlyArray<Chat.Chat>, MapFailure, Any> =>
  Effect.gen(function*() {
    const depth = yield* Depth
    let current = chats
    for (const step of maps) {
      const out: ReadonlyArray<Chat.Chat> = yield* step.f(current).pipe(
        Effect.provideService(Depth, depth + 1),
        Effect.mapError((error) => new MapFailure(error, new Errors.StepFailed({ step: "map", cause: error })))
      )
      if (!Array.isArray(out) || out.length !== current.length || !out.every((c) => c instanceof Chat.Chat)) {
        const error = new Errors.StepFailed({
          step: "map",
          cause: `a map callback must return one Chat per chat it is given (${current.length}); it returned ${
            Array.isArray(out) ? `${out.length} values` : Inspectable.toStringUnknown(out)
          }`
        })
        return yield* Effect.fail(new MapFailure(error, error))
      }
      current = out
    }
    return current
  }).pipe(bindGenerator(state))

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

/**
 * Runs one item under a failure policy: under "fail" the item's error fails the effect (`tag` wraps it
 * with the item's index), otherwise the failed chat becomes an outcome.
 */
const settle = (
  state: State,
  item: Item,
  index: number,
  onFailed: OnFailed,
  tag: boolean
): Effect.Effect<Outcome, unknown, Any> => {
  const chat = runItem(state, item.input, item.params)
  return onFailed === "fail"
    ? chat.pipe(
      Effect.map((chat) => ({ index, chat, ok: true })),
      Effect.mapError((failure) => tag ? new Errors.ItemFailed({ index, error: failure.error }) : failure.error)
    )
    : chat.pipe(
      Effect.map((chat) => ({ index, chat, ok: true })),
      Effect.catch((failure) => Effect.succeed({ index, chat: failure.chat, ok: false }))
    )
}

const mapsOf = (state: State) => state.steps.filter((s): s is Extract<Step, { _tag: "Map" }> => s._tag === "Map")

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

/** Runs a pipeline once on its own messages. */
const run = (state: State, onFailed: OnFailed): Effect.Effect<Outcome, unknown, Any> =>
  settle(state, { input: [], params: GenerateParams.empty }, 0, onFailed, false).pipe(
    Effect.flatMap((outcome) => mapOutcomes(state, [outcome], onFailed)),
    Effect.map((outcomes) => outcomes[0]!),
    Effect.withSpan("capstan.pipeline.run", { attributes: { mode: state.mode } })
  )

/**
 * Runs items through a sliding window of `concurrency`, yielding outcomes as they complete (skipped
 * failures left out). With map steps, the outcomes wait for every item, since a map sees them all.
 */
const stream = (
  state: State,
  items: ReadonlyArray<Item>,
  options: { readonly onFailed: OnFailed; readonly concurrency: number }
): Stream.Stream<Outcome, unknown, Any> => {
  const { concurrency, onFailed } = options
  const outcomes = Stream.fromIterable(items).pipe(
    Stream.mapEffect((item, index) => settle(state, item, index, onFailed, true), { concurrency, unordered: true })
  )
  const all = mapsOf(state).length === 0 ? outcomes : Stream.unwrap(
    Stream.runCollect(outcomes).pipe(
      Effect.flatMap((list) => mapOutcomes(state, list, onFailed)),
      Effect.map(Stream.fromIterable)
    )
  )
  return onFailed === "skip" ? Stream.filter(all, (o) => o.ok) : all
}

/** Runs items and collects their outcomes in input order. */
const runBatch = (
  state: State,
  items: ReadonlyArray<Item>,
  options: { readonly onFailed: OnFailed; readonly concurrency: number }
): Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, Any> =>
  Stream.runCollect(stream(state, items, options)).pipe(
    Effect.map((outcomes) => outcomes.sort((a, b) => a.index - b.index).map((o) => o.chat)),
    Effect.withSpan("capstan.pipeline.batch", { attributes: { mode: state.mode, items: items.length } })
  )

// ---------------------------------------------------------------------------------------------
// Batch shapes
// ---------------------------------------------------------------------------------------------

/**
 * Pairs inputs with params: equal lengths pair up, a list of length 1 is broadcast over the other, and no
 * params (or an empty list) means the pipeline's own. Anything else fails before a single request.
 */
const pair = (
  inputs: ReadonlyArray<ReadonlyArray<Message.Message>>,
  params: ReadonlyArray<GenerateParams.GenerateParams> | undefined
): Effect.Effect<ReadonlyArray<Item>, Errors.BatchSizeMismatch> => {
  if (params === undefined || params.length === 0) {
    return Effect.succeed(inputs.map((input) => ({ input, params: GenerateParams.empty })))
  }
  if (inputs.length === params.length) return Effect.succeed(inputs.map((input, i) => ({ input, params: params[i]! })))
  if (inputs.length === 1) return Effect.succeed(params.map((p) => ({ input: inputs[0]!, params: p })))
  if (params.length === 1) return Effect.succeed(inputs.map((input) => ({ input, params: params[0]! })))
  return Effect.fail(new Errors.BatchSizeMismatch({ inputs: inputs.length, params: params.length }))
}

/** Normalizes the `params` argument of `runBatch`: one set, a list of sets, or nothing. */
const paramsList = (params: ParamsInput | undefined): ReadonlyArray<GenerateParams.GenerateParams> | undefined =>
  params === undefined
    ? undefined
    : Array.isArray(params)
    ? params.map(GenerateParams.make)
    : [GenerateParams.make(params as GenerateParams.Fields)]

/** Validates `concurrency`, before any request. */
export const checkConcurrency = (concurrency: number | undefined): Effect.Effect<number, Errors.InvalidParams> => {
  const value = concurrency ?? defaultConcurrency
  return Number.isInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.fail(new Errors.InvalidParams({ reason: `concurrency must be an integer >= 1, got ${value}` }))
}

const skipToOption = (outcome: Outcome): Option.Option<Chat.Chat> =>
  outcome.ok ? Option.some(outcome.chat) : Option.none()

// ---------------------------------------------------------------------------------------------
// The public functions, shared by ChatPipeline and CompletionPipeline
// ---------------------------------------------------------------------------------------------

export const isPipeline = (u: unknown): u is Pipeline => u instanceof Pipeline

export const withParams = (self: Pipeline, params: GenerateParams.GenerateParams | GenerateParams.Fields): Pipeline =>
  update(self, { params: GenerateParams.merge(self.params, params) })

export const meta = (self: Pipeline, metadata: Readonly<Record<string, Schema.Json>>): Pipeline =>
  update(self, { metadata: { ...self.metadata, ...metadata } })

export const andThen = (
  self: Pipeline,
  f: (chat: Chat.Chat) => Effect.Effect<unknown, Any, Any>,
  options: { readonly maxDepth?: number | undefined } | undefined
): Pipeline => addStep(self, { _tag: "AndThen", f, maxDepth: options?.maxDepth ?? defaultMaxDepth })

export const map = (
  self: Pipeline,
  f: (chats: ReadonlyArray<Chat.Chat>) => Effect.Effect<ReadonlyArray<Chat.Chat>, Any, Any>
): Pipeline => addStep(self, { _tag: "Map", f })

export const untilParsedAs = (
  self: Pipeline,
  model: Model.Model<unknown>,
  options: {
    readonly maxRounds?: number | undefined
    readonly attemptRecovery?: boolean | undefined
    readonly dropDialog?: boolean | undefined
  } | undefined
): Pipeline =>
  addStep(self, {
    _tag: "Parse",
    model,
    maxRounds: options?.maxRounds ?? 5,
    attemptRecovery: options?.attemptRecovery ?? true,
    dropDialog: options?.dropDialog ?? false
  })

export const withGenerator = (self: Pipeline, generator: Generator.Service): Pipeline => update(self, { generator })

export const wrap = (self: Pipeline, f: Wrap): Pipeline => update(self, { wraps: [...self.wraps, f] })

export const runWith = (
  self: Pipeline,
  options: { readonly onFailed?: OnFailed | undefined } | undefined
): Effect.Effect<Chat.Chat | Option.Option<Chat.Chat>, unknown, Any> => {
  const onFailed = options?.onFailed ?? "fail"
  return run(self, onFailed).pipe(Effect.map((outcome) => onFailed === "skip" ? skipToOption(outcome) : outcome.chat))
}

export interface BatchOptions {
  readonly onFailed?: OnFailed | undefined
  readonly concurrency?: number | undefined
}

export const runMany = (
  self: Pipeline,
  n: number,
  options: BatchOptions | undefined
): Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, Any> =>
  Number.isInteger(n) && n >= 0
    ? runBatchWith(self, Array.from({ length: n }, () => []), undefined, options)
    : Effect.fail(new Errors.InvalidParams({ reason: `runMany needs a whole number of runs >= 0, got ${n}` }))

export type ParamsInput =
  | GenerateParams.GenerateParams
  | GenerateParams.Fields
  | ReadonlyArray<GenerateParams.GenerateParams | GenerateParams.Fields>

/** Validates a batch's options, then pairs its inputs with their params: all before any request. */
const prepareBatch = (
  inputs: ReadonlyArray<ReadonlyArray<Message.Message>>,
  params: ParamsInput | undefined,
  options: BatchOptions | undefined
) =>
  Effect.gen(function*() {
    const concurrency = yield* checkConcurrency(options?.concurrency)
    const items = yield* pair(inputs, paramsList(params))
    return { items, options: { onFailed: options?.onFailed ?? "fail", concurrency } } as const
  })

export const runBatchWith = (
  self: Pipeline,
  inputs: ReadonlyArray<ReadonlyArray<Message.Message>>,
  params: ParamsInput | undefined,
  options: BatchOptions | undefined
): Effect.Effect<ReadonlyArray<Chat.Chat>, unknown, Any> =>
  Effect.flatMap(prepareBatch(inputs, params, options), (batch) => runBatch(self, batch.items, batch.options))

export const streamWith = (
  self: Pipeline,
  inputs: ReadonlyArray<ReadonlyArray<Message.Message>>,
  params: ParamsInput | undefined,
  options: BatchOptions | undefined
): Stream.Stream<{ readonly index: number; readonly chat: Chat.Chat }, unknown, Any> =>
  Stream.unwrap(Effect.map(
    prepareBatch(inputs, params, options),
    (batch) => stream(self, batch.items, batch.options).pipe(Stream.map(({ chat, index }) => ({ index, chat })))
  ))
