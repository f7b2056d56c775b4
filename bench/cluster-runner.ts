/**
 * A runner process of the cluster bench (`bench/cluster.ts`): the `echo` job (the fake provider's echo, under the
 * runner's rate budget) and the `parse-heavy` job (a mock model answering each item with a JSON document of
 * {@link RECORDS} records, parsed and checked with a schema: CPU-bound work, no provider), on PostgreSQL.
 *
 *   CAPSTAN_CLUSTER_URL=postgres://… CAPSTAN_RUNNER_BUDGET=shared|local|split:N node --import tsx bench/cluster-runner.ts
 *   node --import tsx bench/cluster-runner.ts local 4000     # the parse-heavy job in one process, no cluster
 *
 * As a runner it prints `ready` once it has joined, then every {@link STATS_EVERY_MS} ms a line
 * `stats <json RunnerStats>`: its CPU, the HTTP requests it has in flight, its answered requests and the items whose
 * rows it wrote. With `local N` it runs the parse-heavy job over N items into a JSON Lines file and prints
 * `local <json LocalResult>`.
 */
import { ClusterBatch, PostgresCluster, RowStore } from "@capstan/cluster"
import { Batch, Dataset, Generator, Model, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Providers } from "@capstan/providers"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { subscribe } from "node:diagnostics_channel"
import { rmSync } from "node:fs"
import type { ClientRequest, IncomingMessage } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { itemOf, PROMPT_TEMPLATE } from "./internal/protocol.js"

/** How often a runner reports its figures. */
export const STATS_EVERY_MS = 50

/** What a runner reports about itself, cumulative since it started. */
export interface RunnerStats {
  readonly cpuMs: number
  /** HTTP requests sent and not answered yet (sockets to the provider; PostgreSQL is not HTTP). */
  readonly inFlight: number
  /** HTTP responses with status 200 (requests paid). */
  readonly answered: number
  /** Items whose rows this runner wrote (new rows only). */
  readonly written: number
}

/** The result of `local N`: the parse-heavy job through `Batch.stream` into a results file, in this process. */
export interface LocalResult {
  readonly items: number
  readonly ok: number
  readonly cpuMs: number
  readonly wallMs: number
}

/**
 * Records in each parse-heavy answer (`CAPSTAN_BENCH_RECORDS`, default 300: a 46 KB answer, about 1.9 ms of CPU to
 * decode and check on this bench's machine).
 */
export const RECORDS = Number(process.env["CAPSTAN_BENCH_RECORDS"] ?? 300)

const Doc = Schema.Struct({
  item: Schema.Int,
  records: Schema.Array(Schema.Struct({
    id: Schema.String,
    title: Schema.String,
    score: Schema.Finite,
    tags: Schema.Array(Schema.String),
    ok: Schema.Boolean
  }))
})

/** The records of every answer (the item number varies): built once, so the answer costs nothing to make. */
const records = JSON.stringify(
  Array.from({ length: RECORDS }, (_, i) => ({
    id: `r${i}`,
    title: `Record ${i}: the kettle boils in two minutes and the lid clicks shut`,
    score: i / 7,
    tags: ["kettle", "lid", `t${i % 11}`],
    ok: i % 3 !== 0
  }))
)

const lastUserText = (request: MockGenerator.RecordedRequest): string =>
  request._tag === "chat" ? request.messages.at(-1)?.text ?? "" : request.prompt

/** The mock model of the parse-heavy job: item n's answer is a JSON document with its number and the records. */
const parseHeavyModel = MockGenerator.layer((request) =>
  `Here it is:\n\`\`\`json\n{"item":${itemOf(lastUserText(request)) ?? -1},"records":${records}}\n\`\`\``
)

export const Echo = ClusterBatch.make("echo")
export const ParseHeavy = ClusterBatch.make("parse-heavy", { parse: Model.json(Doc) })

/** The parse-heavy job's generator, whatever the identifier: the mock model, built in this process. */
const mockGenerator = () =>
  Effect.map(Layer.build(parseHeavyModel), (context) => Context.get(context, Generator.Generator))

const budgetOf = (text: string | undefined): ClusterBatch.Budget => {
  const budget = ClusterBatch.budgetFromText(text ?? "shared")
  if (budget === undefined) throw new Error(`CAPSTAN_RUNNER_BUDGET: expected shared, local or split:N, got ${text}`)
  return budget
}

/** The bench's items: item n renders `Review n: …`, the prompt the fake provider echoes. */
export const benchItems = (n: number) =>
  Dataset.validate(Template.make(PROMPT_TEMPLATE), Array.from({ length: n }, (_, i) => ({ id: String(i), n: i })))

const runner = () => {
  const url = process.env["CAPSTAN_CLUSTER_URL"]
  if (url === undefined) throw new Error("CAPSTAN_CLUSTER_URL is not set")
  let inFlight = 0
  let answered = 0
  let written = 0
  // Every provider request goes through node:http (Capstan's transport): its diagnostics channels count them.
  const open = new WeakSet<ClientRequest>()
  subscribe("http.client.request.start", (message) => {
    open.add((message as { readonly request: ClientRequest }).request)
    inFlight++
  })
  const settle = (request: ClientRequest) => {
    if (open.delete(request)) inFlight--
  }
  subscribe("http.client.response.finish", (message) => {
    const { request, response } = message as { readonly request: ClientRequest; readonly response: IncomingMessage }
    settle(request)
    if (response.statusCode === 200) answered++
  })
  subscribe("http.client.request.error", (message) => settle((message as { readonly request: ClientRequest }).request))
  // The row store, counting the items whose rows this runner wrote.
  const countingStore = Layer.effect(
    RowStore.RowStore,
    Effect.map(RowStore.RowStore, (store) =>
      RowStore.RowStore.of({
        ...store,
        write: (batchId, rows, options) =>
          Effect.tap(store.write(batchId, rows, options), (count) =>
            Effect.sync(() => {
              written += count
            }))
      }))
  )
  const options = {
    budget: budgetOf(process.env["CAPSTAN_RUNNER_BUDGET"]),
    chunksAtOnce: Number(process.env["CAPSTAN_CHUNKS_AT_ONCE"] ?? 2)
  }
  const jobs = Layer.mergeAll(
    ClusterBatch.layer(Echo, options),
    ClusterBatch.layer(ParseHeavy, { ...options, budget: "local", generator: mockGenerator })
  ).pipe(
    Layer.provide(countingStore),
    Layer.provide(PostgresCluster.layerRunner({ url })),
    Layer.provide(Providers.layer)
  )
  const report = () => {
    const cpu = process.cpuUsage()
    const stats: RunnerStats = { cpuMs: (cpu.user + cpu.system) / 1000, inFlight, answered, written }
    process.stdout.write(`stats ${JSON.stringify(stats)}\n`)
  }
  NodeRuntime.runMain(
    Effect.scoped(Effect.gen(function*() {
      yield* Layer.build(jobs)
      process.stdout.write("ready\n")
      report()
      setInterval(report, STATS_EVERY_MS)
      return yield* Effect.never
    }))
  )
}

/**
 * The parse-heavy job in one process, keeping its rows as a local run does (`Batch.writeJsonl`, as `capstan batch`
 * writes its results file): what a runner's CPU per item is compared with.
 */
const local = (n: number) =>
  NodeRuntime.runMain(
    Effect.gen(function*() {
      const items = yield* benchItems(n)
      const file = join(tmpdir(), `capstan-bench-local-${process.pid}.jsonl`)
      // Measured warm, as the runners are (bench/cluster.ts runs a warm-up batch on them first).
      yield* Batch.stream(yield* benchItems(600), { parse: Model.json(Doc) }).pipe(
        Batch.writeJsonl(file),
        Effect.provide(parseHeavyModel)
      )
      let ok = 0
      const cpu = process.cpuUsage()
      const started = performance.now()
      yield* Batch.stream(items, { parse: Model.json(Doc) }).pipe(
        Stream.tap((row) =>
          Effect.sync(() => {
            if (row.error === undefined) ok++
          })
        ),
        Batch.writeJsonl(file),
        Effect.provide(parseHeavyModel)
      )
      const used = process.cpuUsage(cpu)
      rmSync(file, { force: true })
      const result: LocalResult = {
        items: n,
        ok,
        cpuMs: (used.user + used.system) / 1000,
        wallMs: performance.now() - started
      }
      process.stdout.write(`local ${JSON.stringify(result)}\n`)
    }).pipe(Effect.provide(NodeServices.layer))
  )

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === "local") local(Number(process.argv[3] ?? 1000))
  else runner()
}
