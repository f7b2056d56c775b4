/**
 * The results file: JSONL rows appended one `write` each as they complete, so a row that was written survives
 * Ctrl-C and `kill -9`; and, for `--resume`, what an earlier run already recorded.
 *
 * After `kill -9` the last row may be torn (written in part). {@link recorded} drops such a tail, so the item is
 * sent again and its row is appended on a clean line.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Option, Path, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { InputError } from "./Errors.js"

/**
 * An open results file.
 *
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
 * The rows a results file already holds, as `id` → the choice indexes recorded for it.
 *
 * @since 0.1.0
 */
export interface Recorded {
  readonly choices: ReadonlyMap<string, ReadonlySet<number>>
  /** How many rows were read. */
  readonly rows: number
  /** True when a torn last row (from a killed run) was dropped. */
  readonly droppedTornRow: boolean
}

const NEWLINE = 0x0a

/**
 * Reads what a results file already records, for `--resume`. A missing file records nothing. A last line that
 * is not complete JSON (the run was killed while writing it) is cut off the file, so appending resumes on a
 * clean line and that item is sent again; a bad line anywhere else is an error naming it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Output } from "@capstan/cli"
 *
 * const done = Output.recorded("results.jsonl").pipe(Effect.map((r) => r.choices.has("review-1")))
 * ```
 * @since 0.1.0
 */
export const recorded = (file: string): Effect.Effect<Recorded, InputError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const readFailure = (error: { readonly message: string }) =>
      new InputError({ file, reason: `cannot read the results file: ${error.message}` })
    const size = yield* sizeOf(fs, file)
    if (size === 0) return { choices: new Map(), rows: 0, droppedTornRow: false }
    const endsWithNewline = yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(file, { flag: "r" })
      const last = yield* handle.readAlloc(1, { position: BigInt(size - 1) })
      return Option.exists(last, (bytes) => bytes[0] === NEWLINE)
    })).pipe(Effect.mapError(readFailure))

    const choices = new Map<string, Set<number>>()
    const record = (key: RowKey) => {
      const set = choices.get(key.id) ?? new Set<number>()
      set.add(key.choice)
      choices.set(key.id, set)
    }
    let rows = 0
    let lineNumber = 0
    // The last line is held back: it may be torn.
    let pending: string | undefined
    const check = (text: string, line: number) => {
      if (text.trim().length === 0) return Effect.void
      const key = Option.getOrUndefined(rowKey(text))
      if (key === undefined) {
        return Effect.fail(
          new InputError({
            file,
            line,
            reason: "this line is not a result row (JSON with an \"id\")",
            hint: "Is this the results file of a capstan batch? Fix or remove the line, or write to another file"
          })
        )
      }
      rows++
      record(key)
      return Effect.void
    }
    yield* fs.stream(file).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.mapError(readFailure),
      Stream.runForEach((text) => {
        const previous = pending
        pending = text
        lineNumber++
        return previous === undefined ? Effect.void : check(previous, lineNumber - 1)
      })
    )
    if (pending === undefined) return { choices, rows, droppedTornRow: false }
    if (endsWithNewline) {
      yield* check(pending, lineNumber)
      return { choices, rows, droppedTornRow: false }
    }
    const tornKey = rowKey(pending)
    if (Option.isSome(tornKey)) {
      // The row is whole and only its newline is missing: keep it and end the line.
      yield* Effect.scoped(Effect.flatMap(open(file, { mode: "append" }), (sink) => sink.append("")))
      record(tornKey.value)
      return { choices, rows: rows + 1, droppedTornRow: false }
    }
    yield* fs.truncate(file, size - new TextEncoder().encode(pending).length).pipe(
      Effect.mapError((error) => new InputError({ file, reason: `cannot repair the torn last row: ${error.message}` }))
    )
    return { choices, rows, droppedTornRow: true }
  })

/**
 * What identifies a result row: the item id and the choice index (`n > 1` gives one row per choice).
 *
 * @since 0.1.0
 */
export interface RowKey {
  readonly id: string
  readonly choice: number
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
export const rowKey = (text: string): Option.Option<RowKey> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Option.none()
  }
  if (typeof value !== "object" || value === null || !("id" in value) || typeof value.id !== "string") return Option.none()
  const choice = "choice" in value && typeof value.choice === "number" ? value.choice : 0
  return Option.some({ id: value.id, choice })
}
