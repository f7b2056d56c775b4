/**
 * An OpenTelemetry tracer whose spans stay in memory, installed as the Effect tracer through
 * `@effect/opentelemetry`, and a metric registry of the test's own: what the telemetry tests read back.
 */
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { Layer, Metric } from "effect"

export interface InMemoryTelemetry {
  readonly exporter: InMemorySpanExporter
  /** The Effect tracer over the in-memory exporter, and a fresh metric registry. */
  readonly layer: Layer.Layer<OtelTracer.OtelTracer>
  /** The finished spans whose name starts with `prefix`. */
  readonly spans: (prefix?: string) => ReadonlyArray<ReadableSpan>
}

export const make = (): InMemoryTelemetry => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const layer = Layer.merge(
    OtelTracer.layer.pipe(Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider))),
    Layer.succeed(Metric.MetricRegistry, new Map())
  )
  return {
    exporter,
    layer,
    spans: (prefix = "") => exporter.getFinishedSpans().filter((span) => span.name.startsWith(prefix))
  }
}
