/**
 * The asynchronous batch APIs of both providers (OpenAI Files + Batch API, Anthropic Message Batches), behind one
 * service the HTTP server routes to: the batches, the counters and the ledger of what each batch request cost.
 *
 * Requests inside a batch are answered by the realtime answer logic (`respond`, default answers, usage), but not
 * rate-limited and not hit by the realtime faults: providers run batches on separate queues. Batches have their own
 * faults (`batchFaults`). Nothing runs on a timer: each request to a batch endpoint, and each read of the stats or the
 * ledger, first runs the batch requests whose turn has come on the batch clock.
 * @module
 */
import type { Respond } from "./answering.js"
import { AnthropicBatches } from "./batchAnthropic.js"
import { type BatchHttp, type Route, sendError } from "./batchHttp.js"
import { OpenaiBatches } from "./batchOpenai.js"
import { type BatchContext, BatchRun, resolveFaults, resolveTiming, type RunEnv } from "./batchRun.js"
import { statusError } from "./errors.js"
import type { BatchProvider, FakeBatchFaults, FakeBatchOptions, FakeBatchStats } from "./types.js"

export type { Route } from "./batchHttp.js"

/** The parts of the server's configuration batches read, always the current ones. */
export interface BatchSettings {
  readonly batch?: FakeBatchOptions | undefined
  readonly batchFaults?: FakeBatchFaults | undefined
  readonly seed?: number | undefined
  readonly respond?: Respond | undefined
}

/** The key of {@link BatchService.ledger}: unambiguous as long as the model has no `|` (the custom id may). */
export const batchLedgerKey = (provider: BatchProvider, customId: string, model: string): string =>
  `${provider}|${model}|${customId}`

interface Counters {
  filesUploaded: number
  batchesCreated: number
  requestsProcessed: number
  requestsSucceeded: number
  requestsErrored: number
}

const emptyCounters = (): Counters => ({
  filesUploaded: 0,
  batchesCreated: 0,
  requestsProcessed: 0,
  requestsSucceeded: 0,
  requestsErrored: 0
})

export class BatchService {
  private readonly openai: OpenaiBatches
  private readonly anthropic: AnthropicBatches
  private counters = emptyCounters()
  private paid = new Map<string, number>()
  /** Batches since start / `reset()`: with the seed, picks each batch's faults. */
  private ordinal = 0
  /** Batch requests since start / `reset()`: request numbers, for ids and `FakeRequest.seq`. */
  private seq = 0
  /** Never reset, so an id held by a client from before a `reset()` cannot name a new object. */
  private ids = 0
  private readonly env: RunEnv

  constructor(private readonly settings: () => BatchSettings) {
    const ctx: BatchContext = {
      options: () => this.settings().batch,
      startRun: (params) => {
        const total = params.table.size
        const current = this.settings()
        const run = new BatchRun({
          ...params,
          ordinal: this.ordinal++,
          seqBase: this.seq,
          timing: resolveTiming(current.batch, total),
          faults: resolveFaults(current.batchFaults, current.seed ?? 1)
        })
        this.seq += total
        this.counters.batchesCreated++
        return run
      },
      newId: (prefix) => `${prefix}${++this.ids}`,
      countFile: () => {
        this.counters.filesUploaded++
      }
    }
    this.openai = new OpenaiBatches(ctx)
    this.anthropic = new AnthropicBatches(ctx)
    this.env = {
      get respond() {
        return settings().respond
      },
      processed: (run, index, model) => {
        const c = this.counters
        c.requestsProcessed++
        if (model === undefined) {
          c.requestsErrored++
          return
        }
        c.requestsSucceeded++
        const key = batchLedgerKey(run.provider, run.table.customIds[index] ?? "", model)
        this.paid.set(key, (this.paid.get(key) ?? 0) + 1)
      }
    }
  }

  /** The batch clock. */
  now(): number {
    return this.settings().batch?.now?.() ?? Date.now()
  }

  route(method: string, path: string): Route | undefined {
    return this.openai.route(method, path) ?? this.anthropic.route(method, path)
  }

  handle(route: Route, http: BatchHttp): void {
    const t = this.now()
    const crashed = (e: unknown) =>
      sendError(
        http,
        http.path.startsWith("/v1/messages") ? "anthropic" : "openai-chat",
        statusError(500, `The fake provider failed: ${e instanceof Error ? e.message : String(e)}`)
      )
    try {
      this.settleAll(t)
      const done = route.handle(http, t)
      if (done !== undefined) done.catch(crashed)
    } catch (e) {
      crashed(e)
    }
  }

  stats(): FakeBatchStats {
    this.settleAll(this.now())
    return { ...this.counters }
  }

  /** How many times each `(provider, custom_id, model)` succeeded, i.e. was paid for (a copy). */
  ledger(): ReadonlyMap<string, number> {
    this.settleAll(this.now())
    return new Map(this.paid)
  }

  reset(): void {
    this.openai.reset()
    this.anthropic.reset()
    this.counters = emptyCounters()
    this.paid = new Map()
    this.ordinal = 0
    this.seq = 0
  }

  private settleAll(t: number): void {
    for (const run of this.openai.runs) run.settle(t, this.env)
    for (const run of this.anthropic.runs) run.settle(t, this.env)
  }
}
