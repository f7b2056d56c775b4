import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { TestConsole } from "effect/testing"
import * as TelemetryExample from "../../examples/telemetry-opentelemetry.js"

describe("telemetry example", () => {
  it.live("a span per request under the batch's, item ids on them, the GenAI metrics at the reader", () =>
    Effect.gen(function*() {
      const { metricNames, spanNames } = yield* TelemetryExample.program
      expect(spanNames.filter((name) => name === "chat reviewer").length).toBe(2)
      expect(spanNames).toContain("capstan.batch.run")
      expect(metricNames).toEqual(
        expect.arrayContaining(["gen_ai.client.token.usage", "gen_ai.client.operation.duration"])
      )
      const lines = (yield* TestConsole.logLines).map(String)
      expect(lines.filter((line) => line.startsWith("chat reviewer: item \"r")).length).toBe(2)
      expect(lines.every((line) => !line.includes("content recorded: true"))).toBe(true)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(TelemetryExample.mock, TestConsole.layer, Layer.succeed(Metric.MetricRegistry, new Map()))
      )
    ))
})
