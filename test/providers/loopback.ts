/**
 * Loopback HTTP helpers for the transport tests: a server that counts its connections, a body-reading handler,
 * and a spy on the global fetch (to see which requests the transport hands to it).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A loopback server for one test: `handle` answers, `connections` counts TCP connections, `closed` ended ones. */
export const serve = async (handle: http.RequestListener) => {
  const server = http.createServer(handle)
  let connections = 0
  let closed = 0
  server.on("connection", (socket) => {
    connections++
    socket.on("close", () => closed++)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    connections: () => connections,
    closed: () => closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** Reads a request's body, then answers with `answer(request, body, response)`. */
export const withBody =
  (answer: (request: http.IncomingMessage, body: string, response: http.ServerResponse) => void) =>
  (request: http.IncomingMessage, response: http.ServerResponse) => {
    let body = ""
    request.on("data", (chunk) => (body += chunk))
    request.on("end", () => answer(request, body, response))
  }

/** Replaces the global fetch with one that records the URLs it is asked for and passes them on. */
export const spyGlobalFetch = () => {
  const original = globalThis.fetch
  const calls: Array<string> = []
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    calls.push(input instanceof Request ? input.url : String(input))
    return original(input, init)
  }
  return { calls, restore: () => void (globalThis.fetch = original) }
}
