/**
 * Reading batch inputs: JSONL (one JSON object a line) or CSV (a header row, then one record a row; quotes and
 * embedded newlines handled by `csv-parse`). Every record keeps the line it starts on, so that any later
 * complaint about it (a missing variable, a duplicate id) can point at `file:line`.
 *
 * {@link stream} reads a file record by record (memory stays flat however large it is); {@link read} and the
 * text parsers hold every record. Both go through the same per-format readers.
 *
 * Files are read as UTF-8 unless told otherwise ({@link encoding}); a byte order mark names the encoding. A
 * byte that is not text in that encoding stops the read at its `file:line:column`: it is never replaced by U+FFFD.
 *
 * @since 0.1.0
 */
import { parse as parseCsvStream } from "csv-parse/stream"
import { parse as parseCsvText } from "csv-parse/sync"
import { Effect, FileSystem, Result, type Schema, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { InputError, type UsageError } from "./Errors.js"
import * as TextEncoding from "./internal/encoding.js"

/**
 * One input record: its fields and the 1-based line of the file it starts on.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const label = (record: Input.InputRecord) => `line ${record.line}: ${JSON.stringify(record.fields)}`
 * Result.map(Input.parseJsonl("in.jsonl", '{"review":"Great"}'), (records) => records.map(label))
 * // Result.succeed(['line 1: {"review":"Great"}'])
 * ```
 * @since 0.1.0
 */
export interface InputRecord {
  readonly line: number
  readonly fields: Readonly<Record<string, Schema.Json>>
}

/**
 * The records of an input file, with the column names of a CSV header (JSONL has none).
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const describe = (input: Input.Input) =>
 *   `${input.file}: ${input.records.length} ${input.format} records, columns ${input.columns?.join(", ") ?? "none"}`
 * const program = Input.read("reviews.csv").pipe(Effect.map(describe), Effect.provide(NodeServices.layer))
 * ```
 * @since 0.1.0
 */
export interface Input {
  readonly file: string
  readonly format: Format
  readonly records: ReadonlyArray<InputRecord>
  /** The header of a CSV file; `undefined` for JSONL. */
  readonly columns: ReadonlyArray<string> | undefined
}

/**
 * The input formats, chosen by file extension.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const format: Input.Format = Result.getOrElse(Input.formatOf("items.tsv"), () => "jsonl") // "tsv"
 * ```
 * @since 0.1.0
 */
export type Format = "jsonl" | "csv" | "tsv"

const formats: Readonly<Record<string, Format>> = {
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".csv": "csv",
  ".tsv": "tsv"
}

/**
 * The format of a file from its extension, or an {@link InputError} listing the supported ones.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * Input.formatOf("reviews.csv") // Result.succeed("csv")
 * Result.isFailure(Input.formatOf("reviews.xlsx")) // true
 * ```
 * @since 0.1.0
 */
export const formatOf = (file: string): Result.Result<Format, InputError> => {
  const dot = file.lastIndexOf(".")
  const format = dot < 0 ? undefined : formats[file.slice(dot).toLowerCase()]
  return format === undefined
    ? Result.fail(
      new InputError({
        file,
        reason: "unknown input format",
        hint: `Use a file ending in ${Object.keys(formats).join(", ")}`
      })
    )
    : Result.succeed(format)
}

/**
 * A text encoding, as {@link encoding} resolves it.
 *
 * @example
 * ```ts
 * import type { Result } from "effect"
 * import { Input, type UsageError } from "@capstan/cli"
 *
 * // An Encoding is only made by Input.encoding, which checks the name.
 * const utf16: Result.Result<Input.Encoding, UsageError> = Input.encoding("utf-16le")
 * ```
 * @since 0.1.0
 */
export type Encoding = TextEncoding.Encoding

/**
 * What reading a file takes: its text encoding (default UTF-8; a byte order mark wins).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const program = Effect.gen(function*() {
 *   const options: Input.ReadOptions = { encoding: yield* Effect.fromResult(Input.encoding("latin1")) }
 *   return yield* Input.read("legacy.csv", options)
 * })
 * ```
 * @since 0.1.0
 */
export interface ReadOptions {
  readonly encoding?: Encoding | undefined
}

/**
 * The encoding a name (as `--encoding` takes it) stands for: `utf-8`, `utf-16le`, `utf-16be`, `latin1` (read,
 * as the WHATWG Encoding Standard says, as `windows-1252`) or another single-byte encoding; or a
 * {@link UsageError} listing what is supported.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const program = Effect.gen(function*() {
 *   const encoding = yield* Effect.fromResult(Input.encoding("latin1"))
 *   return yield* Input.read("reviews.csv", { encoding })
 * })
 * ```
 * @since 0.1.0
 */
export const encoding: (name: string) => Result.Result<Encoding, UsageError> = TextEncoding.resolve

const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

const describeJson = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`

/** One line of a JSONL file: a record, nothing (a blank line), or why it is not a JSON object. */
const jsonlRecord = (file: string, line: number, text: string): Result.Result<InputRecord | undefined, InputError> => {
  const source = (line === 1 ? stripBom(text) : text).trim()
  if (source.length === 0) return Result.succeed(undefined)
  let value: unknown
  try {
    value = JSON.parse(source)
  } catch (error) {
    return Result.fail(
      new InputError({
        file,
        line,
        reason: `malformed JSON: ${error instanceof Error ? error.message : String(error)}`,
        hint: "Each line of a JSONL file is one complete JSON object"
      })
    )
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return Result.fail(new InputError({ file, line, reason: `expected a JSON object, got ${describeJson(value)}` }))
  }
  return Result.succeed({ line, fields: value as Record<string, Schema.Json> })
}

/** JSONL text, in chunks, to records: split into lines, numbered, parsed a chunk of lines at a time. */
const jsonlRecords =
  (file: string) => <E, R>(text: Stream.Stream<string, E, R>): Stream.Stream<InputRecord, E | InputError, R> =>
    text.pipe(
      Stream.splitLines,
      Stream.mapAccumArrayEffect(() => 0, (before: number, lines) => {
        const records: Array<InputRecord> = []
        for (let i = 0; i < lines.length; i++) {
          const record = jsonlRecord(file, before + i + 1, lines[i]!)
          if (Result.isFailure(record)) return Effect.fail(record.failure)
          if (record.success !== undefined) records.push(record.success)
        }
        return Effect.succeed([before + lines.length, records] as const)
      })
    )

/**
 * Parses JSONL text: every non-blank line must be a JSON object. Fails with the line of the first bad one.
 *
 * @example
 * ```ts
 * import { Input } from "@capstan/cli"
 *
 * const result = Input.parseJsonl("in.jsonl", '{"id":"a","review":"Great"}\n\n{"id":"b","review":"Bad"}\n')
 * // Result.succeed([{ line: 1, fields: {...} }, { line: 3, fields: {...} }])
 * ```
 * @since 0.1.0
 */
export const parseJsonl = (file: string, text: string): Result.Result<ReadonlyArray<InputRecord>, InputError> =>
  Effect.runSync(Effect.result(Stream.runCollect(jsonlRecords(file)(Stream.make(text)))))

interface CsvRow {
  readonly record: Record<string, string>
  readonly info: { readonly lines: number; readonly empty_lines: number }
}

const csvErrorLine = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null && "lines" in error && typeof error.lines === "number"
    ? error.lines
    : undefined

/**
 * What reading one CSV file needs, whether it is parsed whole or streamed: the parser options (which check the
 * header), the line each record starts on, the error for a parse failure, and the problems known at the end.
 */
const csvReader = (file: string, delimiter: string) => {
  let columns: ReadonlyArray<string> = []
  let headerProblem: string | undefined
  // `info.lines` is where a record ENDS (records may span lines); it starts after the previous one and any
  // blank lines skipped in between.
  let previousEnd = 1
  let previousEmpty = 0
  // csv-parse counts the CR and the LF of a CRLF inside a quoted field as two lines: the lines it counted too many.
  let overcount = 0
  // Called as each record is parsed, so that a parse error later on is corrected by the records before it.
  const record = ({ info, record }: CsvRow): InputRecord => {
    const skipped = info.empty_lines - previousEmpty
    const line = previousEnd - overcount + 1 + skipped
    // Only a record that spans lines can hold a quoted CRLF.
    if (info.lines - previousEnd > 1 + skipped) overcount += crlfCount(record)
    previousEnd = info.lines
    previousEmpty = info.empty_lines
    return { line, fields: record }
  }
  return {
    columns: (): ReadonlyArray<string> => columns,
    options: {
      delimiter,
      bom: true,
      record_delimiter: ["\r\n", "\n"],
      skip_empty_lines: true,
      info: true,
      columns: (header: Array<string>) => {
        const names = header.map((name) => name.trim())
        const empty = names.findIndex((name) => name.length === 0)
        const repeated = names.find((name, i) => names.indexOf(name) !== i)
        if (empty >= 0) headerProblem = `column ${empty + 1} of the header has no name`
        else if (repeated !== undefined) headerProblem = `the header names the column "${repeated}" twice`
        columns = names
        return names
      },
      // With `info: true`, csv-parse hands `on_record` the `{ record, info }` it would push, and pushes what it
      // returns; its types do not say so.
      on_record: record as unknown as (fields: Array<string>) => Array<string>
    },
    failure: (error: unknown): InputError => {
      const reason = error instanceof Error ? error.message : String(error)
      const counted = csvErrorLine(error)
      const line = counted === undefined ? undefined : counted - overcount
      const short = /Invalid Record Length/.test(reason)
        ? `${
          reason.replace(/^Invalid Record Length: /, "").replace(/ on line \d+$/, "")
        }; the header has ${columns.length} columns (${columns.join(", ")})`
        : reason.replace(/ (on|at) line \d+$/, "")
      return new InputError({
        file,
        ...(line === undefined ? {} : { line }),
        reason: short,
        hint: "Quote fields that hold commas, quotes or newlines: \"like, \"\"this\"\"\""
      })
    },
    /** Once every record is read: a bad header, or no header at all. */
    end: (): InputError | undefined =>
      headerProblem !== undefined
        ? new InputError({ file, line: 1, reason: headerProblem })
        : columns.length === 0
        ? new InputError({ file, reason: "the file is empty", hint: "The first row of a CSV file names its columns" })
        : undefined
  }
}

type CsvReader = ReturnType<typeof csvReader>

const crlfCount = (fields: Readonly<Record<string, string>>): number => {
  let count = 0
  for (const value of Object.values(fields)) {
    for (let i = value.indexOf("\r\n"); i >= 0; i = value.indexOf("\r\n", i + 2)) count++
  }
  return count
}

/**
 * Parses CSV (or, with `delimiter: "\t"`, TSV) text with a header row. Every record must have exactly one
 * field per column; a missing or extra field, an unclosed quote, or an empty or repeated column name fails
 * with the line where the problem is.
 *
 * @example
 * ```ts
 * import { Input } from "@capstan/cli"
 *
 * const result = Input.parseCsv("in.csv", 'id,review\nr1,"Smooth, ""nutty"" finish"\n')
 * // Result.succeed({ columns: ["id", "review"], records: [{ line: 2, fields: { id: "r1", review: 'Smooth, "nutty" finish' } }] })
 * ```
 * @since 0.1.0
 */
export const parseCsv = (
  file: string,
  text: string,
  options: { readonly delimiter?: string } = {}
): Result.Result<
  { readonly columns: ReadonlyArray<string>; readonly records: ReadonlyArray<InputRecord> },
  InputError
> => {
  const reader = csvReader(file, options.delimiter ?? ",")
  let records: ReadonlyArray<InputRecord>
  try {
    records = parseCsvText(text, reader.options) as unknown as ReadonlyArray<InputRecord>
  } catch (error) {
    return Result.fail(reader.failure(error))
  }
  const problem = reader.end()
  return problem === undefined ? Result.succeed({ columns: reader.columns(), records }) : Result.fail(problem)
}

/** A CSV file's bytes to records, through csv-parse's streaming parser; ends with the header's problems. */
const csvRecords =
  (reader: CsvReader) =>
  <R>(bytes: Stream.Stream<Uint8Array, InputError, R>): Stream.Stream<InputRecord, InputError, R> =>
    Stream.unwrap(Effect.gen(function*() {
      // csv-parse works on Buffers; these views share the chunks' memory.
      const source = yield* Stream.toReadableStreamEffect(
        Stream.map(bytes, (chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      )
      const records = Stream.fromReadableStream<InputRecord, InputError>({
        evaluate: () => source.pipeThrough(parseCsvStream(reader.options)),
        // A failure to read the file reaches here through the parser, as it was raised.
        onError: (error) => (error instanceof InputError ? error : reader.failure(error))
      })
      return records.pipe(
        Stream.concat(Stream.suspend(() => {
          const problem = reader.end()
          return problem === undefined ? Stream.empty : Stream.fail(problem)
        }))
      )
    }))

const readFailure = (file: string, error: PlatformError): InputError => {
  const reason = error.reason
  const why = reason._tag === "NotFound"
    ? "no such file"
    : reason._tag === "PermissionDenied"
    ? "permission denied"
    : reason.description ?? reason._tag
  return new InputError({ file, reason: `cannot read the file: ${why}` })
}

/** Fails unless `file` is a file that can be read. */
const readable = (file: string): Effect.Effect<void, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.mapError((error) => readFailure(file, error)))
    if (info.type !== "File") {
      return yield* new InputError({ file, reason: `cannot read the file: it is a ${info.type.toLowerCase()}` })
    }
  })

/**
 * Reads a text file (UTF-8 unless `options.encoding` says otherwise), or fails with an {@link InputError} that
 * says why it cannot be read, or where it stops being text.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const text = Input.readText("template.txt")
 * ```
 * @since 0.1.0
 */
export const readText = (
  file: string,
  options: ReadOptions = {}
): Effect.Effect<string, InputError, FileSystem.FileSystem> =>
  Effect.flatMap(bytesOf(file, options), (bytes) => Stream.mkString(Stream.decodeText(bytes)))

const delimiterOf = (format: Format): string => (format === "tsv" ? "\t" : ",")

/**
 * Reads an input file (JSONL, CSV or TSV, by extension) into records with their line numbers. An empty input
 * is an error: a batch of nothing is almost always a wrong path. Holds the whole file: for large inputs, see
 * {@link stream}.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const input = Input.read("packages/cli/data/reviews.csv").pipe(Effect.provide(NodeServices.layer))
 * ```
 * @since 0.1.0
 */
export const read = (
  file: string,
  options: ReadOptions = {}
): Effect.Effect<Input, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const format = yield* Effect.fromResult(formatOf(file))
    const text = yield* readText(file, options)
    const parsed: Result.Result<Pick<Input, "records" | "columns">, InputError> = format === "jsonl"
      ? Result.map(parseJsonl(file, text), (records) => ({ records, columns: undefined }))
      : parseCsv(file, text, { delimiter: delimiterOf(format) })
    const { columns, records } = yield* Effect.fromResult(parsed)
    if (records.length === 0) return yield* noItems(file)
    return { file, format, records, columns }
  })

const noItems = (file: string) => new InputError({ file, reason: "the file holds no items" })

/**
 * Streams the records of an input file (JSONL, CSV or TSV, by extension), reading it a chunk at a time: memory
 * stays flat however many records it holds. Each run of the stream reads the file again. Fails as {@link read}
 * does, at the first bad line (a header problem or an empty file once the file is read).
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const count = Input.stream("big.jsonl").pipe(Stream.runCount, Effect.provide(NodeServices.layer))
 * ```
 * @since 0.1.0
 */
export const stream = (
  file: string,
  options: ReadOptions = {}
): Stream.Stream<InputRecord, InputError, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.gen(function*() {
    const format = yield* Effect.fromResult(formatOf(file))
    const bytes = yield* bytesOf(file, options)
    const records = format === "jsonl"
      ? bytes.pipe(Stream.decodeText, jsonlRecords(file))
      : csvRecords(csvReader(file, delimiterOf(format)))(bytes)
    return Stream.orElseIfEmpty(records, () => Stream.fail(noItems(file)))
  }))

/** The bytes of a readable file as checked UTF-8, a chunk at a time. */
const bytesOf = (file: string, options: ReadOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* readable(file)
    return fs.stream(file).pipe(
      Stream.mapError((error) => readFailure(file, error)),
      TextEncoding.toUtf8(file, options.encoding)
    )
  })

/**
 * The column names of a CSV or TSV file's header (`undefined` for JSONL), reading only as far as the first record.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const columns = Input.header("reviews.csv").pipe(Effect.provide(NodeServices.layer)) // ["id", "review", ...]
 * ```
 * @since 0.1.0
 */
export const header = (
  file: string,
  options: ReadOptions = {}
): Effect.Effect<ReadonlyArray<string> | undefined, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const format = yield* Effect.fromResult(formatOf(file))
    if (format === "jsonl") return undefined
    const reader = csvReader(file, delimiterOf(format))
    yield* csvRecords(reader)(yield* bytesOf(file, options)).pipe(Stream.take(1), Stream.runDrain)
    return reader.columns()
  })
