import { ClusterBatch, RowStore, SharedBudget } from "@capstan/cluster"
import { Dataset, Generator, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
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

  it.live("a runner's chunksAtOnce holds across all its chunks (its state is per runner, not per chunk)", () =>
    Effect.gen(function*() {
      let open = 0
      let peak = 0
      // A model that notes how many of its calls overlap: with one chunk at once and one item at a time, never two.
      const model = MockGenerator.layer(() =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            peak = Math.max(peak, ++open)
          }),
          () => Effect.as(Effect.sleep("2 millis"), "ok"),
          () => Effect.sync(() => open--)
        )
      )
      const Job = ClusterBatch.make("overlap", { concurrency: 1 })
      const runner = ClusterBatch.layer(Job, {
        chunksAtOnce: 1,
        generator: () => Effect.map(Layer.build(model), (context) => Context.get(context, Generator.Generator))
      })
      const { summary } = yield* ClusterBatch.run(Job, items(24), {
        batchId: "b2",
        generator: "mock!overlap",
        chunkSize: 4
      }).pipe(Effect.provide(runner))
      expect(summary.ok).toBe(24)
      expect(peak).toBe(1)
    }).pipe(Effect.provide(Layer.mergeAll(TestRunner.layer, RowStore.layerMemory, SharedBudget.layerMemory))))
})
