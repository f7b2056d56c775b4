/**
 * Packed completion requests (batch-prompt's `queries_per_batch`): completion prompts that items of a batch send
 * at about the same time, with the same params, are gathered into one `completeMany` request of at most
 * `promptsPerRequest` prompts, with effect's request batching (`Effect.request` and a batching `RequestResolver`).
 * The pack goes through the generator's engine as one request (one limiter turn, one retry loop); its answer is
 * split back into one generation per prompt, its usage apportioned (see `Usage.apportion`).
 *
 * A batch run that asks for packing provides its packer (`within`); the pipeline seam sends every completion of the
 * run through {@link complete}, which packs when a packer is in context and the generator can take several prompts.
 *
 * @internal
 */
import { Array as Arr, Context, Effect, Exit, Request, RequestResolver } from "effect"
import type { NonEmptyArray } from "effect/Array"
import type * as GenerateParams from "../GenerateParams.js"
import { type CompletionRequest, Generation } from "../Generation.js"
import { type GenerationError, MalformedResponse } from "../GenerationError.js"
import * as Usage from "../Usage.js"
import { describe, type Service } from "./generator.js"
import { trusted } from "./trusted.js"

/** Where a prompt went: a request of `prompts` prompts, at `position` (0-based). */
export interface Place {
  readonly prompts: number
  readonly position: number
}

/**
 * What one send learns about where its prompt went: written by the resolver when the prompt shared a request with
 * others, read by the round that sent it (the request's attempts count on position 0 only). One per send.
 */
export class Slot {
  place: Place | undefined = undefined
}

/** One prompt waiting for a pack. */
interface PackedPrompt extends Request.Request<Generation, GenerationError> {
  readonly _tag: "PackedPrompt"
  readonly generator: Service
  readonly prompt: string
  readonly params: GenerateParams.GenerateParams
  readonly slot: Slot
}

const PackedPrompt = Request.tagged<PackedPrompt>("PackedPrompt")

/** How a batch run packs its completion prompts. */
export interface Packer {
  readonly promptsPerRequest: number
  readonly resolver: RequestResolver.RequestResolver<PackedPrompt>
}

/** The packer of the batch run in progress, if it packs. */
export const Current = Context.Reference<Packer | undefined>("@capstan/core/internal/packing/Current", {
  defaultValue: () => undefined
})

/** Runs an item (its every completion) with the run's packer, if any. */
export const within =
  (packer: Packer | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    packer === undefined ? effect : Effect.provideService(effect, Current, packer)

/**
 * How long a pack waits for more prompts after its first: a few turns of the scheduler, so that the items a batch
 * starts together (and those that replace a finished pack's items) reach it, without waiting on the clock (which a
 * test clock would never move). A full pack is sent at once.
 */
const gathering = Effect.yieldNow.pipe(Effect.repeat({ times: 3 }), Effect.asVoid)

/** A packer of at most `promptsPerRequest` prompts per request. */
export const make = (promptsPerRequest: number): Packer => ({
  promptsPerRequest,
  resolver: RequestResolver.makeGrouped<PackedPrompt, GenerateParams.GenerateParams>({
    // Only prompts with the same params can share a request (compared by value).
    key: (entry) => entry.request.params,
    resolver: (entries) => sendAll(entries)
  }).pipe(RequestResolver.batchN(promptsPerRequest), RequestResolver.setDelayEffect(gathering))
})

/** The most prompts a generator takes in one request, or 1 when it cannot pack. */
const capacityOf = (generator: Service): number =>
  generator.completeMany === undefined ? 1 : Math.max(1, generator.capabilities?.maxPromptsPerRequest ?? Infinity)

/**
 * Sends one completion prompt: in a pack when the run packs and the generator can, else alone (with a warning
 * when the run asked for packing and the generator cannot). `slot` learns where the prompt went.
 */
export const complete = (
  generator: Service,
  request: CompletionRequest,
  slot: Slot
): Effect.Effect<Generation, GenerationError> =>
  Current.use((packer) => {
    if (packer === undefined) return generator.complete!(request)
    if (capacityOf(generator) <= 1) return Effect.map(generator.complete!(request), noted(generator, packer))
    return Effect.request(
      PackedPrompt({ generator, prompt: request.prompt, params: request.params, slot }),
      packer.resolver
    )
  })

/** A generation that says its prompt was sent alone although the run asked for packs. */
const noted = (generator: Service, packer: Packer) => (generation: Generation): Generation =>
  new Generation({
    ...generation,
    warnings: [
      ...(generation.warnings ?? []),
      `promptsPerRequest=${packer.promptsPerRequest}: ${generator.identifier.provider}!${generator.identifier.model} ` +
      `takes one prompt per request, so each prompt was sent alone`
    ]
  }, trusted)

/** The entries of one batch key (same params), by generator, each sent in requests of at most its capacity. */
const sendAll = (entries: NonEmptyArray<Request.Entry<PackedPrompt>>): Effect.Effect<void> => {
  const byGenerator = new Map<Service, Array<Request.Entry<PackedPrompt>>>()
  for (const entry of entries) {
    const group = byGenerator.get(entry.request.generator)
    if (group === undefined) byGenerator.set(entry.request.generator, [entry])
    else group.push(entry)
  }
  return Effect.forEach(byGenerator, ([generator, group]) => {
    const packs = Arr.chunksOf(group, Math.min(group.length, capacityOf(generator)))
    return Effect.forEach(packs, (pack) => sendPack(generator, pack), { concurrency: "unbounded", discard: true })
  }, { concurrency: "unbounded", discard: true })
}

/** One request for a pack's prompts; every entry completes with its share of the answer, or with its failure. */
const sendPack = (generator: Service, pack: ReadonlyArray<Request.Entry<PackedPrompt>>): Effect.Effect<void> => {
  const first = pack[0]!.request
  if (pack.length === 1) {
    return Effect.map(
      Effect.exit(generator.complete!({ prompt: first.prompt, params: first.params })),
      (exit) => pack[0]!.completeUnsafe(exit)
    )
  }
  const prompts = pack.map((entry) => entry.request.prompt)
  return Effect.map(Effect.exit(generator.completeMany!({ prompts, params: first.params })), (exit) => {
    const answers = Exit.isSuccess(exit) ? unpack(generator, first.params, prompts, exit.value) : exit
    pack.forEach((entry, position) => {
      entry.request.slot.place = { prompts: pack.length, position }
      entry.completeUnsafe(Exit.isExit(answers) ? answers : Exit.succeed(answers[position]!))
    })
  })
}

/**
 * A packed request's answer as one generation per prompt: its `n` choices (prompt after prompt), and its share of
 * the usage (input by the prompt's length, output by the length of its choices' text). Every part keeps the
 * request's rate-limit snapshot, attempts and warnings. An answer without `n` choices per prompt cannot be split:
 * every prompt fails with `MalformedResponse`.
 */
const unpack = (
  generator: Service,
  params: GenerateParams.GenerateParams,
  prompts: ReadonlyArray<string>,
  generation: Generation
): ReadonlyArray<Generation> | Exit.Exit<never, GenerationError> => {
  // `n` may come from the generator's own params (its identifier).
  const n = describe(generator.identifier, params).params.n ?? 1
  if (generation.choices.length !== prompts.length * n) {
    return Exit.fail(
      new MalformedResponse({
        provider: generator.identifier.provider,
        detail:
          `asked for ${n} choice(s) for each of ${prompts.length} prompts in one request, the answer had ${generation.choices.length}`,
        ...(generation.attempts === undefined ? {} : { attempts: generation.attempts })
      })
    )
  }
  const choices = prompts.map((_, i) => generation.choices.slice(i * n, i * n + n))
  const usages = Usage.apportion(
    generation.usage,
    prompts.map((prompt, i) => ({
      input: prompt.length,
      output: choices[i]!.reduce((sum, choice) => sum + choice.text.length, 0)
    }))
  )
  return choices.map((own, i) => new Generation({ ...generation, choices: own, usage: usages[i]! }, trusted))
}
