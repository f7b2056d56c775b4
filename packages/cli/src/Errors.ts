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
 * with the error), `64` bad input or usage (nothing was sent), `130` interrupted (Ctrl-C; finished rows are kept),
 * `1` anything else.
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
    const keys = this.keys.length === 0 ? "" : `\n  - set ${this.keys.join(" or ")} to use that provider's default model`
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
