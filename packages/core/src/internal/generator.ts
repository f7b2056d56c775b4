/**
 * The `Generator` service itself: what a generator is, below everything that builds one (the engine, the registry)
 * so that they can depend on it. `Generator.ts` is its public face.
 *
 * @internal
 */
import { Context, type Effect, type Stream } from "effect"
import type * as Scope from "effect/Scope"
import type * as Chat from "../Chat.js"
import type { InvalidIdentifier, InvalidParams, MissingApiKey } from "../ConfigError.js"
import * as GenerateParams from "../GenerateParams.js"
import {
  type ChatRequest,
  type CompletionRequest,
  Generation,
  type PackedCompletionRequest,
  type StreamPart
} from "../Generation.js"
import type { GenerationError } from "../GenerationError.js"
import * as Identifier from "../Identifier.js"
import * as Message from "../Message.js"
import * as Usage from "../Usage.js"
import { makeChat } from "./chat.js"
import { trusted } from "./trusted.js"

/**
 * What a generator declares beyond its methods. `maxChoices` is how many choices (`n`) one request can ask for: a
 * provider that answers one choice per request (Anthropic) declares 1, and the batch engine then sends one request
 * per choice. `maxPromptsPerRequest` is how many prompts one `completeMany` request may carry (unset: as many as
 * asked; 1 packs nothing). Provider batch APIs will be declared here too.
 */
export interface Capabilities {
  readonly maxChoices?: number | undefined
  readonly maxPromptsPerRequest?: number | undefined
}

/** One request of a provider batch, with the custom id its result comes back under. */
export type BatchEntry =
  | { readonly customId: string; readonly kind: "chat"; readonly request: ChatRequest }
  | { readonly customId: string; readonly kind: "completion"; readonly request: CompletionRequest }

/** Where a provider batch stands: still running, ended (results can be read), or failed as a whole. */
export type BatchState =
  | { readonly _tag: "Running"; readonly status: string }
  | { readonly _tag: "Ended"; readonly status: string }
  | { readonly _tag: "Failed"; readonly status: string; readonly error: GenerationError }

/** What became of one request of a provider batch. */
export type BatchOutcome =
  | { readonly _tag: "Answered"; readonly generation: Generation }
  | { readonly _tag: "Failed"; readonly error: GenerationError }
  | { readonly _tag: "Unfinished"; readonly reason: "expired" | "cancelled" | "missing" }

/** One result line of a provider batch. */
export interface BatchResult {
  readonly customId: string
  readonly outcome: BatchOutcome
}

/**
 * A provider's asynchronous batch API (OpenAI's Batch API, Anthropic's Message Batches): requests are sent as one
 * batch, answered within a day at a discount, and read back by custom id. The batch engine chunks requests within
 * `limits`, keeps a journal, polls and falls back to realtime requests for what a batch did not answer.
 */
export interface BatchApi {
  /** Most requests, and bytes of encoded lines, one batch may hold. */
  readonly limits: { readonly maxRequests: number; readonly maxBytes: number }
  /** One request as a line of the provider's batch input (the same body a realtime request sends). */
  readonly encode: (entry: BatchEntry) => Effect.Effect<string, GenerationError>
  /**
   * Creates one batch of encoded lines (all of one kind), returning its id. A provider that uploads a file first
   * reports the file's id through `uploaded` before creating the batch, so a journal can say how far it got.
   */
  readonly create: (
    lines: ReadonlyArray<string>,
    kind: BatchEntry["kind"],
    uploaded: (fileId: string) => Effect.Effect<void>
  ) => Effect.Effect<string, GenerationError>
  readonly retrieve: (batchId: string) => Effect.Effect<BatchState, GenerationError>
  /** The results of an ended batch, read line by line. */
  readonly results: (batchId: string) => Stream.Stream<BatchResult, GenerationError>
  readonly cancel: (batchId: string) => Effect.Effect<void, GenerationError>
  /**
   * The batch created from an uploaded file, if any: how a resumed run learns whether a batch was created when
   * the process stopped between the upload and recording the batch's id (providers that upload files).
   */
  readonly find?: ((fileId: string) => Effect.Effect<string | undefined, GenerationError>) | undefined
}

/**
 * What a generator does. `generate` answers chat messages and every generator has it; `complete` (plain-text
 * completion), `completeMany` (several completion prompts in one request, answered prompt after prompt: see
 * `PackedCompletionRequest`) and `stream` (text as it arrives) are optional: a generator has them when its provider
 * does, and a pipeline that needs one checks it before any request. The request's params are merged over the
 * identifier's.
 */
export interface Service {
  readonly identifier: Identifier.Identifier
  /**
   * The server the generator talks to, without credentials (`Secrets.withoutCredentials` of its base URL), when the
   * provider has one: the response cache keys answers by it, since a base URL may come from the environment.
   */
  readonly endpoint?: string | undefined
  readonly capabilities?: Capabilities | undefined
  readonly generate: (request: ChatRequest) => Effect.Effect<Generation, GenerationError>
  readonly complete?: ((request: CompletionRequest) => Effect.Effect<Generation, GenerationError>) | undefined
  readonly completeMany?:
    | ((request: PackedCompletionRequest) => Effect.Effect<Generation, GenerationError>)
    | undefined
  readonly stream?: ((request: ChatRequest) => Stream.Stream<StreamPart, GenerationError>) | undefined
  /** The provider's asynchronous batch API, when it has one (see `Batch.Options.via`). */
  readonly batch?: BatchApi | undefined
}

/** Why a generator could not be built. */
export type GeneratorInitError = InvalidIdentifier | InvalidParams | MissingApiKey

/** An environment variable a provider reads. */
export interface EnvVar {
  readonly name: string
  readonly description: string
}

/**
 * A provider: how to parse its identifiers and how to build a generator from one. `make` runs in the scope of the
 * generator's Layer, so resources it acquires with `Effect.acquireRelease` are released when that Layer is torn
 * down.
 */
export interface Provider extends Identifier.ProviderSyntax {
  readonly description: string
  readonly env: ReadonlyArray<EnvVar>
  readonly make: (identifier: Identifier.Identifier) => Effect.Effect<Service, GeneratorInitError, Scope.Scope>
}

/** A generation that took `attempts` requests (its own checks already ran). */
export const withAttempts = (generation: Generation, attempts: number): Generation =>
  (generation.attempts ?? 1) === attempts
    ? generation
    : new Generation({ ...generation, attempts }, { disableChecks: true })

/** The generator in context. */
export class Generator extends Context.Service<Generator, Service>()("@capstan/core/Generator") {}

/**
 * A service with each method replaced by `f` of the same method, keeping the optional ones optional. A wrapper that
 * does not say how to wrap `completeMany` drops it (the service then sends one prompt per request), so that packed
 * requests never bypass what the wrapper adds.
 */
export const mapService = (
  service: Service,
  f: {
    readonly generate: (generate: Service["generate"]) => Service["generate"]
    readonly complete: (complete: NonNullable<Service["complete"]>) => NonNullable<Service["complete"]>
    readonly completeMany?:
      | ((completeMany: NonNullable<Service["completeMany"]>) => NonNullable<Service["completeMany"]>)
      | undefined
    readonly stream: (stream: NonNullable<Service["stream"]>) => NonNullable<Service["stream"]>
  }
): Service => ({
  identifier: service.identifier,
  ...(service.endpoint === undefined ? {} : { endpoint: service.endpoint }),
  ...(service.capabilities === undefined ? {} : { capabilities: service.capabilities }),
  generate: f.generate(service.generate),
  ...(service.complete === undefined ? {} : { complete: f.complete(service.complete) }),
  ...(service.completeMany === undefined || f.completeMany === undefined
    ? {}
    : { completeMany: f.completeMany(service.completeMany) }),
  ...(service.stream === undefined ? {} : { stream: f.stream(service.stream) }),
  // A batch's requests are not the engine's: they run at the provider, within its batch limits.
  ...(service.batch === undefined ? {} : { batch: service.batch })
})

/** A service whose requests have their params merged over the identifier's (base) params. */
export const withBaseParams = (service: Service): Service => {
  const base = service.identifier.params
  if (GenerateParams.isEmpty(base)) return service
  // `describe` merges the same way, once per params object (every request of a batch usually shares one).
  const merged = <R extends { readonly params: GenerateParams.GenerateParams }>(request: R): R => ({
    ...request,
    params: describe(service.identifier, request.params).params
  })
  const mapped = mapService(service, {
    generate: (generate) => (request) => generate(merged(request)),
    complete: (complete) => (request) => complete(merged(request)),
    completeMany: (completeMany) => (request) => completeMany(merged(request)),
    stream: (stream) => (request) => stream(merged(request))
  })
  const batch = service.batch
  if (batch === undefined) return mapped
  return {
    ...mapped,
    batch: {
      ...batch,
      encode: (entry) =>
        batch.encode(
          entry.kind === "chat"
            ? { ...entry, request: merged(entry.request) }
            : { ...entry, request: merged(entry.request) }
        )
    }
  }
}

/** A choice as the assistant message it is: its text, then its tool calls (built from checked parts: no re-check). */
export const answerOf = (choice: Generation["choices"][number]): Message.Message =>
  new Message.Message({
    role: "assistant",
    content: choice.toolCalls === undefined
      ? choice.text
      : [...(choice.text.length === 0 ? [] : [new Message.TextPart({ text: choice.text })]), ...choice.toolCalls]
  }, trusted)

/** What a chat records about the generator that answered it: the merged params and the identifier printed with them. */
export interface Description {
  readonly generator: string
  readonly params: GenerateParams.GenerateParams
}

/**
 * The request's params merged over the identifier's, and the identifier printed with those merged params (secrets
 * masked).
 */
export const describe = (identifier: Identifier.Identifier, params: GenerateParams.GenerateParams): Description => {
  let byParams = described.get(identifier)
  if (byParams === undefined) described.set(identifier, byParams = new WeakMap())
  let description = byParams.get(params)
  if (description === undefined) {
    const merged = GenerateParams.merge(identifier.params, params)
    description = { generator: Identifier.format(Identifier.withParams(identifier, merged)), params: merged }
    byParams.set(params, description)
  }
  return description
}

// A memo of pure values (identifier and params are immutable), not application state: every item of a batch
// usually asks with the same params object, and describing it costs more than the rest of building its chat.
const described = new WeakMap<Identifier.Identifier, WeakMap<GenerateParams.GenerateParams, Description>>()

/**
 * The chats of a generation, one per choice, each recording the generator identifier with the merged params, the
 * usage of the call (on the first choice, so sums over chats stay true), its attempts, warnings and timing. A
 * generation from the response cache cost nothing this time: no usage, no attempts, and `cached: true` in the
 * metadata.
 */
export const toChats = (options: {
  readonly identifier: Identifier.Identifier
  readonly messages: ReadonlyArray<Message.Message>
  readonly params: GenerateParams.GenerateParams
  readonly generation: Generation
  readonly startedAt: number
  readonly durationMs: number
}): ReadonlyArray<Chat.Chat> => {
  const generation = options.generation
  const { generator, params } = generation.answeredBy ?? describe(options.identifier, options.params)
  const cached = generation.cached === true
  return generation.choices.map((choice, i) =>
    makeChat({
      messages: options.messages,
      generated: [answerOf(choice)],
      metadata: cached ? { cached: true } : {},
      generator,
      params,
      usage: i === 0 && !cached ? generation.usage : Usage.empty,
      stopReason: choice.stopReason,
      startedAt: options.startedAt,
      durationMs: options.durationMs,
      attempts: i === 0 && !cached ? generation.attempts ?? 1 : 0,
      ...(generation.warnings === undefined ? {} : { warnings: generation.warnings }),
      ...(choice.logprobs === undefined ? {} : { logprobs: choice.logprobs })
    })
  )
}
