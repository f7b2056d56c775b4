import { HttpTransport } from "@capstan/providers"
import { assert, describe, it } from "@effect/vitest"
import type * as http from "node:http"
import { gzipSync } from "node:zlib"
import OpenAISdk from "openai"
import { type Fetch, type Limits, make } from "../../packages/providers/src/internal/transport.js"
import { serve, spyGlobalFetch, withBody } from "./loopback.js"

/**
 * Runs `f` with a fresh transport (default limits unless overridden) and closes it after. The environment is
 * `env`, never the process's: a proxy set on the machine running the tests must not change them.
 */
const withTransport = async <A>(
  f: (fetch: Fetch) => Promise<A>,
  options: { readonly limits?: Partial<Limits>; readonly env?: NodeJS.ProcessEnv } = {}
): Promise<A> => {
  const transport = make({ ...HttpTransport.defaults, ...options.limits }, options.env ?? {})
  try {
    return await f(transport.fetch)
  } finally {
    transport.close()
  }
}

const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (e: unknown) => e)

describe("the node:http transport", () => {
  it("sends method, headers and body, and answers with status, headers and a gzip body decoded", async () => {
    const server = await serve(withBody((request, body, response) => {
      response.writeHead(201, "Made", {
        "content-encoding": "gzip",
        "content-type": "application/json",
        "x-ratelimit-remaining-requests": "41"
      })
      response.end(gzipSync(JSON.stringify({ method: request.method, auth: request.headers.authorization, body })))
    }))
    try {
      const response = await withTransport((fetch) =>
        fetch(`${server.url}/v1/chat`, {
          method: "POST",
          headers: new Headers({ authorization: "Bearer k", "content-type": "application/json" }),
          body: "{\"a\":1}"
        })
      )
      assert.strictEqual(response.status, 201)
      assert.strictEqual(response.statusText, "Made")
      assert.isFalse(response.redirected)
      assert.strictEqual(response.headers.get("x-ratelimit-remaining-requests"), "41")
      assert.deepStrictEqual(await response.json(), { method: "POST", auth: "Bearer k", body: "{\"a\":1}" })
    } finally {
      await server.close()
    }
  })

  it("answers with the Response interface: headers as Headers reads them, a body read once", async () => {
    const server = await serve((_, response) => {
      response.setHeader("X-Trace", ["a", "b"])
      response.setHeader("Set-Cookie", ["s=1", "t=2"])
      response.setHeader("Content-Type", "text/plain")
      response.end("hello")
    })
    try {
      const response = await withTransport((fetch) => fetch(`${server.url}/x`))
      assert.isTrue(response.ok)
      assert.strictEqual(response.url, `${server.url}/x`)
      assert.strictEqual(response.headers.get("x-trace"), "a, b")
      assert.strictEqual(response.headers.get("CONTENT-TYPE"), "text/plain")
      assert.isNull(response.headers.get("x-absent"))
      assert.deepStrictEqual(response.headers.getSetCookie(), ["s=1", "t=2"])
      const names = [...response.headers.entries()].map(([name]) => name)
      assert.deepStrictEqual(names, [...names].sort())
      assert.isTrue(names.includes("x-trace"))
      // Looking at the stream (as one SDK does) leaves the body unread.
      assert.isFalse(response.body?.locked)
      assert.isFalse(response.bodyUsed)
      assert.strictEqual(await response.clone().text(), "hello")
      assert.strictEqual(await response.text(), "hello")
      assert.isTrue(response.bodyUsed)
      const again = await response.text().then(() => "read twice", (e: unknown) => String(e))
      assert.match(again, /already been read/)
    } finally {
      await server.close()
    }
  })

  it("its body can be read as a stream instead", async () => {
    const server = await serve((_, response) => response.end("streamed"))
    try {
      const response = await withTransport((fetch) => fetch(`${server.url}/`))
      assert.strictEqual(await new Response(response.body).text(), "streamed")
      assert.isTrue(response.bodyUsed)
    } finally {
      await server.close()
    }
  })

  it("keeps connections alive between requests", async () => {
    const server = await serve((_, response) => response.end("ok"))
    try {
      await withTransport(async (fetch) => {
        for (let i = 0; i < 3; i++) assert.strictEqual(await (await fetch(`${server.url}/`)).text(), "ok")
      })
      assert.strictEqual(server.connections(), 1)
    } finally {
      await server.close()
    }
  })

  it("answers a 204 with a null body instead of throwing", async () => {
    const server = await serve((_, response) => {
      response.writeHead(204)
      response.end()
    })
    try {
      const response = await withTransport((fetch) => fetch(`${server.url}/`))
      assert.strictEqual(response.status, 204)
      assert.strictEqual(response.body, null)
    } finally {
      await server.close()
    }
  })

  it("an abort rejects with an AbortError and closes the hung connection", async () => {
    let closed = false
    const server = await serve((request) => request.socket.on("close", () => (closed = true)))
    try {
      const error = await withTransport((fetch) => {
        const controller = new AbortController()
        const pending = fetch(`${server.url}/`, { signal: controller.signal })
        setTimeout(() => controller.abort(), 20)
        return rejection(pending)
      })
      assert.strictEqual((error as Error | undefined)?.name, "AbortError")
      // The server sees the socket close soon after; a busy machine may take a while.
      for (let waited = 0; !closed && waited < 2000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.isTrue(closed)
    } finally {
      await server.close()
    }
  })

  it("an already aborted signal sends nothing", async () => {
    const server = await serve((_, response) => response.end("ok"))
    try {
      const controller = new AbortController()
      controller.abort()
      const error = await withTransport((fetch) => rejection(fetch(`${server.url}/`, { signal: controller.signal })))
      assert.strictEqual((error as Error | undefined)?.name, "AbortError")
      assert.strictEqual(server.connections(), 0)
    } finally {
      await server.close()
    }
  })

  it("a connection dropped after the headers rejects the request itself", async () => {
    const server = await serve((request, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "100" })
      response.write("{\"partial\":")
      setTimeout(() => request.socket.destroy(), 10)
    })
    try {
      const error = await withTransport((fetch) => rejection(fetch(`${server.url}/`)))
      assert.instanceOf(error, Error)
    } finally {
      await server.close()
    }
  })

  it("hands URLs it does not fetch itself (not http or https) to the global fetch", async () => {
    const response = await withTransport((fetch) => fetch("data:text/plain,hello"))
    assert.strictEqual(await response.text(), "hello")
  })

  it("after close, destroys its connections and refuses to send", async () => {
    const server = await serve((_, response) => response.end("ok"))
    try {
      const transport = make(HttpTransport.defaults, {})
      assert.strictEqual(await (await transport.fetch(`${server.url}/`)).text(), "ok")
      assert.strictEqual(server.closed(), 0) // kept alive
      transport.close()
      for (let waited = 0; server.closed() === 0 && waited < 2000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.strictEqual(server.closed(), 1)
      const error = await rejection(transport.fetch(`${server.url}/`))
      assert.match(String(error), /transport was closed with the scope that made it/)
      assert.strictEqual(server.connections(), 1)
    } finally {
      await server.close()
    }
  })
})

describe("limits of an answer read whole", () => {
  it("refuses a body whose content-length is over maxBodyBytes, before reading it", async () => {
    // Announces 2048 bytes, sends one and holds the rest: only the announcement can refuse it.
    const server = await serve((_, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": String(2048) })
      response.write("x")
    })
    try {
      const error = await withTransport((fetch) =>
        Promise.race([
          rejection(fetch(`${server.url}/big`)),
          new Promise((resolve) => setTimeout(() => resolve("still reading"), 3000))
        ]), { limits: { maxBodyBytes: 1024 } })
      assert.strictEqual((error as Error).name, "TransportRefusal")
      assert.match(
        String(error),
        /answer from http:\/\/127\.0\.0\.1:\d+\/big was refused: its body is larger than 1024 bytes/
      )
      assert.match(String(error), /maxBodyBytes/)
    } finally {
      await server.close()
    }
  })

  it("refuses a chunked body once more than maxBodyBytes have arrived", async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { "content-type": "application/json" })
      for (let i = 0; i < 8; i++) response.write("y".repeat(256))
      response.end()
    })
    try {
      const error = await withTransport((fetch) => rejection(fetch(`${server.url}/`)), {
        limits: { maxBodyBytes: 1024 }
      })
      assert.match(String(error), /its body is larger than 1024 bytes/)
      // Within the limit, the same answer is read.
      const text = await withTransport(async (fetch) => (await fetch(`${server.url}/`)).text(), {
        limits: { maxBodyBytes: 2048 }
      })
      assert.strictEqual(text.length, 2048)
    } finally {
      await server.close()
    }
  })

  it("refuses a compressed body that inflates beyond maxDecodedBytes", async () => {
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20)) // 4 MiB of spaces, a few KiB on the wire
    const server = await serve((_, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
      response.end(bomb)
    })
    try {
      assert.isBelow(bomb.length, 64 * 1024)
      const error = await withTransport((fetch) => rejection(fetch(`${server.url}/`)), {
        limits: { maxDecodedBytes: 1024 * 1024 }
      })
      assert.match(String(error), /its decompressed body is larger than 1 MiB.*maxDecodedBytes/)
      const size = await withTransport(
        async (fetch) => (await (await fetch(`${server.url}/`)).arrayBuffer()).byteLength,
        {
          limits: { maxDecodedBytes: 8 * 1024 * 1024 }
        }
      )
      assert.strictEqual(size, 4 * 1024 * 1024)
    } finally {
      await server.close()
    }
  })

  it("bounds a streamed answer read whole (text()), not one read as a stream", async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { "content-type": "application/octet-stream" })
      for (let i = 0; i < 8; i++) response.write(Buffer.alloc(256, 0x61))
      response.end()
    })
    try {
      const error = await withTransport(async (fetch) => rejection((await fetch(`${server.url}/file`)).text()), {
        limits: { maxBodyBytes: 1024 }
      })
      assert.match(String(error), /larger than 1024 bytes/)
      const streamed = await withTransport(async (fetch) => {
        let size = 0
        for await (const chunk of (await fetch(`${server.url}/file`)).body!) size += chunk.byteLength
        return size
      }, { limits: { maxBodyBytes: 1024 } })
      assert.strictEqual(streamed, 2048)
    } finally {
      await server.close()
    }
  })

  it("rejects bad limits when the transport is declared", () => {
    assert.throws(() => HttpTransport.make({ maxBodyBytes: 0 }), /maxBodyBytes must be an integer from 1/)
    assert.throws(() => HttpTransport.make({ maxRedirects: 1.5 }), /maxRedirects must be an integer from 0/)
  })
})

describe("redirects", () => {
  it("follows a 307 and a 308 to the same origin with the same method, headers and body", async () => {
    const seen: Array<string> = []
    const server = await serve(withBody((request, body, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.authorization} ${body}`)
      if (request.url === "/old") return void response.writeHead(307, { location: "/older" }).end()
      if (request.url === "/older") return void response.writeHead(308, { location: `/v1/new` }).end()
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }))
    }))
    try {
      const response = await withTransport((fetch) =>
        fetch(`${server.url}/old`, { method: "POST", headers: { authorization: "Bearer k" }, body: "{\"q\":1}" })
      )
      assert.deepStrictEqual(await response.json(), { ok: true })
      assert.isTrue(response.redirected)
      assert.strictEqual(response.url, `${server.url}/v1/new`)
      assert.deepStrictEqual(seen, [
        "POST /old Bearer k {\"q\":1}",
        "POST /older Bearer k {\"q\":1}",
        "POST /v1/new Bearer k {\"q\":1}"
      ])
    } finally {
      await server.close()
    }
  })

  it("refuses a 301/302/303 for a POST (it would become a GET without its body), follows one for a GET", async () => {
    const server = await serve((request, response) => {
      if (request.url === "/moved") return void response.writeHead(301, { location: "/v1/here" }).end()
      response.end(`${request.method} ${request.url}`)
    })
    try {
      const error = await withTransport((fetch) =>
        rejection(fetch(`${server.url}/moved`, { method: "POST", body: "{}" }))
      )
      assert.strictEqual((error as Error).name, "TransportRefusal")
      assert.match(
        String(error),
        /\/moved answered 301, redirecting to http:\/\/127\.0\.0\.1:\d+\/v1\/here, which Capstan does not follow: a 301 would turn the POST into a GET.*Set base_url/
      )
      const text = await withTransport(async (fetch) => (await fetch(`${server.url}/moved`)).text())
      assert.strictEqual(text, "GET /v1/here")
    } finally {
      await server.close()
    }
  })

  it("refuses a redirect to another origin, which never sees the request or its key", async () => {
    const elsewhere = await serve((_, response) => response.end("leaked"))
    const server = await serve((_, response) =>
      void response.writeHead(307, { location: `${elsewhere.url}/v1/x?token=t` }).end()
    )
    try {
      const error = await withTransport((fetch) =>
        rejection(fetch(`${server.url}/v1/chat`, { method: "POST", headers: { "x-api-key": "secret" }, body: "{}" }))
      )
      assert.match(String(error), /leads to another origin, and the request carries the API key/)
      assert.notInclude(String(error), "token=t") // a query may hold a credential
      assert.strictEqual(elsewhere.connections(), 0)
    } finally {
      await server.close()
      await elsewhere.close()
    }
  })

  it("refuses a redirect loop after maxRedirects", async () => {
    let requests = 0
    const server = await serve((_, response) => {
      requests++
      response.writeHead(307, { location: "/loop" }).end()
    })
    try {
      const error = await withTransport(
        (fetch) => rejection(fetch(`${server.url}/loop`, { method: "POST", body: "{}" })),
        {
          limits: { maxRedirects: 3 }
        }
      )
      assert.match(String(error), /one more than the 3 redirects followed in a row/)
      assert.strictEqual(requests, 4)
    } finally {
      await server.close()
    }
  })
})

describe("what goes to the global fetch instead", () => {
  const echoing = () =>
    serve(withBody((request, body, response) => {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ type: request.headers["content-type"] ?? null, body }))
    }))

  it("a proxy in the environment, unless NO_PROXY exempts the host", async () => {
    const server = await echoing()
    const spy = spyGlobalFetch()
    try {
      const via = async (env: NodeJS.ProcessEnv) => {
        const before = spy.calls.length
        const response = await withTransport(
          (fetch) => fetch(`${server.url}/v1/chat`, { method: "POST", body: "{}" }),
          { env }
        )
        assert.strictEqual(response.status, 200)
        return spy.calls.length > before ? "global fetch" : "node:http"
      }
      assert.strictEqual(await via({}), "node:http")
      assert.strictEqual(await via({ HTTPS_PROXY: "http://proxy.internal:3128" }), "global fetch")
      assert.strictEqual(await via({ http_proxy: "http://proxy.internal:3128" }), "global fetch")
      assert.strictEqual(
        await via({ HTTP_PROXY: "http://proxy.internal:3128", NO_PROXY: "localhost,127.0.0.1" }),
        "node:http"
      )
      assert.strictEqual(await via({ HTTP_PROXY: "http://proxy.internal:3128", no_proxy: "*" }), "node:http")
      assert.strictEqual(
        await via({ HTTP_PROXY: "http://proxy.internal:3128", NO_PROXY: "example.com" }),
        "global fetch"
      )
      const port = new URL(server.url).port
      assert.strictEqual(await via({ HTTP_PROXY: "http://p:1", NO_PROXY: `127.0.0.1:${port}` }), "node:http")
      assert.strictEqual(await via({ HTTP_PROXY: "http://p:1", NO_PROXY: "127.0.0.1:1" }), "global fetch")
    } finally {
      spy.restore()
      await server.close()
    }
  })

  it("a global undici dispatcher the user set (setGlobalDispatcher); Node's own default is not one", async () => {
    const server = await echoing()
    const key = Symbol.for("undici.globalDispatcher.1")
    const globals = globalThis as unknown as Record<symbol, unknown>
    void new Response("") // makes Node install its default dispatcher, if nothing did yet
    interface Dispatcher {
      dispatch(options: unknown, handler: unknown): boolean
    }
    const nodeDefault = globals[key] as Dispatcher & { constructor: new(options?: object) => Dispatcher }
    const Agent = nodeDefault.constructor
    const dispatched: Array<string> = []
    class RecordingAgent extends Agent {
      override dispatch(options: unknown, handler: unknown): boolean {
        dispatched.push(String((options as { path: string }).path))
        return nodeDefault.dispatch(options, handler)
      }
    }
    const spy = spyGlobalFetch()
    try {
      const post = () => withTransport((fetch) => fetch(`${server.url}/v1/chat`, { method: "POST", body: "{}" }))
      assert.strictEqual((await post()).status, 200)
      assert.deepStrictEqual(spy.calls, [])
      globals[key] = new RecordingAgent() // what setGlobalDispatcher does
      assert.strictEqual((await post()).status, 200)
      assert.strictEqual(spy.calls.length, 1)
      assert.deepStrictEqual(dispatched, ["/v1/chat"])
    } finally {
      globals[key] = nodeDefault
      spy.restore()
      await server.close()
    }
  })

  it("multipart, blob, form and stream bodies, which the global fetch encodes", async () => {
    const server = await echoing()
    const spy = spyGlobalFetch()
    try {
      await withTransport(async (fetch) => {
        const form = new FormData()
        form.append("purpose", "batch")
        form.append("file", new Blob(["{\"custom_id\":\"1\"}\n"], { type: "application/jsonl" }), "batch.jsonl")
        const multipart = await (await fetch(`${server.url}/v1/files`, { method: "POST", body: form })).json() as {
          type: string
          body: string
        }
        assert.match(multipart.type, /^multipart\/form-data; boundary=/)
        assert.include(multipart.body, "name=\"purpose\"\r\n\r\nbatch")
        assert.include(multipart.body, "filename=\"batch.jsonl\"")

        const blob = await (await fetch(`${server.url}/b`, { method: "POST", body: new Blob(["bytes"]) })).json()
        assert.deepStrictEqual(blob, { type: null, body: "bytes" })

        const params = await (await fetch(`${server.url}/p`, { method: "POST", body: new URLSearchParams({ a: "1" }) }))
          .json()
        assert.deepStrictEqual(params, { type: "application/x-www-form-urlencoded;charset=UTF-8", body: "a=1" })

        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("streamed "))
            controller.enqueue(new TextEncoder().encode("body"))
            controller.close()
          }
        })
        const streamed = await (await fetch(`${server.url}/s`, { method: "POST", body: stream, duplex: "half" }))
          .json()
        assert.deepStrictEqual(streamed, { type: null, body: "streamed body" })
      })
      assert.strictEqual(spy.calls.length, 4)
    } finally {
      spy.restore()
      await server.close()
    }
  })
})

describe("streamed answers", () => {
  /** A server that sends one event, then holds the answer open until `release()`. */
  const holding = async (headers: http.OutgoingHttpHeaders, first: string, rest: string) => {
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    const server = await serve((_, response) => {
      response.writeHead(200, headers)
      response.write(first)
      void released.then(() => response.end(rest))
    })
    return { server, release }
  }

  it("hands on a text/event-stream answer as it arrives, not once it ends", async () => {
    const { release, server } = await holding({ "content-type": "text/event-stream" }, "data: one\n\n", "data: two\n\n")
    try {
      await withTransport(async (fetch) => {
        const pending = fetch(`${server.url}/events`)
        const first = await Promise.race([
          pending,
          new Promise((resolve) => setTimeout(() => resolve("buffered"), 3000))
        ])
        assert.notStrictEqual(first, "buffered", "the answer waited for the end of the stream")
        const reader = (first as Response).body!.getReader()
        const chunk = await reader.read()
        assert.strictEqual(new TextDecoder().decode(chunk.value), "data: one\n\n")
        release()
        let rest = ""
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          rest += new TextDecoder().decode(read.value)
        }
        assert.strictEqual(rest, "data: two\n\n")
      })
    } finally {
      release()
      await server.close()
    }
  })

  it("streams through the OpenAI SDK's stream: true, chunk by chunk", async () => {
    const chunk = (content: string, finish: string | null = null) =>
      `data: ${
        JSON.stringify({
          id: "c1",
          object: "chat.completion.chunk",
          created: 0,
          model: "m",
          choices: [{ index: 0, delta: { content }, finish_reason: finish }]
        })
      }\n\n`
    const { release, server } = await holding(
      { "content-type": "text/event-stream" },
      chunk("Hel"),
      chunk("lo", "stop") + "data: [DONE]\n\n"
    )
    try {
      let heldTooLong = false
      const timer = setTimeout(() => {
        heldTooLong = true
        release()
      }, 3000)
      await withTransport(async (fetch) => {
        const client = new OpenAISdk({ apiKey: "sk-test", baseURL: `${server.url}/v1`, maxRetries: 0, fetch })
        const stream = await client.chat.completions.create({
          model: "m",
          messages: [{ role: "user", content: "hi" }],
          stream: true
        })
        const deltas: Array<string> = []
        for await (const event of stream) {
          deltas.push(event.choices[0]?.delta.content ?? "")
          if (deltas.length === 1) release() // the first delta arrived while the server still held the answer
        }
        assert.deepStrictEqual(deltas, ["Hel", "lo"])
      })
      clearTimeout(timer)
      assert.isFalse(heldTooLong, "the first delta waited for the end of the stream")
    } finally {
      release()
      await server.close()
    }
  })

  it("decodes a compressed event stream as it arrives", async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { "content-type": "text/event-stream", "content-encoding": "gzip" })
      response.end(gzipSync("data: zipped\n\n"))
    })
    try {
      const text = await withTransport(async (fetch) => new Response((await fetch(`${server.url}/`)).body).text())
      assert.strictEqual(text, "data: zipped\n\n")
    } finally {
      await server.close()
    }
  })
})
