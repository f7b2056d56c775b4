/**
 * Waiting for a process signal (a second Ctrl-C while a stopping batch drains).
 *
 * @internal
 */
import { Effect } from "effect"

/**
 * A signal this soon after the wait starts is the same Ctrl-C delivered twice: `pnpm capstan` in a terminal gets
 * it from the terminal (to the whole process group) and again from pnpm, which forwards it to its script.
 */
const DUPLICATE_MS = 250

/** Completes when the process next receives `signal`; the listener is removed when interrupted. */
export const next = (signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const since = Date.now()
    const onSignal = () => {
      if (Date.now() - since < DUPLICATE_MS) return
      process.removeListener(signal, onSignal)
      resume(Effect.void)
    }
    process.on(signal, onSignal)
    return Effect.sync(() => void process.removeListener(signal, onSignal))
  })
