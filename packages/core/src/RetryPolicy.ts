/**
 * The engine's one retry layer, as data: how many times, how long between attempts, and a retry budget,
 * compiled to an Effect `Schedule`.
 *
 * - Only retryable errors retry (`isRetryable`: rate limits, overload, 5xx, timeouts, connection failures,
 *   malformed bodies); any other error fails at once, after exactly one attempt.
 * - Delays grow exponentially from `baseDelayMs` by `factor`, are capped at `maxDelayMs`, then shortened by a
 *   random fraction of up to `jitter` (so the cap is a hard bound). A server's retry-after wins over all of it.
 * - With a budget, the growth follows the server's health, not one request's luck: a delay grows only as far as
 *   the failures the budget has seen since its last success. A server that answers other requests meanwhile is
 *   not in trouble, so an unlucky request (a reset, then a 503) retries at about the base delay; when every
 *   request fails, failures pile up and the delays grow exactly as without a budget.
 * - The budget is a token bucket shared by every request of a generator: each retry spends one token, each
 *   success earns `perSuccess`. When it is empty, failures fail instead of retrying, so an outage does not
 *   multiply the load by `maxRetries`. `RateLimited` retries spend nothing: the rate limiter already paces them.
 *
 * The delays start short (25 ms) on purpose: transient faults (a reset, a truncated body) usually pass at once,
 * the budget (not the delay) is what protects a failing server, and 429s wait for the server's retry-after.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Random, Schedule, Schema } from "effect"
import { dual } from "effect/Function"
import { isRetryable } from "./Errors.js"
import type * as Identifier from "./Identifier.js"
import { NonNegative, NonNegativeInt } from "./internal/numbers.js"

/**
 * The settings of a retry budget: at most `capacity` retries saved up, `perSuccess` earned by each success.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * const budget = new RetryPolicy.Budget({ capacity: 50, perSuccess: 0.2 })
 * ```
 * @since 0.1.0
 */
export class Budget extends Schema.Class<Budget>("@capstan/core/RetryPolicy/Budget")({
  capacity: NonNegative.pipe(Schema.withConstructorDefault(Effect.succeed(100))),
  perSuccess: NonNegative.pipe(Schema.withConstructorDefault(Effect.succeed(0.5)))
}) {}

/**
 * A retry policy. Every field has a default: `new RetryPolicy.RetryPolicy({})` is the engine's policy
 * (10 retries, 25 ms × 2ⁿ capped at 1 s, up to 50 % jitter, a budget of 100 retries earning 0.5 per success).
 * `budget: null` turns the budget off.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * const patient = new RetryPolicy.RetryPolicy({ maxRetries: 3, baseDelayMs: 500, maxDelayMs: 8000 })
 * patient.factor // 2
 * ```
 * @since 0.1.0
 */
export class RetryPolicy extends Schema.Class<RetryPolicy>("@capstan/core/RetryPolicy")({
  maxRetries: NonNegativeInt.pipe(Schema.withConstructorDefault(Effect.succeed(10))),
  baseDelayMs: NonNegative.pipe(Schema.withConstructorDefault(Effect.succeed(25))),
  factor: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1)).pipe(Schema.withConstructorDefault(Effect.succeed(2))),
  maxDelayMs: NonNegative.pipe(Schema.withConstructorDefault(Effect.succeed(1000))),
  jitter: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })).pipe(
    Schema.withConstructorDefault(Effect.succeed(0.5))
  ),
  budget: Schema.NullOr(Budget).pipe(Schema.withConstructorDefault(Effect.succeed(new Budget({}))))
}) {}

/**
 * The fields of {@link RetryPolicy}, as passed to its constructor.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * const fields: RetryPolicy.Fields = { maxRetries: 2, budget: null }
 * ```
 * @since 0.1.0
 */
export type Fields = NonNullable<ConstructorParameters<typeof RetryPolicy>[0]>

/**
 * The engine's default policy.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * RetryPolicy.defaultPolicy.maxRetries // 10
 * ```
 * @since 0.1.0
 */
export const defaultPolicy: RetryPolicy = new RetryPolicy({})

/**
 * A policy with some fields replaced.
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * const once = RetryPolicy.withFields(RetryPolicy.defaultPolicy, { maxRetries: 1 })
 * once.maxRetries // 1
 * ```
 * @since 0.1.0
 */
export const withFields: {
  (fields: Fields): (self: RetryPolicy) => RetryPolicy
  (self: RetryPolicy, fields: Fields): RetryPolicy
} = dual(2, (self: RetryPolicy, fields: Fields): RetryPolicy =>
  new RetryPolicy({
    ...self,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
  }))

/**
 * The policy with the identifier's `max_retries` applied, if it sets one.
 *
 * @example
 * ```ts
 * import { Identifier, RetryPolicy } from "@capstan/core"
 *
 * const id = Identifier.make({ provider: "mock", model: "echo", settings: { max_retries: 2 } })
 * RetryPolicy.fromIdentifier(id).maxRetries // 2
 * ```
 * @since 0.1.0
 */
export const fromIdentifier = (identifier: Identifier.Identifier, base: RetryPolicy = defaultPolicy): RetryPolicy => {
  const maxRetries = identifier.setting("max_retries")
  return typeof maxRetries === "number" && maxRetries >= 0 ? withFields(base, { maxRetries }) : base
}

/**
 * A live retry budget: a token bucket of retries.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "@capstan/core"
 *
 * const left = Effect.flatMap(RetryPolicy.makeBudget(new RetryPolicy.Budget({})), (budget: RetryPolicy.BudgetBucket) => budget.available)
 * ```
 * @since 0.1.0
 */
export interface BudgetBucket {
  /** Retries that may be spent now. */
  readonly available: Effect.Effect<number>
  /** Spends one retry; false (and nothing spent) when less than one is left. */
  readonly withdraw: Effect.Effect<boolean>
  /** Earns `perSuccess` retries, up to the capacity; a success also ends the run of failures. */
  readonly deposit: Effect.Effect<void>
  /** Retries spent since the last success: how long every request has been failing. */
  readonly failuresSinceSuccess: Effect.Effect<number>
}

/**
 * Makes a live retry budget, full.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryPolicy.makeBudget(new RetryPolicy.Budget({ capacity: 1 }))
 *   return [yield* budget.withdraw, yield* budget.withdraw] // [true, false]
 * })
 * ```
 * @since 0.1.0
 */
export const makeBudget = (settings: Budget): Effect.Effect<BudgetBucket> =>
  Effect.sync(() => makeBudgetUnsafe(settings))

/**
 * Makes a live retry budget, full, outside of Effect (for callers that must create it atomically).
 *
 * @example
 * ```ts
 * import { RetryPolicy } from "@capstan/core"
 *
 * const budget = RetryPolicy.makeBudgetUnsafe(new RetryPolicy.Budget({}))
 * ```
 * @since 0.1.0
 */
export const makeBudgetUnsafe = (settings: Budget): BudgetBucket => {
  let tokens = settings.capacity
  let failures = 0
  return {
    available: Effect.sync(() => tokens),
    withdraw: Effect.sync(() => {
      if (tokens < 1) return false
      tokens -= 1
      failures += 1
      return true
    }),
    deposit: Effect.sync(() => {
      tokens = Math.min(settings.capacity, tokens + settings.perSuccess)
      failures = 0
    }),
    failuresSinceSuccess: Effect.sync(() => failures)
  }
}

/**
 * A retry about to happen, as `onRetry` sees it: the attempt that failed (1-based), its error and the delay
 * before the next one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "@capstan/core"
 *
 * const log = (event: RetryPolicy.RetryEvent) => Effect.log(`attempt ${event.attempt} failed, retrying in ${event.delayMs} ms`)
 * ```
 * @since 0.1.0
 */
export interface RetryEvent<E = unknown> {
  readonly attempt: number
  readonly error: E
  readonly delayMs: number
}

/**
 * What a compiled policy shares with other requests: the live budget, and a hook called before each retry.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "@capstan/core"
 *
 * const options: RetryPolicy.Options = { onRetry: (event) => Effect.log(`retry ${event.attempt}`) }
 * const retry = RetryPolicy.retry(RetryPolicy.defaultPolicy, options)
 * ```
 * @since 0.1.0
 */
export interface Options<E = unknown> {
  readonly budget?: BudgetBucket | undefined
  readonly onRetry?: ((event: RetryEvent<E>) => Effect.Effect<void>) | undefined
}

/**
 * The server's requested wait carried by an error (`retryAfterMs`, or the retry-after of its rate-limit snapshot).
 *
 * @example
 * ```ts
 * import { RateLimited, RetryPolicy } from "@capstan/core"
 *
 * RetryPolicy.retryAfterOf(new RateLimited({ provider: "p", detail: "", retryAfterMs: 1500 })) // 1500
 * ```
 * @since 0.1.0
 */
export const retryAfterOf = (error: unknown): number | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const own = (error as { readonly retryAfterMs?: unknown }).retryAfterMs
  if (typeof own === "number" && own >= 0) return own
  const snapshot = (error as { readonly rateLimit?: { readonly retryAfterMs?: unknown } }).rateLimit
  const fromSnapshot = snapshot?.retryAfterMs
  return typeof fromSnapshot === "number" && fromSnapshot >= 0 ? fromSnapshot : undefined
}

const spendsBudget = (error: unknown): boolean =>
  !(typeof error === "object" && error !== null && "_tag" in error && error._tag === "RateLimited")

/**
 * Compiles a policy to a `Schedule` over the errors of the effect it retries: it stops at once for
 * non-retryable errors, after `maxRetries` retries, or when the budget is empty; each delay is the server's
 * retry-after if the error carries one, else the capped, jittered exponential delay.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, GenerateParams, Message, RetryPolicy } from "@capstan/core"
 *
 * const schedule = RetryPolicy.schedule(RetryPolicy.defaultPolicy)
 * const generation = Generator.generate({ messages: [Message.user("Hi")], params: GenerateParams.empty }).pipe(
 *   Effect.retry(schedule)
 * )
 * ```
 * @since 0.1.0
 */
export const schedule = <E>(policy: RetryPolicy, options: Options<E> = {}): Schedule.Schedule<Duration.Duration, E> => {
  const budget = options.budget
  const onRetry = options.onRetry
  const jittered = (exponential: number): Effect.Effect<Duration.Duration> => {
    const capped = Math.min(exponential, policy.maxDelayMs)
    return policy.jitter === 0
      ? Effect.succeed(Duration.millis(capped))
      : Effect.map(Random.next, (u) => Duration.millis(capped * (1 - policy.jitter * u)))
  }
  // The budget's withdrawal for this retry is already counted, so a lone failure since a success gives the base.
  const backoff = (duration: Duration.Duration): Effect.Effect<Duration.Duration> =>
    budget === undefined
      ? jittered(Duration.toMillis(duration))
      : Effect.flatMap(budget.failuresSinceSuccess, (failures) =>
        jittered(
          Math.min(
            Duration.toMillis(duration),
            policy.baseDelayMs * Math.pow(policy.factor, Math.max(0, failures - 1))
          )
        ))
  const compiled = Schedule.exponential(Duration.millis(policy.baseDelayMs), policy.factor).pipe(
    Schedule.setInputType<E>(),
    Schedule.upTo({ times: policy.maxRetries }),
    Schedule.while(({ input }) => isRetryable(input)),
    // Last filter: a retry is paid for only once every other condition let it through.
    Schedule.while(({ input }) => budget === undefined || !spendsBudget(input) ? true : budget.withdraw),
    Schedule.modifyDelay(({ duration, input }) => {
      const retryAfter = retryAfterOf(input)
      return retryAfter === undefined ? backoff(duration) : Effect.succeed(Duration.millis(retryAfter))
    })
  )
  return onRetry === undefined ? compiled : compiled.pipe(
    Schedule.tap(({ attempt, duration, input }) =>
      onRetry({ attempt, error: input, delayMs: Duration.toMillis(duration) })
    )
  )
}

/**
 * Retries an effect under a policy. Successes earn the budget its `perSuccess`. The data-last form compiles
 * the schedule once, so apply it once and reuse the function for many requests.
 *
 * @example
 * ```ts
 * import { Generator, RetryPolicy } from "@capstan/core"
 *
 * const chat = Generator.chat("Hi").pipe(RetryPolicy.retry(RetryPolicy.defaultPolicy))
 * ```
 * @since 0.1.0
 */
export const retry: {
  <E0 = unknown>(
    policy: RetryPolicy,
    options?: Options<E0>
  ): <A, E extends E0, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, policy: RetryPolicy, options?: Options<E>): Effect.Effect<A, E, R>
} = ((...args: ReadonlyArray<unknown>) =>
  Effect.isEffect(args[0])
    ? retryWith(args[1] as RetryPolicy, args[2] as Options | undefined)(args[0])
    : retryWith(args[0] as RetryPolicy, args[1] as Options | undefined)) as never

const retryWith = <E0>(policy: RetryPolicy, options: Options<E0> = {}) => {
  const compiled = schedule(policy, options)
  const budget = options.budget
  return <A, E extends E0, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const attempt = budget === undefined ? self : Effect.tap(self, () => budget.deposit)
    // The schedule is only stepped once something failed: a first-time success (the common case) never pays
    // for it. The first failure is replayed to the schedule as its first input instead of being re-run.
    return Effect.catch(attempt, (first) => {
      let replayed = false
      const again = Effect.suspend(() => {
        if (replayed) return attempt
        replayed = true
        return Effect.fail(first)
      })
      return Effect.retry(again, compiled)
    })
  }
}
