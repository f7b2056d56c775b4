/**
 * A response cache: answers stored by request, so that running a batch again (after a crash, with one more item,
 * with a fixed parser) sends only what it has not asked before.
 *
 * The cache sits above the engine: a hit sends nothing and takes no rate-limiter capacity. A request's key is the
 * SHA-256 of a canonical JSON of what decides its answer: provider, model, the server the generator talks to (its
 * `endpoint`, or the identifier's `base_url`; credentials removed), the params merged over the identifier's (less `timeout`), chat or completion, the messages (or prompt),
 * the structured-output schema, and the request's place within its item (the choice it asks for first, and which
 * repetition of the same request it is). No API key and no other setting goes in: secrets never reach the key or
 * the store.
 *
 * Modes: `"read"` answers from the cache and stores nothing, `"write"` always sends and stores the answers,
 * `"readwrite"` does both, `"off"` neither. Only generations with every choice asked for are stored: failures never
 * are. An answer from the cache is a generation marked `cached`; its chats and rows record `attempts: 0`, no usage
 * (it was paid for when it was generated, so costs and token totals count only what this run paid) and
 * `cached: true` in their metadata.
 *
 * The store is a backing of effect's `Persistence` (`Persistence.BackingPersistence`): {@link layer} over any of
 * them (`Persistence.layerBackingMemory`, SQL with `Persistence.layerBackingSql`, Redis with
 * `Persistence.layerBackingRedis`); `@capstan/providers`' `SqliteStore` is an embedded one in a file, which needs no
 * server.
 *
 * @since 0.3.0
 */
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { dual } from "effect/Function"
import { Persistence } from "effect/persistence"
import { Generation } from "./Generation.js"
import type { ChatRequest, CompletionRequest } from "./Generation.js"
import type * as Identifier from "./Identifier.js"
import type { Service } from "./internal/generator.js"
import * as internal from "./internal/pipeline.js"
import * as Facade from "./internal/pipelineFacade.js"
import * as Cache from "./internal/responseCache.js"
import { type Mode, type Requirement, ResponseCache } from "./internal/responseCache.js"
import type { Kind, Pipeline } from "./Pipeline.js"
import { ResponseCacheError } from "./ResponseCacheError.js"

/**
 * Whether requests read the cache before sending (`"read"`), store their answers (`"write"`), both
 * (`"readwrite"`) or neither (`"off"`, the default).
 *
 * @example
 * ```ts
 * import type { ResponseCache } from "@capstan/core"
 *
 * const rerun: ResponseCache.Mode = "readwrite"
 * const refresh: ResponseCache.Mode = "write" // ask again, and keep the new answers
 * ```
 * @since 0.3.0
 */
export type { Mode } from "./internal/responseCache.js"

/**
 * The services a mode needs: the `ResponseCache` for every mode but `"off"`. Functions that take a mode add it to
 * their Effect's requirements, so a program that turns the cache on must provide one.
 *
 * @example
 * ```ts
 * import type { ResponseCache } from "@capstan/core"
 *
 * type Nothing = ResponseCache.Requirement<"off"> // never
 * type Cache = ResponseCache.Requirement<"readwrite"> // ResponseCache.ResponseCache
 * ```
 * @since 0.3.0
 */
export type { Requirement } from "./internal/responseCache.js"

/**
 * What a response cache stores: generations by key. Its errors are data (`ResponseCacheError`); a cached request
 * treats a failed read as a miss and a failed write as a lost entry, each logged as a warning.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import type { ResponseCache } from "@capstan/core"
 *
 * const never: ResponseCache.Store = { get: () => Effect.succeed(Option.none()), set: () => Effect.void }
 * ```
 * @since 0.3.0
 */
export type { Store } from "./internal/responseCache.js"

/**
 * The response cache in context: {@link layer} over a backing of effect's `Persistence`, {@link layerMemory} for
 * tests.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { ResponseCache } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* ResponseCache.ResponseCache
 *   return Option.isSome(yield* cache.get("some-key"))
 * }).pipe(Effect.provide(ResponseCache.layerMemory))
 * ```
 * @since 0.3.0
 */
export { ResponseCache } from "./internal/responseCache.js"

/**
 * Options of {@link layerWith}.
 *
 * @example
 * ```ts
 * import { ResponseCache } from "@capstan/core"
 *
 * const options: ResponseCache.Options = { storeId: "capstan_responses_eval", timeToLive: "30 days" }
 * ```
 * @since 0.3.0
 */
export interface Options {
  /**
   * The store's name within the backing (default `capstan_responses`). SQL backings may use it in a table name:
   * letters, digits and `_` only.
   */
  readonly storeId?: string | undefined
  /** How long an answer is kept (default: for ever). */
  readonly timeToLive?: Duration.Input | undefined
}

const defaultStoreId = "capstan_responses"

// The stored form of a generation: its canonical JSON, compiled once (a constant, not application state).
const generationJson = Schema.toCodecJson(Generation)
const encodeGeneration = Schema.encodeSync(generationJson)
const decodeGeneration = Schema.decodeUnknownOption(generationJson)

/**
 * {@link layer} with a store name of its own and a time to live.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Persistence } from "effect/persistence"
 * import { ResponseCache } from "@capstan/core"
 *
 * const month = ResponseCache.layerWith({ timeToLive: "30 days" }).pipe(Layer.provide(Persistence.layerBackingMemory))
 * ```
 * @since 0.3.0
 */
export const layerWith = (options: Options = {}): Layer.Layer<ResponseCache, never, Persistence.BackingPersistence> =>
  Layer.effect(
    ResponseCache,
    Effect.gen(function*() {
      const storeId = options.storeId ?? defaultStoreId
      const backing = yield* Persistence.BackingPersistence
      const store = yield* backing.make(storeId)
      const ttl = options.timeToLive === undefined ? undefined : Duration.fromInputUnsafe(options.timeToLive)
      const expires = ttl === undefined || !Duration.isFinite(ttl) ? undefined : ttl
      const failed = (operation: "read" | "write") => (error: { readonly message: string }) =>
        new ResponseCacheError({ operation, store: storeId, reason: error.message })
      return ResponseCache.of({
        // An entry another version wrote that no longer decodes is a miss; the next answer replaces it.
        get: (key) =>
          store.get(key).pipe(
            Effect.map((value) => value === undefined ? Option.none() : decodeGeneration(value)),
            Effect.mapError(failed("read"))
          ),
        set: (key, generation) =>
          store.set(key, encodeGeneration(generation) as object, expires).pipe(Effect.mapError(failed("write")))
      })
    })
  )

/**
 * The response cache over a backing of effect's `Persistence`: `Persistence.layerBackingSql` with a SQL client
 * (`@effect/sql-pg` for PostgreSQL), `Persistence.layerBackingRedis` with `NodeRedis`,
 * `Persistence.layerBackingMemory`, or `@capstan/providers`' `SqliteStore` for a file. (Entries are encoded here,
 * with a codec compiled once, rather than through `Persistable` keys, whose codec effect rebuilds for every key.)
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Persistence } from "effect/persistence"
 * import { ResponseCache } from "@capstan/core"
 *
 * const cache = ResponseCache.layer.pipe(Layer.provide(Persistence.layerBackingMemory))
 * ```
 * @since 0.3.0
 */
export const layer: Layer.Layer<ResponseCache, never, Persistence.BackingPersistence> = layerWith()

/**
 * A response cache in memory, for tests: its entries live as long as the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Batch, Dataset, Generator, ResponseCache, Template } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Dataset.validate(Template.make("Say {word}"), [{ word: "hi" }])
 *   yield* Batch.run(items, { cache: "readwrite" })
 *   return yield* Batch.run(items, { cache: "readwrite" }) // answered from the cache
 * }).pipe(Effect.provide([Generator.layer("mock!echo"), ResponseCache.layerMemory]))
 * ```
 * @since 0.3.0
 */
export const layerMemory: Layer.Layer<ResponseCache> = layer.pipe(Layer.provide(Persistence.layerBackingMemory))

/**
 * The key of a request to a generator: the SHA-256 (base64url) of a canonical JSON of what decides its answer (see
 * the module's description). `choice` is the first choice the request asks for within its item (default 0);
 * `endpoint` the server the generator talks to (`Generator.Service.endpoint`) when its identifier does not say.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GenerateParams, Identifier, Message, ResponseCache } from "@capstan/core"
 *
 * const identifier = Identifier.make({ provider: "mock", model: "echo" })
 * const key = ResponseCache.keyOf(identifier, { messages: [Message.user("Hi")], params: GenerateParams.empty })
 * Effect.runPromise(key) // e.g. "3q2-Rx...", 43 characters
 * ```
 * @since 0.3.0
 */
export const keyOf = (
  identifier: Identifier.Identifier,
  request: ChatRequest | CompletionRequest,
  options: { readonly choice?: number | undefined; readonly endpoint?: string | undefined } = {}
): Effect.Effect<string> =>
  Cache.keyOf({ identifier, endpoint: options.endpoint }, request, { choice: options.choice ?? 0, repetition: "" })

/**
 * A generator whose requests (chat, completion and streams) go through the response cache in context. Wrap the
 * generator the engine made (`Generator.make`), so that a hit sends nothing and takes no rate-limiter capacity.
 * Batches and pipelines need no wrapping: give them the `cache` option or {@link withCache}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator, ResponseCache } from "@capstan/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const generator = yield* Generator.make("mock!echo").pipe(Effect.flatMap(ResponseCache.wrap("readwrite")))
 *   return yield* Generator.chat("Hi").pipe(Effect.provideService(Generator.Generator, generator))
 * })).pipe(Effect.provide(ResponseCache.layerMemory))
 * ```
 * @since 0.3.0
 */
export const wrap: {
  <M extends Mode>(mode: M): (service: Service) => Effect.Effect<Service, never, Requirement<M>>
  <M extends Mode>(service: Service, mode: M): Effect.Effect<Service, never, Requirement<M>>
} = dual(
  2,
  (service: Service, mode: Mode): Effect.Effect<Service, never, ResponseCache> =>
    mode === "off" ? Effect.succeed(service) : Cache.wrap(service, mode)
)

/**
 * Runs the pipeline's generations through the response cache in context (`ChatPipeline.withCache` and
 * `CompletionPipeline.withCache` are this function). A pipeline that parses without recovery asks the same request
 * again on a parse failure: each repetition has a key of its own, so a cached run replays the same rounds. A
 * pipeline an `andThen` step continues with uses this cache too, unless it sets its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatPipeline, Generator, ResponseCache } from "@capstan/core"
 *
 * const chat = ChatPipeline.make("Name a colour.").pipe(
 *   ChatPipeline.withCache("readwrite"),
 *   ChatPipeline.run(),
 *   Effect.provide([Generator.layer("mock!echo"), ResponseCache.layerMemory])
 * )
 * ```
 * @since 0.3.0
 */
export const withCache: {
  <M extends Mode>(
    mode: M
  ): <K extends Kind, A, E, R>(self: Pipeline<K, A, E, R>) => Pipeline<K, A, E, R | Requirement<M>>
  <K extends Kind, A, E, R, M extends Mode>(self: Pipeline<K, A, E, R>, mode: M): Pipeline<K, A, E, R | Requirement<M>>
} = dual(
  2,
  (self: Pipeline<Kind, unknown, unknown, unknown>, mode: Mode) =>
    Facade.toPublic(internal.update(Facade.impl(self), { cache: mode }))
)

/**
 * Whether a chat or a row was answered from the response cache (`cached: true` in its metadata).
 *
 * @example
 * ```ts
 * import { ResponseCache } from "@capstan/core"
 * import type { Batch } from "@capstan/core"
 *
 * declare const rows: ReadonlyArray<Batch.Row>
 * const fromCache = rows.filter(ResponseCache.isCached).length
 * ```
 * @since 0.3.0
 */
export const isCached = (value: { readonly metadata?: Readonly<Record<string, unknown>> | undefined }): boolean =>
  value.metadata?.cached === true
