/**
 * Where a request sits within its item, for generator wrappers that need to tell apart requests with the same
 * content: a provider batch's custom id and the response cache's key both include the first choice a request asks
 * for, since one item's `n` choices may be asked by identical requests (one per choice when the provider answers
 * one choice per request).
 *
 * @internal
 */
import { Context, Effect } from "effect"

/** The first choice (0-based) of the item that the current request asks for. 0 outside a batch's choices. */
export const ChoiceOffset = Context.Reference<number>("@capstan/core/internal/requestSlot/ChoiceOffset", {
  defaultValue: () => 0
})

/** Runs a request as the one asking for the item's choices from `offset` on. */
export const atChoice = (offset: number) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  offset === 0 ? effect : Effect.provideService(effect, ChoiceOffset, offset)

/**
 * Which repetition of the same request this is within its item's choice: "" for the first, else where it comes
 * from (`parse<step>.<round>`). A parse step without recovery regenerates by asking the very same messages again,
 * and each of those requests must have a key (a cache key, a custom id) of its own, or a cache would answer every
 * regeneration with the answer that did not parse.
 */
export const Repetition = Context.Reference<string>("@capstan/core/internal/requestSlot/Repetition", {
  defaultValue: () => ""
})

/** Runs a request as the given repetition of the same request. */
export const asRepetition = (repetition: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, Repetition, repetition)

/** The batch item a request belongs to: its position in the batch's input and, for a dataset's item, its id. */
export interface Item {
  readonly index: number
  readonly id?: string | undefined
}

/** The batch item of the current request (its spans say which item they served); unset outside a batch. */
export const CurrentItem = Context.Reference<Item | undefined>("@capstan/core/internal/requestSlot/CurrentItem", {
  defaultValue: () => undefined
})

/** Runs an item's requests as that item's. */
export const forItem = (item: Item) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, CurrentItem, item)
