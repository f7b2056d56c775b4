/**
 * `capstan report RESULTS.jsonl`: writes the self-contained HTML report of a results file (`Report.html` of
 * @capstan/core) and says how to open it; and the line `capstan batch` prints after its summary.
 *
 * @internal
 */
import { Batch, Report, type Usage } from "@capstan/core"
import { Console, Effect, FileSystem, Option, Path } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { pathToFileURL } from "node:url"
import { deflateRawSync } from "node:zlib"
import { InputError } from "../Errors.js"
import { parsePrice, priceFlag } from "./batchArgs.js"
import * as Shell from "./shell.js"

const flags = {
  results: Argument.String("results").pipe(Argument.withDescription("the JSONL results file of `capstan batch`")),
  html: Flag.String("html").pipe(
    Flag.withDescription("where to write the report (default: the results file with .html instead of .jsonl)"),
    Flag.optional
  ),
  price: priceFlag,
  title: Flag.String("title").pipe(Flag.withDescription("the report's title"), Flag.optional)
} as const

type ReportConfig = Command.Command.Config.Infer<typeof flags>

/** The report's default file: the results file with `.html` instead of `.jsonl` (or `.html` added). */
export const defaultHtml = (results: string): string =>
  /\.jsonl$/i.test(results) ? results.replace(/\.jsonl$/i, ".html") : `${results}.html`

/**
 * The rows of a results file. A line that is not a row is an error naming file:line, except a torn last line
 * (no newline after it: an interrupted run was writing it), which is skipped with a note.
 */
export const readRows = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) =>
        new InputError({
          file,
          reason: `cannot read the results file: ${error.message}`,
          hint: "Give the JSONL file `capstan batch --output` wrote"
        })
      )
    )
    const lines = text.split("\n")
    const torn = !text.endsWith("\n") && lines.length > 0
    const rows: Array<Batch.Row> = []
    for (let index = 0; index < lines.length; index++) {
      const line = lines[index]!
      if (line.trim().length === 0) continue
      const decoded = yield* Effect.result(Batch.fromJsonLine(line))
      if (decoded._tag === "Success") {
        rows.push(decoded.success)
        continue
      }
      if (torn && index === lines.length - 1) {
        yield* Console.error(`note: ${file}:${index + 1}: skipped the unfinished last line (an interrupted run)`)
        continue
      }
      const reason = decoded.failure.message.split("\n").slice(0, 3).join(" ")
      return yield* new InputError({
        file,
        line: index + 1,
        reason: `not a result row: ${reason}`,
        hint: "A results file holds one row of `capstan batch` per line"
      })
    }
    return rows
  })

/** The price table of `--price`: the one price for every generator of the rows. */
const pricesOf = (rows: ReadonlyArray<Batch.Row>, price: Usage.PerMillion): Usage.PriceTable =>
  Object.fromEntries(Array.from(new Set(rows.map((row) => row.generator)), (generator) => [generator, price]))

const openHint = (file: string): string => {
  const opener = process.platform === "darwin" ? "open" : process.platform === "win32" ? "start" : "xdg-open"
  return `Open it with: ${opener} ${Shell.quote(file)}  (or ${pathToFileURL(file).href})`
}

const report = (config: ReportConfig) =>
  Effect.gen(function*() {
    const price = Option.isSome(config.price) ? yield* parsePrice(config.price.value) : undefined
    const rows = yield* readRows(config.results)
    const path = yield* Path.Path
    const target = Option.getOrElse(config.html, () => defaultHtml(config.results))
    const page = Report.html(rows, {
      title: Option.getOrUndefined(config.title),
      source: path.basename(config.results),
      prices: price === undefined ? undefined : pricesOf(rows, price),
      // A results file's rows are mostly repeated template text: compressed, the page is several times smaller.
      compressRows: (json) => deflateRawSync(json, { level: 6 }).toString("base64")
    })
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(target, page).pipe(
      Effect.mapError((error) => new InputError({ file: target, reason: `cannot write the report: ${error.message}` }))
    )
    yield* Console.log(`Wrote the report of ${rows.length} rows to ${target}`)
    yield* Console.log(openHint(path.resolve(target)))
  })

export const command = Command.make("report", flags, report).pipe(
  Command.withShortDescription("Write the HTML report of a results file (summary, charts, rows)"),
  Command.withDescription(
    [
      "Write one self-contained HTML file from the JSONL results of `capstan batch`: the summary (ok, failed by",
      "error kind, tokens, cost, wall time, retries), charts (throughput, latency, attempts, tokens) and a table of",
      "the rows, filterable by status, error kind and text, showing the messages sent and the output or error."
    ].join("\n")
  ),
  Command.withExamples([
    { command: "capstan report results.jsonl", description: "Write results.html" },
    {
      command: "capstan report results.jsonl --html run-3.html --price 0.15,0.60 --title \"Reviews, run 3\"",
      description: "Choose the file, the price and the title"
    }
  ])
)
