/**
 * Where the runners of a cluster batch put their rows: one row per `(batch, item, choice)`, written once. A chunk
 * delivered twice (its runner was killed, the coordinator sent it again) writes nothing twice: the rows already there
 * win, and the chunk's handler skips the items that have them before sending anything.
 *
 * An item is done when it has a row for each of its choices (`params.n`, 1 by default): an item whose rows were only
 * partly written runs again, and only its missing rows are kept. {@link layerSql} keeps them in a PostgreSQL table
 * (`capstan_rows`, made on first use); {@link layerMemory} in memory, for tests on effect's in-memory `TestRunner`.
 *
 * @since 0.3.0
 */
import { Batch } from "@capstan/core"
import { Array as Arr, Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"
import { deflateRawSync, inflateRawSync } from "node:zlib"

/**
 * The row store could not be read or written (the database is down, a row does not decode). The rows written before
 * stay; the chunk is delivered again and goes on from them.
 *
 * @example
 * ```ts
 * import { RowStore } from "@capstan/cluster"
 *
 * const error = new RowStore.RowStoreError({ batchId: "reviews-1", operation: "write", reason: "connection refused" })
 * error.message // "cannot write the rows of batch reviews-1: connection refused"
 * ```
 * @since 0.3.0
 */
export class RowStoreError extends Schema.TaggedError<RowStoreError>()("RowStoreError", {
  batchId: Schema.String,
  operation: Schema.Literals(["read", "write", "setup"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.operation} the rows of batch ${this.batchId}: ${this.reason}`
  }
}

/**
 * Options of a write: where each row belongs in the batch, when its own `index` says otherwise.
 *
 * @example
 * ```ts
 * import type { RowStore } from "@capstan/cluster"
 *
 * const firstIndex = 500
 * const options: RowStore.WriteOptions = { indexOf: (row) => firstIndex + row.index }
 * ```
 * @since 0.3.0
 */
export interface WriteOptions {
  readonly indexOf?: ((row: Batch.Row) => number) | undefined
}

/**
 * The row store in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RowStore } from "@capstan/cluster"
 *
 * const count = RowStore.RowStore.use((store) => store.count("reviews-1")).pipe(Effect.provide(RowStore.layerMemory))
 * ```
 * @since 0.3.0
 */
export class RowStore extends Context.Service<RowStore, {
  /** The items of `[from, to)` that have a row for every choice. */
  readonly completed: (
    batchId: string,
    range: { readonly from: number; readonly to: number }
  ) => Effect.Effect<ReadonlySet<number>, RowStoreError>
  /**
   * Writes rows; rows already stored are kept as they are. Returns how many rows were new. `indexOf` places each row
   * in the batch (default: its own `index`), e.g. a runner's rows numbered within its chunk.
   */
  readonly write: (
    batchId: string,
    rows: ReadonlyArray<Batch.Row>,
    options?: WriteOptions
  ) => Effect.Effect<number, RowStoreError>
  /** Every row of a batch, in item then choice order. */
  readonly rows: (batchId: string) => Stream.Stream<Batch.Row, RowStoreError>
  /** How many rows and items a batch has, and how many of its rows failed. */
  readonly count: (
    batchId: string
  ) => Effect.Effect<{ readonly rows: number; readonly items: number; readonly failed: number }, RowStoreError>
}>()("@capstan/cluster/RowStore") {}

const byPosition = (a: Batch.Row, b: Batch.Row) => a.index - b.index || a.choice - b.choice

/** How many rows the item of a row has: one per choice. */
const choiceCount = (row: Batch.Row): number => row.params.n ?? 1

/**
 * Rows in memory, for one process (tests on `TestRunner`): released with the Layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { TestRunner } from "effect/cluster"
 * import { RowStore } from "@capstan/cluster"
 *
 * const cluster = Layer.mergeAll(TestRunner.layer, RowStore.layerMemory)
 * ```
 * @since 0.3.0
 */
export const layerMemory: Layer.Layer<RowStore> = Layer.sync(RowStore, () => {
  const batches = new Map<string, Map<string, Batch.Row>>()
  const batchOf = (batchId: string) => {
    let rows = batches.get(batchId)
    if (rows === undefined) batches.set(batchId, rows = new Map())
    return rows
  }
  return RowStore.of({
    completed: (batchId, { from, to }) =>
      Effect.sync(() => {
        const found = new Map<number, number>()
        const choicesOf = new Map<number, number>()
        for (const row of batchOf(batchId).values()) {
          if (row.index < from || row.index >= to) continue
          found.set(row.index, (found.get(row.index) ?? 0) + 1)
          choicesOf.set(row.index, choiceCount(row))
        }
        return new Set([...found].filter(([index, count]) => count >= choicesOf.get(index)!).map(([index]) => index))
      }),
    write: (batchId, rows, options) =>
      Effect.sync(() => {
        const stored = batchOf(batchId)
        let written = 0
        for (const row of rows) {
          const index = options?.indexOf?.(row) ?? row.index
          const key = `${index}/${row.choice}`
          if (stored.has(key)) continue
          stored.set(key, index === row.index ? row : new Batch.Row({ ...row, index }))
          written++
        }
        return written
      }),
    rows: (batchId) => Stream.suspend(() => Stream.fromIterable([...batchOf(batchId).values()].sort(byPosition))),
    count: (batchId) =>
      Effect.sync(() => {
        const rows = [...batchOf(batchId).values()]
        return {
          rows: rows.length,
          items: new Set(rows.map((row) => row.index)).size,
          failed: rows.filter((row) => row.error !== undefined).length
        }
      })
  })
})

const encodeRow = Schema.encodeSync(Batch.Row)

/**
 * A row's JSON line at its place in the batch, compressed: answers of tens of kilobytes are common, and moving them
 * through PostgreSQL's protocol costs more CPU than compressing them (level 1: about 0.2 ms for 100 KB, a twelfth of
 * the bytes).
 */
const compress = (row: Batch.Row, index: number): Uint8Array =>
  deflateRawSync(JSON.stringify(index === row.index ? encodeRow(row) : { ...encodeRow(row), index }), { level: 1 })

/** A stored row's JSON line; the output buffer is sized for typical ratios, as growing it in small steps is slow. */
const decompress = (data: Uint8Array): string =>
  inflateRawSync(data, { chunkSize: Math.min(4 * 1024 * 1024, Math.max(64 * 1024, data.length * 16)) }).toString("utf8")

/** Rows read back a page at a time, so a batch of any size streams in flat memory. */
const PAGE = 1000

const reasonOf = (error: SqlError): string => error.message

/**
 * Rows in a PostgreSQL table, `capstan_rows` (made on first use), through the `SqlClient` in context (`@effect/sql-pg`).
 * The primary key `(batch_id, item_index, choice)` makes every row exactly once; each row is its JSON line, compressed.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgClient } from "@effect/sql-pg"
 * import { RowStore } from "@capstan/cluster"
 *
 * const rows = RowStore.layerSql.pipe(Layer.provide(PgClient.layer({ url: Redacted.make("postgres://localhost/capstan") })))
 * ```
 * @since 0.3.0
 */
export const layerSql: Layer.Layer<RowStore, RowStoreError, SqlClient.SqlClient> = Layer.effect(
  RowStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS capstan_rows (
      batch_id TEXT NOT NULL,
      item_index INTEGER NOT NULL,
      choice INTEGER NOT NULL,
      choices INTEGER NOT NULL,
      ok BOOLEAN NOT NULL,
      row_data BYTEA NOT NULL,
      PRIMARY KEY (batch_id, item_index, choice)
    )`.pipe(
      Effect.mapError((error) => new RowStoreError({ batchId: "*", operation: "setup", reason: reasonOf(error) }))
    )
    const failed = (batchId: string, operation: "read" | "write") => (error: SqlError | Schema.SchemaError) =>
      new RowStoreError({ batchId, operation, reason: error.message })
    const page = (batchId: string, after: readonly [number, number]) =>
      sql<{ readonly row_data: Uint8Array; readonly item_index: number; readonly choice: number }>`
        SELECT row_data, item_index, choice FROM capstan_rows
        WHERE batch_id = ${batchId} AND (item_index > ${after[0]} OR (item_index = ${after[0]} AND choice > ${
        after[1]
      }))
        ORDER BY item_index, choice LIMIT ${PAGE}`
    return RowStore.of({
      completed: (batchId, { from, to }) =>
        sql<{ readonly item_index: number }>`
          SELECT item_index FROM capstan_rows
          WHERE batch_id = ${batchId} AND item_index >= ${from} AND item_index < ${to}
          GROUP BY item_index HAVING count(*) >= max(choices)`.pipe(
          Effect.map((found) => new Set(found.map((row) => Number(row.item_index)))),
          Effect.mapError(failed(batchId, "read"))
        ),
      write: (batchId, rows, options) =>
        !Arr.isReadonlyArrayNonEmpty(rows) ? Effect.succeed(0) : sql<{ readonly choice: number }>`
          INSERT INTO capstan_rows ${
          sql.insert(Arr.map(rows, (row) => {
            const index = options?.indexOf?.(row) ?? row.index
            return {
              batch_id: batchId,
              item_index: index,
              choice: row.choice,
              choices: choiceCount(row),
              ok: row.error === undefined,
              row_data: compress(row, index)
            }
          }))
        }
          ON CONFLICT DO NOTHING RETURNING choice`.pipe(
          Effect.map((written) => written.length),
          Effect.mapError(failed(batchId, "write"))
        ),
      rows: (batchId) =>
        Stream.paginate(
          [-1, -1] as readonly [number, number],
          (after) =>
            page(batchId, after).pipe(
              Effect.flatMap((found) =>
                Effect.forEach(found, (row) => Batch.fromJsonLine(decompress(row.row_data))).pipe(
                  Effect.map((rows) => {
                    const last = found.at(-1)
                    return [
                      rows,
                      found.length < PAGE || last === undefined
                        ? Option.none()
                        : Option.some([Number(last.item_index), Number(last.choice)] as const)
                    ] as const
                  })
                )
              ),
              Effect.mapError(failed(batchId, "read"))
            )
        ),
      count: (batchId) =>
        sql<{ readonly rows: number; readonly items: number; readonly failed: number }>`
          SELECT count(*)::int AS rows, count(DISTINCT item_index)::int AS items,
            count(*) FILTER (WHERE NOT ok)::int AS failed
          FROM capstan_rows WHERE batch_id = ${batchId}`.pipe(
          Effect.map(([counts]) => ({
            rows: Number(counts?.rows ?? 0),
            items: Number(counts?.items ?? 0),
            failed: Number(counts?.failed ?? 0)
          })),
          Effect.mapError(failed(batchId, "read"))
        )
    })
  })
)
