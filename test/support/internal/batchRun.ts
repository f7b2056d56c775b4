/**
 * One batch's run, the same for both providers: its requests kept compactly, its lifecycle worked out from
 * timestamps (no timers), and each request answered by the realtime answer logic once the clock passes its turn.
 *
 * Only what cannot be recomputed is stored per request: one status byte, plus the answer or error of requests that
 * `respond` scripted or a fault hit. A default answer is rebuilt from the request's JSON when the results are read,
 * which gives the same body because the default answer depends only on the request.
 * @module
 */
import type { IncomingHttpHeaders } from "node:http"
import {
  answerBody,
  checkCall,
  fakeRequest,
  isErrorSpec,
  type Outcome,
  type Respond,
  scriptedOutcome,
  tokenCost
} from "./answering.js"
import { type ErrorSpec, faultError } from "./errors.js"
import type { ApiKind, BatchErrorKind, BatchProvider, FakeBatchFaults, FakeBatchOptions, FaultKind } from "./types.js"
import { type Answer, defaultAnswer, isRecord, type ParsedCall } from "./wire.js"

const DAY_MS = 24 * 60 * 60 * 1000

/** Durations of one batch, fixed when it is created. */
export interface RunTiming {
  readonly validatingMs: number
  readonly perRequestMs: number
  readonly finalizingMs: number
  readonly cancellingMs: number
  readonly windowMs: number
}

export const resolveTiming = (options: FakeBatchOptions | undefined, total: number): RunTiming => ({
  validatingMs: Math.max(0, options?.validatingMs ?? 0),
  perRequestMs: Math.max(0, (options?.perRequestMs ?? 0) + (total > 0 ? (options?.processingMs ?? 0) / total : 0)),
  finalizingMs: Math.max(0, options?.finalizingMs ?? 0),
  cancellingMs: Math.max(0, options?.cancellingMs ?? 0),
  windowMs: Math.max(0, options?.completionWindowMs ?? DAY_MS)
})

/** Faults of one batch, fixed when it is created. */
export interface RunFaults {
  readonly errorRate: number
  readonly errorKinds: ReadonlyArray<BatchErrorKind>
  /** Requests run before the batch stalls until it expires; undefined: all of them. */
  readonly stallAfter: number | undefined
  readonly seed: number
}

export const resolveFaults = (faults: FakeBatchFaults | undefined, seed: number): RunFaults => {
  const expire = faults?.expire
  return {
    errorRate: faults?.errorRate ?? 0,
    errorKinds: faults?.errorKinds !== undefined && faults.errorKinds.length > 0 ? faults.errorKinds : ["server"],
    stallAfter: expire === undefined || expire === false
      ? undefined
      : expire === true
      ? 0
      : Math.max(0, expire.afterRequests),
    seed
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Requests

/**
 * The requests of a batch as slices of one buffer, parsed again whenever they are needed: JSON text is several times
 * smaller than the objects it parses into, which matters at 100 000 requests. An OpenAI slice is a whole input line
 * whose `body` is the request; an Anthropic slice is the request's `params`.
 */
export class RequestTable {
  constructor(
    readonly customIds: ReadonlyArray<string>,
    private readonly source: Buffer,
    private readonly starts: Uint32Array,
    private readonly ends: Uint32Array,
    private readonly field: "body" | undefined
  ) {}

  get size(): number {
    return this.customIds.length
  }

  /** The request's JSON body, or undefined when it is not valid JSON. */
  body(index: number): unknown {
    try {
      const parsed: unknown = JSON.parse(this.source.toString("utf8", this.starts[index], this.ends[index]))
      return this.field === undefined ? parsed : isRecord(parsed) ? parsed[this.field] : undefined
    } catch {
      return undefined
    }
  }

  static fromBodies(customIds: ReadonlyArray<string>, bodies: ReadonlyArray<unknown>): RequestTable {
    const texts = bodies.map((b) => Buffer.from(JSON.stringify(b) ?? "null", "utf8"))
    const starts = new Uint32Array(texts.length)
    const ends = new Uint32Array(texts.length)
    let at = 0
    texts.forEach((t, i) => {
      starts[i] = at
      at += t.length
      ends[i] = at
    })
    return new RequestTable(customIds, Buffer.concat(texts), starts, ends, undefined)
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The run

/** Where a batch is in its life. Anthropic reports `validating`, `in_progress` and `finalizing` all as `in_progress`. */
export type Phase =
  | "validating"
  | "failed"
  | "in_progress"
  | "finalizing"
  | "completed"
  | "expired"
  | "cancelling"
  | "cancelled"

const TERMINAL: ReadonlySet<Phase> = new Set(["failed", "completed", "expired", "cancelled"])
export const isTerminal = (phase: Phase): boolean => TERMINAL.has(phase)

/** What the server lends a run while it processes requests. */
export interface RunEnv {
  readonly respond: Respond | undefined
  /** Called once per request that ran; `model` is set for a succeeded request (the model it is billed to). */
  readonly processed: (run: BatchRun, index: number, model: string | undefined) => void
}

/** What a request of a batch came to, as the results file tells it. */
export type RequestResult =
  | { readonly kind: "succeeded"; readonly body: unknown }
  | { readonly kind: "errored"; readonly spec: ErrorSpec }
  | { readonly kind: "expired" }
  | { readonly kind: "cancelled" }
  | { readonly kind: "pending" }

/** A request answered other than by its default answer, kept until the results are read. */
type Special =
  | { readonly kind: "answer"; readonly answers: ReadonlyArray<Answer>; readonly contentFilter: boolean }
  | { readonly kind: "error"; readonly spec: ErrorSpec }

const PENDING = 0
const SUCCEEDED = 1
const ERRORED = 2

export interface RunParams {
  readonly provider: BatchProvider
  /** The wire format of the requests (the OpenAI batch's endpoint, or Anthropic messages). */
  readonly api: ApiKind
  readonly id: string
  /** Position among the batches created since start / `reset()`: with the seed, it picks the faults. */
  readonly ordinal: number
  /** Number of the first request among all batch requests; request `i` is `seqBase + i` (ids, `FakeRequest.seq`). */
  readonly seqBase: number
  readonly createdAt: number
  readonly table: RequestTable
  readonly timing: RunTiming
  readonly faults: RunFaults
  /** Validation refused the batch: it shows `failed` once validation is over and runs nothing. */
  readonly refused: boolean
  readonly headers: IncomingHttpHeaders
}

export class BatchRun {
  readonly provider: BatchProvider
  readonly api: ApiKind
  readonly id: string
  readonly createdAt: number
  readonly table: RequestTable
  readonly refused: boolean
  /** When a cancel was accepted. */
  cancelAt: number | undefined = undefined
  /** Requests run so far (in order: request `i` ran iff `i < processed`). */
  processed = 0
  succeeded = 0
  errored = 0
  inputTokens = 0
  outputTokens = 0
  /** Set once the run is terminal and every request it will run has run: nothing to settle any more. */
  settledForGood = false

  private readonly params: RunParams
  private readonly status: Uint8Array
  private readonly special = new Map<number, Special>()

  constructor(params: RunParams) {
    this.params = params
    this.provider = params.provider
    this.api = params.api
    this.id = params.id
    this.createdAt = params.createdAt
    this.table = params.table
    this.refused = params.refused
    this.status = new Uint8Array(params.table.size)
  }

  get total(): number {
    return this.table.size
  }

  get startAt(): number {
    return this.createdAt + this.params.timing.validatingMs
  }

  get expiresAt(): number {
    return this.createdAt + this.params.timing.windowMs
  }

  /** Requests the batch will run at most (fewer when a fault stalls it). */
  private get runnable(): number {
    if (this.refused) return 0
    const stall = this.params.faults.stallAfter
    return stall === undefined ? this.total : Math.min(this.total, stall)
  }

  /** When request `index` finishes. */
  processedAt(index: number): number {
    return this.startAt + (index + 1) * this.params.timing.perRequestMs
  }

  /** When the last request finishes, or undefined when the batch will not run them all before it expires. */
  get finishesAt(): number | undefined {
    if (this.refused || this.runnable < this.total) return undefined
    const last = this.total === 0 ? this.startAt : this.processedAt(this.total - 1)
    return last <= this.expiresAt ? last : undefined
  }

  /** Requests finished by time `t` (a cancel or the expiry stops the count). */
  processedBy(t: number): number {
    const end = Math.min(t, this.cancelAt ?? Number.POSITIVE_INFINITY, this.expiresAt)
    if (end < this.startAt) return 0
    const perRequest = this.params.timing.perRequestMs
    if (perRequest <= 0) return this.runnable
    return Math.min(this.runnable, Math.floor((end - this.startAt) / perRequest))
  }

  phase(t: number): Phase {
    const { cancellingMs, finalizingMs } = this.params.timing
    if (this.cancelAt !== undefined && t >= this.cancelAt) {
      return t >= this.cancelAt + cancellingMs ? "cancelled" : "cancelling"
    }
    if (t < this.startAt) return "validating"
    if (this.refused) return "failed"
    const finishesAt = this.finishesAt
    if (finishesAt === undefined) return t >= this.expiresAt ? "expired" : "in_progress"
    if (t < finishesAt) return "in_progress"
    return t < finishesAt + finalizingMs ? "finalizing" : "completed"
  }

  /** When the batch reached `phase`, if it is a terminal one. */
  endedAt(phase: Phase): number | undefined {
    const { cancellingMs, finalizingMs } = this.params.timing
    switch (phase) {
      case "failed":
        return this.startAt
      case "completed":
        return this.finishesAt! + finalizingMs
      case "expired":
        return this.expiresAt
      case "cancelled":
        return this.cancelAt! + cancellingMs
      default:
        return undefined
    }
  }

  /** Runs the requests whose turn has come by `t`. */
  settle(t: number, env: RunEnv): void {
    if (this.settledForGood) return
    const target = this.processedBy(t)
    while (this.processed < target) {
      this.run(this.processed, env)
      this.processed++
    }
    if (isTerminal(this.phase(t))) this.settledForGood = true
  }

  /** The request's number among all batch requests (its ids and `FakeRequest.seq`). */
  seqOf(index: number): number {
    return this.params.seqBase + index
  }

  /** The result of request `index` as of the last settle; unrun requests of an expired / cancelled batch say so. */
  result(index: number, t: number): RequestResult {
    if (this.status[index] !== PENDING) {
      const special = this.special.get(index)
      if (special?.kind === "error") return { kind: "errored", spec: special.spec }
      const body = this.table.body(index)
      const call = checkCall(this.api, body)
      // Validated when the request ran, and the JSON has not changed since.
      if (isErrorSpec(call)) return { kind: "errored", spec: call }
      const answers = special?.kind === "answer" ? special.answers : defaultAnswers(call)
      const contentFilter = special?.kind === "answer" && special.contentFilter
      return {
        kind: "succeeded",
        body: answerBody(call, answers, contentFilter, this.seqOf(index), this.processedAt(index)).body
      }
    }
    const phase = this.phase(t)
    return phase === "expired"
      ? { kind: "expired" }
      : phase === "cancelled"
      ? { kind: "cancelled" }
      : { kind: "pending" }
  }

  private run(index: number, env: RunEnv): void {
    const body = this.table.body(index)
    const checked = checkCall(this.api, body)
    const outcome = isErrorSpec(checked)
      ? ({ kind: "error", spec: checked } as const)
      : this.answer(index, checked, body as Readonly<Record<string, unknown>>, env)
    if (outcome.kind === "error") {
      this.status[index] = ERRORED
      this.special.set(index, outcome)
      this.errored++
      env.processed(this, index, undefined)
      return
    }
    const call = checked as ParsedCall
    const defaults = outcome.answers
    this.status[index] = SUCCEEDED
    if (outcome.special !== undefined) this.special.set(index, outcome.special)
    const built = answerBody(
      call,
      outcome.special?.answers ?? defaults,
      outcome.special?.contentFilter ?? false,
      this.seqOf(index),
      this.processedAt(index)
    )
    this.succeeded++
    this.inputTokens += call.promptTokens.reduce((a, b) => a + b, 0)
    this.outputTokens += built.outputTokens
    env.processed(this, index, call.model)
  }

  /** Precedence as in realtime, minus the realtime faults: `respond` first, then the batch's own random error. */
  private answer(
    index: number,
    call: ParsedCall,
    params: Readonly<Record<string, unknown>>,
    env: RunEnv
  ):
    | { readonly kind: "error"; readonly spec: ErrorSpec }
    | {
      readonly kind: "answer"
      readonly answers: ReadonlyArray<Answer>
      readonly special: Extract<Special, { kind: "answer" }> | undefined
    }
  {
    const defaults = defaultAnswers(call)
    const origin = {
      seq: this.seqOf(index),
      path: call.api === "anthropic" ? "/v1/messages" : call.api === "openai-chat" ? CHAT_PATH : COMPLETIONS_PATH,
      headers: this.params.headers,
      batch: { provider: this.provider, id: this.id, customId: this.table.customIds[index] ?? "", index }
    }
    const scripted: Outcome = scriptedOutcome(
      call,
      defaults,
      env.respond,
      (promptIndex) => fakeRequest(origin, call, params, promptIndex)
    )
    // Drawn for every request so the schedule does not depend on what `respond` did.
    const injected = this.drawError(index)
    if (scripted.kind === "error") return scripted
    if (scripted.kind === "fault") return this.scriptedFault(scripted.fault, call, defaults)
    if (injected !== undefined) return { kind: "error", spec: this.errorFor(injected, call) }
    const same = scripted.answers.every((a, i) => a === defaults[i])
    return {
      kind: "answer",
      answers: defaults,
      special: same ? undefined : { kind: "answer", answers: scripted.answers, contentFilter: false }
    }
  }

  /**
   * A fault `respond` asked for: its error response, or the filtered answer; a transport fault (reset, hang, broken
   * body) becomes the 500 a batch worker would record for it.
   */
  private scriptedFault(fault: FaultKind, call: ParsedCall, defaults: ReadonlyArray<Answer>) {
    if (fault === "content-filter") {
      return {
        kind: "answer",
        answers: defaults,
        special: { kind: "answer", answers: defaults, contentFilter: true }
      } as const
    }
    const context = { model: call.model, promptTokens: call.promptTokens[0] ?? 0 }
    const spec = faultError(fault, context) ?? faultError("server-error", context)!
    return { kind: "error", spec } as const
  }

  private drawError(index: number): BatchErrorKind | undefined {
    const { errorKinds, errorRate, seed } = this.params.faults
    if (errorRate <= 0) return undefined
    const ordinal = this.params.ordinal
    if (draw(seed, ordinal, index, 0x51ed27) >= errorRate) return undefined
    return errorKinds[Math.floor(draw(seed, ordinal, index, 0x2545f491) * errorKinds.length)]
  }

  private errorFor(kind: BatchErrorKind, call: ParsedCall): ErrorSpec {
    const context = { model: call.model, promptTokens: call.promptTokens[0] ?? 0 }
    const fault: FaultKind = kind === "server"
      ? "server-error"
      : kind === "rate-limit"
      ? "rate-limit"
      : kind === "invalid"
      ? "bad-request"
      : this.provider === "anthropic"
      ? "overloaded"
      : "unavailable"
    return faultError(fault, context)!
  }
}

export const CHAT_PATH = "/v1/chat/completions"
export const COMPLETIONS_PATH = "/v1/completions"

const defaultAnswers = (call: ParsedCall): ReadonlyArray<Answer> => call.prompts.map((p) => defaultAnswer(call, p))

/** The realtime limiter's token estimate of one request body, 0 when the body is refused. */
export const estimateRequestTokens = (api: ApiKind, body: unknown): number => {
  const call = checkCall(api, body)
  return isErrorSpec(call) ? 0 : tokenCost(call, defaultAnswers(call))
}

/** murmur3's finalizer: spreads every input bit over the output. */
const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * A uniform number in [0, 1) from (seed, batch, request, salt): a hash rather than a PRNG stream, so a request's
 * fault does not depend on when the batch happens to be looked at.
 */
const draw = (seed: number, ordinal: number, index: number, salt: number): number =>
  mix(mix(mix((seed ^ salt) >>> 0) ^ ordinal) ^ index) / 4294967296

// ---------------------------------------------------------------------------------------------------------------------
// What the providers' endpoints share

/** A run to start: the rest (numbering, timings, faults) comes from the server's state and configuration. */
export type NewRun = Omit<RunParams, "ordinal" | "seqBase" | "timing" | "faults">

/** The server-wide batch state the providers' endpoints use. */
export interface BatchContext {
  readonly options: () => FakeBatchOptions | undefined
  /** Numbers the run, fixes its timings and faults from the configuration, and counts it. */
  readonly startRun: (params: NewRun) => BatchRun
  /** A fresh id such as `batch_fake12`; ids are never reused, not even after `reset()`. */
  readonly newId: (prefix: string) => string
  readonly countFile: () => void
}
