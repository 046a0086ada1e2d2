/**
 * Where channel records live. The channel entity is their single writer; the pipeline and readers look them
 * up here.
 *
 * Two layers with the same behaviour: `layerMemory` (nothing survives the layer) and `layerSql` (Postgres,
 * shared by every process on the database).
 *
 * **Errors**: storage failures (an unreachable database, a failed statement, a stored record that no longer
 * decodes) are defects, not typed errors, in both repositories: the interfaces name only what a caller can act
 * on (`ChannelNotFound`). This differs from the budget ledger's typed `LedgerUnavailable` on purpose: the
 * repositories' callers are workflow activities (whose declared errors are domain errors) and request handlers,
 * for which a storage failure is an infrastructure fault to surface, not an outcome to branch on. Each
 * operation is one statement or one transaction, so a failure leaves nothing half-written, and may be retried.
 *
 * @since 0.1.0
 */
import { Channel, Ids } from "@ytempire/domain"
import { Context, DateTime, Effect, Layer, Option, Ref, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Migrations from "./internal/migrations.ts"

/**
 * Where a channel stands in the oldest-first order: its creation instant (epoch milliseconds) and its id.
 *
 * @category models
 */
export const ChannelPosition = Schema.Struct({ createdAt: Schema.Int, id: Ids.ChannelId })
/** @category models */
export type ChannelPosition = typeof ChannelPosition.Type

/**
 * Which channels of a tenant to list, from where, and how many.
 *
 * @category models
 */
export interface ChannelPageQuery {
  readonly tenantId: Ids.TenantId
  readonly status?: Channel.ChannelStatus | undefined
  /** Only channels after this position (exclusive); from the oldest when absent. */
  readonly after?: ChannelPosition | undefined
  /** At most this many channels. */
  readonly limit: number
}

/**
 * A page of channels, and the position of its last one when more follow.
 *
 * @category models
 */
export interface ChannelPageResult {
  readonly channels: ReadonlyArray<Channel.Channel>
  readonly next: Option.Option<ChannelPosition>
}

/**
 * How many of a tenant's channels are in each status.
 *
 * @category models
 */
export type ChannelStatusCounts = Readonly<Record<Channel.ChannelStatus, number>>

/**
 * The position of a channel in the oldest-first order.
 *
 * @category utils
 */
export const positionOf = (channel: Channel.Channel): ChannelPosition => ({
  createdAt: DateTime.toEpochMillis(channel.createdAt),
  id: channel.id
})

/** Oldest first: by `createdAt`, then id. */
const oldestFirst = (a: Channel.Channel, b: Channel.Channel): number =>
  DateTime.Order(a.createdAt, b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const isAfter = (position: ChannelPosition) => (channel: Channel.Channel): boolean => {
  const createdAt = DateTime.toEpochMillis(channel.createdAt)
  return createdAt > position.createdAt || (createdAt === position.createdAt && channel.id > position.id)
}

/** The page of `limit` out of `limit + 1` channels read. */
const pageOf = (channels: ReadonlyArray<Channel.Channel>, limit: number): ChannelPageResult => {
  const page = channels.slice(0, limit)
  const last = page.at(-1)
  return {
    channels: page,
    next: channels.length > limit && last !== undefined ? Option.some(positionOf(last)) : Option.none()
  }
}

const noChannels = (): Record<Channel.ChannelStatus, number> => ({ active: 0, paused: 0, "budget-paused": 0 })

// ---------------------------------------------------------------------------------------------------------------
// SQL

interface ChannelRow {
  readonly record: unknown
}

const encodeChannel = Schema.encodeEffect(Channel.Channel)
const decodeChannel = Schema.decodeUnknownEffect(Channel.Channel)

const makeSql: Effect.Effect<ChannelRepository["Service"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  yield* Effect.orDie(Migrations.run)
  // Column names are ours: keep them whatever name transforms the application's client is configured with.
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()

  const put = Effect.fn("ChannelRepository.put")(function*(channel: Channel.Channel) {
    const record = JSON.stringify(yield* encodeChannel(channel))
    yield* sql`
      INSERT INTO channels (id, tenant_id, status, record, created_at, updated_at)
      VALUES (
        ${channel.id}, ${channel.tenantId}, ${channel.status}, ${record}::jsonb,
        ${DateTime.toDateUtc(channel.createdAt)}, ${DateTime.toDateUtc(channel.updatedAt)}
      )
      ON CONFLICT (id) DO UPDATE SET
        tenant_id = excluded.tenant_id,
        status = excluded.status,
        record = excluded.record,
        created_at = excluded.created_at,
        updated_at = excluded.updated_at
    `
    return channel
  }, Effect.orDie)

  const get = Effect.fn("ChannelRepository.get")(function*(channelId: Ids.ChannelId) {
    const rows = yield* Effect.orDie(sql<ChannelRow>`SELECT record FROM channels WHERE id = ${channelId}`)
    const row = rows[0]
    if (row === undefined) return yield* new Channel.ChannelNotFound({ channelId })
    return yield* Effect.orDie(decodeChannel(row.record))
  })

  const list = Effect.fn("ChannelRepository.list")(function*(tenantId: Ids.TenantId) {
    const rows = yield* sql<ChannelRow>`
      SELECT record FROM channels WHERE tenant_id = ${tenantId} ORDER BY created_at, id
    `
    return yield* Effect.forEach(rows, (row) => decodeChannel(row.record))
  }, Effect.orDie)

  const page = Effect.fn("ChannelRepository.page")(function*(query: ChannelPageQuery) {
    const after = query.after
    // Keyset pagination on the `channels_by_tenant` index (tenant_id, created_at, id).
    const rows = yield* sql<ChannelRow>`
      SELECT record FROM channels
      WHERE ${
      sql.and([
        sql`tenant_id = ${query.tenantId}`,
        ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
        ...(after === undefined ? [] : [sql`(created_at, id) > (${new Date(after.createdAt)}, ${after.id})`])
      ])
    }
      ORDER BY created_at, id
      LIMIT ${query.limit + 1}
    `
    return pageOf(yield* Effect.forEach(rows, (row) => decodeChannel(row.record)), query.limit)
  }, Effect.orDie)

  const remove = Effect.fn("ChannelRepository.remove")(function*(channelId: Ids.ChannelId) {
    yield* sql`DELETE FROM channels WHERE id = ${channelId}`
  }, Effect.orDie)

  const countByStatus = Effect.fn("ChannelRepository.countByStatus")(function*(tenantId?: Ids.TenantId) {
    const rows = yield* sql<{ readonly status: string; readonly n: number }>`
      SELECT status, count(*)::int AS n FROM channels
      ${tenantId === undefined ? sql.literal("") : sql`WHERE tenant_id = ${tenantId}`}
      GROUP BY status
    `
    const counts = noChannels()
    for (const row of rows) {
      if (row.status in counts) counts[row.status as Channel.ChannelStatus] = Number(row.n)
    }
    return counts
  }, Effect.orDie)

  return { put, get, list, page, remove, countByStatus }
})

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * The channel records.
 *
 * @category services
 */
export class ChannelRepository extends Context.Service<ChannelRepository, {
  /** Stores the channel, replacing the record with its id. */
  readonly put: (channel: Channel.Channel) => Effect.Effect<Channel.Channel>
  /** The channel with this id. */
  readonly get: (channelId: Ids.ChannelId) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound>
  /** Every channel of a tenant, oldest first (by `createdAt`, then id). */
  readonly list: (tenantId: Ids.TenantId) => Effect.Effect<ReadonlyArray<Channel.Channel>>
  /**
   * One page of a tenant's channels, oldest first (by `createdAt`, then id), after a position: keyset
   * pagination, so that walking the pages returns every channel that exists throughout exactly once.
   */
  readonly page: (query: ChannelPageQuery) => Effect.Effect<ChannelPageResult>
  /** Removes the channel's record (nothing when there is none). Its videos are kept. */
  readonly remove: (channelId: Ids.ChannelId) => Effect.Effect<void>
  /** How many of the tenant's channels (every tenant's, without one) are in each status (one grouped query). */
  readonly countByStatus: (tenantId?: Ids.TenantId) => Effect.Effect<ChannelStatusCounts>
}>()("@ytempire/runtime/ChannelRepository") {
  /**
   * Records in memory, for tests and the in-memory mode.
   *
   * @category layers
   */
  static readonly layerMemory: Layer.Layer<ChannelRepository> = Layer.effect(ChannelRepository)(
    Effect.gen(function*() {
      // One Map, changed in place inside each synchronous Ref update (no copy per write).
      const channels = yield* Ref.make(new Map<string, Channel.Channel>())
      const ofTenant = (tenantId: Ids.TenantId) =>
        Effect.map(Ref.get(channels), (map) => [...map.values()].filter((channel) => channel.tenantId === tenantId))
      const all: Effect.Effect<Iterable<Channel.Channel>> = Effect.map(Ref.get(channels), (map) => map.values())
      return ChannelRepository.of({
        put: (channel) => Ref.update(channels, (map) => map.set(channel.id, channel)).pipe(Effect.as(channel)),
        get: (channelId) =>
          Ref.get(channels).pipe(Effect.flatMap((map) => {
            const channel = map.get(channelId)
            return channel === undefined
              ? Effect.fail(new Channel.ChannelNotFound({ channelId }))
              : Effect.succeed(channel)
          })),
        list: (tenantId) => Effect.map(ofTenant(tenantId), (list) => list.toSorted(oldestFirst)),
        page: (query) =>
          Effect.map(ofTenant(query.tenantId), (list) => {
            const after = query.after
            const matching = list.filter((channel) =>
              (query.status === undefined || channel.status === query.status) &&
              (after === undefined || isAfter(after)(channel))
            )
            return pageOf(matching.toSorted(oldestFirst).slice(0, query.limit + 1), query.limit)
          }),
        remove: (channelId) =>
          Ref.update(channels, (map) => {
            map.delete(channelId)
            return map
          }),
        countByStatus: (tenantId) =>
          Effect.map(tenantId === undefined ? all : ofTenant(tenantId), (list: Iterable<Channel.Channel>) => {
            const counts = noChannels()
            for (const channel of list) counts[channel.status] += 1
            return counts
          })
      })
    })
  )

  /**
   * Records in Postgres (table `channels`), shared by every process on the database. Building the layer applies
   * the runtime's pending migrations (recorded in `ytempire_migrations`; safe when several layers or processes
   * build at once). Storage failures are defects (see the module's notes).
   *
   * @category layers
   */
  static readonly layerSql: Layer.Layer<ChannelRepository, never, SqlClient.SqlClient> = Layer.effect(
    ChannelRepository,
    makeSql
  )
}
