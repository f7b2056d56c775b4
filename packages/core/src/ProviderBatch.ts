/**
 * Provider batch mode: a batch's requests sent through the provider's asynchronous batch API (OpenAI's Batch API,
 * Anthropic's Message Batches) at half the price, answered within a day, with the same rows a realtime run writes.
 * Choose it with `Batch.stream(items, { via: "provider-batch" })` (or `"auto"`); this module holds its options and
 * its journal.
 *
 * Requests are gathered into chunks within the provider's limits (requests and bytes per batch), a few batches are
 * in flight at once, and each is polled until it ends. A request the batch did not answer (expired, cancelled, or a
 * retryable error) goes to the fallback; an invalid request is an error row.
 *
 * With a journal ({@link journalFile}), every chunk is recorded before its batch is created and its ids after, so a
 * process may stop at any time: a later run with the same journal and the items that still lack rows waits for
 * the batches already created instead of paying for their requests again. Only a chunk whose creation was never
 * confirmed (the process died between sending it and recording its id) may be paid twice.
 *
 * @since 0.3.0
 */
import { type Duration, Effect, FileSystem, Schema, Semaphore } from "effect"
import type { PlatformError } from "effect/PlatformError"
import type * as Scope from "effect/Scope"
import type * as internal from "./internal/providerBatch.js"
import type { Fallback as FallbackType } from "./internal/providerBatchItem.js"

/**
 * What to do with a request its batch did not answer (expired, cancelled, left out, or failed with a retryable
 * error): send it in realtime (`realtime`, the default), in a later batch once more (`rebatch`), or record the
 * error (`none`).
 *
 * @example
 * ```ts
 * import type { ProviderBatch } from "@capstan/core"
 *
 * const fallback: ProviderBatch.Fallback = "rebatch"
 * ```
 * @since 0.3.0
 */
export type Fallback = FallbackType

/**
 * Where provider batch mode records its chunks (see {@link journalFile}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ProviderBatch } from "@capstan/core"
 *
 * const journal: Effect.Effect<ProviderBatch.Journal, unknown, any> = ProviderBatch.journalFile("out.batches.jsonl")
 * ```
 * @since 0.3.0
 */
export type Journal = internal.Journal

/**
 * Where one chunk's batch stands: its chunk number, the provider's batch id, how many requests it holds (unknown
 * for a batch an earlier run created), the provider's status word, and whether it ended.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ProviderBatch } from "@capstan/core"
 *
 * const onStatus = (s: ProviderBatch.Status) => Effect.log(`batch ${s.chunk} (${s.batchId}): ${s.status}`)
 * ```
 * @since 0.3.0
 */
export type Status = internal.ChunkStatus

/**
 * Options of provider batch mode (`Batch.Options.providerBatch`).
 *
 * @example
 * ```ts
 * import type { ProviderBatch } from "@capstan/core"
 *
 * const options: ProviderBatch.Options = { maxRequests: 5000, maxBatchesInFlight: 8, pollInterval: "1 minute" }
 * ```
 * @since 0.3.0
 */
export interface Options {
  /** Where chunks are recorded, so a later run can collect the batches of this one. Default: nowhere. */
  readonly journal?: Journal | undefined
  /**
   * Requests per batch, at most. Default 2000 (at most the provider's limit). Items waiting for their batch are held
   * in memory, about 14 KB each, and `maxRequests` × (`maxBatchesInFlight` + 1) of them may wait: raise both for
   * more requests at the provider at once when memory allows.
   */
  readonly maxRequests?: number | undefined
  /** Bytes of request lines per batch, at most (default the provider's limit). */
  readonly maxBytes?: number | undefined
  /** Batches created and not yet ended, at most. Default 4. */
  readonly maxBatchesInFlight?: number | undefined
  /** How long a partly filled chunk waits for more requests before it is sent. Default 1 second. */
  readonly linger?: Duration.Input | undefined
  /** Time between two looks at a running batch. Default 30 seconds. */
  readonly pollInterval?: Duration.Input | undefined
  /** The first wait after the provider refuses a batch for its queue of enqueued tokens (it doubles). Default 1 minute. */
  readonly queueBackoff?: Duration.Input | undefined
  /** What to do with the requests a batch did not answer. Default `realtime`. */
  readonly fallback?: Fallback | undefined
  /** Told of each batch when it is created and whenever its status changes (progress displays). */
  readonly onStatus?: ((status: Status) => Effect.Effect<void>) | undefined
  /** Cancel the batches in flight when the run is interrupted. Default false: they keep running, and a resumed run with the journal collects them. */
  readonly cancelOnInterrupt?: boolean | undefined
}

const JournalEvent = Schema.Union([
  Schema.Struct({
    event: Schema.Literal("planned"),
    chunk: Schema.Int,
    kind: Schema.Literals(["chat", "completion"]),
    ids: Schema.Array(Schema.String)
  }),
  Schema.Struct({ event: Schema.Literal("uploaded"), chunk: Schema.Int, fileId: Schema.String }),
  Schema.Struct({ event: Schema.Literal("created"), chunk: Schema.Int, batchId: Schema.String })
])
const decodeEvent = Schema.decodeUnknownOption(Schema.fromJsonString(JournalEvent))

/**
 * A journal kept in a JSON Lines file: the events already in it (a torn last line from a killed process is left
 * out), and every new one appended and flushed to disk before the step it records goes on. `fresh` starts it
 * empty, for a run that must not collect the batches of an earlier one.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, ProviderBatch, Template } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const journal = yield* ProviderBatch.journalFile("results.batches.jsonl")
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   return yield* Batch.run(items, { via: "auto", providerBatch: { journal } })
 * })).pipe(Effect.provide([Generator.layer("mock!echo"), NodeServices.layer]))
 * ```
 * @since 0.3.0
 */
export const journalFile = (
  path: string,
  options: { readonly fresh?: boolean | undefined } = {}
): Effect.Effect<Journal, PlatformError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (options.fresh === true) yield* fs.writeFileString(path, "")
    const text = (yield* fs.exists(path)) ? yield* fs.readFileString(path) : ""
    const recorded: Array<internal.JournalEvent> = []
    for (const line of text.split("\n")) {
      const event = decodeEvent(line)
      if (event._tag === "Some") recorded.push(event.value)
    }
    // A torn last line (no newline) would join the next event: end it first.
    const file = yield* fs.open(path, { flag: "a" })
    const encoder = new TextEncoder()
    if (text.length > 0 && !text.endsWith("\n")) yield* file.writeAll(encoder.encode("\n"))
    const lock = yield* Semaphore.make(1)
    const append = (event: internal.JournalEvent) =>
      Semaphore.withPermits(lock, 1)(
        file.writeAll(encoder.encode(`${JSON.stringify(event)}\n`)).pipe(Effect.andThen(file.sync), Effect.orDie)
      )
    return { recorded, append }
  })
