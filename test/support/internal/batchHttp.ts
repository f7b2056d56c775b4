/**
 * What the batch endpoints need from the HTTP server, and the small pieces both providers' endpoints share:
 * JSON and JSONL replies, error replies in the provider's shape, and newest-first cursor pages.
 * @module
 */
import type { IncomingHttpHeaders } from "node:http"
import { errorBody, type ErrorSpec, statusError } from "./errors.js"
import type { ApiKind } from "./types.js"

/** One request to a batch endpoint, and the means to answer it. */
export interface BatchHttp {
  readonly method: string
  /** Path without the query string. */
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** The body as received (empty when it was over the route's limit). */
  readonly raw: Buffer
  /** The body parsed as JSON, or undefined. */
  readonly json: unknown
  readonly tooLarge: boolean
  /** `http://host:port` as the client reached the server, for absolute URLs such as Anthropic's `results_url`. */
  readonly origin: string
  readonly requestId: string
  /** Writes a complete response. */
  readonly send: (status: number, contentType: string, body: string | Buffer) => void
  /** Writes a response of unknown length from `chunks`, pausing while the socket is full. */
  readonly stream: (status: number, contentType: string, chunks: Iterable<string>) => void
}

/** Answers one request; `t` is the batch clock's reading for it, taken once every batch has been brought up to it. */
export type Handler = (http: BatchHttp, t: number) => void | Promise<void>

/** A matched route: its handler, and the body size it accepts when not the server's default. */
export interface Route {
  readonly handle: Handler
  readonly maxBodyBytes?: number
}

/** The wire format of a route's errors. */
export type ErrorFlavour = Extract<ApiKind, "openai-chat" | "anthropic">

export const sendJson = (http: BatchHttp, status: number, body: unknown): void =>
  http.send(status, "application/json", JSON.stringify(body))

export const sendError = (http: BatchHttp, flavour: ErrorFlavour, spec: ErrorSpec): void =>
  sendJson(http, spec.status, errorBody(flavour, spec, http.requestId))

export const notFound = (message: string, param: string | null = null): ErrorSpec =>
  statusError(404, message, null, param)

export const invalid = (message: string, param: string | null = null, code: string | null = null): ErrorSpec =>
  statusError(400, message, code, param)

/** Joins lines into chunks of about 64 KiB, so a 100 000-line file is not one string nor 100 000 writes. */
export function* chunked(lines: Iterable<string>): Generator<string> {
  let chunk = ""
  for (const line of lines) {
    chunk += line + "\n"
    if (chunk.length >= 65_536) {
      yield chunk
      chunk = ""
    }
  }
  if (chunk.length > 0) yield chunk
}

/** A page of `items` (oldest first) listed newest first, after or before a cursor id. */
export interface Page<A> {
  readonly data: ReadonlyArray<A>
  readonly hasMore: boolean
}

export const newestFirstPage = <A extends { readonly id: string }>(
  items: ReadonlyArray<A>,
  limit: number,
  cursor: { readonly after?: string | undefined; readonly before?: string | undefined }
): Page<A> => {
  const ordered = items.slice().reverse()
  if (cursor.before !== undefined) {
    const end = ordered.findIndex((b) => b.id === cursor.before)
    const upTo = end < 0 ? 0 : end
    const start = Math.max(0, upTo - limit)
    return { data: ordered.slice(start, upTo), hasMore: start > 0 }
  }
  const from = cursor.after === undefined ? 0 : ordered.findIndex((b) => b.id === cursor.after) + 1
  const start = cursor.after !== undefined && from === 0 ? ordered.length : from
  return { data: ordered.slice(start, start + limit), hasMore: start + limit < ordered.length }
}

/** Reads `limit` from the query: the default when absent, undefined when out of `[1, max]`. */
export const pageLimit = (query: URLSearchParams, fallback: number, max: number): number | undefined => {
  const text = query.get("limit")
  if (text === null) return fallback
  const limit = Number(text)
  return Number.isInteger(limit) && limit >= 1 && limit <= max ? limit : undefined
}

/** Unix seconds, as OpenAI's objects carry them. */
export const unixSeconds = (ms: number): number => Math.floor(ms / 1000)

/** RFC 3339 with milliseconds, as Anthropic's objects carry them. */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString()
