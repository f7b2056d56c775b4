/**
 * The `--cluster` flag of `capstan runner` and `capstan batch`: a PostgreSQL URL, held as `Redacted` (it may carry a
 * password), checked before anything connects, and shown with its password masked.
 *
 * @internal
 */
import { ClusterBatch } from "@capstan/cluster"
import { Effect, Redacted } from "effect"
import { UsageError } from "../Errors.js"

const example = "postgres://capstan@db.internal:5432/capstan"

/** The URL parsed, or a usage error that does not echo it (it may hold a password). */
const parsed = (url: Redacted.Redacted<string>): Effect.Effect<URL, UsageError> =>
  Effect.try({
    try: () => new URL(Redacted.value(url)),
    catch: () =>
      new UsageError({
        reason: "--cluster expects a PostgreSQL URL, and this one does not parse",
        hint: `e.g. --cluster ${example} (user, password, host, port and database)`
      })
  }).pipe(
    Effect.filterOrFail(
      (url) => url.protocol === "postgres:" || url.protocol === "postgresql:",
      (url) =>
        new UsageError({
          reason: `--cluster expects a PostgreSQL URL (postgres://...), got a ${url.protocol.replace(/:$/, "")} URL`,
          hint: `e.g. --cluster ${example}`
        })
    ),
    Effect.filterOrFail(
      (url) => url.hostname.length > 0,
      () => new UsageError({ reason: "--cluster: the URL names no host", hint: `e.g. --cluster ${example}` })
    )
  )

/** Checks a `--cluster` URL; the checked URL stays redacted. */
export const check = (url: Redacted.Redacted<string>): Effect.Effect<Redacted.Redacted<string>, UsageError> =>
  Effect.as(parsed(url), url)

/** Where a URL connects, its password masked: `postgres://capstan:***@db.internal:5432/capstan`. */
export const masked = (url: Redacted.Redacted<string>): string => {
  try {
    const shown = new URL(Redacted.value(url))
    if (shown.password.length > 0) shown.password = "***"
    shown.search = ""
    return shown.toString()
  } catch {
    return "<the --cluster URL>"
  }
}

/** `--budget shared | local | split:N`. */
export const budgetOf = (text: string): Effect.Effect<ClusterBatch.Budget, UsageError> => {
  const budget = ClusterBatch.budgetFromText(text)
  if (budget !== undefined) return Effect.succeed(budget)
  return Effect.fail(
    new UsageError({
      reason: `--budget expects shared, local or split:N, got "${text}"`,
      hint:
        "shared: every runner reserves from one budget in the database (default); split:N: this runner keeps 1/N of the identifier's rpm and tpm; local: the whole limits"
    })
  )
}
