/**
 * The response cache as generators and the pipeline engine use it: the service, the key of a request, and a request
 * (or a stream) run through the cache. `ResponseCache.ts` is its public face (layers, `wrap`, `withCache`).
 *
 * @internal
 */
import { Context, Effect, Option, Redacted, Stream } from "effect"
import { type ChatRequest, type CompletionRequest, Generation, type StreamPart } from "../Generation.js"
import type { GenerationError } from "../GenerationError.js"
import type * as Identifier from "../Identifier.js"
import type { ResponseCacheError } from "../ResponseCacheError.js"
import * as Secrets from "../Secrets.js"
import { sha256Sync } from "./digest.js"
import { describe, mapService, type Service } from "./generator.js"
import { ChoiceOffset, Repetition } from "./requestSlot.js"
import { trusted } from "./trusted.js"

/** Whether a request reads the cache before sending, writes the answer after, both, or neither. */
export type Mode = "off" | "read" | "write" | "readwrite"

/** What a cache stores: generations by key. A store that fails says so; the cache decides what that means. */
export interface Store {
  readonly get: (key: string) => Effect.Effect<Option.Option<Generation>, ResponseCacheError>
  readonly set: (key: string, generation: Generation) => Effect.Effect<void, ResponseCacheError>
}

/** The response cache in context. */
export class ResponseCache extends Context.Service<ResponseCache, Store>()("@capstan/core/ResponseCache") {}

/** The services a cache mode needs: none when off. */
export type Requirement<M extends Mode> = [M] extends ["off"] ? never : ResponseCache

/** A request of either kind. */
export type Request = ChatRequest | CompletionRequest

/** Where a request sits within its item (see `requestSlot.ts`): the key tells those positions apart. */
export interface Slot {
  readonly choice: number
  readonly repetition: string
}

/** The version of the key's contents: a change of what goes into a key changes it, so old entries are not read. */
const keyVersion = 1

/** JSON with object keys sorted at every level and `undefined` fields left out: the same value, the same text. */
const canonical = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const record = value as Record<string, unknown>
  const fields: Array<string> = []
  for (const key of Object.keys(record).sort()) {
    if (record[key] !== undefined) fields.push(`${JSON.stringify(key)}:${canonical(record[key])}`)
  }
  return `{${fields.join(",")}}`
}

/**
 * The identifier's `base_url` setting, without credentials: a URL's userinfo is dropped and its secret query
 * parameters (by name or by shape) are replaced by `***`, so the key says which server answered and holds no
 * secret. `null` when the identifier names none (the provider's default, or an environment variable).
 */
export const baseUrlOf = (identifier: Identifier.Identifier): string | null => {
  let url = baseUrls.get(identifier)
  if (url === undefined) baseUrls.set(identifier, url = readBaseUrl(identifier))
  return url
}

// A memo of pure values (an identifier is immutable), not application state: every request of a batch asks it.
const baseUrls = new WeakMap<Identifier.Identifier, string | null>()

const readBaseUrl = (identifier: Identifier.Identifier): string | null => {
  const value = identifier.setting("base_url")
  if (value === undefined) return null
  return Secrets.withoutCredentials(Redacted.isRedacted(value) ? Redacted.value(value) : String(value))
}

/**
 * Who answers a request: the generator's identifier, and the server it talks to when the provider says
 * (`Service.endpoint`, a base URL that may come from the environment rather than the identifier).
 */
export type Target = Pick<Service, "identifier" | "endpoint">

/**
 * The text a request's key is the digest of: provider, model, base URL (no secret), the request's params merged over
 * the identifier's (less `timeout`, which does not change an answer), the kind, the messages (or prompt), the
 * structured-output schema, the tools and tool choice, and the request's slot within its item. No API key and no
 * other setting goes in.
 */
export const keyText = (target: Target, request: Request, slot: Slot): string => {
  const identifier = target.identifier
  const { timeout: _timeout, ...params } = describe(identifier, request.params).params
  const structured = "prompt" in request ? undefined : request.structured
  return canonical({
    v: keyVersion,
    provider: identifier.provider,
    model: identifier.model,
    baseUrl: target.endpoint ?? baseUrlOf(identifier),
    params,
    ...("prompt" in request ? { mode: "completion", prompt: request.prompt } : {
      mode: "chat",
      messages: request.messages
    }),
    structured: structured === undefined
      ? null
      : { name: structured.name, description: structured.description ?? null, schema: structured.schema },
    // Left out when unset, so the keys of requests without tools stay as they were.
    ...("prompt" in request ? {} : toolsKey(request)),
    choice: slot.choice,
    repetition: slot.repetition
  })
}

const toolsKey = (request: ChatRequest) => ({
  tools: request.tools?.map((tool) => ({
    name: tool.name,
    description: tool.description ?? null,
    parameters: tool.parameters
  })),
  toolChoice: request.toolChoice
})

/** The key of a request: the SHA-256 of {@link keyText}, base64url. */
export const keyOf = (target: Target, request: Request, slot: Slot): Effect.Effect<string> =>
  Effect.sync(() => sha256Sync(keyText(target, request, slot)))

/** The key of a request in the current slot (the choice offset and repetition in context). */
const currentKey = (target: Target, request: Request): Effect.Effect<string> =>
  Effect.flatMap(
    Effect.all([ChoiceOffset, Repetition]),
    ([choice, repetition]) => keyOf(target, request, { choice, repetition })
  )

const reads = (mode: Mode): boolean => mode === "read" || mode === "readwrite"
const writes = (mode: Mode): boolean => mode === "write" || mode === "readwrite"

/** What is stored of a generation: its choices, usage and warnings (not the rate-limit state, nor its attempts). */
const toStored = (generation: Generation): Generation =>
  new Generation({
    choices: generation.choices,
    usage: generation.usage,
    ...(generation.warnings === undefined ? {} : { warnings: generation.warnings })
  }, trusted)

/** A stored generation as a hit: marked `cached`, so chats record no usage and no attempts for it. */
const asHit = (stored: Generation): Generation =>
  new Generation({
    choices: stored.choices,
    usage: stored.usage,
    ...(stored.warnings === undefined ? {} : { warnings: stored.warnings }),
    cached: true
  }, trusted)

/**
 * Whether a generation is an answer worth keeping: not itself a hit, and with every choice it asked for (a
 * generation without choices, or with fewer than asked, becomes a failed row, and a failure is never cached).
 */
const cacheable = (identifier: Identifier.Identifier, request: Request, generation: Generation): boolean =>
  generation.cached !== true &&
  generation.choices.length > 0 &&
  generation.choices.length >= (describe(identifier, request.params).params.n ?? 1)

/** A store that fails does not fail the request: a failed read is a miss, a failed write loses that entry. */
const lookup = (store: Store, key: string): Effect.Effect<Option.Option<Generation>> =>
  store.get(key).pipe(Effect.catch((error) => Effect.as(Effect.logWarning(error.message), Option.none())))

const save = (store: Store, key: string, generation: Generation): Effect.Effect<void> =>
  store.set(key, toStored(generation)).pipe(Effect.catch((error) => Effect.logWarning(error.message)))

/**
 * A request through the cache: for "read" and "readwrite", a stored answer is returned as a hit and nothing is sent;
 * otherwise `send` runs, and for "write" and "readwrite" its answer is stored when it succeeded with every choice.
 */
export const cachedRequest = (
  store: Store,
  mode: Mode,
  target: Target,
  request: Request,
  send: Effect.Effect<Generation, GenerationError>
): Effect.Effect<Generation, GenerationError> =>
  mode === "off" ? send : Effect.gen(function*() {
    const key = yield* currentKey(target, request)
    if (reads(mode)) {
      const hit = yield* lookup(store, key)
      if (Option.isSome(hit)) return asHit(hit.value)
    }
    const generation = yield* send
    if (writes(mode) && cacheable(target.identifier, request, generation)) yield* save(store, key, generation)
    return generation
  })

/** A stored answer as a stream: each choice's text as one delta, then the whole generation. */
const replay = (generation: Generation): ReadonlyArray<StreamPart> => [
  ...generation.choices.map((choice, index): StreamPart => ({ _tag: "Delta", index, text: choice.text })),
  { _tag: "Done", generation }
]

/** A streamed request through the cache: a hit is replayed; a stream that completes is stored. */
const cachedStream = (
  store: Store,
  mode: Mode,
  target: Target,
  request: ChatRequest,
  send: Stream.Stream<StreamPart, GenerationError>
): Stream.Stream<StreamPart, GenerationError> =>
  mode === "off" ? send : Stream.unwrap(Effect.gen(function*() {
    const key = yield* currentKey(target, request)
    if (reads(mode)) {
      const hit = yield* lookup(store, key)
      if (Option.isSome(hit)) return Stream.fromIterable(replay(asHit(hit.value)))
    }
    if (!writes(mode)) return send
    return Stream.tap(send, (part) =>
      part._tag === "Done" && cacheable(target.identifier, request, part.generation)
        ? save(store, key, part.generation)
        : Effect.void)
  }))

/** A generator whose every request (chat, completion, stream) goes through the cache in context. */
export const wrap = (service: Service, mode: Mode): Effect.Effect<Service, never, ResponseCache> =>
  Effect.map(ResponseCache, (store) =>
    mode === "off" ? service : mapService(service, {
      generate: (generate) => (request) => cachedRequest(store, mode, service, request, generate(request)),
      complete: (complete) => (request) => cachedRequest(store, mode, service, request, complete(request)),
      stream: (stream) => (request) => cachedStream(store, mode, service, request, stream(request))
    }))

/** A request of the pipeline engine through the cache in context. */
export const through = (
  mode: Mode,
  target: Target,
  request: Request,
  send: Effect.Effect<Generation, GenerationError>
): Effect.Effect<Generation, GenerationError, ResponseCache> =>
  Effect.flatMap(ResponseCache, (store) => cachedRequest(store, mode, target, request, send))
