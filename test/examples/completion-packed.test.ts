import { Prices, Template, Usage } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as Packed from "../../examples/completion-packed.js"

const promptOf = (flips: string) => Template.renderText(Packed.template, { flips })

describe("completion-packed example", () => {
  it.effect("ten prompts in three requests, rows one per prompt and choice, usage and cost of the requests", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* Packed.program

      // three requests of at most four prompts, every prompt sent once
      const requests = yield* MockGenerator.requests
      expect(yield* MockGenerator.calls).toBe(3)
      const byCall = [1, 2, 3].map((call) => requests.filter((r) => r.call === call))
      expect(byCall.map((pack) => pack.length)).toEqual([4, 4, 2])
      expect(requests.map((r) => (r._tag === "completion" ? r.prompt : "")).sort()).toEqual(
        Packed.sequences.map((s) => promptOf(s.flips)).sort()
      )

      // one row per prompt and choice, each answering its own prompt
      expect(rows.map((r) => [r.id, r.choice])).toEqual(Packed.sequences.flatMap((s) => [[s.id, 0], [s.id, 1]]))
      for (const row of rows) {
        const flips = Packed.sequences.find((s) => s.id === row.id)!.flips
        expect(row.output).toBe(Packed.continuation(promptOf(flips), row.choice))
      }

      // usage: what the three requests used, shared out; each request counted once; priced at the list price
      const used = Packed.sequences.reduce((sum, s) => {
        const prompt = promptOf(s.flips)
        const outputs = [0, 1].map((choice) => MockGenerator.estimateTokens(Packed.continuation(prompt, choice)))
        return sum + MockGenerator.estimateTokens(prompt) + outputs[0]! + outputs[1]!
      }, 0)
      expect(summary.usage.totalTokens).toBe(used)
      expect(summary.attempts).toBe(3)
      expect(rows.filter((r) => r.attempts > 0).map((r) => (r.metadata?.["packed"] as { position: number }).position))
        .toEqual([0, 0, 0])
      const price = Prices.lookup("openai", "gpt-3.5-turbo-instruct")!
      expect(summary.cost).toBeCloseTo(Usage.cost(summary.usage, price))

      const lines = (yield* TestConsole.logLines).map(String)
      expect(lines[0]).toMatch(/^s0  #0  H +-> [HT] [HT] [HT]  \[prompt 1 of 4, \d+ in \+ \d+ out\]$/)
      expect(lines.at(-1)).toBe(
        `\n20 rows from 10 prompts in 3 requests; ${summary.usage.inputTokens} input + ` +
          `${summary.usage.outputTokens} output tokens; cost $${
            summary.cost!.toFixed(6)
          } (list prices as of ${Prices.asOf})`
      )
    }).pipe(Effect.provide(Packed.mock)))
})
