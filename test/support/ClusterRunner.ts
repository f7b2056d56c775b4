/**
 * A runner process for the cluster tests and benchmarks: the `echo` job (no pipeline) and the `answer` job (parses
 * `<answer>` tags), on PostgreSQL, with the real providers registered. Configured by the environment:
 * `CAPSTAN_CLUSTER_URL` (required), `CAPSTAN_RUNNER_BUDGET` (`shared`, `local` or `split:N`),
 * `CAPSTAN_CHUNKS_AT_ONCE`; jobs `echo`, `answer` and `narrow`. Prints `ready <host:port>` on stdout once it has joined.
 *
 * ```sh
 * CAPSTAN_CLUSTER_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx test/support/ClusterRunner.ts
 * ```
 */
import { ClusterBatch, PostgresCluster } from "@capstan/cluster"
import { Model } from "@capstan/core"
import { Providers } from "@capstan/providers"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"

export const Echo = ClusterBatch.make("echo")
export const Answer = ClusterBatch.make("answer", { parse: Model.Answer })
/** Few items at once per chunk: with a slow generator, a batch lasts long enough to kill a runner in the middle. */
export const Narrow = ClusterBatch.make("narrow", { concurrency: 8 })

const budgetOf = (text: string | undefined): ClusterBatch.Budget => {
  const budget = ClusterBatch.budgetFromText(text ?? "shared")
  if (budget === undefined) throw new Error(`CAPSTAN_RUNNER_BUDGET: expected shared, local or split:N, got ${text}`)
  return budget
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env["CAPSTAN_CLUSTER_URL"]
  if (url === undefined) throw new Error("CAPSTAN_CLUSTER_URL is not set")
  const options = {
    budget: budgetOf(process.env["CAPSTAN_RUNNER_BUDGET"]),
    chunksAtOnce: Number(process.env["CAPSTAN_CHUNKS_AT_ONCE"] ?? 2)
  }
  const runner = Layer.mergeAll(
    ClusterBatch.layer(Echo, options),
    ClusterBatch.layer(Answer, options),
    ClusterBatch.layer(Narrow, options)
  ).pipe(
    Layer.provide(PostgresCluster.layerRunner({ url })),
    Layer.provide(Providers.layer)
  )
  NodeRuntime.runMain(
    Effect.scoped(
      Effect.andThen(
        Layer.build(runner),
        Effect.andThen(Effect.sync(() => process.stdout.write("ready\n")), Effect.never)
      )
    )
  )
}
