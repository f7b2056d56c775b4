/**
 * The `capstan` command: `run` one prompt, `batch` a template over a JSONL/CSV file into a results file (with
 * progress, a summary, `--resume` and `--dry-run`; `--cluster` spreads it over `runner` processes), list
 * `providers`, `report` a results file as one HTML page, and a `demo` on the bundled data set.
 *
 * @since 0.1.0
 */
import { Batch, Dataset, Generator, GeneratorRegistry, type Identifier, Message } from "@capstan/core"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, Effect, FileSystem, Option, Path, Stdio } from "effect"
import { Argument, CliOutput, Command, Flag } from "effect/cli"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { type CommandExit, exitCodeHelp, ItemsFailed, UsageError } from "./Errors.js"
import * as Input from "./Input.js"
import { type BatchConfig, parseDuration, parsePrice, priceFlag, resumeCommand } from "./internal/batchArgs.js"
import * as Cluster from "./internal/cluster.js"
import * as Generators from "./internal/generator.js"
import * as Items from "./internal/items.js"
import * as Manifest from "./internal/manifest.js"
import * as Parse from "./internal/parse.js"
import * as Report from "./internal/report.js"
import * as ReportCommand from "./internal/reportCommand.js"
import * as Run from "./internal/run.js"
import * as Runner from "./internal/runner.js"
import * as Shell from "./internal/shell.js"
import { streamAnswer, streams } from "./internal/streamAnswer.js"
import { withTelemetry } from "./internal/telemetry.js"
import { loadTemplate } from "./internal/templateFile.js"

/**
 * The version `capstan --version` prints: the package's, read from its `package.json` (next to `src` and `dist`
 * alike), so that a release changes it in one place.
 *
 * @example
 * ```ts
 * import { Cli } from "@capstan/cli"
 *
 * Cli.version // e.g. "0.2.0"
 * ```
 * @since 0.1.0
 */
export const version: string = (createRequire(import.meta.url)("../package.json") as { readonly version: string })
  .version

// ---------------------------------------------------------------------------------------------
// Flags shared by commands
// ---------------------------------------------------------------------------------------------

const generatorFlag = Flag.String("generator").pipe(
  Flag.withAlias("g"),
  Flag.withDescription(
    "generator identifier, e.g. 'openai!gpt-4o-mini,temperature=0' (default: $CAPSTAN_GENERATOR, else a provider whose API key is set; 'mock!echo' runs offline)"
  ),
  Flag.optional
)

const paramFlag = Flag.KeyValuePair("param").pipe(
  Flag.withDescription("generation parameter or provider setting, e.g. --param temperature=0 --param max_tokens=200"),
  Flag.optional
)

const positiveInt = (name: string, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.filter((n) => n >= 1, (n) => `--${name} must be at least 1, got ${n}`),
    Flag.optional
  )

// ---------------------------------------------------------------------------------------------
// Shared steps
// ---------------------------------------------------------------------------------------------

/** Identifier keys set by flags: `--param k=v` pairs, then the dedicated flags that were given. */
const overridesOf = (
  entries: ReadonlyArray<readonly [string, Option.Option<number>]>,
  params: Option.Option<Readonly<Record<string, string>>>
): Record<string, string | number> => {
  const overrides: Record<string, string | number> = { ...Option.getOrElse(params, () => ({})) }
  for (const [key, value] of entries) if (Option.isSome(value)) overrides[key] = value.value
  return overrides
}

/** The generator chosen by flags or the environment, with the flags' overrides applied. */
const chooseIdentifier = (flag: Option.Option<string>, overrides: Readonly<Record<string, string | number>>) =>
  Generators.withProviders(Effect.flatMap(Generators.choose(flag), (text) => Generators.resolve(text, overrides)))

const rowText = (row: Batch.Row): string =>
  row.parsed === undefined ? row.output ?? "" : typeof row.parsed === "string" ? row.parsed : JSON.stringify(row.parsed)

// ---------------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------------

const run = Command.make("run", {
  prompt: Argument.String("prompt").pipe(Argument.withDescription("the prompt to send")),
  generator: generatorFlag,
  system: Flag.String("system").pipe(Flag.withDescription("a system message sent before the prompt"), Flag.optional),
  param: paramFlag,
  stream: Flag.Boolean("stream").pipe(
    Flag.withDescription(
      "print the answer as it arrives (default when standard output is a terminal and the generator streams); --no-stream waits for the whole answer, with the engine's retries"
    ),
    Flag.optional
  )
}, (config) =>
  Effect.gen(function*() {
    const identifier = yield* chooseIdentifier(config.generator, overridesOf([], config.param))
    const messages = [
      ...Option.match(config.system, { onNone: () => [], onSome: (text) => [Message.system(text)] }),
      Message.user(config.prompt)
    ]
    const item = new Dataset.RenderedItem({ id: "prompt", template: config.prompt, vars: {}, messages })
    const answer = Effect.gen(function*() {
      if (yield* streams(config.stream)) return yield* streamAnswer(messages).pipe(Effect.as(undefined))
      return (yield* Batch.run([item])).rows
    }).pipe(Effect.provide(Generator.layer(identifier)), Generators.withProviders)
    const rows = yield* answer
    if (rows === undefined) return
    const failed = rows.filter((row) => row.error !== undefined)
    for (const row of rows) {
      if (row.error === undefined) yield* Console.log(rowText(row))
      else yield* Console.error(`error: ${row.error.message}`)
    }
    if (failed.length > 0) return yield* new ItemsFailed({ failed: failed.length, total: rows.length })
  })).pipe(
    Command.withShortDescription("Send one prompt and print the answer"),
    Command.withDescription(`Send one prompt and print the answer.\n\n${exitCodeHelp}`)
  )

// ---------------------------------------------------------------------------------------------
// providers
// ---------------------------------------------------------------------------------------------

const providers = Command.make("providers", {}, () =>
  Effect.gen(function*() {
    const all = yield* Generators.withProviders(GeneratorRegistry.providers)
    const lines: Array<string> = []
    for (const provider of all) {
      lines.push(`${provider.name}  ${provider.description}`)
      const example = Generators.defaultModels.find((d) => d.provider === provider.name)
      if (example !== undefined) {
        lines.push(`    e.g. --generator ${Shell.quote(`${example.provider}!${example.model}`)}`)
      }
      if (provider.env.length === 0) lines.push("    reads no environment variables")
      const width = Math.max(0, ...provider.env.map((variable) => variable.name.length))
      for (const variable of provider.env) {
        const set = yield* Generators.isSet(variable.name)
        lines.push(`    ${variable.name.padEnd(width)}  ${variable.description}${set ? " (set)" : ""}`)
      }
      lines.push("")
    }
    lines.push(
      "Choose a generator with --generator 'provider!model[,key=value...]', or CAPSTAN_GENERATOR.",
      "Settings every provider accepts: rpm, tpm, max_connections, min_delay_ms, max_retries."
    )
    yield* Console.log(lines.join("\n"))
  })).pipe(Command.withDescription("List the registered providers and the environment variables they read"))

// ---------------------------------------------------------------------------------------------
// batch
// ---------------------------------------------------------------------------------------------

/**
 * Everything `capstan batch` takes.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { Cli } from "@capstan/cli"
 *
 * declare const config: Cli.BatchConfig
 * const resumed: Cli.BatchConfig = {
 *   ...config,
 *   generator: Option.some("mock!echo"),
 *   resume: true,
 *   retryFailed: "retryable"
 * }
 * const program = Cli.batch(resumed)
 * ```
 * @since 0.1.0
 */
export type { BatchConfig } from "./internal/batchArgs.js"

const batchFlags = {
  template: Flag.String("template").pipe(
    Flag.withDescription(
      "the prompt template: a file (.txt, or .json with a list of {role, content} messages) or the text itself; {name} is a variable"
    )
  ),
  input: Flag.String("input").pipe(
    Flag.withDescription("the items: a .jsonl file (one JSON object a line) or a .csv file with a header")
  ),
  output: Flag.String("output").pipe(
    Flag.withDescription("the results file (.jsonl), one row per item (per choice), appended as rows complete")
  ),
  generator: generatorFlag,
  concurrency: positiveInt("concurrency", "requests in flight at once (default: the engine's, 64)"),
  rpm: positiveInt("rpm", "requests per minute, at most"),
  tpm: positiveInt("tpm", "tokens per minute, at most"),
  maxRetries: Flag.Int("max-retries").pipe(
    Flag.withDescription("retries of a retryable failure (rate limit, 5xx, timeout), at most"),
    Flag.filter((n) => n >= 0, (n) => `--max-retries must be 0 or more, got ${n}`),
    Flag.optional
  ),
  n: positiveInt("n", "choices per item (one row per choice)"),
  param: paramFlag,
  parse: Flag.String("parse").pipe(
    Flag.withDescription(
      "parse every answer: json (an object), xml:TAG (each item is told to answer inside <TAG></TAG>), or schema:FILE.json (a JSON Schema, asked of the provider natively)"
    ),
    Flag.optional
  ),
  idField: Flag.String("id-field").pipe(
    Flag.withDescription("the field holding each item's id; items without one get a stable id from their content"),
    Flag.withDefault("id")
  ),
  price: priceFlag,
  encoding: Flag.String("encoding").pipe(
    Flag.withDescription(
      "the text encoding of the --input and --template files: utf-8 (the default), latin1 (read as windows-1252), utf-16le, utf-16be or another single-byte encoding; a byte order mark wins"
    ),
    Flag.optional
  ),
  resume: Flag.Boolean("resume").pipe(
    Flag.withDescription(
      "keep the ok rows already in --output and send the rest: items without a row, and failed rows (see --retry-failed); the finished file holds one row per item and choice"
    ),
    Flag.withDefault(false)
  ),
  retryFailed: Flag.Literals("retry-failed", ["none", "retryable", "all"]).pipe(
    Flag.withDescription(
      "with --resume, which failed rows are sent again: all (default), retryable (rate limits, 5xx, timeouts: errors a retry may cure) or none (keep them)"
    ),
    Flag.withDefault("all" as const)
  ),
  force: Flag.Boolean("force").pipe(
    Flag.withDescription(
      "with --resume, add to --output even if it was written by a different run (template, generator, params, --n, --parse, --id-field), and record this one"
    ),
    Flag.withDefault(false)
  ),
  overwrite: Flag.Boolean("overwrite").pipe(
    Flag.withDescription("replace an existing --output"),
    Flag.withDefault(false)
  ),
  via: Flag.Literals("via", ["realtime", "provider-batch", "auto"]).pipe(
    Flag.withDescription(
      "how requests are sent: realtime (default), provider-batch (the provider's batch API: half price, answered " +
        "within 24 h; batches are journaled in OUTPUT.batches.jsonl, so --resume collects them), or auto (the " +
        "batch API when the provider has one)"
    ),
    Flag.withDefault("realtime" as const)
  ),
  batchFallback: Flag.Literals("batch-fallback", ["realtime", "rebatch", "none"]).pipe(
    Flag.withDescription(
      "provider batches: what answers a request the batch did not (expired, cancelled, a retryable error): " +
        "realtime (default), rebatch (one more batch), none (an error row)"
    ),
    Flag.withDefault("realtime" as const)
  ),
  pollInterval: Flag.String("poll-interval").pipe(
    Flag.withDescription("provider batches: time between two looks at a running batch (default 30 seconds)"),
    Flag.optional
  ),
  cancelOnInterrupt: Flag.Boolean("cancel-on-interrupt").pipe(
    Flag.withDescription(
      "provider batches: cancel them on Ctrl-C (default: they keep running, and --resume collects them)"
    ),
    Flag.withDefault(false)
  ),
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withDescription("check every item against the template and print what would be sent; send nothing"),
    Flag.withDefault(false)
  ),
  cache: Flag.Literals("cache", ["off", "read", "write", "readwrite"]).pipe(
    Flag.withDescription(
      "the response cache: readwrite answers what was asked before from the cache and keeps new answers (a second run of a finished batch sends nothing), read only reads, write only keeps, off (default) neither"
    ),
    Flag.withDefault("off" as const)
  ),
  cacheFile: Flag.String("cache-file").pipe(
    Flag.withDescription(
      "the response cache's SQLite file (default: responses.sqlite in the user's cache directory, e.g. ~/.cache/capstan)"
    ),
    Flag.optional
  ),
  ...Cluster.flags
} as const

/**
 * Runs `capstan batch` with its parsed flags: checks everything before the first request, then runs.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Cli } from "@capstan/cli"
 *
 * const program = Cli.batch({
 *   template: "Review: {review}", input: "reviews.jsonl", output: "results.jsonl",
 *   generator: Option.some("mock!echo"), concurrency: Option.none(), rpm: Option.none(), tpm: Option.none(),
 *   maxRetries: Option.none(), n: Option.none(), param: Option.none(), parse: Option.none(), idField: "id",
 *   price: Option.none(), encoding: Option.none(), resume: false, retryFailed: "all", force: false, overwrite: false,
 *   dryRun: false
 * })
 * ```
 * @since 0.1.0
 */
export const batch = (config: BatchConfig, options: { readonly resumeHint?: string } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const path = yield* Path.Path
    if (path.resolve(config.input) === path.resolve(config.output)) {
      return yield* new UsageError({
        reason: "--output is the --input file",
        hint: "Write the results to another file"
      })
    }
    yield* Cluster.checkFlags(config)
    if (config.resume && config.overwrite) {
      return yield* new UsageError({ reason: "--resume and --overwrite contradict each other" })
    }
    const cacheMode = config.cache ?? "off"
    const cacheFile = config.cacheFile ?? Option.none()
    if (cacheMode === "off" && Option.isSome(cacheFile)) {
      return yield* new UsageError({
        reason: "--cache-file only applies with --cache",
        hint: "Add --cache readwrite (or read, or write) to use the response cache"
      })
    }
    if (!config.resume && (config.force || config.retryFailed !== "all")) {
      return yield* new UsageError({
        reason: `${config.force ? "--force" : "--retry-failed"} only applies to --resume`,
        hint: "Add --resume to continue the results file"
      })
    }
    const encoding = Option.isSome(config.encoding)
      ? yield* Effect.fromResult(Input.encoding(config.encoding.value))
      : undefined
    const reading = { idField: config.idField, encoding }
    const template = yield* loadTemplate(config.template, reading)
    const ids = yield* Items.check(config.input, template, reading)
    const items: Run.Source = (include) => Items.stream(config.input, template, { ...reading, ids, include })
    const model = Option.isSome(config.parse) ? yield* Parse.model(config.parse.value) : undefined
    const price = Option.isSome(config.price) ? yield* parsePrice(config.price.value) : undefined
    const overrides = overridesOf(
      [["rpm", config.rpm], ["tpm", config.tpm], ["max_retries", config.maxRetries], ["n", config.n]],
      config.param
    )
    const target = {
      output: config.output,
      resume: config.resume,
      overwrite: config.overwrite,
      retryFailed: config.retryFailed,
      force: config.force
    }
    const definitionOf = (identifier: Identifier.Identifier) =>
      Manifest.definitionOf({ template, identifier, model, idField: config.idField })
    if (config.dryRun) {
      // A dry run needs no key: it shows the generator only when one can be chosen.
      const chosen = yield* chooseIdentifier(config.generator, overrides).pipe(
        Effect.map(Option.some),
        Effect.catchTag("NoGenerator", () => Effect.succeed(Option.none()))
      )
      yield* Run.dryRun({
        identifier: chosen,
        n: Option.match(chosen, { onNone: () => Option.getOrElse(config.n, () => 1), onSome: Generators.choicesOf }),
        ids,
        items,
        input: config.input,
        target,
        model,
        definition: Option.map(chosen, definitionOf)
      })
      const cluster = config.cluster ?? Option.none()
      if (Option.isSome(cluster)) {
        yield* Cluster.describe({
          config,
          url: cluster.value,
          items: ids.length,
          definition: Option.map(chosen, definitionOf)
        })
      }
      return
    }
    const identifier = yield* chooseIdentifier(config.generator, overrides)
    const n = Generators.choicesOf(identifier)
    const cluster = config.cluster ?? Option.none()
    if (Option.isSome(cluster)) {
      const definition = definitionOf(identifier)
      return yield* Cluster.coordinate({ config, url: cluster.value, identifier, n, ids, items, definition, price })
    }
    const pollInterval = config.pollInterval !== undefined && Option.isSome(config.pollInterval)
      ? yield* parseDuration("--poll-interval", config.pollInterval.value)
      : undefined
    return yield* Run.execute({
      identifier,
      n,
      ids,
      items,
      target,
      definition: definitionOf(identifier),
      concurrency: config.concurrency,
      model,
      price,
      cache: { mode: cacheMode, file: cacheFile },
      resumeHint: options.resumeHint ?? resumeCommand(config),
      via: config.via ?? "realtime",
      providerBatch: {
        fallback: config.batchFallback ?? "realtime",
        cancelOnInterrupt: config.cancelOnInterrupt ?? false,
        ...(pollInterval === undefined ? {} : { pollInterval })
      }
    })
  }))

const batchCommand = Command.make("batch", batchFlags, (config) => batch(config)).pipe(
  Command.withShortDescription("Run a template over every item of a JSONL/CSV file into a JSONL results file"),
  Command.withDescription(
    [
      "Run a template over every item of a JSONL or CSV file and write one result row per item (per choice) to a",
      "JSONL file, as each completes. Every item is checked against the template before anything is sent.",
      "Ctrl-C stops new requests, lets those in flight finish, keeps every finished row and prints how to resume;",
      "after a crash, --resume sends only the items without a row.",
      "With --cluster postgres://..., the items go in chunks to `capstan runner` processes instead (keys from the",
      "runners' environment); the rows come back to --output in input order. Run the same command again to finish",
      "an interrupted cluster batch: its id (--batch-id, default a digest of the run and its input) finds its rows.",
      "",
      exitCodeHelp
    ].join("\n")
  ),
  Command.withExamples([
    {
      command: "capstan batch --template 'Sentiment of: {review}' --input reviews.jsonl --output results.jsonl",
      description: "Classify every review with the default generator"
    },
    {
      command: "capstan batch --template prompt.txt --input reviews.csv --output results.jsonl --resume",
      description: "Finish an interrupted run"
    }
  ])
)

// ---------------------------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------------------------

// The data ships in the package (`data/` next to `src/` and `dist/`); a file path, not a URL path, so that a
// directory with a space (%20 in a URL) works.
const demoData = (file: string) => fileURLToPath(new URL(`../data/${file}`, import.meta.url))

const demo = Command.make("demo", {
  generator: generatorFlag,
  output: Flag.String("output").pipe(
    Flag.withDescription("the results file (default: a temporary file)"),
    Flag.optional
  )
}, (config) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const output = Option.isSome(config.output)
      ? config.output.value
      : `${yield* fs.makeTempDirectory({ prefix: "capstan-demo-" })}/results.jsonl`
    // With no generator named and no key set, the demo runs on the built-in offline generator.
    const chosen = yield* Generators.withProviders(Generators.choose(config.generator)).pipe(
      Effect.catchTag("NoGenerator", () =>
        Console.log(
          "No API key set: the demo runs on the offline generator (mock!demo), whose answers are placeholders.\n" +
            "Set OPENAI_API_KEY or ANTHROPIC_API_KEY (or pass --generator) to run it on a real model.\n"
        ).pipe(Effect.as("mock!demo,delay_ms=150")))
    )
    yield* batch({
      template: demoData("template.txt"),
      input: demoData("reviews.jsonl"),
      output,
      generator: Option.some(chosen),
      concurrency: Option.some(8),
      rpm: Option.none(),
      tpm: Option.none(),
      maxRetries: Option.none(),
      n: Option.none(),
      param: Option.none(),
      parse: Option.some(`schema:${demoData("review.schema.json")}`),
      idField: "id",
      price: Option.none(),
      encoding: Option.none(),
      resume: false,
      retryFailed: "all",
      force: false,
      overwrite: true,
      dryRun: false
    }, { resumeHint: "npm run demo" })
    const lines = (yield* fs.readFileString(output)).split("\n").filter((line) => line.length > 0)
    const rows = yield* Effect.forEach(lines, (line) => Effect.orDie(Batch.fromJsonLine(line)))
    yield* Console.log(`\nFirst rows of ${output}:`)
    for (const row of [...rows].sort((a, b) => a.index - b.index).slice(0, 3)) {
      yield* Console.log(`  ${row.id}  ${rowText(row)}`)
    }
  })).pipe(
    Command.withDescription("Run `capstan batch` on the bundled coffee-review data set (offline unless a key is set)")
  )

// ---------------------------------------------------------------------------------------------
// The command and its runner
// ---------------------------------------------------------------------------------------------

/**
 * The `capstan` command with its subcommands.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Command } from "effect/cli"
 * import { Cli } from "@capstan/cli"
 *
 * const program = Command.runWith(Cli.command, { version: Cli.version })(["providers"])
 * ```
 * @since 0.1.0
 */
export const command = Command.make("capstan").pipe(
  Command.withDescription(
    `Capstan: run LLM prompts and large batches from the command line.\n\n${exitCodeHelp}`
  ),
  Command.withSubcommands([run, batchCommand, Runner.command, ReportCommand.command, providers, demo])
)

/**
 * Runs the command on the given arguments (without `node capstan`), printing errors plainly and failing with
 * a {@link CommandExit} that carries the exit code. For tests and for programs that embed the CLI.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Cli } from "@capstan/cli"
 *
 * const program = Cli.runWith(["run", "Hello", "--generator", "mock!echo"]).pipe(Effect.provide(NodeServices.layer))
 * ```
 * @since 0.1.0
 */
export const runWith = (args: ReadonlyArray<string>) =>
  Report.reported(
    Command.runWith(command, { version })(Report.joinNegativeValues(args)).pipe(withTelemetry(version))
  ).pipe(
    Effect.provideService(CliOutput.Presenter, Report.presenter)
  )

/**
 * The whole program: runs the command on `process.argv` with the Node services (providers are registered
 * where a generator is needed), prints errors plainly and fails with a {@link CommandExit} carrying the exit code.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Cli } from "@capstan/cli"
 *
 * Cli.main.pipe(NodeRuntime.runMain({ disableErrorReporting: true }))
 * ```
 * @since 0.1.0
 */
export const main: Effect.Effect<void, CommandExit> = Stdio.Stdio.use(({ args }) => Effect.flatMap(args, runWith)).pipe(
  Effect.provide(NodeServices.layer)
)
