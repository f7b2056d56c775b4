import { Context } from "effect"

/**
 * Counts the requests a generation took, retries included, for whoever asked (the pipeline engine provides
 * a fresh counter around each generation; the generator engine bumps it on every attempt). A failed
 * generation carries no count of its own, so this is how a failed chat still knows its attempts.
 */
export const AttemptCounter = Context.Reference<{ count: number } | undefined>(
  "@capstan/core/internal/AttemptCounter",
  { defaultValue: () => undefined }
)
