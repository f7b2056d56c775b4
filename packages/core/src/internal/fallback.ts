/**
 * A generator made of several: the first answers, and when it fails with an error the fallback accepts (after its
 * own engine's retries), the next one is asked the same request, and so on. Each member keeps its own engine (its
 * limiter and retries); the fallback adds none, and records which member answered (`Generation.answeredBy`).
 *
 * @internal
 */
import { Effect, Stream } from "effect"
import type { GenerateParams } from "../GenerateParams.js"
import { type ChatRequest, Generation, type StreamPart } from "../Generation.js"
import { ContextLengthExceeded, failsEveryRequest, type GenerationError, isRetryable } from "../GenerationError.js"
import { describe, type Service } from "./generator.js"

/** Which failures pass the request on to the next generator. */
export type When = ReadonlyArray<GenerationError["_tag"]> | ((error: GenerationError) => boolean)

/**
 * The default: failures that say this generator cannot answer now or at all, where another might: rate limits,
 * overload, server errors, timeouts, dropped connections and malformed answers (what the engine retries), a refused
 * key, an exhausted quota, a missing model or capability, and a prompt too long for its context window.
 */
export const fallsBackByDefault = (error: GenerationError): boolean =>
  isRetryable(error) || failsEveryRequest(error) || error instanceof ContextLengthExceeded

const predicateOf = (when: When | undefined): (error: GenerationError) => boolean =>
  when === undefined ? fallsBackByDefault : typeof when === "function" ? when : (error) => when.includes(error._tag)

/** A generation answered by `member`, which is not the first: it says so, with its own params merged. */
const answeredBy = (member: Service, params: GenerateParams, generation: Generation): Generation => {
  const { generator, params: merged } = describe(member.identifier, params)
  return new Generation({ ...generation, answeredBy: { generator, params: merged } }, { disableChecks: true })
}

/**
 * Tries `members` in order for one request: the first success wins; a failure `accepts` passes the request on;
 * any other failure, or the last member's, is the result. `use` picks the member's method (absent: skipped).
 */
const inTurn = <Request extends { readonly params: GenerateParams }>(
  members: ReadonlyArray<Service>,
  accepts: (error: GenerationError) => boolean,
  use: (member: Service) => ((request: Request) => Effect.Effect<Generation, GenerationError>) | undefined
) =>
(request: Request): Effect.Effect<Generation, GenerationError> => {
  const able = members.filter((member) => use(member) !== undefined)
  const from = (i: number): Effect.Effect<Generation, GenerationError> => {
    const member = able[i]!
    const answer = use(member)!(request)
    const marked = member === members[0] ? answer : Effect.map(answer, (g) => answeredBy(member, request.params, g))
    return i === able.length - 1
      ? marked
      : Effect.catchIf(marked, accepts, () => from(i + 1))
  }
  return from(0)
}

/**
 * A stream falls back only while it has sent nothing: once text has arrived, another generator's answer would not
 * continue it, so a failure mid-stream is the stream's.
 */
const streamInTurn = (
  members: ReadonlyArray<Service>,
  accepts: (error: GenerationError) => boolean
) =>
(request: ChatRequest): Stream.Stream<StreamPart, GenerationError> => {
  const able = members.filter((member) => member.stream !== undefined)
  const from = (i: number): Stream.Stream<StreamPart, GenerationError> =>
    Stream.suspend(() => {
      const member = able[i]!
      let started = false
      const parts = member.stream!(request).pipe(
        Stream.map((part): StreamPart => {
          started = true
          return part._tag === "Done" && member !== members[0]
            ? { _tag: "Done", generation: answeredBy(member, request.params, part.generation) }
            : part
        })
      )
      return i === able.length - 1
        ? parts
        : Stream.catchIf(parts, (error) => !started && accepts(error), () => from(i + 1))
    })
  return from(0)
}

const smallest = (values: ReadonlyArray<number | undefined>): number | undefined => {
  const set = values.filter((v): v is number => v !== undefined)
  return set.length === 0 ? undefined : Math.min(...set)
}

/**
 * The fallback service of `members` (at least one), each already run through its own engine. It is known by the
 * first member's identifier and endpoint; it can do what any member can (a method only some members have falls
 * back among those), and declares the smallest of their limits. It has no provider batch API: a provider batch
 * belongs to one provider.
 */
export const make = (members: readonly [Service, ...Array<Service>], when: When | undefined): Service => {
  const first = members[0]
  const accepts = predicateOf(when)
  const maxChoices = smallest(members.map((m) => m.capabilities?.maxChoices))
  const maxPromptsPerRequest = smallest(members.map((m) => m.capabilities?.maxPromptsPerRequest))
  const some = (has: (member: Service) => boolean) => members.some(has)
  return {
    identifier: first.identifier,
    ...(first.endpoint === undefined ? {} : { endpoint: first.endpoint }),
    capabilities: {
      ...(maxChoices === undefined ? {} : { maxChoices }),
      ...(maxPromptsPerRequest === undefined ? {} : { maxPromptsPerRequest })
    },
    generate: inTurn(members, accepts, (m) => m.generate),
    ...(some((m) => m.complete !== undefined) ? { complete: inTurn(members, accepts, (m) => m.complete) } : {}),
    ...(some((m) => m.completeMany !== undefined)
      ? { completeMany: inTurn(members, accepts, (m) => m.completeMany) }
      : {}),
    ...(some((m) => m.stream !== undefined) ? { stream: streamInTurn(members, accepts) } : {})
  }
}
