/**
 * Where video records live: each video with its status, current stage and stage records. The pipeline writes
 * them as stages finish; readers list, get and watch them (a stream of the video as it changes, ending when
 * it is final).
 *
 * Two layers with the same behaviour: `layerMemory` (nothing survives the layer) and `layerSql` (Postgres,
 * shared by every process on the database, watchable from any of them).
 *
 * **Errors**: storage failures (an unreachable database, a failed statement, a stored record that no longer
 * decodes) are defects, not typed errors: the interface names only what a caller can act on (`VideoNotFound`).
 * See `ChannelRepository` for why this differs from the budget ledger's `LedgerUnavailable`. Each operation is
 * one statement or one transaction, so a failure leaves nothing half-written.
 *
 * **Gotchas**
 * - `watch` on `layerSql` reports the video as it is after changes, not each change: changes that land while a
 *   watcher is still re-reading the previous one are seen together, as their result. The final state is always
 *   reported, and a state is never reported twice or out of order. (`layerMemory` reports every change.)
 * - `update` may run `change` more than once (on `layerSql`, again when another writer got in between): keep it a
 *   pure, quick function. A `change` that returns the video it was given writes nothing.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Budget, Ids, Money, Stage, Video } from "@ytempire/domain"
import { Context, DateTime, Effect, Layer, Option, PubSub, Queue, Ref, Schedule, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"
import * as Migrations from "./internal/migrations.ts"

/**
 * Which videos to list.
 *
 * @category models
 */
export interface VideoFilter {
  readonly tenantId?: Ids.TenantId | undefined
  readonly channelId?: Ids.ChannelId | undefined
  readonly status?: Video.VideoStatus | undefined
}

/**
 * Where a video stands in the newest-first order: its request instant (epoch milliseconds) and its place in the
 * order of insertion (a number that grows with each video stored; meaningful only to the store that gave it).
 *
 * @category models
 */
export const VideoPosition = Schema.Struct({ requestedAt: Schema.Int, seq: Schema.Int })
/** @category models */
export type VideoPosition = typeof VideoPosition.Type

/**
 * Which videos to list, from where, and how many.
 *
 * @category models
 */
export interface VideoPageQuery extends VideoFilter {
  /** Only videos after this position in the newest-first order (exclusive); from the newest when absent. */
  readonly after?: VideoPosition | undefined
  /** At most this many videos. */
  readonly limit: number
}

/**
 * A page of videos, and the position of its last one when more follow.
 *
 * @category models
 */
export interface VideoPageResult {
  readonly videos: ReadonlyArray<Video.Video>
  readonly next: Option.Option<VideoPosition>
}

/**
 * How many of a tenant's videos are in each status.
 *
 * @category models
 */
export type VideoStatusCounts = Readonly<Record<Video.VideoStatus, number>>

/**
 * Whose costs to sum: a tenant's (or one of its channels') videos requested in `[from, until)`.
 *
 * @category models
 */
export interface CostQuery {
  readonly tenantId: Ids.TenantId
  readonly channelId?: Ids.ChannelId | undefined
  readonly from: DateTime.Utc
  readonly until: DateTime.Utc
}

/**
 * What the chosen videos' stage records add up to: per channel (the videos that cost anything, and their total
 * cost), ordered by channel id, and per stage (every stage, in pipeline order).
 *
 * @category models
 */
export interface CostSummary {
  readonly byChannel: ReadonlyArray<Budget.ChannelCost>
  readonly byStage: ReadonlyArray<Budget.StageCost>
}

const noVideos = (): Record<Video.VideoStatus, number> => ({
  queued: 0,
  running: 0,
  completed: 0,
  failed: 0,
  cancelled: 0
})

/** The summary of per-channel and per-stage totals, as `CostSummary` orders them. */
const summaryOf = (
  channels: ReadonlyMap<string, { readonly videos: number; readonly total: Money.Money }>,
  stages: ReadonlyMap<string, Money.Money>
): CostSummary => ({
  byChannel: [...channels.entries()]
    .filter(([, { videos }]) => videos > 0)
    .toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([channelId, { total, videos }]) =>
      new Budget.ChannelCost({ channelId: Ids.ChannelId.make(channelId), videos, total })
    ),
  byStage: Stage.all.map((stage) => new Budget.StageCost({ stage, total: stages.get(stage) ?? Money.zero }))
})

/**
 * The Postgres notification channel on which `layerSql` announces every change of a video, in the transaction
 * that makes it; the payload is the video's id.
 *
 * @category constants
 */
export const changesChannel = "ytempire_video_changes"

/** Newest request first, by `requestedAt`. (The sort is stable: callers order ties beforehand.) */
const newestFirst = (a: Video.Video, b: Video.Video): number => DateTime.Order(b.requestedAt, a.requestedAt)

const matches = (filter: VideoFilter) => (video: Video.Video): boolean =>
  (filter.tenantId === undefined || video.tenantId === filter.tenantId) &&
  (filter.channelId === undefined || video.channelId === filter.channelId) &&
  (filter.status === undefined || video.status === filter.status)

const isFinalVideo = (video: Video.Video): boolean => Video.isFinal(video.status)

// ---------------------------------------------------------------------------------------------------------------
// memory

const makeMemory: Effect.Effect<VideoRepository["Service"]> = Effect.gen(function*() {
  // One Map, changed in place inside each synchronous Ref update: copying it per write made 10,000 writes
  // quadratic in time and garbage.
  const videos = yield* Ref.make(new Map<string, Video.Video>())
  // Each video's place in the order of insertion, for the keyset of `page` (as the SQL table's `seq`).
  const sequence = new Map<string, number>()
  let inserted = 0
  const changes = yield* PubSub.unbounded<Video.Video>()

  const get = (videoId: Ids.VideoId) =>
    Ref.get(videos).pipe(
      Effect.flatMap((map) => {
        const video = map.get(videoId)
        return video === undefined ? Effect.fail(new Video.VideoNotFound({ videoId })) : Effect.succeed(video)
      })
    )

  const insert = (video: Video.Video) =>
    Ref.modify(videos, (map): [Option.Option<Video.Video>, Map<string, Video.Video>] => {
      const existing = map.get(video.id)
      if (existing !== undefined) return [Option.some(existing), map]
      sequence.set(video.id, ++inserted)
      return [Option.none(), map.set(video.id, video)]
    }).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.as(PubSub.publish(changes, video), video),
        onSome: Effect.succeed
      }))
    )

  const update = (videoId: Ids.VideoId, change: (video: Video.Video) => Video.Video) =>
    Ref.modify(videos, (map): [
      Option.Option<{ readonly video: Video.Video; readonly changed: boolean }>,
      Map<string, Video.Video>
    ] => {
      const existing = map.get(videoId)
      if (existing === undefined) return [Option.none(), map]
      const next = change(existing)
      return [Option.some({ video: next, changed: next !== existing }), map.set(videoId, next)]
    }).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new Video.VideoNotFound({ videoId })),
        onSome: ({ changed, video }) =>
          changed ? Effect.as(PubSub.publish(changes, video), video) : Effect.succeed(video)
      }))
    )

  const list = (filter: VideoFilter) =>
    Ref.get(videos).pipe(
      // A map iterates in insertion order: reversed, requests made at the same instant come latest first.
      Effect.map((map) => [...map.values()].filter(matches(filter)).toReversed().toSorted(newestFirst))
    )

  const positionOf = (video: Video.Video): VideoPosition => ({
    requestedAt: DateTime.toEpochMillis(video.requestedAt),
    seq: sequence.get(video.id) ?? 0
  })

  const page = (query: VideoPageQuery) =>
    Ref.get(videos).pipe(
      Effect.map((map): VideoPageResult => {
        const after = query.after
        const chosen: Array<{ readonly video: Video.Video; readonly position: VideoPosition }> = []
        for (const video of map.values()) {
          if (!matches(query)(video)) continue
          const position = positionOf(video)
          if (
            after !== undefined &&
            !(position.requestedAt < after.requestedAt ||
              (position.requestedAt === after.requestedAt && position.seq < after.seq))
          ) continue
          chosen.push({ video, position })
        }
        chosen.sort((a, b) => b.position.requestedAt - a.position.requestedAt || b.position.seq - a.position.seq)
        const items = chosen.slice(0, query.limit)
        const last = items.at(-1)
        return {
          videos: items.map((item) => item.video),
          next: chosen.length > query.limit && last !== undefined ? Option.some(last.position) : Option.none()
        }
      })
    )

  const countByStatus = (tenantId: Ids.TenantId) =>
    Ref.get(videos).pipe(Effect.map((map) => {
      const counts = noVideos()
      for (const video of map.values()) if (video.tenantId === tenantId) counts[video.status] += 1
      return counts
    }))

  const costs = (query: CostQuery) =>
    Ref.get(videos).pipe(Effect.map((map) => {
      const channels = new Map<string, { videos: number; total: Money.Money }>()
      const stages = new Map<string, Money.Money>()
      for (const video of map.values()) {
        if (
          video.tenantId !== query.tenantId ||
          (query.channelId !== undefined && video.channelId !== query.channelId) ||
          DateTime.isLessThan(video.requestedAt, query.from) ||
          !DateTime.isLessThan(video.requestedAt, query.until)
        ) continue
        if (video.totalCost > 0) {
          const channel = channels.get(video.channelId) ?? { videos: 0, total: Money.zero }
          channels.set(video.channelId, {
            videos: channel.videos + 1,
            total: Money.add(channel.total, video.totalCost)
          })
        }
        for (const record of video.stages) {
          stages.set(record.stage, Money.add(stages.get(record.stage) ?? Money.zero, record.cost))
        }
      }
      return summaryOf(channels, stages)
    }))

  const watch = (videoId: Ids.VideoId): Stream.Stream<Video.Video, Video.VideoNotFound> =>
    Stream.unwrap(Effect.gen(function*() {
      // Subscribe before reading, so that no change between the read and the subscription is missed.
      const subscription = yield* PubSub.subscribe(changes)
      const current = yield* get(videoId)
      const later = Stream.fromSubscription(subscription).pipe(
        Stream.filter((video) => video.id === videoId)
      )
      return Stream.concat(Stream.make(current), later).pipe(Stream.takeUntil(isFinalVideo))
    }))

  return { insert, get, update, list, page, countByStatus, costs, watch }
})

// ---------------------------------------------------------------------------------------------------------------
// SQL

/** A video as stored, with the count of writes of its row. */
interface Stored {
  readonly video: Video.Video
  readonly version: number
}

interface VideoRow {
  readonly record: unknown
  readonly version: bigint | number | string
}

/** What watchers are told: a video id that changed, or `resync` when changes may have gone unannounced. */
const resync: unique symbol = Symbol.for("@ytempire/runtime/VideoRepository/resync")
type Signal = string | typeof resync

/** How many videos' last seen versions a process keeps (a few hundred bytes each). */
const lastSeenBound = 4096

/** How often watchers re-read their video when no `PgClient` is there to listen with. */
const pollInterval = "250 millis"
/** How soon a lost `LISTEN` connection is opened again; watchers re-read at each attempt meanwhile. */
const relistenInterval = "1 second"

const encodeVideo = Schema.encodeEffect(Video.Video)
const decodeVideo = Schema.decodeUnknownEffect(Video.Video)

/** A video's record as JSON text, for a `jsonb` parameter. */
const recordOf = (video: Video.Video): Effect.Effect<string> =>
  Effect.orDie(Effect.map(encodeVideo(video), (encoded) => JSON.stringify(encoded)))

/** The columns copied from a video's record, which queries filter and sort on. */
const columns = (video: Video.Video) => ({
  tenantId: video.tenantId,
  channelId: video.channelId,
  status: video.status,
  requestedAt: DateTime.toDateUtc(video.requestedAt),
  updatedAt: DateTime.toDateUtc(video.updatedAt)
})

const toStored = (row: VideoRow): Effect.Effect<Stored> =>
  Effect.map(Effect.orDie(decodeVideo(row.record)), (video) => ({ video, version: Number(row.version) }))

/**
 * Forwards the notifications of `changesChannel` to `signals`, for as long as the layer lives. Each time the
 * `LISTEN` is (re-)established, and each time it fails, watchers are told to re-read (`resync`): a change
 * committed while nobody listened was announced to nobody.
 */
const forwardNotifications = (pg: PgClient.PgClient, signals: PubSub.PubSub<Signal>): Effect.Effect<never> =>
  Effect.scoped(Effect.gen(function*() {
    const notifications = yield* pg.listen(changesChannel)
    yield* PubSub.publish(signals, resync)
    return yield* Effect.forever(
      Effect.flatMap(
        Queue.takeAll(notifications),
        (batch) => PubSub.publishAll(signals, new Set(batch.map((notification) => notification.payload)))
      )
    )
  })).pipe(
    Effect.tapError((error: SqlError.SqlError) =>
      Effect.andThen(
        Effect.logWarning("VideoRepository: listening for video changes failed; listening again", error),
        PubSub.publish(signals, resync)
      )
    ),
    Effect.retry(Schedule.spaced(relistenInterval)),
    Effect.orDie
  )

const makeSql: Effect.Effect<VideoRepository["Service"], never, SqlClient.SqlClient | Scope.Scope> = Effect.gen(
  function*() {
    yield* Effect.orDie(Migrations.run)
    // Column names are ours: keep them whatever name transforms the application's client is configured with.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const pg = yield* Effect.serviceOption(PgClient.PgClient)
    const signals = yield* PubSub.unbounded<Signal>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(signals))
    if (Option.isSome(pg)) {
      yield* Effect.forkScoped(forwardNotifications(pg.value, signals))
    } else {
      yield* Effect.forkScoped(
        Effect.repeat(PubSub.publish(signals, resync), Schedule.spaced(pollInterval))
      )
    }
    // Without LISTEN, this process's own changes are announced to its watchers directly.
    const announce = (videoId: Ids.VideoId) => Option.isSome(pg) ? Effect.void : PubSub.publish(signals, videoId)

    // The last version of each video this process read or wrote, so that an update right after (the pipeline
    // reads a video, runs a stage, records it) can write without reading again. Only a guess: the write checks
    // the version, and reads again when another writer got in between. Final videos leave it; so does the
    // oldest entry past the bound.
    const lastSeen = new Map<string, Stored>()
    const remember = (videoId: string, stored: Stored) => {
      lastSeen.delete(videoId)
      if (isFinalVideo(stored.video)) return
      lastSeen.set(videoId, stored)
      if (lastSeen.size > lastSeenBound) lastSeen.delete(lastSeen.keys().next().value!)
    }

    const read = (videoId: string): Effect.Effect<Option.Option<Stored>> =>
      sql<VideoRow>`SELECT record, version FROM videos WHERE id = ${videoId}`.pipe(
        Effect.orDie,
        Effect.flatMap((rows) => rows[0] === undefined ? Effect.succeedNone : Effect.asSome(toStored(rows[0]))),
        Effect.tap(Option.match({
          onNone: () => Effect.sync(() => lastSeen.delete(videoId)),
          onSome: (stored) => Effect.sync(() => remember(videoId, stored))
        }))
      )

    const insert = Effect.fn("VideoRepository.insert")(function*(video: Video.Video) {
      const record = yield* recordOf(video)
      const c = columns(video)
      const inserted = yield* sql`
        INSERT INTO videos (id, tenant_id, channel_id, status, record, requested_at, updated_at)
        VALUES (${video.id}, ${c.tenantId}, ${c.channelId}, ${c.status}, ${record}::jsonb, ${c.requestedAt}, ${c.updatedAt})
        ON CONFLICT (id) DO NOTHING
        RETURNING id
      `.pipe(Effect.orDie)
      if (inserted.length > 0) {
        remember(video.id, { video, version: 1 })
        return video
      }
      // Its id was taken: by a committed row, since a conflicting insert in flight makes this one wait for it.
      const existing = yield* read(video.id)
      if (Option.isNone(existing)) return yield* Effect.die(new Error(`VideoRepository: video ${video.id} vanished`))
      return existing.value.video
    })

    const get = Effect.fn("VideoRepository.get")(function*(videoId: Ids.VideoId) {
      const found = yield* read(videoId)
      if (Option.isNone(found)) return yield* new Video.VideoNotFound({ videoId })
      return found.value.video
    })

    /**
     * Optimistic: read the row, apply `change`, and write it back only if nobody wrote it in between (its
     * version is unchanged); otherwise apply `change` again to what they wrote. Two statements and no lock
     * held between them, where a locking transaction takes five round trips and makes writers wait.
     */
    const update = Effect.fn("VideoRepository.update")(function*(
      videoId: Ids.VideoId,
      change: (video: Video.Video) => Video.Video
    ) {
      let guess = Option.fromUndefinedOr(lastSeen.get(videoId))
      for (;;) {
        const guessed = Option.isSome(guess)
        const found = guessed ? guess : yield* read(videoId)
        guess = Option.none()
        if (Option.isNone(found)) return yield* new Video.VideoNotFound({ videoId })
        const { version, video } = found.value
        const next = change(video)
        // An unchanged video is not written: nothing to store, nobody to tell. (A guess is only good for a write,
        // which checks it: read what is there before answering with it.)
        if (next === video) {
          if (guessed) continue
          return video
        }
        const record = yield* recordOf(next)
        const c = columns(next)
        const written = yield* sql`
          WITH written AS (
            UPDATE videos SET
              tenant_id = ${c.tenantId},
              channel_id = ${c.channelId},
              status = ${c.status},
              record = ${record}::jsonb,
              version = version + 1,
              requested_at = ${c.requestedAt},
              updated_at = ${c.updatedAt}
            WHERE id = ${videoId} AND version = ${version}
            RETURNING id
          )
          SELECT pg_notify(${changesChannel}, id) FROM written
        `.pipe(Effect.orDie)
        if (written.length > 0) {
          remember(videoId, { video: next, version: version + 1 })
          yield* announce(videoId)
          return next
        }
      }
    })

    /**
     * The video of a row that a query returned with its id: the one decoded before when `lastSeen` holds it at the
     * row's version (a version is written once, so the record is the same), else decoded. A channel's queue is
     * listed at each request and each finished video, and decoding its records was most of a list's cost.
     */
    const videoOf = (row: VideoRow & { readonly id: string }): Effect.Effect<Video.Video> => {
      const known = lastSeen.get(row.id)
      return known !== undefined && known.version === Number(row.version)
        ? Effect.succeed(known.video)
        : Effect.map(toStored(row), (stored) => stored.video)
    }

    const list = Effect.fn("VideoRepository.list")(function*(filter: VideoFilter) {
      const rows = yield* sql<VideoRow & { readonly id: string }>`
        SELECT id, record, version FROM videos
        WHERE ${
        sql.and([
          ...(filter.tenantId === undefined ? [] : [sql`tenant_id = ${filter.tenantId}`]),
          ...(filter.channelId === undefined ? [] : [sql`channel_id = ${filter.channelId}`]),
          ...(filter.status === undefined ? [] : [sql`status = ${filter.status}`])
        ])
      }
        ORDER BY requested_at DESC, seq DESC
      `.pipe(Effect.orDie)
      return yield* Effect.forEach(rows, videoOf)
    })

    const page = Effect.fn("VideoRepository.page")(function*(query: VideoPageQuery) {
      const after = query.after
      // Keyset pagination on (requested_at, seq), which the indexes by tenant, channel and status end with.
      const rows = yield* sql<VideoRow & { readonly id: string; readonly seq: bigint | number | string }>`
        SELECT id, record, version, seq FROM videos
        WHERE ${
        sql.and([
          ...(query.tenantId === undefined ? [] : [sql`tenant_id = ${query.tenantId}`]),
          ...(query.channelId === undefined ? [] : [sql`channel_id = ${query.channelId}`]),
          ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
          ...(after === undefined ? [] : [sql`(requested_at, seq) < (${new Date(after.requestedAt)}, ${after.seq})`])
        ])
      }
        ORDER BY requested_at DESC, seq DESC
        LIMIT ${query.limit + 1}
      `.pipe(Effect.orDie)
      const items = yield* Effect.forEach(
        rows.slice(0, query.limit),
        (row) => Effect.map(videoOf(row), (video) => ({ video, seq: Number(row.seq) }))
      )
      const last = items.at(-1)
      return {
        videos: items.map((item) => item.video),
        next: rows.length > query.limit && last !== undefined
          ? Option.some({ requestedAt: DateTime.toEpochMillis(last.video.requestedAt), seq: last.seq })
          : Option.none()
      }
    })

    const countByStatus = Effect.fn("VideoRepository.countByStatus")(function*(tenantId: Ids.TenantId) {
      const rows = yield* sql<{ readonly status: string; readonly n: number }>`
        SELECT status, count(*)::int AS n FROM videos WHERE tenant_id = ${tenantId} GROUP BY status
      `.pipe(Effect.orDie)
      const counts = noVideos()
      for (const row of rows) if (row.status in counts) counts[row.status as Video.VideoStatus] = Number(row.n)
      return counts
    })

    const costs = Effect.fn("VideoRepository.costs")(function*(query: CostQuery) {
      // Money is stored in the records as decimal dollars with at most six decimals: × 10⁶ is exact.
      const rows = yield* sql<{
        readonly kind: "channel" | "stage"
        readonly key: string
        readonly videos: number
        readonly micros: bigint | number | string
      }>`
        WITH chosen AS (
          SELECT channel_id, record FROM videos
          WHERE ${
        sql.and([
          sql`tenant_id = ${query.tenantId}`,
          ...(query.channelId === undefined ? [] : [sql`channel_id = ${query.channelId}`]),
          sql`requested_at >= ${DateTime.toDateUtc(query.from)}`,
          sql`requested_at < ${DateTime.toDateUtc(query.until)}`
        ])
      }
        )
        SELECT 'channel' AS kind, channel_id AS key, count(*)::int AS videos,
          sum(round((record->>'totalCost')::numeric * 1000000))::bigint AS micros
        FROM chosen
        WHERE (record->>'totalCost')::numeric > 0
        GROUP BY channel_id
        UNION ALL
        SELECT 'stage' AS kind, stage->>'stage' AS key, 0 AS videos,
          sum(round((stage->>'cost')::numeric * 1000000))::bigint AS micros
        FROM chosen, jsonb_array_elements(chosen.record->'stages') AS stage
        GROUP BY stage->>'stage'
      `.pipe(Effect.orDie)
      const channels = new Map<string, { videos: number; total: Money.Money }>()
      const stages = new Map<string, Money.Money>()
      for (const row of rows) {
        const total = Money.fromMicros(Number(row.micros))
        if (row.kind === "channel") channels.set(row.key, { videos: Number(row.videos), total })
        else stages.set(row.key, total)
      }
      return summaryOf(channels, stages)
    })

    const watch = (videoId: Ids.VideoId): Stream.Stream<Video.Video, Video.VideoNotFound> =>
      Stream.unwrap(Effect.gen(function*() {
        // Subscribe before reading: a change committed after the read is announced to this subscription.
        const subscription = yield* PubSub.subscribe(signals)
        const first = yield* read(videoId)
        if (Option.isNone(first)) return yield* new Video.VideoNotFound({ videoId })
        let seen = first.value.version
        // The next state of the video: waits for a signal that concerns it (all the signals queued meanwhile
        // count as one), re-reads the row, and skips a version already reported.
        const nextState = Effect.gen(function*() {
          for (;;) {
            const batch = yield* PubSub.takeAll(subscription)
            if (!batch.some((signal) => signal === resync || signal === videoId)) continue
            const found = yield* read(videoId)
            if (Option.isSome(found) && found.value.version > seen) {
              seen = found.value.version
              return found.value.video
            }
          }
        })
        return Stream.concat(Stream.make(first.value.video), Stream.fromEffectRepeat(nextState)).pipe(
          Stream.takeUntil(isFinalVideo)
        )
      }))

    return { insert, get, update, list, page, countByStatus, costs, watch }
  }
)

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * The video records.
 *
 * @category services
 */
export class VideoRepository extends Context.Service<VideoRepository, {
  /** Stores a new video; when one with its id exists, returns that one unchanged (a request is idempotent). */
  readonly insert: (video: Video.Video) => Effect.Effect<Video.Video>
  /** The video with this id. */
  readonly get: (videoId: Ids.VideoId) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /**
   * Applies `change` to the stored video, atomically, and returns the result. `change` may run more than once;
   * when it returns the video it was given, nothing is written.
   */
  readonly update: (
    videoId: Ids.VideoId,
    change: (video: Video.Video) => Video.Video
  ) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /**
   * The videos matching the filter, newest request first: by `requestedAt`, and requests of the same instant
   * in the reverse order of their insertion (so the reversed list is the order the requests came in).
   */
  readonly list: (filter: VideoFilter) => Effect.Effect<ReadonlyArray<Video.Video>>
  /**
   * One page of the videos matching the filter, in `list`'s order, after a position: keyset pagination on
   * (request instant, insertion order), so that walking the pages returns every matching video that exists
   * throughout exactly once, also while new videos are stored (they come before the positions already passed).
   */
  readonly page: (query: VideoPageQuery) => Effect.Effect<VideoPageResult>
  /** How many of the tenant's videos are in each status (one grouped query). */
  readonly countByStatus: (tenantId: Ids.TenantId) => Effect.Effect<VideoStatusCounts>
  /**
   * What the stage records of a tenant's videos requested in a range add up to, per channel and per stage
   * (aggregated by the database on `layerSql`).
   */
  readonly costs: (query: CostQuery) => Effect.Effect<CostSummary>
  /** The video now and after every change, ending after a final status. */
  readonly watch: (videoId: Ids.VideoId) => Stream.Stream<Video.Video, Video.VideoNotFound>
}>()("@ytempire/runtime/VideoRepository") {
  /**
   * Records in memory, for tests and the in-memory mode.
   *
   * @category layers
   */
  static readonly layerMemory: Layer.Layer<VideoRepository> = Layer.effect(VideoRepository, makeMemory)

  /**
   * Records in Postgres (table `videos`), shared by every process on the database. Building the layer applies
   * the runtime's pending migrations (recorded in `ytempire_migrations`; safe when several layers or processes
   * build at once). Storage failures are defects (see the module's notes).
   *
   * **Watching across processes**: every `update` sends `NOTIFY ytempire_video_changes, '<video id>'` in its
   * transaction. When the context also holds a `PgClient` (as `PgClient.layer` provides, beside the `SqlClient`:
   * it must be on the same database), the layer keeps one of its connections `LISTEN`ing to that channel, to wake
   * this process's watchers, which then re-read their video's row; so a watcher sees changes made by any process. Without a `PgClient` (another Postgres driver), watchers
   * re-read every 250 ms instead. A lost `LISTEN` connection is opened again every second, and watchers re-read
   * at each attempt, so no change goes unseen meanwhile.
   *
   * @category layers
   */
  static readonly layerSql: Layer.Layer<VideoRepository, never, SqlClient.SqlClient> = Layer.effect(
    VideoRepository,
    makeSql
  )
}
