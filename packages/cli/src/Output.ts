/**
 * The results file: JSONL rows written one `write` each as they complete, so a row that was written survives
 * Ctrl-C and `kill -9`; what the file already records, for `--resume`; and the invariant that the file holds
 * exactly one row per item and choice, the latest.
 *
 * A run that resumes a file writes rows for new items and choices to the file itself, and rows that replace an
 * earlier one (a failed row sent again) to a pending file next to it (`results.jsonl.pending`). When the run ends
 * the two are merged into a new file that replaces the old one in one rename, so the results file never holds a
 * failed row beside its replacement, whenever the process stops. A pending file left by a killed run is merged by
 * the next {@link recorded}.
 *
 * After `kill -9` the last row may be torn (written in part). {@link recorded} drops such a tail, so the item is
 * sent again and its row is appended on a clean line.
 *
 * @since 0.1.0
 */
import { ChatError, isRetryable } from "@capstan/core"
import { Effect, FileSystem, Option, Path, Schema, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { InputError } from "./Errors.js"

/**
 * An open results file.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const writeRow = (sink: Output.Sink, row: { readonly id: string; readonly output: string }) =>
 *   sink.append(JSON.stringify(row))
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sink = yield* Output.open("results.jsonl", { mode: "create" })
 *   yield* writeRow(sink, { id: "a", output: "hi" })
 * }))
 * ```
 * @since 0.1.0
 */
export interface Sink {
  readonly file: string
  /** Appends one line (a newline is added) with a single write. */
  readonly append: (line: string) => Effect.Effect<void, InputError>
}

/** The size of a file in bytes; 0 when there is none. */
const sizeOf = (fs: FileSystem.FileSystem, file: string): Effect.Effect<number> =>
  fs.stat(file).pipe(Effect.map((info) => Number(info.size)), Effect.orElseSucceed(() => 0))

const writeFailure = (file: string) => (error: { readonly message: string }) =>
  new InputError({ file, reason: `cannot write the results file: ${error.message}` })

const readFailure = (file: string) => (error: { readonly message: string }) =>
  new InputError({ file, reason: `cannot read the results file: ${error.message}` })

/**
 * Opens a results file for appending (creating it and its directory if needed). With `mode: "create"` an
 * existing non-empty file is an error, so results are never overwritten by accident.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sink = yield* Output.open("results.jsonl", { mode: "append" })
 *   yield* sink.append(JSON.stringify({ id: "a", choice: 0, output: "hi" }))
 * }))
 * ```
 * @since 0.1.0
 */
export const open = (
  file: string,
  options: { readonly mode: "create" | "append" | "overwrite" }
): Effect.Effect<Sink, InputError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (options.mode === "create") {
      if ((yield* sizeOf(fs, file)) > 0) {
        return yield* new InputError({
          file,
          reason: "the results file already exists",
          hint: "Pass --resume to continue it (items already in it are skipped), or --overwrite to start over"
        })
      }
    }
    const dir = (yield* Path.Path).dirname(file)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(writeFailure(file)))
    const handle = yield* fs.open(file, { flag: options.mode === "overwrite" ? "w" : "a" }).pipe(
      Effect.mapError(writeFailure(file))
    )
    // Each row is one write to the OS, so it survives the process being killed; at the end the file is also
    // synced to disk.
    yield* Effect.addFinalizer(() => Effect.ignore(handle.sync))
    const encoder = new TextEncoder()
    return {
      file,
      append: (line: string) => handle.writeAll(encoder.encode(`${line}\n`)).pipe(Effect.mapError(writeFailure(file)))
    }
  })

/**
 * What the file records for one item and choice: whether its row is ok, else the kind of its error and whether
 * that error is one a retry may cure (`isRetryable`: rate limits, 5xx, timeouts, ...).
 *
 * @example
 * ```ts
 * import { Output } from "@capstan/cli"
 *
 * declare const recorded: Output.Recorded
 * const sendAgain = (status: Output.RowStatus | undefined) => status === undefined || (!status.ok && status.retryable)
 * sendAgain(recorded.statuses.get(Output.keyOf("review-1", 0)))
 * ```
 * @since 0.2.0
 */
export interface RowStatus {
  readonly ok: boolean
  /** The `_tag` of the row's error, for a failed row. */
  readonly kind: string | undefined
  readonly retryable: boolean
}

/**
 * What a results file records: the status of every item and choice (keyed by {@link keyOf}; the last row of a
 * key wins), how many rows were read, and what was repaired.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const report = (recorded: Output.Recorded) =>
 *   `${recorded.statuses.size} items and choices in ${recorded.rows} rows` +
 *   (recorded.droppedTornRow ? " (a torn last row dropped)" : "")
 * const dryRun = Output.recorded("results.jsonl", { repair: false }).pipe(Effect.map(report))
 * ```
 * @since 0.1.0
 */
export interface Recorded {
  readonly statuses: ReadonlyMap<string, RowStatus>
  /** How many rows were read (a row superseded by a later one of the same key included). */
  readonly rows: number
  /** True when a torn last row (from a killed run) was dropped. */
  readonly droppedTornRow: boolean
}

/**
 * The key of an item's choice in {@link Recorded.statuses}.
 *
 * @example
 * ```ts
 * import { Output } from "@capstan/cli"
 *
 * declare const recorded: Output.Recorded
 * recorded.statuses.get(Output.keyOf("review-1", 0))?.ok
 * ```
 * @since 0.2.0
 */
export const keyOf = (id: string, choice: number): string => `${choice}:${id}`

/**
 * The file where a resumed run writes the rows that replace earlier ones, until they are merged.
 *
 * @example
 * ```ts
 * import { Output } from "@capstan/cli"
 *
 * Output.pendingOf("results.jsonl") // "results.jsonl.pending"
 * ```
 * @since 0.2.0
 */
export const pendingOf = (file: string): string => `${file}.pending`

/** The statuses of one file, with the line each key's last row is on. */
interface Scan {
  readonly statuses: Map<string, RowStatus & { readonly line: number }>
  readonly rows: number
  readonly droppedTornRow: boolean
}

const NEWLINE = 0x0a

/**
 * Reads the rows of one JSONL file. The last line is held back: without a final newline it may be torn, and then
 * (with `repair`) it is cut off the file or, when it is a whole row that only lacks its newline, ended.
 */
const scan = (file: string, repair: boolean): Effect.Effect<Scan, InputError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const statuses = new Map<string, RowStatus & { readonly line: number }>()
    const size = yield* sizeOf(fs, file)
    if (size === 0) return { statuses, rows: 0, droppedTornRow: false }
    const endsWithNewline = yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(file, { flag: "r" })
      const last = yield* handle.readAlloc(1, { position: BigInt(size - 1) })
      return Option.exists(last, (bytes) => bytes[0] === NEWLINE)
    })).pipe(Effect.mapError(readFailure(file)))

    let rows = 0
    const record = (entry: RowEntry, line: number) => {
      rows++
      statuses.set(keyOf(entry.id, entry.choice), { ok: entry.ok, kind: entry.kind, retryable: entry.retryable, line })
    }
    const check = (text: string, line: number) => {
      if (text.trim().length === 0) return Effect.void
      const entry = Option.getOrUndefined(rowEntry(text))
      if (entry === undefined) {
        return Effect.fail(
          new InputError({
            file,
            line,
            reason: "this line is not a result row (JSON with an \"id\")",
            hint: "Is this the results file of a capstan batch? Fix or remove the line, or write to another file"
          })
        )
      }
      record(entry, line)
      return Effect.void
    }
    let lineNumber = 0
    let pending: string | undefined
    yield* lines(file).pipe(
      Stream.runForEach((text) => {
        const previous = pending
        pending = text
        lineNumber++
        return previous === undefined ? Effect.void : check(previous, lineNumber - 1)
      })
    )
    if (pending === undefined || endsWithNewline) {
      if (pending !== undefined) yield* check(pending, lineNumber)
      return { statuses, rows, droppedTornRow: false }
    }
    const torn = rowEntry(pending)
    if (Option.isSome(torn)) {
      // The row is whole and only its newline is missing: keep it and end the line.
      if (repair) yield* Effect.scoped(Effect.flatMap(open(file, { mode: "append" }), (sink) => sink.append("")))
      record(torn.value, lineNumber)
      return { statuses, rows, droppedTornRow: false }
    }
    if (repair) {
      yield* fs.truncate(file, size - new TextEncoder().encode(pending).length).pipe(
        Effect.mapError((error) =>
          new InputError({ file, reason: `cannot repair the torn last row: ${error.message}` })
        )
      )
    }
    return { statuses, rows, droppedTornRow: true }
  })

/** The lines of a file, as `scan` numbers them. */
const lines = (file: string): Stream.Stream<string, InputError, FileSystem.FileSystem> =>
  Stream.unwrap(
    FileSystem.FileSystem.useSync((fs) =>
      fs.stream(file).pipe(Stream.decodeText(), Stream.splitLines, Stream.mapError(readFailure(file)))
    )
  )

/**
 * Reads what a results file already records, for `--resume`: the file itself, and the rows a killed resumed run
 * left pending (which win over the file's). A missing file records nothing. A last line that is not complete
 * JSON (the run was killed while writing it) is dropped, so that item is sent again; a bad line anywhere else is
 * an error naming it.
 *
 * With `repair` (the default) the files are made whole before anything is appended: the torn line is cut off, and
 * pending rows are merged so that the results file holds one row per item and choice. Without it (a dry run)
 * nothing is written.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const done = Output.recorded("results.jsonl").pipe(
 *   Effect.map((r) => r.statuses.get(Output.keyOf("review-1", 0))?.ok === true)
 * )
 * ```
 * @since 0.1.0
 */
export const recorded = (
  file: string,
  options: { readonly repair?: boolean } = {}
): Effect.Effect<Recorded, InputError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const repair = options.repair ?? true
    const main = yield* scan(file, repair)
    const pendingFile = pendingOf(file)
    const hasPending = yield* fs.exists(pendingFile).pipe(Effect.orElseSucceed(() => false))
    const pending = hasPending ? yield* scan(pendingFile, repair) : undefined
    const statuses = new Map<string, RowStatus>(main.statuses)
    if (pending !== undefined) { for (const [key, status] of pending.statuses) statuses.set(key, status) }
    const superseded = main.rows - main.statuses.size +
      (pending === undefined ? 0 : pending.rows - pending.statuses.size)
    if (repair && ((pending !== undefined && pending.rows > 0) || superseded > 0)) yield* merge(file, main, pending)
    else if (repair && pending !== undefined) {
      yield* fs.remove(pendingFile, { force: true }).pipe(Effect.mapError(writeFailure(file)))
    }
    return {
      statuses,
      rows: repair ? statuses.size : main.rows + (pending?.rows ?? 0),
      droppedTornRow: main.droppedTornRow || pending?.droppedTornRow === true
    }
  })

/**
 * Writes the file's rows that nothing supersedes, then the pending rows that nothing supersedes, to a new file
 * that replaces the results file in one rename; then removes the pending file. Running it again after a crash
 * between the rename and the removal gives the same file.
 */
const merge = (file: string, main: Scan, pending: Scan | undefined) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const next = `${file}.merging`
    const kept = (source: string, scanned: Scan, replaced: Scan | undefined) => {
      let lineNumber = 0
      return lines(source).pipe(
        Stream.filter((text) => {
          lineNumber++
          const entry = Option.getOrUndefined(rowEntry(text))
          if (entry === undefined) return false
          const key = keyOf(entry.id, entry.choice)
          return scanned.statuses.get(key)?.line === lineNumber && replaced?.statuses.has(key) !== true
        }),
        Stream.map((text) => `${text}\n`)
      )
    }
    const rows = pending === undefined
      ? kept(file, main, undefined)
      : Stream.concat(kept(file, main, pending), kept(pendingOf(file), pending, undefined))
    yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(next, { flag: "w" }).pipe(Effect.mapError(writeFailure(next)))
      const encoder = new TextEncoder()
      yield* rows.pipe(
        Stream.rechunk(256),
        Stream.runForEachArray((texts) =>
          handle.writeAll(encoder.encode(texts.join(""))).pipe(Effect.mapError(writeFailure(next)))
        )
      )
      yield* handle.sync.pipe(Effect.mapError(writeFailure(next)))
    }))
    yield* fs.rename(next, file).pipe(Effect.mapError(writeFailure(file)))
    if (pending !== undefined) {
      yield* fs.remove(pendingOf(file), { force: true }).pipe(Effect.mapError(writeFailure(file)))
    }
  })

/**
 * Writes a run's rows: a row for an item and choice the file already holds (`replaces`) goes to the pending file,
 * any other to the results file itself. When the scope closes the pending rows are merged into the results file
 * (see {@link recorded}), so it holds one row per item and choice; if the process dies first, the next
 * {@link recorded} merges them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const recorded = yield* Output.recorded("results.jsonl")
 *   const writer = yield* Output.writer("results.jsonl", {
 *     mode: "append",
 *     replaces: (key) => recorded.statuses.has(Output.keyOf(key.id, key.choice))
 *   })
 *   yield* writer.write({ id: "a", choice: 0 }, JSON.stringify({ id: "a", choice: 0, output: "hi" }))
 * }))
 * ```
 * @since 0.2.0
 */
export const writer = (
  file: string,
  options: {
    readonly mode: "create" | "append" | "overwrite"
    readonly replaces?: ((key: RowKey) => boolean) | undefined
  }
): Effect.Effect<
  { readonly write: (key: RowKey, line: string) => Effect.Effect<void, InputError> },
  InputError,
  FileSystem.FileSystem | Path.Path | Scope.Scope
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const pendingFile = pendingOf(file)
    const replaces = options.replaces
    if (replaces !== undefined) {
      // Added before the files are opened, so it runs after they are synced and closed. A failure to merge leaves
      // the pending file in place for the next run to merge: nothing is lost.
      yield* Effect.addFinalizer(() =>
        recorded(file).pipe(
          Effect.provideService(FileSystem.FileSystem, fs),
          Effect.provideService(Path.Path, path),
          Effect.ignore
        )
      )
    }
    const main = yield* open(file, { mode: options.mode })
    // A new file starts without an earlier run's replacements (checked by `open` not to hold rows of its own).
    if (options.mode !== "append") {
      yield* fs.remove(pendingFile, { force: true }).pipe(Effect.mapError(writeFailure(file)))
    }
    const pending = replaces === undefined ? undefined : yield* open(pendingFile, { mode: "append" })
    return {
      write: (key, line) => pending !== undefined && replaces!(key) ? pending.append(line) : main.append(line)
    }
  })

/**
 * What identifies a result row: the item id and the choice index (`n > 1` gives one row per choice).
 *
 * @example
 * ```ts
 * import { Output } from "@capstan/cli"
 *
 * const key: Output.RowKey = { id: "review-1", choice: 0 }
 * Output.keyOf(key.id, key.choice) // "0:review-1"
 * ```
 * @since 0.1.0
 */
export interface RowKey {
  readonly id: string
  readonly choice: number
}

/** A row's key and status, read from its JSON text. */
interface RowEntry extends RowKey, RowStatus {}

const decodeError = Schema.decodeUnknownOption(ChatError)

const rowEntry = (text: string): Option.Option<RowEntry> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Option.none()
  }
  if (typeof value !== "object" || value === null || !("id" in value) || typeof value.id !== "string") {
    return Option.none()
  }
  const choice = "choice" in value && typeof value.choice === "number" ? value.choice : 0
  const error = "error" in value ? value.error : undefined
  if (error === undefined || error === null) {
    return Option.some({ id: value.id, choice, ok: true, kind: undefined, retryable: false })
  }
  const kind = typeof error === "object" && "_tag" in error && typeof error._tag === "string" ? error._tag : "unknown"
  const retryable = Option.exists(decodeError(error), isRetryable)
  return Option.some({ id: value.id, choice, ok: false, kind, retryable })
}

/**
 * The `id` and `choice` of a result row's JSON text, if it is one.
 *
 * @example
 * ```ts
 * import { Output } from "@capstan/cli"
 *
 * Output.rowKey('{"id":"a","choice":1}') // Option.some({ id: "a", choice: 1 })
 * Output.rowKey('{"id":"a"')             // Option.none()
 * ```
 * @since 0.1.0
 */
export const rowKey = (text: string): Option.Option<RowKey> =>
  Option.map(rowEntry(text), ({ choice, id }) => ({ id, choice }))
