/**
 * A Capstan cluster on PostgreSQL: the layers a runner process and a coordinator process need. Both connect to the
 * same database, which holds effect's cluster tables (runners, shard locks, persisted messages and replies), the
 * rows ({@link RowStore}) and the shared rate budget ({@link SharedBudget}).
 *
 * - {@link layerRunner}: this process owns shards and handles their chunks; it listens for the other runners on
 *   `host:port` (a free port by default) and registers there under that address.
 * - {@link layerClient}: this process only sends (a coordinator, the CLI): it owns no shards.
 *
 * Shards move when a runner stops or dies: PostgreSQL releases a dead runner's advisory locks with its connection,
 * and the other runners take its shards within a few seconds and deliver its unanswered chunks again.
 *
 * @since 0.3.0
 */
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Cause, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { type MessageStorage, RunnerAddress, type Runners, type Sharding, type ShardingConfig } from "effect/cluster"
import { createServer } from "node:net"
import * as RowStore from "./RowStore.js"
import * as SharedBudget from "./SharedBudget.js"

/**
 * Where the cluster's database is, and effect's sharding settings to override (see `ShardingConfig`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type { PostgresCluster } from "@capstan/cluster"
 *
 * const options: PostgresCluster.Options = { url: Redacted.make("postgres://capstan@db.internal/capstan") }
 * ```
 * @since 0.3.0
 */
export interface Options {
  /** The PostgreSQL URL (`postgres://user:password@host:port/database`); held as `Redacted`. */
  readonly url: Redacted.Redacted<string> | string
  /** Connections this process keeps to the database (default 10). */
  readonly maxConnections?: number | undefined
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/**
 * A runner's options: the address other runners reach it at (default `127.0.0.1` and a free port) and the address it
 * listens on (default the same).
 *
 * @example
 * ```ts
 * import type { PostgresCluster } from "@capstan/cluster"
 *
 * const options: PostgresCluster.RunnerOptions = { url: "postgres://localhost/capstan", host: "10.0.0.5", port: 34431 }
 * ```
 * @since 0.3.0
 */
export interface RunnerOptions extends Options {
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** The interface to listen on, when it differs from `host` (e.g. `0.0.0.0` in a container). */
  readonly listenHost?: string | undefined
}

/**
 * The cluster could not be joined: the database refused the connection, or the runner's port is taken.
 *
 * @example
 * ```ts
 * import { PostgresCluster } from "@capstan/cluster"
 *
 * new PostgresCluster.ClusterSetupError({ reason: "connection refused" }).message
 * ```
 * @since 0.3.0
 */
export class ClusterSetupError extends Schema.TaggedError<ClusterSetupError>()("ClusterSetupError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot join the cluster: ${this.reason}. Check the PostgreSQL URL (--cluster) and that the database accepts connections`
  }
}

/**
 * Sharding settings for batches, over effect's defaults: chunks are long (seconds to minutes) and few, so a runner
 * looks for chunks moved to it every second, and a dead runner is noticed within seconds rather than a minute.
 */
const batchSharding: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  entityMessagePollInterval: Duration.seconds(1),
  entityReplyPollInterval: Duration.millis(200),
  refreshAssignmentsInterval: Duration.seconds(1),
  runnerHealthCheckInterval: Duration.seconds(5),
  shardLockRefreshInterval: Duration.seconds(5),
  shardLockExpiration: Duration.seconds(15),
  shardsPerGroup: 64
}

const database = (options: Options) =>
  PgClient.layer({
    url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
    maxConnections: options.maxConnections ?? 10
  })

const setupFailed = (error: { readonly message: string }) => new ClusterSetupError({ reason: error.message })

/** Whatever stops the layers from being built (a refused connection, a taken port) is a setup error. */
const refusedAsSetupError = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, ClusterSetupError, R> =>
  Layer.catchCause(layer, (cause) => {
    const error = Cause.squash(cause)
    return Layer.effectDiscard(
      Effect.fail(setupFailed({ message: error instanceof Error ? error.message : String(error) }))
    ) as Layer.Layer<A, ClusterSetupError>
  })

/**
 * A free port on a host: the operating system's choice, released for a runner to take (what {@link layerRunner} uses
 * when no port is given; a program that prints its runner's address picks it first).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PostgresCluster } from "@capstan/cluster"
 *
 * const port = PostgresCluster.freePort("127.0.0.1").pipe(Effect.runPromise)
 * ```
 * @since 0.3.0
 */
export const freePort = (host: string): Effect.Effect<number, ClusterSetupError> =>
  Effect.callback<number, ClusterSetupError>((resume) => {
    const server = createServer()
    server.once("error", (error) => resume(Effect.fail(setupFailed(error))))
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() =>
        resume(
          typeof address === "object" && address !== null
            ? Effect.succeed(address.port)
            : Effect.fail(new ClusterSetupError({ reason: `no free port on ${host}` }))
        )
      )
    })
  })

/**
 * The layers of a runner process: effect's sharding over sockets with its storage in PostgreSQL, the row store and
 * the shared budget in the same database. Give it to the jobs' layers (`ClusterBatch.layer(job)`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { ClusterBatch, PostgresCluster } from "@capstan/cluster"
 *
 * const Job = ClusterBatch.make("summaries")
 * const runner = ClusterBatch.layer(Job).pipe(Layer.provide(PostgresCluster.layerRunner({ url: "postgres://localhost/capstan" })))
 * // NodeRuntime.runMain(Layer.launch(runner))
 * ```
 * @since 0.3.0
 */
export const layerRunner = (
  options: RunnerOptions
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | RowStore.RowStore | SharedBudget.SharedBudget,
  ClusterSetupError
> =>
  Layer.unwrap(Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? (yield* freePort(options.listenHost ?? host))
    const sharding = NodeClusterSocket.layer({
      storage: "sql",
      shardingConfig: {
        ...batchSharding,
        ...options.shardingConfig,
        runnerAddress: Option.some(RunnerAddress.make(host, port)),
        ...(options.listenHost === undefined
          ? {}
          : { runnerListenAddress: Option.some(RunnerAddress.make(options.listenHost, port)) })
      }
    })
    return Layer.mergeAll(sharding, RowStore.layerSql, SharedBudget.layerSql).pipe(
      Layer.provide(database(options)),
      refusedAsSetupError
    )
  }))

/**
 * The layers of a process that only sends (a coordinator): effect's sharding as a client, with its storage in
 * PostgreSQL, and the row store to read the rows back.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ClusterBatch, PostgresCluster } from "@capstan/cluster"
 *
 * declare const program: Effect.Effect<void, never, ClusterBatch.Requirements>
 * const main = program.pipe(Effect.provide(PostgresCluster.layerClient({ url: "postgres://localhost/capstan" })))
 * ```
 * @since 0.3.0
 */
export const layerClient = (
  options: Options
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | RowStore.RowStore,
  ClusterSetupError
> =>
  Layer.mergeAll(
    NodeClusterSocket.layer({
      clientOnly: true,
      storage: "sql",
      shardingConfig: { ...batchSharding, ...options.shardingConfig }
    }),
    RowStore.layerSql
  ).pipe(Layer.provide(database(options)), refusedAsSetupError)
