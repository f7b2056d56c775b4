/**
 * Telemetry with `@effect/opentelemetry`: a small batch of reviews runs with an OpenTelemetry tracer and metric
 * reader installed (in memory here; use an OTLP exporter in production). Every request is a client span named
 * `chat <model>` with the GenAI attributes (request params, response, usage) and Capstan's own (item id, choice,
 * attempts), under the batch's span; `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` reach the
 * metric reader. Message content is not recorded unless `Telemetry.CaptureContent` is on.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/telemetry-opentelemetry.ts`
 */
import { Batch, Dataset, Generator, Telemetry, Template } from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import * as Resource from "@effect/opentelemetry/Resource"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Layer } from "effect"
import { runMain } from "./run.js"

export const reviews = [
  { id: "r1", review: "Rich and smooth, would buy again." },
  { id: "r2", review: "Burnt and bitter." }
]

/** Where the spans and metrics go: in memory, to print them; an OTLP exporter in production. */
export const spans = new InMemorySpanExporter()
export const metricReader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
  exportIntervalMillis: 60_000
})

/** `@effect/opentelemetry`'s tracer and metrics over those, for the service `coffee-reviews`. */
export const telemetry = Layer.mergeAll(
  OtelTracer.layer.pipe(
    Layer.provide(Layer.succeed(
      OtelTracer.OtelTracerProvider,
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
    ))
  ),
  OtelMetrics.layer(() => metricReader)
).pipe(Layer.provide(Resource.layer({ serviceName: "coffee-reviews" })))

// The engine records the spans: a mock is put under it as `Generator.layer` does with a real generator.
export const mock = MockGenerator.fixed("positive", { identifier: "mock!reviewer" }).pipe(Generator.withEngine())

export const program: Effect.Effect<
  { readonly spanNames: ReadonlyArray<string>; readonly metricNames: ReadonlyArray<string> },
  unknown,
  Generator.Generator
> = Effect.gen(function*() {
  const items = yield* Dataset.validate(Template.make("Is this review positive? {review}"), reviews)
  yield* Batch.run(items, { params: { temperature: 0 } })
  const finished = spans.getFinishedSpans()
  for (const span of finished.filter((s) => s.name.startsWith("chat "))) {
    const a = span.attributes
    const show = (key: string) => JSON.stringify(a[key])
    yield* Console.log(
      `${span.name}: item ${show(Telemetry.Attribute.itemId)}, ` +
        `${show(Telemetry.Attribute.usageInputTokens)} in / ${show(Telemetry.Attribute.usageOutputTokens)} out, ` +
        `finish ${show(Telemetry.Attribute.responseFinishReasons)}, ` +
        `content recorded: ${a[Telemetry.Attribute.inputMessages] !== undefined}`
    )
  }
  const { resourceMetrics } = yield* Effect.promise(() => metricReader.collect())
  const metricNames = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => m.descriptor.name))
  const genAi = metricNames.filter((name) => name.startsWith("gen_ai."))
  yield* Console.log(`GenAI metrics: ${genAi.join(", ")}`)
  return { spanNames: finished.map((s) => s.name), metricNames }
}).pipe(Effect.provide(telemetry))

runMain(import.meta, program, mock)
