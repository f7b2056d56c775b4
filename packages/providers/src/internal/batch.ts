/**
 * What both providers' batch APIs share: the context a result needs to become a generation (kept from encoding
 * to reading, by custom id), a failed result's error mapped like a failed realtime call's, and result files read
 * line by line.
 *
 * @internal
 */
import { type GenerationError, type MalformedResponse, Secrets } from "@capstan/core"
import { Effect, Redacted, Stream } from "effect"
import type { Answer, RequestOptions } from "./call.js"
import { toGenerationError } from "./failure.js"

/** A generator's `send` for the batch API's own calls (no generation params: the default timeout). */
export type Send<Client> = <W>(
  request: (client: Client, options: RequestOptions) => Promise<Answer>,
  decode: (data: unknown) => Effect.Effect<W, MalformedResponse>
) => Effect.Effect<{ readonly wire: W }, GenerationError>

/** An SDK answer taken as it is (the SDK's own types describe it). */
export const raw = <A>(data: unknown): Effect.Effect<A> => Effect.succeed(data as A)

/**
 * What a result line needs from its request: kept from `encode` until the result is read, then dropped. A run
 * that resumes an earlier one encodes its requests again, so the context is there for those batches too.
 */
export const contexts = <C>() => {
  const byId = new Map<string, C>()
  return {
    keep: (customId: string, context: C) => void byId.set(customId, context),
    take: (customId: string): C | undefined => {
      const context = byId.get(customId)
      byId.delete(customId)
      return context
    }
  }
}

/** Maps a result's HTTP status and error body to the typed error a realtime call with that answer gets. */
export const statusError = (options: {
  readonly provider: string
  readonly apiKey: Redacted.Redacted<string>
  readonly baseURL: string
}) => {
  const secrets = [Redacted.value(options.apiKey), ...Secrets.credentialsOf(options.baseURL)]
  return (
    status: number,
    error: { readonly message?: unknown; readonly code?: unknown; readonly type?: unknown } | undefined
  ): GenerationError =>
    toGenerationError({
      _tag: "Status",
      status,
      headers: undefined,
      message: typeof error?.message === "string" ? error.message : `status ${status}`,
      code: typeof error?.code === "string" ? error.code : undefined,
      type: typeof error?.type === "string" ? error.type : undefined
    }, { provider: options.provider, secrets, timeoutMs: 0, now: Date.now() })
}

/** The lines of a response body, decoded as they arrive (a results file is never held whole). */
export const linesOf = (body: ReadableStream<Uint8Array>, onError: (error: unknown) => GenerationError) =>
  Stream.fromReadableStream({ evaluate: () => body, onError }).pipe(
    Stream.decodeText,
    Stream.splitLines,
    Stream.filter((line) => line.trim().length > 0)
  )

/** Parses one JSON line, failing with `malformed` when it is not JSON. */
export const parseLine = <E>(line: string, malformed: (detail: string) => E): Effect.Effect<unknown, E> =>
  Effect.try({
    try: () => JSON.parse(line) as unknown,
    catch: () => malformed(`a results line is not JSON: ${line.slice(0, 200)}`)
  })
