/**
 * The HTTP transport handed to the SDKs as their `fetch`: one request over `node:http(s)` with keep-alive agents
 * of its own, the answer read whole (within limits) and handed back with the `Response` interface.
 *
 * Why not the global `fetch`: at a hundred requests in flight the SDK's own work is small next to undici's
 * WHATWG streams and per-request bookkeeping; this transport costs about a quarter less CPU per request and
 * leaves less garbage (see bench/README.md). Reading a JSON answer whole loses nothing (the SDKs read it whole
 * too), and it puts a dropped connection mid-body on the request itself (a connection error the retry layer
 * handles), not on a later `.json()`.
 *
 * What it does, so that being the default is safe:
 * - **Limits.** An answer read whole is refused beyond `maxBodyBytes` on the wire (checked against
 *   `content-length` first, then as bytes arrive) and `maxDecodedBytes` once decompressed (zlib stops there).
 * - **Streams.** An answer that is not JSON or text (`text/event-stream`, a file download) is handed on as it
 *   arrives, decoded, not buffered; reading such a body whole is bounded the same way.
 * - **Redirects.** 307/308 to the same origin are followed with the same method and body, 301/302/303 to the
 *   same origin only for GET/HEAD (a POST would become a GET without its body); anything else, a redirect to
 *   another origin (it would carry the API key there) and more than `maxRedirects` in a row are refused with an
 *   error that says where the server points.
 * - **What it does not send itself** goes to the global `fetch` (see `route.ts`): a configured proxy the host is
 *   not exempt from, a user-set undici dispatcher, multipart and stream bodies.
 * - **Lifetime.** Its agents are its own, made with it and destroyed by `close()` (their sockets with them);
 *   a request after `close()` is refused. `HttpTransport.make` ties that to a scope.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import { pipeline, Readable } from "node:stream"
import * as zlib from "node:zlib"
import { TransportRefusal } from "./refusal.js"
import { BufferedHeaders, BufferedResponse, type Head, StreamedResponse } from "./response.js"
import { router } from "./route.js"

/** The slice of `fetch` the SDKs call: a URL string and an init with method, headers, body and signal. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** How much the transport holds and how far it follows. */
export interface Limits {
  /** Bytes on the wire of an answer read whole. */
  readonly maxBodyBytes: number
  /** Bytes of an answer read whole, once decompressed. */
  readonly maxDecodedBytes: number
  /** Same-origin redirects followed in a row. */
  readonly maxRedirects: number
}

/** A transport: its `fetch`, and `close` to destroy its agents and refuse later requests. */
export interface Transport {
  readonly fetch: Fetch
  readonly close: () => void
}

// Statuses whose answers have no body (a `Response` for them has a null one).
// A constant table of pure values, never written: no application state.
const bodyless: ReadonlyArray<number> = [101, 204, 205, 304]

// A constant table of pure values, never written: no application state.
const redirects: ReadonlyArray<number> = [301, 302, 303, 307, 308]

/** Content types read whole: JSON and text answers (errors included). Everything else is streamed. */
const readWhole = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return true
  const type = contentType.split(";", 1)[0]!.trim().toLowerCase()
  return type === "application/json" || type === "" || type.endsWith("+json") ||
    (type.startsWith("text/") && type !== "text/event-stream")
}

type Decoder = (body: Buffer, maxOutputLength: number, done: (error: Error | null, out: Buffer) => void) => void

const decoders: Readonly<Record<string, Decoder>> = {
  gzip: (body, max, done) => zlib.gunzip(body, { maxOutputLength: max }, done),
  "x-gzip": (body, max, done) => zlib.gunzip(body, { maxOutputLength: max }, done),
  deflate: (body, max, done) => zlib.inflate(body, { maxOutputLength: max }, done),
  br: (body, max, done) => zlib.brotliDecompress(body, { maxOutputLength: max }, done)
}

const streamDecoders: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress()
}

const encodingOf = (response: http.IncomingMessage): string =>
  (response.headers["content-encoding"] ?? "").trim().toLowerCase()

const headerRecord = (headers: RequestInit["headers"]): Record<string, string> => {
  const record: Record<string, string> = {}
  if (headers === undefined) return record
  if (headers instanceof Headers || Array.isArray(headers)) {
    for (const [name, value] of headers) record[name] = value
  } else {
    Object.assign(record, headers)
  }
  return record
}

// Only these reach `node:http` (route.ts sends every other body through the global fetch).
const bodyOf = (body: RequestInit["body"]): string | Uint8Array | undefined =>
  body === undefined || body === null
    ? undefined
    : body instanceof ArrayBuffer
    ? new Uint8Array(body)
    : body as string | Uint8Array

const abortError = (signal: AbortSignal): unknown =>
  signal.reason instanceof Error && signal.reason.name === "AbortError"
    ? signal.reason
    : new DOMException("This operation was aborted", "AbortError")

const isBufferTooLarge = (error: Error): boolean => (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"

/**
 * A transport with keep-alive agents of its own. The environment (proxy variables) is read now; the caller owns
 * the transport and must `close()` it.
 */
export const make = (limits: Limits, env: NodeJS.ProcessEnv = process.env): Transport => {
  const agents: Readonly<Record<string, http.Agent>> = {
    "http:": new http.Agent({ keepAlive: true }),
    "https:": new https.Agent({ keepAlive: true })
  }
  const route = router(env)
  let closed = false

  /** One request over `node:http(s)`, following the redirects it may. */
  const send = (url: URL, init: RequestInit, method: string, hops: number): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      if (closed) return reject(TransportRefusal.closed(url))
      const signal = init.signal ?? undefined
      if (signal?.aborted === true) return reject(abortError(signal))
      function fail(error: unknown): void {
        reject(signal?.aborted === true ? abortError(signal) : error)
      }
      const request = (url.protocol === "https:" ? https : http).request(url, {
        method,
        headers: headerRecord(init.headers),
        agent: agents[url.protocol]!,
        ...(signal === undefined ? {} : { signal })
      }, (response) => {
        const status = response.statusCode ?? 0
        const location = response.headers.location
        if (redirects.includes(status) && location !== undefined) {
          response.resume() // drained, so its socket goes back to the pool
          let next: URL
          try {
            next = new URL(location, url)
          } catch {
            return reject(TransportRefusal.redirect(url, status, url, `its Location (${location}) is not a URL`))
          }
          const refuse = (reason: string) => reject(TransportRefusal.redirect(url, status, next, reason))
          if (next.origin !== url.origin) {
            return refuse("it leads to another origin, and the request carries the API key")
          }
          if (status !== 307 && status !== 308 && method !== "GET" && method !== "HEAD") {
            return refuse(`a ${status} would turn the ${method} into a GET without its body`)
          }
          if (hops >= limits.maxRedirects) {
            return refuse(`it is one more than the ${limits.maxRedirects} redirects followed in a row`)
          }
          return resolve(send(next, init, method, hops + 1))
        }
        const head: Head = {
          url: url.href,
          status,
          statusText: response.statusMessage ?? "",
          headers: new BufferedHeaders(response.headers),
          redirected: hops > 0
        }
        if (bodyless.includes(status) || method === "HEAD") {
          response.resume()
          return resolve(new BufferedResponse(head, null) as unknown as Response)
        }
        if (!readWhole(response.headers["content-type"])) return resolve(streamed(response, head))
        if (Number(response.headers["content-length"]) > limits.maxBodyBytes) {
          request.destroy()
          return reject(TransportRefusal.tooLarge(url, "wire", limits.maxBodyBytes))
        }
        const chunks: Array<Buffer> = []
        let size = 0
        response.on("data", (chunk: Buffer) => {
          size += chunk.length
          if (size <= limits.maxBodyBytes) return void chunks.push(chunk)
          chunks.length = 0
          request.destroy()
          reject(TransportRefusal.tooLarge(url, "wire", limits.maxBodyBytes))
        })
        response.on("error", fail)
        response.on("end", () => {
          const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          // The interface the SDKs read, not undici's class (see response.ts).
          const answer = (body: Buffer) => resolve(new BufferedResponse(head, body) as unknown as Response)
          const decode = decoders[encodingOf(response)]
          if (decode === undefined || raw.length === 0) {
            return raw.length > limits.maxDecodedBytes
              ? reject(TransportRefusal.tooLarge(url, "decoded", limits.maxDecodedBytes))
              : answer(raw)
          }
          decode(raw, limits.maxDecodedBytes, (error, decoded) => {
            if (error === null) return answer(decoded)
            fail(isBufferTooLarge(error) ? TransportRefusal.tooLarge(url, "decoded", limits.maxDecodedBytes) : error)
          })
        })
      })
      request.on("error", fail)
      request.end(bodyOf(init.body))
    })

  /** An answer handed on as it arrives: decoded as a stream, bounded only when read whole. */
  const streamed = (response: http.IncomingMessage, head: Head): Response => {
    const decoder = streamDecoders[encodingOf(response)]
    // The pipeline's errors (a dropped connection, a corrupt stream) reach the reader through the last stream.
    const source: Readable = decoder === undefined
      ? response
      : pipeline(response, decoder(), () => {}) as unknown as Readable
    const body = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>
    const max = decoder === undefined ? Math.min(limits.maxBodyBytes, limits.maxDecodedBytes) : limits.maxDecodedBytes
    return new StreamedResponse(head, body, max) as unknown as Response
  }

  return {
    fetch: (input, init = {}) => {
      // A `Request` carries its own method, headers and body: the global fetch reads them.
      if (typeof input !== "string" && !(input instanceof URL)) return globalThis.fetch(input, init)
      let url: URL
      try {
        url = typeof input === "string" ? new URL(input) : input
      } catch {
        return globalThis.fetch(input, init) // it throws the TypeError a fetch throws
      }
      if (closed) return Promise.reject(TransportRefusal.closed(url))
      return route.sendsItself(url, init.body)
        ? send(url, init, (init.method ?? "GET").toUpperCase(), 0)
        : globalThis.fetch(input, init)
    },
    close: () => {
      closed = true
      for (const agent of Object.values(agents)) agent.destroy()
    }
  }
}
