/**
 * OpenAI's Batch API as a generator's `batch`: requests become lines of a JSONL file (the same bodies realtime
 * requests send), uploaded with purpose `batch`, one batch per file for `/v1/chat/completions` or
 * `/v1/completions`; results are read from the output and error files line by line.
 *
 * @internal
 */
import {
  ConnectionError,
  type Generation,
  type GenerationError,
  type Generator,
  InvalidRequest,
  MalformedResponse,
  RateLimited
} from "@capstan/core"
import { Effect, Stream } from "effect"
import type OpenAISdk from "openai"
import { contexts, linesOf, parseLine, raw, type Send } from "./batch.js"

/** A request encoded, and how its answer body becomes a generation. */
export interface Encoded {
  readonly body: object
  readonly toGeneration: (body: unknown) => Effect.Effect<Generation.Generation, GenerationError>
}

const endpoints = { chat: "/v1/chat/completions", completion: "/v1/completions" } as const

// The API's limits: 50 000 requests and 200 MB per file; a margin for the multipart framing.
const limits = { maxRequests: 50_000, maxBytes: 200 * 1000 * 1000 - 64 * 1024 }

/** The batch API of one OpenAI generator. */
export const make = (options: {
  readonly provider: string
  readonly send: Send<OpenAISdk>
  readonly encode: (entry: Generator.BatchEntry) => Effect.Effect<Encoded, GenerationError>
  readonly statusError: (status: number, error: Record<string, unknown> | undefined) => GenerationError
}): Generator.BatchApi => {
  const { provider, send } = options
  const pending = contexts<Encoded["toGeneration"]>()
  const malformed = (detail: string) => new MalformedResponse({ provider, detail })

  const outcomeOf = (line: unknown): Effect.Effect<Generator.BatchResult, GenerationError> => {
    const record = line as {
      readonly custom_id?: unknown
      readonly response?: { readonly status_code?: unknown; readonly body?: unknown } | null
      readonly error?: { readonly code?: unknown; readonly message?: unknown } | null
    }
    if (typeof record?.custom_id !== "string") return Effect.fail(malformed("a results line has no custom_id"))
    const customId = record.custom_id
    const toGeneration = pending.take(customId)
    const response = record.response
    if (response !== null && response !== undefined && response.status_code === 200) {
      if (toGeneration === undefined) {
        const error = malformed(`a result for a custom_id this run did not send: ${customId}`)
        return Effect.succeed({ customId, outcome: { _tag: "Failed", error } })
      }
      return toGeneration(response.body).pipe(
        Effect.map((generation): Generator.BatchResult => ({ customId, outcome: { _tag: "Answered", generation } })),
        Effect.catch((error) => Effect.succeed<Generator.BatchResult>({ customId, outcome: { _tag: "Failed", error } }))
      )
    }
    if (response !== null && response !== undefined && typeof response.status_code === "number") {
      const body = response.body as { readonly error?: Record<string, unknown> } | undefined
      const error = options.statusError(response.status_code, body?.error)
      return Effect.succeed({ customId, outcome: { _tag: "Failed", error } })
    }
    const code = record.error?.code
    if (code === "batch_expired" || code === "batch_cancelled") {
      return Effect.succeed({
        customId,
        outcome: { _tag: "Unfinished", reason: code === "batch_expired" ? "expired" : "cancelled" }
      })
    }
    const error = options.statusError(400, record.error ?? undefined)
    return Effect.succeed({ customId, outcome: { _tag: "Failed", error } })
  }

  const readFile = (fileId: string): Stream.Stream<Generator.BatchResult, GenerationError> =>
    Stream.unwrap(
      send((client, perRequest) => client.files.content(fileId, perRequest).withResponse(), raw<Response>).pipe(
        Effect.flatMap(({ wire }) =>
          wire.body === null
            ? Effect.fail(malformed(`the file ${fileId} has no content`))
            : Effect.succeed(
              linesOf(wire.body, (error) => new ConnectionError({ provider, detail: String(error) })).pipe(
                Stream.mapEffect((line) => Effect.flatMap(parseLine(line, malformed), outcomeOf))
              )
            )
        )
      )
    )

  return {
    limits,
    encode: (entry) =>
      Effect.map(options.encode(entry), (encoded) => {
        pending.keep(entry.customId, encoded.toGeneration)
        return JSON.stringify({
          custom_id: entry.customId,
          method: "POST",
          url: endpoints[entry.kind],
          body: encoded.body
        })
      }),
    create: (lines, kind, uploaded) =>
      Effect.gen(function*() {
        const file = new File([lines.join("\n"), "\n"], "capstan-batch.jsonl", { type: "application/jsonl" })
        const { wire: uploadedFile } = yield* send(
          (client, perRequest) => client.files.create({ file, purpose: "batch" }, perRequest).withResponse(),
          raw<OpenAISdk.FileObject>
        )
        yield* uploaded(uploadedFile.id)
        const { wire: batch } = yield* send(
          (client, perRequest) =>
            client.batches.create({
              input_file_id: uploadedFile.id,
              endpoint: endpoints[kind],
              completion_window: "24h",
              metadata: { created_by: "capstan" }
            }, perRequest).withResponse(),
          raw<OpenAISdk.Batch>
        )
        return batch.id
      }),
    retrieve: (batchId) =>
      Effect.map(
        send((client, perRequest) => client.batches.retrieve(batchId, perRequest).withResponse(), raw<OpenAISdk.Batch>),
        ({ wire }): Generator.BatchState => {
          switch (wire.status) {
            case "completed":
            case "expired":
            case "cancelled":
              return { _tag: "Ended", status: wire.status }
            case "failed": {
              const first = wire.errors?.data?.[0]
              const detail = first?.message ?? "the batch failed validation"
              // The queue of enqueued tokens is full: the batch can be created again once earlier ones finish.
              const error = first?.code === "token_limit_exceeded"
                ? new RateLimited({ provider, detail })
                : new InvalidRequest({ provider, detail: `${first?.code ?? "failed"}: ${detail}` })
              return { _tag: "Failed", status: wire.status, error }
            }
            default:
              return { _tag: "Running", status: wire.status }
          }
        }
      ),
    results: (batchId) =>
      Stream.unwrap(
        Effect.map(
          send(
            (client, perRequest) => client.batches.retrieve(batchId, perRequest).withResponse(),
            raw<OpenAISdk.Batch>
          ),
          ({ wire }) =>
            Stream.concat(
              wire.output_file_id ? readFile(wire.output_file_id) : Stream.empty,
              wire.error_file_id ? readFile(wire.error_file_id) : Stream.empty
            )
        )
      ),
    // The latest batches are listed first: a batch created moments before the process stopped is on the first page.
    find: (fileId) =>
      Effect.map(
        send(
          (client, perRequest) => client.batches.list({ limit: 100 }, perRequest).withResponse(),
          raw<{ readonly data: ReadonlyArray<OpenAISdk.Batch> }>
        ),
        ({ wire }) => wire.data.find((batch) => batch.input_file_id === fileId)?.id
      ),
    cancel: (batchId) =>
      Effect.asVoid(
        send((client, perRequest) => client.batches.cancel(batchId, perRequest).withResponse(), raw<OpenAISdk.Batch>)
      )
  }
}
