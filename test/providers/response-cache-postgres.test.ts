/**
 * The response cache on a server, for many machines: PostgreSQL through `@effect/sql-pg` and effect's
 * `Persistence.layerBackingSql`, the composition the README documents. The test starts its own server on loopback in
 * a temporary directory (`test/support/Postgres.ts`) and stops it after.
 */
import { Batch, Dataset, ResponseCache, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Persistence } from "effect/persistence"
import { SqlClient } from "effect/sql"
import * as Postgres from "../support/Postgres.js"

const items = Effect.runSync(
  Dataset.validate(Template.make("Say {word}"), ["one", "two", "three"].map((word) => ({ word })))
)

describe("the response cache in PostgreSQL", () => {
  it.live(
    "answers stored by one process's layer are read by another's: a second run sends nothing",
    () =>
      Effect.gen(function*() {
        const server = yield* Postgres.scoped
        const client = PgClient.layer({
          host: server.host,
          port: server.port,
          username: server.username,
          database: server.database
        })
        // As the README composes it: the cache over the SQL backing, over the client.
        const cache = () =>
          ResponseCache.layer.pipe(Layer.provide(Persistence.layerBackingSql), Layer.provide(client), Layer.fresh)
        const run = Batch.run(items, { cache: "readwrite" })
        // Each run builds its own client and cache (like two machines), and closes them after.
        const first = yield* run.pipe(Effect.provide(cache(), { local: true }))
        const second = yield* run.pipe(Effect.provide(cache(), { local: true }))
        expect(yield* MockGenerator.calls).toBe(3)
        expect(second.rows.map((row) => row.output)).toEqual(first.rows.map((row) => row.output))
        expect(second.rows.every(ResponseCache.isCached)).toBe(true)
        const stored = yield* SqlClient.SqlClient.use((sql) =>
          sql<
            { readonly count: number }
          >`SELECT count(*)::int AS count FROM effect_persistence WHERE store_id = ${"capstan_responses"}`
        ).pipe(Effect.provide(client, { local: true }))
        expect(stored[0]!.count).toBe(3)
      }).pipe(Effect.provide(MockGenerator.echo())),
    { timeout: 60_000 }
  )
})
