/**
 * One writer per results file: a lock file next to it (`results.jsonl.lock`), created exclusively and holding its
 * owner (pid, host, the process's start time), removed when the run ends. A lock whose owner is gone (a run killed
 * with `kill -9`) is taken over.
 *
 * @internal
 */
import { Duration, Effect, FileSystem, Option, Schedule, Schema } from "effect"
import type * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"
import { InputError, OutputLocked } from "../Errors.js"

/** The lock file of a results file. */
export const lockOf = (file: string): string => `${file}.lock`

const Owner = Schema.Struct({
  pid: Schema.Int,
  host: Schema.String,
  /** The process's start time in clock ticks since boot (Linux), so a pid reused by another process is not its owner. */
  started: Schema.optionalKey(Schema.String),
  since: Schema.String,
  token: Schema.String
})
type Owner = typeof Owner.Type

const decodeOwner = Schema.decodeUnknownOption(Schema.fromJsonString(Owner))

/** Field 22 of `/proc/<pid>/stat`, after the command name (which may hold spaces and parentheses). */
const startTimeOf = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  } catch {
    return undefined
  }
}

/** Whether the owner still runs: `undefined` when it runs on another host and cannot be checked. */
const isAlive = (owner: Owner): boolean | undefined => {
  if (owner.host !== hostname()) return undefined
  try {
    process.kill(owner.pid, 0)
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false
  }
  const started = startTimeOf(owner.pid)
  return owner.started === undefined || started === undefined || started === owner.started
}

/** Someone else created, removed or took over the lock between two of our steps: look again. */
class Contended extends Schema.TaggedError<Contended>()("Contended", {}) {}

/** A lock file older than this that still holds no owner was left by a process that died while creating it. */
const unwrittenAfter = Duration.seconds(5)

/**
 * Takes the lock of `file` for the life of the scope, or fails with {@link OutputLocked} naming the run that holds
 * it. A lock left by a process that is gone is taken over.
 */
export const acquire = (
  file: string
): Effect.Effect<void, OutputLocked | InputError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const lock = lockOf(file)
    const failure = (error: { readonly message: string }) =>
      new InputError({ file: lock, reason: `cannot lock the results file: ${error.message}` })
    // The lock sits next to the results file, whose directory a new run creates.
    yield* fs.makeDirectory(dirname(lock), { recursive: true }).pipe(Effect.mapError(failure))
    const owner: Owner = {
      pid: process.pid,
      host: hostname(),
      ...(startTimeOf(process.pid) === undefined ? {} : { started: startTimeOf(process.pid)! }),
      since: new Date().toISOString(),
      token: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`
    }
    const takeOver = Effect.gen(function*() {
      // Only one of several processes taking over the same stale lock wins the rename.
      const aside = `${lock}.stale-${owner.token}`
      yield* fs.rename(lock, aside).pipe(Effect.mapError(() => new Contended()))
      yield* fs.remove(aside, { force: true }).pipe(Effect.ignore)
      return yield* new Contended()
    })
    const attempt = fs.writeFileString(lock, `${JSON.stringify(owner)}\n`, { flag: "wx" }).pipe(
      Effect.catchTag("PlatformError", (error) =>
        Effect.gen(function*() {
          if (error.reason._tag !== "AlreadyExists") return yield* failure(error)
          const text = yield* fs.readFileString(lock).pipe(Effect.mapError(() => new Contended()))
          const holder = decodeOwner(text.trim())
          if (Option.isNone(holder)) {
            const info = yield* fs.stat(lock).pipe(Effect.mapError(() => new Contended()))
            const age = Date.now() - Option.getOrElse(Option.map(info.mtime, (d) => d.getTime()), () => 0)
            return yield* age > Duration.toMillis(unwrittenAfter) ? takeOver : new Contended()
          }
          const alive = isAlive(holder.value)
          if (alive === false) return yield* takeOver
          return yield* new OutputLocked({
            file,
            lock,
            pid: holder.value.pid,
            host: holder.value.host,
            since: holder.value.since,
            ...(alive === undefined ? { remote: true } : {})
          })
        }))
    )
    yield* attempt.pipe(
      Effect.retry({ while: (error) => error._tag === "Contended", schedule: Schedule.spaced("20 millis"), times: 50 }),
      Effect.catchTag("Contended", () => Effect.fail(failure({ message: "other runs keep taking it; try again" })))
    )
    yield* Effect.addFinalizer(() =>
      fs.readFileString(lock).pipe(
        Effect.flatMap((text) =>
          Option.exists(decodeOwner(text.trim()), (held) => held.token === owner.token)
            ? fs.remove(lock)
            : Effect.void
        ),
        Effect.ignore
      )
    )
  })
