import { ClusterBatch, RowStore, SharedBudget } from "@capstan/cluster"
import { Dataset, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestRunner } from "effect/cluster"

const items = (n: number) =>
  Effect.runSync(
    Dataset.validate(Template.make("Say {word}"), Array.from({ length: n }, (_, i) => ({ id: `i${i}`, word: `w${i}` })))
  )

describe("ClusterBatch on the in-memory TestRunner", () => {
  it.effect("runs every chunk and gives one row per item, in order", () =>
    Effect.gen(function*() {
      const Job = ClusterBatch.make("echo")
      const runner = ClusterBatch.layer(Job)
      const { rows, summary } = yield* ClusterBatch.run(Job, items(30), {
        batchId: "b1",
        generator: "mock!echo",
        chunkSize: 7
      }).pipe(Effect.provide(runner))
      expect(rows.map((r) => r.id)).toEqual(items(30).map((i) => i.id))
      expect(rows.map((r) => r.index)).toEqual(items(30).map((_, i) => i))
      expect(summary.ok).toBe(30)
    }).pipe(
      Effect.provide(Layer.mergeAll(TestRunner.layer, RowStore.layerMemory, SharedBudget.layerMemory)),
      Effect.provide(MockGenerator.echo())
    ))
})
