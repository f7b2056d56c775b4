/**
 * One item of a provider-batch run, as the generator its pipeline sees: the item's first generation (every request
 * with the item's starting messages, one per group of choices) goes into a provider batch, everything after it
 * (parse recovery rounds, `andThen` steps) goes to the realtime generator, and so does a request the batch did not
 * answer when the fallback says so. Each batched request leaves a ticket that its rows' metadata report.
 *
 * @internal
 */
import { Effect } from "effect"
import type { ChatRequest, CompletionRequest, Generation } from "../Generation.js"
import { BatchUnfinished, type GenerationError, isRetryable } from "../GenerationError.js"
import { Attribute } from "../Telemetry.js"
import { sha256Sync } from "./digest.js"
import { type BatchEntry, type Service, withAttempts } from "./generator.js"
import type { Submitter } from "./providerBatch.js"
import { ChoiceOffset } from "./requestSlot.js"
import { instrumentsOf, traced } from "./telemetry.js"

/** What to do with a request its batch did not answer (expired, cancelled, missing, or a retryable error). */
export type Fallback = "realtime" | "rebatch" | "none"

/** How one batched request went: the batch it was in, its custom id, and who answered. */
export interface Ticket {
  readonly batchId: string
  readonly customId: string
  /** `provider-batch` when the batch answered, `realtime` when the fallback did. */
  readonly via: "provider-batch" | "realtime"
  /** Why the fallback was needed. */
  readonly unanswered?: string | undefined
}

// The stricter provider's pattern (Anthropic); OpenAI takes any string.
const plainId = /^[a-zA-Z0-9_-]+$/

/**
 * The custom id of an item's request asking for choices from `offset` on: the item id itself when it fits the
 * providers' pattern, a digest of it otherwise, so that a resumed run gives every request the id it had before.
 */
export const customIdOf = (itemId: string, offset: number): string => {
  const suffix = `-c${offset}`
  return plainId.test(itemId) && itemId.length + suffix.length <= 64
    ? `${itemId}${suffix}`
    : `h${sha256Sync(itemId)}${suffix}`
}

/** The ticket of the request that produced choice `choice`: the last one asking from an offset at or below it. */
export const ticketOf = (tickets: ReadonlyMap<number, Ticket>, choice: number): Ticket | undefined => {
  let found: Ticket | undefined
  let at = -1
  for (const [offset, ticket] of tickets) {
    if (offset <= choice && offset > at) {
      found = ticket
      at = offset
    }
  }
  return found
}

/** The item's generator: its first generation through `submitter`, the rest through `realtime`. */
export const itemGenerator = (
  realtime: Service,
  submitter: Submitter,
  itemId: string,
  fallback: Fallback,
  tickets: Map<number, Ticket>
): Service => {
  let first: unknown
  const isFirst = (key: unknown): boolean => {
    if (first === undefined) first = key
    return key === first
  }
  const batched = (
    entry: Omit<BatchEntry, "customId">,
    direct: Effect.Effect<Generation, GenerationError>
  ): Effect.Effect<Generation, GenerationError> =>
    Effect.flatMap(ChoiceOffset, (offset) => {
      const customId = customIdOf(itemId, offset)
      return submitted(entry, direct, offset, customId).pipe(
        traced(instrumentsOf(realtime.identifier, realtime.endpoint), entry.request, customId)
      )
    })
  const submitted = (
    entry: Omit<BatchEntry, "customId">,
    direct: Effect.Effect<Generation, GenerationError>,
    offset: number,
    customId: string
  ): Effect.Effect<Generation, GenerationError> =>
    Effect.gen(function*() {
      const viaRealtime = (batchId: string, unanswered: string) => {
        tickets.set(offset, { batchId, customId, via: "realtime", unanswered })
        return Effect.map(direct, (generation) => withAttempts(generation, (generation.attempts ?? 1) + 1))
      }
      for (let round = 0;; round++) {
        const { batchId, outcome } = yield* submitter.submit({ ...entry, customId } as BatchEntry)
        yield* Effect.annotateCurrentSpan(Attribute.batchId, batchId)
        if (outcome._tag === "Answered") {
          tickets.set(offset, { batchId, customId, via: "provider-batch" })
          return withAttempts(outcome.generation, round + 1)
        }
        const error = outcome._tag === "Failed"
          ? outcome.error
          : new BatchUnfinished({ provider: realtime.identifier.provider, detail: "", reason: outcome.reason, batchId })
        tickets.set(offset, { batchId, customId, via: "provider-batch", unanswered: error._tag })
        // Invalid requests are the row's error: sending them again would be refused again.
        if (!isRetryable(error) || fallback === "none") return yield* error
        if (fallback === "realtime") return yield* viaRealtime(batchId, error.message)
        if (round >= 1) return yield* error
      }
    })
  return {
    identifier: realtime.identifier,
    ...(realtime.capabilities === undefined ? {} : { capabilities: realtime.capabilities }),
    generate: (request: ChatRequest) =>
      isFirst(request.messages)
        ? batched({ kind: "chat", request }, realtime.generate(request))
        : realtime.generate(request),
    ...(realtime.complete === undefined ? {} : {
      complete: (request: CompletionRequest) =>
        isFirst(request.prompt)
          ? batched({ kind: "completion", request }, realtime.complete!(request))
          : realtime.complete!(request)
    }),
    ...(realtime.stream === undefined ? {} : { stream: realtime.stream })
  }
}
