/**
 * `capstan runner --cluster postgres://...`: joins a cluster as a runner of the `capstan` job, handles the chunks of
 * the shards it owns with the providers' keys from its own environment, and runs until SIGINT or SIGTERM (then it
 * leaves gracefully: its shards and unanswered chunks move to the other runners).
 *
 * @internal
 */
import { ClusterBatch, PostgresCluster } from "@capstan/cluster"
import { Config, Effect, Layer, Option, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { clusterError } from "./cluster.js"
import { Job } from "./clusterJob.js"
import * as ClusterUrl from "./clusterUrl.js"

const clusterFlag = Flag.Redacted("cluster").pipe(
  Flag.withDescription(
    "the cluster's PostgreSQL URL, e.g. postgres://capstan:PASSWORD@db.internal:5432/capstan (kept secret: never printed with its password); default $CAPSTAN_CLUSTER_URL, which keeps the password out of the process list"
  ),
  Flag.withFallbackConfig(Config.Redacted("CAPSTAN_CLUSTER_URL"))
)

const flags = {
  cluster: clusterFlag,
  host: Flag.String("host").pipe(
    Flag.withDescription("the address other runners reach this one at (default 127.0.0.1)"),
    Flag.optional
  ),
  port: Flag.Int("port").pipe(
    Flag.withDescription("the port this runner listens on for the other runners (default: a free port)"),
    Flag.filter((n) => n >= 1 && n <= 65535, (n) => `--port must be between 1 and 65535, got ${n}`),
    Flag.optional
  ),
  listenHost: Flag.String("listen-host").pipe(
    Flag.withDescription("the interface to listen on, when it differs from --host (e.g. 0.0.0.0 in a container)"),
    Flag.optional
  ),
  budget: Flag.String("budget").pipe(
    Flag.withDescription(
      "how runners share the provider's rpm/tpm: shared (one budget in the database, the default), split:N (this runner keeps 1/N), local (the whole limits)"
    ),
    Flag.withDefault("shared")
  ),
  chunksAtOnce: Flag.Int("chunks-at-once").pipe(
    Flag.withDescription("chunks this runner works on at once (default 2; each sends up to --concurrency requests)"),
    Flag.filter((n) => n >= 1, (n) => `--chunks-at-once must be at least 1, got ${n}`),
    Flag.optional
  )
} as const

type RunnerConfig = Command.Command.Config.Infer<typeof flags>

/** Joins the cluster and handles chunks until interrupted. */
const runner = (config: RunnerConfig) =>
  Effect.scoped(
    Effect.gen(function*() {
      const url = yield* ClusterUrl.check(config.cluster)
      const budget = yield* ClusterUrl.budgetOf(config.budget)
      const host = Option.getOrElse(config.host, () => "127.0.0.1")
      const listenHost = Option.getOrUndefined(config.listenHost)
      const port = Option.isSome(config.port) ? config.port.value : yield* PostgresCluster.freePort(listenHost ?? host)
      const chunksAtOnce = Option.getOrUndefined(config.chunksAtOnce)
      // Loaded here, not at start-up: the providers' SDKs are most of the start-up time, which --help never needs.
      const { Providers } = yield* Effect.promise(() => import("@capstan/providers"))
      // Built into this command's scope: the providers' HTTP transport lives as long as the runner.
      yield* Layer.build(
        ClusterBatch.layer(Job, { budget, chunksAtOnce }).pipe(
          Layer.provide(PostgresCluster.layerRunner({ url, host, port, listenHost })),
          Layer.provide(Providers.layer)
        )
      )
      const stdio = yield* Stdio.Stdio
      yield* Stream.make(
        `capstan runner: ready at ${host}:${port} on ${ClusterUrl.masked(url)} (budget ${config.budget}, ${
          chunksAtOnce ?? 2
        } chunks at once); Ctrl-C to leave\n`
      ).pipe(Stream.run(stdio.stderr()), Effect.ignore)
      return yield* Effect.never
    }).pipe(Effect.catchTag("ClusterSetupError", clusterError))
  )

export const command = Command.make("runner", flags, runner).pipe(
  Command.withShortDescription("Join a cluster as a runner of `capstan batch --cluster` chunks"),
  Command.withDescription(
    [
      "Join a Capstan cluster (PostgreSQL) as a runner: this process handles the chunks of `capstan batch --cluster`",
      "runs sent to its shards, with the providers' API keys from its own environment (e.g. OPENAI_API_KEY), and",
      "writes each row once to the database. It prints one line when ready and runs until Ctrl-C or SIGTERM, then",
      "leaves gracefully: its chunks move to the other runners, which skip the items that already have rows."
    ].join("\n")
  ),
  Command.withExamples([
    {
      command: "OPENAI_API_KEY=... capstan runner --cluster postgres://capstan@db.internal:5432/capstan",
      description: "Start a runner on this machine"
    },
    {
      command: "capstan runner --cluster \"$CAPSTAN_DB\" --host 10.0.0.5 --port 34431 --listen-host 0.0.0.0",
      description: "A runner in a container, reached by the others at 10.0.0.5:34431"
    }
  ])
)
