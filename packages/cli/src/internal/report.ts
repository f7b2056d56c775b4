/**
 * How the `capstan` command reports what went wrong: a parse error as its message and one usage line, an error of
 * the run once, each with its exit code; and the argument rewrite that lets a flag take a negative value.
 *
 * @internal
 */
import { Cause, Console, Effect, Option, Predicate, Runtime } from "effect"
import { CliError, CliOutput } from "effect/cli"
import { CommandExit, ExitCode, ItemsFailed } from "../Errors.js"

// Errors of @capstan/core that mean the command line or the input is wrong (exit 64, like the CLI's own).
// A constant table of pure values, never written: no application state.
const coreInputErrors: ReadonlyArray<unknown> = [
  "InvalidIdentifier",
  "InvalidParams",
  "MissingApiKey",
  "InvalidTemplate",
  "InvalidItem",
  "TemplateMismatch"
]

/** What each command takes, in one line: shown after a parse error instead of the whole help. */
const usages: Readonly<Record<string, string>> = {
  capstan: "capstan run|batch|runner|report|providers|demo [options]",
  run: "capstan run PROMPT [--generator ID] [--system TEXT] [--param KEY=VALUE]",
  batch: "capstan batch --template FILE|TEXT --input FILE --output FILE [options]",
  runner: "capstan runner --cluster POSTGRES_URL [--host H] [--port P] [--budget shared|local|split:N]",
  report: "capstan report RESULTS.jsonl [--html FILE] [--price INPUT,OUTPUT] [--title T]",
  providers: "capstan providers",
  demo: "capstan demo [--generator ID] [--output FILE]"
}

/** The usage line printed after a parse error of the command at `commandPath`. */
const usageHint = (commandPath: ReadonlyArray<string>): string => {
  const command = commandPath.join(" ")
  return `usage: ${usages[commandPath.at(-1) ?? "capstan"] ?? `${command} [options]`}; see ${command} --help`
}

// A parse error is printed in a few lines on stderr: each error and one usage line, instead of the whole help
// (which, and the version, still go to stdout).
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(
        [
          ...event.errors.map((parseError) => `error: ${parseError.message.replace(/\n\n/g, "\n")}`),
          usageHint(event.commandPath)
        ].join("\n")
      )
      : CliOutput.defaultPresenter.present(event)
}

/** Prints what went wrong (once) and ends with the error's exit code. */
const report = (error: unknown): Effect.Effect<never, CommandExit> =>
  Effect.gen(function*() {
    // A parse error: the presenter printed it; `capstan` alone printed the help.
    if (CliError.isCliError(error)) {
      const code = error._tag === "ShowHelp" && error.errors.length === 0 ? ExitCode.ok : ExitCode.badInput
      return yield* new CommandExit({ code })
    }
    // The summary already said which items failed.
    if (error instanceof ItemsFailed) return yield* new CommandExit({ code: ExitCode.itemsFailed })
    const message = Predicate.hasProperty(error, "message") ? String(error.message) : String(error)
    yield* Console.error(`error: ${message}`)
    const coreInput = Predicate.hasProperty(error, "_tag") && coreInputErrors.includes(error._tag)
    return yield* new CommandExit({ code: coreInput ? ExitCode.badInput : Runtime.getErrorExitCode(error) })
  })

export const reported = <R>(program: Effect.Effect<void, unknown, R>): Effect.Effect<void, CommandExit, R> =>
  program.pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Option.match(Cause.findErrorOption(cause), {
          onNone: () =>
            Effect.andThen(
              Console.error(Cause.pretty(cause)),
              Effect.fail(new CommandExit({ code: ExitCode.failure }))
            ),
          onSome: report
        })
    )
  )

// effect/cli takes an argument that starts with "-" for short flags unless it is a plain number, so the value of
// `--price -1,2` would be read as the flags -1, -, and -2. No capstan flag is a digit: after a long flag, such an
// argument is that flag's value, and `--flag=value` says so to the parser.
const negativeValue = /^-[\d.]/
const longFlag = /^--[^=]+$/
export const joinNegativeValues = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  args.reduce<Array<string>>((joined, arg) => {
    const previous = joined.at(-1)
    if (previous !== undefined && longFlag.test(previous) && negativeValue.test(arg)) {
      joined[joined.length - 1] += `=${arg}`
    } else joined.push(arg)
    return joined
  }, [])
