/**
 * Small helpers for building request bodies and reading answers, shared by the providers.
 *
 * @internal
 */
import { MalformedResponse, Usage } from "@capstan/core"
import { Effect, Result, Schema } from "effect"

/** Drops unset fields, so a request body shows exactly what was asked. */
export const defined = <A extends Record<string, unknown>>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

/** A field a server may omit or send as `null`. */
export const nullish = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * Constructor options for results built from decoded wire data (already checked by the wire schema, token counts
 * made non-negative integers): skipping the classes' checks again keeps them off the per-request hot path.
 */
export const trusted = { disableChecks: true } as const

/** A token count as the wire reports it (possibly absent, fractional from odd servers), as a non-negative integer. */
export const tokenCount = (n: number | null | undefined): number =>
  n === null || n === undefined ? 0 : Math.max(0, Math.round(n))

/**
 * The usage of an answer from the wire's counts: `cached` is the part of `input` read from the provider's prompt
 * cache, kept only when there was some (rows of uncached requests keep their old shape). A server that reports more
 * cached tokens than input tokens is believed for the input.
 */
export const usageOf = (input: number, output: number, cached: number): Usage.Usage =>
  new Usage.Usage(
    cached > 0
      ? { inputTokens: Math.max(input, cached), outputTokens: output, cachedInputTokens: cached }
      : { inputTokens: input, outputTokens: output },
    trusted
  )

/**
 * A decoder of provider answers: the SDKs type their results but do not check them, and compatible servers
 * differ, so what Capstan reads is decoded with a schema; another shape is a `MalformedResponse`.
 */
export const decoder = <S extends Schema.Top>(provider: string, schema: S) => {
  // Synchronous: an answer is decoded once per request, and a Result costs less than an Effect.
  const decode = Schema.decodeUnknownResult(schema as unknown as Schema.Codec<S["Type"], unknown>)
  return (data: unknown): Effect.Effect<S["Type"], MalformedResponse> => {
    const result = decode(data)
    return Result.isSuccess(result)
      ? Effect.succeed(result.success)
      : Effect.fail(
        new MalformedResponse({
          provider,
          detail: `unexpected response shape: ${result.failure.message.slice(0, 500)}`
        })
      )
  }
}
