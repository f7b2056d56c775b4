#!/usr/bin/env node
/**
 * The `capstan` executable.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./Cli.js"

// Errors are printed by `Cli.main` itself; the runtime only turns them into the exit code.
Cli.main.pipe(NodeRuntime.runMain({ disableErrorReporting: true }))
