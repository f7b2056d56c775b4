/**
 * The answers Capstan's HTTP transport gives the SDKs: the `Response` interface (what the SDKs read of it) over an
 * answer read whole ({@link BufferedResponse}) or over a body still arriving ({@link StreamedResponse}), with
 * Node's parsed headers behind the `Headers` interface ({@link BufferedHeaders}).
 *
 * Why not undici's `Response` and `Headers`: the SDKs read the status, a few headers and call `text()` once;
 * building the WHATWG classes for that cost more than the rest of reading the answer (see bench/README.md).
 *
 * @internal
 */
import type * as http from "node:http"
import { TransportRefusal } from "./refusal.js"

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

/** Where an answer came from: its final URL, status line and headers, and whether a redirect led there. */
export interface Head {
  readonly url: string
  readonly status: number
  readonly statusText: string
  readonly headers: BufferedHeaders
  readonly redirected: boolean
}

const unusable = () => new TypeError("Body is unusable: Body has already been read")

/**
 * The `Response` interface over an answer read whole. The body can be read once, as text, JSON, bytes or a
 * stream (made only when asked for), like a `Response`'s.
 */
export class BufferedResponse {
  readonly type = "basic"
  readonly url: string
  readonly status: number
  readonly statusText: string
  readonly headers: BufferedHeaders
  readonly redirected: boolean
  readonly ok: boolean
  #body: Buffer | null
  #used = false
  #stream: ReadableStream<Uint8Array> | null | undefined

  constructor(head: Head, body: Buffer | null) {
    this.url = head.url
    this.status = head.status
    this.statusText = head.statusText
    this.headers = head.headers
    this.redirected = head.redirected
    this.ok = head.status >= 200 && head.status < 300
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
    if (this.#used || (!byStream && this.#stream?.locked === true)) throw unusable()
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
    return new BufferedResponse(this, this.#body)
  }
}

/**
 * The `Response` interface over a body still arriving (server-sent events, a file download): `body` hands the
 * bytes on as they come, decoded. Reading it whole (`text()`, `json()`, ...) holds at most `maxBytes`, and fails
 * with a {@link TransportRefusal} beyond: what is read whole must fit in memory, what is streamed need not.
 */
export class StreamedResponse {
  readonly type = "basic"
  readonly url: string
  readonly status: number
  readonly statusText: string
  readonly headers: BufferedHeaders
  readonly redirected: boolean
  readonly ok: boolean
  #body: ReadableStream<Uint8Array>
  readonly #maxBytes: number

  constructor(head: Head, body: ReadableStream<Uint8Array>, maxBytes: number) {
    this.url = head.url
    this.status = head.status
    this.statusText = head.statusText
    this.headers = head.headers
    this.redirected = head.redirected
    this.ok = head.status >= 200 && head.status < 300
    this.#body = body
    this.#maxBytes = maxBytes
  }

  get body(): ReadableStream<Uint8Array> {
    return this.#body
  }

  get bodyUsed(): boolean {
    // What a `Response` calls "disturbed": some reader has started on the body.
    return this.#body.locked
  }

  async #all(): Promise<Buffer> {
    if (this.#body.locked) throw unusable()
    const reader = this.#body.getReader()
    const chunks: Array<Uint8Array> = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return Buffer.concat(chunks, size)
      size += value.byteLength
      if (size > this.#maxBytes) {
        const refusal = TransportRefusal.tooLarge(this.url, "decoded", this.#maxBytes)
        await reader.cancel(refusal)
        throw refusal
      }
      chunks.push(value)
    }
  }

  async text(): Promise<string> {
    return (await this.#all()).toString("utf8")
  }

  async json(): Promise<unknown> {
    return JSON.parse((await this.#all()).toString("utf8")) as unknown
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return new Uint8Array(await this.#all()).buffer
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.#all())
  }

  async blob(): Promise<Blob> {
    return new Blob([new Uint8Array(await this.#all())], { type: this.headers.get("content-type") ?? "" })
  }

  clone(): StreamedResponse {
    if (this.#body.locked) throw new TypeError("Response.clone: Body has already been consumed.")
    // As a `Response` does: each copy reads one branch of a tee of the bytes.
    const [mine, theirs] = this.#body.tee()
    this.#body = mine
    return new StreamedResponse(this, theirs, this.#maxBytes)
  }
}
