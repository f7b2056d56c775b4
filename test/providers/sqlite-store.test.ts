/**
 * The SQLite store of effect's `Persistence` (`SqliteStore`): entries survive the layer that wrote them, many fibers
 * and two connections share a file, expiry, the default file in the user's cache directory, and a file that
 * cannot be opened.
 */
import { Generation, ResponseCache, Usage } from "@capstan/core"
import { SqliteStore } from "@capstan/providers"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { Persistence } from "effect/persistence"
import { TestClock } from "effect/testing"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "capstan-sqlite-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const answer = (i: number) =>
  Generation.fromTexts([`answer ${i}`, `other ${i}`], new Usage.Usage({ inputTokens: i, outputTokens: 2 * i }))

/** Runs `effect` with the cache in `path`, in a layer built for it alone (opened, then closed). */
const withCache =
  (path: string, options: Omit<SqliteStore.Options, "path"> = {}) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(effect, SqliteStore.layerResponseCache({ path, ...options }), { local: true })

describe("SqliteStore", () => {
  it.live(
    "10 000 entries written by many fibers survive the layer: a second build reads them all back",
    () =>
      Effect.gen(function*() {
        const path = join(yield* tempDir, "nested", "dir", "responses.sqlite")
        const count = 10_000
        const keys = Array.from({ length: count }, (_, i) => `key-${i}`)
        const started = performance.now()
        yield* ResponseCache.ResponseCache.use((cache) =>
          Effect.forEach(keys, (key, i) => cache.set(key, answer(i)), { concurrency: 64, discard: true })
        ).pipe(withCache(path))
        const written = performance.now()
        const read = yield* ResponseCache.ResponseCache.use((cache) =>
          Effect.forEach(keys, (key) => cache.get(key), { concurrency: 64 })
        ).pipe(withCache(path))
        const done = performance.now()
        expect(read.every(Option.isSome)).toBe(true)
        const values = read.map((entry) => Option.getOrThrow(entry))
        expect(values[1234]!.choices.map((c) => c.text)).toEqual(["answer 1234", "other 1234"])
        expect(values[9999]!.usage).toEqual(new Usage.Usage({ inputTokens: 9999, outputTokens: 19998 }))
        expect(values.every((value, i) => value.choices[0]!.text === `answer ${i}`)).toBe(true)
        // Generous bounds for a shared machine; on a quiet one each takes well under a second.
        expect(written - started).toBeLessThan(20_000)
        expect(done - written).toBeLessThan(20_000)
      }),
    { timeout: 60_000 }
  )

  it.live("two connections to one file: what one writes, the other reads once it is committed", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "shared.sqlite")
      const reader = yield* Layer.build(SqliteStore.layerResponseCache({ path }))
      const get = (key: string) =>
        ResponseCache.ResponseCache.use((cache) => cache.get(key)).pipe(Effect.provide(reader))
      expect(Option.isNone(yield* get("k"))).toBe(true)
      yield* ResponseCache.ResponseCache.use((cache) => cache.set("k", answer(7))).pipe(withCache(path))
      expect(Option.map(yield* get("k"), (g) => g.choices[0]!.text)).toEqual(Option.some("answer 7"))
    }))

  it.live("pending writes are committed within a short while, while the layer is open", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "flush.sqlite")
      const writer = yield* Layer.build(SqliteStore.layerResponseCache({ path }))
      yield* ResponseCache.ResponseCache.use((cache) => cache.set("k", answer(1))).pipe(Effect.provide(writer))
      yield* Effect.sleep("300 millis")
      const seen = yield* ResponseCache.ResponseCache.use((cache) => cache.get("k")).pipe(withCache(path))
      expect(Option.isSome(seen)).toBe(true)
    }))

  it.effect("entries expire after their time to live", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "ttl.sqlite")
      const cache = yield* Layer.build(SqliteStore.layerResponseCache({ path, timeToLive: "1 hour" }))
      const store = yield* ResponseCache.ResponseCache.pipe(Effect.provide(cache))
      yield* store.set("k", answer(1))
      yield* TestClock.adjust("59 minutes")
      expect(Option.isSome(yield* store.get("k"))).toBe(true)
      yield* TestClock.adjust("2 minutes")
      expect(Option.isNone(yield* store.get("k"))).toBe(true)
    }))

  it.live("a backing store: store ids are apart, remove, clear, getMany and setMany", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "backing.sqlite")
      const backing = yield* Persistence.BackingPersistence.pipe(
        Effect.provide(yield* Layer.build(SqliteStore.layerBacking(path)))
      )
      const a = yield* backing.make("a")
      const b = yield* backing.make("b")
      yield* a.setMany([["x", { v: 1 }, undefined], ["y", { v: 2 }, undefined]])
      yield* b.set("x", { v: 3 }, undefined)
      expect(yield* a.getMany(["x", "y", "z"])).toEqual([{ v: 1 }, { v: 2 }, undefined])
      expect(yield* b.get("x")).toEqual({ v: 3 })
      yield* a.remove("x")
      expect(yield* a.get("x")).toBeUndefined()
      yield* a.clear
      expect(yield* a.get("y")).toBeUndefined()
      expect(yield* b.get("x")).toEqual({ v: 3 })
    }))

  it.effect("the default file is responses.sqlite in Capstan's directory of the user's cache, created if missing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const env = ConfigProvider.layer(ConfigProvider.fromEnv({ env: { XDG_CACHE_HOME: dir, HOME: "/nonexistent" } }))
      const path = yield* SqliteStore.defaultPath.pipe(Effect.provide(env))
      expect(path).toBe(join(dir, "capstan", "responses.sqlite"))
      yield* ResponseCache.ResponseCache.use((cache) => cache.set("k", answer(1))).pipe(
        Effect.provide(SqliteStore.layerResponseCache(), { local: true }),
        Effect.provide(env)
      )
      expect(existsSync(path)).toBe(true)
    }))

  it.effect("a file that cannot be opened fails the layer with ResponseCacheError, naming the file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const blocker = join(dir, "not-a-directory")
      writeFileSync(blocker, "")
      const path = join(blocker, "responses.sqlite")
      const error = yield* Effect.flip(Layer.build(SqliteStore.layerResponseCache({ path })))
      expect(error._tag).toBe("ResponseCacheError")
      expect(error.operation).toBe("open")
      expect(error.message).toContain(path)
      const garbage = join(dir, "garbage.sqlite")
      writeFileSync(garbage, "this is not a database, just text long enough to fill a header of one".repeat(10))
      const notDatabase = yield* Effect.flip(Layer.build(SqliteStore.layerResponseCache({ path: garbage })))
      expect(notDatabase.message).toMatch(/garbage\.sqlite: .*not a database/)
    }))
})
