/**
 * The HTTP transport handed to the SDKs as their `fetch`: one request over `node:http(s)` with keep-alive agents,
 * the answer read whole and returned as a `Response`.
 *
 * Why not the global `fetch`: at a hundred requests in flight the SDK's own work is small next to undici's
 * WHATWG streams and per-request bookkeeping; this transport costs about a quarter less CPU per request and
 * leaves less garbage (see bench/README.md). Capstan never asks for streamed answers, so reading the body whole
 * loses nothing, and it puts a dropped connection mid-body on the request itself (a connection error the retry
 * layer handles), not on a later `.json()`.
 *
 * The global `fetch` is kept where this transport would change behaviour: when a proxy is configured through the
 * environment (`HTTP(S)_PROXY`, `NODE_USE_ENV_PROXY`), which undici may honour and `node:http` does not.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import * as zlib from "node:zlib"

/** The slice of `fetch` the SDKs call: a URL string and an init with method, headers, body and signal. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

// Shared by every client in the process, as undici's global dispatcher is; idle sockets do not keep it alive.
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true })
} as const

// Statuses whose Response must have a null body (the constructor throws otherwise).
const bodyless = new Set([101, 204, 205, 304])

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

const decoders: Readonly<Record<string, (body: Buffer, done: (error: Error | null, out: Buffer) => void) => void>> = {
  gzip: zlib.gunzip,
  "x-gzip": zlib.gunzip,
  deflate: zlib.inflate,
  br: zlib.brotliDecompress
}

const abortError = (signal: AbortSignal): unknown =>
  signal.reason instanceof Error && signal.reason.name === "AbortError"
    ? signal.reason
    : new DOMException("This operation was aborted", "AbortError")

const bodyOf = (body: RequestInit["body"]): string | Uint8Array | undefined => {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string" || body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  throw new TypeError("Capstan's HTTP transport sends string or byte bodies only")
}

/**
 * `fetch` over `node:http(s)`: string URLs (as the SDKs give) or URL objects, string or byte bodies, an abort
 * signal that aborts the socket, and gzip/deflate/br answers decoded.
 */
export const nodeFetch: Fetch = (input, init = {}) =>
  new Promise<Response>((resolve, reject) => {
    const url = typeof input === "string" ? new URL(input) : input instanceof URL ? input : new URL(input.url)
    const agent = agents[url.protocol as keyof typeof agents]
    if (agent === undefined) {
      reject(new TypeError(`Capstan's HTTP transport cannot fetch ${url.protocol} URLs`))
      return
    }
    const signal = init.signal ?? undefined
    if (signal?.aborted === true) {
      reject(abortError(signal))
      return
    }
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: init.method ?? "GET",
      headers: headerRecord(init.headers),
      agent,
      ...(signal === undefined ? {} : { signal })
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", fail)
      response.on("end", () => {
        const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
        const status = response.statusCode ?? 0
        const headers = new Headers()
        const names = response.rawHeaders
        for (let i = 0; i < names.length; i += 2) headers.append(names[i]!, names[i + 1]!)
        const answer = (body: Buffer) =>
          resolve(
            new Response(bodyless.has(status) ? null : body, {
              status,
              statusText: response.statusMessage ?? "",
              headers
            })
          )
        const decode = decoders[(response.headers["content-encoding"] ?? "").trim().toLowerCase()]
        if (decode === undefined || raw.length === 0) return answer(raw)
        decode(raw, (error, decoded) => (error === null ? answer(decoded) : fail(error)))
      })
    })
    function fail(error: unknown): void {
      reject(signal?.aborted === true ? abortError(signal) : error)
    }
    request.on("error", fail)
    try {
      request.end(bodyOf(init.body))
    } catch (error) {
      request.destroy()
      fail(error)
    }
  })

const proxied = (): boolean => {
  const env = process.env
  return ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NODE_USE_ENV_PROXY"].some((name) =>
    (env[name] ?? "") !== ""
  )
}

/** The transport for a new SDK client: `nodeFetch`, or the global `fetch` when a proxy is configured. */
export const defaultFetch = (): Fetch => (proxied() ? globalThis.fetch : nodeFetch)
