/**
 * API keys: each bound to one tenant and one role. A key's secret (the bearer token, `yte_` and 43 characters
 * of base64url: 256 random bits) is shown once, when it is created; only its SHA-256 is stored. A plain hash is
 * enough for secrets this random: there is nothing to guess that a slow hash would protect.
 *
 * Two layers with the same behaviour: `layerMemory` and `layerSql` (table `api_keys`, created by the server's
 * own migrations, recorded in `ytempire_server_migrations`).
 *
 * **Gotcha**: a key that authenticated is remembered for `cacheTtl` (5 s) so that requests do not each cost a
 * query; a revoked key may keep working that long in other processes (in this one, revoking forgets it at once).
 * A secret that matched no key is remembered as unknown as long, so a key created by another process may be
 * refused for up to 5 s after someone tried it.
 *
 * @since 0.1.0
 */
import { Auth, Ids } from "@ytempire/domain"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option, Ref, Schema } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import * as Crypto from "node:crypto"

/** The SHA-256 of a secret, hex. */
export const hashSecret = (secret: string): string => Crypto.createHash("sha256").update(secret).digest("hex")

const secretPattern = /^yte_[A-Za-z0-9_-]{43}$/

const newSecret = Effect.sync(() => `yte_${Crypto.randomBytes(32).toString("base64url")}`)
const newKeyId = Effect.sync(() => Schema.decodeSync(Ids.ApiKeyId)(`key-${Crypto.randomBytes(6).toString("hex")}`))

interface StoredKey {
  readonly key: Auth.ApiKey
  readonly hash: string
}

// ---------------------------------------------------------------------------------------------------------------
// SQL

const migrations = Migrator.fromRecord({
  "0001_api_keys": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE TABLE api_keys (
        id text COLLATE "C" PRIMARY KEY,
        tenant_id text COLLATE "C" NOT NULL,
        role text NOT NULL,
        name text,
        secret_sha256 text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      )
    `
    yield* sql`CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id)`
  })
})

/**
 * Applies the server's pending migrations (the `api_keys` table).
 *
 * @category migrations
 */
export const migrate = Migrator.make({})({ loader: migrations, table: "ytempire_server_migrations" })

interface KeyRow {
  readonly id: string
  readonly tenant_id: string
  readonly role: string
  readonly name: string | null
  readonly created_at: Date | string
  readonly revoked_at: Date | string | null
}

const decodeKey = Schema.decodeUnknownSync(Auth.ApiKey)
const toIso = (value: Date | string) => (value instanceof Date ? value : new Date(value)).toISOString()
const keyFromRow = (row: KeyRow): Auth.ApiKey =>
  decodeKey({
    id: row.id,
    tenantId: row.tenant_id,
    role: row.role,
    ...(row.name === null ? {} : { name: row.name }),
    createdAt: toIso(row.created_at),
    ...(row.revoked_at === null ? {} : { revokedAt: toIso(row.revoked_at) })
  })

interface Store {
  readonly insert: (stored: StoredKey) => Effect.Effect<void>
  readonly byHash: (hash: string) => Effect.Effect<Option.Option<Auth.ApiKey>>
  readonly list: (tenantId: Ids.TenantId) => Effect.Effect<ReadonlyArray<Auth.ApiKey>>
  readonly revoke: (
    tenantId: Ids.TenantId,
    keyId: Ids.ApiKeyId,
    at: DateTime.Utc
  ) => Effect.Effect<Option.Option<Auth.ApiKey>>
}

const sqlStore: Effect.Effect<Store, never, SqlClient.SqlClient> = Effect.gen(function*() {
  yield* Effect.orDie(migrate)
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const columns = sql`id, tenant_id, role, name, created_at, revoked_at`
  return {
    insert: ({ hash, key }) =>
      sql`
        INSERT INTO api_keys (id, tenant_id, role, name, secret_sha256, created_at)
        VALUES (${key.id}, ${key.tenantId}, ${key.role}, ${key.name ?? null}, ${hash},
          ${DateTime.toDateUtc(key.createdAt)})
        ON CONFLICT (secret_sha256) DO NOTHING
      `.pipe(Effect.asVoid, Effect.orDie),
    byHash: (hash) =>
      sql<KeyRow>`SELECT ${columns} FROM api_keys WHERE secret_sha256 = ${hash}`.pipe(
        Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), keyFromRow)),
        Effect.orDie
      ),
    list: (tenantId) =>
      sql<KeyRow>`SELECT ${columns} FROM api_keys WHERE tenant_id = ${tenantId} ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows.map(keyFromRow)),
        Effect.orDie
      ),
    revoke: (tenantId, keyId, at) =>
      sql<KeyRow>`
        UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ${DateTime.toDateUtc(at)})
        WHERE id = ${keyId} AND tenant_id = ${tenantId}
        RETURNING ${columns}
      `.pipe(
        Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), keyFromRow)),
        Effect.orDie
      )
  }
})

const memoryStore: Effect.Effect<Store> = Effect.map(Ref.make(new Map<string, StoredKey>()), (keys) => ({
  insert: (stored) => Ref.update(keys, (map) => map.has(stored.hash) ? map : new Map(map).set(stored.hash, stored)),
  byHash: (hash) => Effect.map(Ref.get(keys), (map) => Option.map(Option.fromUndefinedOr(map.get(hash)), (s) => s.key)),
  list: (tenantId) =>
    Effect.map(
      Ref.get(keys),
      (map) =>
        [...map.values()].map((stored) => stored.key).filter((key) => key.tenantId === tenantId).toSorted((a, b) =>
          DateTime.Order(a.createdAt, b.createdAt) || (a.id < b.id ? -1 : 1)
        )
    ),
  revoke: (tenantId, keyId, at) =>
    Ref.modify(keys, (map) => {
      const found = [...map.values()].find((stored) => stored.key.id === keyId && stored.key.tenantId === tenantId)
      if (found === undefined) return [Option.none(), map]
      const key = found.key.revokedAt === undefined ? new Auth.ApiKey({ ...found.key, revokedAt: at }) : found.key
      return [Option.some(key), new Map(map).set(found.hash, { hash: found.hash, key })]
    })
}))

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * How long an authenticated key is remembered (see the module's notes).
 *
 * @category constants
 */
export const cacheTtl = Duration.seconds(5)

const make = (store: Store) =>
  Effect.sync(() => {
    const cache = new Map<string, { readonly principal: Auth.Principal; readonly until: number }>()
    const misses = new Map<string, number>()
    const ttl = Duration.toMillis(cacheTtl)

    const create = Effect.fn("ApiKeys.create")(function*(tenantId: Ids.TenantId, request: Auth.ApiKeyRequest) {
      const secret = yield* newSecret
      const key = new Auth.ApiKey({
        id: yield* newKeyId,
        tenantId,
        role: request.role,
        ...(request.name === undefined ? {} : { name: request.name }),
        createdAt: yield* DateTime.now
      })
      const hash = hashSecret(secret)
      yield* store.insert({ key, hash })
      misses.delete(hash)
      return new Auth.CreatedApiKey({ key, secret })
    })

    return ApiKeys.of({
      create,
      ensure: Effect.fn("ApiKeys.ensure")(function*(secret, tenantId, role) {
        const hash = hashSecret(secret)
        const existing = yield* store.byHash(hash)
        if (Option.isSome(existing)) return existing.value
        const key = new Auth.ApiKey({
          id: yield* newKeyId,
          tenantId,
          role,
          name: "bootstrap",
          createdAt: yield* DateTime.now
        })
        yield* store.insert({ key, hash })
        misses.delete(hash)
        return key
      }),
      list: (tenantId) => store.list(tenantId),
      revoke: Effect.fn("ApiKeys.revoke")(function*(tenantId, keyId) {
        const revoked = yield* store.revoke(tenantId, keyId, yield* DateTime.now)
        if (Option.isNone(revoked)) return yield* new Auth.ApiKeyNotFound({ keyId })
        for (const [hash, entry] of cache) if (entry.principal.keyId === keyId) cache.delete(hash)
        return revoked.value
      }),
      authenticate: Effect.fnUntraced(function*(secret) {
        if (!secretPattern.test(secret)) return Option.none()
        const hash = hashSecret(secret)
        const now = yield* Clock.currentTimeMillis
        const cached = cache.get(hash)
        if (cached !== undefined && cached.until > now) return Option.some(cached.principal)
        // A flood of well-formed but unknown keys must not cost a query each.
        if ((misses.get(hash) ?? 0) > now) return Option.none()
        const found = yield* store.byHash(hash)
        if (Option.isNone(found) || found.value.revokedAt !== undefined) {
          cache.delete(hash)
          if (misses.size > 10_000) misses.clear()
          misses.set(hash, now + ttl)
          return Option.none()
        }
        const principal = new Auth.Principal({
          keyId: found.value.id,
          tenantId: found.value.tenantId,
          role: found.value.role
        })
        if (cache.size > 10_000) cache.clear()
        cache.set(hash, { principal, until: now + ttl })
        return Option.some(principal)
      })
    })
  })

/**
 * The API keys.
 *
 * @category services
 */
export class ApiKeys extends Context.Service<ApiKeys, {
  /** A new key of the tenant; its secret is in the result and nowhere else. */
  readonly create: (tenantId: Ids.TenantId, request: Auth.ApiKeyRequest) => Effect.Effect<Auth.CreatedApiKey>
  /** Makes sure a key with this secret exists (a bootstrap key from configuration); returns it as stored. */
  readonly ensure: (secret: string, tenantId: Ids.TenantId, role: Auth.Role) => Effect.Effect<Auth.ApiKey>
  /** The tenant's keys, revoked ones included, oldest first. */
  readonly list: (tenantId: Ids.TenantId) => Effect.Effect<ReadonlyArray<Auth.ApiKey>>
  /** Revokes a key of the tenant (again: a no-op); another tenant's key is not found. */
  readonly revoke: (tenantId: Ids.TenantId, keyId: Ids.ApiKeyId) => Effect.Effect<Auth.ApiKey, Auth.ApiKeyNotFound>
  /** Who a secret belongs to: none for an unknown, malformed or revoked one. */
  readonly authenticate: (secret: string) => Effect.Effect<Option.Option<Auth.Principal>>
}>()("@ytempire/server/ApiKeys") {
  /**
   * Keys in memory: nothing survives the layer.
   *
   * @category layers
   */
  static readonly layerMemory: Layer.Layer<ApiKeys> = Layer.effect(ApiKeys, Effect.flatMap(memoryStore, make))

  /**
   * Keys in the SQL database (applies the server's migrations while it is built).
   *
   * @category layers
   */
  static readonly layerSql: Layer.Layer<ApiKeys, never, SqlClient.SqlClient> = Layer.effect(
    ApiKeys,
    Effect.flatMap(sqlStore, make)
  )
}
