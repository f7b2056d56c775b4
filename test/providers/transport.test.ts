import { assert, describe, it } from "@effect/vitest"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { gzipSync } from "node:zlib"
import { Identifier } from "@capstan/core"
import { Anthropic, OpenAI } from "@capstan/providers"
import { Effect, Redacted } from "effect"
import { defaultFetch, nodeFetch } from "../../packages/providers/src/internal/transport.js"
import { FakeProvider } from "../support/FakeProvider.js"
import { chatRequest } from "./harness.js"

/** A loopback server for one test: `handle` answers, `connections` counts TCP connections. */
const serve = async (handle: http.RequestListener) => {
  const server = http.createServer(handle)
  let connections = 0
  server.on("connection", () => connections++)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

describe("the node:http transport", () => {
  it("sends method, headers and body, and answers with status, headers and a gzip body decoded", async () => {
    const server = await serve((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        response.writeHead(201, "Made", {
          "content-encoding": "gzip",
          "content-type": "application/json",
          "x-ratelimit-remaining-requests": "41"
        })
        response.end(gzipSync(JSON.stringify({ method: request.method, auth: request.headers.authorization, body })))
      })
    })
    try {
      const response = await nodeFetch(`${server.url}/v1/chat`, {
        method: "POST",
        headers: new Headers({ authorization: "Bearer k", "content-type": "application/json" }),
        body: "{\"a\":1}"
      })
      assert.strictEqual(response.status, 201)
      assert.strictEqual(response.statusText, "Made")
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
      const response = await nodeFetch(`${server.url}/x`)
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
      const response = await nodeFetch(`${server.url}/`)
      assert.strictEqual(await new Response(response.body).text(), "streamed")
      assert.isTrue(response.bodyUsed)
    } finally {
      await server.close()
    }
  })

  it("keeps connections alive between requests", async () => {
    const server = await serve((_, response) => response.end("ok"))
    try {
      for (let i = 0; i < 3; i++) assert.strictEqual(await (await nodeFetch(`${server.url}/`)).text(), "ok")
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
      const response = await nodeFetch(`${server.url}/`)
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
      const controller = new AbortController()
      const pending = nodeFetch(`${server.url}/`, { signal: controller.signal })
      setTimeout(() => controller.abort(), 20)
      const error = await pending.then(() => undefined, (e: unknown) => e)
      assert.strictEqual((error as Error | undefined)?.name, "AbortError")
      // The server sees the socket close soon after; a busy machine may take a while.
      for (let waited = 0; !closed && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
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
      const error = await nodeFetch(`${server.url}/`, { signal: controller.signal }).then(() => undefined, (e) => e)
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
      const error = await nodeFetch(`${server.url}/`).then(() => undefined, (e: unknown) => e)
      assert.instanceOf(error, Error)
    } finally {
      await server.close()
    }
  })

  it("refuses URLs it cannot fetch with a clear error", async () => {
    const error = await nodeFetch("ftp://example.com/").then(() => undefined, (e: unknown) => e)
    assert.match(String(error), /cannot fetch ftp: URLs/)
  })

  it("gives way to the global fetch when a proxy is configured in the environment", () => {
    const saved = process.env["HTTPS_PROXY"]
    try {
      delete process.env["HTTPS_PROXY"]
      assert.strictEqual(defaultFetch(), nodeFetch)
      process.env["HTTPS_PROXY"] = "http://proxy.internal:3128"
      assert.strictEqual(defaultFetch(), globalThis.fetch)
    } finally {
      if (saved === undefined) delete process.env["HTTPS_PROXY"]
      else process.env["HTTPS_PROXY"] = saved
    }
  })
})

describe("a provider's fetch option", () => {
  it.live("sends every request of the OpenAI and Anthropic generators through the fetch it is given", () =>
    Effect.gen(function*() {
      const server = yield* FakeProvider.scoped()
      const urls: Array<string> = []
      const recording: typeof nodeFetch = (input, init) => {
        urls.push(String(input))
        return globalThis.fetch(input, init)
      }
      const apiKey = Redacted.make("sk-test-0123456789")
      const openai = OpenAI.makeGenerator(Identifier.make({ provider: "openai", model: "gpt-4o-mini" }), {
        apiKey,
        baseURL: server.openaiBaseUrl,
        fetch: recording
      })
      const anthropic = Anthropic.makeGenerator(Identifier.make({ provider: "anthropic", model: "claude-x" }), {
        apiKey,
        baseURL: server.anthropicBaseUrl,
        fetch: recording
      })
      const a = yield* openai.generate(chatRequest("one"))
      const b = yield* anthropic.generate(chatRequest("two"))
      assert.strictEqual(a.choices[0]?.text, "echo: one")
      assert.strictEqual(b.choices[0]?.text, "echo: two")
      assert.deepStrictEqual(urls.map((url) => new URL(url).pathname), ["/v1/chat/completions", "/v1/messages"])
      assert.strictEqual(server.requests.length, 2)
    }))
})
