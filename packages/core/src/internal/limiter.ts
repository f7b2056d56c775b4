/**
 * The arithmetic of the rate limiter: continuously refilling buckets and how they learn from a provider.
 * Plain synchronous code over mutable state; `RateLimiter.ts` runs every call inside one `Effect.sync`,
 * so each call is atomic with respect to other fibers.
 *
 * @internal
 */

/** Where a request stood in a bucket's history when it was admitted. */
export interface Mark {
  /** Clock time of admission. */
  readonly at: number
  /** Units the bucket had handed out, this request included. */
  readonly dispatchedAfter: number
}

/**
 * How long after we send a request the server may admit it (connection setup, queues). A server's view is
 * projected forward from then: counting its refill from the moment we sent would credit refill the server never
 * had (a full bucket wastes it), and the first wave's connection setup would turn into 429s later on. Costs a
 * one-time `rate × lag` of the budget, taken when the first request leaves.
 */
const admissionLagMs = 50

/** How many dispatches a bucket without a limit keeps, to replay when it learns one. */
const replayDepth = 1024

/**
 * The last dispatches of a bucket that has no limit yet. A limit learned from the first answers must start
 * from what the requests already sent left of the server's bucket, not from a full one: a learning limiter
 * sends a whole wave before any answer names the limit.
 */
class Dispatches {
  private readonly times = new Float64Array(replayDepth)
  private readonly units = new Float64Array(replayDepth)
  private next = 0
  private size = 0

  push(at: number, units: number): void {
    this.times[this.next] = at
    this.units[this.next] = units
    this.next = (this.next + 1) % replayDepth
    if (this.size < replayDepth) this.size++
  }

  /**
   * The level a bucket of `capacity` refilling at `rate` would have now had it enforced these dispatches,
   * starting full before the oldest one kept; the refill after the last waits for the admission lag.
   */
  replay(rate: number, capacity: number, now: number): number {
    let level = capacity
    let at = -Infinity
    for (let i = 0; i < this.size; i++) {
      const slot = (this.next - this.size + i + replayDepth) % replayDepth
      level = Math.min(capacity, level + rate * (this.times[slot]! - at)) - this.units[slot]!
      at = this.times[slot]!
    }
    return Math.min(capacity, level + rate * Math.max(0, now - at - admissionLagMs))
  }
}

/**
 * A per-minute limit as a continuously refilling bucket that may run into debt: a cost larger than the
 * whole bucket is admitted once the bucket is full (as providers do), leaving the level negative.
 *
 * The effective limit is the lowest of what the user configured and what the server reported (or, when
 * neither is known, what was inferred from refusals).
 */
export class Bucket {
  configured: number | undefined
  reported: number | undefined
  inferred: number | undefined
  perMinute: number | undefined = undefined
  /** Units per millisecond. */
  rate = 0
  capacity = Infinity
  level = Infinity
  updatedAt = 0
  /** Units handed out since the bucket was made (also while unlimited: learning needs it). */
  dispatched = 0
  /** While unlimited: the recent dispatches, replayed into the level of the first limit. */
  private history: Dispatches | undefined = undefined

  constructor(configured: number | undefined, readonly burstMs: number, now: number) {
    this.configured = configured
    this.update(now)
  }

  get limited(): boolean {
    return this.perMinute !== undefined
  }

  /**
   * Recomputes rate and capacity after one of the limits changed. A first limit starts full, or, learned
   * after requests went out without one, at what those requests left of it.
   */
  update(now: number): void {
    const server = this.reported ?? this.inferred
    const next = this.configured === undefined
      ? server
      : server === undefined
      ? this.configured
      : Math.min(this.configured, server)
    if (next === this.perMinute) return
    const wasLimited = this.limited
    this.refill(now)
    this.perMinute = next
    if (next === undefined) {
      this.rate = 0
      this.capacity = Infinity
      this.level = Infinity
      return
    }
    this.rate = next / 60_000
    this.capacity = this.rate * this.burstMs
    if (wasLimited) this.level = Math.min(this.level, this.capacity)
    else if (this.history === undefined) this.level = this.capacity
    else {
      this.level = Math.min(this.afterFirstWave(), this.history.replay(this.rate, this.capacity, now))
      this.history = undefined
    }
    this.updatedAt = now
  }

  /**
   * The most a bucket may hold once its first wave is sent. That wave opens its connections and reaches the
   * server later than the requests that follow, so the server's refill starts later than ours: `rate ×
   * admissionLagMs` is given up once, when the first request leaves (not when the bucket is made, which may
   * be long before). A bucket too small to lose it without shutting out a single request keeps it.
   */
  private afterFirstWave(): number {
    return Math.max(Math.min(1, this.capacity), this.capacity - this.rate * admissionLagMs)
  }

  refill(now: number): void {
    if (!this.limited) return
    if (now > this.updatedAt) {
      this.level = Math.min(this.capacity, this.level + this.rate * (now - this.updatedAt))
      this.updatedAt = now
    }
  }

  /** Milliseconds until `cost` may be taken (0 when it may be taken now). */
  waitMs(cost: number, now: number): number {
    if (!this.limited || cost <= 0) return 0
    this.refill(now)
    const need = Math.min(cost, this.capacity)
    return this.level >= need ? 0 : (need - this.level) / this.rate
  }

  take(cost: number, now: number): Mark {
    this.refill(now)
    if (this.limited) {
      this.level = (this.dispatched === 0 ? Math.min(this.level, this.afterFirstWave()) : this.level) - cost
    } else (this.history ??= new Dispatches()).push(now, cost)
    this.dispatched += cost
    return { at: now, dispatchedAfter: this.dispatched }
  }

  /** Gives back (or, negative, takes more of) units after the fact, e.g. when usage differs from the estimate. */
  adjust(amount: number, now: number): void {
    if (!this.limited) return
    this.refill(now)
    this.level = Math.min(this.capacity, this.level + amount)
  }

  /**
   * Lowers the level to what the server's state implies now, given the server's level `serverLevel` in a view
   * of the request of `mark`. A view taken when the server admitted that request has refilled since (from
   * `admissionLagMs` after we sent it) and lost what was sent after it (the server had not seen those yet); a
   * view taken when the answer left already counts both. Read the first way, the second counts every request
   * sent during the latency twice; read the second way, the first misses them. Until the server's habit is
   * known (`"either"`) only the higher reading is believed. Only ever lowers: a stale view must never admit
   * the requests still in flight twice.
   */
  align(serverLevel: number, mark: Mark, now: number, reading: Reading): void {
    if (!this.limited) return
    this.refill(now)
    const sinceAdmission = serverLevel + this.rate * Math.max(0, now - mark.at - admissionLagMs) -
      (this.dispatched - mark.dispatchedAfter)
    const implied = reading === "admission" || (reading === "either" && sinceAdmission > serverLevel)
      ? sinceAdmission
      : serverLevel
    if (implied < this.level) this.level = implied
  }

  /** Adopts a limit the server reported: it is a limit, not a level, whatever scale the rest of the report uses. */
  adopt(limit: number | undefined, now: number): void {
    if (limit !== undefined && limit > 0 && limit !== this.reported) {
      this.reported = limit
      this.update(now)
    }
  }

  /**
   * The server's level as `remaining` states it; `undefined` without a limit to read it against.
   *
   * Servers state `remaining` on one of two scales: per minute (`limit − deficit`, the deficit being the part
   * of the bucket still to refill, as OpenAI and Anthropic document) or the bucket itself (at most one burst).
   * Read per minute, a bucket-scale value is a bucket always empty, which halves the rate. The scales part at
   * half the limit: a per-minute view falls below it only after half a minute of debt, and a bucket exceeds it
   * only with half a minute of burst, where the two views nearly coincide anyway.
   */
  remainingLevel(limit: number | undefined, remaining: number | undefined): number | undefined {
    if (!this.limited || remaining === undefined) return undefined
    const perMinute = limit ?? this.perMinute!
    return remaining * 2 >= perMinute
      ? Math.max(0, this.capacity - (perMinute - remaining))
      : Math.min(this.capacity, remaining)
  }

  /**
   * The server's level as `reset` states it, read as `meaning` says; `undefined` when it says nothing. Until
   * the meaning is known, "until full" is believed: it reads the higher level (read "until the next unit",
   * an almost full bucket would be empty).
   */
  resetLevel(resetMs: number | undefined, meaning: ResetMeaning): number | undefined {
    if (!this.limited || resetMs === undefined) return undefined
    if (meaning !== "next") return Math.max(0, this.capacity - resetMs * this.rate)
    // Until the next unit: 0 says at least one is left, which a bucket that was just drawn on always has.
    return resetMs > 0 ? this.unit - resetMs * this.rate : undefined
  }

  /** The cost that always gets through a full bucket: one, or the whole bucket when it holds less. */
  get unit(): number {
    return Math.min(1, this.capacity)
  }
}

/** What a server's `reset` counts down to: a full bucket, the next unit, or not yet known. */
export type ResetMeaning = "full" | "next" | "either"

/** The evidence at which a side is taken, and the most that is kept, in reports. */
const decision = 4
const cap = 8

/** One report's vote: for the first side (positive), the second (negative), or neither. */
const vote = (score: number, side: number): number => Math.max(-cap, Math.min(cap, score + side))

/**
 * Tells what a server's `reset` counts down to, from reports of the requests bucket. Until full, it is the
 * deficit's refill time, so more than one unit's whenever more than one unit is missing; until the next unit,
 * it is never more than one unit's (a request never leaves a debt), 0 while one is left, and never 0 on a
 * bucket that was just drawn on without being full. A refusal whose reset leaves the bucket well stocked when
 * read until full can only mean the next unit.
 */
export class ResetTime {
  private score = 0

  get meaning(): ResetMeaning {
    return this.score >= decision ? "full" : this.score <= -decision ? "next" : "either"
  }

  /** Weighs a report: `level` is the server's level as `remaining` states it, if it does; `refused` a 429's report. */
  observe(bucket: Bucket, level: number | undefined, resetMs: number | undefined, refused: boolean): void {
    if (resetMs === undefined || !bucket.limited) return
    const unit = bucket.unit
    const units = resetMs * bucket.rate
    if (units > 1.5 * unit) this.score = vote(this.score, 1)
    else if (
      refused
        ? resetMs > 0 && bucket.capacity - units >= 1.5 * unit
        : resetMs === 0 && level !== undefined && level < bucket.capacity - 1.5 * unit
    ) this.score = vote(this.score, -1)
  }
}

/** How a view of the server's bucket is read against our own: taken at admission, at the answer, or not yet known. */
export type Reading = "admission" | "answer" | "either"

/**
 * Tells whether a server's headers describe its bucket when it admitted the request or when it sent the
 * answer. Each reading projects a report onto a baseline that stays put from one report to the next when the
 * reading is the right one: the server's level plus every request it has counted, minus its refill. Read the
 * wrong way, the baseline moves with the requests sent during the latency, which is most visible in the first
 * wave. Each report casts one vote for the steadier baseline, so that a single odd report (a bucket that
 * filled up while idle, another client) cannot decide alone. Reports of a refusal do not vote: a server
 * refuses at once, so both readings agree.
 */
export class ViewTime {
  private score = 0
  private lastAdmission = NaN
  private lastAnswer = NaN
  private lastRate = 0

  get reading(): Reading {
    return this.score >= decision ? "admission" : this.score <= -decision ? "answer" : "either"
  }

  /** Weighs a report of the requests bucket `bucket`: the server's level `serverLevel` in a view of the request of `mark`. */
  observe(serverLevel: number, mark: Mark, bucket: Bucket, now: number): void {
    const admission = serverLevel + mark.dispatchedAfter - bucket.rate * mark.at
    const answer = serverLevel + bucket.dispatched - bucket.rate * now
    // Both readings share the report's rounding (under one unit), so a difference of a unit or more is never
    // rounding. A new rate moves both baselines: that report does not vote.
    const steadier = bucket.rate === this.lastRate
      ? Math.abs(answer - this.lastAnswer) - Math.abs(admission - this.lastAdmission)
      : 0
    if (steadier >= 1) this.score = vote(this.score, 1)
    else if (steadier <= -1) this.score = vote(this.score, -1)
    this.lastAdmission = admission
    this.lastAnswer = answer
    this.lastRate = bucket.rate
  }
}

/** Counts events in a trailing window, cheaply (timestamps are pushed in order). */
export class Window {
  private readonly times: Array<number> = []
  private head = 0

  constructor(readonly spanMs: number) {}

  push(now: number): void {
    this.times.push(now)
    this.trim(now)
  }

  count(now: number): number {
    this.trim(now)
    return this.times.length - this.head
  }

  private trim(now: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= now - this.spanMs) this.head++
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head)
      this.head = 0
    }
  }
}
