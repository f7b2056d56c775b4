/**
 * The HTTP transport handed to the SDKs as their `fetch`: one request over `node:http(s)` with keep-alive agents,
 * the answer read whole and handed back with the `Response` interface.
 *
 * Why not the global `fetch`: at a hundred requests in flight the SDK's own work is small next to undici's
 * WHATWG streams and per-request bookkeeping; this transport costs about a quarter less CPU per request and
 * leaves less garbage (see bench/README.md). Capstan never asks for streamed answers, so reading the body whole
 * loses nothing, and it puts a dropped connection mid-body on the request itself (a connection error the retry
 * layer handles), not on a later `.json()`.
 *
 * The answer is a {@link BufferedResponse}: the `Response` interface over the bytes already read and Node's
 * parsed headers. The SDKs read its status and headers and call `text()` once; building a WHATWG `Response`
 * and `Headers` for that cost more than the rest of reading the answer.
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

// Statuses whose answers have no body (a `Response` for them has a null one).
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

/**
 * The `Headers` interface (reading only) over Node's parsed response headers: names lower-cased, repeated
 * headers joined with `, ` (`set-cookie` kept apart), iteration sorted by name, as `Headers` does.
 */
export class BufferedHeaders {
  readonly #headers: http.IncomingHttpHeaders

  constructor(headers: http.IncomingHttpHeaders) {
    this.#headers = headers
  }

  get(name: string): string | null {
    const value = this.#headers[name.toLowerCase()]
    return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value
  }

  has(name: string): boolean {
    return this.#headers[name.toLowerCase()] !== undefined
  }

  getSetCookie(): Array<string> {
    return [...(this.#headers["set-cookie"] ?? [])]
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.#headers).sort()) yield [name, this.get(name)!]
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value
  }

  forEach(callback: (value: string, name: string, headers: BufferedHeaders) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }
}

/**
 * The `Response` interface over an answer read whole. The body can be read once, as text, JSON, bytes or a
 * stream (made only when asked for), like a `Response`'s.
 */
export class BufferedResponse {
  readonly type = "basic"
  readonly redirected = false
  readonly ok: boolean
  #body: Buffer | null
  #used = false
  #stream: ReadableStream<Uint8Array> | null | undefined

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: BufferedHeaders,
    body: Buffer | null
  ) {
    this.ok = status >= 200 && status < 300
    this.#body = body
  }

  get bodyUsed(): boolean {
    return this.#used
  }

  /** Made when first asked for (one SDK does, to watch it); the body is used once the stream is read. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream === undefined) {
      this.#stream = this.#body === null ? null : new ReadableStream<Uint8Array>({
        pull: (controller) => {
          controller.enqueue(new Uint8Array(this.#take(true)))
          controller.close()
        },
        cancel: () => {
          this.#used = true
          this.#body = null
        }
      }, { highWaterMark: 0 }) // pulled only when read: looking at the stream must not use the body
    }
    return this.#stream
  }

  #take(byStream = false): Buffer {
    if (this.#used || (!byStream && this.#stream?.locked === true)) throw new TypeError("Body is unusable: Body has already been read")
    this.#used = true
    const body = this.#body ?? Buffer.alloc(0)
    this.#body = null
    return body
  }

  #read<A>(read: (body: Buffer) => A): Promise<A> {
    try {
      return Promise.resolve(read(this.#take()))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  text(): Promise<string> {
    return this.#read((body) => body.toString("utf8"))
  }

  json(): Promise<unknown> {
    return this.#read((body) => JSON.parse(body.toString("utf8")) as unknown)
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read((body) => new Uint8Array(body).buffer)
  }

  bytes(): Promise<Uint8Array> {
    return this.#read((body) => new Uint8Array(body))
  }

  blob(): Promise<Blob> {
    return this.#read((body) => new Blob([new Uint8Array(body)], { type: this.headers.get("content-type") ?? "" }))
  }

  clone(): BufferedResponse {
    if (this.#used) throw new TypeError("Response.clone: Body has already been consumed.")
    return new BufferedResponse(this.url, this.status, this.statusText, this.headers, this.#body)
  }
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
        const answer = (body: Buffer) =>
          resolve(
            new BufferedResponse(
              url.href,
              status,
              response.statusMessage ?? "",
              new BufferedHeaders(response.headers),
              bodyless.has(status) ? null : body
            ) as unknown as Response // the interface the SDKs read, not undici's class (see the module doc)
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

// Read from the process environment, not Config: these are the variables Node and undici themselves obey.
const proxied = (): boolean => {
  const env = process.env
  return ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NODE_USE_ENV_PROXY"].some((name) =>
    (env[name] ?? "") !== ""
  )
}

/** The transport for a new SDK client: `nodeFetch`, or the global `fetch` when a proxy is configured. */
export const defaultFetch = (): Fetch => (proxied() ? globalThis.fetch : nodeFetch)
