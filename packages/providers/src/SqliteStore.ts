/**
 * An embedded store for effect's `Persistence`, in one SQLite file (Node's built-in `node:sqlite`, no server and no
 * native module to install): the default store of the response cache (`ResponseCache`), in the user's cache
 * directory (`~/.cache/capstan/responses.sqlite` on Linux, `$XDG_CACHE_HOME/capstan/...` when set).
 *
 * One connection per layer, with prepared statements; every call is short and synchronous, so the fibers of a
 * process never interleave inside one. Writes are committed in batches (a transaction for every 256 entries, at
 * least every 100 ms, and when the layer closes). The file is in WAL mode with a busy timeout, so several processes
 * can read and write it at once. Entries survive restarts; expired ones are deleted when the file is opened.
 *
 * @since 0.3.0
 */
import { ResponseCache, ResponseCacheError } from "@capstan/core"
import { Array as Arr, Clock, type Duration, Effect, Layer, Schedule } from "effect"
import { Persistence, UserDirectories } from "effect/persistence"
import { mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import type * as Sqlite from "node:sqlite"

/**
 * Where the store lives and how long entries are kept.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "@capstan/providers"
 *
 * const options: SqliteStore.Options = { path: "./cache/responses.sqlite", timeToLive: "30 days" }
 * ```
 * @since 0.3.0
 */
export interface Options {
  /** The database file, created with its directory if missing (default: {@link defaultPath}). */
  readonly path?: string | undefined
  /** How long a response is kept (default: for ever). */
  readonly timeToLive?: ResponseCache.Options["timeToLive"]
}

/**
 * The default file: `responses.sqlite` in Capstan's directory of the user's cache (`$XDG_CACHE_HOME/capstan` when
 * set, else `~/.cache/capstan` on Linux, `~/Library/Caches/capstan` on macOS, `%LOCALAPPDATA%\Cache\capstan` on
 * Windows), read from the application's configuration (the environment by default).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteStore } from "@capstan/providers"
 *
 * const path = Effect.runSync(SqliteStore.defaultPath) // e.g. "/home/ada/.cache/capstan/responses.sqlite"
 * ```
 * @since 0.3.0
 */
export const defaultPath: Effect.Effect<string, ResponseCacheError> = Effect.gen(function*() {
  const directories = yield* UserDirectories.UserDirectories
  return join(yield* directories.cache("capstan"), "responses.sqlite")
}).pipe(
  Effect.provide(UserDirectories.layer),
  Effect.mapError((error) =>
    new ResponseCacheError({
      operation: "open",
      store: "the user's cache directory",
      reason: `${error.message}; set XDG_CACHE_HOME or HOME, or give the file's path`
    })
  )
)

/** The one table, shared by every store id (rows partitioned by it). */
const table = "capstan_persistence"

/**
 * `node:sqlite`, without the ExperimentalWarning some Node versions print when it loads: the CLI prints only what
 * concerns its run. The warning is filtered during this one synchronous load, nothing else is.
 */
const loadSqlite = (): typeof Sqlite | undefined => {
  const emitWarning = process.emitWarning
  process.emitWarning = (warning: string | Error, ...rest: Array<unknown>) => {
    const text = typeof warning === "string" ? warning : warning.message
    if (text.startsWith("SQLite is an experimental feature")) return
    return (emitWarning as (...args: Array<unknown>) => void).call(process, warning, ...rest)
  }
  try {
    return process.getBuiltinModule("node:sqlite")
  } finally {
    process.emitWarning = emitWarning
  }
}

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** Opens the file (creating it and its directory), in WAL mode, with the table and its statements. */
const open = (path: string) =>
  Effect.try({
    try: () => {
      const sqlite = loadSqlite()
      if (sqlite === undefined) {
        throw new Error(`node:sqlite is not available in Node ${process.version}; use Node 22.13 or later`)
      }
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true })
      const db = new sqlite.DatabaseSync(path, { timeout: 5_000 })
      try {
        // WAL: readers and a writer at once, across processes; mmap: reads without a copy through the page cache.
        db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456;")
        db.exec(
          `CREATE TABLE IF NOT EXISTS ${table} (store_id TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, ` +
            `expires INTEGER, PRIMARY KEY (store_id, id)) WITHOUT ROWID`
        )
        db.prepare(`DELETE FROM ${table} WHERE expires IS NOT NULL AND expires <= ?`).run(Date.now())
      } catch (cause) {
        db.close()
        throw cause
      }
      return db
    },
    catch: (cause) => new ResponseCacheError({ operation: "open", store: path, reason: messageOf(cause) })
  })

/** Entries written but not yet committed: value and expiry (epoch ms, or null), by store id and key. */
type Pending = Map<string, Map<string, readonly [value: string, expires: number | null]>>

const rowOf = (row: unknown): readonly [value: string, expires: number | null] | undefined => {
  if (row === undefined) return undefined
  const { expires, value } = row as { readonly value: string; readonly expires: number | null }
  return [value, expires]
}

/** Pending writes are committed together once there are this many (and at least every {@link flushEvery}). */
const flushAt = 256
const flushEvery = "100 millis"

/**
 * The file's statements. Writes are committed in batches (one transaction for up to {@link flushAt} entries, at
 * least every {@link flushEvery} and when the layer closes): one commit per entry costs about 0.1 ms, more than
 * the rest of a cached request. Reads see pending writes. A process killed outright loses the last batch: those
 * answers are asked again next time.
 */
const statementsOf = (db: Sqlite.DatabaseSync, path: string) => {
  const select = db.prepare(`SELECT value, expires FROM ${table} WHERE store_id = ? AND id = ?`)
  const upsert = db.prepare(
    `INSERT INTO ${table} (store_id, id, value, expires) VALUES (?, ?, ?, ?) ` +
      `ON CONFLICT (store_id, id) DO UPDATE SET value = excluded.value, expires = excluded.expires`
  )
  const remove = db.prepare(`DELETE FROM ${table} WHERE store_id = ? AND id = ?`)
  const clear = db.prepare(`DELETE FROM ${table} WHERE store_id = ?`)
  const pending: Pending = new Map()
  let count = 0
  const flushUnsafe = (): void => {
    if (count === 0) return
    db.exec("BEGIN")
    try {
      for (const [storeId, entries] of pending) {
        for (const [key, [value, expires]] of entries) upsert.run(storeId, key, value, expires)
      }
      db.exec("COMMIT")
    } catch (cause) {
      db.exec("ROLLBACK")
      throw cause
    } finally {
      // What could not be committed is dropped with the transaction: a cache loses entries, never answers wrongly.
      pending.clear()
      count = 0
    }
  }
  const failure = (what: string) => (cause: unknown) =>
    new Persistence.PersistenceError({ message: `${path}: cannot ${what}: ${messageOf(cause)}`, cause })
  const attempt = <A>(what: string, f: () => A) => Effect.try({ try: f, catch: failure(what) })
  const storeOf = (storeId: string, clock: Clock.Clock): Persistence.BackingPersistenceStore => {
    const pendingOf = () => {
      let entries = pending.get(storeId)
      if (entries === undefined) pending.set(storeId, entries = new Map())
      return entries
    }
    const read = (key: string): object | undefined => {
      const row = pending.get(storeId)?.get(key) ?? rowOf(select.get(storeId, key))
      if (row === undefined) return undefined
      const [value, expires] = row
      if (expires !== null && expires <= clock.currentTimeMillisUnsafe()) return undefined
      return JSON.parse(value) as object
    }
    const write = (key: string, value: object, ttl: Duration.Duration | undefined): void => {
      const entries = pendingOf()
      if (!entries.has(key)) count++
      entries.set(key, [JSON.stringify(value), Persistence.unsafeTtlToExpires(clock, ttl)])
      if (count >= flushAt) flushUnsafe()
    }
    return {
      get: (key) => attempt(`read entry ${key}`, () => read(key)),
      getMany: (keys) => attempt("read entries", () => Arr.map(keys, read)),
      set: (key, value, ttl) => attempt(`write entry ${key}`, () => write(key, value, ttl)),
      setMany: (entries) =>
        attempt("write entries", () => {
          for (const [key, value, ttl] of entries) write(key, value, ttl)
        }),
      remove: (key) =>
        attempt(`remove entry ${key}`, () => {
          if (pending.get(storeId)?.delete(key) === true) count--
          remove.run(storeId, key)
        }),
      clear: attempt("clear the store", () => {
        count -= pending.get(storeId)?.size ?? 0
        pending.delete(storeId)
        clear.run(storeId)
      })
    }
  }
  return { storeOf, flush: attempt("write entries", flushUnsafe) }
}

/**
 * A `BackingPersistence` in the SQLite file at `path`: one table (`capstan_persistence`) partitioned by store id.
 * The file is closed when the layer's scope closes. Fails with `ResponseCacheError` when the file cannot be opened
 * (its directory not writable, not a database, or a Node without `node:sqlite`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Persistence } from "effect/persistence"
 * import { SqliteStore } from "@capstan/providers"
 *
 * // any Persistable store of effect's in the file, or a response cache of another name
 * const persistence = Persistence.layer.pipe(Layer.provide(SqliteStore.layerBacking("./responses.sqlite")))
 * ```
 * @since 0.3.0
 */
export const layerBacking = (
  path: string
): Layer.Layer<Persistence.BackingPersistence, ResponseCacheError> =>
  Layer.effect(
    Persistence.BackingPersistence,
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(open(path), (db) => Effect.sync(() => db.close()))
      const statements = statementsOf(db, path)
      const flush = statements.flush.pipe(Effect.catch((error) => Effect.logWarning(error.message)))
      // Released before the file is closed: the last batch is committed first.
      yield* Effect.addFinalizer(() => flush)
      yield* flush.pipe(Effect.repeat(Schedule.spaced(flushEvery)), Effect.forkScoped)
      const clock = yield* Clock.Clock
      return Persistence.BackingPersistence.of({
        make: (storeId) => Effect.sync(() => statements.storeOf(storeId, clock))
      })
    })
  )

/**
 * The response cache in a SQLite file (default {@link defaultPath}): what the CLI's `--cache` uses.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, Template } from "@capstan/core"
 * import { Providers, SqliteStore } from "@capstan/providers"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   return yield* Batch.run(items, { cache: "readwrite" })
 * }).pipe(
 *   Effect.provide([Generator.layer("gpt-4o-mini"), SqliteStore.layerResponseCache({ path: "responses.sqlite" })]),
 *   Effect.provide(Providers.layer)
 * )
 * ```
 * @since 0.3.0
 */
export const layerResponseCache = (
  options: Options = {}
): Layer.Layer<ResponseCache.ResponseCache, ResponseCacheError> =>
  ResponseCache.layerWith(options.timeToLive === undefined ? {} : { timeToLive: options.timeToLive }).pipe(
    Layer.provide(
      Layer.unwrap(Effect.map(options.path === undefined ? defaultPath : Effect.succeed(options.path), layerBacking))
    )
  )
