/**
 * Anthropic's Message Batches as a generator's `batch`: requests go in one `messages.batches.create` call (the same
 * bodies realtime requests send, one choice each), and results are streamed from `results()` line by line.
 *
 * @internal
 */
import type AnthropicSdk from "@anthropic-ai/sdk"
import {
  ConnectionError,
  type Generation,
  type GenerationError,
  type Generator,
  MalformedResponse,
  Unsupported
} from "@capstan/core"
import { Effect, Stream } from "effect"
import { contexts, raw, type Send } from "./batch.js"

/** A request encoded, and how its answer (a message) becomes a generation. */
export interface Encoded {
  readonly params: object
  readonly toGeneration: (message: unknown) => Effect.Effect<Generation.Generation, GenerationError>
}

// The API's limits: 100 000 requests and 256 MB per batch; a margin for the JSON around the lines.
const limits = { maxRequests: 100_000, maxBytes: 256 * 1000 * 1000 - 64 * 1024 }

// An errored result names its error type, not a status: the status the same error has on a realtime call.
const statusOfType: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529
}

/** The batch API of one Anthropic generator. */
export const make = (options: {
  readonly provider: string
  readonly send: Send<AnthropicSdk>
  readonly encode: (request: Generation.ChatRequest) => Effect.Effect<Encoded, GenerationError>
  readonly statusError: (status: number, error: Record<string, unknown> | undefined) => GenerationError
}): Generator.BatchApi => {
  const { provider, send } = options
  const pending = contexts<Encoded["toGeneration"]>()

  const outcomeOf = (
    result: AnthropicSdk.Messages.Batches.MessageBatchIndividualResponse
  ): Effect.Effect<Generator.BatchResult> => {
    const customId = result.custom_id
    const settled = (outcome: Generator.BatchOutcome) => Effect.succeed({ customId, outcome })
    switch (result.result.type) {
      case "succeeded": {
        const toGeneration = pending.take(customId)
        if (toGeneration === undefined) {
          return settled({
            _tag: "Failed",
            error: new MalformedResponse({ provider, detail: `unknown custom_id ${customId}` })
          })
        }
        return toGeneration(result.result.message).pipe(
          Effect.map((generation): Generator.BatchOutcome => ({ _tag: "Answered", generation })),
          Effect.catch((error) => Effect.succeed<Generator.BatchOutcome>({ _tag: "Failed", error })),
          Effect.map((outcome) => ({ customId, outcome }))
        )
      }
      case "errored": {
        pending.take(customId)
        const error = result.result.error.error as unknown as Record<string, unknown>
        const type = typeof error.type === "string" ? error.type : "api_error"
        return settled({ _tag: "Failed", error: options.statusError(statusOfType[type] ?? 500, error) })
      }
      case "canceled":
        pending.take(customId)
        return settled({ _tag: "Unfinished", reason: "cancelled" })
      case "expired":
        pending.take(customId)
        return settled({ _tag: "Unfinished", reason: "expired" })
    }
  }

  return {
    limits,
    encode: (entry) =>
      entry.kind === "completion"
        ? Effect.fail(new Unsupported({ provider, detail: "the Messages API has no plain-text completion" }))
        : Effect.map(options.encode(entry.request), ({ params, toGeneration }) => {
          pending.keep(entry.customId, toGeneration)
          return JSON.stringify({ custom_id: entry.customId, params })
        }),
    create: (lines) =>
      Effect.map(
        send(
          (client, perRequest) =>
            client.messages.batches.create({
              requests: lines.map((line) => JSON.parse(line) as AnthropicSdk.Messages.Batches.BatchCreateParams.Request)
            }, perRequest).withResponse(),
          raw<AnthropicSdk.Messages.Batches.MessageBatch>
        ),
        ({ wire }) => wire.id
      ),
    retrieve: (batchId) =>
      Effect.map(
        send(
          (client, perRequest) => client.messages.batches.retrieve(batchId, {}, perRequest).withResponse(),
          raw<AnthropicSdk.Messages.Batches.MessageBatch>
        ),
        ({ wire }): Generator.BatchState =>
          wire.processing_status === "ended"
            ? { _tag: "Ended", status: wire.processing_status }
            : { _tag: "Running", status: wire.processing_status }
      ),
    results: (batchId) =>
      Stream.unwrap(
        Effect.map(
          send(
            (client, perRequest) =>
              client.messages.batches.results(batchId, {}, perRequest).then((decoder) => ({
                data: decoder,
                response: { headers: new Headers() }
              })),
            raw<AsyncIterable<AnthropicSdk.Messages.Batches.MessageBatchIndividualResponse>>
          ),
          ({ wire }) =>
            Stream.fromAsyncIterable(wire, (error) => new ConnectionError({ provider, detail: String(error) })).pipe(
              Stream.mapEffect(outcomeOf)
            )
        )
      ),
    cancel: (batchId) =>
      Effect.asVoid(
        send(
          (client, perRequest) => client.messages.batches.cancel(batchId, {}, perRequest).withResponse(),
          raw<AnthropicSdk.Messages.Batches.MessageBatch>
        )
      )
  }
}
