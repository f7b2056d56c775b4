/**
 * The CLI exports its traces and metrics over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set: to a loopback server
 * standing in for a collector, flushed when the command ends.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { capstan } from "./inProcess.js"

interface Received {
  readonly path: string
  readonly body: string
}

/** A loopback OTLP/HTTP collector that keeps what it receives. */
const collector = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly received: Array<Received>; readonly server: http.Server }>(
    (resume) => {
      const received: Array<Received> = []
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({ path: request.url ?? "", body: Buffer.concat(chunks).toString("utf8") })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, server }))
      })
    }
  ),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("capstan exports telemetry over OTLP", () => {
  it.live("with OTEL_EXPORTER_OTLP_ENDPOINT set, a run's request span and GenAI metrics reach the collector", () =>
    Effect.gen(function*() {
      const { received, url } = yield* collector
      const result = yield* capstan(["run", "Hello", "--generator", "mock!echo"], {
        OTEL_EXPORTER_OTLP_ENDPOINT: url,
        OTEL_SERVICE_NAME: "capstan-test"
      })
      expect(result.code).toBe(0)
      const traces = received.filter((r) => r.path === "/v1/traces").map((r) => r.body).join("\n")
      const metrics = received.filter((r) => r.path === "/v1/metrics").map((r) => r.body).join("\n")
      expect(traces).toContain("\"chat echo\"")
      expect(traces).toContain("gen_ai.usage.input_tokens")
      expect(traces).toContain("capstan-test")
      expect(metrics).toContain("gen_ai.client.token.usage")
      expect(metrics).toContain("gen_ai.client.operation.duration")
    }).pipe(Effect.scoped))

  it.live("without it nothing is sent; a malformed endpoint is a usage error", () =>
    Effect.gen(function*() {
      const { received } = yield* collector
      const plain = yield* capstan(["run", "Hello", "--generator", "mock!echo"], {})
      expect(plain.code).toBe(0)
      expect(received).toEqual([])
      const bad = yield* capstan(["run", "Hello", "--generator", "mock!echo"], {
        OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318"
      })
      expect(bad.code).not.toBe(0)
      expect(bad.stderr).toContain("OTEL_EXPORTER_OTLP_ENDPOINT")
    }).pipe(Effect.scoped))
})
