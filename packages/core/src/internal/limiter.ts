/**
 * The arithmetic of the rate limiter: continuously refilling buckets and how they learn from a provider.
 * Plain synchronous code over mutable state; `RateLimiter.ts` runs every call inside one `Effect.sync`,
 * so each call is atomic with respect to other fibers.
 *
 * @internal
 */

/** What the server said about one dimension (requests or tokens) of its limit. */
export interface Report {
  readonly limit?: number | undefined
  readonly remaining?: number | undefined
  readonly resetMs?: number | undefined
}

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
 * one-time `rate × lag` of the budget.
 */
const admissionLagMs = 50

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

  constructor(configured: number | undefined, readonly burstMs: number, now: number) {
    this.configured = configured
    this.update(now)
  }

  get limited(): boolean {
    return this.perMinute !== undefined
  }

  /** Recomputes rate and capacity after one of the limits changed. A fresh limit starts full. */
  update(now: number): void {
    const server = this.reported ?? this.inferred
    const next = this.configured === undefined ? server : server === undefined ? this.configured : Math.min(this.configured, server)
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
    this.level = wasLimited
      ? Math.min(this.level, this.capacity)
      : Math.max(Math.min(1, this.capacity), this.capacity - this.rate * admissionLagMs)
    this.updatedAt = now
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
    if (this.limited) this.level -= cost
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
   * Lowers the level to what the server's state implies now, given the server's level right after it admitted
   * the request of `mark`: that level, plus what refilled since (from `admissionLagMs` after we sent it), minus
   * what was handed out after that request (the server had not seen those yet, or counted them at most once).
   * Only ever lowers: a server view that is stale because of requests still in flight must never admit them twice.
   */
  align(serverLevel: number, mark: Mark, now: number): void {
    if (!this.limited) return
    this.refill(now)
    const implied = serverLevel + this.rate * Math.max(0, now - mark.at - admissionLagMs) -
      (this.dispatched - mark.dispatchedAfter)
    if (implied < this.level) this.level = implied
  }

  /**
   * Learns from a server report: adopts a reported limit, then aligns the level with the server's deficit
   * (`limit - remaining`, the part still to refill: providers report remaining on a per-minute scale whatever
   * their real burst, so the deficit is the comparable quantity).
   */
  learn(report: Report, mark: Mark, now: number): void {
    if (report.limit !== undefined && report.limit > 0 && report.limit !== this.reported) {
      this.reported = report.limit
      this.update(now)
    }
    if (!this.limited) return
    const deficit = report.limit !== undefined && report.remaining !== undefined
      ? report.limit - report.remaining
      : report.resetMs !== undefined
      ? report.resetMs * this.rate
      : undefined
    if (deficit !== undefined) this.align(Math.max(0, this.capacity - deficit), mark, now)
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
