/**
 * The batch engine: every request of a generator runs under the rate limiter of its provider account and model,
 * inside the one retry layer, and reports how many requests it took.
 *
 * The engine is a service. Its Layer owns the limiters and retry budgets, one per provider account and model, held
 * while any generator uses them (and a minute after) and released with the Layer's scope: a provider enforces its limits per account
 * and model, so every generator for the same one in an application shares one limiter, and nothing outlives the
 * application (tests, runtimes and tenants each get their own). `Generator.layer` applies it to the generator it
 * builds, using the `Engine` in context or, without one, {@link layer} (built once per application's layers);
 * `Generator.withEngine` applies it to a generator built any other way (a mock).
 *
 * @since 0.2.0
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Option, RcMap, Redacted, Stream } from "effect"
import { identity } from "effect/Function"
import type * as Scope from "effect/Scope"
import type { ChatRequest, CompletionRequest, Generation, PackedCompletionRequest, StreamPart } from "./Generation.js"
import type { GenerationError } from "./GenerationError.js"
import * as Identifier from "./Identifier.js"
import { mapService, type Service, withAttempts } from "./internal/generator.js"
import * as Telemetry from "./internal/telemetry.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * How the engine runs a generator's requests. Each field overrides the identifier's setting of the same meaning
 * (`rpm`, `tpm`, `max_connections`, `min_delay_ms`, `max_retries`); unset limits are not enforced until the
 * provider reports them.
 *
 * @example
 * ```ts
 * import { Engine, Generator, RetryPolicy } from "@capstan/core"
 *
 * const options: Engine.Options = {
 *   rpm: 500,
 *   maxConnections: 32,
 *   retry: new RetryPolicy.RetryPolicy({ baseDelayMs: 200 })
 * }
 * const layer = Generator.layer("mock!echo", options)
 * ```
 * @since 0.2.0
 */
export interface Options {
  /** Requests per minute. */
  readonly rpm?: number | undefined
  /** Tokens (prompt + output) per minute. */
  readonly tpm?: number | undefined
  /** Requests in flight at once. */
  readonly maxConnections?: number | undefined
  /** Minimum delay between two request starts, in milliseconds. */
  readonly minDelayMs?: number | undefined
  /** Seconds of each limit that may be spent at once (default 1, as providers enforce). */
  readonly burstSeconds?: number | undefined
  /** Retries of a retryable failure, at most (overrides `retry.maxRetries`). */
  readonly maxRetries?: number | undefined
  /** The retry policy (default `RetryPolicy.defaultPolicy`). */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** A limiter to use instead of the one the engine holds for the generator's account and model. */
  readonly limiter?: RateLimiter.RateLimiter | undefined
  /** `false` gives this generator a limiter and budget of its own instead of its account and model's. */
  readonly share?: boolean | undefined
  /** Called before each retry. */
  readonly onRetry?: ((event: RetryPolicy.RetryEvent<GenerationError>) => Effect.Effect<void>) | undefined
  /**
   * A gate every request passes just before it is sent, under the rate limiter and inside the retries (so it
   * sees each real request, retries included), e.g. to hold back new requests after Ctrl-C.
   */
  readonly admit?: (<A, E>(request: Effect.Effect<A, E>) => Effect.Effect<A, E>) | undefined
}

/** What the engine holds for one provider account and model. */
interface Lane {
  limiter: RateLimiter.RateLimiter | undefined
  budget: RetryPolicy.BudgetBucket | undefined
}

/**
 * The engine in context: the limiters and retry budgets of an application, by provider account and model.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Engine, Generator } from "@capstan/core"
 *
 * // Two generators for the same model share one limiter: the engine they are built with holds it.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const a = yield* Generator.make("mock!echo,rpm=60")
 *   const b = yield* Generator.make("mock!echo,rpm=60")
 *   return [a.identifier, b.identifier]
 * })).pipe(Effect.provide(Engine.layer))
 * ```
 * @since 0.2.0
 */
export class Engine extends Context.Service<Engine, {
  /** The lane of one provider account and model, held for the life of the current scope. */
  readonly lane: (key: string) => Effect.Effect<Lane, never, Scope.Scope>
}>()("@capstan/core/Engine") {}

/**
 * The engine of one application: a lane per provider account and model, shared while held and released when the
 * last holder's scope closes; everything is released when the Layer's scope closes.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Engine, Generator } from "@capstan/core"
 *
 * const generators = Layer.mergeAll(Generator.layer("mock!echo"), Generator.layer("mock!demo")).pipe(
 *   Layer.provide(Engine.layer)
 * )
 * ```
 * @since 0.2.0
 */
export const layer: Layer.Layer<Engine> = Layer.effect(
  Engine,
  Effect.map(
    RcMap.make({
      lookup: (_key: string) => Effect.sync((): Lane => ({ limiter: undefined, budget: undefined })),
      // A program that builds a generator per request (`Effect.provide(Generator.layer(...))` in a loop) must still
      // meet the limiter of the one before: a lane outlives its last holder by a minute, the span of the limits it
      // keeps, and never the engine.
      idleTimeToLive: Duration.minutes(1)
    }),
    (lanes) => Engine.of({ lane: (key) => RcMap.get(lanes, key) })
  )
)

/**
 * An engine of its own wherever it is provided, never shared with the application's (e.g. one per test).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Engine, Generator } from "@capstan/core"
 *
 * const test = Generator.chat("Hi").pipe(Effect.provide(Generator.layer("mock!echo")), Effect.provide(Engine.layerIsolated))
 * ```
 * @since 0.2.0
 */
export const layerIsolated: Layer.Layer<Engine> = Layer.fresh(layer)

/** FNV-1a: enough to tell two secrets apart in a key without keeping the secret in it. */
const fingerprint = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16)
}

/**
 * The account and model an identifier names: provider, model and every setting that may select another account or
 * endpoint (not the engine's own). Secrets are fingerprinted, never kept.
 *
 * @example
 * ```ts
 * import { Engine, Identifier } from "@capstan/core"
 *
 * Engine.laneKey(Identifier.make({ provider: "mock", model: "echo", settings: { rpm: 60 } })) // "mock!echo"
 * ```
 * @since 0.2.0
 */
export const laneKey = (identifier: Identifier.Identifier): string => {
  const settings = Object.entries(identifier.settings)
    .filter(([key]) => !(key in Identifier.engineSettings))
    .map(([key, value]) =>
      `${key}=${Redacted.isRedacted(value) ? `#${fingerprint(Redacted.value(value))}` : String(value)}`
    )
    .sort()
  return [`${identifier.provider}!${identifier.model}`, ...settings].join(",")
}

/** The limits of an engine: the identifier's settings, overridden by the options. */
const limitsOf = (identifier: Identifier.Identifier, options: Options): RateLimiter.Limits =>
  RateLimiter.mergeLimits(RateLimiter.limitsFromIdentifier(identifier), {
    ...(options.rpm === undefined ? {} : { rpm: options.rpm }),
    ...(options.tpm === undefined ? {} : { tpm: options.tpm }),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.minDelayMs === undefined ? {} : { minDelayMs: options.minDelayMs }),
    ...(options.burstSeconds === undefined ? {} : { burstSeconds: options.burstSeconds })
  })

/** The retry policy: the options' policy (or the default), the identifier's `max_retries`, then the options' `maxRetries`. */
const policyOf = (identifier: Identifier.Identifier, options: Options): RetryPolicy.RetryPolicy => {
  const policy = RetryPolicy.fromIdentifier(identifier, options.retry ?? RetryPolicy.defaultPolicy)
  return options.maxRetries === undefined ? policy : RetryPolicy.withFields(policy, { maxRetries: options.maxRetries })
}

/** The limiter and budget of a generator: its account and model's lane (made once, then made stricter), or its own. */
const holdLane = (
  identifier: Identifier.Identifier,
  limits: RateLimiter.Limits,
  policy: RetryPolicy.RetryPolicy,
  options: Options
): Effect.Effect<
  { readonly limiter: RateLimiter.RateLimiter; readonly budget: RetryPolicy.BudgetBucket | undefined },
  never,
  Engine | Scope.Scope
> =>
  Effect.gen(function*() {
    const budgetOf = () => (policy.budget === null ? undefined : RetryPolicy.makeBudgetUnsafe(policy.budget))
    if (options.limiter !== undefined || options.share === false) {
      return { limiter: options.limiter ?? (yield* RateLimiter.make(limits)), budget: budgetOf() }
    }
    const engine = yield* Engine
    const lane = yield* engine.lane(laneKey(identifier))
    const now = yield* Clock.currentTimeMillis
    // One synchronous step: two generators built at once must find the same limiter.
    const fresh = lane.limiter === undefined
    lane.limiter ??= RateLimiter.makeUnsafe(limits, now)
    if (policy.budget !== null) lane.budget ??= budgetOf()
    if (!fresh) yield* lane.limiter.restrict(limits)
    return { limiter: lane.limiter, budget: lane.budget }
  })

/** Only a retried generation is rebuilt: building a Schema class costs more than the rest of the engine's work. */

/** The final error of a retried request, recording how many requests were sent. */
const failedAfter = (error: GenerationError, attempts: number): GenerationError =>
  attempts === 1 ? error : new (error.constructor as new(fields: object) => GenerationError)({ ...error, attempts })

/**
 * Wraps a generator in the engine: its requests run under the limiter of its account and model (see {@link layer})
 * and inside the one retry layer, and every generation and final error says how many requests it took
 * (`attempts`). A packed completion request (`completeMany`) is one request: it reserves its prompts' estimates
 * together and is retried whole. A stream holds its place in the limiter until it ends and settles with the usage
 * it reports; it is not retried.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Engine } from "@capstan/core"
 * import type { Generator } from "@capstan/core"
 *
 * declare const raw: Generator.Service
 * const program = Effect.scoped(Engine.apply(raw, { rpm: 60, maxRetries: 2 })).pipe(Effect.provide(Engine.layer))
 * ```
 * @since 0.2.0
 */
export const apply = (service: Service, options: Options = {}): Effect.Effect<Service, never, Engine | Scope.Scope> =>
  Effect.gen(function*() {
    const identifier = service.identifier
    const limits = limitsOf(identifier, options)
    const policy = policyOf(identifier, options)
    const { budget, limiter } = yield* holdLane(identifier, limits, policy, options)
    const instruments = Telemetry.instrumentsOf(identifier, service.endpoint)
    const onRetry = options.onRetry
    const retry = RetryPolicy.retry<GenerationError>(policy, {
      budget: policy.budget === null ? undefined : budget,
      onRetry: (event) =>
        onRetry === undefined
          ? Telemetry.retried(instruments, event.error)
          : Effect.andThen(Telemetry.retried(instruments, event.error), onRetry(event))
    })
    const admit = options.admit ?? identity
    const run = <Request>(estimate: (request: Request) => number) =>
    (
      send: (request: Request) => Effect.Effect<Generation, GenerationError>
    ) =>
    (request: Request): Effect.Effect<Generation, GenerationError> =>
      Effect.withFiber((fiber) => {
        let attempts = 0
        const tokens = estimate(request)
        const attempt = Clock.clockWith((clock) => {
          attempts++
          const queuedAt = clock.currentTimeMillisUnsafe()
          return RateLimiter.limit(
            Telemetry.admitted(instruments, clock, queuedAt, admit(send(request))),
            limiter,
            tokens
          )
        })
        const any = request as ChatRequest | CompletionRequest | PackedCompletionRequest
        // With spans, the span records the request; without, its metrics are recorded by the steps every request
        // takes anyway, so a request nobody traces pays for no wrapper.
        if (Telemetry.makesSpans(fiber)) {
          return retry(attempt).pipe(
            Effect.map((generation) => withAttempts(generation, attempts)),
            Effect.mapError((error) => failedAfter(error, attempts)),
            Telemetry.traced(instruments, any)
          )
        }
        const metrics = Telemetry.measured(instruments, any, fiber)
        return retry(attempt).pipe(
          Effect.map((generation) => {
            const counted = withAttempts(generation, attempts)
            metrics.succeeded(counted)
            return counted
          }),
          Effect.mapError((error) => {
            const counted = failedAfter(error, attempts)
            metrics.failed(counted)
            return counted
          })
        )
      })
    const stream =
      (send: NonNullable<Service["stream"]>) => (request: ChatRequest): Stream.Stream<StreamPart, GenerationError> =>
        Stream.unwrap(Effect.gen(function*() {
          const permit = yield* limiter.acquire(limiter.estimate(request))
          return send(request).pipe(
            // Settled with the usage, and taught by the rate-limit headers, as a generated answer is.
            Stream.tap((part) => {
              if (part._tag !== "Done") return Effect.void
              const { choices, rateLimit, usage } = part.generation
              const settled = limiter.settle(permit, usage, choices.length)
              return rateLimit === undefined ? settled : Effect.andThen(settled, limiter.observe(permit, rateLimit))
            }),
            Stream.onExit((exit) =>
              Exit.isFailure(exit)
                ? Option.match(Cause.findErrorOption(exit.cause), {
                  onNone: () => Effect.void,
                  onSome: (error) => limiter.observe(permit, error)
                })
                : Effect.void
            )
          )
        })).pipe(Stream.scoped, Telemetry.tracedStream(instruments, request))
    // A packed request is one request: one turn of the limiter, one retry loop, its prompts' estimates together.
    const packed = (request: PackedCompletionRequest) =>
      request.prompts.reduce((sum, prompt) => sum + limiter.estimate({ prompt, params: request.params }), 0)
    return mapService(service, {
      generate: run<ChatRequest>(limiter.estimate),
      complete: run<CompletionRequest>(limiter.estimate),
      completeMany: run(packed),
      stream
    })
  })

/**
 * {@link apply} with the engine in context, or, without one, an engine of the current scope's own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Engine } from "@capstan/core"
 * import type { Generator } from "@capstan/core"
 *
 * declare const raw: Generator.Service
 * const program = Effect.scoped(Engine.applyDefault(raw, { maxRetries: 2 }))
 * ```
 * @since 0.2.0
 */
export const applyDefault = (service: Service, options?: Options): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(Engine), (engine) =>
    Option.isSome(engine)
      ? Effect.provideService(apply(service, options), Engine, engine.value)
      : Effect.flatMap(Layer.build(layer), (context) => Effect.provideContext(apply(service, options), context)))

/**
 * A Layer that needs the engine, given the engine in context or, without one, {@link layer}: built with the other
 * layers of the application, so that every generator of the application shares it.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Engine, Generator } from "@capstan/core"
 *
 * declare const needsEngine: Layer.Layer<Generator.Generator, never, Engine.Engine>
 * const ready: Layer.Layer<Generator.Generator> = Engine.provideDefault(needsEngine)
 * ```
 * @since 0.2.0
 */
export const provideDefault = <A, E, R>(self: Layer.Layer<A, E, R>): Layer.Layer<A, E, Exclude<R, Engine>> =>
  Layer.unwrap(Effect.map(
    Effect.serviceOption(Engine),
    (engine) =>
      (Option.isSome(engine) ? self : self.pipe(Layer.provide(layer))) as Layer.Layer<A, E, Exclude<R, Engine>>
  ))
