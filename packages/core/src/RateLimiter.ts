/**
 * The rate limiter of one generator: requests- and tokens-per-minute budgets, a minimum delay between
 * request starts and a cap on connections, learned from and corrected by what the provider reports.
 *
 * - Budgets are continuously refilling buckets holding `burstSeconds` (default 1) of the limit: providers
 *   enforce per-minute limits over about a second, so a minute-sized bucket would only buy a 429 storm.
 * - A request reserves its estimated tokens (`estimateTokens`: prompt characters / 4 plus `maxTokens`, or the
 *   typical output seen so far, per choice) before it starts; the reported usage settles the difference.
 * - Every response's rate-limit headers are learned from, as evidence rather than truth, since servers differ
 *   in what they mean. A reported limit is adopted: it is the one header that names the limit (a lower one
 *   lowers a configured limit, a higher one never raises it). `remaining` and `reset` only ever lower the
 *   local level, and only as far as every meaning still possible allows: `remaining` is read per minute
 *   (`limit − deficit`) or as the bucket's level according to which scale it is consistent with; the view is
 *   read as taken when the request was admitted (discounting the requests sent since) or when the answer left,
 *   as the reports tell, and the higher reading is believed until they do; `reset` counts down to a full
 *   bucket or to the next unit, likewise. A limit learned after requests went out starts from what they left.
 * - A 429 is the hard evidence: it closes one gate for every request to the generator until the server's
 *   retry-after has passed, and empties the bucket that refused as of that request (every bucket, unless the
 *   headers name it), so requests resume paced instead of stampeding. Without any known request limit, the
 *   first 429 infers one from the requests the server accepted in the last second, raised by a tenth of a
 *   request per minute per success from then on (about 10 % a minute at any rate), until the server reports
 *   its limit.
 * - Waiting is first come, first served, uses the Effect `Clock` (so `TestClock` drives it) and holds nothing:
 *   an interrupted waiter leaves the limiter as if it had never asked.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, Option, Schema, Semaphore } from "effect"
import { dual } from "effect/Function"
import type * as Scope from "effect/Scope"
import type { GenerationError, RateLimited } from "./Errors.js"
import type { ChatRequest, CompletionRequest, Generation, RateLimitSnapshot } from "./Generation.js"
import type * as Identifier from "./Identifier.js"
import { Bucket, type Mark, ResetTime, ViewTime, Window } from "./internal/limiter.js"
import { NonNegative, Positive, PositiveInt } from "./internal/numbers.js"
import type * as Usage from "./Usage.js"

/**
 * What a limiter enforces. Every field is optional: an unset limit is not enforced until the provider reports one.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@capstan/core"
 *
 * const limits = new RateLimiter.Limits({ rpm: 500, tpm: 200_000, maxConnections: 32 })
 * limits.rpm // 500
 * ```
 * @since 0.1.0
 */
export class Limits extends Schema.Class<Limits>("@capstan/core/RateLimiter/Limits")({
  /** Requests per minute. */
  rpm: Schema.optionalKey(Positive),
  /** Tokens (prompt + output) per minute. */
  tpm: Schema.optionalKey(Positive),
  /** Requests in flight at once. */
  maxConnections: Schema.optionalKey(PositiveInt),
  /** Minimum delay between two request starts, in milliseconds. */
  minDelayMs: Schema.optionalKey(NonNegative),
  /** How many seconds of each limit may be spent at once. Default 1. */
  burstSeconds: Schema.optionalKey(Positive),
  /** Output tokens reserved per choice for a request without `maxTokens`, until usage has been seen. Default 256. */
  defaultMaxTokens: Schema.optionalKey(PositiveInt)
}) {}

/**
 * Limits with nothing set: nothing is enforced until the provider reports its limits.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@capstan/core"
 *
 * RateLimiter.unlimited.rpm // undefined
 * ```
 * @since 0.1.0
 */
export const unlimited: Limits = new Limits({})

/**
 * The limits an identifier asks for: `rpm`, `tpm`, `max_connections`, `min_delay_ms`.
 *
 * @example
 * ```ts
 * import { Identifier, RateLimiter } from "@capstan/core"
 *
 * const id = Identifier.make({ provider: "mock", model: "echo", settings: { rpm: 60, max_connections: 4 } })
 * RateLimiter.limitsFromIdentifier(id).maxConnections // 4
 * ```
 * @since 0.1.0
 */
export const limitsFromIdentifier = (identifier: Identifier.Identifier): Limits => {
  const positive = (key: string): number | undefined => {
    const value = identifier.setting(key)
    return typeof value === "number" && value > 0 ? value : undefined
  }
  const minDelay = identifier.setting("min_delay_ms")
  return new Limits(definedFields({
    rpm: positive("rpm"),
    tpm: positive("tpm"),
    maxConnections: positive("max_connections"),
    minDelayMs: typeof minDelay === "number" && minDelay >= 0 ? minDelay : undefined
  }))
}

const definedFields = <A extends Record<string, unknown>>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

/**
 * Limits with the fields set in `override` replacing those of `base`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@capstan/core"
 *
 * const limits = RateLimiter.mergeLimits(new RateLimiter.Limits({ rpm: 60, tpm: 1000 }), { rpm: 30 })
 * limits.rpm // 30
 * limits.tpm // 1000
 * ```
 * @since 0.1.0
 */
export const mergeLimits: {
  (override: Limits | LimitsFields): (base: Limits) => Limits
  (base: Limits, override: Limits | LimitsFields): Limits
} = dual(
  2,
  (base: Limits, override: Limits | LimitsFields): Limits => new Limits({ ...base, ...definedFields({ ...override }) })
)

/**
 * The fields of {@link Limits}, as passed to its constructor.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@capstan/core"
 *
 * const fields: RateLimiter.LimitsFields = { rpm: 60, burstSeconds: 2 }
 * ```
 * @since 0.1.0
 */
export type LimitsFields = NonNullable<ConstructorParameters<typeof Limits>[0]>

/**
 * A request admitted by a limiter: what it reserved and where it stood, so its outcome can be settled and
 * learned from.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@capstan/core"
 *
 * const reserved = Effect.scoped(Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ tpm: 10_000 })
 *   const permit: RateLimiter.Permit = yield* limiter.acquire(500)
 *   return permit.tokens // 500
 * }))
 * ```
 * @since 0.1.0
 */
export interface Permit {
  /** Tokens reserved for the request. */
  readonly tokens: number
  readonly requestMark: Mark
  readonly tokenMark: Mark
}

/**
 * What a limiter currently enforces and holds, for progress displays and tests.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@capstan/core"
 *
 * const inFlight = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ maxConnections: 8 })
 *   const state: RateLimiter.State = yield* limiter.state
 *   return state.inFlight // 0
 * })
 * ```
 * @since 0.1.0
 */
export interface State {
  /** The effective requests-per-minute limit (configured, reported by the server, or inferred), if any. */
  readonly rpm: number | undefined
  /** The effective tokens-per-minute limit, if any. */
  readonly tpm: number | undefined
  readonly maxConnections: number | undefined
  /** Requests admitted and not yet finished. */
  readonly inFlight: number
  /** Requests waiting for their turn. */
  readonly waiting: number
  /** Clock time (ms) until which every request is held after a 429, if that is in the future. */
  readonly pausedUntil: number | undefined
  /** Requests and tokens that could start now: negative is debt, `Infinity` means no limit. */
  readonly requestsAvailable: number
  readonly tokensAvailable: number
}

/**
 * A generator's rate limiter. Use {@link limit} to run a request under it; `acquire`, `settle` and
 * `observe` are the pieces `limit` is made of, for callers that need them separately.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GenerateParams, Message, RateLimiter } from "@capstan/core"
 *
 * const reservation = Effect.map(RateLimiter.make({ tpm: 100_000 }), (limiter: RateLimiter.RateLimiter) =>
 *   limiter.estimate({ messages: [Message.user("Hi")], params: GenerateParams.make({ maxTokens: 100 }) })
 * ) // 101
 * ```
 * @since 0.1.0
 */
export interface RateLimiter {
  readonly limits: Limits
  /**
   * Waits until a request reserving `tokens` may start, takes a connection for the life of the scope and
   * reserves its budgets. Interrupting the wait takes nothing.
   */
  readonly acquire: (tokens: number) => Effect.Effect<Permit, never, Scope.Scope>
  /** Corrects a permit's token reservation with the usage the provider reported for `choices` choices. */
  readonly settle: (permit: Permit, usage: Usage.Usage, choices?: number) => Effect.Effect<void>
  /** Learns from a response's rate-limit snapshot, or from a failure (only `RateLimited` teaches anything). */
  readonly observe: (permit: Permit, outcome: RateLimitSnapshot | GenerationError) => Effect.Effect<void>
  /** Adopts whichever of these limits is stricter than the current ones (used when generators share a limiter). */
  readonly restrict: (limits: Limits) => Effect.Effect<void>
  /** Tokens a request is expected to use: its reservation. */
  readonly estimate: (request: ChatRequest | CompletionRequest) => number
  readonly state: Effect.Effect<State>
}

/**
 * A cheap token estimate of a request: prompt characters / 4, plus the output per choice (`maxTokens`, else
 * `outputTokens`) times the number of choices. This is how OpenAI reserves tokens at admission.
 *
 * @example
 * ```ts
 * import { GenerateParams, Message, RateLimiter } from "@capstan/core"
 *
 * RateLimiter.estimateTokens({ messages: [Message.user("12345678")], params: GenerateParams.make({ maxTokens: 10, n: 2 }) }, 256)
 * // 2 + 2 * 10 = 22
 * ```
 * @since 0.1.0
 */
export const estimateTokens = (request: ChatRequest | CompletionRequest, outputTokens: number): number => {
  let chars = 0
  if ("messages" in request) { for (const message of request.messages) chars += message.content.length }
  else chars = request.prompt.length
  return Math.ceil(chars / 4) + (request.params.n ?? 1) * (request.params.maxTokens ?? Math.ceil(outputTokens))
}

/** Milliseconds below which a wait is rounding noise. */
const epsilonMs = 0.001
/** The window in which accepted requests are counted to infer an unknown request limit. */
const inferenceWindowMs = 1000

class Limiter implements RateLimiter {
  readonly requests: Bucket
  readonly tokens: Bucket
  limits: Limits
  minDelayMs: number
  connections: Semaphore.Semaphore | undefined
  readonly turnstile = Semaphore.makeUnsafe(1)
  waiting = 0
  inFlight = 0
  lastStart = -Infinity
  pausedUntil = -Infinity
  /** Typical output tokens per choice, learned from usage; the reservation of a request without `maxTokens`. */
  outputTokens: number
  readonly accepted = new Window(inferenceWindowMs)
  /** When the server takes the view its headers report, as far as its reports tell (shared by both buckets: one view). */
  readonly viewTime = new ViewTime()
  /** What the server's `reset` counts down to, as far as its reports tell. */
  readonly resetTime = new ResetTime()

  constructor(limits: Limits, now: number) {
    this.limits = limits
    const burstMs = (limits.burstSeconds ?? 1) * 1000
    this.requests = new Bucket(limits.rpm, burstMs, now)
    this.tokens = new Bucket(limits.tpm, burstMs, now)
    this.minDelayMs = limits.minDelayMs ?? 0
    this.connections = limits.maxConnections === undefined ? undefined : Semaphore.makeUnsafe(limits.maxConnections)
    this.outputTokens = limits.defaultMaxTokens ?? 256
  }

  waitMs(tokens: number, now: number): number {
    return Math.max(
      this.pausedUntil - now,
      this.lastStart + this.minDelayMs - now,
      this.requests.waitMs(1, now),
      this.tokens.waitMs(tokens, now)
    )
  }

  admit(tokens: number, now: number): Permit {
    this.lastStart = now
    this.inFlight++
    return { tokens, requestMark: this.requests.take(1, now), tokenMark: this.tokens.take(tokens, now) }
  }

  /** The head of the queue: sleeps until its request may start, re-checking after each sleep (a 429 may have moved the gate). */
  turn(tokens: number): Effect.Effect<Permit> {
    return Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const wait = this.waitMs(tokens, now)
      return wait < epsilonMs
        ? Effect.succeed(this.admit(tokens, now))
        : Effect.flatMap(Effect.sleep(Duration.millis(wait)), () => this.turn(tokens))
    })
  }

  /**
   * Admits at once when nobody is waiting and nothing holds the request back; otherwise queues for a turn.
   * Runs in an uninterruptible region: only the wait is `restore`d, so an interrupted waiter has taken nothing
   * and an admitted request is always handed to the caller.
   */
  admission(
    tokens: number,
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<Permit> {
    return Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      if (this.waiting === 0 && this.waitMs(tokens, now) < epsilonMs) return Effect.succeed(this.admit(tokens, now))
      this.waiting++
      return restore(this.turnstile.withPermits(1)(this.turn(tokens))).pipe(
        Effect.ensuring(Effect.sync(() => {
          this.waiting--
        }))
      )
    })
  }

  readonly acquire = (tokens: number): Effect.Effect<Permit, never, Scope.Scope> =>
    Effect.uninterruptibleMask((restore) => {
      const admitted = Effect.tap(this.admission(tokens, restore), () =>
        Effect.addFinalizer(() =>
          Effect.sync(() => {
            this.inFlight--
          })
        ))
      const connections = this.connections
      return connections === undefined
        ? admitted
        : Effect.andThen(restore(Semaphore.takeScoped(connections, 1)), admitted)
    })

  /** `limit`, without a Scope: this runs once per request. */
  run<E, R>(tokens: number, self: Effect.Effect<Generation, E, R>): Effect.Effect<Generation, E, R> {
    const limited = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        this.admission(tokens, restore),
        (permit) =>
          Effect.onExit(restore(self), (exit) =>
            Clock.clockWith((clock) =>
              Effect.sync(() => {
                this.inFlight--
                this.finished(permit, exit, clock.currentTimeMillisUnsafe())
              })
            ))
      )
    )
    const connections = this.connections
    return connections === undefined ? limited : Semaphore.withPermits(connections, 1)(limited)
  }

  finished<E>(permit: Permit, exit: Exit.Exit<Generation, E>, now: number): void {
    if (Exit.isSuccess(exit)) {
      const generation = exit.value
      this.settled(permit, generation.usage, generation.choices.length, now)
      if (generation.rateLimit !== undefined) this.learn(permit, generation.rateLimit, now, false)
      return
    }
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isSome(error) && isRateLimited(error.value)) this.refused(permit, error.value, now)
  }

  readonly settle = (permit: Permit, usage: Usage.Usage, choices = 1): Effect.Effect<void> =>
    Clock.clockWith((clock) => Effect.sync(() => this.settled(permit, usage, choices, clock.currentTimeMillisUnsafe())))

  settled(permit: Permit, usage: Usage.Usage, choices: number, now: number): void {
    this.tokens.adjust(permit.tokens - (usage.inputTokens + usage.outputTokens), now)
    if (choices > 0 && usage.outputTokens > 0) {
      this.outputTokens = 0.9 * this.outputTokens + 0.1 * (usage.outputTokens / choices)
    }
    if (this.requests.inferred !== undefined && this.requests.reported === undefined) {
      this.requests.inferred += 0.1
      this.requests.update(now)
    } else if (!this.requests.limited) {
      this.accepted.push(now)
    }
  }

  readonly observe = (permit: Permit, outcome: RateLimitSnapshot | GenerationError): Effect.Effect<void> =>
    Clock.clockWith((clock) =>
      Effect.sync(() => {
        const now = clock.currentTimeMillisUnsafe()
        if (!("_tag" in outcome)) this.learn(permit, outcome, now, false)
        else if (isRateLimited(outcome)) this.refused(permit, outcome, now)
      })
    )

  /** The server's level in `bucket` as a report states it: by `remaining`, else by `reset`. */
  stated(
    bucket: Bucket,
    limit: number | undefined,
    remaining: number | undefined,
    resetMs: number | undefined
  ): number | undefined {
    return bucket.remainingLevel(limit, remaining) ?? bucket.resetLevel(resetMs, this.resetTime.meaning)
  }

  /**
   * Learns from a snapshot of the server's buckets: from an answer, or from a refusal (`refused`), whose view
   * is the one at admission. Runs on every answer that carries headers, so it allocates nothing.
   */
  learn(permit: Permit, snapshot: RateLimitSnapshot, now: number, refused: boolean): void {
    const { requests, tokens } = this
    const { requestsRemaining, requestsResetMs, tokensRemaining, tokensResetMs } = snapshot
    requests.adopt(snapshot.requestsLimit, now)
    tokens.adopt(snapshot.tokensLimit, now)
    const requestsStated = requests.remainingLevel(snapshot.requestsLimit, requestsRemaining)
    this.resetTime.observe(requests, requestsStated, requestsResetMs, refused)
    const requestsLevel = requestsStated ?? requests.resetLevel(requestsResetMs, this.resetTime.meaning)
    const tokensLevel = this.stated(tokens, snapshot.tokensLimit, tokensRemaining, tokensResetMs)
    if (!refused && requestsLevel !== undefined) this.viewTime.observe(requestsLevel, permit.requestMark, requests, now)
    const reading = refused ? "admission" : this.viewTime.reading
    if (requestsLevel !== undefined) requests.align(requestsLevel, permit.requestMark, now, reading)
    if (tokensLevel !== undefined) tokens.align(tokensLevel, permit.tokenMark, now, reading)
    // With no limit to pace by, "nothing remaining" can only be answered by waiting for the reset.
    if (!requests.limited && requestsRemaining === 0 && requestsResetMs !== undefined) {
      this.pausedUntil = Math.max(this.pausedUntil, now + requestsResetMs)
    }
    if (!tokens.limited && tokensRemaining === 0 && tokensResetMs !== undefined) {
      this.pausedUntil = Math.max(this.pausedUntil, now + tokensResetMs)
    }
  }

  refused(permit: Permit, error: RateLimited, now: number): void {
    const { requests, tokens } = this
    const snapshot = error.rateLimit
    if (snapshot !== undefined) this.learn(permit, snapshot, now, true)
    if (!requests.limited) {
      // Nothing to pace by: what the server accepted in the last second is the best guess of its rate. It is
      // made once: a 429 without headers may also be a fault unrelated to pace, and cutting the rate on each
      // of those would starve the generator. Later 429s still close the gate and empty the buckets.
      requests.inferred = Math.max(1, this.accepted.count(now)) * (60_000 / inferenceWindowMs)
      requests.update(now)
    }
    // The refusal is the hard evidence: the bucket that refused was empty. If the headers do not show one
    // short of this request, it is one they do not state; if they state them all, they are wrong about one
    // (a reset read the wrong way, say), and every bucket is taken for empty.
    const requestsLevel = snapshot === undefined
      ? undefined
      : this.stated(requests, snapshot.requestsLimit, snapshot.requestsRemaining, snapshot.requestsResetMs)
    const tokensLevel = snapshot === undefined
      ? undefined
      : this.stated(tokens, snapshot.tokensLimit, snapshot.tokensRemaining, snapshot.tokensResetMs)
    const shown = (requestsLevel !== undefined && requestsLevel < requests.unit) ||
      (tokensLevel !== undefined && tokensLevel < Math.min(permit.tokens, tokens.capacity))
    if (!shown) {
      const contradicted = (requestsLevel !== undefined || !requests.limited) &&
        (tokensLevel !== undefined || !tokens.limited)
      if (contradicted || requestsLevel === undefined) requests.align(0, permit.requestMark, now, "admission")
      if (contradicted || tokensLevel === undefined) tokens.align(0, permit.tokenMark, now, "admission")
    }
    // Without a retry-after, the emptied buckets alone pace the restart.
    const retryAfter = error.retryAfterMs ?? snapshot?.retryAfterMs ?? 0
    this.pausedUntil = Math.max(this.pausedUntil, now + retryAfter)
  }

  readonly restrict = (limits: Limits): Effect.Effect<void> =>
    Clock.clockWith((clock) =>
      Effect.suspend(() => {
        const now = clock.currentTimeMillisUnsafe()
        const stricter = (a: number | undefined, b: number | undefined) =>
          a === undefined ? b : b === undefined ? a : Math.min(a, b)
        this.limits = new Limits(definedFields({
          ...this.limits,
          rpm: stricter(this.limits.rpm, limits.rpm),
          tpm: stricter(this.limits.tpm, limits.tpm),
          maxConnections: stricter(this.limits.maxConnections, limits.maxConnections),
          minDelayMs: Math.max(this.limits.minDelayMs ?? 0, limits.minDelayMs ?? 0) || undefined
        }))
        this.requests.configured = this.limits.rpm
        this.requests.update(now)
        this.tokens.configured = this.limits.tpm
        this.tokens.update(now)
        this.minDelayMs = this.limits.minDelayMs ?? 0
        const max = this.limits.maxConnections
        if (max === undefined) return Effect.void
        if (this.connections === undefined) {
          // Requests already in flight hold no permit of a new semaphore: the cap applies to those that follow.
          this.connections = Semaphore.makeUnsafe(max)
          return Effect.void
        }
        return Semaphore.resize(this.connections, max)
      })
    )

  readonly estimate = (request: ChatRequest | CompletionRequest): number => estimateTokens(request, this.outputTokens)

  readonly state: Effect.Effect<State> = Clock.clockWith((clock) =>
    Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      this.requests.refill(now)
      this.tokens.refill(now)
      return {
        rpm: this.requests.perMinute,
        tpm: this.tokens.perMinute,
        maxConnections: this.limits.maxConnections,
        inFlight: this.inFlight,
        waiting: this.waiting,
        pausedUntil: this.pausedUntil > now ? this.pausedUntil : undefined,
        requestsAvailable: this.requests.level,
        tokensAvailable: this.tokens.level
      }
    })
  )
}

/**
 * Makes a rate limiter. Share one limiter between everything that sends to the same provider account and model.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ rpm: 600, maxConnections: 16 })
 *   return (yield* limiter.state).rpm // 600
 * })
 * ```
 * @since 0.1.0
 */
export const make = (limits: Limits | LimitsFields = unlimited): Effect.Effect<RateLimiter> =>
  Clock.clockWith((clock) => Effect.sync(() => makeUnsafe(limits, clock.currentTimeMillisUnsafe())))

/**
 * Makes a rate limiter outside of Effect, its buckets full as of `now` (Clock milliseconds).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@capstan/core"
 *
 * const limiter = RateLimiter.makeUnsafe({ rpm: 600 }, Date.now())
 * ```
 * @since 0.1.0
 */
export const makeUnsafe = (limits: Limits | LimitsFields, now: number): RateLimiter =>
  new Limiter(limits instanceof Limits ? limits : new Limits(limits), now)

/**
 * Runs one request under a limiter: waits for its turn and a connection, reserves `tokens` (usually
 * `limiter.estimate(request)`), then settles the reservation with the reported usage and learns from the
 * response's rate-limit snapshot or from a `RateLimited` failure. The connection is released however the
 * request ends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GenerateParams, Generator, Message, RateLimiter } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ rpm: 60 })
 *   const generator = yield* Generator.Generator
 *   const request = { messages: [Message.user("Hi")], params: GenerateParams.empty }
 *   return yield* generator.generate(request).pipe(RateLimiter.limit(limiter, limiter.estimate(request)))
 * })
 * ```
 * @since 0.1.0
 */
export const limit: {
  (
    limiter: RateLimiter,
    tokens: number
  ): <E, R>(self: Effect.Effect<Generation, E, R>) => Effect.Effect<Generation, E, R>
  <E, R>(self: Effect.Effect<Generation, E, R>, limiter: RateLimiter, tokens: number): Effect.Effect<Generation, E, R>
} = dual(
  3,
  <E, R>(self: Effect.Effect<Generation, E, R>, limiter: RateLimiter, tokens: number) =>
    limiter instanceof Limiter
      ? limiter.run(tokens, self)
      : Effect.scoped(Effect.flatMap(limiter.acquire(tokens), (permit) =>
        self.pipe(
          Effect.tap((generation) =>
            Effect.andThen(
              limiter.settle(permit, generation.usage, generation.choices.length),
              generation.rateLimit === undefined ? Effect.void : limiter.observe(permit, generation.rateLimit)
            )
          ),
          Effect.tapError((error) => isRateLimited(error) ? limiter.observe(permit, error) : Effect.void)
        )))
)

const isRateLimited = (error: unknown): error is RateLimited =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "RateLimited"
