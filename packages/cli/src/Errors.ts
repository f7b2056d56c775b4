/**
 * The typed errors of the `capstan` command and the exit codes they map to.
 *
 * Every error here stops the command before (or instead of) sending requests, except {@link ItemsFailed}, which
 * reports after the fact that some rows were recorded with an error.
 *
 * @since 0.1.0
 */
import { Data, Runtime, Schema } from "effect"

/**
 * The exit codes of `capstan`, for scripts: `0` every item ok, `2` some items failed (their rows are recorded
 * with the error), `3` stopped early because every request failed the same way (a refused key, an exhausted quota,
 * an unknown model; the items not sent are resumable), `64` bad input or usage (nothing was sent), `130`
 * interrupted (Ctrl-C; finished rows are kept), `1` anything else.
 *
 * @example
 * ```ts
 * import { ExitCode } from "@capstan/cli"
 *
 * ExitCode.badInput // 64
 * ```
 * @since 0.1.0
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  itemsFailed: 2,
  stopped: 3,
  badInput: 64,
  interrupted: 130
} as const

/**
 * The exit codes as they are documented in `--help`.
 *
 * @example
 * ```ts
 * import { exitCodeHelp } from "@capstan/cli"
 *
 * console.log(exitCodeHelp)
 * ```
 * @since 0.1.0
 */
export const exitCodeHelp = [
  "Exit codes:",
  `  ${ExitCode.ok}    every item succeeded`,
  `  ${ExitCode.itemsFailed}    some items failed (their rows are recorded with the error)`,
  `  ${ExitCode.stopped}    stopped: requests kept failing the same way (key, quota, model); rerun with --resume once fixed`,
  `  ${ExitCode.badInput}   bad input or usage; nothing was sent`,
  `  ${ExitCode.interrupted}  interrupted (Ctrl-C); finished rows are kept, rerun with --resume`,
  `  ${ExitCode.failure}    any other error`
].join("\n")

/**
 * An input, template or results file that cannot be used: which file, which line (and column, both 1-based) when
 * known, what is wrong and how to fix it.
 *
 * @example
 * ```ts
 * import { InputError } from "@capstan/cli"
 *
 * new InputError({ file: "reviews.jsonl", line: 3, reason: "malformed JSON: Unexpected end of JSON input" }).message
 * // "reviews.jsonl:3: malformed JSON: Unexpected end of JSON input"
 * new InputError({ file: "reviews.csv", line: 7, column: 12, reason: "not valid UTF-8: byte 0xE9" }).message
 * // "reviews.csv:7:12: not valid UTF-8: byte 0xE9"
 * ```
 * @since 0.1.0
 */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  file: Schema.String,
  line: Schema.optionalKey(Schema.Int),
  column: Schema.optionalKey(Schema.Int),
  reason: Schema.String,
  hint: Schema.optionalKey(Schema.String)
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.badInput
  override get message(): string {
    const where = this.line === undefined
      ? this.file
      : `${this.file}:${this.line}${this.column === undefined ? "" : `:${this.column}`}`
    return `${where}: ${this.reason}${this.hint === undefined ? "" : `\n  ${this.hint}`}`
  }
}

/**
 * Flags that cannot be used together or a value a flag does not accept.
 *
 * @example
 * ```ts
 * import { UsageError } from "@capstan/cli"
 *
 * new UsageError({ reason: "--parse expects json, xml:TAG or schema:FILE.json", hint: "e.g. --parse xml:answer" })
 * ```
 * @since 0.1.0
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String,
  hint: Schema.optionalKey(Schema.String)
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.badInput
  override get message(): string {
    return `${this.reason}${this.hint === undefined ? "" : `\n  ${this.hint}`}`
  }
}

/**
 * No generator was named and no provider key is set. The message lists every way to choose one.
 *
 * @example
 * ```ts
 * import { NoGenerator } from "@capstan/cli"
 *
 * new NoGenerator({ keys: ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"], example: "openai!gpt-4o-mini" }).message
 * ```
 * @since 0.1.0
 */
export class NoGenerator extends Schema.TaggedError<NoGenerator>()("NoGenerator", {
  /** The environment variables that would select a provider. */
  keys: Schema.Array(Schema.String),
  /** An identifier to show in the message. */
  example: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.badInput
  override get message(): string {
    const keys = this.keys.length === 0
      ? ""
      : `\n  - set ${this.keys.join(" or ")} to use that provider's default model`
    // Quoted: an unquoted "!" is history expansion in an interactive bash.
    return [
      "No generator chosen. Choose one of:",
      `  - pass --generator '${this.example}'`,
      `  - set CAPSTAN_GENERATOR='${this.example}'${keys}`,
      "  - pass --generator 'mock!echo' to try Capstan offline (no key needed)",
      "Run `capstan providers` to see every provider and the environment variables it reads."
    ].join("\n")
  }
}

/**
 * Another run is writing the same results file (it holds the lock next to it). Two writers would duplicate rows.
 *
 * @example
 * ```ts
 * import { OutputLocked } from "@capstan/cli"
 *
 * new OutputLocked({ file: "results.jsonl", lock: "results.jsonl.lock", pid: 4242, host: "build-1", since: "2026-12-06T10:00:00.000Z" }).message
 * ```
 * @since 0.2.0
 */
export class OutputLocked extends Schema.TaggedError<OutputLocked>()("OutputLocked", {
  file: Schema.String,
  lock: Schema.String,
  pid: Schema.Int,
  host: Schema.String,
  since: Schema.String,
  /** True when the holder runs on another machine, so whether it is alive cannot be checked. */
  remote: Schema.optionalKey(Schema.Boolean)
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.badInput
  override get message(): string {
    const fix = this.remote === true
      ? `If no capstan run is active on ${this.host}, remove ${this.lock}`
      : "Wait for it to finish (or stop it with Ctrl-C), or write to another --output"
    return `${this.file} is being written by another capstan run (pid ${this.pid} on ${this.host}, since ${this.since})\n  ${fix}`
  }
}

/**
 * A resumed run differs from the run that wrote the results file (its template, generator, params, `n`,
 * parse or id field): adding its rows would mix two runs in one file. `differences` says what changed.
 *
 * @example
 * ```ts
 * import { RunChanged } from "@capstan/cli"
 *
 * new RunChanged({ file: "results.jsonl", differences: ["params.temperature: 0 → 0.7"] }).message
 * ```
 * @since 0.2.0
 */
export class RunChanged extends Schema.TaggedError<RunChanged>()("RunChanged", {
  file: Schema.String,
  differences: Schema.Array(Schema.String)
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.badInput
  override get message(): string {
    return [
      `${this.file} holds the rows of a different run; nothing was sent. What differs:`,
      ...this.differences.map((difference) => `  - ${difference}`),
      "  Run it as before, write to another --output, or pass --force to add to this file anyway"
    ].join("\n")
  }
}

/**
 * The run stopped sending because every request failed the same way (see `BatchStopped` in `@capstan/core`);
 * the summary says why, and the items not sent are resumable.
 *
 * @example
 * ```ts
 * import { RunStopped } from "@capstan/cli"
 *
 * new RunStopped({ reason: "5 requests in a row failed: Authentication failed (HTTP 401)" }).message
 * ```
 * @since 0.2.0
 */
export class RunStopped extends Schema.TaggedError<RunStopped>()("RunStopped", {
  reason: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.stopped
  override get message(): string {
    return this.reason
  }
}

/**
 * Some items failed; their rows are recorded with the error. Carries the counts for the exit status.
 *
 * @example
 * ```ts
 * import { ItemsFailed } from "@capstan/cli"
 *
 * new ItemsFailed({ failed: 2, total: 30 }).message // "2 of 30 rows failed"
 * ```
 * @since 0.1.0
 */
export class ItemsFailed extends Schema.TaggedError<ItemsFailed>()("ItemsFailed", {
  failed: Schema.Int,
  total: Schema.Int
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.itemsFailed
  override get message(): string {
    return `${this.failed} of ${this.total} rows failed`
  }
}

/**
 * How the command ends once it has printed what went wrong: it carries only the exit code, and is marked as
 * reported so the runtime does not log it again.
 *
 * @example
 * ```ts
 * import { CommandExit, ExitCode } from "@capstan/cli"
 *
 * new CommandExit({ code: ExitCode.badInput })
 * ```
 * @since 0.1.0
 */
export class CommandExit extends Data.TaggedError("CommandExit")<{ readonly code: number }> {
  override readonly [Runtime.errorReported] = false
  override get [Runtime.errorExitCode](): number {
    return this.code
  }
}

/**
 * A cluster run (`capstan batch --cluster`, `capstan runner`) could not go on: the database cannot be reached, a
 * runner could not run a chunk (no key in its environment), the cluster's row store refused a read. Rows already
 * written stay in the cluster: run the same command again once the cause is fixed.
 *
 * @example
 * ```ts
 * import { ClusterError } from "@capstan/cli"
 *
 * new ClusterError({ reason: "cannot join the cluster: connection refused" }).message
 * ```
 * @since 0.3.0
 */
export class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", {
  reason: Schema.String
}) {
  override readonly [Runtime.errorExitCode] = ExitCode.failure
  override get message(): string {
    return this.reason
  }
}
