/**
 * The batch engine around one generator: every request runs under the generator's rate limiter, inside the
 * one retry layer, and reports how many attempts it took.
 *
 * Limiters (and retry budgets) are shared process-wide by every engine built for the same provider account
 * and model while any of them is alive: the provider enforces its limits per account and model, not per Layer,
 * so two independently built layers (two pipelines each providing `Generator.layer("openai!gpt-4o")`) must not
 * each believe they own the whole budget. The entry is reference-counted and dropped with its last holder, so
 * state never outlives the scopes that use it (tests with their own `TestClock` start afresh).
 *
 * @internal
 */
import { AttemptCounter } from "./attempts.js"
import { Clock, Effect, Redacted } from "effect"
import { identity } from "effect/Function"
import type * as Scope from "effect/Scope"
import type { GenerationError } from "../Errors.js"
import { Generation } from "../Generation.js"
import type { ChatRequest, CompletionRequest } from "../Generation.js"
import type { EngineOptions, Service } from "../Generator.js"
import * as Identifier from "../Identifier.js"
import * as RateLimiter from "../RateLimiter.js"
import * as RetryPolicy from "../RetryPolicy.js"

interface Entry {
  readonly limiter: RateLimiter.RateLimiter
  budget: RetryPolicy.BudgetBucket | undefined
  holders: number
}

const shared = new Map<string, Entry>()

/** FNV-1a: enough to tell two secrets apart in a map key without keeping the secret in it. */
const fingerprint = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16)
}

/** Provider, model and every setting that may select another account or endpoint (not the engine's own). */
const keyOf = (identifier: Identifier.Identifier): string => {
  const settings = Object.entries(identifier.settings)
    .filter(([key]) => !(key in Identifier.engineSettings))
    .map(([key, value]) => `${key}=${Redacted.isRedacted(value) ? `#${fingerprint(Redacted.value(value))}` : String(value)}`)
    .sort()
  return [`${identifier.provider}!${identifier.model}`, ...settings].join(",")
}

const acquireShared = (
  key: string,
  limits: RateLimiter.Limits,
  budget: RetryPolicy.Budget | null
): Effect.Effect<Entry, never, Scope.Scope> =>
  Effect.acquireRelease(
    // One synchronous step: two layers built at once must find the same entry.
    Clock.clockWith((clock) =>
      Effect.sync(() => {
        const existing = shared.get(key)
        if (existing !== undefined) {
          existing.holders++
          if (existing.budget === undefined && budget !== null) existing.budget = RetryPolicy.makeBudgetUnsafe(budget)
          return { entry: existing, fresh: false }
        }
        const entry: Entry = {
          limiter: RateLimiter.makeUnsafe(limits, clock.currentTimeMillisUnsafe()),
          budget: budget === null ? undefined : RetryPolicy.makeBudgetUnsafe(budget),
          holders: 1
        }
        shared.set(key, entry)
        return { entry, fresh: true }
      })
    ).pipe(Effect.tap(({ entry, fresh }) => fresh ? Effect.void : entry.limiter.restrict(limits)), Effect.map(({ entry }) => entry)),
    (entry) =>
      Effect.sync(() => {
        if (--entry.holders === 0 && shared.get(key) === entry) shared.delete(key)
      })
  )

/** The limits of an engine: the identifier's settings, overridden by the options. */
const limitsOf = (identifier: Identifier.Identifier, options: EngineOptions): RateLimiter.Limits =>
  RateLimiter.mergeLimits(RateLimiter.limitsFromIdentifier(identifier), {
    ...(options.rpm === undefined ? {} : { rpm: options.rpm }),
    ...(options.tpm === undefined ? {} : { tpm: options.tpm }),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.minDelayMs === undefined ? {} : { minDelayMs: options.minDelayMs }),
    ...(options.burstSeconds === undefined ? {} : { burstSeconds: options.burstSeconds })
  })

/** The retry policy of an engine: the options' policy (or the default), the identifier's `max_retries`, then the options' `maxRetries`. */
const policyOf = (identifier: Identifier.Identifier, options: EngineOptions): RetryPolicy.RetryPolicy => {
  const policy = RetryPolicy.fromIdentifier(identifier, options.retry ?? RetryPolicy.defaultPolicy)
  return options.maxRetries === undefined ? policy : RetryPolicy.withFields(policy, { maxRetries: options.maxRetries })
}

/** Only a retried generation is rebuilt: building a Schema class costs more than the rest of the engine's work. */
const withAttempts = (generation: Generation, attempts: number): Generation =>
  attempts === 1 ? generation : new Generation({ ...generation, attempts }, { disableChecks: true })

/** Wraps a generator service in the engine: rate limiter, retry, attempts. */
export const make = (service: Service, options: EngineOptions = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const identifier = service.identifier
    const limits = limitsOf(identifier, options)
    const policy = policyOf(identifier, options)
    const { budget, limiter } = options.limiter === undefined && options.share !== false
      ? yield* acquireShared(keyOf(identifier), limits, policy.budget)
      : {
        limiter: options.limiter ?? (yield* RateLimiter.make(limits)),
        budget: policy.budget === null ? undefined : yield* RetryPolicy.makeBudget(policy.budget)
      }
    const retry = RetryPolicy.retry<GenerationError>(policy, {
      budget: policy.budget === null ? undefined : budget,
      onRetry: options.onRetry
    })
    const admit = options.admit ?? identity
    const run = <Request extends ChatRequest | CompletionRequest>(
      send: (request: Request) => Effect.Effect<Generation, GenerationError>
    ) =>
    (request: Request): Effect.Effect<Generation, GenerationError> =>
      Effect.suspend(() => {
        let attempts = 0
        const tokens = limiter.estimate(request)
        const attempt = AttemptCounter.use((counter) => {
          attempts++
          if (counter !== undefined) counter.count++
          return RateLimiter.limit(admit(send(request)), limiter, tokens)
        })
        return Effect.map(retry(attempt), (generation) => withAttempts(generation, attempts))
      })
    return {
      identifier,
      capabilities: service.capabilities,
      generate: run(service.generate),
      complete: run(service.complete)
    }
  })
