/**
 * Waiting for a process signal (a second Ctrl-C while a stopping batch drains).
 *
 * @internal
 */
import { Effect } from "effect"

/** Completes when the process next receives `signal`; the listener is removed when interrupted. */
export const next = (signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const onSignal = () => resume(Effect.void)
    process.once(signal, onSignal)
    return Effect.sync(() => void process.removeListener(signal, onSignal))
  })
