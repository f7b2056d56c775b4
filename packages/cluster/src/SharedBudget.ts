/**
 * One rate budget for every runner that calls the same provider account and model. A provider enforces its limits per
 * account and model, whichever machine sends: runners that each keep the whole limit would together send several times
 * too much and spend the run in 429 pauses.
 *
 * The budget is a reservation schedule (the generic cell rate algorithm): each request takes the next free slot of its
 * key — one request of the requests-per-minute budget and its estimated tokens of the tokens-per-minute budget — and
 * waits until its slot comes. A slot is taken in one atomic statement, so runners never take the same one; a burst of
 * `burstSeconds` of the limits may go at once, as providers allow. {@link layerSql} keeps the schedule in a PostgreSQL
 * table (`capstan_rate_budget`), on the database's clock; {@link layerMemory} in the process (one runner, or tests).
 *
 * {@link limiter} puts it under a runner's own limiter, which still holds its connections and learns from the
 * provider's rate-limit headers (they report the account's remaining budget, whichever runner spent it).
 *
 * @since 0.3.0
 */
import type { Identifier } from "@capstan/core"
import { RateLimiter } from "@capstan/core"
import { Clock, Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The budget shared by every runner for one key (an account and model): the provider's limits.
 *
 * @example
 * ```ts
 * import type { SharedBudget } from "@capstan/cluster"
 *
 * const limits: SharedBudget.Limits = { rpm: 6000, tpm: 2_000_000, burstSeconds: 1 }
 * ```
 * @since 0.3.0
 */
export interface Limits {
  /** Requests per minute, across every runner. */
  readonly rpm?: number | undefined
  /** Tokens (prompt + output, as estimated before sending) per minute, across every runner. */
  readonly tpm?: number | undefined
  /** Seconds of each limit that may be spent at once (default 1). */
  readonly burstSeconds?: number | undefined
}

/**
 * The shared budget could not be read (the database is down). The reservation is tried again.
 *
 * @example
 * ```ts
 * import { SharedBudget } from "@capstan/cluster"
 *
 * new SharedBudget.SharedBudgetError({ key: "openai!gpt-4o-mini", reason: "connection refused" }).message
 * ```
 * @since 0.3.0
 */
export class SharedBudgetError extends Schema.TaggedError<SharedBudgetError>()("SharedBudgetError", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot reserve from the shared rate budget ${this.key}: ${this.reason}`
  }
}

/**
 * The shared budget in context: `reserve` takes the next slot of a key for one request of `tokens` tokens and says how
 * long to wait before sending it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SharedBudget } from "@capstan/cluster"
 *
 * const wait = SharedBudget.SharedBudget.use((budget) => budget.reserve("mock!echo", { rpm: 600 }, 10)).pipe(
 *   Effect.provide(SharedBudget.layerMemory)
 * ) // Duration.zero for the first request
 * ```
 * @since 0.3.0
 */
export class SharedBudget extends Context.Service<SharedBudget, {
  readonly reserve: (key: string, limits: Limits, tokens: number) => Effect.Effect<Duration.Duration, SharedBudgetError>
}>()("@capstan/cluster/SharedBudget") {}

/** Milliseconds of the schedule one request (or one token) takes: 0 when the limit is not set. */
const intervalOf = (perMinute: number | undefined): number =>
  perMinute === undefined || perMinute <= 0 || !Number.isFinite(perMinute) ? 0 : 60_000 / perMinute

/** The reservation of one request: its slots' spans on the requests and tokens schedules, and the burst allowance. */
const reservationOf = (limits: Limits, tokens: number) => ({
  requestMs: intervalOf(limits.rpm),
  tokenMs: intervalOf(limits.tpm) * Math.max(0, tokens),
  burstMs: (limits.burstSeconds ?? 1) * 1000
})

/**
 * The wait of a reservation: a schedule's slot, once taken, ends at `next`; the request may start a burst before.
 */
const waitOf = (next: ReadonlyArray<number>, now: number, burstMs: number): Duration.Duration =>
  Duration.millis(Math.max(0, ...next.map((at) => at - burstMs - now)))

/**
 * The schedules in the process: one runner's, or a test's.
 *
 * @example
 * ```ts
 * import { SharedBudget } from "@capstan/cluster"
 *
 * const budget = SharedBudget.layerMemory
 * ```
 * @since 0.3.0
 */
export const layerMemory: Layer.Layer<SharedBudget> = Layer.sync(SharedBudget, () => {
  const schedules = new Map<string, { requestAt: number; tokenAt: number }>()
  return SharedBudget.of({
    reserve: (key, limits, tokens) =>
      Clock.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          const { burstMs, requestMs, tokenMs } = reservationOf(limits, tokens)
          const schedule = schedules.get(key) ?? { requestAt: now, tokenAt: now }
          schedule.requestAt = Math.max(schedule.requestAt, now) + requestMs
          schedule.tokenAt = Math.max(schedule.tokenAt, now) + tokenMs
          schedules.set(key, schedule)
          return waitOf([schedule.requestAt, schedule.tokenAt], now, burstMs)
        })
      )
  })
})

/**
 * The schedules in a PostgreSQL table, `capstan_rate_budget` (made on first use), through the `SqlClient` in context:
 * every runner of a cluster reserves from the same rows, one atomic `INSERT ... ON CONFLICT DO UPDATE` per request,
 * timed by the database's clock (runners' clocks may differ).
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgClient } from "@effect/sql-pg"
 * import { SharedBudget } from "@capstan/cluster"
 *
 * const budget = SharedBudget.layerSql.pipe(Layer.provide(PgClient.layer({ url: Redacted.make("postgres://localhost/capstan") })))
 * ```
 * @since 0.3.0
 */
export const layerSql: Layer.Layer<SharedBudget, SharedBudgetError, SqlClient.SqlClient> = Layer.effect(
  SharedBudget,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS capstan_rate_budget (
      budget_key TEXT PRIMARY KEY,
      request_at DOUBLE PRECISION NOT NULL,
      token_at DOUBLE PRECISION NOT NULL
    )`.pipe(Effect.mapError((error) => new SharedBudgetError({ key: "*", reason: error.message })))
    return SharedBudget.of({
      reserve: (key, limits, tokens) => {
        const { burstMs, requestMs, tokenMs } = reservationOf(limits, tokens)
        // The row's schedules move to max(slot end, now) + span: the statement locks the row, so concurrent
        // reservations from any runner take consecutive slots.
        return sql<{ readonly request_at: number; readonly token_at: number; readonly now_ms: number }>`
          WITH clock AS (SELECT extract(epoch FROM clock_timestamp()) * 1000 AS now_ms)
          INSERT INTO capstan_rate_budget AS budget (budget_key, request_at, token_at)
          SELECT ${key}, clock.now_ms + ${requestMs}, clock.now_ms + ${tokenMs} FROM clock
          ON CONFLICT (budget_key) DO UPDATE SET
            request_at = GREATEST(budget.request_at + ${requestMs}, EXCLUDED.request_at),
            token_at = GREATEST(budget.token_at + ${tokenMs}, EXCLUDED.token_at)
          RETURNING budget.request_at, budget.token_at, (SELECT now_ms FROM clock) AS now_ms`.pipe(
          Effect.map(([slot]) =>
            slot === undefined
              ? Duration.zero
              : waitOf([Number(slot.request_at), Number(slot.token_at)], Number(slot.now_ms), burstMs)
          ),
          Effect.mapError((error) => new SharedBudgetError({ key, reason: error.message }))
        )
      }
    })
  })
)

/** A reservation the store could not make is tried again: the cluster's own storage is the same database. */
const retryStore = Schedule.min([Schedule.exponential("100 millis", 2), Schedule.spaced("5 seconds")])

/**
 * A runner's limiter under the shared budget: each request first takes what its own limiter gives (a connection, the
 * limits the provider's headers taught it), then its slot of the shared budget, and waits for that slot. Settling,
 * learning and the state are the local limiter's.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@capstan/core"
 * import { SharedBudget } from "@capstan/cluster"
 *
 * const program = Effect.gen(function*() {
 *   const local = yield* RateLimiter.make({ maxConnections: 64 })
 *   return yield* SharedBudget.limiter(local, { key: "openai!gpt-4o-mini", limits: { rpm: 6000 } })
 * }).pipe(Effect.provide(SharedBudget.layerMemory))
 * ```
 * @since 0.3.0
 */
export const limiter = (
  local: RateLimiter.RateLimiter,
  options: { readonly key: string; readonly limits: Limits }
): Effect.Effect<RateLimiter.RateLimiter, never, SharedBudget> =>
  Effect.map(SharedBudget, (budget) => {
    const reserve = (tokens: number) =>
      budget.reserve(options.key, options.limits, tokens).pipe(
        Effect.tapError((error) => Effect.logWarning(error.message)),
        Effect.retry(retryStore),
        Effect.orDie,
        Effect.flatMap((wait) => Duration.isZero(wait) ? Effect.void : Effect.sleep(wait))
      )
    return {
      limits: local.limits,
      acquire: (tokens) => Effect.tap(local.acquire(tokens), () => reserve(tokens)),
      settle: local.settle,
      observe: local.observe,
      restrict: local.restrict,
      estimate: local.estimate,
      state: local.state
    }
  })

/**
 * The limits of an identifier that one runner keeps for itself when the budget is split statically between `runners`
 * (no shared store): its `rpm` and `tpm` divided, the rest as they are.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 * import { SharedBudget } from "@capstan/cluster"
 *
 * SharedBudget.split(Identifier.make({ provider: "openai", model: "gpt-4o-mini", settings: { rpm: 6000 } }), 3).rpm // 2000
 * ```
 * @since 0.3.0
 */
export const split = (identifier: Identifier.Identifier, runners: number): RateLimiter.Limits => {
  const { rpm, tpm, ...rest } = RateLimiter.limitsFromIdentifier(identifier)
  const share = Math.max(1, runners)
  return new RateLimiter.Limits({
    ...rest,
    ...(rpm === undefined ? {} : { rpm: rpm / share }),
    ...(tpm === undefined ? {} : { tpm: tpm / share })
  })
}
