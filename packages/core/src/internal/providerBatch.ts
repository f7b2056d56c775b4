/**
 * The provider-batch engine: requests from many items are gathered into chunks within the provider's limits, each
 * chunk becomes one provider batch (a bounded number in flight), batches are polled until they end, and their
 * results go back to the requests that wait for them, by custom id.
 *
 * Every step is written to a journal before it is taken (the chunk's custom ids) and after (its file and batch
 * ids), so that a later run with the same journal finds the batches an earlier process created: a request whose
 * custom id is in one of them waits for that batch's result instead of being sent again.
 *
 * @internal
 */
import { Deferred, Duration, Effect, Queue, Schedule, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { type GenerationError, isRetryable } from "../GenerationError.js"
import type { BatchApi, BatchEntry, BatchOutcome, BatchState } from "./generator.js"

/** One line of a provider batch journal. */
export type JournalEvent =
  | {
    readonly event: "planned"
    readonly chunk: number
    readonly kind: BatchEntry["kind"]
    readonly ids: ReadonlyArray<string>
  }
  | { readonly event: "uploaded"; readonly chunk: number; readonly fileId: string }
  | { readonly event: "created"; readonly chunk: number; readonly batchId: string }

/** Where the engine records its chunks: the events of earlier runs, and a way to add this run's. */
export interface Journal {
  readonly recorded: ReadonlyArray<JournalEvent>
  readonly append: (event: JournalEvent) => Effect.Effect<void>
}

/** A journal that remembers nothing across runs. */
export const memoryJournal: Journal = { recorded: [], append: () => Effect.void }

/** How the engine chunks, polls and backs off. */
export interface Settings {
  readonly provider: string
  readonly journal: Journal
  readonly maxRequests: number
  readonly maxBytes: number
  readonly maxBatchesInFlight: number
  readonly linger: Duration.Duration
  readonly pollInterval: Duration.Duration
  /** The first wait after a batch is refused for the provider's queue limit (enqueued tokens); it doubles. */
  readonly queueBackoff: Duration.Duration
  readonly cancelOnInterrupt: boolean
  /** Told of each chunk's batch when it is created and whenever its status changes. */
  readonly onStatus: ((status: ChunkStatus) => Effect.Effect<void>) | undefined
}

/** Where one chunk's batch stands, for progress displays. */
export interface ChunkStatus {
  readonly chunk: number
  readonly batchId: string
  /** Requests in the chunk (unknown for a batch an earlier run created). */
  readonly requests: number | undefined
  /** The provider's own word for it: `validating`, `in_progress`, `ended`, ... */
  readonly status: string
  readonly ended: boolean
}

/** The outcome of one request, with the batch that gave it. */
export interface Delivered {
  readonly outcome: BatchOutcome
  readonly batchId: string
}

/** Sends requests in provider batches. */
export interface Submitter {
  /**
   * Sends one request in a provider batch and waits for its outcome. Fails when the request cannot be encoded or
   * its batch could not be created or failed as a whole.
   */
  readonly submit: (entry: BatchEntry) => Effect.Effect<Delivered, GenerationError>
}

interface Pending {
  readonly customId: string
  readonly kind: BatchEntry["kind"]
  readonly line: string
  readonly bytes: number
  readonly deferred: Deferred.Deferred<Delivered, GenerationError>
}

/** A batch an earlier run created: its results are read once a request of this run waits for one of its ids. */
interface Earlier {
  readonly batchId: string
  readonly chunk: number
  reading: boolean
}

const encoder = new TextEncoder()

// Transient failures of the batch API's own calls (create, retrieve, results) are retried with backoff.
const transient = Schedule.max([
  Schedule.min([Schedule.exponential("1 second", 2), Schedule.spaced("1 minute")]),
  Schedule.recurs(8)
])
const retryTransient = <A, R>(effect: Effect.Effect<A, GenerationError, R>): Effect.Effect<A, GenerationError, R> =>
  Effect.retry(effect, { schedule: transient, while: isRetryable })

/** Splits a group of requests wherever the next one would take it past `maxBytes`. */
const byBytes = (group: ReadonlyArray<Pending>, maxBytes: number): Array<ReadonlyArray<Pending>> => {
  const chunks: Array<Array<Pending>> = []
  let current: Array<Pending> = []
  let bytes = 0
  for (const pending of group) {
    if (current.length > 0 && bytes + pending.bytes > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(pending)
    bytes += pending.bytes
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/**
 * The batches of a journal that were created, by custom id, and the next free chunk number. A chunk whose file was
 * uploaded but whose batch was never recorded is looked up (`find`): the process may have stopped after creating it.
 */
const readJournal = (journal: Journal, api: BatchApi) =>
  Effect.gen(function*() {
    const idsOf = new Map<number, ReadonlyArray<string>>()
    const created = new Map<number, string>()
    const uploaded = new Map<number, string>()
    let next = 0
    for (const event of journal.recorded) {
      next = Math.max(next, event.chunk + 1)
      if (event.event === "planned") idsOf.set(event.chunk, event.ids)
      else if (event.event === "uploaded") uploaded.set(event.chunk, event.fileId)
      else created.set(event.chunk, event.batchId)
    }
    if (api.find !== undefined) {
      for (const [chunk, fileId] of uploaded) {
        if (created.has(chunk)) continue
        // Not found, or the provider cannot say: the chunk is sent again.
        const batchId = yield* Effect.orElseSucceed(retryTransient(api.find(fileId)), () => undefined)
        if (batchId !== undefined) {
          created.set(chunk, batchId)
          yield* journal.append({ event: "created", chunk, batchId })
        }
      }
    }
    const earlierOf = new Map<string, Earlier>()
    for (const [chunk, batchId] of created) {
      const earlier: Earlier = { batchId, chunk, reading: false }
      for (const id of idsOf.get(chunk) ?? []) earlierOf.set(id, earlier)
    }
    return { earlierOf, next }
  })

/**
 * Starts the engine in the current scope. Closing the scope interrupts the batches being waited for (and cancels
 * them at the provider when `cancelOnInterrupt` is set); batches already created keep running otherwise, and a
 * later run with the same journal collects them.
 */
export const make = (api: BatchApi, settings: Settings): Effect.Effect<Submitter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending>()
    const { earlierOf, next } = yield* readJournal(settings.journal, api)
    let chunkNumber = next

    const waitForEnd = (
      batchId: string,
      chunk: number,
      requests: number | undefined
    ): Effect.Effect<BatchState, GenerationError> => {
      let last: string | undefined
      const report = (state: BatchState) =>
        settings.onStatus === undefined || state.status === last ? Effect.void : Effect.suspend(() => {
          last = state.status
          return settings.onStatus!({ chunk, batchId, requests, status: state.status, ended: state._tag !== "Running" })
        })
      return retryTransient(api.retrieve(batchId)).pipe(
        Effect.tap(report),
        Effect.repeat({ schedule: Schedule.spaced(settings.pollInterval), until: (state) => state._tag !== "Running" })
      )
    }

    /** The results of a batch an earlier run created; none when it failed as a whole (nothing in it was run). */
    const readResults = (earlier: Earlier): Effect.Effect<Map<string, BatchOutcome> | undefined, GenerationError> =>
      Effect.gen(function*() {
        const batchId = earlier.batchId
        const state = yield* waitForEnd(batchId, earlier.chunk, undefined)
        if (state._tag === "Failed") return undefined
        const results = new Map<string, BatchOutcome>()
        yield* retryTransient(
          Stream.runForEach(
            api.results(batchId),
            (result) => Effect.sync(() => results.set(result.customId, result.outcome))
          )
        )
        return results
      })

    /**
     * Creates the chunk's batch, backing off while the provider refuses it for its queue limit, and returns the
     * batch's id with its ended state.
     */
    const createAndWait = (chunk: number, kind: BatchEntry["kind"], lines: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const batchId = yield* retryTransient(
          api.create(lines, kind, (fileId) => settings.journal.append({ event: "uploaded", chunk, fileId }))
        )
        yield* settings.journal.append({ event: "created", chunk, batchId })
        const interrupted = Effect.suspend(() =>
          settings.cancelOnInterrupt ? Effect.ignore(api.cancel(batchId)) : Effect.void
        )
        const state = yield* waitForEnd(batchId, chunk, lines.length).pipe(Effect.onInterrupt(() => interrupted))
        if (state._tag === "Failed" && state.error._tag === "RateLimited") return yield* state.error
        return { batchId, state }
      }).pipe(
        Effect.retry({
          schedule: Schedule.max([Schedule.exponential(settings.queueBackoff, 2), Schedule.recurs(6)]),
          while: (error: GenerationError) => error._tag === "RateLimited"
        })
      )

    const runChunk = (chunk: ReadonlyArray<Pending>) =>
      Effect.gen(function*() {
        const number = chunkNumber++
        const kind = chunk[0]!.kind
        const failAll = (error: GenerationError) =>
          Effect.forEach(chunk, (p) => Deferred.fail(p.deferred, error), { discard: true })
        yield* settings.journal.append({ event: "planned", chunk: number, kind, ids: chunk.map((p) => p.customId) })
        const created = yield* Effect.result(createAndWait(number, kind, chunk.map((p) => p.line)))
        if (created._tag === "Failure") return yield* failAll(created.failure)
        const { batchId, state } = created.success
        if (state._tag === "Failed") return yield* failAll(state.error)
        const waiting = new Map(chunk.map((p) => [p.customId, p]))
        const settle = (customId: string, outcome: BatchOutcome) =>
          Effect.suspend(() => {
            const pending = waiting.get(customId)
            if (pending === undefined) return Effect.void
            waiting.delete(customId)
            return Deferred.succeed(pending.deferred, { outcome, batchId })
          })
        const read = yield* Effect.result(
          retryTransient(Stream.runForEach(api.results(batchId), (result) => settle(result.customId, result.outcome)))
        )
        // What the results did not mention is unfinished, and goes to the fallback; results that could not be
        // read fail what they did not deliver.
        const left = [...waiting.values()]
        if (read._tag === "Failure") {
          return yield* Effect.forEach(left, (p) => Deferred.fail(p.deferred, read.failure), { discard: true })
        }
        yield* Effect.forEach(
          left,
          (p) => Deferred.succeed(p.deferred, { outcome: { _tag: "Unfinished", reason: "missing" }, batchId }),
          { discard: true }
        )
      })

    yield* Stream.fromQueue(queue).pipe(
      Stream.groupedWithin(settings.maxRequests, settings.linger),
      Stream.flatMap((group) => Stream.fromIterable(byBytes(group, settings.maxBytes))),
      Stream.mapEffect(runChunk, { concurrency: settings.maxBatchesInFlight, unordered: true }),
      Stream.runDrain,
      Effect.forkScoped
    )

    const scope = yield* Effect.scope
    const readings = new Map<Earlier, Deferred.Deferred<Map<string, BatchOutcome> | undefined, GenerationError>>()
    for (const earlier of new Set(earlierOf.values())) {
      readings.set(earlier, yield* Deferred.make<Map<string, BatchOutcome> | undefined, GenerationError>())
    }

    const fromEarlier = (earlier: Earlier, customId: string): Effect.Effect<Delivered | undefined, GenerationError> =>
      Effect.gen(function*() {
        const reading = readings.get(earlier)!
        // Read once, by whichever request asks first; the others wait for the same reading.
        if (!earlier.reading) {
          earlier.reading = true
          yield* Effect.forkIn(
            Effect.exit(readResults(earlier)).pipe(
              Effect.flatMap((exit) => Deferred.done(reading, exit))
            ),
            scope
          )
        }
        const results = yield* Deferred.await(reading)
        if (results === undefined) return undefined
        const outcome = results.get(customId)
        results.delete(customId)
        return {
          outcome: outcome ?? { _tag: "Unfinished", reason: "missing" },
          batchId: earlier.batchId
        } satisfies Delivered
      })

    const submit = (entry: BatchEntry): Effect.Effect<Delivered, GenerationError> =>
      Effect.gen(function*() {
        // Encoded even when an earlier run sent it: the provider keeps what reading its result needs.
        const line = yield* api.encode(entry)
        const earlier = earlierOf.get(entry.customId)
        if (earlier !== undefined) {
          earlierOf.delete(entry.customId)
          const delivered = yield* fromEarlier(earlier, entry.customId)
          // A batch that failed as a whole ran nothing: its requests are sent again.
          if (delivered !== undefined) return delivered
        }
        const deferred = yield* Deferred.make<Delivered, GenerationError>()
        yield* Queue.offer(queue, {
          customId: entry.customId,
          kind: entry.kind,
          line,
          bytes: encoder.encode(line).byteLength + 1,
          deferred
        })
        return yield* Deferred.await(deferred)
      })

    return { submit }
  })

/** Defaults of the settings a caller leaves out. */
export const defaults = {
  maxBatchesInFlight: 4,
  linger: Duration.seconds(1),
  pollInterval: Duration.seconds(30),
  queueBackoff: Duration.minutes(1)
} as const
