import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as ClusterExample from "../../examples/cluster-batch.js"

describe("cluster example", () => {
  it.effect("classifies every review through the in-memory cluster: rows in input order, one request each", () =>
    Effect.gen(function*() {
      const { rows, summary } = yield* ClusterExample.program("mock!demo")
      expect(rows.map((row) => row.id)).toEqual([0, 1, 2, 3, 4].map((i) => `review-${i}`))
      expect(rows.map((row) => row.parsed)).toEqual([
        { sentiment: "positive" },
        { sentiment: "negative" },
        { sentiment: "neutral" },
        { sentiment: "positive" },
        { sentiment: "neutral" }
      ])
      expect(summary).toMatchObject({ items: 5, rows: 5, ok: 5, attempts: 5 })
      expect((yield* TestConsole.logLines).map(String).at(-1)).toBe("5/5 rows ok, 5 requests")
    }).pipe(Effect.provide(ClusterExample.inMemory)))
})
