/**
 * Printing command lines a user can paste back into a shell.
 *
 * @internal
 */

// No `!`: interactive bash expands it even unquoted (`openai!gpt-4o` must be quoted).
const safe = /^[\w@%+=:,./-]+$/

/** One argument, single-quoted when the shell would otherwise change it. */
export const quote = (arg: string): string => (safe.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)

/** A command line from its arguments. */
export const commandLine = (args: ReadonlyArray<string>): string => args.map(quote).join(" ")

/** The line `capstan batch` prints after its summary: the command that writes the report of its results file. */
export const reportHint = (output: string): string => `Report: ${commandLine(["capstan", "report", output])}`
