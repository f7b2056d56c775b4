/**
 * One SDK request as an Effect: interruptible (the fiber's AbortSignal aborts the HTTP request), bounded by the
 * request timeout, its failure mapped to a typed error and its rate-limit headers read on success.
 *
 * @internal
 */
import { type GenerateParams, Generation, type GenerationError } from "@capstan/core"
import { Clock, Effect } from "effect"
import { type Failure, type HeadersLike, messageOf, toGenerationError } from "./failure.js"

/**
 * Seconds a request may take when `params.timeout` is unset. Longer than a typical answer, shorter than the
 * SDKs' 10 minutes, so a hung connection frees its slot; reasoning models may need `timeout=` raised.
 */
export const defaultTimeoutSeconds = 120

/** The request timeout of a call, in milliseconds. */
export const timeoutMs = (params: GenerateParams.GenerateParams): number =>
  Math.max(1, Math.round((params.timeout ?? defaultTimeoutSeconds) * 1000))

/** A parsed SDK answer with its raw response, as `APIPromise.withResponse()` gives it. */
export interface Answer<A> {
  readonly data: A
  readonly response: { readonly headers: HeadersLike }
}

/** How to send one request and how to read its failures. */
export interface Call<A> {
  readonly provider: string
  readonly secrets: ReadonlyArray<string>
  readonly timeoutMs: number
  readonly classify: (error: unknown) => Failure
  readonly send: (signal: AbortSignal) => Promise<Answer<A>>
}

/**
 * Sends the request. Succeeds with the SDK's parsed data and the rate-limit snapshot of the response headers.
 */
export const send = <A>(
  call: Call<A>
): Effect.Effect<{ readonly data: A; readonly rateLimit: Generation.RateLimitSnapshot | undefined }, GenerationError> =>
  Effect.tryPromise({ try: (signal) => call.send(signal), catch: (error) => error }).pipe(
    Effect.matchEffect({
      onFailure: (error) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.fail(toGenerationError(call.classify(error), {
            provider: call.provider,
            secrets: call.secrets,
            timeoutMs: call.timeoutMs,
            now
          }))),
      onSuccess: ({ data, response }) =>
        Effect.map(Clock.currentTimeMillis, (now) => ({
          data,
          rateLimit: Generation.RateLimitSnapshot.fromHeaders(response.headers, now)
        }))
    })
  )

/**
 * An SDK imported on its first request, not when `@capstan/providers` is: a process that uses one provider (or
 * only the offline one) never loads the other SDK, about 100 ms and 15–35 MB each. `classify` reads the SDK's
 * error classes once it is loaded; before that, nothing the SDK threw can reach it, and a failed import is
 * `Rejected` (a broken install does not get better by retrying).
 */
export const lazySdk = <S>(load: () => Promise<S>, classifier: (sdk: S) => (error: unknown) => Failure) => {
  let loading: Promise<S> | undefined
  let classifyLoaded: ((error: unknown) => Failure) | undefined
  return {
    load: (): Promise<S> =>
      (loading ??= load().then((sdk) => {
        classifyLoaded = classifier(sdk)
        return sdk
      })),
    classify: (error: unknown): Failure =>
      classifyLoaded === undefined ? { _tag: "Rejected", message: messageOf(error) } : classifyLoaded(error)
  }
}

/** A client made once, on first use, from the loaded SDK. */
export const lazyClient = <S, C>(load: () => Promise<S>, make: (sdk: S) => C): () => Promise<C> => {
  let client: Promise<C> | undefined
  return () => (client ??= load().then(make))
}
