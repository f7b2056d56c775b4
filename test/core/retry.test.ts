import {
  ConnectionError,
  type Engine,
  GenerateParams,
  Generation,
  type GenerationError,
  Generator,
  InvalidRequest,
  Message,
  Overloaded,
  RateLimited,
  RateLimiter,
  RetryPolicy,
  ServerError
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Exit, Fiber, type Layer } from "effect"
import { TestClock } from "effect/testing"

const serverError = (call: number) => new ServerError({ provider: "mock", detail: `call ${call}`, status: 500 })
const ask = Generator.generate({ messages: [Message.user("hi")], params: GenerateParams.empty })

/** Forks `effect`, lets `advance` of virtual time pass, and returns its exit. */
const inVirtualTime = <A, E, R>(effect: Effect.Effect<A, E, R>, advance: Duration.Input = "1 minute") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(advance)
    return yield* Fiber.await(fiber)
  })

/** A mock that fails calls whose number is in `failing`, run through the engine with `options`. */
const flaky = (fail: (call: number) => GenerationError | undefined, options?: Engine.Options) =>
  MockGenerator.layer((request) => {
    const error = fail(request.call)
    return error === undefined ? "ok" : Effect.fail(error)
  }).pipe(Generator.withEngine(options))

describe("RetryPolicy: which errors retry", () => {
  it.effect("a non-retryable error fails at once, after exactly one attempt", () =>
    Effect.gen(function*() {
      const exit = yield* inVirtualTime(ask)
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error._tag).toBe(
        "InvalidRequest"
      )
      expect(yield* MockGenerator.calls).toBe(1)
    }).pipe(Effect.provide(flaky(() => new InvalidRequest({ provider: "mock", detail: "bad", status: 400 })))))

  it.effect("retryable errors retry until success and the generation reports its attempts", () =>
    Effect.gen(function*() {
      const exit = yield* inVirtualTime(ask)
      expect(Exit.isSuccess(exit) && exit.value.attempts).toBe(4)
      expect(yield* MockGenerator.calls).toBe(4)
    }).pipe(
      Effect.provide(flaky((call) =>
        call === 1 ?
          serverError(call) :
          call === 2 ?
          new ConnectionError({ provider: "mock", detail: "reset" }) :
          call === 3
          ? new Overloaded({ provider: "mock", detail: "", status: 529 }) :
          undefined
      ))
    ))

  it.effect("a first-time success leaves attempts unset (one)", () =>
    Effect.gen(function*() {
      expect((yield* ask).attempts).toBeUndefined()
    }).pipe(Effect.provide(MockGenerator.echo().pipe(Generator.withEngine()))))

  it.effect("after maxRetries retries the last error is returned", () =>
    Effect.gen(function*() {
      const exit = yield* inVirtualTime(ask)
      expect(yield* MockGenerator.calls).toBe(4)
      expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error.message)
        .toContain("call 4")
    }).pipe(Effect.provide(flaky(serverError, { maxRetries: 3 }))))

  it.effect("MockGenerator layers are not run through the engine unless asked: pipelines see the raw failure", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(ask)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* MockGenerator.calls).toBe(1)
    }).pipe(Effect.provide(MockGenerator.failing(serverError(1)))))
})

describe("RetryPolicy: delays", () => {
  it.effect("the server's retry-after wins: the next attempt is not sent before it", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(ask)
      yield* TestClock.adjust("4999 millis")
      expect(yield* MockGenerator.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* MockGenerator.calls).toBe(2)
      expect((yield* Fiber.join(fiber)).attempts).toBe(2)
    }).pipe(Effect.provide(flaky((call) =>
      call === 1 ? new Overloaded({ provider: "mock", detail: "busy", status: 503, retryAfterMs: 5000 }) : undefined
    ))))

  it.effect("a 429's retry-after is honoured too, also when it is only in the rate-limit snapshot", () =>
    Effect.gen(function*() {
      const delays: Array<number> = []
      const policy = RetryPolicy.retry<GenerationError>(RetryPolicy.defaultPolicy, {
        onRetry: ({ delayMs }) => Effect.sync(() => delays.push(delayMs))
      })
      let calls = 0
      const errors = [
        new RateLimited({ provider: "p", detail: "", retryAfterMs: 1500 }),
        new RateLimited({
          provider: "p",
          detail: "",
          rateLimit: new Generation.RateLimitSnapshot({ observedAt: 0, retryAfterMs: 700 })
        })
      ]
      const attempt = Effect.suspend(() =>
        calls < errors.length ? Effect.fail(errors[calls++]!) : Effect.succeed(++calls)
      )
      const exit = yield* inVirtualTime(policy(attempt))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(delays).toEqual([1500, 700])
    }))

  it.effect("backoff grows exponentially up to the cap; jitter only shortens it, within its fraction", () =>
    Effect.gen(function*() {
      const delaysOf = (policy: RetryPolicy.RetryPolicy) =>
        Effect.gen(function*() {
          const delays: Array<number> = []
          const retry = RetryPolicy.retry<ServerError>(policy, {
            onRetry: ({ delayMs }) => Effect.sync(() => delays.push(delayMs))
          })
          yield* inVirtualTime(retry(Effect.fail(serverError(0))), "10 minutes")
          return delays
        })
      const base = new RetryPolicy.RetryPolicy({
        maxRetries: 7,
        baseDelayMs: 100,
        factor: 2,
        maxDelayMs: 1000,
        jitter: 0,
        budget: null
      })
      const exact = [100, 200, 400, 800, 1000, 1000, 1000]
      expect(yield* delaysOf(base)).toEqual(exact)
      for (let run = 0; run < 20; run++) {
        const jittered = yield* delaysOf(RetryPolicy.withFields(base, { jitter: 0.5 }))
        expect(jittered.length).toBe(exact.length)
        jittered.forEach((d, i) => {
          expect(d).toBeLessThanOrEqual(exact[i]!)
          expect(d).toBeGreaterThanOrEqual(exact[i]! * 0.5)
        })
      }
    }))

  it.effect("waits are virtual: the default policy's retries fit in about a second of Clock time", () =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.forkChild(Effect.andThen(ask, Clock.currentTimeMillis))
      yield* TestClock.adjust("10 seconds")
      const end = yield* Fiber.join(fiber)
      // 4 retries: 25 + 50 + 100 + 200 ms at most.
      expect(end - start).toBeLessThanOrEqual(375)
      expect(end - start).toBeGreaterThanOrEqual(187)
    }).pipe(Effect.provide(flaky((call) => call <= 4 ? serverError(call) : undefined))))
})

describe("RetryPolicy: budget", () => {
  it.effect("an empty budget fails the next failure with its error instead of retrying", () =>
    Effect.gen(function*() {
      const first = yield* inVirtualTime(Effect.exit(ask))
      expect(yield* MockGenerator.calls).toBe(3) // 1 + the 2 retries the budget holds
      const second = yield* inVirtualTime(Effect.exit(ask))
      expect(yield* MockGenerator.calls).toBe(4) // no retry left
      for (const [exit, call] of [[first, 3], [second, 4]] as const) {
        const outcome = Exit.isSuccess(exit) ? exit.value : undefined
        expect(
          outcome !== undefined && Exit.isFailure(outcome) && outcome.cause.reasons[0]?._tag === "Fail" &&
            outcome.cause.reasons[0].error.message
        )
          .toContain(`call ${call}`)
      }
    }).pipe(
      Effect.provide(
        flaky(serverError, {
          retry: new RetryPolicy.RetryPolicy({ budget: new RetryPolicy.Budget({ capacity: 2, perSuccess: 0 }) })
        })
      )
    ))

  it.effect("successes refill the budget", () =>
    Effect.gen(function*() {
      const budget = yield* RetryPolicy.makeBudget(new RetryPolicy.Budget({ capacity: 2, perSuccess: 0.5 }))
      expect([yield* budget.withdraw, yield* budget.withdraw, yield* budget.withdraw]).toEqual([true, true, false])
      yield* budget.deposit
      expect(yield* budget.withdraw).toBe(false)
      yield* budget.deposit
      expect(yield* budget.withdraw).toBe(true)
      for (let i = 0; i < 10; i++) yield* budget.deposit
      expect(yield* budget.available).toBe(2)
    }))

  it.effect("with a budget, delays grow with the failures since the last success, not with one request's retries", () =>
    Effect.gen(function*() {
      const policy = new RetryPolicy.RetryPolicy({ maxRetries: 5, baseDelayMs: 100, jitter: 0, maxDelayMs: 10_000 })
      // Before each attempt of one failing request, `between` runs: other requests' successes, or nothing.
      const delaysOf = (between: (budget: RetryPolicy.BudgetBucket) => Effect.Effect<void>) =>
        Effect.gen(function*() {
          const budget = yield* RetryPolicy.makeBudget(new RetryPolicy.Budget({}))
          const delays: Array<number> = []
          const retry = RetryPolicy.retry<ServerError>(policy, {
            budget,
            onRetry: ({ delayMs }) => Effect.sync(() => delays.push(delayMs))
          })
          yield* inVirtualTime(
            retry(Effect.andThen(Effect.suspend(() => between(budget)), Effect.fail(serverError(0)))),
            "10 minutes"
          )
          return delays
        })
      // The server fails everything it is sent: exponential, as without a budget.
      expect(yield* delaysOf(() => Effect.void)).toEqual([100, 200, 400, 800, 1600])
      // The server answers others meanwhile: this request is unlucky, not the server down.
      expect(yield* delaysOf((budget) => budget.deposit)).toEqual([100, 100, 100, 100, 100])
      // Two failures in a row across the lane give the second step.
      let call = 0
      const everyOther = (budget: RetryPolicy.BudgetBucket) => call++ % 2 === 0 ? budget.deposit : Effect.void
      expect(yield* delaysOf(everyOther)).toEqual([100, 200, 100, 200, 100])
    }))

  it.effect("429 retries spend no budget: the rate limiter paces them", () =>
    Effect.gen(function*() {
      const exit = yield* inVirtualTime(ask)
      expect(Exit.isSuccess(exit) && exit.value.attempts).toBe(3)
    }).pipe(Effect.provide(flaky((call) =>
      call <= 2 ? new RateLimited({ provider: "mock", detail: "", retryAfterMs: 10 }) : undefined, {
      retry: new RetryPolicy.RetryPolicy({ budget: new RetryPolicy.Budget({ capacity: 0 }) })
    }))))
})

describe("RetryPolicy: wired through Generator.layer", () => {
  it.effect("max_retries and rpm from the identifier: a failing mock is retried twice, paced at one request a second", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.exit(Generator.chat("x")).pipe(Effect.zip(Clock.currentTimeMillis)))
      yield* TestClock.adjust("10 seconds")
      const [exit, at] = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(at).toBeCloseTo(2000, 6) // attempts at 0, 1000 and 2000
    }).pipe(Effect.provide(Generator.layer("mock!echo,rpm=60,max_retries=2,fail_every=1,fail_with=ServerError"))))

  it.effect("options override the identifier", () =>
    Effect.gen(function*() {
      let retries = 0
      const layer = Generator.layer("mock!echo,max_retries=5,fail_every=1,fail_with=ServerError", {
        maxRetries: 1,
        onRetry: () => Effect.sync(() => void retries++)
      })
      const exit = yield* inVirtualTime(Generator.chat("x").pipe(Effect.provide(layer)))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(retries).toBe(1)
    }))

  it.effect("a mock failing every other call with RateLimited loses nothing; every chat succeeds", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 20 }, (_, i) => `q${i}`), (q) => Generator.chat(q), { concurrency: 5 })
      )
      yield* TestClock.adjust("2 minutes")
      const chats = yield* Fiber.join(fiber)
      expect(chats.map((c) => c.last?.text)).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`))
    }).pipe(Effect.provide(Generator.layer("mock!echo,fail_every=2,fail_with=RateLimited"))))

  it.effect("25% faults over 400 requests in flight 50 at a time: nothing lost, every attempt counted", () =>
    Effect.gen(function*() {
      // Deterministic faults: call k fails when a hash of k falls in the lowest quarter.
      const faulty = (call: number) => ((Math.imul(call, 2654435761) >>> 0) % 100 < 25 ? serverError(call) : undefined)
      const layer = flaky(faulty)
      const program = Effect.gen(function*() {
        const generations = yield* Effect.forEach(Array.from({ length: 400 }), () => ask, { concurrency: 50 })
        return { generations, calls: yield* MockGenerator.calls }
      }).pipe(Effect.provide(layer))
      const exit = yield* inVirtualTime(program)
      if (!Exit.isSuccess(exit)) throw new Error("the batch failed")
      const { calls, generations } = exit.value
      expect(generations.length).toBe(400)
      expect(generations.reduce((n, g) => n + (g.attempts ?? 1), 0)).toBe(calls)
      expect(calls).toBeGreaterThan(450)
    }))
})

describe("Generator.withEngine", () => {
  it.effect("decorates a layer's generator and keeps its other services", () =>
    Effect.gen(function*() {
      const first = yield* Effect.forkChild(Effect.all([ask, ask]))
      yield* TestClock.adjust("999 millis")
      expect(yield* MockGenerator.calls).toBe(1) // paced at 60 rpm: the engine runs it
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(first)
      expect(yield* MockGenerator.calls).toBe(2)
    }).pipe(Effect.provide(MockGenerator.echo().pipe(Generator.withEngine({ rpm: 60 })))))

  it.effect("an explicit limiter can be shared by generators of different identifiers", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ rpm: 60 })
      const done: Array<number> = []
      const one = (layer: Layer.Layer<Generator.Generator>) =>
        ask.pipe(Effect.andThen(Clock.currentTimeMillis), Effect.map((t) => done.push(t)), Effect.provide(layer))
      const a = MockGenerator.echo({ identifier: "mock!a" }).pipe(Generator.withEngine({ limiter }))
      const b = MockGenerator.echo({ identifier: "mock!b" }).pipe(Generator.withEngine({ limiter }))
      yield* inVirtualTime(Effect.all([one(a), one(b)], { concurrency: "unbounded" }), "5 seconds")
      expect(done.sort()).toEqual([0, 1000])
    }))
})
