import { PgClient } from "@effect/sql-pg"
import { assert, describe, expect, layer as suiteLayer } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import { Channel, Ids, Money, Stage, Video } from "@ytempire/domain"
import { BudgetLedger, ChannelRepository, VideoRepository } from "@ytempire/runtime"
import { Context, DateTime, Effect, Exit, Fiber, Layer, Queue, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as PgTest from "./utils/PgTest.ts"

// ---------------------------------------------------------------------------------------------------------------
// helpers

// The SQL suite shares one database across its tests (and "restarts"), so every test makes ids of its own.
let counter = 0
const unique = (label: string): string => `${label}-${++counter}`

const at = (iso: string): DateTime.Utc => DateTime.makeUnsafe(iso)
const range = (count: number): ReadonlyArray<number> => Array.from({ length: count }, (_, i) => i)

const newVideo = (options: {
  readonly id?: string
  readonly tenant?: string
  readonly channel?: string
  readonly status?: Video.VideoStatus
  readonly requestedAt?: string
  readonly topic?: string
} = {}): Video.Video => {
  const requestedAt = at(options.requestedAt ?? "2026-11-22T09:00:00Z")
  return new Video.Video({
    id: Ids.VideoId.make(options.id ?? unique("video")),
    tenantId: Ids.TenantId.make(options.tenant ?? "acme"),
    channelId: Ids.ChannelId.make(options.channel ?? "tech"),
    topic: options.topic ?? "Five phones under $300",
    status: options.status ?? "queued",
    stages: [],
    totalCost: Money.zero,
    requestedAt,
    updatedAt: requestedAt
  })
}

/** A video with every optional part filled in, to check that storage keeps all of it. */
const fullVideo = (): Video.Video => {
  const video = newVideo({ status: "failed" })
  const startedAt = at("2026-11-22T09:00:01Z")
  const endedAt = at("2026-11-22T09:00:05.250Z")
  const error = new Video.RecordedError({ tag: "StageFailed", message: "every provider failed", retryable: false })
  return new Video.Video({
    ...video,
    currentStage: "voice",
    stages: [
      new Video.StageRecord({
        stage: "script",
        status: "completed",
        provider: "gpt-4",
        tier: "premium",
        attempts: [
          new Video.ProviderAttempt({
            provider: "gpt-4",
            tier: "premium",
            attempt: 1,
            outcome: "succeeded",
            startedAt,
            endedAt
          })
        ],
        estimated: Money.fromMicros(150_000),
        cost: Money.fromMicros(120_000),
        startedAt,
        endedAt,
        artifact: new Video.ArtifactRef({
          path: "artifacts/ab/abc.txt",
          sha256: "a".repeat(64),
          bytes: 1234,
          mediaType: "text/plain"
        })
      }),
      new Video.StageRecord({
        stage: "voice",
        status: "failed",
        attempts: [
          new Video.ProviderAttempt({
            provider: "google-tts",
            tier: "standard",
            attempt: 2,
            outcome: "timed-out",
            startedAt,
            endedAt,
            error,
            fallbackReason: "soft budget control"
          })
        ],
        cost: Money.zero
      })
    ],
    totalCost: Money.fromMicros(120_000),
    error,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    updatedAt: endedAt,
    completedAt: endedAt
  })
}

const encodeVideo = Schema.encodeSync(Video.Video)
const encodeChannel = Schema.encodeSync(Channel.Channel)

const newChannel = (options: {
  readonly tenant: string
  readonly createdAt: string
  readonly id?: string
  readonly name?: string
}): Channel.Channel =>
  new Channel.Channel({
    id: Ids.ChannelId.make(options.id ?? unique("channel")),
    tenantId: Ids.TenantId.make(options.tenant),
    name: options.name ?? "Tech Daily",
    niche: "technology",
    language: "en",
    style: "upbeat explainer",
    status: "active",
    createdAt: at(options.createdAt),
    updatedAt: at(options.createdAt)
  })

const withStatus = (status: Video.VideoStatus) => (video: Video.Video): Video.Video =>
  new Video.Video({ ...video, status })

/** One more micro-dollar of cost, and `mark` appended to the topic. */
const bump = (mark: string) => (video: Video.Video): Video.Video =>
  new Video.Video({
    ...video,
    topic: `${video.topic}|${mark}`,
    totalCost: Money.add(video.totalCost, Money.fromMicros(1))
  })

const withStage = (stage: Stage.Stage) => (video: Video.Video): Video.Video =>
  new Video.Video({
    ...video,
    status: "running",
    currentStage: stage,
    stages: [...video.stages, new Video.StageRecord({ stage, status: "running", attempts: [], cost: Money.zero })]
  })

const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  return reason?._tag === "Fail" ? reason.error : reason
}

/** A watch running in the background, its states arriving in `states`. */
interface Watcher {
  readonly states: Queue.Queue<Video.Video>
  readonly fiber: Fiber.Fiber<void, Video.VideoNotFound>
}

const startWatching = (
  videos: VideoRepository.VideoRepository["Service"],
  videoId: Ids.VideoId
): Effect.Effect<Watcher, never, Scope.Scope> =>
  Effect.gen(function*() {
    const states = yield* Queue.unbounded<Video.Video>()
    const fiber = yield* videos.watch(videoId).pipe(
      Stream.runForEach((video) => Queue.offer(states, video)),
      Effect.forkScoped
    )
    return { states, fiber }
  })

/** The watcher's next state; fails the test when none comes within 3 seconds. */
const nextState = (watcher: Watcher) => Queue.take(watcher.states).pipe(Effect.timeout("3 seconds"))

/** Waits for the watch to end (within 3 seconds) and returns the states it reported that were not taken yet. */
const remaining = Effect.fnUntraced(function*(watcher: Watcher) {
  yield* Fiber.join(watcher.fiber).pipe(Effect.timeout("3 seconds"))
  const rest: Array<Video.Video> = []
  for (;;) {
    const size = yield* Queue.size(watcher.states)
    if (size === 0) return rest
    rest.push(yield* Queue.take(watcher.states))
  }
})

/** Update, then check that the watcher reports exactly the updated video. */
const updateAndSee = Effect.fnUntraced(function*(
  watcher: Watcher,
  writer: VideoRepository.VideoRepository["Service"],
  videoId: Ids.VideoId,
  change: (video: Video.Video) => Video.Video
) {
  const updated = yield* writer.update(videoId, change)
  assert.deepStrictEqual(encodeVideo(yield* nextState(watcher)), encodeVideo(updated))
  return updated
})

type Repositories = VideoRepository.VideoRepository | ChannelRepository.ChannelRepository

// ---------------------------------------------------------------------------------------------------------------
// the behaviour both layers share

const suite = <R>(
  name: string,
  layer: Layer.Layer<Repositories | R, unknown>,
  /** Tests of this layer only, in the same suite (on the same storage). */
  extra: (it: Vitest.MethodsNonLive<Repositories | R>) => void = () => {}
) =>
  // Live services (no TestClock): watchers wait on Postgres notifications, timeouts on the real clock.
  suiteLayer(layer, { timeout: "30 seconds", excludeTestServices: true })(name, (it) => {
    it.effect("insert is idempotent: a second insert with the same id returns the stored video unchanged", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const first = newVideo({ topic: "first" })
        expect(encodeVideo(yield* videos.insert(first))).toStrictEqual(encodeVideo(first))
        const again = yield* videos.insert(new Video.Video({ ...first, topic: "second" }))
        expect(again.topic).toBe("first")
        expect((yield* videos.get(first.id)).topic).toBe("first")

        // Concurrent inserts of one id: one wins, and every caller gets the winner back.
        const id = unique("race")
        const results = yield* Effect.forEach(
          range(10),
          (i) => videos.insert(newVideo({ id, topic: `topic ${i}` })),
          { concurrency: "unbounded" }
        )
        const stored = yield* videos.get(Ids.VideoId.make(id))
        expect(new Set(results.map((video) => video.topic))).toStrictEqual(new Set([stored.topic]))
      }))

    it.effect("stores every part of a video", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const video = fullVideo()
        yield* videos.insert(video)
        expect(encodeVideo(yield* videos.get(video.id))).toStrictEqual(encodeVideo(video))
        const updated = yield* videos.update(video.id, (stored) => new Video.Video({ ...stored, topic: "changed" }))
        expect(encodeVideo(yield* videos.get(video.id))).toStrictEqual(encodeVideo(updated))
        expect(encodeVideo(updated)).toStrictEqual({ ...encodeVideo(video), topic: "changed" })
      }))

    it.effect("an unknown id fails with VideoNotFound / ChannelNotFound", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const channels = yield* ChannelRepository.ChannelRepository
        const videoId = Ids.VideoId.make(unique("missing"))
        const channelId = Ids.ChannelId.make(unique("missing"))
        const expectVideoNotFound = (exit: Exit.Exit<unknown, unknown>) => {
          const error = failureOf(exit)
          assert.instanceOf(error, Video.VideoNotFound)
          expect((error as Video.VideoNotFound).videoId).toBe(videoId)
        }
        expectVideoNotFound(yield* Effect.exit(videos.get(videoId)))
        expectVideoNotFound(yield* Effect.exit(videos.update(videoId, withStatus("running"))))
        expectVideoNotFound(yield* Effect.exit(Stream.runCollect(videos.watch(videoId))))
        const error = failureOf(yield* Effect.exit(channels.get(channelId)))
        assert.instanceOf(error, Channel.ChannelNotFound)
        expect((error as Channel.ChannelNotFound).channelId).toBe(channelId)
        // Nothing was created by the failed update.
        expect(yield* Effect.exit(videos.get(videoId))).toSatisfy(Exit.isFailure)
      }))

    it.effect("update is atomic: 50 concurrent updates of one video lose no write", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const video = yield* videos.insert(newVideo({ topic: "start" }))
        const results = yield* Effect.forEach(
          range(50),
          (i) => videos.update(video.id, bump(String(i))),
          { concurrency: "unbounded" }
        )
        const stored = yield* videos.get(video.id)
        expect(Money.toMicros(stored.totalCost)).toBe(50)
        const marks = stored.topic.split("|")
        expect(marks[0]).toBe("start")
        expect(marks.slice(1).map(Number).toSorted((a, b) => a - b)).toStrictEqual(range(50))
        // Each update saw the result of the one before it: the 50 results are the states 1 to 50.
        expect(results.map((result) => Money.toMicros(result.totalCost)).toSorted((a, b) => a - b)).toStrictEqual(
          range(50).map((i) => i + 1)
        )
      }))

    it.effect("list filters by tenant, channel and status, newest request first", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const tenant = unique("tenant")
        const other = unique("tenant")
        const [c1, c2] = [unique("channel"), unique("channel")]
        // Inserted out of order. c and b were requested at the same instant: b, inserted later, is the newer
        // request (and its id sorts lower, so an order by id would put it last).
        const specs = [
          { id: unique("c"), channel: c2, requestedAt: "2026-11-22T10:00:00Z", status: "completed" },
          { id: unique("a"), channel: c1, requestedAt: "2026-11-22T09:00:00Z", status: "queued" },
          { id: unique("d"), channel: c2, requestedAt: "2026-11-22T11:00:00Z", status: "queued" },
          { id: unique("b"), channel: c1, requestedAt: "2026-11-22T10:00:00Z", status: "running" }
        ] as const
        const [c, a, d, b] = specs.map((spec) => newVideo({ ...spec, tenant }))
        const otherTenants = newVideo({ tenant: other, channel: c1, requestedAt: "2026-11-22T12:00:00Z" })
        for (const video of [c!, a!, d!, b!, otherTenants]) yield* videos.insert(video)
        // A later status change is seen by the status filter.
        yield* videos.update(a!.id, withStatus("running"))

        const ids = (filter: VideoRepository.VideoFilter) =>
          Effect.map(videos.list(filter), (list) => list.map((video) => video.id))
        const tenantId = Ids.TenantId.make(tenant)
        expect(yield* ids({ tenantId })).toStrictEqual([d!.id, b!.id, c!.id, a!.id])
        expect(yield* ids({ tenantId, channelId: Ids.ChannelId.make(c1) })).toStrictEqual([b!.id, a!.id])
        expect(yield* ids({ channelId: Ids.ChannelId.make(c1) })).toStrictEqual([otherTenants.id, b!.id, a!.id])
        expect(yield* ids({ tenantId, status: "running" })).toStrictEqual([b!.id, a!.id])
        expect(yield* ids({ tenantId, channelId: Ids.ChannelId.make(c2), status: "queued" })).toStrictEqual([d!.id])
        expect(yield* ids({ tenantId, status: "cancelled" })).toStrictEqual([])
        expect(yield* ids({ tenantId: Ids.TenantId.make(unique("nobody")) })).toStrictEqual([])

        // Without a filter: everything (other tests' videos too), in the same order.
        const all = yield* videos.list({})
        const ours = new Set<string>([a!.id, b!.id, c!.id, d!.id, otherTenants.id])
        expect(all.filter((video) => ours.has(video.id)).map((video) => video.id)).toStrictEqual([
          otherTenants.id,
          d!.id,
          b!.id,
          c!.id,
          a!.id
        ])
        const requested = all.map((video) => DateTime.toEpochMillis(video.requestedAt))
        expect(requested).toStrictEqual(requested.toSorted((x, y) => y - x))
      }))

    it.effect("watch: the video now, then each change, ending after the final status", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const video = yield* videos.insert(newVideo())
        const watcher = yield* startWatching(videos, video.id)
        expect(encodeVideo(yield* nextState(watcher))).toStrictEqual(encodeVideo(video))
        yield* updateAndSee(watcher, videos, video.id, withStatus("running"))
        for (const stage of Stage.all) yield* updateAndSee(watcher, videos, video.id, withStage(stage))
        yield* updateAndSee(watcher, videos, video.id, withStatus("completed"))
        expect(yield* remaining(watcher)).toStrictEqual([])

        // A final video is reported once, and the watch ends.
        const states = yield* Stream.runCollect(videos.watch(video.id)).pipe(Effect.timeout("3 seconds"))
        expect(states.map((state) => state.status)).toStrictEqual(["completed"])
      }))

    it.effect("watch: a watcher started before a burst of updates ends at the final state, in order", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        const video = yield* videos.insert(newVideo())
        const watcher = yield* startWatching(videos, video.id)
        expect(Money.toMicros((yield* nextState(watcher)).totalCost)).toBe(0)
        for (const i of range(20)) yield* videos.update(video.id, bump(String(i)))
        yield* videos.update(video.id, withStatus("cancelled"))
        const states = yield* remaining(watcher)
        const last = states.at(-1)
        expect(last?.status).toBe("cancelled")
        expect(Money.toMicros(last!.totalCost)).toBe(20)
        // Never a state twice or out of order (the memory layer reports all 21; Postgres may merge some).
        // (Step n of the 21 writes: n bumps, then the cancellation.)
        const steps = states.map((state) => Money.toMicros(state.totalCost) + (state.status === "cancelled" ? 1 : 0))
        expect(steps).toStrictEqual([...new Set(steps)].toSorted((x, y) => x - y))
      }))

    it.effect("watch: a watcher racing the final update still ends at the final state", () =>
      Effect.gen(function*() {
        const videos = yield* VideoRepository.VideoRepository
        for (const i of range(20)) {
          const video = yield* videos.insert(newVideo())
          const watcher = yield* videos.watch(video.id).pipe(
            Stream.runCollect,
            Effect.timeout("3 seconds"),
            Effect.forkScoped
          )
          if (i % 4 !== 0) yield* Effect.sleep(`${i % 4} millis`)
          yield* videos.update(video.id, withStatus("completed"))
          const states = yield* Fiber.join(watcher)
          expect(states.at(-1)?.status).toBe("completed")
        }
      }))

    it.effect("channels: put replaces, get and list per tenant, oldest first", () =>
      Effect.gen(function*() {
        const channels = yield* ChannelRepository.ChannelRepository
        const tenant = unique("tenant")
        const other = unique("tenant")
        const later = newChannel({ tenant, createdAt: "2026-11-22T10:00:00Z", name: "Later" })
        const earlier = newChannel({ tenant, createdAt: "2026-11-21T10:00:00Z", name: "Earlier" })
        const elsewhere = newChannel({ tenant: other, createdAt: "2026-11-20T10:00:00Z" })
        for (const channel of [later, earlier, elsewhere]) {
          expect(encodeChannel(yield* channels.put(channel))).toStrictEqual(encodeChannel(channel))
        }
        expect(encodeChannel(yield* channels.get(later.id))).toStrictEqual(encodeChannel(later))
        const names = (tenantId: string) =>
          Effect.map(channels.list(Ids.TenantId.make(tenantId)), (list) => list.map((channel) => channel.name))
        expect(yield* names(tenant)).toStrictEqual(["Earlier", "Later"])
        expect(yield* names(other)).toStrictEqual(["Tech Daily"])
        expect(yield* names(unique("nobody"))).toStrictEqual([])

        const renamed = new Channel.Channel({
          ...later,
          name: "Later, renamed",
          status: "paused",
          updatedAt: at("2026-11-23T00:00:00Z")
        })
        yield* channels.put(renamed)
        expect(encodeChannel(yield* channels.get(later.id))).toStrictEqual(encodeChannel(renamed))
        expect(yield* names(tenant)).toStrictEqual(["Earlier", "Later, renamed"])
      }))

    extra(it)
  })

// ---------------------------------------------------------------------------------------------------------------
// Postgres only: other processes, restarts, migrations

const database = "ytempire_test_repositories"

/**
 * Builds `layer` as another process would: with a memo map of its own (so none of the suite's layers is reused)
 * and none of the suite's services in sight.
 */
const buildApart = <A, E>(layer: Layer.Layer<A, E>): Effect.Effect<Context.Context<A>, E, Scope.Scope> =>
  Effect.gen(function*() {
    const memoMap = yield* Layer.makeMemoMap
    const scope = yield* Effect.scope
    return yield* Layer.buildWithMemoMap(layer, memoMap, scope).pipe(
      Effect.updateContext((context: Context.Context<never>) =>
        Context.omit(PgClient.PgClient, SqlClient.SqlClient, Layer.CurrentMemoMap)(context)
      )
    )
  })

/** The repositories of another process on the suite's database: their own connection pool and listener. */
const anotherProcess = (options: { readonly withPgClient: boolean } = { withPgClient: true }) =>
  Effect.gen(function*() {
    const { config } = yield* PgClient.PgClient
    const pool = PgClient.layer({ ...config, maxConnections: 4 })
    const repositories = Layer.mergeAll(
      VideoRepository.VideoRepository.layerSql,
      ChannelRepository.ChannelRepository.layerSql
    )
    const context = yield* buildApart(
      options.withPgClient
        ? repositories.pipe(Layer.provide(pool))
        // A SqlClient alone, as another Postgres driver would provide: the layer cannot LISTEN, and polls.
        : repositories.pipe(
          Layer.provide(Layer.effect(SqlClient.SqlClient, Effect.service(PgClient.PgClient)).pipe(Layer.provide(pool)))
        )
    )
    return {
      videos: Context.get(context, VideoRepository.VideoRepository),
      channels: Context.get(context, ChannelRepository.ChannelRepository)
    }
  })

const postgresOnly = (it: Vitest.MethodsNonLive<Repositories | PgClient.PgClient | SqlClient.SqlClient>) => {
  it.effect("a restarted process sees the stored videos and channels", () =>
    Effect.gen(function*() {
      const videos = yield* VideoRepository.VideoRepository
      const channels = yield* ChannelRepository.ChannelRepository
      const video = fullVideo()
      const channel = newChannel({ tenant: unique("tenant"), createdAt: "2026-11-22T10:00:00Z" })
      yield* videos.insert(video)
      yield* channels.put(channel)

      const restarted = yield* anotherProcess()
      expect(encodeVideo(yield* restarted.videos.get(video.id))).toStrictEqual(encodeVideo(video))
      expect(encodeChannel(yield* restarted.channels.get(channel.id))).toStrictEqual(encodeChannel(channel))
      expect((yield* restarted.channels.list(channel.tenantId)).map((c) => c.id)).toStrictEqual([channel.id])
      expect((yield* restarted.videos.list({ tenantId: video.tenantId })).map((v) => v.id)).toContain(video.id)
      // Idempotent across processes too.
      expect((yield* restarted.videos.insert(new Video.Video({ ...video, topic: "again" }))).topic).toBe(video.topic)
      const updated = yield* restarted.videos.update(video.id, bump("restarted"))
      expect(encodeVideo(yield* videos.get(video.id))).toStrictEqual(encodeVideo(updated))
    }))

  it.effect("a watcher sees the changes another process makes (LISTEN/NOTIFY)", () =>
    Effect.gen(function*() {
      const videos = yield* VideoRepository.VideoRepository
      const other = yield* anotherProcess()
      const video = yield* videos.insert(newVideo())
      // Watching in the other process, writing in this one.
      const watcher = yield* startWatching(other.videos, video.id)
      yield* nextState(watcher)
      yield* updateAndSee(watcher, videos, video.id, withStatus("running"))
      yield* updateAndSee(watcher, videos, video.id, withStage("script"))
      // ... and a burst: the watcher ends at the final state.
      for (const i of range(10)) yield* videos.update(video.id, bump(String(i)))
      yield* videos.update(video.id, withStatus("completed"))
      expect((yield* remaining(watcher)).at(-1)?.status).toBe("completed")
    }))

  it.effect("a watcher survives the loss of its LISTEN connection, and misses nothing meanwhile", () =>
    Effect.gen(function*() {
      const videos = yield* VideoRepository.VideoRepository
      const sql = yield* SqlClient.SqlClient
      const other = yield* anotherProcess()
      const video = yield* videos.insert(newVideo())
      const watcher = yield* startWatching(other.videos, video.id)
      yield* nextState(watcher)
      // The server drops every listening connection (of both processes), then a change is made at once.
      const killed = yield* sql<{ readonly pid: number }>`
        SELECT pg_terminate_backend(pid) AS killed, pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()
      `
      expect(killed.length).toBeGreaterThanOrEqual(2)
      yield* updateAndSee(watcher, videos, video.id, withStatus("running"))
      yield* videos.update(video.id, withStatus("completed"))
      expect((yield* remaining(watcher)).map((state) => state.status)).toStrictEqual(["completed"])
    }))

  it.effect("without a PgClient, a watcher polls and still sees another process's changes", () =>
    Effect.gen(function*() {
      const videos = yield* VideoRepository.VideoRepository
      const polling = yield* anotherProcess({ withPgClient: false })
      const video = yield* videos.insert(newVideo())
      const watcher = yield* startWatching(polling.videos, video.id)
      yield* nextState(watcher)
      yield* updateAndSee(watcher, videos, video.id, withStatus("running"))
      // Its own changes are reported at once.
      yield* updateAndSee(watcher, polling.videos, video.id, withStage("script"))
      yield* videos.update(video.id, withStatus("failed"))
      expect((yield* remaining(watcher)).map((state) => state.status)).toStrictEqual(["failed"])
    }))

  it.effect("migrations run concurrently from several processes, and again, without error", () =>
    Effect.gen(function*() {
      const fresh = yield* buildApart(PgTest.layer(`${database}_migrations`, { maxConnections: 2 }))
      const { config } = Context.get(fresh, PgClient.PgClient)
      const sql = Context.get(fresh, SqlClient.SqlClient)
      // Eight "processes" (each with its own pool) build their storage layers on the empty database at once.
      const inProcess = <A, E>(layer: Layer.Layer<A, E, SqlClient.SqlClient>) =>
        buildApart(layer.pipe(Layer.provide(PgClient.layer({ ...config, maxConnections: 2 }))))
      const [videoContext] = yield* Effect.all([
        inProcess(VideoRepository.VideoRepository.layerSql),
        inProcess(ChannelRepository.ChannelRepository.layerSql),
        inProcess(BudgetLedger.BudgetLedger.layerSql),
        inProcess(VideoRepository.VideoRepository.layerSql),
        inProcess(ChannelRepository.ChannelRepository.layerSql),
        inProcess(BudgetLedger.BudgetLedger.layerSql),
        inProcess(VideoRepository.VideoRepository.layerSql),
        inProcess(ChannelRepository.ChannelRepository.layerSql)
      ], { concurrency: "unbounded" })
      const applied = yield* sql<{ readonly migration_id: number; readonly name: string }>`
        SELECT migration_id, name FROM ytempire_migrations ORDER BY migration_id
      `
      expect(applied.map((row) => [row.migration_id, row.name])).toStrictEqual([
        [1, "budget_ledger"],
        [2, "channels_and_videos"],
        [3, "budget_reservation_parts"],
        [4, "budget_reservation_settled"],
        [5, "budget_limits"]
      ])
      // And again, once everything is there: nothing to do, and the tables work.
      const again = yield* inProcess(VideoRepository.VideoRepository.layerSql)
      const video = yield* Context.get(again, VideoRepository.VideoRepository).insert(newVideo())
      const first = Context.get(videoContext, VideoRepository.VideoRepository)
      expect(encodeVideo(yield* first.get(video.id))).toStrictEqual(encodeVideo(video))
      expect(yield* sql`SELECT migration_id FROM ytempire_migrations`).toHaveLength(5)
    }))
}

describe("Repositories", () => {
  suite(
    "layerMemory",
    Layer.mergeAll(VideoRepository.VideoRepository.layerMemory, ChannelRepository.ChannelRepository.layerMemory)
  )

  suite(
    "layerSql (Postgres)",
    Layer.mergeAll(VideoRepository.VideoRepository.layerSql, ChannelRepository.ChannelRepository.layerSql).pipe(
      Layer.provideMerge(PgTest.layer(database, { maxConnections: 10 }))
    ),
    postgresOnly
  )

  // The channel records kept in memory (the embedded storage's layer): the same behaviour, this process the only writer.
  suite(
    "layerSqlExclusive (Postgres, one writer)",
    Layer.mergeAll(VideoRepository.VideoRepository.layerSql, ChannelRepository.ChannelRepository.layerSqlExclusive)
      .pipe(Layer.provideMerge(PgTest.layer(`${database}_exclusive`, { maxConnections: 10 })))
  )
})
