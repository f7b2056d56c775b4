/**
 * The HTTP transport the providers hand their SDKs as `fetch`: requests over `node:http(s)` with keep-alive
 * agents owned by a scope, answers read whole within limits (or streamed when they are event streams or
 * downloads), same-origin 307/308 redirects followed and other redirects refused, and the global `fetch` used
 * wherever sending a request itself would bypass what the user configured (a proxy, an undici dispatcher) or
 * could not encode the body (multipart, streams).
 *
 * `Providers.layer` makes one for all its generators (they share its connections); its agents are destroyed when
 * the Layer's scope and the scopes of the generators built under it have all closed. A generator made where none
 * is provided makes its own, closed with the generator's scope.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { constants } from "node:buffer"
import * as internal from "./internal/transport.js"

/**
 * The slice of `fetch` the SDKs call. Any `fetch` fits, `globalThis.fetch` or one bound to your own undici
 * dispatcher.
 *
 * @example
 * ```ts
 * import { HttpTransport } from "@capstan/providers"
 *
 * const logging: HttpTransport.Fetch = (input, init) => {
 *   console.log(init?.method, String(input))
 *   return globalThis.fetch(input, init)
 * }
 * ```
 * @since 0.2.0
 */
export type Fetch = internal.Fetch

/**
 * Limits of a transport. An answer beyond them fails its request with `InvalidRequest` (retrying would fetch
 * the same answer), saying which limit to raise.
 *
 * @example
 * ```ts
 * import { HttpTransport } from "@capstan/providers"
 *
 * const options: HttpTransport.Options = { maxBodyBytes: 16 * 1024 * 1024, maxRedirects: 0 }
 * ```
 * @since 0.2.0
 */
export interface Options {
  /** Bytes on the wire of an answer read whole. Default 64 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** Bytes of an answer read whole, once decompressed (a small gzip body can inflate a thousandfold). Default 256 MiB. */
  readonly maxDecodedBytes?: number | undefined
  /** Same-origin redirects followed in a row (307/308 for any method, 301/302/303 for GET/HEAD). Default 5. */
  readonly maxRedirects?: number | undefined
}

/**
 * The limits used where {@link Options} leaves one out.
 *
 * @example
 * ```ts
 * import { HttpTransport } from "@capstan/providers"
 *
 * HttpTransport.defaults.maxBodyBytes // 67108864 (64 MiB)
 * ```
 * @since 0.2.0
 */
export const defaults: internal.Limits = {
  maxBodyBytes: 64 * 1024 * 1024,
  maxDecodedBytes: 256 * 1024 * 1024,
  maxRedirects: 5
}

const integer = (name: keyof Options, value: number, minimum: number, maximum: number): number => {
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum) {
    throw new RangeError(`HttpTransport: ${name} must be an integer from ${minimum} to ${maximum}, got ${value}`)
  }
  return value
}

/** The options with defaults filled in; throws a `RangeError` naming a bad one, when the transport is declared. */
const limitsOf = (options: Options): internal.Limits => ({
  maxBodyBytes: integer("maxBodyBytes", options.maxBodyBytes ?? defaults.maxBodyBytes, 1, constants.MAX_LENGTH),
  maxDecodedBytes: integer(
    "maxDecodedBytes",
    options.maxDecodedBytes ?? defaults.maxDecodedBytes,
    1,
    constants.MAX_LENGTH
  ),
  maxRedirects: integer("maxRedirects", options.maxRedirects ?? defaults.maxRedirects, 0, 20)
})

/**
 * A transport owned by the current scope: its keep-alive agents are made now and destroyed (their sockets
 * closed) when the scope closes; a request sent after that fails. The proxy variables of the environment are
 * read now. Throws a `RangeError` at once for a bad option.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Identifier as Id } from "@capstan/core"
 * import { HttpTransport, OpenAI } from "@capstan/providers"
 *
 * // Two generators over one transport, closed together.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const fetch = yield* HttpTransport.make({ maxBodyBytes: 8 * 1024 * 1024 })
 *   const options = { apiKey: Redacted.make("sk-..."), baseURL: OpenAI.defaultBaseUrl, fetch }
 *   const mini = yield* OpenAI.makeGenerator(Id.make({ provider: "openai", model: "gpt-4o-mini" }), options)
 *   const full = yield* OpenAI.makeGenerator(Id.make({ provider: "openai", model: "gpt-4o" }), options)
 *   return [mini, full]
 * }))
 * ```
 * @since 0.2.0
 */
export const make = (options: Options = {}): Effect.Effect<Fetch, never, Scope.Scope> => {
  const limits = limitsOf(options)
  return Effect.map(
    Effect.acquireRelease(Effect.sync(() => internal.make(limits)), (transport) => Effect.sync(transport.close)),
    (transport) => transport.fetch
  )
}

/**
 * A transport shared among generators: the Layer that made it holds it, and so does every generator that
 * {@link hold}s it, each until its own scope closes; its agents are destroyed when the last holder lets go. A
 * generator made under `Providers.layer` (e.g. `Generator.make(id).pipe(Effect.provide(Providers.layer))`) so
 * keeps its connections even where the Layer's scope ends first, and nothing outlives its last user.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { HttpTransport } from "@capstan/providers"
 *
 * // A fetch of your own, shared by the generators in its place (you own its lifetime).
 * const mine: HttpTransport.Shared = { hold: Effect.succeed(globalThis.fetch) }
 * const layer = Layer.succeed(HttpTransport.HttpTransport, mine)
 * ```
 * @since 0.2.0
 */
export interface Shared {
  /** The transport's `fetch`, kept open until the current scope closes. */
  readonly hold: Effect.Effect<Fetch, never, Scope.Scope>
}

/**
 * The transport the providers' generators send through when their options name no `fetch`. Unset by default:
 * each generator then makes its own, for its own scope. `Providers.layer` (or {@link layer}) sets one shared by
 * every generator built under it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpTransport } from "@capstan/providers"
 *
 * const shared = Effect.runSync(HttpTransport.HttpTransport.useSync((shared) => shared)) // undefined: none provided
 * ```
 * @since 0.2.0
 */
export const HttpTransport: Context.Reference<Shared | undefined> = Context.Reference<Shared | undefined>(
  "@capstan/providers/HttpTransport",
  { defaultValue: () => undefined }
)

/**
 * A {@link Shared} transport, held by the current scope to begin with. The count of holders is the transport's
 * own state, made and dropped with it.
 */
const shared = (limits: internal.Limits): Effect.Effect<Shared, never, Scope.Scope> => {
  const counted = Effect.sync(() => {
    const transport = internal.make(limits)
    let holders = 1
    return {
      retain: () => {
        holders++
        return transport.fetch
      },
      release: () => {
        if (--holders === 0) transport.close()
      }
    }
  })
  return Effect.map(
    Effect.acquireRelease(counted, (count) => Effect.sync(count.release)),
    (count) => ({ hold: Effect.acquireRelease(Effect.sync(count.retain), () => Effect.sync(count.release)) })
  )
}

/**
 * A {@link Shared} transport made with the options and provided as {@link HttpTransport}. `Providers.layer`
 * includes one; use this to share one among providers you register yourself. Throws a `RangeError` at once for a
 * bad option.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 * import { HttpTransport, OpenAI } from "@capstan/providers"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const mini = yield* Generator.make("gpt-4o-mini")
 *   const full = yield* Generator.make("gpt-4o") // same connections as mini
 *   return [mini, full]
 * })).pipe(Effect.provide(Layer.mergeAll(GeneratorRegistry.register(OpenAI.provider), HttpTransport.layer())))
 * ```
 * @since 0.2.0
 */
export const layer = (options: Options = {}): Layer.Layer<never> => {
  const limits = limitsOf(options)
  return Layer.effect(HttpTransport, shared(limits))
}

/**
 * The transport for a generator, held until the current scope closes: `fetch` when given (its owner keeps it),
 * else the one in context ({@link HttpTransport}), else a new one owned by the current scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpTransport } from "@capstan/providers"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const fetch = yield* HttpTransport.current() // Providers.layer's, or one for this scope
 *   return yield* Effect.promise(() => fetch("http://localhost:11434/api/tags"))
 * }))
 * ```
 * @since 0.2.0
 */
export const current = (fetch?: Fetch): Effect.Effect<Fetch, never, Scope.Scope> =>
  fetch !== undefined
    ? Effect.succeed(fetch)
    : HttpTransport.use((shared) => shared === undefined ? make() : shared.hold)
