#!/usr/bin/env node
/**
 * The `capstan` executable.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./Cli.js"

// When the reader of stdout or stderr goes away (`capstan batch --dry-run ... | head`), the next write fails with
// EPIPE. Node ignores SIGPIPE, so without this it would die with a stack trace; end instead as a process killed
// by SIGPIPE does, quietly with status 128 + 13. Rows already in the results file stay there (one write each).
const onStreamError = (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(141)
  throw error
}
process.stdout.on("error", onStreamError)
process.stderr.on("error", onStreamError)

// Errors are printed by `Cli.main` itself; the runtime only turns them into the exit code.
Cli.main.pipe(NodeRuntime.runMain({ disableErrorReporting: true }))
