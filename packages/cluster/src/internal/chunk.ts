/**
 * A chunk: the message a coordinator sends (its items, the generator, the job's settings), the entity that receives
 * it, its reply, and the coordinator's side (splitting the items, sending every chunk, reading the replies).
 *
 * @internal
 */
import { BatchStopped, Dataset, GeneratorRegistry, Identifier } from "@capstan/core"
import { Effect, Schema, Stream } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

export const DEFAULT_CHUNK_SIZE = 250
export const DEFAULT_CHUNKS_IN_FLIGHT = 32

/** The fields of a chunk message. `run` names the coordinator run that sent it; `attempt` is part of its key. */
export const chunkFields = {
  batchId: Schema.String,
  chunk: Schema.Int,
  attempt: Schema.Int,
  run: Schema.String,
  generator: Schema.String,
  firstIndex: Schema.Int,
  settings: Schema.Json,
  items: Schema.Array(Dataset.RenderedItem)
}

export type Chunk = Schema.Struct<typeof chunkFields>["Type"]

/**
 * The reply to a chunk: rows written, items found done, and `stopped` when it stopped sending (every request failed
 * the same way).
 */
export class ChunkDone extends Schema.Class<ChunkDone>("@capstan/cluster/ChunkDone")({
  run: Schema.String,
  written: Schema.Int,
  skipped: Schema.Int,
  stopped: Schema.optionalKey(BatchStopped)
}) {}

/**
 * A runner could not run a chunk: its generator cannot be built there (no key, an unknown provider), its settings do
 * not fit the job, or the row store kept refusing its rows.
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * new ClusterBatch.ChunkFailed({ batchId: "b1", chunk: 3, run: "r1", reason: "no OPENAI_API_KEY" }).message
 * ```
 * @since 0.3.0
 */
export class ChunkFailed extends Schema.TaggedError<ChunkFailed>()("ChunkFailed", {
  batchId: Schema.String,
  chunk: Schema.Int,
  run: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `chunk ${this.chunk} of batch ${this.batchId} failed on its runner: ${this.reason}. Fix that on the runners, then run the same batch id again: rows already written are kept`
  }
}

/**
 * The cluster did not take a chunk (its message store or runners cannot be reached).
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * new ClusterBatch.ClusterUnavailable({ batchId: "b1", reason: "PersistenceError: connection refused" }).message
 * ```
 * @since 0.3.0
 */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>()("ClusterUnavailable", {
  batchId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the cluster did not take the chunks of batch ${this.batchId}: ${this.reason}. Check the database URL and that runners are up, then run the same batch id again`
  }
}

/**
 * The generator identifier of a cluster batch holds a secret: it would be stored with every chunk in the message store.
 *
 * @example
 * ```ts
 * import { ClusterBatch } from "@capstan/cluster"
 *
 * new ClusterBatch.SecretInGenerator({ generator: "openai!gpt-4o-mini,api_key=***" }).message
 * ```
 * @since 0.3.0
 */
export class SecretInGenerator extends Schema.TaggedError<SecretInGenerator>()("SecretInGenerator", {
  generator: Schema.String
}) {
  override get message(): string {
    return `the generator ${this.generator} holds a secret, which would be stored with every chunk: remove it from the identifier and set the key in each runner's environment (e.g. OPENAI_API_KEY)`
  }
}

export const entityOf = (name: string) =>
  Entity.make(`capstan/batch/${name}`, [
    Rpc.make("Run", {
      payload: chunkFields,
      success: ChunkDone,
      error: ChunkFailed,
      primaryKey: ({ attempt, batchId, chunk }) => `${batchId}/${chunk}/${attempt}`
    })
  ]).annotateRpcs(ClusterSchema.Persisted, true)

export type ChunkEntity = ReturnType<typeof entityOf>

/** One chunk answered: how many rows it wrote, how many of its items already had rows. */
export interface ChunkProgress {
  readonly chunk: number
  readonly items: number
  readonly written: number
  readonly skipped: number
}

/** What the coordinator's side needs of a run. */
export interface SendOptions {
  readonly batchId: string
  readonly generator: string
  readonly chunkSize?: number | undefined
  readonly chunksInFlight?: number | undefined
  readonly onChunk?: ((done: ChunkProgress) => Effect.Effect<void>) | undefined
}

/** The identifier, parsed; refused when it carries a secret. */
export const checkGenerator = (text: string) =>
  Effect.flatMap(GeneratorRegistry.parse(text), (identifier) => {
    const masked = Identifier.format(identifier)
    return masked === Identifier.format(identifier, { secrets: "show" })
      ? Effect.succeed(identifier)
      : Effect.fail(new SecretInGenerator({ generator: masked }))
  })

/** Attempts of one chunk at most: each earlier one ended in a failure or a stop recorded by an earlier run. */
const MAX_ATTEMPTS = 1000

/**
 * Sends every chunk of a batch and waits for their replies. A reply recorded by an earlier run (the same key sent
 * before) that ended in a failure or a stop is not this run's answer: the chunk is sent again under its next attempt.
 */
export const sendAll = <EI, RI>(
  entity: ChunkEntity,
  settings: Schema.Json,
  items: Iterable<Dataset.RenderedItem> | Stream.Stream<Dataset.RenderedItem, EI, RI>,
  options: SendOptions
) =>
  Effect.gen(function*() {
    const generator = Identifier.format(yield* checkGenerator(options.generator))
    const client = yield* entity.client
    const run = crypto.randomUUID()
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
    const send = (
      chunk: number,
      firstIndex: number,
      chunkItems: ReadonlyArray<Dataset.RenderedItem>,
      attempt: number
    ): Effect.Effect<ChunkDone, ChunkFailed | ClusterUnavailable | BatchStopped> => {
      const again = () => send(chunk, firstIndex, chunkItems, attempt + 1)
      return client(`${options.batchId}/${chunk}`).Run({
        batchId: options.batchId,
        chunk,
        attempt,
        run,
        generator,
        firstIndex,
        settings,
        items: chunkItems
      }).pipe(
        Effect.catch((error) =>
          error._tag === "ChunkFailed"
            ? error.run !== run && attempt < MAX_ATTEMPTS ? again() : Effect.fail(error)
            : Effect.fail(
              new ClusterUnavailable({ batchId: options.batchId, reason: `${error._tag}: ${error.message}` })
            )
        ),
        Effect.flatMap((done) =>
          done.stopped === undefined
            ? Effect.succeed(done)
            : done.run !== run && attempt < MAX_ATTEMPTS
            ? again()
            : Effect.fail(done.stopped)
        )
      )
    }
    const source = Stream.isStream(items) ? items : Stream.fromIterable(items)
    yield* source.pipe(
      Stream.grouped(chunkSize),
      Stream.mapEffect(
        (chunkItems, chunk) =>
          send(chunk, chunk * chunkSize, chunkItems, 0).pipe(
            Effect.tap((done) =>
              options.onChunk === undefined ? Effect.void : options.onChunk({
                chunk,
                items: chunkItems.length,
                written: done.written,
                skipped: done.skipped
              })
            )
          ),
        { concurrency: options.chunksInFlight ?? DEFAULT_CHUNKS_IN_FLIGHT, unordered: true }
      ),
      Stream.runDrain
    )
  })
