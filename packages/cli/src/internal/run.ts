/**
 * Running a checked batch: rows streamed into the results file as they complete, progress on stderr, the
 * summary at the end; and Ctrl-C handled so that nothing finished is lost. Also the dry run, which shows the
 * same plan and sends nothing.
 *
 * @internal
 */
import {
  Batch,
  Generator,
  type GeneratorRegistry,
  Identifier,
  type InvalidParams,
  Message,
  type Model,
  type Usage
} from "@capstan/core"
import { Clock, Console, Effect, Exit, Fiber, type FileSystem, Option, type Path, Schedule, Stdio, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { type InputError, ItemsFailed } from "../Errors.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"
import * as Summary from "../Summary.js"
import * as Generators from "./generator.js"
import type * as Items from "./items.js"
import * as Signals from "./signals.js"

/** Where the rows go and what is already there. */
export interface Target {
  readonly output: string
  /** Keep the rows already in `output` and send only what is missing. */
  readonly resume: boolean
  /** Replace an existing `output` (otherwise an existing, non-empty one is an error). */
  readonly overwrite: boolean
}

/** How long in-flight requests may take to finish after Ctrl-C. */
const GRACE = "10 seconds"

const nothingRecorded: Output.Recorded = { choices: new Map(), rows: 0, droppedTornRow: false }

const recordedIn = (target: Target) => (target.resume ? Output.recorded(target.output) : Effect.succeed(nothingRecorded))

/** The items (and rows) a run must still send: every choice, less those the results file already holds. */
const plan = (ids: ReadonlyArray<string>, n: number, recorded: Output.Recorded) => {
  const missing = (id: string): number => {
    const have = recorded.choices.get(id)
    let count = n
    if (have !== undefined) for (let choice = 0; choice < n; choice++) if (have.has(choice)) count--
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
  return { pending, total, skipped, isPending: (id: string) => missing(id) > 0 }
}

/** The checked items, read again and rendered; only those `include` keeps. */
export type Source = (include: (id: string) => boolean) => Stream.Stream<Items.Located, InputError, FileSystem.FileSystem>

/**
 * Whether the model's format instructions go with each item (as a system message). An XML model needs them:
 * nothing else tells the model which tag to answer in. A JSON model is asked natively (structured output).
 */
const instructs = (model: Model.Model<unknown>): boolean => model._tag === "XmlModel"

const describeMessages = (messages: ReadonlyArray<Message.Message>): string =>
  messages.map((m) => `  [${m.role}] ${m.content.replace(/\n/g, "\n  ")}`).join("\n")

/** Prints what a run would send (every rendered item, the generator, the row count); sends nothing. */
export const dryRun = (options: {
  readonly identifier: Option.Option<Identifier.Identifier>
  readonly n: number
  readonly ids: ReadonlyArray<string>
  readonly items: Source
  readonly input: string
  readonly target: Target
  readonly model: Model.Model<unknown> | undefined
}) =>
  Effect.gen(function*() {
    const { ids, n, target } = options
    const { isPending, pending, skipped, total } = plan(ids, n, yield* recordedIn(target))
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
 * Runs the batch: streams rows into the results file, shows progress, prints the summary, and fails with
 * {@link ItemsFailed} when some rows carry an error. Ctrl-C (an interruption of this fiber) stops new requests,
 * waits up to {@link GRACE} for those in flight (a second Ctrl-C stops waiting), keeps every finished row and
 * prints `resumeHint`.
 */
export const execute = (options: {
  readonly identifier: Identifier.Identifier
  readonly n: number
  readonly ids: ReadonlyArray<string>
  readonly items: Source
  readonly target: Target
  readonly concurrency: Option.Option<number>
  readonly model: Model.Model<unknown> | undefined
  readonly price: Usage.PerMillion | undefined
  readonly resumeHint: string
}): Effect.Effect<
  void,
  ItemsFailed | InputError | InvalidParams | GeneratorRegistry.GeneratorInitError,
  Stdio.Stdio | FileSystem.FileSystem | Path.Path | Scope.Scope
> =>
  Effect.gen(function*() {
    const { identifier, n, target } = options
    const stdio = yield* Stdio.Stdio
    const writeErr = (text: string) => Stream.make(text).pipe(Stream.run(stdio.stderr()), Effect.ignore)
    const recorded = yield* recordedIn(target)
    if (recorded.droppedTornRow) {
      yield* writeErr(
        `note: dropped a partly written last row of ${target.output} (from an interrupted run); that item is sent again\n`
      )
    }
    const { isPending, pending, skipped, total } = plan(options.ids, n, recorded)
    const tracker = yield* Progress.make({ total, skipped, startedAt: yield* Clock.currentTimeMillis })
    // The gate sits under the engine (its rate limiter and retries wrap it): `admit` sees each real request,
    // retries included, so after Ctrl-C none starts.
    const service = yield* Generators.withProviders(Generator.make(identifier, { admit: tracker.admit }))
    const sink = yield* Output.open(target.output, {
      mode: target.resume ? "append" : target.overwrite ? "overwrite" : "create"
    })
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

    // A resumed item with some of its choices recorded is sent again; only its missing choices are written.
    const isRecorded = (row: Batch.Row) => recorded.choices.get(row.id)?.has(row.choice) === true
    const items = Stream.map(options.items(isPending), (entry) => entry.item)
    const rows = Batch.stream(items, {
      ...Option.match(options.concurrency, { onNone: () => ({}), onSome: (concurrency) => ({ concurrency }) }),
      ...(options.model === undefined ? {} : { parse: options.model, instruct: instructs(options.model) })
    }).pipe(
      Stream.filter((row) => !isRecorded(row)),
      Stream.runForEach((row) => Effect.andThen(sink.append(Batch.toJsonLine(row)), tracker.record(row))),
      Effect.provideService(Generator.Generator, service)
    )
    // Detached, so that Ctrl-C (which interrupts this fiber) reaches the rows only once they are drained.
    const fiber = yield* Effect.forkDetach(rows)

    const finish = (interrupted: boolean) =>
      Effect.gen(function*() {
        yield* Fiber.interrupt(display)
        const snapshot = yield* tracker.snapshot
        const endedAt = yield* Clock.currentTimeMillis
        yield* Console.log(Summary.format({ snapshot, endedAt, output: target.output, price: options.price, interrupted }))
        if (interrupted) {
          const masked = options.resumeHint.includes("***")
            ? "\n  (put your key back in place of ***, or set it in the environment)"
            : ""
          yield* writeErr(`\nTo finish, run:\n  ${options.resumeHint}${masked}\n`)
        }
        return snapshot
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
      yield* writeErr(`\nStopping: no new requests; waiting up to ${GRACE} for ${inFlight} in flight (Ctrl-C again to stop now)\n`)
      yield* Effect.raceFirst(drained, Signals.next("SIGINT")).pipe(Effect.timeoutOption(GRACE))
      yield* Fiber.interrupt(fiber)
      yield* finish(true)
    })

    const exit = yield* Fiber.await(fiber).pipe(Effect.onInterrupt(() => stopGracefully))
    if (Exit.isFailure(exit)) {
      yield* Fiber.interrupt(display)
      return yield* Effect.failCause(exit.cause)
    }
    const snapshot = yield* finish(false)
    if (snapshot.failed > 0) return yield* new ItemsFailed({ failed: snapshot.failed, total: Progress.done(snapshot) })
  })
