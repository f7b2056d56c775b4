/**
 * `capstan batch --cluster postgres://...`: the checked batch is coordinated on a cluster instead of run here. The
 * items go in chunks to the runners (`capstan runner`), this process waits for every chunk, then writes the rows
 * from the cluster's row store to `--output` in input order, and prints the same summary (and ends with the same
 * exit code) as a local run.
 *
 * A batch is found again by its id: by default a digest of what defines the run (template, generator and params,
 * `n`, parse, id field) and of the input file's bytes, so the same command run again after a crash or Ctrl-C finds
 * the same chunks (de-duplicated by key) and rows (kept), and sends only what is missing.
 *
 * @internal
 */
import { ClusterBatch, PostgresCluster, RowStore } from "@capstan/cluster"
import { Batch, type BatchStopped, Identifier, Prices, type Usage } from "@capstan/core"
import { Clock, Console, Effect, FileSystem, Option, type Redacted, Ref, Stdio, Stream } from "effect"
import { Flag } from "effect/cli"
import { createHash } from "node:crypto"
import { ClusterError, InputError, ItemsFailed, RunStopped, UsageError } from "../Errors.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"
import * as Summary from "../Summary.js"
import type { BatchConfig } from "./batchArgs.js"
import * as ClusterJob from "./clusterJob.js"
import * as ClusterUrl from "./clusterUrl.js"
import * as Generators from "./generator.js"
import * as Lock from "./lock.js"
import * as Manifest from "./manifest.js"
import type * as Run from "./run.js"
import * as Shell from "./shell.js"

/** The flags `capstan batch` takes for a cluster run. */
export const flags = {
  cluster: Flag.Redacted("cluster").pipe(
    Flag.withDescription(
      "run the batch on a cluster of `capstan runner` processes: its PostgreSQL URL, e.g. postgres://capstan:PASSWORD@db.internal:5432/capstan (never printed with its password); the generator must hold no secret (runners take keys from their environment)"
    ),
    Flag.optional
  ),
  batchId: Flag.String("batch-id").pipe(
    Flag.withDescription(
      "with --cluster, the batch's id: the same id finds the same chunks and rows again (default: a digest of the template, generator, params, --n, --parse, --id-field and the input file)"
    ),
    Flag.optional
  ),
  chunkSize: Flag.Int("chunk-size").pipe(
    Flag.withDescription("with --cluster, items per chunk sent to a runner (default 250)"),
    Flag.filter((n) => n >= 1, (n) => `--chunk-size must be at least 1, got ${n}`),
    Flag.optional
  )
} as const

/** Flags that a cluster run does not take: the rows live in the cluster's store, and runners send in realtime. */
const localOnly = (config: BatchConfig): ReadonlyArray<string> => [
  ...(config.resume ? ["--resume"] : []),
  ...(config.retryFailed !== "all" ? ["--retry-failed"] : []),
  ...(config.force ? ["--force"] : []),
  ...(config.via !== undefined && config.via !== "realtime" ? ["--via"] : []),
  ...(config.cache !== undefined && config.cache !== "off" ? ["--cache"] : []),
  ...(config.cacheFile !== undefined && Option.isSome(config.cacheFile) ? ["--cache-file"] : [])
]

/**
 * The checks of the cluster flags, before anything else: `--batch-id`/`--chunk-size` need `--cluster`, the URL
 * must be a PostgreSQL one, and the flags of a local run that a cluster run cannot honour are refused.
 */
export const checkFlags = (config: BatchConfig): Effect.Effect<void, UsageError> =>
  Effect.gen(function*() {
    const cluster = config.cluster ?? Option.none()
    if (Option.isNone(cluster)) {
      const given = [
        ...(config.batchId !== undefined && Option.isSome(config.batchId) ? ["--batch-id"] : []),
        ...(config.chunkSize !== undefined && Option.isSome(config.chunkSize) ? ["--chunk-size"] : [])
      ]
      if (given.length > 0) {
        return yield* new UsageError({
          reason: `${given.join(" and ")} only apply with --cluster`,
          hint: "Add --cluster postgres://... to run the batch on a cluster of `capstan runner` processes"
        })
      }
      return
    }
    yield* ClusterUrl.check(cluster.value)
    const refused = localOnly(config)
    if (refused.length > 0) {
      return yield* new UsageError({
        reason: `${refused.join(", ")} cannot be used with --cluster`,
        hint:
          "A cluster batch keeps its rows in the cluster's database: run the same command again to finish it (only what is missing is sent); runners send in realtime, without the response cache"
      })
    }
    if (config.batchId !== undefined && Option.isSome(config.batchId) && config.batchId.value.trim().length === 0) {
      return yield* new UsageError({ reason: "--batch-id cannot be empty" })
    }
  })

/** The SHA-256 of a file's bytes, read as a stream. */
const fileDigest = (file: string): Effect.Effect<string, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const hash = createHash("sha256")
    yield* Stream.runForEach(fs.stream(file), (bytes) => Effect.sync(() => hash.update(bytes))).pipe(
      Effect.mapError((error) => new InputError({ file, reason: `cannot read the input: ${error.message}` }))
    )
    return hash.digest("hex")
  })

/** JSON with object keys sorted, so that the digest of a definition does not depend on key order. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === "object" && inner !== null && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner) ?? ""

/**
 * The default batch id: a digest of what defines the run and of the input's bytes (engine settings such as rpm or
 * concurrency, and the chunk size, are not part of it: changing them finds the same rows).
 */
export const defaultBatchId = (
  definition: Manifest.Definition,
  input: string
): Effect.Effect<string, InputError, FileSystem.FileSystem> =>
  Effect.map(
    fileDigest(input),
    (inputDigest) =>
      `capstan-${createHash("sha256").update(canonical({ definition, input: inputDigest })).digest("hex").slice(0, 24)}`
  )

/** The batch id of a run: `--batch-id`, else {@link defaultBatchId}. */
export const batchIdOf = (config: BatchConfig, definition: Manifest.Definition) =>
  config.batchId !== undefined && Option.isSome(config.batchId)
    ? Effect.succeed(config.batchId.value)
    : defaultBatchId(definition, config.input)

/** The generator identifier sent with each chunk: refused, before anything connects, when it holds a secret. */
const chunkGenerator = (identifier: Identifier.Identifier) => {
  const text = Identifier.format(identifier, { secrets: "show" })
  return Generators.withProviders(ClusterBatch.checkGenerator(text)).pipe(
    Effect.as(text),
    Effect.catchTag("SecretInGenerator", (error) =>
      Effect.fail(
        new UsageError({
          reason:
            `--generator ${error.generator} holds a secret, which would be stored in the cluster's database with every chunk`,
          hint:
            "Remove it from the identifier and set the key in each runner's environment instead (e.g. OPENAI_API_KEY)"
        })
      )),
    Effect.catchTag("InvalidIdentifier", (error) => Effect.fail(new UsageError({ reason: error.message })))
  )
}

/** An error of the cluster, as the command reports it (its message says what to do). */
export const clusterError = (error: { readonly message: string }) =>
  Effect.fail(new ClusterError({ reason: error.message }))

/** The lines a dry run with `--cluster` adds: where the batch would go, and its chunks. */
export const describe = (options: {
  readonly config: BatchConfig
  readonly url: Redacted.Redacted<string>
  readonly items: number
  readonly definition: Option.Option<Manifest.Definition>
}) =>
  Effect.gen(function*() {
    const chunkSize = Option.getOrUndefined(options.config.chunkSize ?? Option.none())
    const chunks = ClusterBatch.chunkCount(options.items, chunkSize)
    const batchId = Option.isSome(options.definition)
      ? yield* batchIdOf(options.config, options.definition.value)
      : "(chosen with the generator)"
    yield* Console.log(
      `On the cluster at ${ClusterUrl.masked(options.url)}: batch ${batchId}, ${chunks} chunk${
        chunks === 1 ? "" : "s"
      }. Nothing was sent.`
    )
  })

/**
 * Coordinates a checked batch on the cluster: sends its chunks, reports each one answered, then writes the rows to
 * the results file in input order and prints the summary. An existing results file is replaced only when it holds
 * this same run (its manifest says so) or with `--overwrite`.
 */
export const coordinate = (options: {
  readonly config: BatchConfig
  readonly url: Redacted.Redacted<string>
  readonly identifier: Identifier.Identifier
  readonly n: number
  readonly ids: ReadonlyArray<string>
  readonly items: Run.Source
  readonly definition: Manifest.Definition
  readonly price: Usage.PerMillion | undefined
}) =>
  Effect.gen(function*() {
    const { config, definition, identifier, url } = options
    const generator = yield* chunkGenerator(identifier)
    const settings: ClusterJob.Settings = {
      parse: Option.isSome(config.parse) ? yield* ClusterJob.parseSettingOf(config.parse.value) : null,
      concurrency: Option.getOrNull(config.concurrency)
    }
    const batchId = yield* batchIdOf(config, definition)
    const chunkSize = Option.getOrUndefined(config.chunkSize ?? Option.none())
    const fs = yield* FileSystem.FileSystem
    const stdio = yield* Stdio.Stdio
    const writeErr = (text: string) => Stream.make(text).pipe(Stream.run(stdio.stderr()), Effect.ignore)

    yield* Lock.acquire(config.output)
    const existing = yield* fs.stat(config.output).pipe(
      Effect.map((info) => Number(info.size) > 0),
      Effect.orElseSucceed(() => false)
    )
    if (existing && !config.overwrite) {
      const recorded = yield* Manifest.read(config.output)
      const same = Option.isSome(recorded) && Manifest.differences(recorded.value, definition).length === 0
      if (!same) {
        return yield* new InputError({
          file: config.output,
          reason: "the results file already exists, written by another run",
          hint: "Pass --overwrite to replace it with this cluster batch's rows, or write to another --output"
        })
      }
    }

    const total = options.ids.length * options.n
    const chunks = ClusterBatch.chunkCount(options.ids.length, chunkSize)
    const startedAt = yield* Clock.currentTimeMillis
    const answered = yield* Ref.make({ chunks: 0, items: 0 })
    const cluster = PostgresCluster.layerClient({ url })

    const program = Effect.gen(function*() {
      const store = yield* RowStore.RowStore
      const before = yield* store.count(batchId)
      yield* writeErr(
        `capstan: batch ${batchId}: ${total} rows from ${options.ids.length} items in ${chunks} chunk${
          chunks === 1 ? "" : "s"
        } to ${Identifier.format(identifier)} on the cluster at ${ClusterUrl.masked(url)} -> ${config.output}\n${
          before.items > 0
            ? `capstan: ${before.items} items already have their rows in the cluster (an earlier run of this batch); only the rest is sent\n`
            : ""
        }`
      )
      const onChunk = (done: ClusterBatch.ChunkProgress) =>
        Ref.updateAndGet(answered, (s) => ({ chunks: s.chunks + 1, items: s.items + done.items })).pipe(
          Effect.flatMap((s) =>
            writeErr(
              `chunk ${done.chunk + 1} answered: ${done.written} rows written${
                done.skipped > 0 ? `, ${done.skipped} items already done` : ""
              } (${s.chunks}/${chunks} chunks, ${s.items}/${options.ids.length} items)\n`
            )
          )
        )
      const items = Stream.map(options.items(() => true), (entry) => entry.item)
      const stopped = yield* ClusterBatch.stream(ClusterJob.Job, items, {
        batchId,
        generator,
        settings,
        chunkSize,
        onChunk
      }).pipe(
        Stream.runDrain,
        Effect.as(Option.none<BatchStopped>()),
        Effect.catchTag("BatchStopped", (stopped) => Effect.succeed(Option.some(stopped))),
        Effect.onInterrupt(() =>
          writeErr(
            `\nInterrupted: the chunks already sent keep running on the runners. Run the same command again to collect the rows of batch ${batchId}\n`
          )
        )
      )
      // Every chunk answered (or one stopped): the rows are read back from the store in input order, into a file
      // next to the results file that replaces it once complete.
      const tracker = yield* Progress.make({ total, skipped: 0, startedAt })
      const writing = `${config.output}.cluster`
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* Output.open(writing, { mode: "overwrite" })
        yield* Stream.runForEach(store.rows(batchId), (row) =>
          sink.append(Batch.toJsonLine(row)).pipe(
            Effect.andThen(tracker.record(row)),
            Effect.andThen(row.choice === 0 ? tracker.answered : Effect.void)
          ))
      }))
      return { stopped, tracker }
    })

    const { stopped, tracker } = yield* Generators.withProviders(Effect.provide(program, cluster)).pipe(
      Effect.catchTags({
        ChunkFailed: clusterError,
        ClusterUnavailable: clusterError,
        ClusterSetupError: clusterError,
        RowStoreError: clusterError,
        SecretInGenerator: clusterError,
        InvalidIdentifier: clusterError
      })
    )
    yield* fs.rename(`${config.output}.cluster`, config.output).pipe(
      Effect.mapError((error) =>
        new InputError({ file: config.output, reason: `cannot write the results file: ${error.message}` })
      )
    )
    yield* Manifest.write(config.output, definition)

    const snapshot = yield* tracker.snapshot
    const builtInPrice = Prices.lookup(identifier.provider, identifier.model)
    const price = options.price ?? builtInPrice
    yield* Console.log(Summary.format({
      snapshot,
      endedAt: yield* Clock.currentTimeMillis,
      output: config.output,
      price,
      builtInPrice: options.price === undefined && builtInPrice !== undefined,
      interrupted: false,
      stopped: Option.isSome(stopped)
    }))
    yield* Console.log(Shell.reportHint(config.output))
    if (Option.isSome(stopped)) {
      yield* Console.error(
        `\nTo finish once the cause is fixed, run the same command again: the rows of batch ${batchId} are kept`
      )
      return yield* new RunStopped({ reason: stopped.value.message })
    }
    if (snapshot.failed > 0) return yield* new ItemsFailed({ failed: snapshot.failed, total: Progress.done(snapshot) })
  })
