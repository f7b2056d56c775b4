/**
 * The one pipeline engine behind `ChatPipeline` and `CompletionPipeline`, for one item: the first generation, the
 * `andThen` and parse steps, failures recorded on the chat. The two kinds differ only in how a context is sent
 * (`generate` with messages, `complete` with the prompt text). Batches of items are in `pipelineBatch.ts`.
 *
 * The engine is untyped in what a run parses, raises and needs: the public modules track those in the pipeline's
 * type parameters.
 *
 * @internal
 */
import { Clock, Context, Effect, Inspectable, Schema } from "effect"
import { identity } from "effect/Function"
import * as Chat from "../Chat.js"
import * as GenerateParams from "../GenerateParams.js"
import type { ChatRequest, Generation, StructuredOutput } from "../Generation.js"
import { GenerationError, InvalidRequest, MalformedResponse, Unsupported } from "../GenerationError.js"
import * as Message from "../Message.js"
import * as Model from "../Model.js"
import { type ChatError, ExhaustedMaxRounds, MaxDepthExceeded, type ParseError, StepFailed } from "../PipelineError.js"
import * as Usage from "../Usage.js"
import { copyChat, makeChat } from "./chat.js"
import * as Generator from "./generator.js"
import * as Packing from "./packing.js"
import { asRepetition } from "./requestSlot.js"
import * as Cache from "./responseCache.js"

import { Failure, Pipeline, promptOf, type State, type Step, update } from "./pipelineState.js"

export * from "./pipelineState.js"

// The engine is untyped in what a run raises and needs; the public `Pipeline` type carries them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any
// ---------------------------------------------------------------------------------------------
// Running one item
// ---------------------------------------------------------------------------------------------

/** How deep the current `andThen` callback nesting is. */
const Depth = Context.Reference<number>("@capstan/core/internal/pipeline/Depth", { defaultValue: () => 0 })

export const withError = (chat: Chat.Chat, error: ChatError): Chat.Chat => copyChat(chat, { error })

const failWith = (error: unknown, recorded: ChatError, chat: Chat.Chat) =>
  Effect.fail(new Failure(error, withError(chat, recorded)))

/** An engine error is recorded as it is. */
const failEngine = (error: ChatError, chat: Chat.Chat) => failWith(error, error, chat)

const isGenerationError = Schema.is(GenerationError)

/** A generator error is recorded as it is; anything else a `wrap` raised is recorded as a failed step. */
const recordGenerationError = (error: unknown): ChatError =>
  isGenerationError(error) ? error : new StepFailed({ step: "wrap", cause: error })

/** Requests a failed generation took: the engine records them on its final error. */
const attemptsOf = (error: unknown): number =>
  isGenerationError(error) && error.attempts !== undefined ? error.attempts : 1

export const bindGenerator = (state: State) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  state.generator === undefined ? effect : Effect.provideService(effect, Generator.Generator, state.generator)

// A completion context with parts other than text is kept as it is, for `checkCapabilities` to refuse: flattening
// it to text would drop them without a word.
const contextOf = (state: State, input: ReadonlyArray<Message.Message>): ReadonlyArray<Message.Message> => {
  const messages = input.length === 0 ? state.messages : [...state.messages, ...input]
  return state.kind === "chat" || messages.length <= 1 || nonTextPart(messages) !== undefined
    ? messages
    : [Message.user(promptOf(messages))]
}

const partNames: Record<Message.Part["_tag"], string> = {
  Text: "a text",
  Image: "an image",
  ToolCall: "a tool call",
  ToolResult: "a tool result"
}

/** The first part that is not text, and the index of its message. */
const nonTextPart = (
  messages: ReadonlyArray<Message.Message>
): { readonly index: number; readonly part: Message.Part } | undefined => {
  for (let index = 0; index < messages.length; index++) {
    const content = messages[index]!.content
    if (typeof content === "string") continue
    const part = content.find((p) => p._tag !== "Text")
    if (part !== undefined) return { index, part }
  }
  return undefined
}

/**
 * THE seam between pipelines and generators: every generation of every pipeline goes through here, once. Rate
 * limiting and retries belong to the generator (the engine wraps it where it is built), so every pipeline sharing a
 * generator shares its limiter; this adds the response cache when the pipeline uses one (above the engine: a hit
 * sends nothing and takes no limiter capacity), then the user's `wrap`s (first added innermost).
 */
const generate = (
  state: State,
  generator: Generator.Service,
  messages: ReadonlyArray<Message.Message>,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined,
  slot: Packing.Slot
): Effect.Effect<Generation, unknown, Any> => {
  // A completion may share its request with other items' prompts when the batch packs them (see `packing.ts`).
  const request = state.kind === "completion"
    ? sent(state, generator, { prompt: promptOf(messages), params }, (r) => Packing.complete(generator, r, slot))
    : sent(state, generator, chatRequest(state, messages, params, structured), (r) => generator.generate(r))
  return state.wraps.reduce<Effect.Effect<Generation, unknown, Any>>((effect, wrap) => wrap(effect as Any), request)
    .pipe(
      Effect.withSpan(
        "capstan.generate",
        {
          attributes: { provider: generator.identifier.provider, model: generator.identifier.model, kind: state.kind }
        },
        // a stack trace per generation costs more than the rest of the span; the span's name says where it is
        { captureStackTrace: false }
      )
    )
}

const chatRequest = (
  state: State,
  messages: ReadonlyArray<Message.Message>,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined
): ChatRequest => {
  const tools = state.tools
  return {
    messages,
    params,
    ...(structured === undefined ? {} : { structured }),
    ...(tools === undefined ? {} : { tools: tools.definitions }),
    ...(tools?.toolChoice === undefined ? {} : { toolChoice: tools.toolChoice })
  }
}

/** A request sent by the generator, through the response cache when the pipeline uses one. */
const sent = <Request extends Cache.Request>(
  state: State,
  generator: Generator.Service,
  request: Request,
  send: (request: Request) => Effect.Effect<Generation, GenerationError>
): Effect.Effect<Generation, GenerationError, Any> =>
  state.cache === undefined || state.cache === "off"
    ? send(request)
    : Cache.through(state.cache, generator, request, send(request))

/**
 * One answer of a generation, with what it cost (usage and attempts on a request's first choice only; nothing when
 * the response cache answered: `cached`), and where its prompt went when it shared a packed request.
 */
interface Round {
  readonly answer: Message.Message
  readonly usage: Usage.Usage
  readonly stopReason: Chat.Chat["stopReason"]
  readonly attempts: number
  readonly warnings: ReadonlyArray<string> | undefined
  readonly logprobs: Generation["choices"][number]["logprobs"]
  readonly packed: Packing.Place | undefined
  readonly cached: boolean
  /** Set when a later generator of a fallback answered (see `Generation.answeredBy`). */
  readonly answeredBy: Generation["answeredBy"]
}

const addCost = (chat: Chat.Chat, usage: Usage.Usage, attempts: number): Chat.Chat =>
  copyChat(chat, { usage: Usage.add(chat.usage, usage), attempts: (chat.attempts ?? 0) + attempts })

/**
 * A chat's metadata once a prompt of it shared a packed request: `packed` says of how many prompts and at which
 * position, so a reader knows its usage is a share of the request's and its attempts are counted on position 0.
 */
const packedMetadata = (
  metadata: Chat.Chat["metadata"],
  place: Packing.Place | undefined
): Chat.Chat["metadata"] =>
  place === undefined ? metadata : { ...metadata, packed: { prompts: place.prompts, position: place.position } }

/** The requests a send counts for: none for a prompt that shared another's request (counted on position 0). */
const shareOfAttempts = (slot: Packing.Slot, attempts: number): number =>
  slot.place !== undefined && slot.place.position > 0 ? 0 : attempts

/** One generation (every choice of it), failing as the item's failure on `chat` (the chat as it stood before). */
export const rounds = (
  state: State,
  generator: Generator.Service,
  context: ReadonlyArray<Message.Message>,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined,
  chat: Chat.Chat
): Effect.Effect<ReadonlyArray<Round>, Failure, Any> =>
  Effect.suspend(() => {
    const slot = new Packing.Slot()
    const costed = (usage: Usage.Usage, attempts: number) =>
      copyChat(chat, {
        usage: Usage.add(chat.usage, usage),
        attempts: (chat.attempts ?? 0) + shareOfAttempts(slot, attempts),
        metadata: packedMetadata(chat.metadata, slot.place)
      })
    return generate(state, generator, context, params, structured, slot).pipe(
      Effect.catch((error) => failWith(error, recordGenerationError(error), costed(Usage.empty, attemptsOf(error)))),
      Effect.flatMap((generation) => {
        const cached = generation.cached === true
        const attempts = cached ? 0 : shareOfAttempts(slot, generation.attempts ?? 1)
        if (generation.choices.length === 0) {
          const error = new MalformedResponse({
            provider: generator.identifier.provider,
            detail: "the generation had no choices"
          })
          return failEngine(error, costed(generation.usage, generation.attempts ?? 1))
        }
        return Effect.succeed(generation.choices.map((choice, i): Round => ({
          answer: Generator.answerOf(choice),
          usage: i === 0 && !cached ? generation.usage : Usage.empty,
          stopReason: choice.stopReason,
          attempts: i === 0 ? attempts : 0,
          warnings: generation.warnings,
          logprobs: choice.logprobs,
          packed: slot.place,
          cached,
          answeredBy: generation.answeredBy
        })))
      })
    )
  })

/** One generation of one answer. */
const round = (...args: Parameters<typeof rounds>): Effect.Effect<Round, Failure, Any> =>
  Effect.map(rounds(...args), (all) => all[0]!)

/**
 * The chat with an answer added. An answer from the response cache marks the chat `cached: true` in its metadata
 * (its usage and attempts, none this time, say how much of the chat was paid for in this run).
 */
export const extend = (chat: Chat.Chat, generated: ReadonlyArray<Message.Message>, r: Round): Chat.Chat => {
  const warnings = r.warnings === undefined ? chat.warnings : [...(chat.warnings ?? []), ...r.warnings]
  // Log probabilities describe the last answer only: a round without them drops the previous answer's.
  const { logprobs: _previous, ...rest } = chat
  return makeChat({
    ...rest,
    generated,
    metadata: r.cached
      ? { ...packedMetadata(chat.metadata, r.packed), cached: true }
      : packedMetadata(chat.metadata, r.packed),
    usage: Usage.add(chat.usage, r.usage),
    stopReason: r.stopReason,
    ...(r.answeredBy === undefined ? {} : r.answeredBy),
    attempts: (chat.attempts ?? 0) + r.attempts,
    ...(warnings === undefined ? {} : { warnings }),
    ...(r.logprobs === undefined ? {} : { logprobs: r.logprobs })
  })
}

/**
 * The chat an item starts from: the pipeline's messages plus the input, nothing generated yet. A pipeline keeps one
 * chat per input, so it asks for one choice even when the params say `n > 1` (a warning on the chat says so;
 * sample with `runMany` or a `Batch`).
 */
export const draftOf = (
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
export const timed =
  (startedAt: number) => <R>(effect: Effect.Effect<Chat.Chat, Failure, R>): Effect.Effect<Chat.Chat, Failure, R> =>
    effect.pipe(
      Effect.flatMap((chat) => Effect.map(Clock.currentTimeMillis, (end) => retime(chat, startedAt, end))),
      Effect.catch((failure) =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (end) => Effect.fail(new Failure(failure.error, retime(failure.chat, startedAt, end)))
        )
      )
    )

/**
 * What a generator must have for a pipeline of this kind, checked before any request. A completion sends one text
 * prompt, so a completion context with an image or a tool part is refused too.
 */
export const checkCapabilities = (state: State, generator: Generator.Service, draft: Chat.Chat) => {
  if (state.kind !== "completion") return undefined
  const provider = generator.identifier.provider
  if (generator.complete === undefined) {
    return failEngine(
      new Unsupported({
        provider,
        detail: `${generator.identifier.model} has no plain-text completion; use a ChatPipeline`
      }),
      draft
    )
  }
  const found = nonTextPart(draft.messages)
  return found === undefined ? undefined : failEngine(
    new InvalidRequest({
      provider,
      detail:
        `messages[${found.index}] has ${
          partNames[found.part._tag]
        } part, and a completion sends its messages' text as ` +
        `one prompt; use a ChatPipeline for images and tools`
    }),
    draft
  )
}

/** Runs a pipeline on one input: first generation, then its `andThen` and parse steps in order. */
export const runItem = (
  state: State,
  input: ReadonlyArray<Message.Message>,
  itemParams: GenerateParams.GenerateParams
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const generator = yield* Generator.Generator
    const startedAt = yield* Clock.currentTimeMillis
    const asked = GenerateParams.merge(state.params, itemParams)
    const merged = Generator.describe(generator.identifier, asked).params
    const n = merged.n ?? 1
    const requestParams = n > 1 ? GenerateParams.merge(asked, { n: 1 }) : asked
    const draft = draftOf(state, generator, input, requestParams, startedAt)
    const noted = n > 1
      ? copyChat(draft, {
        warnings: [
          `n=${n}: a pipeline keeps one chat per input, so it asked for one choice; sample with runMany or a Batch`
        ]
      })
      : draft
    return yield* firstThenSteps(state, generator, requestParams, noted).pipe(timed(startedAt))
  }).pipe(bindGenerator(state))

/** The first generation, then the steps. */
export const firstThenSteps = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  draft: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const lacking = checkCapabilities(state, generator, draft)
    if (lacking !== undefined) return yield* lacking
    const first = yield* round(state, generator, draft.messages, params, structuredOf(state), draft)
    return yield* applySteps(state, generator, params, extend(draft, [first.answer], first))
  })

/** The structured output the first parse step asks for, if any. */
export const structuredOf = (state: State): StructuredOutput | undefined =>
  state.steps.find((s) => s._tag === "Parse")?.model.structured

/**
 * With tools, the rounds an answer's tool calls lead to (`toolLoop.ts`): each next answer is asked with everything
 * generated so far, under the provider's default tool choice (a forced one would call tools for ever).
 */
const toolRounds = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  structured: StructuredOutput | undefined,
  chat: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> => {
  const tools = state.tools
  if (tools === undefined) return Effect.succeed(chat)
  const next: State = { ...state, tools: { ...tools, toolChoice: undefined } }
  return tools.loop(chat, (current) =>
    Effect.map(
      round(next, generator, current.all, params, structured, current),
      (answer) => extend(current, [...current.generated, answer.answer], answer)
    ))
}

/** The `andThen` and parse steps, in the order they were added, on a chat that has its first answer. */
export const applySteps = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  first: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    let chat = yield* toolRounds(state, generator, params, structuredOf(state), first)
    // Tool calls nothing ran (provider batch mode) end the chat: a later step would go on with unanswered calls.
    if (chat.metadata["toolsRun"] === false) return chat
    for (const [index, step] of state.steps.entries()) {
      if (step._tag === "AndThen") chat = yield* applyAndThen(state, step, chat)
      else if (step._tag === "Parse") chat = yield* applyParse(state, generator, params, step, chat, index)
    }
    return chat
  })

const applyAndThen = (
  state: State,
  step: Extract<Step, { _tag: "AndThen" }>,
  chat: Chat.Chat
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    const depth = yield* Depth
    if (depth >= step.maxDepth) {
      return yield* failEngine(new MaxDepthExceeded({ step: "andThen", maxDepth: step.maxDepth }), chat)
    }
    const nested = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, Depth, depth + 1)
    const out = yield* step.f(chat).pipe(
      nested,
      Effect.catch((error) => failWith(error, new StepFailed({ step: "andThen", cause: error }), chat))
    )
    if (out === undefined) return chat
    if (out instanceof Chat.Chat) return out
    if (out instanceof Pipeline) {
      // The continued chat's usage and attempts include what this chat already cost. It uses this pipeline's
      // response cache unless it set its own.
      const next = out.cache === undefined ? update(out, { cache: state.cache }) : out
      return yield* runItem(next, [], GenerateParams.empty).pipe(
        nested,
        Effect.map((continued) => addCost(continued, chat.usage, chat.attempts ?? 0)),
        Effect.mapError((failure) => new Failure(failure.error, addCost(failure.chat, chat.usage, chat.attempts ?? 0)))
      )
    }
    // The types allow no other value: a callback that returns one anyway is a bug, not a typed failure.
    return yield* Effect.die(
      new StepFailed({
        step: "andThen",
        cause: `the callback returned ${Inspectable.toStringUnknown(out)}; return a Chat, a pipeline, or nothing`
      })
    )
  })

/**
 * What is sent back after an answer that did not parse: the parse error's reason, which `Model` writes for the model
 * to read (what is wrong, and the format again).
 */
const recoveryMessage = (error: ParseError): Message.Message => Message.user(error.reason)

const applyParse = (
  state: State,
  generator: Generator.Service,
  params: GenerateParams.GenerateParams,
  step: Extract<Step, { _tag: "Parse" }>,
  chat: Chat.Chat,
  stepIndex: number
): Effect.Effect<Chat.Chat, Failure, Any> =>
  Effect.gen(function*() {
    // What came before the answer being parsed: regenerating without recovery starts from here again.
    const before = chat.generated.slice(0, -1)
    let current = chat
    for (let rounds = 1;; rounds++) {
      const parsed = Model.parseResult(step.model, current.text)
      if (parsed._tag === "Success") {
        const answer = current.generated.at(-1)
        const kept = step.dropDialog && answer !== undefined && current.generated.length > before.length + 1
          ? copyChat(current, { generated: [...before, answer] })
          : current
        return copyChat(kept, { parsed: parsed.success })
      }
      const lastError = parsed.failure
      if (rounds >= step.maxRounds) return yield* failEngine(new ExhaustedMaxRounds({ rounds, lastError }), current)
      // With recovery the dialog goes on after the error's feedback; without, the answer is asked for again.
      const kept = step.attemptRecovery ? [...current.generated, recoveryMessage(lastError)] : before
      // Without recovery the very same request is sent again: it is another repetition of it (its own cache key).
      const next = yield* round(
        state,
        generator,
        [...current.messages, ...kept],
        params,
        step.model.structured,
        current
      ).pipe(step.attemptRecovery ? identity : asRepetition(`parse${stepIndex}.${rounds}`))
      current = yield* toolRounds(
        state,
        generator,
        params,
        step.model.structured,
        extend(current, [...kept, next.answer], next)
      )
    }
  })
