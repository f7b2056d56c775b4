/**
 * Mock generators for tests: provide one by Layer instead of a real provider, script its answers, make it
 * fail or slow on purpose, and assert on every request it received.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const program = Effect.gen(function*() {
 *   const chat = yield* Generator.chat("Hi")
 *   const requests = yield* MockGenerator.requests
 *   return [chat.last?.content, requests.length] // ["Hello!", 1]
 * }).pipe(Effect.provide(MockGenerator.fixed("Hello!")))
 * ```
 *
 * @since 0.1.0
 */
export * as MockGenerator from "./MockGenerator.js"
