/**
 * Public types of the fake provider (re-exported by `../FakeProvider.ts`).
 * @module
 */
import type { IncomingHttpHeaders } from "node:http"

/** Which wire format a request used. */
export type ApiKind = "openai-chat" | "openai-completion" | "anthropic"

/** Every fault kind, in a stable order (handy for table-driven tests). */
export const FAULT_KINDS = [
  "rate-limit",
  "quota",
  "server-error",
  "unavailable",
  "overloaded",
  "bad-request",
  "unauthorized",
  "forbidden",
  "not-found",
  "too-large",
  "context-length",
  "content-filter",
  "reset",
  "reset-after-headers",
  "truncated",
  "malformed",
  "hang"
] as const

/**
 * A failure the server can inject instead of a normal answer:
 * - `rate-limit` 429 temporary rate limit, with `retry-after: 1` / `retry-after-ms: 1000`
 * - `quota` 429 that never clears (OpenAI `insufficient_quota`; Anthropic spend cap, `error.details.error_code`), no `retry-after`
 * - `server-error` 500, `unavailable` 503, `overloaded` 529 (`overloaded_error`)
 * - `bad-request` 400, `unauthorized` 401, `forbidden` 403, `not-found` 404 (model), `too-large` 413
 * - `context-length` 400 (OpenAI `context_length_exceeded`; Anthropic "prompt is too long")
 * - `content-filter` 200 with OpenAI `finish_reason: "content_filter"` / Anthropic `stop_reason: "refusal"` and no text
 * - `reset` socket destroyed before any response byte
 * - `reset-after-headers` 200 headers + half the body, then the socket is destroyed
 * - `truncated` a complete 200 response whose JSON body is cut in half (valid headers, matching content-length)
 * - `malformed` a complete 200 response, `content-type: application/json`, body is an HTML error page
 * - `hang` never answers (until the client gives up or the server closes)
 */
export type FaultKind = (typeof FAULT_KINDS)[number]

/** A tool call of an assistant message (OpenAI `tool_calls`, Anthropic `tool_use`), arguments parsed. */
export interface FakeToolCall {
  readonly id: string
  readonly name: string
  readonly input: unknown
}

/** A tool result (OpenAI `tool` message, Anthropic `tool_result` block), content flattened to text. */
export interface FakeToolResult {
  readonly id: string
  readonly content: string
  readonly isError: boolean
}

/** One conversation turn: its text (text parts joined, tool results' text included) and its other parts. */
export interface FakeMessage {
  readonly role: string
  readonly text: string
  /** Image parts (OpenAI `image_url`, Anthropic `image`). */
  readonly images: number
  readonly toolCalls: ReadonlyArray<FakeToolCall>
  readonly toolResults: ReadonlyArray<FakeToolResult>
}

/** What `respond` sees: the parsed request, normalized across wire formats. */
export interface FakeRequest {
  /**
   * Arrival index since start / `reset()` (0-based); unique per HTTP request. A batch request gets its position among
   * all batch requests since start / `reset()` instead (a separate numbering).
   */
  readonly seq: number
  readonly api: ApiKind
  /** URL path without the query string, e.g. `/v1/chat/completions`. */
  readonly path: string
  readonly model: string
  /** Conversation (chat / messages), or a single user message holding the prompt (legacy completions). */
  readonly messages: ReadonlyArray<FakeMessage>
  /** Anthropic `system`, or the OpenAI system/developer messages joined with a newline. */
  readonly system: string | undefined
  /** Text of the last user message (legacy completions: the prompt) — what the default answer echoes. */
  readonly prompt: string
  /** Position of `prompt` in a legacy completions prompt array (`respond` is called once per prompt), else 0. */
  readonly promptIndex: number
  /** `max_completion_tokens ?? max_tokens` (OpenAI) / `max_tokens` (Anthropic). */
  readonly maxTokens: number | undefined
  /** Number of choices asked for (`n`, default 1; always 1 for Anthropic). */
  readonly n: number
  /** The raw parsed JSON body. */
  readonly params: Readonly<Record<string, unknown>>
  /**
   * Request headers as Node received them (lower-case names, credentials included); for a batch request, those of
   * the request that created the batch.
   */
  readonly headers: IncomingHttpHeaders
  /** Set when the request is part of a batch (OpenAI Batch API or Anthropic Message Batches). */
  readonly batch?: FakeBatchRef
}

/** The batch a request belongs to. */
export interface FakeBatchRef {
  readonly provider: BatchProvider
  /** `batch_…` / `msgbatch_…` */
  readonly id: string
  readonly customId: string
  /** Position of the request in the batch (0-based). */
  readonly index: number
}

/** Which batch API: OpenAI's (`/v1/files` + `/v1/batches`) or Anthropic's (`/v1/messages/batches`). */
export type BatchProvider = "openai" | "anthropic"

/** An HTTP error to answer with, in the provider's own error JSON shape. */
export interface FakeError {
  readonly status: number
  /** OpenAI `error.type` / Anthropic `error.type`; defaults to a sensible type for the status. */
  readonly type?: string
  /** OpenAI `error.code` (ignored for Anthropic). */
  readonly code?: string
  readonly message?: string
}

/** A tool call to answer with; `id` defaults to `call_fake<seq>_<i>` (OpenAI) / `toolu_fake<seq>_<i>` (Anthropic). */
export interface FakeReplyToolCall {
  readonly name: string
  readonly input: unknown
  readonly id?: string
}

/**
 * A scripted answer. The first of `fault`, `error`, `toolInput`, `toolCalls`, `text` that is set wins, except that
 * `text` goes along with `toolCalls` (text before the calls).
 */
export interface FakeReply {
  /** Inject this fault for the request. */
  readonly fault?: FaultKind
  /** Answer with this HTTP error. */
  readonly error?: FakeError
  /** Answer with a tool call carrying this input (needs a forced tool in the request; otherwise it is sent as JSON text). */
  readonly toolInput?: unknown
  /**
   * Answer with these tool calls, as the model does when it decides to call tools: OpenAI `tool_calls` with
   * `finish_reason: "tool_calls"`, Anthropic `tool_use` blocks with `stop_reason: "tool_use"` (legacy completions:
   * their JSON as text).
   */
  readonly toolCalls?: ReadonlyArray<FakeReplyToolCall>
  /** Answer text (each of the `n` choices gets the same text); still subject to `stop` and `max_tokens`. */
  readonly text?: string
  /** Overrides the server's latency for this request. */
  readonly latencyMs?: number
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * Lifecycle timings and limits of the batch APIs. Every duration defaults to 0, so a batch is done as soon as it is
 * looked at; each batch keeps the timings, limits and faults that were configured when it was created.
 */
export interface FakeBatchOptions {
  /**
   * The batch clock in ms since the epoch; default `Date.now`. Statuses are worked out from it on every request
   * (no timers), so a test can drive batches with a manual clock.
   */
  readonly now?: (() => number) | undefined
  /** Time in `validating` (OpenAI) / queued before the first request runs (Anthropic). */
  readonly validatingMs?: number | undefined
  /** Time each request takes; requests run one after another, in file order. */
  readonly perRequestMs?: number | undefined
  /** Time all the requests of a batch take together, spread evenly over them (adds to `perRequestMs`). */
  readonly processingMs?: number | undefined
  /** Time in `finalizing` (OpenAI) / still `in_progress` (Anthropic) after the last request. */
  readonly finalizingMs?: number | undefined
  /** Time in `cancelling` (OpenAI) / `canceling` (Anthropic) after a cancel. */
  readonly cancellingMs?: number | undefined
  /** A batch not done this long after it was created expires. Default 24 h. */
  readonly completionWindowMs?: number | undefined
  /** OpenAI: most requests (lines) in one input file. Default 50 000. */
  readonly openaiMaxRequests?: number | undefined
  /** OpenAI: largest input file in bytes. Default 200 MiB. */
  readonly openaiMaxBytes?: number | undefined
  /** Anthropic: most requests in one batch. Default 100 000. */
  readonly anthropicMaxRequests?: number | undefined
  /** Anthropic: largest create body in bytes (413 above it). Default 256 MiB. */
  readonly anthropicMaxBytes?: number | undefined
  /**
   * OpenAI: the tokens (the rate limiter's estimate) that the unfinished batches of one model may hold; a batch that
   * would go over fails validation with `token_limit_exceeded`. Default unlimited.
   */
  readonly enqueuedTokenLimit?: number | undefined
}

/** A per-request error a batch fault injects: 500, overloaded (OpenAI 503, Anthropic 529), 429, or 400. */
export type BatchErrorKind = "server" | "overloaded" | "rate-limit" | "invalid"

/** Faults of batch requests, drawn from the seed, the batch's position since start / `reset()` and the request's index. */
export interface FakeBatchFaults {
  /** Fraction of requests answered with an error instead of the realtime answer. Default 0. */
  readonly errorRate?: number | undefined
  /** Kinds drawn uniformly for those errors. Default `["server"]`. */
  readonly errorKinds?: ReadonlyArray<BatchErrorKind> | undefined
  /**
   * The batch stops running requests (`true`: before the first, `{ afterRequests }`: after that many) and expires at
   * the end of its completion window.
   */
  readonly expire?: boolean | { readonly afterRequests: number } | undefined
}

/** Batch counters since start / `reset()`. */
export interface FakeBatchStats {
  /** Files uploaded with `POST /v1/files`. */
  readonly filesUploaded: number
  /** Batches created (both providers, failed validations included). */
  readonly batchesCreated: number
  /** Batch requests that ran (succeeded or errored; not the expired or cancelled ones). */
  readonly requestsProcessed: number
  readonly requestsSucceeded: number
  readonly requestsErrored: number
}
