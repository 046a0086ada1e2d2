/**
 * Where channel records live. The channel entity is their single writer; the pipeline and readers look them
 * up here.
 *
 * Three layers with the same behaviour: `layerMemory` (nothing survives the layer), `layerSql` (Postgres, shared by
 * every process on the database) and `layerSqlExclusive` (Postgres that this process alone writes, such as the
 * embedded database: `layerSql` with the records kept in memory, so that reads cost no statement).
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
import { Context, DateTime, Effect, Exit, Layer, Option, Ref, Schema, Semaphore } from "effect"
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
// a write-through cache, for a database that only this process writes

/** Inserts or replaces `channel` in a tenant's list (oldest first): a new array, the old one is left as it was. */
const withChannel = (list: ReadonlyArray<Channel.Channel>, channel: Channel.Channel): Array<Channel.Channel> => {
  const others = list.filter((other) => other.id !== channel.id)
  const at = others.findIndex((other) => oldestFirst(channel, other) < 0)
  return at === -1 ? [...others, channel] : [...others.slice(0, at), channel, ...others.slice(at)]
}

/**
 * `base` with its records kept in memory: each channel read once (by id, or with its tenant's list) is served from
 * memory after, and every write goes to the database first and then to memory. Correct only when every write of
 * the database's channels goes through this one `base` (the embedded database: its data directory is locked to one
 * process); with other writers, use `base` as it is.
 *
 * Writes are one at a time; a read that overlaps a write is answered from the database and not remembered (it may
 * have read what was there before the write), and a write that fails or is interrupted forgets everything (it may
 * have been written). Absent ids are not remembered: the memory holds only channels that exist. `countByStatus`
 * of every tenant is not cached (the metrics' export reads it, rarely).
 */
const makeCached = (base: ChannelRepository["Service"]): Effect.Effect<ChannelRepository["Service"]> =>
  Effect.gen(function*() {
    const writes = yield* Semaphore.make(1)
    /** The records read or written. Every channel of a list in `byTenant` is here. */
    const byId = new Map<string, Channel.Channel>()
    /** Tenants' whole lists, oldest first (never changed in place: replaced). */
    const byTenant = new Map<string, ReadonlyArray<Channel.Channel>>()
    /** Moves at the start and at the end of each write. */
    let generation = 0
    let writing = false

    /** `read`, its result remembered by `remember` only if no write overlapped it. */
    const reading = <A, E>(read: Effect.Effect<A, E>, remember: (a: A) => void): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const started = generation
        return Effect.tap(read, (a) =>
          Effect.sync(() => {
            if (!writing && generation === started) remember(a)
          }))
      })

    const write = <A>(effect: Effect.Effect<A>, apply: (a: A) => void): Effect.Effect<A> =>
      writes.withPermits(1)(Effect.suspend(() => {
        writing = true
        generation++
        return effect.pipe(Effect.onExit((exit) =>
          Effect.sync(() => {
            writing = false
            generation++
            if (Exit.isSuccess(exit)) {
              apply(exit.value)
            } else {
              byId.clear()
              byTenant.clear()
            }
          })
        ))
      }))

    /** The channel leaves memory: by id, and from its tenant's list. */
    const forget = (channelId: string) => {
      const previous = byId.get(channelId)
      if (previous === undefined) return
      byId.delete(channelId)
      const list = byTenant.get(previous.tenantId)
      if (list !== undefined) byTenant.set(previous.tenantId, list.filter((channel) => channel.id !== channelId))
    }

    /** The tenant's whole list, oldest first: from memory, or read once. */
    const tenantList = (tenantId: Ids.TenantId): Effect.Effect<ReadonlyArray<Channel.Channel>> =>
      Effect.suspend(() => {
        const cached = byTenant.get(tenantId)
        return cached !== undefined ? Effect.succeed(cached) : reading(base.list(tenantId), (list) => {
          byTenant.set(tenantId, list)
          for (const channel of list) byId.set(channel.id, channel)
        })
      })

    return {
      put: (channel) =>
        write(base.put(channel), (stored) => {
          forget(stored.id)
          byId.set(stored.id, stored)
          const list = byTenant.get(stored.tenantId)
          if (list !== undefined) byTenant.set(stored.tenantId, withChannel(list, stored))
        }),
      get: (channelId) =>
        Effect.suspend(() => {
          const cached = byId.get(channelId)
          return cached !== undefined
            ? Effect.succeed(cached)
            : reading(base.get(channelId), (channel) => byId.set(channel.id, channel))
        }),
      list: tenantList,
      page: (query) =>
        Effect.map(tenantList(query.tenantId), (list) => {
          const after = query.after
          const matching: Array<Channel.Channel> = []
          for (const channel of list) {
            if (matching.length > query.limit) break
            if (query.status !== undefined && channel.status !== query.status) continue
            if (after !== undefined && !isAfter(after)(channel)) continue
            matching.push(channel)
          }
          return pageOf(matching, query.limit)
        }),
      remove: (channelId) => write(base.remove(channelId), () => forget(channelId)),
      countByStatus: (tenantId) =>
        tenantId === undefined ? base.countByStatus() : Effect.map(tenantList(tenantId), (list) => {
          const counts = noChannels()
          for (const channel of list) counts[channel.status] += 1
          return counts
        })
    }
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

  /**
   * `layerSql` for a database that this process alone writes, such as the embedded one (its data directory is
   * locked to one process): the records are also kept in memory, written through, so that reading a channel, a
   * tenant's list or a page of it costs no statement once the channel (or the tenant's list) has been read. Every
   * channel record of the database must be written through this layer (the channel entities, the facade's
   * deletion): a record written by anything else may not be seen. On a database that other processes write, use
   * `layerSql`.
   *
   * @category layers
   */
  static readonly layerSqlExclusive: Layer.Layer<ChannelRepository, never, SqlClient.SqlClient> = Layer.effect(
    ChannelRepository,
    Effect.flatMap(makeSql, makeCached)
  )
}
