/**
 * The server, assembled: the runtime (storage, cluster, pipeline, providers, GPU scheduler), the key store, the
 * rate limiter, the API's operations, and one HTTP listener with the RPC endpoints (`/rpc`, `/rpc/ws`), the
 * REST API (`/api/v1`) and health (`/health`, `/ready`).
 *
 * Closing the layer is the graceful shutdown: the listener stops accepting and lets open requests finish (a few
 * seconds at most: progress streams are cut), then the cluster stops its entities and workflows. A stage whose
 * provider is running is either interrupted (it runs again after the next start) or, when effect/cluster lets the
 * activity finish, recorded as it completes; either way nothing recorded is lost or paid twice. GPU leases are
 * released and the database pools close. Past the shutdown deadline (`YTEMPIRE_SHUTDOWN_TIMEOUT`) the process
 * exits 1 without waiting further, and what was running resumes at the next start.
 *
 * @since 0.1.0
 */
import { NodeHttpServer, NodeServices } from "@effect/platform-node"
import { Stage } from "@ytempire/domain"
import { Inventory } from "@ytempire/gpu"
import { Logging, Prometheus, Tracing } from "@ytempire/ops"
import { Offline, YtempireRuntime } from "@ytempire/runtime"
import { Duration, Effect, Layer, Logger, Option, Redacted, References } from "effect"
import { HttpRouter } from "effect/http"
import { SqlClient } from "effect/sql"
import { Redis } from "ioredis"
import { createServer } from "node:http"
import * as ApiKeys from "./ApiKeys.ts"
import * as Authenticator from "./Authenticator.ts"
import * as Health from "./Health.ts"
import * as HttpMetrics from "./HttpMetrics.ts"
import * as Operations from "./Operations.ts"
import * as RateLimiter from "./RateLimiter.ts"
import * as RestHandlers from "./RestHandlers.ts"
import * as RpcApi from "./RpcApi.ts"
import type * as ServerConfig from "./ServerConfig.ts"

/**
 * The keys live where the runtime keeps its state: in its SQL database when it has one, else in memory.
 */
const keysLayer: Layer.Layer<ApiKeys.ApiKeys> = Layer.unwrap(
  Effect.map(Effect.serviceOption(SqlClient.SqlClient), (sql) =>
    Option.match(sql, {
      onNone: () => ApiKeys.ApiKeys.layerMemory,
      onSome: (client) => ApiKeys.ApiKeys.layerSql.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient)(client)))
    }))
)

/** A Redis connection for the server's lifetime, failing fast (no offline queue) while Redis is down. */
const redisClient = (url: Redacted.Redacted<string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new Redis(Redacted.value(url), {
        lazyConnect: false,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectionName: "ytempire-server"
      })
    ),
    (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
  )

const limiterAndProbes = (config: ServerConfig.ServerConfig) =>
  Option.match(config.redisUrl, {
    onNone: () => RateLimiter.RateLimiter.layerMemory(config.rate),
    onSome: (url) =>
      Layer.unwrap(Effect.map(redisClient(url), (redis) =>
        Layer.merge(
          RateLimiter.RateLimiter.layerRedis(config.rate, redis),
          Layer.succeed(Health.ExtraProbes)([Health.redisProbe(redis)])
        )))
  })

/**
 * The runtime's configuration for the server's: its storage and data directory, the providers' latency, and the
 * GPUs the inventory found.
 */
const runtimeLayer = <E>(
  config: ServerConfig.ServerConfig,
  providers: Layer.Layer<Offline.Services, E> | undefined
) =>
  Layer.unwrap(Effect.gen(function*() {
    const inventory = yield* Inventory.GpuInventory
    if (inventory.devices.length > 0) {
      yield* Effect.logInfo(`GPUs (${inventory.source}): ${inventory.devices.map((d) => d.name).join(", ")}`)
    }
    const latency = Duration.isZero(config.providerLatency)
      ? undefined
      : Object.fromEntries(Stage.all.map((stage) => [stage, config.providerLatency]))
    const runtimeConfig: YtempireRuntime.Config = {
      dataDir: config.dataDir,
      storage: config.storage,
      providers: latency === undefined ? undefined : { latency },
      gpu: inventory.devices.length === 0 ? undefined : { devices: inventory.devices, source: inventory.source }
    }
    const offline = Offline.layer({ ...runtimeConfig.providers, dataDir: config.dataDir })
    const chain: Layer.Layer<Offline.Services, E | Layer.Error<typeof offline>> = providers ?? offline
    return YtempireRuntime.layerWithProviders(runtimeConfig, chain)
  })).pipe(Layer.provide(Inventory.GpuInventory.layerSetting(config.gpu)), Layer.provide(NodeServices.layer))

/** Makes the configured bootstrap key an admin of the operator tenant. */
const bootstrapKey = (config: ServerConfig.ServerConfig) =>
  Layer.effectDiscard(Option.match(config.bootstrapKey, {
    onNone: () => Effect.void,
    onSome: (secret) =>
      Effect.flatMap(ApiKeys.ApiKeys, (keys) =>
        keys.ensure(Redacted.value(secret), config.operatorTenant, "admin").pipe(
          Effect.tap((key) =>
            key.revokedAt !== undefined
              ? Effect.logWarning(`YTEMPIRE_BOOTSTRAP_KEY is key ${key.id}, which was revoked: it grants nothing`)
              : key.tenantId !== config.operatorTenant || key.role !== "admin"
              ? Effect.logWarning(
                `YTEMPIRE_BOOTSTRAP_KEY is key ${key.id}, a ${key.role} of ${key.tenantId}, not an admin of the ` +
                  `operator tenant ${config.operatorTenant}: it keeps what it was`
              )
              : Effect.logInfo(`bootstrap key ${key.id} (admin of ${key.tenantId}) from YTEMPIRE_BOOTSTRAP_KEY`)
          )
        ))
  }))

/**
 * The logger and level the configuration names: `json` writes one JSON object per line, with the trace and span
 * ids of the span it was logged in (see `Logging`).
 *
 * @category layers
 */
export const loggingLayer = (config: Pick<ServerConfig.ServerConfig, "logFormat" | "logLevel">): Layer.Layer<never> =>
  Layer.merge(
    Logger.layer([config.logFormat === "json" ? Logging.consoleJson : Logger.consolePretty()]),
    Layer.succeed(References.MinimumLogLevel)(config.logLevel)
  )

/**
 * The whole server, listening on the configured host and port; `providers` replaces the offline providers
 * (tests and benchmarks use instant ones).
 *
 * @category layers
 */
export const layer = <E = never>(
  config: ServerConfig.ServerConfig,
  options: { readonly providers?: Layer.Layer<Offline.Services, E> | undefined; readonly startedAt: number }
) => {
  const services = Layer.mergeAll(
    Operations.Operations.layer({ operatorTenant: config.operatorTenant, startedAt: options.startedAt }),
    Authenticator.Authenticator.layer
  ).pipe(Layer.provideMerge(Layer.merge(keysLayer, limiterAndProbes(config))))
  // The HTTP metrics are provided to the routes (they name each request's route pattern); /metrics has no key.
  const routes = Layer.mergeAll(RpcApi.layer, RestHandlers.layer, Health.routes(options.startedAt), Prometheus.layer)
    .pipe(Layer.provide(HttpMetrics.layer))
  // One log line per request only when asked for (debug): at hundreds of requests a second it costs real CPU.
  const accessLog = config.logLevel === "Debug" || config.logLevel === "Trace" || config.logLevel === "All"
  // Listening starts only once the runtime and the services are built, so that no request meets a server that
  // accepts connections but has nothing to answer them with.
  return HttpRouter.serve(routes, { disableLogger: !accessLog }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        port: config.port,
        host: config.host,
        // Ordinary requests are short; progress streams and WebSockets would hold the whole grace, so keep it short.
        gracefulShutdownTimeout: Duration.min(Duration.seconds(3), Duration.divideUnsafe(config.shutdownTimeout, 4)),
        // The ws library's default message limit is 100 MiB, read before any call is authenticated.
        websocket: { maxPayload: RpcApi.maxBodyBytes }
      })
    ),
    Layer.provide(bootstrapKey(config)),
    Layer.provide(services),
    Layer.provideMerge(runtimeLayer(config, options.providers)),
    // Every span of the server, the runtime and the workflows goes to OpenTelemetry when OTEL_* configures it.
    Layer.provide(Tracing.layer)
  )
}
