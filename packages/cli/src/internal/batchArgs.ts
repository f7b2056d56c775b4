/**
 * What `capstan batch` takes, and what its flags need beyond parsing: prices and durations read from their text,
 * and the command line that resumes a run.
 *
 * @internal
 */
import { Identifier, type ProviderBatch, type ResponseCache, type Usage } from "@capstan/core"
import { Duration, Effect, Option, type Redacted } from "effect"
import { Flag } from "effect/cli"
import { UsageError } from "../Errors.js"
import type * as Run from "./run.js"
import * as Shell from "./shell.js"

export interface BatchConfig {
  readonly template: string
  readonly input: string
  readonly output: string
  readonly generator: Option.Option<string>
  readonly concurrency: Option.Option<number>
  readonly rpm: Option.Option<number>
  readonly tpm: Option.Option<number>
  readonly maxRetries: Option.Option<number>
  readonly n: Option.Option<number>
  readonly param: Option.Option<Readonly<Record<string, string>>>
  readonly parse: Option.Option<string>
  readonly idField: string
  readonly price: Option.Option<string>
  readonly encoding: Option.Option<string>
  readonly resume: boolean
  readonly retryFailed: Run.RetryFailed
  readonly force: boolean
  readonly overwrite: boolean
  readonly dryRun: boolean
  /** How requests are sent: `realtime` (default), `provider-batch` (the provider's batch API) or `auto`. */
  readonly via?: "realtime" | "provider-batch" | "auto" | undefined
  /** Provider batch mode: what answers the requests a batch did not (default `realtime`). */
  readonly batchFallback?: ProviderBatch.Fallback | undefined
  /** Provider batch mode: time between two looks at a running batch, e.g. "30 seconds". */
  readonly pollInterval?: Option.Option<string> | undefined
  /** Provider batch mode: cancel the batches in flight on Ctrl-C (default: leave them running, for --resume). */
  readonly cancelOnInterrupt?: boolean | undefined
  /** The response cache: off (the default), read, write or readwrite. */
  readonly cache?: ResponseCache.Mode | undefined
  /** The response cache's SQLite file (default: `responses.sqlite` in the user's cache directory). */
  readonly cacheFile?: Option.Option<string> | undefined
  /** Run the batch on a cluster of `capstan runner` processes: its PostgreSQL URL. */
  readonly cluster?: Option.Option<Redacted.Redacted<string>> | undefined
  /** The cluster batch's id (default: a digest of the run's definition and input). */
  readonly batchId?: Option.Option<string> | undefined
  /** Items per chunk sent to a runner (default 250). */
  readonly chunkSize?: Option.Option<number> | undefined
}

/** `--price INPUT,OUTPUT`, of `capstan batch` and `capstan report` (read by {@link parsePrice}). */
export const priceFlag = Flag.String("price").pipe(
  Flag.withDescription(
    "price per million tokens as INPUT,OUTPUT (e.g. 0.15,0.60), to report the cost (default: the built-in list price of a known model)"
  ),
  Flag.optional
)

export const parsePrice = (text: string): Effect.Effect<Usage.PerMillion, UsageError> => {
  const parts = text.split(",").map((part) => part.trim())
  const prices = parts.map(Number)
  if (parts.length !== 2 || parts.some((part) => part.length === 0) || !prices.every(Number.isFinite)) {
    return Effect.fail(
      new UsageError({
        reason: `--price expects INPUT,OUTPUT per million tokens, got "${text}"`,
        hint: "e.g. --price 0.15,0.60"
      })
    )
  }
  if (prices.some((n) => n < 0)) {
    return Effect.fail(
      new UsageError({
        reason: `--price ${text}: a price cannot be negative`,
        hint: "Give the price per million input and output tokens, e.g. --price 0.15,0.60 (0 for a free model)"
      })
    )
  }
  return Effect.succeed({ inputPerMillion: prices[0]!, outputPerMillion: prices[1]! })
}

/** A duration flag, e.g. "30 seconds" or "500 millis". */
export const parseDuration = (flag: string, text: string) =>
  Option.match(Duration.fromInput(text as Duration.Input), {
    onNone: () =>
      Effect.fail(
        new UsageError({
          reason: `${flag} expects a duration, got "${text}"`,
          hint: `e.g. ${flag} "30 seconds" or ${flag} "500 millis"`
        })
      ),
    onSome: (duration) => Effect.succeed(duration)
  })

/**
 * The `capstan batch` command line that resumes this run (the generator's secrets masked).
 */
export const resumeCommand = (config: BatchConfig): string => {
  const args = ["capstan", "batch", "--template", config.template, "--input", config.input, "--output", config.output]
  const optional: ReadonlyArray<readonly [string, Option.Option<string | number>]> = [
    ["--generator", Option.map(config.generator, (text) => Identifier.maskSecrets(text))],
    ["--concurrency", config.concurrency],
    ["--rpm", config.rpm],
    ["--tpm", config.tpm],
    ["--max-retries", config.maxRetries],
    ["--n", config.n],
    ["--parse", config.parse],
    ["--price", config.price],
    ["--encoding", config.encoding],
    ["--cache", config.cache === undefined || config.cache === "off" ? Option.none() : Option.some(config.cache)],
    ["--cache-file", config.cacheFile ?? Option.none()]
  ]
  for (const [flag, value] of optional) if (Option.isSome(value)) args.push(flag, String(value.value))
  for (const [key, value] of Object.entries(Option.getOrElse(config.param, () => ({})))) {
    args.push("--param", Identifier.maskSecrets(`${key}=${value}`))
  }
  if (config.idField !== "id") args.push("--id-field", config.idField)
  if (config.via !== undefined && config.via !== "realtime") args.push("--via", config.via)
  if (config.batchFallback !== undefined && config.batchFallback !== "realtime") {
    args.push("--batch-fallback", config.batchFallback)
  }
  if (config.pollInterval !== undefined && Option.isSome(config.pollInterval)) {
    args.push("--poll-interval", config.pollInterval.value)
  }
  if (config.cancelOnInterrupt === true) args.push("--cancel-on-interrupt")
  args.push("--resume")
  if (config.retryFailed !== "all") args.push("--retry-failed", config.retryFailed)
  return Shell.commandLine(args)
}
