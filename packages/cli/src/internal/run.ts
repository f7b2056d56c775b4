/**
 * Running a checked batch: rows streamed into the results file as they complete, progress on stderr, the
 * summary at the end; and Ctrl-C handled so that nothing finished is lost. Also the dry run, which shows the
 * same plan and sends nothing.
 *
 * @internal
 */
import {
  Batch,
  type BatchStopped,
  Generator,
  type GeneratorRegistry,
  Identifier,
  type InvalidParams,
  Message,
  type Model,
  Prices,
  ProviderBatch,
  ResponseCache,
  type ResponseCacheError,
  type Usage
} from "@capstan/core"
import { SqliteStore } from "@capstan/providers"
import {
  Clock,
  Console,
  Context,
  Effect,
  Exit,
  Fiber,
  type FileSystem,
  Layer,
  Option,
  type Path,
  Schedule,
  Stdio,
  Stream
} from "effect"
import type * as Scope from "effect/Scope"
import { InputError, ItemsFailed, type OutputLocked, type RunChanged, RunStopped } from "../Errors.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"
import * as Summary from "../Summary.js"
import * as Generators from "./generator.js"
import type * as Items from "./items.js"
import * as Lock from "./lock.js"
import * as Manifest from "./manifest.js"
import * as Shell from "./shell.js"
import * as Signals from "./signals.js"

/**
 * Which failed rows a resumed run sends again: every one (`all`, the default), those whose error a retry may
 * cure (`retryable`: rate limits, 5xx, timeouts, ...), or none (failures are kept as they are).
 */
export type RetryFailed = "none" | "retryable" | "all"

/** Where the rows go and what is already there. */
export interface Target {
  readonly output: string
  /** Keep the rows already in `output` and send only what is missing (and the failed rows `retryFailed` says). */
  readonly resume: boolean
  /** Replace an existing `output` (otherwise an existing, non-empty one is an error). */
  readonly overwrite: boolean
  readonly retryFailed: RetryFailed
  /** Resume even if the run recorded next to `output` differs from this one, and record this one. */
  readonly force: boolean
}

/** How long in-flight requests may take to finish after Ctrl-C. */
const GRACE = "10 seconds"

const nothingRecorded: Output.Recorded = { statuses: new Map(), rows: 0, droppedTornRow: false }

const recordedIn = (target: Target, repair: boolean) =>
  target.resume ? Output.recorded(target.output, { repair }) : Effect.succeed(nothingRecorded)

/** Whether an item's choice is sent: it has no row, or a failed one that `retryFailed` sends again. */
const sends = (status: Output.RowStatus | undefined, retryFailed: RetryFailed): boolean =>
  status === undefined || (!status.ok && (retryFailed === "all" || (retryFailed === "retryable" && status.retryable)))

/** The items (and rows) a run must still send: every choice, less those the results file already settles. */
const plan = (ids: ReadonlyArray<string>, n: number, recorded: Output.Recorded, retryFailed: RetryFailed) => {
  const isSent = (id: string, choice: number) => sends(recorded.statuses.get(Output.keyOf(id, choice)), retryFailed)
  const missing = (id: string): number => {
    let count = 0
    for (let choice = 0; choice < n; choice++) if (isSent(id, choice)) count++
    return count
  }
  let pending = 0
  let total = 0
  let skipped = 0
  for (const id of ids) {
    const rows = missing(id)
    skipped += n - rows
    if (rows === 0) continue
    pending++
    total += rows
  }
  return { pending, total, skipped, isPending: (id: string) => missing(id) > 0, isSent }
}

/**
 * The rows of the results file, kept up to date as the run replaces and adds rows, so the summary and the exit
 * code describe the whole file.
 */
const tallyOf = (recorded: Output.Recorded) => {
  const statuses = new Map(recorded.statuses)
  let ok = 0
  const failedByKind: Record<string, number> = {}
  const count = (status: Output.RowStatus, by: number) => {
    if (status.ok) ok += by
    else failedByKind[status.kind ?? "unknown"] = (failedByKind[status.kind ?? "unknown"] ?? 0) + by
  }
  for (const status of statuses.values()) count(status, 1)
  return {
    add: (row: Batch.Row) =>
      Effect.sync(() => {
        const key = Output.keyOf(row.id, row.choice)
        const before = statuses.get(key)
        if (before !== undefined) count(before, -1)
        const now: Output.RowStatus = { ok: row.error === undefined, kind: row.error?._tag, retryable: false }
        statuses.set(key, now)
        count(now, 1)
      }),
    get: (): Summary.FileTally => {
      const kinds = Object.fromEntries(Object.entries(failedByKind).filter(([, n]) => n > 0))
      const failed = Object.values(kinds).reduce((sum, n) => sum + n, 0)
      return { rows: ok + failed, ok, failed, failedByKind: kinds }
    }
  }
}

/** The checked items, read again and rendered; only those `include` keeps. */
export type Source = (
  include: (id: string) => boolean
) => Stream.Stream<Items.Located, InputError, FileSystem.FileSystem>

/**
 * Whether the model's format instructions go with each item (as a system message). An XML model needs them:
 * nothing else tells the model which tag to answer in. A JSON model is asked natively (structured output).
 */
export const instructs = (model: Model.Model<unknown>): boolean => model._tag === "XmlModel"

const describeMessages = (messages: ReadonlyArray<Message.Message>): string =>
  messages.map((m) => `  [${m.role}] ${m.text.replace(/\n/g, "\n  ")}`).join("\n")

/** Prints what a run would send (every rendered item, the generator, the row count); sends nothing. */
export const dryRun = (options: {
  readonly identifier: Option.Option<Identifier.Identifier>
  readonly n: number
  readonly ids: ReadonlyArray<string>
  readonly items: Source
  readonly input: string
  readonly target: Target
  readonly model: Model.Model<unknown> | undefined
  /** What defines this run, when a generator is chosen: checked against the results file's. */
  readonly definition: Option.Option<Manifest.Definition>
}) =>
  Effect.gen(function*() {
    const { ids, n, target } = options
    if (target.resume && Option.isSome(options.definition)) {
      yield* Manifest.check(target.output, options.definition.value, { force: target.force })
    }
    const { isPending, pending, skipped, total } = plan(ids, n, yield* recordedIn(target, false), target.retryFailed)
    const model = options.model
    const instructions = model !== undefined && instructs(model) ? [Message.system(model.instructions)] : []
    yield* Stream.runForEach(options.items(isPending), ({ item, line }) =>
      Console.log(
        `--- ${item.id} (${options.input}:${line})\n${describeMessages([...instructions, ...item.messages])}`
      ))
    const generator = Option.match(options.identifier, {
      onNone: () => "no generator chosen yet (see --generator)",
      onSome: (id) => Identifier.format(id)
    })
    yield* Console.log([
      "",
      `Dry run: ${ids.length} items checked against the template, all fine.`,
      `Would send ${pending} requests (${total} rows) to ${generator}${
        skipped > 0 ? `, skipping ${skipped} rows already in ${target.output}` : ""
      }${options.model === undefined ? "" : `, parsing answers as ${options.model.name}`}. Nothing was sent.`
    ].join("\n"))
  })

/**
 * Runs the batch: takes the results file's lock, checks that a resumed file was written by the same run, streams
 * rows into the file as they complete, shows progress, prints the summary of the whole file, and fails with
 * {@link ItemsFailed} when some of its rows carry an error, or with {@link RunStopped} when every request failed the
 * same way. Ctrl-C (an interruption of this fiber) stops new requests, waits up to {@link GRACE} for those in
 * flight (a second Ctrl-C stops waiting), keeps every finished row and prints `resumeHint`.
 */
export const execute = (options: {
  readonly identifier: Identifier.Identifier
  readonly n: number
  readonly ids: ReadonlyArray<string>
  readonly items: Source
  readonly target: Target
  readonly definition: Manifest.Definition
  readonly concurrency: Option.Option<number>
  readonly model: Model.Model<unknown> | undefined
  readonly price: Usage.PerMillion | undefined
  /** The response cache's mode, and its SQLite file (default: in the user's cache directory). */
  readonly cache: { readonly mode: ResponseCache.Mode; readonly file: Option.Option<string> }
  readonly resumeHint: string
  readonly via?: Batch.Options["via"]
  /** Provider batch mode's options; the journal is the results file's (`OUTPUT.batches.jsonl`). */
  readonly providerBatch?: Omit<ProviderBatch.Options, "journal" | "onStatus">
}): Effect.Effect<
  void,
  | ItemsFailed
  | ResponseCacheError
  | RunStopped
  | InputError
  | OutputLocked
  | RunChanged
  | InvalidParams
  | GeneratorRegistry.GeneratorInitError,
  Stdio.Stdio | FileSystem.FileSystem | Path.Path | Scope.Scope
> =>
  Effect.gen(function*() {
    const { identifier, n, target } = options
    // Without --price, a model Capstan knows is priced at its list price.
    const builtInPrice = Prices.lookup(identifier.provider, identifier.model)
    const stdio = yield* Stdio.Stdio
    const writeErr = (text: string) => Stream.make(text).pipe(Stream.run(stdio.stderr()), Effect.ignore)
    yield* Lock.acquire(target.output)
    if (target.resume) yield* Manifest.check(target.output, options.definition, { force: target.force })
    const recorded = yield* recordedIn(target, true)
    if (recorded.droppedTornRow) {
      yield* writeErr(
        `note: dropped a partly written last row of ${target.output} (from an interrupted run); that item is sent again\n`
      )
    }
    const { isPending, isSent, pending, skipped, total } = plan(options.ids, n, recorded, target.retryFailed)
    // Opened before anything is sent: a cache file that cannot be opened stops the run here.
    const cache = options.cache.mode === "off" ? undefined : {
      mode: options.cache.mode,
      store: yield* Layer.build(
        SqliteStore.layerResponseCache(
          Option.match(options.cache.file, { onNone: () => ({}), onSome: (path) => ({ path }) })
        )
      ).pipe(Effect.map(Context.get(ResponseCache.ResponseCache)))
    }
    const tracker = yield* Progress.make({ total, skipped, startedAt: yield* Clock.currentTimeMillis })
    // The gate sits under the engine (its rate limiter and retries wrap it): `admit` sees each real request,
    // retries included, so after Ctrl-C none starts.
    const service = yield* Generators.withProviders(
      Generator.make(identifier, { admit: tracker.admit, onRetry: () => tracker.retried })
    )
    const writer = yield* Output.writer(target.output, {
      mode: target.resume ? "append" : target.overwrite ? "overwrite" : "create",
      replaces: target.resume ? ({ choice, id }) => recorded.statuses.has(Output.keyOf(id, choice)) : undefined
    })
    yield* Manifest.write(target.output, options.definition)
    const tally = tallyOf(recorded)
    yield* writeErr(
      `capstan: ${total} rows from ${pending} items to ${Identifier.format(identifier)}${
        skipped > 0 ? ` (${skipped} already in ${target.output})` : ""
      } -> ${target.output}\n`
    )
    const display = yield* Progress.display(tracker, {
      terminal: yield* stdio.stderrIsTerminal,
      columns: process.stderr.columns ?? 100,
      write: writeErr,
      now: Clock.currentTimeMillis
    }).pipe(Effect.forkDetach)

    const items = Stream.map(options.items(isPending), (entry) => entry.item)
    const via = options.via ?? "realtime"
    const journalPath = `${target.output}.batches.jsonl`
    const providerBatch: ProviderBatch.Options | undefined = via === "realtime" ? undefined : {
      ...options.providerBatch,
      journal: yield* ProviderBatch.journalFile(journalPath, { fresh: !target.resume }).pipe(
        Effect.mapError((error) =>
          new InputError({ file: journalPath, reason: `cannot use the batch journal: ${error.message}` })
        )
      ),
      onStatus: (status) =>
        writeErr(
          `batch ${status.chunk} (${status.batchId}${
            status.requests === undefined ? "" : `, ${status.requests} requests`
          }): ${status.status}\n`
        )
    }
    const batchOf = <M extends ResponseCache.Mode>(mode: M) =>
      Batch.stream(items, {
        ...Option.match(options.concurrency, { onNone: () => ({}), onSome: (concurrency) => ({ concurrency }) }),
        ...(providerBatch === undefined ? {} : { via, providerBatch }),
        ...(options.model === undefined ? {} : { parse: options.model, instruct: instructs(options.model) }),
        cache: mode
      })
    const batch = cache === undefined
      ? batchOf("off")
      : batchOf(cache.mode).pipe(Stream.provideService(ResponseCache.ResponseCache, cache.store))
    const rows = batch.pipe(
      Stream.tap((row) => (row.choice === 0 ? tracker.answered : Effect.void)),
      // A resumed item is sent for all its choices; only the choices it was sent for are written.
      Stream.filter((row) => isSent(row.id, row.choice)),
      Stream.runForEach((row) =>
        writer.write(row, Batch.toJsonLine(row)).pipe(
          Effect.andThen(tally.add(row)),
          Effect.andThen(tracker.record(row))
        )
      ),
      Effect.as(Option.none<BatchStopped>()),
      Effect.catchTag("BatchStopped", (stopped) => Effect.succeed(Option.some(stopped))),
      Effect.provideService(Generator.Generator, service)
    )
    // Detached, so that Ctrl-C (which interrupts this fiber) reaches the rows only once they are drained.
    const fiber = yield* Effect.forkDetach(rows)

    const finish = (ending: "done" | "interrupted" | "stopped") =>
      Effect.gen(function*() {
        yield* Fiber.interrupt(display)
        const snapshot = yield* tracker.snapshot
        const endedAt = yield* Clock.currentTimeMillis
        const file = target.resume ? tally.get() : undefined
        yield* Console.log(Summary.format({
          snapshot,
          endedAt,
          output: target.output,
          price: options.price ?? builtInPrice,
          builtInPrice: options.price === undefined && builtInPrice !== undefined,
          interrupted: ending === "interrupted",
          stopped: ending === "stopped",
          file
        }))
        yield* Console.log(Shell.reportHint(target.output))
        if (ending !== "done") {
          const masked = options.resumeHint.includes("***")
            ? "\n  (put your key back in place of ***, or set it in the environment)"
            : ""
          yield* Console.error(`\nTo finish, run:\n  ${options.resumeHint}${masked}`)
        }
        return file ?? tally.get()
      })

    // Drained: nothing in flight, and no row arrived since the last look (a finished request's row is on its way).
    const drained = Effect.suspend(() => {
      let lastDone = -1
      return Effect.repeat(
        Effect.map(tracker.snapshot, (s) => {
          const quiet = s.inFlight === 0 && Progress.done(s) === lastDone
          lastDone = Progress.done(s)
          return quiet
        }),
        { schedule: Schedule.spaced("50 millis"), until: (quiet) => quiet }
      )
    })
    const stopGracefully = Effect.gen(function*() {
      yield* tracker.stop
      const { inFlight } = yield* tracker.snapshot
      yield* writeErr(
        `\nStopping: no new requests; waiting up to ${GRACE} for ${inFlight} in flight (Ctrl-C again to stop now)\n`
      )
      yield* Effect.raceFirst(drained, Signals.next("SIGINT")).pipe(Effect.timeoutOption(GRACE))
      yield* Fiber.interrupt(fiber)
      yield* finish("interrupted")
    })

    const exit = yield* Fiber.await(fiber).pipe(Effect.onInterrupt(() => stopGracefully))
    if (Exit.isFailure(exit)) {
      yield* Fiber.interrupt(display)
      return yield* Effect.failCause(exit.cause)
    }
    if (Option.isSome(exit.value)) {
      yield* finish("stopped")
      return yield* new RunStopped({ reason: exit.value.value.message })
    }
    const file = yield* finish("done")
    if (file.failed > 0) return yield* new ItemsFailed({ failed: file.failed, total: file.rows })
  })
