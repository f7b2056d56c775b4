import {
  Engine,
  GenerateParams,
  Generation,
  type GenerationError,
  Generator,
  GeneratorRegistry,
  Message,
  RateLimited,
  RateLimiter,
  Usage
} from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"

/** A provider stand-in: records when each request started and how many were in flight; answers with `answer`. */
const makeServer = (options: {
  readonly latencyMs?: number
  readonly answer?: (call: number) => Effect.Effect<Generation.Generation, GenerationError>
} = {}) => {
  const starts: Array<number> = []
  let inFlight = 0
  let peak = 0
  const ok = Generation.fromTexts(["ok"], new Usage.Usage({ inputTokens: 1, outputTokens: 1 }))
  const send = Effect.gen(function*() {
    starts.push(yield* Clock.currentTimeMillis)
    const call = starts.length
    inFlight++
    peak = Math.max(peak, inFlight)
    if (options.latencyMs !== undefined) yield* Effect.sleep(Duration.millis(options.latencyMs))
    return yield* options.answer?.(call) ?? Effect.succeed(ok)
  }).pipe(Effect.ensuring(Effect.sync(() => {
    inFlight--
  })))
  return { starts, send, peak: () => peak, inFlight: () => inFlight }
}

const request = (text = "hello", params: GenerateParams.Fields = {}): Generation.ChatRequest => ({
  messages: [Message.user(text)],
  params: GenerateParams.make(params)
})

const snapshot = (fields: Omit<ConstructorParameters<typeof Generation.RateLimitSnapshot>[0], "observedAt">) =>
  new Generation.RateLimitSnapshot({ observedAt: 0, ...fields })

const withSnapshot = (rateLimit: Generation.RateLimitSnapshot) =>
  Effect.succeed(new Generation.Generation({ choices: [], usage: Usage.empty, rateLimit }))

/** Runs `n` requests at once under `limiter`, lets virtual time pass, and returns the exits. */
const burst = (
  limiter: RateLimiter.RateLimiter,
  send: Effect.Effect<Generation.Generation, GenerationError>,
  n: number,
  advance: Duration.Input
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(
      Effect.forEach(Array.from({ length: n }), () => Effect.exit(RateLimiter.limit(send, limiter, 1)), {
        concurrency: "unbounded"
      })
    )
    yield* TestClock.adjust(advance)
    return yield* Fiber.join(fiber)
  })

describe("RateLimiter: pacing", () => {
  it.effect("rpm=60 with one second of burst spaces 5 requests one second apart", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 60 })
      const server = makeServer()
      const exits = yield* burst(limiter, server.send, 5, "10 seconds")
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(server.starts).toEqual([0, 1000, 2000, 3000, 4000])
    }))

  it.effect("the burst is one second of the limit, then requests follow at the rate, in any window never more", () =>
    Effect.gen(function*() {
      // 600 rpm: a bucket of 10, refilled one every 100 ms; the first request gives up 50 ms (half a request) of it.
      const limiter = yield* RateLimiter.make({ rpm: 600 })
      const server = makeServer({ latencyMs: 30 })
      yield* burst(limiter, server.send, 25, "5 seconds")
      expect(server.starts.slice(0, 9)).toEqual(Array.from({ length: 9 }, () => 0))
      expect(server.starts.slice(9)).toEqual(Array.from({ length: 16 }, (_, i) => 50 + i * 100))
      // Any window of one second holds at most burst (10) + rate (10) starts.
      for (const t of server.starts) {
        expect(server.starts.filter((s) => s >= t && s < t + 1000).length).toBeLessThanOrEqual(20)
      }
    }))

  it.effect("a limiter built long before its first request still gives up the admission lag when it leaves", () =>
    Effect.gen(function*() {
      // Layers are built, and items validated, before anything is sent: the first wave still opens its
      // connections, so it is still half a request short of the whole bucket of 10.
      const limiter = yield* RateLimiter.make({ rpm: 600 })
      yield* TestClock.adjust("5 seconds")
      const server = makeServer()
      yield* burst(limiter, server.send, 11, "1 second")
      expect(server.starts).toEqual([...Array.from({ length: 9 }, () => 5000), 5050, 5150])
    }))

  it.effect("a longer burst window allows a bigger first wave", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 60, burstSeconds: 3 })
      const server = makeServer()
      yield* burst(limiter, server.send, 5, "10 seconds")
      // A bucket of 3, 50 ms short of full once the first request left.
      expect(server.starts).toEqual([0, 0, 50, 1050, 2050])
    }))

  it.effect("an rpm below one per burst window still lets a request through every 60/rpm seconds", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 30 })
      const server = makeServer()
      yield* burst(limiter, server.send, 3, "10 seconds")
      expect(server.starts).toEqual([0, 2000, 4000])
    }))

  it.effect("tpm reserves the estimate and settles it with the reported usage, both ways", () =>
    Effect.gen(function*() {
      // 600 tokens/min = 10 tokens/s, bucket of 10. Each request is estimated at 2 (prompt) + 8 (max_tokens) = 10.
      const limiter = yield* RateLimiter.make({ tpm: 600 })
      const req = request("12345678", { maxTokens: 8 })
      expect(limiter.estimate(req)).toBe(10)
      const usages = [3, 3, 30, 3]
      const server = makeServer({
        answer: (call) =>
          Effect.succeed(
            Generation.fromTexts(["x"], new Usage.Usage({ inputTokens: 2, outputTokens: usages[call - 1]! - 2 }))
          )
      })
      const run = RateLimiter.limit(server.send, limiter, limiter.estimate(req))
      const fiber = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4], () => run, { concurrency: 1 }))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // The 1st takes the full bucket and gives up 50 ms of refill (5 tokens) as it leaves.
      // 1st: reserved 10, used 3 → 7 back, the 2nd waits 3.5 tokens = 350 ms (not a whole second).
      // 2nd: reserved 10, used 3, the 3rd waits 300 ms more. 3rd used 30: 20 more are owed, so the 4th waits 3 s.
      expect(server.starts).toEqual([0, 350, 650, 3650])
    }))

  it.effect("a reservation larger than the whole bucket waits for a full bucket instead of forever", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tpm: 600 })
      const server = makeServer({
        answer: () => Effect.succeed(Generation.fromTexts(["x"], new Usage.Usage({ inputTokens: 40, outputTokens: 0 })))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2], () => RateLimiter.limit(server.send, limiter, 40), { concurrency: 1 })
      )
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(fiber)
      // The first goes on the full bucket and leaves a 30-token debt (plus the 50 ms given up); full again 4.05 s later.
      expect(server.starts).toEqual([0, 4050])
    }))

  it.effect("max connections is never exceeded and every slot is reused as soon as it frees", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxConnections: 3 })
      const server = makeServer({ latencyMs: 100 })
      const exits = yield* burst(limiter, server.send, 10, "1 second")
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(server.peak()).toBe(3)
      expect(server.starts).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 300])
      expect((yield* limiter.state).inFlight).toBe(0)
    }))

  it.effect("min delay spaces request starts", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ minDelayMs: 250 })
      const server = makeServer()
      yield* burst(limiter, server.send, 4, "2 seconds")
      expect(server.starts).toEqual([0, 250, 500, 750])
    }))
})

describe("RateLimiter: learning from the provider", () => {
  it.effect("a lower limit reported by the server is adopted", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 6000 })
      const server = makeServer({ answer: () => withSnapshot(snapshot({ requestsLimit: 60, requestsRemaining: 59 })) })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3], () => RateLimiter.limit(server.send, limiter, 1), { concurrency: 1 })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect((yield* limiter.state).rpm).toBe(60)
      expect(server.starts).toEqual([0, 1000, 2000])
    }))

  it.effect("a higher limit reported by the server does not raise a configured one", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 60 })
      const server = makeServer({
        answer: () => withSnapshot(snapshot({ requestsLimit: 6000, requestsRemaining: 5999 }))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2], () => RateLimiter.limit(server.send, limiter, 1), { concurrency: 1 })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect((yield* limiter.state).rpm).toBe(60)
      expect(server.starts).toEqual([0, 1000])
    }))

  it.effect("with no limit configured, the reported one is learned and paces what follows", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      const server = makeServer({
        answer: () => withSnapshot(snapshot({ requestsLimit: 120, requestsRemaining: 118 }))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3, 4], () => RateLimiter.limit(server.send, limiter, 1), { concurrency: 1 })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // Learned 120 rpm (bucket of 2); the server's deficit of 2 empties it: 500 ms per request from then on.
      expect((yield* limiter.state).rpm).toBe(120)
      expect(server.starts).toEqual([0, 500, 1000, 1500])
    }))

  it.effect("remaining 0 with no limit known holds every request until the reset", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      const server = makeServer({
        answer: (call) =>
          call === 1
            ? withSnapshot(snapshot({ requestsRemaining: 0, requestsResetMs: 5000 }))
            : Effect.succeed(Generation.fromTexts(["ok"], Usage.empty))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3], () => RateLimiter.limit(server.send, limiter, 1), { concurrency: 1 })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(server.starts).toEqual([0, 5000, 5000])
    }))

  it.effect("remaining 0 with a known limit waits for one request's worth of refill, not the full reset", () =>
    Effect.gen(function*() {
      // Providers report reset as "until the bucket is full" (a minute here); one request needs one second.
      const limiter = yield* RateLimiter.make()
      const server = makeServer({
        answer: () => withSnapshot(snapshot({ requestsLimit: 60, requestsRemaining: 0, requestsResetMs: 60_000 }))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2], () => RateLimiter.limit(server.send, limiter, 1), { concurrency: 1 })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(server.starts).toEqual([0, 1000])
    }))

  it.effect("a snapshot made before requests still in flight does not admit them twice", () =>
    Effect.gen(function*() {
      // 600 rpm: bucket of 10 (starting at 9.5), one every 100 ms. Nine go at t=0; the first answer (at 50 ms)
      // reports the server as it was right after admitting that first one: 9 of 10 left. Overwriting the local
      // level with it would let 9 more go at once.
      const limiter = yield* RateLimiter.make({ rpm: 600 })
      const server = makeServer({
        latencyMs: 50,
        answer: (call) =>
          call === 1
            ? withSnapshot(snapshot({ requestsLimit: 600, requestsRemaining: 599 }))
            : Effect.succeed(Generation.fromTexts(["ok"], Usage.empty))
      })
      const first = yield* Effect.forkChild(burst(limiter, server.send, 9, "0 millis"))
      yield* TestClock.adjust("50 millis")
      const late = yield* Effect.forkChild(burst(limiter, server.send, 2, "0 millis"))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(first)
      yield* Fiber.join(late)
      expect(server.starts.slice(9)).toEqual([50, 150])
    }))

  it.effect("a server's headers that agree with the limiter cost little and once; another client's use of the budget is discounted", () =>
    Effect.gen(function*() {
      // A server bucket like the providers': 600 rpm with one second of burst, remaining reported per minute.
      const serverWith = (usedByOthers: number, startedAt: number) => {
        let level = 10 - usedByOthers
        let at = startedAt
        return makeServer({
          latencyMs: 300,
          answer: () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              // The answer comes 300 ms after admission: the view is the one at admission.
              const admittedAt = now - 300
              level = Math.min(10, level + (admittedAt - at) / 100) - 1
              at = admittedAt
              return withSnapshot(snapshot({ requestsLimit: 600, requestsRemaining: Math.floor(590 + level) }))
            })
        })
      }
      const run = (usedByOthers: number) =>
        Effect.gen(function*() {
          const limiter = yield* RateLimiter.make({ rpm: 600 })
          const t0 = yield* Clock.currentTimeMillis
          const server = serverWith(usedByOthers, t0)
          yield* burst(limiter, server.send, 40, "10 seconds")
          return server.starts.map((t) => t - t0)
        })
      const withoutHeaders = [
        ...Array.from({ length: 9 }, () => 0),
        ...Array.from({ length: 31 }, (_, i) => 50 + i * 100)
      ]
      const alone = yield* run(0)
      // Headers only ever hold the limiter back, by the admission lag (50 ms), once: the refill during the 300 ms
      // the answer took is credited, and the pace stays one request per 100 ms.
      alone.forEach((t, i) => {
        expect(t).toBeGreaterThanOrEqual(withoutHeaders[i]!)
        expect(t).toBeLessThanOrEqual(withoutHeaders[i]! + 100)
      })
      expect(alone.slice(-10).map((t, i, all) => i === 0 ? 100 : t - all[i - 1]!)).toEqual(
        Array.from({ length: 10 }, () => 100)
      )
      // Another client took 5 requests' worth at t=0: from the first answer (at 300 ms) on, the limiter knows and
      // falls back ~500 ms.
      const shared = yield* run(5)
      shared.forEach((t, i) => {
        if (alone[i]! > 400) expect(t - alone[i]!).toBeGreaterThanOrEqual(400)
      })
      expect(shared.at(-1)! - alone.at(-1)!).toBeLessThanOrEqual(600)
    }))

  it.effect("on a 429 every request to the generator waits for the retry-after, then resumes paced", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 600 })
      const server = makeServer({
        latencyMs: 100,
        answer: (call) =>
          call === 1
            ? Effect.fail(new RateLimited({ provider: "p", detail: "slow down", retryAfterMs: 2000 }))
            : Effect.succeed(Generation.fromTexts(["ok"], Usage.empty))
      })
      const first = yield* Effect.forkChild(burst(limiter, server.send, 5, "0 millis"))
      yield* TestClock.adjust("500 millis")
      const queued = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 15 }), () => RateLimiter.limit(server.send, limiter, 1), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1000 millis")
      expect((yield* limiter.state).pausedUntil).toBe(2100)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(first)
      yield* Fiber.join(queued)
      expect(server.starts.slice(0, 5)).toEqual([0, 0, 0, 0, 0])
      const later = server.starts.slice(5)
      expect(later.filter((t) => t > 100 && t < 2100)).toEqual([])
      // The 429 told us the server's bucket was empty at t=0: from 2.1 s, 10 go at once (one second refilled), then one per 100 ms.
      expect(later).toEqual([...Array.from({ length: 10 }, () => 2100), 2200, 2300, 2400, 2500, 2600])
    }))

  it.effect("with no limit known or reported, a 429 infers one from what the server accepted in the last second", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      const server = makeServer({
        answer: (call) =>
          call === 4
            ? Effect.fail(new RateLimited({ provider: "p", detail: "", retryAfterMs: 100 }))
            : Effect.succeed(Generation.fromTexts(["ok"], Usage.empty))
      })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3, 4, 5, 6], () => Effect.exit(RateLimiter.limit(server.send, limiter, 1)), {
          concurrency: 1
        })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // 3 accepted in the last second → 180 rpm; the server was empty at the 429, so one request per 333 ms after it.
      expect((yield* limiter.state).rpm).toBeGreaterThanOrEqual(180)
      expect(server.starts.slice(0, 4)).toEqual([0, 0, 0, 0])
      expect(server.starts[4]).toBeGreaterThanOrEqual(333)
      expect(server.starts[5]! - server.starts[4]!).toBeGreaterThanOrEqual(330)
    }))
})

/** What a server's rate-limit headers mean (as `rateLimitHeaderStyle` of the fake provider, `test/support/README.md`). */
interface HeaderStyle {
  readonly remaining?: "per-minute" | "burst"
  readonly at?: "admission" | "answer"
  readonly reset?: "to-full" | "to-next"
  /** Leave `remaining` out: only `limit` and `reset` are sent. */
  readonly withoutRemaining?: boolean
}

/**
 * A provider's request limiter in virtual time: a bucket of `rpm / 60` (one second of burst) refilling
 * continuously, shared with another client that takes `usedByOthers` at the start. It refuses what it cannot
 * admit with a 429 and its retry-after, and states its bucket in every answer in `style`.
 */
const providerBucket = (options: {
  readonly rpm: number
  readonly latencyMs: number
  readonly style: HeaderStyle
  readonly usedByOthers: number
  /** The share of the refill another client keeps taking. */
  readonly takenByOthers: number
  readonly startedAt: number
}) => {
  const { latencyMs, rpm, style } = options
  const capacity = rpm / 60
  const perMs = rpm / 60_000
  const refillPerMs = perMs * (1 - options.takenByOthers)
  let level = capacity - options.usedByOthers
  let updatedAt = options.startedAt
  let refused = 0
  let lastAnswer = options.startedAt
  const refill = (now: number) => {
    level = Math.min(capacity, level + (now - updatedAt) * refillPerMs)
    updatedAt = now
  }
  const view = (now: number) => {
    refill(now)
    const deficit = capacity - level
    return snapshot({
      requestsLimit: rpm,
      ...(style.withoutRemaining === true ? {} : {
        requestsRemaining: style.remaining === "burst" ? Math.max(0, Math.floor(level)) : Math.floor(rpm - deficit)
      }),
      requestsResetMs: style.reset === "to-next" ? Math.max(0, 1 - level) / perMs : deficit / perMs
    })
  }
  const send = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    refill(now)
    if (level < 1) {
      refused++
      return yield* new RateLimited({
        provider: "p",
        detail: "",
        retryAfterMs: (1 - level) / refillPerMs,
        rateLimit: view(now)
      })
    }
    level -= 1
    const atAdmission = view(now)
    yield* Effect.sleep(Duration.millis(latencyMs))
    lastAnswer = yield* Clock.currentTimeMillis
    const rateLimit = style.at === "answer" ? view(lastAnswer) : atAdmission
    return new Generation.Generation({ choices: [], usage: Usage.empty, rateLimit })
  })
  return { send, refused: () => refused, lastAnswer: () => lastAnswer }
}

/**
 * The bench's rate-limited scenario in virtual time: `n` requests, 100 at a time, each retried after a 429,
 * under a limiter told `rpm` or learning it. Returns the time the last answer came and the refusals.
 */
const rateLimitedRun = (options: {
  readonly told: boolean
  readonly style: HeaderStyle
  readonly n?: number
  readonly rpm?: number
  readonly usedByOthers?: number
  readonly takenByOthers?: number
}) =>
  Effect.gen(function*() {
    const { n = 1000, rpm = 6000 } = options
    const startedAt = yield* Clock.currentTimeMillis
    const server = providerBucket({
      rpm,
      latencyMs: 50,
      style: options.style,
      usedByOthers: options.usedByOthers ?? 0,
      takenByOthers: options.takenByOthers ?? 0,
      startedAt
    })
    const limiter = yield* RateLimiter.make(options.told ? { rpm } : {})
    const one = RateLimiter.limit(server.send, limiter, 1).pipe(
      Effect.retry({ while: (error) => error._tag === "RateLimited" })
    )
    const fiber = yield* Effect.forkChild(Effect.forEach(Array.from({ length: n }), () => one, { concurrency: 100 }))
    yield* TestClock.adjust("60 seconds")
    yield* Fiber.join(fiber)
    return { wallMs: server.lastAnswer() - startedAt, refused: server.refused(), rpm: (yield* limiter.state).rpm }
  })

/** The bench's ideal: the first second's burst at once, then the rate, plus one latency. */
const idealMs = (n: number, rpm: number) => (n - rpm / 60) / (rpm / 60_000) + 50

const headerStyles: ReadonlyArray<readonly [string, HeaderStyle]> = [
  ["remaining per minute, the view at admission, reset until full (documented)", {}],
  ["remaining on the burst scale", { remaining: "burst" }],
  ["the view when the answer is sent", { at: "answer" }],
  ["reset until the next unit", { reset: "to-next" }],
  ["burst scale, view at answer, reset until next", { remaining: "burst", at: "answer", reset: "to-next" }],
  ["no remaining, reset until full", { withoutRemaining: true }],
  ["no remaining, reset until next", { withoutRemaining: true, reset: "to-next" }]
]

describe("RateLimiter: rate-limit headers are evidence, whatever they mean", () => {
  for (const [name, style] of headerStyles) {
    for (const told of [true, false]) {
      it.effect(`${name}, ${told ? "told the limit" : "learning it"}: the full rate, ≤ 1 % refused`, () =>
        Effect.gen(function*() {
          const run = yield* rateLimitedRun({ told, style })
          expect(run.rpm).toBe(6000)
          expect(run.wallMs).toBeLessThanOrEqual(1.05 * idealMs(1000, 6000))
          expect(run.refused).toBeLessThanOrEqual(10)
        }))
    }
  }

  it.effect("a limit learned after a wave went out starts from what the wave left of it, whatever the view", () =>
    Effect.gen(function*() {
      // 100 requests leave at once before anything is known; 50 ms later the first answer names 6000 rpm (a
      // bucket of 100, 5 of it refilled since), in each of the four views of the same server state.
      const views = [
        { remaining: "per-minute at admission", requestsRemaining: 5999 },
        { remaining: "per-minute at answer", requestsRemaining: 5905 },
        { remaining: "burst at admission", requestsRemaining: 99 },
        { remaining: "burst at answer", requestsRemaining: 5 }
      ]
      for (const view of views) {
        const limiter = yield* RateLimiter.make()
        const scope = yield* Scope.make()
        const permits = yield* Effect.forEach(Array.from({ length: 100 }), () => limiter.acquire(1)).pipe(
          Scope.provide(scope)
        )
        yield* TestClock.adjust("50 millis")
        yield* limiter.observe(
          permits[0]!,
          snapshot({ requestsLimit: 6000, requestsRemaining: view.requestsRemaining })
        )
        const { requestsAvailable, rpm } = yield* limiter.state
        expect({ view: view.remaining, rpm, requestsAvailable }).toEqual({
          view: view.remaining,
          rpm: 6000,
          requestsAvailable: 0
        })
        yield* Scope.close(scope, Exit.void)
      }
    }))

  for (const [name, style] of headerStyles) {
    it.effect(`${name}: another client's share of the budget is seen, from its first answer or first refusal`, () =>
      Effect.gen(function*() {
        // Another client took 60 of the 100 at the start; from then on the rest is ours.
        const run = yield* rateLimitedRun({ told: true, style, n: 300, usedByOthers: 60 })
        expect(run.refused).toBeLessThanOrEqual(3)
        expect(run.wallMs).toBeLessThanOrEqual(1.05 * (idealMs(300, 6000) + 600))
      }))
  }

  for (const [name, style] of headerStyles) {
    it.effect(`${name}: another client keeps taking half the budget, and the limiter keeps to the other half`, () =>
      Effect.gen(function*() {
        const run = yield* rateLimitedRun({ told: true, style, n: 300, takenByOthers: 0.5 })
        expect(run.refused).toBeLessThanOrEqual(6)
        // The first 100 at once, then 50 a second.
        expect(run.wallMs).toBeLessThanOrEqual(1.05 * ((300 - 100) / 0.05 + 50))
      }))
  }
})

describe("RateLimiter: interruption", () => {
  it.effect("interrupted waiters give back everything: a later request is not held behind them", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 60, maxConnections: 2 })
      const server = makeServer({ latencyMs: 100 })
      const waiters = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 6 }), () => RateLimiter.limit(server.send, limiter, 1), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("500 millis")
      expect(server.starts).toEqual([0])
      expect((yield* limiter.state).waiting).toBeGreaterThan(0)
      yield* Fiber.interrupt(waiters)
      const state = yield* limiter.state
      expect(state.waiting).toBe(0)
      expect(state.inFlight).toBe(0)
      yield* TestClock.adjust("500 millis")
      // The bucket refilled at t=1000 exactly as if the interrupted requests had never asked.
      const next = yield* Effect.forkChild(RateLimiter.limit(server.send, limiter, 1))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(next)
      expect(server.starts).toEqual([0, 1000])
    }))

  it.effect("interrupting requests in flight frees their connections", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxConnections: 2 })
      const server = makeServer({ latencyMs: 10_000 })
      const running = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 5 }), () => RateLimiter.limit(server.send, limiter, 1), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 second")
      expect((yield* limiter.state).inFlight).toBe(2)
      yield* Fiber.interrupt(running)
      expect(server.inFlight()).toBe(0)
      expect(yield* limiter.state).toMatchObject({ inFlight: 0, waiting: 0 })
      const next = yield* Effect.forkChild(RateLimiter.limit(makeServer().send, limiter, 1))
      yield* TestClock.adjust("0 millis")
      expect(Exit.isSuccess(yield* Fiber.await(next))).toBe(true)
    }))
})

describe("RateLimiter: the pieces of limit", () => {
  it.effect("acquire holds a connection for its scope; settle corrects the reservation; observe learns", () =>
    Effect.gen(function*() {
      // 6000 tokens/min: a bucket of 100, 5 of which the first request gives up (the admission lag).
      const limiter = yield* RateLimiter.make({ maxConnections: 1, tpm: 6000 })
      const scope = yield* Scope.make()
      const permit = yield* limiter.acquire(10).pipe(Scope.provide(scope))
      expect(yield* limiter.state).toMatchObject({ inFlight: 1, tokensAvailable: 85 })
      yield* limiter.settle(permit, new Usage.Usage({ inputTokens: 2, outputTokens: 1 }))
      expect((yield* limiter.state).tokensAvailable).toBe(92)
      const second = yield* Effect.forkChild(Effect.scoped(limiter.acquire(1)))
      yield* TestClock.adjust("5 seconds")
      expect(second.pollUnsafe()).toBeUndefined() // the one connection is taken
      yield* limiter.observe(permit, new RateLimited({ provider: "p", detail: "", retryAfterMs: 3000 }))
      expect((yield* limiter.state).pausedUntil).toBe(8000)
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("3 seconds")
      expect(Exit.isSuccess(yield* Fiber.await(second))).toBe(true)
      expect((yield* limiter.state).inFlight).toBe(0)
    }))
})

describe("RateLimiter: per generator", () => {
  it.effect("identifier settings configure the limiter of Generator.layer", () =>
    Effect.gen(function*() {
      const done: Array<number> = []
      const chat = Generator.chat("x").pipe(Effect.andThen(Clock.currentTimeMillis), Effect.map((t) => done.push(t)))
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3, 4], () => chat, { concurrency: "unbounded" }).pipe(
          Effect.provide(Generator.layer("mock!echo,rpm=60,max_connections=1"))
        )
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(done).toEqual([0, 1000, 2000, 3000])
      const identifier = yield* GeneratorRegistry.parse("mock!echo,rpm=60,tpm=1000,max_connections=4,min_delay_ms=5")
      expect(RateLimiter.limitsFromIdentifier(identifier)).toMatchObject({
        rpm: 60,
        tpm: 1000,
        maxConnections: 4,
        minDelayMs: 5
      })
    }))

  it.effect("generators of one engine for the same account and model share one limiter while alive; share: false opts out", () =>
    Effect.gen(function*() {
      const times = (options?: Engine.Options) =>
        Effect.scoped(Effect.gen(function*() {
          const a = yield* Generator.make("mock!echo,rpm=60", options)
          const b = yield* Generator.make("mock!echo,rpm=60", options)
          const started: Array<number> = []
          const send = (g: Generator.Service) =>
            g.generate(request()).pipe(Effect.andThen(Clock.currentTimeMillis), Effect.map((t) => started.push(t)))
          yield* Effect.all([send(a), send(b)], { concurrency: "unbounded" })
          return started
        })).pipe(Effect.provide(Engine.layer))
      const run = (options?: Engine.Options) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(times(options))
          yield* TestClock.adjust("5 seconds")
          return yield* Fiber.join(fiber)
        })
      const start = yield* Clock.currentTimeMillis
      expect((yield* run()).map((t) => t - start)).toEqual([0, 1000])
      const later = yield* Clock.currentTimeMillis
      expect((yield* run({ share: false })).map((t) => t - later)).toEqual([0, 0])
      // Each application (here: each Engine.layer built) has its own limiters: a new one starts with a full bucket.
      const again = yield* Clock.currentTimeMillis
      expect((yield* run()).map((t) => t - again)).toEqual([0, 1000])
    }))

  it.effect("the token estimate counts prompt characters / 4 plus the output reservation per choice", () =>
    Effect.sync(() => {
      expect(RateLimiter.estimateTokens(request("x".repeat(40), { maxTokens: 100, n: 3 }), 256)).toBe(10 + 300)
      expect(RateLimiter.estimateTokens(request("x".repeat(41)), 256)).toBe(11 + 256)
      expect(RateLimiter.estimateTokens({ prompt: "abcd", params: GenerateParams.empty }, 7)).toBe(1 + 7)
    }))
})
