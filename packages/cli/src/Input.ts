/**
 * Reading batch inputs: JSONL (one JSON object a line) or CSV (a header row, then one record a row; quotes and
 * embedded newlines handled by `csv-parse`). Every record keeps the line it starts on, so that any later
 * complaint about it (a missing variable, a duplicate id) can point at `file:line`.
 *
 * @since 0.1.0
 */
import { parse as parseCsvText } from "csv-parse/sync"
import { Effect, FileSystem, Result, Schema } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { InputError } from "./Errors.js"

/**
 * One input record: its fields and the 1-based line of the file it starts on.
 *
 * @since 0.1.0
 */
export interface InputRecord {
  readonly line: number
  readonly fields: Readonly<Record<string, Schema.Json>>
}

/**
 * The records of an input file, with the column names of a CSV header (JSONL has none).
 *
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

const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

const describeJson = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`

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
export const parseJsonl = (file: string, text: string): Result.Result<ReadonlyArray<InputRecord>, InputError> => {
  const records: Array<InputRecord> = []
  const lines = stripBom(text).split("\n")
  for (let index = 0; index < lines.length; index++) {
    const source = lines[index]!.trim()
    if (source.length === 0) continue
    const line = index + 1
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
    records.push({ line, fields: value as Record<string, Schema.Json> })
  }
  return Result.succeed(records)
}

interface CsvRow {
  readonly record: Record<string, string>
  readonly info: { readonly lines: number; readonly empty_lines: number }
}

const csvErrorLine = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null && "lines" in error && typeof error.lines === "number"
    ? error.lines
    : undefined

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
): Result.Result<{ readonly columns: ReadonlyArray<string>; readonly records: ReadonlyArray<InputRecord> }, InputError> => {
  let columns: ReadonlyArray<string> = []
  let headerProblem: string | undefined
  let rows: ReadonlyArray<CsvRow>
  try {
    rows = parseCsvText(stripBom(text), {
      delimiter: options.delimiter ?? ",",
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
      }
    }) as unknown as ReadonlyArray<CsvRow>
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    const line = csvErrorLine(error)
    const short = /Invalid Record Length/.test(reason)
      ? `${reason.replace(/^Invalid Record Length: /, "").replace(/ on line \d+$/, "")}; the header has ${columns.length} columns (${columns.join(", ")})`
      : reason.replace(/ (on|at) line \d+$/, "")
    return Result.fail(
      new InputError({
        file,
        ...(line === undefined ? {} : { line }),
        reason: short,
        hint: "Quote fields that hold commas, quotes or newlines: \"like, \"\"this\"\"\""
      })
    )
  }
  if (headerProblem !== undefined) return Result.fail(new InputError({ file, line: 1, reason: headerProblem }))
  if (columns.length === 0) {
    return Result.fail(new InputError({ file, reason: "the file is empty", hint: "The first row of a CSV file names its columns" }))
  }
  // `info.lines` is where a record ENDS (records may span lines); it starts after the previous one and any
  // blank lines skipped in between.
  const records: Array<InputRecord> = []
  let previousEnd = 1
  let previousEmpty = 0
  for (const { info, record } of rows) {
    records.push({ line: previousEnd + 1 + (info.empty_lines - previousEmpty), fields: record })
    previousEnd = info.lines
    previousEmpty = info.empty_lines
  }
  return Result.succeed({ columns, records })
}

const readFailure = (file: string, error: PlatformError): InputError => {
  const reason = error.reason
  const why = reason._tag === "NotFound"
    ? "no such file"
    : reason._tag === "PermissionDenied"
    ? "permission denied"
    : reason.description ?? reason._tag
  return new InputError({ file, reason: `cannot read the file: ${why}` })
}

/**
 * Reads a file as UTF-8 text, or fails with an {@link InputError} that says why it cannot be read.
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
export const readText = (file: string): Effect.Effect<string, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.mapError((error) => readFailure(file, error)))
    if (info.type !== "File") return yield* new InputError({ file, reason: `cannot read the file: it is a ${info.type.toLowerCase()}` })
    return yield* fs.readFileString(file).pipe(Effect.mapError((error) => readFailure(file, error)))
  })

/**
 * Reads an input file (JSONL, CSV or TSV, by extension) into records with their line numbers. An empty input
 * is an error: a batch of nothing is almost always a wrong path.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Input } from "@capstan/cli"
 *
 * const input = Input.read("examples/data/reviews.csv").pipe(Effect.provide(NodeServices.layer))
 * ```
 * @since 0.1.0
 */
export const read = (file: string): Effect.Effect<Input, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const format = yield* Effect.fromResult(formatOf(file))
    const text = yield* readText(file)
    const parsed: Result.Result<Pick<Input, "records" | "columns">, InputError> = format === "jsonl"
      ? Result.map(parseJsonl(file, text), (records) => ({ records, columns: undefined }))
      : parseCsv(file, text, { delimiter: format === "tsv" ? "\t" : "," })
    const { columns, records } = yield* Effect.fromResult(parsed)
    if (records.length === 0) return yield* new InputError({ file, reason: "the file holds no items" })
    return { file, format, records, columns }
  })
