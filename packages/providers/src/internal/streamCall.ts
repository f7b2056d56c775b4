/**
 * One streamed SDK request (`stream: true`) as a `Stream` of text deltas and, last, the whole generation. The
 * events the SDK parses from the server-sent events go through a provider's accumulator, which hands on the text
 * as it arrives and rebuilds the answer the non-streamed endpoint would have given, so the generation is made by
 * the same code as `generate`'s. Ending the stream early (interruption, `Stream.take`) aborts the HTTP request; the
 * request timeout bounds the wait for the answer's headers (the SDK's) and then for each next event.
 *
 * @internal
 */
import { ConnectionError, type GenerateParams, type Generation, type GenerationError } from "@capstan/core"
import { Cause, Clock, Effect, Queue, Result, Stream } from "effect"
import { type Connection, type RequestOptions, timeoutMs } from "./call.js"
import type { Failure, HeadersLike } from "./failure.js"
import { snapshotOf } from "./rateLimitHeaders.js"

type Delta = Extract<Generation.StreamPart, { readonly _tag: "Delta" }>

/**
 * Reads a provider's stream events, one stream at a time: `push` hands on the text each event adds (or fails on an
 * event it cannot read), `finish` the answer they add up to, or a failure when the stream ended before its end.
 */
export interface Accumulator<W> {
  readonly push: (event: unknown) => Result.Result<ReadonlyArray<Delta>, GenerationError>
  readonly finish: () => Result.Result<W, GenerationError>
}

/** A streamed SDK answer, as `APIPromise.withResponse()` gives it for `stream: true`. */
export interface StreamAnswer {
  readonly data: AsyncIterable<unknown>
  readonly response: { readonly headers: HeadersLike }
}

/** A failure the accumulator already typed, carried through the SDK's async iteration. */
class Typed extends Error {
  constructor(readonly error: GenerationError) {
    super(error.message)
  }
}

/**
 * The server closed a stream before its last event without a transport error (a proxy that ended the response, a
 * server that gave up): the answer is incomplete, and another request may get all of it.
 */
export const endedEarly = (provider: string, missing: string): ConnectionError =>
  new ConnectionError({ provider, detail: `the stream ended before ${missing}` })

/**
 * The deltas of every event, pushed as they are read: the SDK's iteration runs on its own, and each network read's
 * deltas reach the consumer together, rather than one Effect pull (and one promise) per event. The queue is
 * unbounded: an answer is small, and the SDK reads the body as it arrives anyway. Ends when the events end; fails
 * with what the SDK threw or the accumulator refused.
 */
const pushDeltas = <W>(
  events: AsyncIterable<unknown>,
  accumulator: Accumulator<W>,
  caught: (error: unknown) => Typed | Failure,
  idle: { readonly ms: number; readonly abort: () => void }
): Stream.Stream<Delta, Typed | Failure> =>
  Stream.callback<Delta, Typed | Failure>((queue) =>
    Effect.sync(() => {
      // A server that stops sending without closing the connection: the request timeout, between two events.
      const stalled = setTimeout(() => {
        Queue.failCauseUnsafe(queue, Cause.fail({ _tag: "Timeout" }))
        idle.abort()
      }, idle.ms)
      const read = async () => {
        for await (const event of events) {
          stalled.refresh()
          const pushed = accumulator.push(event)
          if (Result.isFailure(pushed)) throw new Typed(pushed.failure)
          if (pushed.success.length > 0) Queue.offerAllUnsafe(queue, pushed.success)
        }
      }
      read().then(
        () => Queue.endUnsafe(queue),
        (error: unknown) => Queue.failCauseUnsafe(queue, Cause.fail(caught(error)))
      ).finally(() => clearTimeout(stalled))
    })
  )

/**
 * How one generator streams, through its connection's client (the one its plain requests use). Failures of the
 * request, of reading the stream and of its events are typed generation errors.
 */
export const streamer = <S, C>(connection: Connection<S, C>) =>
<W>(
  params: GenerateParams.GenerateParams,
  request: (client: C, options: RequestOptions) => Promise<StreamAnswer>,
  accumulator: () => Accumulator<W>,
  toGeneration: (
    answer: { readonly wire: W; readonly rateLimit: Generation.RateLimitSnapshot | undefined }
  ) => Effect.Effect<Generation.Generation, GenerationError>
): Stream.Stream<Generation.StreamPart, GenerationError> => {
  const timeout = timeoutMs(params)
  // What the SDK or the accumulator threw, before it becomes a typed error (which needs the time).
  const caught = (error: unknown): Typed | Failure => error instanceof Typed ? error : connection.sdk.classify(error)
  const typed = (error: Typed | Failure): Effect.Effect<never, GenerationError> =>
    error instanceof Typed ? Effect.fail(error.error) : connection.fail(error, timeout)
  return Stream.unwrap(Effect.gen(function*() {
    // The request outlives the promise that sends it: the stream's scope, not the send, owns the abort.
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const answer = yield* Effect.tryPromise({
      try: (signal) => {
        signal.addEventListener("abort", () => controller.abort(), { once: true })
        return connection.client().then((loaded) =>
          request(loaded, { signal: controller.signal, timeout, maxRetries: 0 })
        )
      },
      catch: caught
    }).pipe(Effect.catch(typed))
    const rateLimit = snapshotOf(answer.response.headers, yield* Clock.currentTimeMillis)
    const events = accumulator()
    const done = Effect.suspend(() => {
      const finished = events.finish()
      return Result.isFailure(finished)
        ? Effect.fail(finished.failure)
        : Effect.map(
          toGeneration({ wire: finished.success, rateLimit }),
          (generation): Generation.StreamPart => ({ _tag: "Done", generation })
        )
    })
    return pushDeltas(answer.data, events, caught, { ms: timeout, abort: () => controller.abort() }).pipe(
      Stream.catch((error) => Stream.fromEffect(typed(error))),
      Stream.concat(Stream.fromEffect(done))
    )
  }))
}
