/**
 * One SDK request as an Effect: interruptible (the fiber's AbortSignal aborts the HTTP request), bounded by the
 * request timeout, its failure mapped to a typed error, its answer decoded and its rate-limit headers read.
 *
 * @internal
 */
import {
  type GenerateParams,
  type Generation,
  type GenerationError,
  type Generator,
  type Identifier,
  type MalformedResponse,
  Secrets
} from "@capstan/core"
import { Clock, Effect, Redacted, type Scope } from "effect"
import * as HttpTransport from "../HttpTransport.js"
import { type Failure, type HeadersLike, messageOf, toGenerationError } from "./failure.js"
import { snapshotOf } from "./rateLimitHeaders.js"

/**
 * Seconds a request may take when `params.timeout` is unset. Longer than a typical answer, shorter than the
 * SDKs' 10 minutes, so a hung connection frees its slot; reasoning models may need `timeout=` raised.
 */
const defaultTimeoutSeconds = 120

/** The request timeout of a call, in milliseconds. */
export const timeoutMs = (params: GenerateParams.GenerateParams): number =>
  Math.max(1, Math.round((params.timeout ?? defaultTimeoutSeconds) * 1000))

/** A parsed SDK answer with its raw response, as `APIPromise.withResponse()` gives it. */
export interface Answer {
  readonly data: unknown
  readonly response: { readonly headers: HeadersLike }
}

/** The per-request options every SDK method is sent with: the fiber's signal, the timeout, no SDK retries. */
export interface RequestOptions {
  readonly signal: AbortSignal
  readonly timeout: number
  readonly maxRetries: 0
}

/** An SDK imported on first use, and the classifier of what its calls throw. */
export interface LazySdk<S> {
  readonly load: () => Promise<S>
  readonly classify: (error: unknown) => Failure
}

/**
 * An SDK imported on its first request, not when `@capstan/providers` is: a process that uses one provider (or
 * only the offline one) never loads the other SDK, about 100 ms and 15–35 MB each. `classify` reads the SDK's
 * error classes once it is loaded; before that, nothing the SDK threw can reach it, and a failed import is
 * `Rejected` (a broken install does not get better by retrying).
 */
export const lazySdk = <S>(load: () => Promise<S>, classifier: (sdk: S) => (error: unknown) => Failure): LazySdk<S> => {
  let loading: Promise<S> | undefined
  let classifyLoaded: ((error: unknown) => Failure) | undefined
  return {
    load: () => (loading ??= load().then((sdk) => {
      classifyLoaded = classifier(sdk)
      return sdk
    })),
    classify: (error) =>
      classifyLoaded === undefined ? { _tag: "Rejected", message: messageOf(error) } : classifyLoaded(error)
  }
}

/**
 * One generator's SDK client, made once on its first request (plain or streamed) from the loaded SDK, with what its
 * failures become: typed errors naming the provider, which never show the key or the base URL's credentials.
 */
export interface Connection<S, C> {
  readonly sdk: LazySdk<S>
  readonly client: () => Promise<C>
  /** A failure of a request that had `timeout` ms, as a typed error (the time decides whether a reset was a hang). */
  readonly fail: (failure: Failure, timeout: number) => Effect.Effect<never, GenerationError>
}

/** The connection of one generator: see {@link Connection}. */
export const connect = <S, C>(
  sdk: LazySdk<S>,
  options: {
    readonly provider: string
    /** The key and the base URL: neither the key nor the URL's credentials may appear in an error. */
    readonly apiKey: Redacted.Redacted<string>
    readonly baseURL: string
    readonly client: (sdk: S) => C
  }
): Connection<S, C> => {
  let client: Promise<C> | undefined
  // The SDKs' messages may quote the URL they called.
  const secrets = [Redacted.value(options.apiKey), ...Secrets.credentialsOf(options.baseURL)]
  return {
    sdk,
    client: () => (client ??= sdk.load().then(options.client)),
    fail: (failure, timeout) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          Effect.fail(toGenerationError(failure, { provider: options.provider, secrets, timeoutMs: timeout, now }))
      )
  }
}

/**
 * How one generator sends its requests, through its connection's client. The returned `send` succeeds with the
 * decoded answer and the rate-limit snapshot of the response headers.
 */
export const sender = <S, C>(connection: Connection<S, C>) =>
<W>(
  params: GenerateParams.GenerateParams,
  request: (client: C, options: RequestOptions) => Promise<Answer>,
  decode: (data: unknown) => Effect.Effect<W, MalformedResponse>
): Effect.Effect<
  { readonly wire: W; readonly rateLimit: Generation.RateLimitSnapshot | undefined },
  GenerationError
> => {
  const timeout = timeoutMs(params)
  return Effect.tryPromise({
    try: (signal) => connection.client().then((loaded) => request(loaded, { signal, timeout, maxRetries: 0 })),
    catch: connection.sdk.classify
  }).pipe(
    Effect.matchEffect({
      onFailure: (failure) => connection.fail(failure, timeout),
      onSuccess: ({ data, response }) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.map(decode(data), (wire) => ({
            wire,
            rateLimit: snapshotOf(response.headers, now)
          })))
    })
  )
}

/**
 * A provider's `makeGenerator`: the generator `build` makes over the `fetch` of the options, else of the
 * `HttpTransport` in context, else of a transport made for the current scope.
 */
export const overTransport = <O extends { readonly fetch?: HttpTransport.Fetch | undefined }>(
  build: (identifier: Identifier.Identifier, options: O, fetch: HttpTransport.Fetch) => Generator.Service
) =>
(identifier: Identifier.Identifier, options: O): Effect.Effect<Generator.Service, never, Scope.Scope> =>
  Effect.map(HttpTransport.current(options.fetch), (fetch) => build(identifier, options, fetch))
