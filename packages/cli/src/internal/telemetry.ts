/**
 * OTLP export of the command's traces and metrics, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and
 * `OTEL_SDK_DISABLED` is not `true`): effect's own OTLP exporter (JSON over HTTP, to `/v1/traces` and `/v1/metrics`
 * under the endpoint), service `OTEL_SERVICE_NAME` or `capstan`, headers from `OTEL_EXPORTER_OTLP_HEADERS`, flushed
 * when the command ends. The exporter and its HTTP client are loaded only then, so the usual start-up pays nothing.
 *
 * @internal
 */
import { Config, Effect, Layer, Option, Schema } from "effect"
import type * as OtlpExporter from "effect/observability/OtlpExporter"
import { UsageError } from "../Errors.js"

/** What the environment says about export: nothing, or where and as whom to send. */
interface Settings {
  readonly endpoint: string
  readonly serviceName: string
  readonly headers: Readonly<Record<string, string>> | undefined
}

const headerList = Config.Record(Schema.String, Schema.StringFromUriComponent, "OTEL_EXPORTER_OTLP_HEADERS")

const settings: Effect.Effect<Settings | undefined, UsageError> = Effect.gen(function*() {
  const endpoint = yield* Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
    Effect.map(Option.filter((value) => value.trim() !== "")),
    Effect.orElseSucceed(() => Option.none<string>())
  )
  if (Option.isNone(endpoint)) return undefined
  const disabled = yield* Config.Boolean("OTEL_SDK_DISABLED").pipe(
    Config.withDefault(false),
    Effect.orElseSucceed(() => false)
  )
  if (disabled) return undefined
  const url = endpoint.value.trim()
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    return yield* new UsageError({
      reason: `OTEL_EXPORTER_OTLP_ENDPOINT is not an http(s) URL: ${JSON.stringify(url)}`,
      hint: "e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318, or unset it to export nothing"
    })
  }
  const headers = yield* Config.option(headerList).pipe(
    Effect.mapError(() =>
      new UsageError({
        reason: "OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs",
        hint: "e.g. OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20abc,x-team=ml"
      })
    )
  )
  const serviceName = yield* Config.String("OTEL_SERVICE_NAME").pipe(
    Config.withDefault("capstan"),
    Effect.orElseSucceed(() => "capstan")
  )
  return { endpoint: url, serviceName, headers: Option.getOrUndefined(headers) }
})

const exporterLayer = (settings: Settings, serviceVersion: string): Effect.Effect<Layer.Layer<OtlpExporter.Flusher>> =>
  Effect.promise(async () => {
    const [OtlpTracer, OtlpMetrics, OtlpSerialization, NodeHttpClient] = await Promise.all([
      import("effect/observability/OtlpTracer"),
      import("effect/observability/OtlpMetrics"),
      import("effect/observability/OtlpSerialization"),
      import("@effect/platform-node/NodeHttpClient")
    ])
    const base = settings.endpoint.endsWith("/") ? settings.endpoint : `${settings.endpoint}/`
    const common = {
      resource: { serviceName: settings.serviceName, serviceVersion },
      ...(settings.headers === undefined ? {} : { headers: settings.headers })
    }
    return Layer.mergeAll(
      OtlpTracer.layer({ url: new URL("v1/traces", base).href, ...common }),
      OtlpMetrics.layer({ url: new URL("v1/metrics", base).href, ...common })
    ).pipe(Layer.provide([OtlpSerialization.layerJson, NodeHttpClient.layerUndici]))
  })

/**
 * Runs the command with its traces and metrics exported when the environment asks for it; the exporter flushes
 * what it holds when the command ends (its layer's scope closes).
 */
export const withTelemetry =
  (serviceVersion: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | UsageError, R> =>
    Effect.flatMap(settings, (found) =>
      found === undefined
        ? effect
        : Effect.flatMap(exporterLayer(found, serviceVersion), (layer) => Effect.provide(effect, layer)))
