/**
 * Shared set-up of the provider tests: a generator built from an identifier with `Providers.layer` and a
 * `ConfigProvider` standing in for the environment (never the real one), plus the fault table.
 */
import { GenerateParams, type GenerationError, Generator, GeneratorRegistry, Message } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schedule, type Scope } from "effect"
import { FakeProvider, type FakeProviderServer, type FaultKind } from "../support/FakeProvider.js"

/**
 * The provider's own generator for `identifier` (with the identifier's params as base params), with `env` as
 * the only environment. It is NOT run through the batch engine, so every request the server sees was sent by
 * the provider itself: no engine retry or pacing can hide or add one.
 */
export const generatorFor = (
  identifier: string,
  env: Record<string, string> = {}
): Effect.Effect<Generator.Service, GeneratorRegistry.GeneratorInitError, Scope.Scope> =>
  Effect.gen(function*() {
    const parsed = yield* GeneratorRegistry.parse(identifier)
    const provider = (yield* GeneratorRegistry.providers).find((p) => p.name === parsed.provider)
    if (provider === undefined) return yield* Effect.die(`no provider ${parsed.provider}`)
    return Generator.withBaseParams(yield* provider.make(parsed))
  }).pipe(Effect.provide(Layer.mergeAll(Providers.layer, ConfigProvider.layer(ConfigProvider.fromUnknown(env)))))

/** One chat request. */
export const chatRequest = (content: string, params: GenerateParams.Fields = {}) => ({
  messages: [Message.user(content)],
  params: GenerateParams.make(params)
})

/** What a fault must become: its tag, whether the engine may retry it, and the HTTP status it carries. */
export interface Expected {
  readonly tag: GenerationError["_tag"]
  readonly retryable: boolean
  readonly status?: number
}

/** The fault kinds of the fake server and the typed error each maps to (the same for both SDKs). */
export const faultTable: ReadonlyArray<readonly [FaultKind, Expected]> = [
  ["rate-limit", { tag: "RateLimited", retryable: true }],
  ["quota", { tag: "QuotaExceeded", retryable: false, status: 429 }],
  ["server-error", { tag: "ServerError", retryable: true, status: 500 }],
  ["unavailable", { tag: "Overloaded", retryable: true, status: 503 }],
  ["overloaded", { tag: "Overloaded", retryable: true, status: 529 }],
  ["bad-request", { tag: "InvalidRequest", retryable: false, status: 400 }],
  ["unauthorized", { tag: "AuthenticationError", retryable: false, status: 401 }],
  ["forbidden", { tag: "AuthenticationError", retryable: false, status: 403 }],
  ["not-found", { tag: "InvalidRequest", retryable: false, status: 404 }],
  ["too-large", { tag: "InvalidRequest", retryable: false, status: 413 }],
  ["context-length", { tag: "ContextLengthExceeded", retryable: false }],
  ["content-filter", { tag: "ContentFiltered", retryable: false }],
  ["reset", { tag: "ConnectionError", retryable: true }],
  ["reset-after-headers", { tag: "ConnectionError", retryable: true }],
  ["truncated", { tag: "MalformedResponse", retryable: true }],
  ["malformed", { tag: "MalformedResponse", retryable: true }],
  ["hang", { tag: "Timeout", retryable: true }]
]

/**
 * Every fault of the fake server, through a provider's generator: its typed error, `retryable` right, after
 * exactly one request (no hidden SDK retry).
 */
export const describeFaults = (
  provider: string,
  build: (server: FakeProviderServer) => Effect.Effect<Generator.Service, unknown, Scope.Scope>
) =>
  describe("every fault maps to its typed error, after exactly one request", () => {
    for (const [fault, expected] of faultTable) {
      it.live(fault, () =>
        Effect.gen(function*() {
          const server = yield* FakeProvider.scoped()
          server.failNext(fault)
          const generator = yield* build(server)
          const error = yield* Effect.flip(generator.generate(chatRequest("hi", { timeout: 0.3 })))
          assert.strictEqual(error._tag, expected.tag, error.message)
          assert.strictEqual(error.retryable, expected.retryable)
          assert.strictEqual(error.provider, provider)
          assert.strictEqual(statusOf(error), expected.status)
          assert.strictEqual(server.stats.requests, 1)
          assert.strictEqual(server.requests[0]!.headers["x-stainless-retry-count"], "0")
          if (error._tag === "RateLimited") assert.strictEqual(error.retryAfterMs, 1000)
          if (error._tag === "Timeout") assert.strictEqual(error.timeoutMs, 300)
        }))
    }
  })

/** Reads an optional `status` off any generation error. */
export const statusOf = (error: GenerationError): number | undefined => "status" in error ? error.status : undefined

/** Waits (real time, up to 2 s) until `condition` holds; dies if it never does. */
export const eventually = (condition: () => boolean) =>
  Effect.suspend(() => condition() ? Effect.void : Effect.fail("condition never held")).pipe(
    Effect.retry({ schedule: Schedule.spaced("5 millis"), times: 400 }),
    Effect.orDie
  )
