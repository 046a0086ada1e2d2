/**
 * Liveness and readiness, without a key:
 *
 * - `GET /health`: the process answers. `{"status":"healthy","version":…,"uptime":…}`, touching no dependency,
 *   so that a slow database never makes an orchestrator restart a live server.
 * - `GET /ready`: the server can do its work. Each dependency is checked (the database, Redis when configured,
 *   the cluster's shards and its backlog of due messages, the GPU devices) with its status (`pass`, `warn`,
 *   `fail`, as in the health+json draft), latency and, where it measures one, an observed value; any failing check
 *   answers 503, warnings do not.
 *
 * @since 0.1.0
 */
import { Scheduler } from "@ytempire/gpu"
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { EntityId, Sharding } from "effect/cluster"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import type { Redis } from "ioredis"
import { version } from "./Version.ts"

/**
 * The outcome of one dependency's check.
 *
 * @category models
 */
export interface Check {
  /** `warn` reports a problem that does not make the server unready. */
  readonly status: "pass" | "warn" | "fail"
  readonly latencyMs: number
  readonly message?: string
  readonly observedValue?: number
  readonly observedUnit?: string
}

/**
 * What a probe found, beyond passing: a warning, a message, a measured value.
 *
 * @category models
 */
export interface Observation {
  readonly status?: "pass" | "warn"
  readonly message?: string
  readonly observedValue?: number
  readonly observedUnit?: string
}

/**
 * A dependency that readiness checks: a name and an effect that fails when it is not usable.
 *
 * @category models
 */
export interface Probe {
  readonly name: string
  readonly check: Effect.Effect<string | Observation | void, unknown>
}

/**
 * The dependencies that `/ready` checks, beside those the server finds in its context (database, cluster, GPU).
 *
 * @category services
 */
export class ExtraProbes extends Context.Reference<ReadonlyArray<Probe>>("@ytempire/server/Health/ExtraProbes", {
  defaultValue: () => []
}) {}

const checkTimeout = Duration.seconds(2)

/** Due cluster messages above which readiness warns. */
const backlogWarning = 10_000

const run = Effect.fnUntraced(function*(probe: Probe) {
  const start = yield* Clock.currentTimeMillis
  const outcome = yield* probe.check.pipe(
    Effect.timeoutOrElse({
      duration: checkTimeout,
      orElse: () => Effect.fail(`no answer within ${Duration.format(checkTimeout)}`)
    }),
    Effect.result
  )
  const latencyMs = (yield* Clock.currentTimeMillis) - start
  const found = outcome._tag === "Success" ? outcome.success : undefined
  const check: Check = outcome._tag === "Failure"
    ? { status: "fail", latencyMs, message: describeFailure(outcome.failure) }
    : typeof found === "string"
    ? { status: "pass", latencyMs, message: found }
    : { status: "pass", latencyMs, ...found }
  return [probe.name, check] as const
})

const describeFailure = (failure: unknown): string =>
  typeof failure === "string"
    ? failure
    : failure instanceof Error
    ? failure.message
    : typeof failure === "object" && failure !== null && "message" in failure
    ? String(failure.message)
    : String(failure)

/**
 * A Redis probe: `PING`.
 *
 * @category constructors
 */
export const redisProbe = (redis: Redis): Probe => ({
  name: "redis",
  check: Effect.tryPromise(() => redis.ping()).pipe(Effect.asVoid)
})

/**
 * The routes `/health` and `/ready`. `startedAt` is the server's start (epoch milliseconds).
 *
 * @category layers
 */
export const routes = (startedAt: number): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    const sharding = yield* Effect.serviceOption(Sharding.Sharding)
    const gpu = yield* Effect.serviceOption(Scheduler.Scheduler)
    const extra = yield* ExtraProbes

    const probes: Array<Probe> = []
    if (Option.isSome(sql)) {
      const client = sql.value
      probes.push({ name: "database", check: Effect.asVoid(client`SELECT 1`) })
    }
    if (Option.isSome(sharding)) {
      const cluster = sharding.value
      probes.push({
        name: "cluster",
        check: Effect.gen(function*() {
          if (yield* cluster.isShutdown) return yield* Effect.fail("the runner is shutting down")
          // A channel's shard must be held here (a single runner holds all of them once it has started).
          const shard = cluster.getShardId(EntityId.make("readiness-probe"), "default")
          if (!cluster.hasShardId(shard)) return yield* Effect.fail("this runner holds no shards yet")
          return `${yield* cluster.activeEntityCount} active entities`
        })
      })
    }
    if (Option.isSome(sql)) {
      const client = sql.value
      // Messages due and not yet handled: a backlog that grows means the runners do not keep up. Scheduled ones
      // (a channel's next run) are not due yet and do not count.
      probes.push({
        name: "cluster:backlog",
        check: Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* client<{ readonly due: number | string }>`
            SELECT count(*) AS due FROM cluster_messages
            WHERE NOT processed AND (deliver_at IS NULL OR deliver_at <= ${now})
          `
          const due = Number(rows[0]?.due ?? 0)
          return {
            status: due > backlogWarning ? "warn" : "pass",
            observedValue: due,
            observedUnit: "messages"
          } satisfies Observation
        })
      })
    }
    probes.push({
      name: "gpu",
      check: Option.match(gpu, {
        onNone: () => Effect.succeed("no GPU configured"),
        onSome: (scheduler) =>
          Effect.map(scheduler.status, (status) => {
            const healthy = status.devices.filter((device) => device.health === "healthy").length
            return {
              // Draining or lost devices leave the server able to work on the others (or on the CPU).
              status: healthy < status.devices.length ? "warn" : "pass",
              message: `${status.source}: ${healthy} of ${status.devices.length} devices healthy` +
                status.devices.filter((device) => device.health !== "healthy").map((device) =>
                  `; ${device.id} ${device.health}`
                ).join(""),
              observedValue: healthy,
              observedUnit: "healthy devices"
            } satisfies Observation
          })
      })
    })
    probes.push(...extra)

    yield* router.add(
      "GET",
      "/health",
      Effect.map(Clock.currentTimeMillis, (now) =>
        HttpServerResponse.jsonUnsafe({
          status: "healthy",
          version,
          uptime: Math.max(0, Math.round((now - startedAt) / 100) / 10)
        }))
    )
    yield* router.add(
      "GET",
      "/ready",
      Effect.gen(function*() {
        const results = yield* Effect.forEach(probes, run, { concurrency: "unbounded" })
        const ready = results.every(([, check]) => check.status !== "fail")
        return HttpServerResponse.jsonUnsafe(
          { status: ready ? "ready" : "not ready", version, checks: Object.fromEntries(results) },
          { status: ready ? 200 : 503 }
        )
      })
    )
  }))
