/**
 * Mock generators for tests (exported from `@capstan/core/testing`).
 *
 * Every layer provides both the `Generator` and a `MockGenerator` recorder, so a test can run a pipeline
 * and then assert on exactly what was sent.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, Result } from "effect"
import type * as Errors from "./Errors.js"
import { type Capabilities, Generator, withBaseParams } from "./Generator.js"
import * as Identifier from "./Identifier.js"
import * as Mock from "./internal/mock.js"

/**
 * A request as the mock saw it: `_tag` is `"chat"` (with `messages`) or `"completion"` (with `prompt`),
 * `call` counts from 1, and `params` are the merged params of the request. A mock answers packed completion
 * requests (`completeMany`) too, calling the script once per prompt: each prompt is recorded with the request's
 * `call` and its place in the pack (`packed: { prompts, position }`); a failure fails the whole pack. Declare
 * `capabilities: { maxPromptsPerRequest: 1 }` for a mock that packs nothing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const sent = (request: MockGenerator.RecordedRequest) =>
 *   request._tag === "chat" ? request.messages.map((m) => m.text).join("\n") : request.prompt
 * const texts = MockGenerator.MockGenerator.use((m) => Effect.map(m.requests, (requests) => requests.map(sent)))
 * ```
 * @since 0.1.0
 */
export type RecordedRequest = Mock.RecordedRequest

/**
 * What a script may answer: a text, one text per choice, a `Generation`, or an Effect of those (which may
 * fail with a typed generation error).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Overloaded } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const replies: ReadonlyArray<MockGenerator.Reply> = [
 *   Effect.fail(new Overloaded({ provider: "mock", detail: "busy", status: 529 })),
 *   "<answer>42</answer>"
 * ]
 * const layer = MockGenerator.replies(replies) // call 1 fails with Overloaded, call 2 answers
 * ```
 * @since 0.1.0
 */
export type Reply = Mock.Reply

/**
 * A function of the request that answers it.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const script: MockGenerator.Script = (request) => (request.call === 1 ? "not a number" : "<answer>42</answer>")
 * const layer = MockGenerator.layer(script)
 * ```
 * @since 0.1.0
 */
export type Script = Mock.Script

/**
 * The recorder of a mock generator.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const calls = Effect.gen(function*() {
 *   yield* Generator.chat("Hi")
 *   const recorder: MockGenerator.Recorder = yield* MockGenerator.MockGenerator
 *   return yield* recorder.calls // 1
 * }).pipe(Effect.provide(MockGenerator.echo()))
 * ```
 * @since 0.1.0
 */
export interface Recorder {
  /** Every request received so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** How many requests were received (a packed request counts once). */
  readonly calls: Effect.Effect<number>
}

/**
 * The recorder in context, provided by every layer of this module.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const count = MockGenerator.MockGenerator.use((m) => m.calls)
 * ```
 * @since 0.1.0
 */
export class MockGenerator extends Context.Service<MockGenerator, Recorder>()("@capstan/core/testing/MockGenerator") {}

/**
 * Options shared by every mock layer.
 *
 * @example
 * ```ts
 * import { RateLimited } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const options: MockGenerator.Options = {
 *   identifier: "mock!flaky,temperature=0",
 *   delay: "50 millis",
 *   fail: new RateLimited({ provider: "mock", detail: "slow down" }),
 *   failEvery: 3
 * }
 * const layer = MockGenerator.echo(options)
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** The identifier the generator reports (params in it become base params). Default `mock!<kind>`. */
  readonly identifier?: string
  /** Latency of every call (virtual time under `TestClock`). */
  readonly delay?: Duration.Input
  /** Fail with this error... */
  readonly fail?: Errors.GenerationError | ((call: number) => Errors.GenerationError)
  /** ...on every `failEvery`-th call (1 = always, the default when `fail` is set). */
  readonly failEvery?: number
  /** What the generator declares, e.g. `{ maxChoices: 1 }` to behave like a provider that answers one choice per request. */
  readonly capabilities?: Capabilities
}

const parseIdentifier = (text: string): Identifier.Identifier => {
  const provider = text.includes("!") ? text.slice(0, text.indexOf("!")) : "mock"
  const result = Identifier.parseWith([{ name: provider, settings: {}, models: /.*/ }])(text)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * A mock generator layer answering with a script.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.layer((request) => request._tag === "chat" ? `${request.messages.length} messages` : "")
 * const answer = Generator.chat("Hi").pipe(Effect.provide(layer))
 * ```
 * @since 0.1.0
 */
export const layer = (script: Script, options: Options = {}): Layer.Layer<Generator | MockGenerator> =>
  Layer.unwrap(Effect.sync(() => {
    const requests: Array<RecordedRequest> = []
    const fail = options.fail
    const every = options.failEvery ?? 1
    const service = Mock.make(parseIdentifier(options.identifier ?? "mock!script"), {
      script,
      delay: options.delay,
      failure: fail === undefined
        ? undefined
        : (call) => (call % every === 0 ? (typeof fail === "function" ? fail(call) : fail) : undefined),
      record: (request) => requests.push(request),
      capabilities: options.capabilities
    })
    return Layer.mergeAll(
      Layer.succeed(Generator, withBaseParams(service)),
      Layer.succeed(MockGenerator, {
        requests: Effect.sync(() => [...requests]),
        // The prompts of a packed request are recorded one by one, with one call number.
        calls: Effect.sync(() => new Set(requests.map((r) => r.call)).size)
      })
    )
  }))

/**
 * Always answers the same text.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.fixed("42")
 * ```
 * @since 0.1.0
 */
export const fixed = (text: string, options: Options = {}): Layer.Layer<Generator | MockGenerator> =>
  layer(() => text, { identifier: "mock!fixed", ...options })

/**
 * Answers with the last user message (or the prompt of a completion).
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.echo()
 * ```
 * @since 0.1.0
 */
export const echo = (options: Options = {}): Layer.Layer<Generator | MockGenerator> =>
  layer(Mock.lastText, { identifier: "mock!echo", ...options })

/**
 * Answers call `i` with `replies[i]`, cycling when the list runs out.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.replies(["not a number", "<answer>42</answer>"])
 * ```
 * @since 0.1.0
 */
export const replies = (list: ReadonlyArray<Reply>, options: Options = {}): Layer.Layer<Generator | MockGenerator> => {
  if (list.length === 0) throw new Error("MockGenerator.replies needs at least one reply")
  return layer((request) => list[(request.call - 1) % list.length]!, { identifier: "mock!replies", ...options })
}

/**
 * A tool call a mock answer makes (`callTools`, `toolRounds`): the tool's name, its input (default `{}`), and its
 * id (default `call_<round>_<i>`).
 *
 * @example
 * ```ts
 * import type { MockGenerator } from "@capstan/core/testing"
 *
 * const call: MockGenerator.ToolCall = { name: "weather", input: { city: "Lyon" } }
 * ```
 * @since 0.4.0
 */
export type ToolCall = Mock.ToolCallReply

/**
 * A reply that calls tools, for any script (`replies`, `fn`, `layer`): an answer with these calls (stop reason
 * `tool_calls`), after `text` if given.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.replies([MockGenerator.callTools([{ name: "weather", input: { city: "Lyon" } }]), "Warm."])
 * ```
 * @since 0.4.0
 */
export const callTools = (calls: ReadonlyArray<ToolCall>, text?: string): Reply => Mock.toolCallsGeneration(calls, text)

/**
 * A mock for tool loops (`ChatPipeline.using`): each conversation is answered by the step of `rounds` at its
 * number of tool results so far, so concurrent chats each follow the script. A step is the tool calls of an answer,
 * or the text of the final one; past the end, the last step answers again (a list of calls there makes a loop that
 * reaches `maxDepth`).
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * // first answer: two parallel calls; after their results: a text answer
 * const layer = MockGenerator.toolRounds([
 *   [{ name: "weather", input: { city: "Lyon" } }, { name: "weather", input: { city: "Oslo" } }],
 *   "Lyon is warmer."
 * ])
 * ```
 * @since 0.4.0
 */
export const toolRounds = (
  rounds: ReadonlyArray<ReadonlyArray<ToolCall> | string>,
  options: Options = {}
): Layer.Layer<Generator | MockGenerator> => {
  if (rounds.length === 0) throw new Error("MockGenerator.toolRounds needs at least one step")
  return layer((request) => {
    const round = Mock.toolRoundOf(request)
    const step = rounds[Math.min(round, rounds.length - 1)]!
    return typeof step === "string" ? step : Mock.toolCallsGeneration(step, "", round)
  }, { identifier: "mock!tools", ...options })
}

/**
 * Answers with a function of the messages (or prompt) and the merged params.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const layer = MockGenerator.fn((text, params) => `t=${params.temperature ?? "default"}: ${text}`)
 * ```
 * @since 0.1.0
 */
export const fn = (
  f: (text: string, params: RecordedRequest["params"], request: RecordedRequest) => Reply,
  options: Options = {}
): Layer.Layer<Generator | MockGenerator> =>
  layer((request) => f(Mock.lastText(request), request.params, request), { identifier: "mock!fn", ...options })

/**
 * Fails with `error` on every call, or on every `every`-th call (answering `otherwise`, echo by default,
 * in between).
 *
 * @example
 * ```ts
 * import { ServerError } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const flaky = MockGenerator.failing(new ServerError({ provider: "mock", detail: "boom", status: 500 }), { every: 3 })
 * ```
 * @since 0.1.0
 */
export const failing = (
  error: Errors.GenerationError | ((call: number) => Errors.GenerationError),
  options: Options & { readonly every?: number; readonly otherwise?: Script } = {}
): Layer.Layer<Generator | MockGenerator> =>
  layer(options.otherwise ?? Mock.lastText, {
    identifier: "mock!failing",
    ...options,
    fail: error,
    failEvery: options.every ?? 1
  })

/**
 * Answers like `script` (echo by default) after `delay`. Under `TestClock` the delay is virtual.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const slow = MockGenerator.delayed("2 seconds")
 * ```
 * @since 0.1.0
 */
export const delayed = (
  delay: Duration.Input,
  script: Script = Mock.lastText,
  options: Options = {}
): Layer.Layer<Generator | MockGenerator> => layer(script, { identifier: "mock!delayed", ...options, delay })

/**
 * The requests received so far by the mock in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const program = Effect.gen(function*() {
 *   yield* Generator.chat("Hi", { temperature: 0.3 })
 *   const [request] = yield* MockGenerator.requests
 *   return request?.params.temperature // 0.3
 * }).pipe(Effect.provide(MockGenerator.echo()))
 * ```
 * @since 0.1.0
 */
export const requests: Effect.Effect<ReadonlyArray<RecordedRequest>, never, MockGenerator> = MockGenerator.use((m) =>
  m.requests
)

/**
 * How many requests the mock in context received.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * const n = MockGenerator.calls
 * ```
 * @since 0.1.0
 */
export const calls: Effect.Effect<number, never, MockGenerator> = MockGenerator.use((m) => m.calls)

/**
 * A rough token count (four characters a token), as the mocks report usage.
 *
 * @example
 * ```ts
 * import { MockGenerator } from "@capstan/core/testing"
 *
 * MockGenerator.estimateTokens("12345678") // 2
 * ```
 * @since 0.1.0
 */
export const estimateTokens = Mock.estimateTokens
