import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as PipelineTools from "../../examples/pipeline-tools.js"

const logged = Effect.map(TestConsole.logLines, (lines) => lines.map(String))

describe("tools example", () => {
  it.effect("three parallel weather calls, an unknown city fed back as an error result, then the answer", () =>
    Effect.gen(function*() {
      const answer = yield* PipelineTools.program
      expect(answer).toBe("Lyon is warmest at 21°C; Oslo has snow; I know no Atlantis.")
      expect(yield* MockGenerator.calls).toBe(2)
      const second = (yield* MockGenerator.requests)[1]!
      expect(second._tag === "chat" && second.messages.map((m) => m.role)).toEqual([
        "system",
        "user",
        "assistant",
        "tool"
      ])
      expect(second._tag === "chat" && second.tools?.map((t) => t.name)).toEqual(["weather"])
      const lines = yield* logged
      expect(lines).toEqual([
        `weather({"city":"Lyon"}) -> {"celsius":21,"sky":"sunny"}`,
        `weather({"city":"Oslo"}) -> {"celsius":4,"sky":"snow"}`,
        `weather({"city":"Atlantis"}) -> error {"_tag":"UnknownCity","city":"Atlantis"}`,
        "answer: Lyon is warmest at 21°C; Oslo has snow; I know no Atlantis.",
        expect.stringMatching(/^2 requests, \d+ tokens$/)
      ])
    }).pipe(Effect.provide(PipelineTools.mock)))
})
