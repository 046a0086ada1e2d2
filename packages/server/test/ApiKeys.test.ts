/**
 * API keys and the rate limiter, on their real stores: keys in Postgres (and memory), buckets in Redis (and
 * memory).
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Auth, Ids } from "@ytempire/domain"
import * as ApiKeys from "@ytempire/server/ApiKeys"
import * as RateLimiter from "@ytempire/server/RateLimiter"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Redis } from "ioredis"

/** A fresh database for this file (the local server, trust authentication). */
const freshDatabase = (database: string) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const admin = yield* PgClient.PgClient
      yield* admin`DROP DATABASE IF EXISTS ${admin(database)} WITH (FORCE)`
      yield* admin`CREATE DATABASE ${admin(database)}`
      return PgClient.layer({ host: "127.0.0.1", username: "postgres", database })
    }).pipe(Effect.provide(PgClient.layer({ host: "127.0.0.1", username: "postgres", database: "postgres" })))
  )

const tenant = Schema.decodeSync(Ids.TenantId)
const acme = tenant("acme")
const globex = tenant("globex")

const keyBehaviour = (layer: Layer.Layer<ApiKeys.ApiKeys, unknown>) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys.ApiKeys
    const created = yield* keys.create(acme, new Auth.ApiKeyRequest({ role: "operator", name: "ci" }))
    expect(created.secret).toMatch(/^yte_[A-Za-z0-9_-]{43}$/)
    const principal = yield* keys.authenticate(created.secret)
    expect(Option.map(principal, (p) => [p.tenantId, p.role, p.keyId])).toEqual(
      Option.some([acme, "operator", created.key.id])
    )
    // A near miss, a malformed secret and another tenant's revoke do nothing.
    expect(Option.isNone(yield* keys.authenticate(created.secret.slice(0, -1) + "x"))).toBe(true)
    expect(Option.isNone(yield* keys.authenticate("not a key"))).toBe(true)
    const foreign = yield* Effect.flip(keys.revoke(globex, created.key.id))
    expect(foreign._tag).toBe("ApiKeyNotFound")
    expect(Option.isSome(yield* keys.authenticate(created.secret))).toBe(true)
    // Listing never shows a secret; revoking ends authentication at once in this process.
    const listed = yield* keys.list(acme)
    expect(listed.map((key) => key.id)).toEqual([created.key.id])
    expect(JSON.stringify(Schema.encodeSync(Schema.Array(Auth.ApiKey))(listed))).not.toContain(created.secret)
    expect(yield* keys.list(globex)).toEqual([])
    const revoked = yield* keys.revoke(acme, created.key.id)
    expect(revoked.revokedAt).toBeDefined()
    expect(Option.isNone(yield* keys.authenticate(created.secret))).toBe(true)
    // A bootstrap secret is stored once, however often it is ensured.
    const secret = `yte_${"b".repeat(43)}`
    const first = yield* keys.ensure(secret, acme, "admin")
    const again = yield* keys.ensure(secret, acme, "admin")
    expect(again.id).toBe(first.id)
    return created.secret
  }).pipe(Effect.provide(layer))

describe("ApiKeys", () => {
  it.live("in memory: create, authenticate, tenant-scoped revoke, bootstrap", () =>
    Effect.asVoid(keyBehaviour(ApiKeys.ApiKeys.layerMemory)))

  it.live("in Postgres: the same, and only the secret's SHA-256 is stored", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const secret = yield* keyBehaviour(
        ApiKeys.ApiKeys.layerSql.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient)(sql)))
      )
      const rows = yield* sql<Record<string, unknown>>`SELECT * FROM api_keys`
      const stored = JSON.stringify(rows)
      expect(stored).not.toContain(secret)
      expect(stored).toContain(ApiKeys.hashSecret(secret))
    }).pipe(Effect.provide(freshDatabase("ytempire_server_api_keys"))), 30_000)
})

describe("RateLimiter", () => {
  const rate = { perSecond: 2, burst: 5 }

  it.live("in memory: a burst of 5, then refusals that say how long to wait", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const decisions = yield* Effect.forEach(Array.from({ length: 8 }), () => limiter.take("key-a"))
      expect(decisions.filter((d) => d.allowed)).toHaveLength(5)
      const refused = decisions.at(-1)!
      expect(refused.allowed).toBe(false)
      if (!refused.allowed) expect(refused.retryAfterMillis).toBeGreaterThan(0)
      expect((yield* limiter.take("key-b")).allowed).toBe(true)
    }).pipe(Effect.provide(RateLimiter.RateLimiter.layerMemory(rate))))

  it.live(
    "in Redis: concurrent requests never take more than the burst, across two limiters",
    () =>
      Effect.gen(function*() {
        const redis = yield* Effect.acquireRelease(
          Effect.sync(() => new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 })),
          (client) => Effect.promise(() => client.quit())
        )
        const key = `test-${Math.random().toString(36).slice(2)}`
        const one = RateLimiter.RateLimiter.layerRedis(rate, redis)
        const takeFrom = (layer: Layer.Layer<RateLimiter.RateLimiter>) =>
          Effect.flatMap(RateLimiter.RateLimiter, (limiter) => limiter.take(key)).pipe(Effect.provide(layer))
        const decisions = yield* Effect.all(
          Array.from(
            { length: 20 },
            (_, i) => takeFrom(i % 2 === 0 ? one : RateLimiter.RateLimiter.layerRedis(rate, redis))
          ),
          { concurrency: "unbounded" }
        )
        expect(decisions.filter((d) => d.allowed)).toHaveLength(5)
        const waits = decisions.flatMap((d) => d.allowed ? [] : [d.retryAfterMillis])
        expect(Math.min(...waits)).toBeGreaterThan(0)
        expect(Math.max(...waits)).toBeLessThanOrEqual(1000 / rate.perSecond + 50)
        yield* Effect.promise(() => redis.del(`ytempire:rate:${key}`))
      }).pipe(Effect.scoped),
    20_000
  )
})
