import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as EngineShared from "../../examples/engine-shared-limiter.js"
import * as BatchParams from "../../examples/pipeline-batch-params.js"
import * as BatchParse from "../../examples/pipeline-batch-parse.js"
import * as CustomGenerator from "../../examples/pipeline-custom-generator.js"
import * as Identifiers from "../../examples/pipeline-identifiers.js"
import * as Parsed from "../../examples/pipeline-parsed.js"
import * as RunManyMap from "../../examples/pipeline-run-many-map.js"
import * as WithParams from "../../examples/pipeline-with-params.js"

const logged = Effect.map(TestConsole.logLines, (lines) => lines.map(String))

describe("pipeline examples", () => {
  it.effect("run-many with a batch-level map continues some chats and marks them", () =>
    Effect.gen(function*() {
      const chats = yield* RunManyMap.program
      expect(chats.map((c) => c.metadata.questioned ?? false)).toEqual([false, false, true])
      expect(chats[2]?.all.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"])
      expect(chats[2]?.all[2]?.text).toBe("Why did you pick that animal?")
      expect(yield* MockGenerator.calls).toBe(4)
      const lines = yield* logged
      expect(lines).toContain("--- Chat 3 (?: true) ---")
      expect(lines).toContain("--- Chat 1 (?: false) ---")
    }).pipe(Effect.provide(RunManyMap.mock)))

  it.effect("a batch parsed as CommaDelimitedAnswer, with recovery and skipped failures", () =>
    Effect.gen(function*() {
      const lists = yield* BatchParse.program
      expect(lists).toEqual([
        ["Leonardo da Vinci", "Vincent van Gogh", "Pablo Picasso"],
        ["Michael Jackson", "Beyonce", "The Beatles"]
      ])
      const requests = yield* MockGenerator.requests
      // painters once, musicians twice (one recovery), authors and hackers three times each before giving up
      expect(requests.length).toBe(1 + 2 + 3 + 3)
      for (const request of requests) {
        const messages = request._tag === "chat" ? request.messages : []
        expect(messages.filter((m) => m.role === "system").length).toBe(1)
      }
      const lines = yield* logged
      expect(lines.at(-1)).toBe("2 of 4 answers parsed; the others were skipped.")
      // painters answered at once (system, user, answer); musicians after one recovery round
      expect(lines.some((l) => l.startsWith("--- Chat 1 (3 messages, "))).toBe(true)
      expect(lines.some((l) => l.startsWith("--- Chat 2 (5 messages, "))).toBe(true)
    }).pipe(Effect.provide(BatchParse.mock)))

  it.effect("one input batched over five temperatures, each chat with its generator identifier", () =>
    Effect.gen(function*() {
      const chats = yield* BatchParams.program
      const expected = BatchParams.temperatures.map((t) => `mock!city-facts,temperature=${t}`)
      expect(chats.map((c) => c.generator)).toEqual(expected)
      expect(new Set(chats.map((c) => c.messages[0]?.text)).size).toBe(1)
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => r.params.temperature).sort()).toEqual(BatchParams.temperatures)
      const lines = yield* logged
      for (const identifier of expected) expect(lines).toContain(identifier)
    }).pipe(Effect.provide(BatchParams.mock)))

  it.effect("identifiers are printed back as parsed, and a chat records its generator's", () =>
    Effect.gen(function*() {
      const recorded = yield* Identifiers.program
      expect(recorded).toBe("mock!echo,max_tokens=50,temperature=0.2")
      const lines = yield* logged
      for (const text of Identifiers.identifiers) expect(lines).toContain(`${text}  ->  ${text}`)
      expect(lines.some((l) => l.includes("Invalid generator identifier \"mock!echo,temperature=hot\""))).toBe(true)
      expect(lines).toContain("in context: mock!echo,max_tokens=50")
    }).pipe(Effect.provide(Identifiers.mock)))

  it.effect("a custom generator registered under its own provider name", () =>
    Effect.gen(function*() {
      const chats = yield* CustomGenerator.program
      expect(chats.map((c) => c.last?.text)).toEqual(["HELLO!!", "CUSTOM PROVIDERS!!"])
      expect(chats.map((c) => c.generator)).toEqual([
        "shout!loud,suffix=!!,temperature=0",
        "shout!loud,suffix=!!,temperature=0"
      ])
      expect(chats[0]?.usage.outputTokens).toBe(7)
      expect(yield* logged).toEqual([
        "shout!loud,suffix=!!,temperature=0: HELLO!!",
        "shout!loud,suffix=!!,temperature=0: CUSTOM PROVIDERS!!"
      ])
    }).pipe(Effect.provide(CustomGenerator.mock)))

  it.effect("withParams in a loop leaves the pipeline unchanged", () =>
    Effect.gen(function*() {
      const haikus = yield* WithParams.program
      expect(new Set(haikus).size).toBe(3)
      const requests = yield* MockGenerator.requests
      expect(requests.map((r) => [r.params.temperature, r.params.maxTokens])).toEqual(
        WithParams.temperatures.map((t) => [t, 50])
      )
      expect(yield* logged).toContain("--- temperature 0.5 (mock!haiku,temperature=0.5,max_tokens=50) ---")
    }).pipe(Effect.provide(WithParams.mock)))

  it.effect("a typed pipeline: each chat's parsed is a Review; one that never parses is kept as a failed chat", () =>
    Effect.gen(function*() {
      const lines = yield* Parsed.program
      expect(lines).toEqual(["1. positive, 5 stars", "2. negative, 1 stars", "3. no rating (ExhaustedMaxRounds)"])
      // the third review was asked twice (maxRounds: 2), the others once
      expect(yield* MockGenerator.calls).toBe(4)
      expect(yield* logged).toEqual(lines)
    }).pipe(Effect.provide(Parsed.mock)))

  it.live("two generators of one model built with one engine share its limit", () =>
    Effect.gen(function*() {
      const offsets = yield* EngineShared.program
      expect(offsets.length).toBe(12)
      // ten a second with a burst of ten: the eleventh and twelfth wait for the refill, whichever generator sent them
      expect(offsets.filter((t) => t < 50).length).toBeLessThanOrEqual(10)
      expect(offsets.at(-1)!).toBeGreaterThanOrEqual(150)
      expect((yield* logged)[0]).toMatch(
        /^12 requests from 2 generators sharing one limit: the last started after \d+ ms$/
      )
    }).pipe(Effect.provide(TestConsole.layer)))
})
