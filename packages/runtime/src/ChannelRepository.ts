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
import { Context, DateTime, Effect, Layer, Ref, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Migrations from "./internal/migrations.ts"

/** Oldest first: by `createdAt`, then id. */
const oldestFirst = (a: Channel.Channel, b: Channel.Channel): number =>
  DateTime.Order(a.createdAt, b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

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

  return { put, get, list }
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
      return ChannelRepository.of({
        put: (channel) => Ref.update(channels, (map) => map.set(channel.id, channel)).pipe(Effect.as(channel)),
        get: (channelId) =>
          Ref.get(channels).pipe(Effect.flatMap((map) => {
            const channel = map.get(channelId)
            return channel === undefined
              ? Effect.fail(new Channel.ChannelNotFound({ channelId }))
              : Effect.succeed(channel)
          })),
        list: (tenantId) =>
          Ref.get(channels).pipe(
            Effect.map((map) =>
              [...map.values()].filter((channel) => channel.tenantId === tenantId).toSorted(oldestFirst)
            )
          )
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
