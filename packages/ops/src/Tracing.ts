/**
 * OpenTelemetry tracing: every Effect span of the server, the runtime and the workflows (requests, the channel
 * entity, the pipeline's stages and provider attempts, budget reservations, GPU lease waits) exported as OTLP by
 * `@opentelemetry/sdk-node`, bridged from Effect's tracer by `@effect/opentelemetry`.
 *
 * The standard variables configure it: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (where to send, with `OTEL_EXPORTER_OTLP_PROTOCOL` / `_HEADERS` / `_TIMEOUT`), `OTEL_SERVICE_NAME` (default
 * `ytempire`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` / `_ARG` and `OTEL_TRACES_EXPORTER`.
 *
 * The context is Effect's to carry, not OpenTelemetry's propagators': a request's `traceparent` (or `b3`) header
 * parents its HTTP server span (effect's `HttpMiddleware.tracer`, with the HTTP semantic-convention attributes);
 * an RPC call over HTTP nests under it, or under the span its message names; cluster messages carry the span they
 * were sent in, persisted with them, so that the channel entity, the workflow and its activities continue the
 * request's trace, and a workflow resumed by another process after a crash stays in it. A video that waits in
 * its channel's queue starts under the span that requested it (`Video.spanId`).
 *
 * @since 0.1.0
 */
import { OtelTracer } from "@effect/opentelemetry"
import * as Otel from "@opentelemetry/api"
import { Config, Duration, Effect, Layer, Option } from "effect"

/**
 * What the environment asks of tracing: nothing (`None`) when no OTLP endpoint is set or `OTEL_TRACES_EXPORTER`
 * is `none`; else the service name to default to (`undefined` when the environment names the service itself).
 *
 * @category models
 */
export interface Settings {
  readonly serviceName: string | undefined
}

const optionalString = (name: string) =>
  Config.String(name).pipe(Config.option, Config.map(Option.filter((value) => value.trim() !== "")))

/**
 * The tracing settings from the standard `OTEL_*` variables.
 *
 * @category constructors
 */
export const settings: Config.Config<Option.Option<Settings>> = Config.all({
  endpoint: optionalString("OTEL_EXPORTER_OTLP_ENDPOINT"),
  tracesEndpoint: optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  exporter: optionalString("OTEL_TRACES_EXPORTER"),
  serviceName: optionalString("OTEL_SERVICE_NAME"),
  resourceAttributes: optionalString("OTEL_RESOURCE_ATTRIBUTES")
}).pipe(Config.map((env) => {
  const exporters = Option.match(env.exporter, {
    onNone: () => [],
    onSome: (value) => value.split(",").map((name) => name.trim())
  })
  const disabled = exporters.length > 0 && exporters.every((name) => name === "none" || name === "")
  if (disabled || (Option.isNone(env.endpoint) && Option.isNone(env.tracesEndpoint))) return Option.none()
  const namedInAttributes = Option.exists(
    env.resourceAttributes,
    (value) => value.split(",").some((pair) => pair.split("=")[0]?.trim() === "service.name")
  )
  return Option.some({
    serviceName: Option.isSome(env.serviceName) || namedInAttributes ? undefined : "ytempire"
  })
}))

/** How long closing the layer waits for the last spans to be sent. */
const shutdownTimeout = Duration.seconds(3)

/**
 * Starts the Node SDK (its span processors and sampler from the environment, its metrics and logs off: metrics
 * are Prometheus's, see `Prometheus`) and installs the global tracer provider as Effect's tracer. Closing it sends
 * what is buffered (3 seconds at most) and unregisters the provider, so that a later layer can install its own.
 */
const sdkLayer = (options: Settings): Layer.Layer<never> =>
  Layer.unwrap(Effect.gen(function*() {
    // Loaded only when tracing is on: the SDK and its exporters cost startup time a server without it should not pay.
    const { NodeSDK } = yield* Effect.promise(() => import("@opentelemetry/sdk-node"))
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const sdk = new NodeSDK({
          ...(options.serviceName === undefined ? {} : { serviceName: options.serviceName }),
          instrumentations: [],
          metricReaders: [],
          logRecordProcessors: [],
          // Effect propagates trace context itself (HTTP traceparent, RPC and cluster messages).
          textMapPropagator: null
        })
        sdk.start()
        return sdk
      }),
      (sdk) =>
        Effect.promise(() => sdk.shutdown().catch(() => undefined)).pipe(
          Effect.timeoutOption(shutdownTimeout),
          Effect.ensuring(Effect.sync(() => Otel.trace.disable()))
        )
    )
    return OtelTracer.layerWithoutOtelTracer.pipe(Layer.provide(OtelTracer.layerGlobalTracer))
  }))

/**
 * Tracing as the environment configures it. Without an OTLP endpoint (or with `OTEL_TRACES_EXPORTER=none`) it
 * does nothing: Effect's own tracer stays, nothing is sent and nothing is logged. With one, spans are batched and
 * sent in the background: an unreachable collector loses spans but never fails or slows what they describe
 * (the SDK reports export errors only to its diagnostic logger, silent unless `OTEL_LOG_LEVEL` is set).
 *
 * @category layers
 */
export const layer: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.map(settings, Option.match({ onNone: () => Layer.empty, onSome: sdkLayer }))
)
