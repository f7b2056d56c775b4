/**
 * `@capstan/cli`: the `capstan` command (effect/cli) and the pieces it is built from, for programs that want
 * the same input reading, resumable results files, progress display or summary.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
export * from "./Errors.js"
export * as Input from "./Input.js"
export * as Output from "./Output.js"
export * as Progress from "./Progress.js"
export * as Summary from "./Summary.js"
