/**
 * The whole runtime in one layer, and the facade that a program embedding ytempire uses (and the server serves):
 * register, list, change, pause and delete channels; request, list, watch and cancel videos; see and set budgets;
 * report costs. Configuration chooses the storage, not the code path:
 *
 * - `embedded` (the default): state in the data directory through an embedded Postgres (PGlite), no server
 *   needed, kept across restarts;
 * - `postgres`: a Postgres server (`DATABASE_URL`);
 * - `memory`: nothing kept, for tests and demos.
 *
 * In every mode the same channel entities and the same VideoPipeline workflow run on effect/cluster (a single
 * runner here; a cluster of runners uses the same layers with another Sharding).
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import {
  Budget,
  Channel,
  ChannelEntity as Contract,
  Errors,
  Gpu,
  Ids,
  Money,
  Operations,
  Pagination,
  Pipeline,
  Video
} from "@ytempire/domain"
import { Scheduler } from "@ytempire/gpu"
import {
  type Config as EffectConfig,
  Context,
  DateTime,
  type Duration,
  Effect,
  Layer,
  Option,
  Random,
  type Redacted,
  Schema,
  Stream
} from "effect"
import {
  ClusterWorkflowEngine,
  MessageStorage,
  RunnerHealth,
  Runners,
  RunnerStorage,
  Sharding,
  ShardingConfig,
  SingleRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "effect/cluster"
import { Digest } from "effect/crypto"
import type { Migrator, SqlClient, SqlError } from "effect/sql"
import { WorkflowEngine } from "effect/workflow"
import * as ArtifactStore from "./ArtifactStore.ts"
import * as BudgetLedger from "./BudgetLedger.ts"
import * as BudgetLimitsStore from "./BudgetLimitsStore.ts"
import * as ChannelEntity from "./ChannelEntity.ts"
import * as ChannelRepository from "./ChannelRepository.ts"
import * as EmbeddedSql from "./EmbeddedSql.ts"
import * as Cursor from "./internal/cursor.ts"
import * as Migrations from "./internal/migrations.ts"
import * as MessageRetention from "./MessageRetention.ts"
import * as PipelineMetrics from "./PipelineMetrics.ts"
import * as Offline from "./providers/Offline.ts"
import * as VideoPipeline from "./VideoPipeline.ts"
import * as VideoRepository from "./VideoRepository.ts"

/**
 * Where state is kept.
 *
 * @category models
 */
export type Storage =
  | { readonly _tag: "embedded" }
  | { readonly _tag: "postgres"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "memory" }

/**
 * The runtime's configuration.
 *
 * @category models
 */
export interface Config {
  /** Where artifacts, published videos and (in embedded mode) the database live. */
  readonly dataDir: string
  /** Default: embedded. */
  readonly storage?: Storage | undefined
  /** Options of the offline providers (artificial latency, speech rate, narration length, …). */
  readonly providers?: Omit<Offline.Options, "dataDir"> | undefined
  /** Videos of one channel produced at a time (default 1). */
  readonly maxInFlightPerChannel?: number | undefined
  /** How long an idle channel actor stays in memory (default 5 minutes). */
  readonly channelIdleTime?: Duration.Input | undefined
  /**
   * Prices, operation-wide budget limits, the budget time zone, the expected work of a video, retries. The limits
   * are where the runtime starts: `setTenantDailyLimit` and `setGlobalLimits` change them while it runs, and what
   * they set is kept (in the database, except in memory mode) over these.
   */
  readonly pipeline?: Partial<typeof VideoPipeline.PipelineSettings.Service> | undefined
  /** How long processed cluster messages are kept (default 7 days; deduplication of a re-sent message lasts as long). */
  readonly messageRetention?: Duration.Input | undefined
  /** How often a runner looks for due scheduled messages (default 1 second). */
  readonly messagePollInterval?: Duration.Input | undefined
  /**
   * The GPUs to schedule (devices from `Inventory`, queue and aging options): providers that declare GPU work
   * run under a VRAM lease of this scheduler. Without it, no leases are taken (the offline providers run on
   * the CPU).
   */
  readonly gpu?: Scheduler.SchedulerConfig | undefined
}

/**
 * Why the runtime could not start: bad configuration, a database it could not reach or migrate, a data
 * directory that another process holds.
 *
 * @category errors
 */
export type StartupError =
  | EffectConfig.ConfigError
  | SqlError.SqlError
  | EmbeddedSql.DataDirectoryInUse
  | BudgetLedger.LedgerUnavailable

type StorageServices =
  | Sharding.Sharding
  | Runners.Runners
  | MessageStorage.MessageStorage
  | VideoRepository.VideoRepository
  | ChannelRepository.ChannelRepository
  | BudgetLedger.BudgetLedger
  | BudgetLimitsStore.BudgetLimitsStore

/**
 * A single-process cluster whose messages live in memory (nothing is kept): the memory mode's, and the one tests
 * and benchmarks run entities and workflows on.
 *
 * @category layers
 */
export const layerMemoryCluster = (
  sharding: Partial<ShardingConfig.ShardingConfig["Service"]> = {}
): Layer.Layer<Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage> =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer(sharding))
  )

const storageLayer = (config: Config, limits: Budget.BudgetLimits): Layer.Layer<StorageServices, StartupError> => {
  const storage = config.storage ?? { _tag: "embedded" }
  const sharding: Partial<ShardingConfig.ShardingConfig["Service"]> = {
    entityMessagePollInterval: config.messagePollInterval ?? "1 second"
  }
  switch (storage._tag) {
    case "memory":
      return Layer.mergeAll(
        layerMemoryCluster(sharding),
        VideoPipeline.layerMemoryStores,
        BudgetLimitsStore.BudgetLimitsStore.layerMemory(limits)
      )
    case "embedded":
    case "postgres": {
      const sql = storage._tag === "embedded"
        ? EmbeddedSql.layer({ dataDir: config.dataDir })
        : PgClient.layer({ url: storage.url })
      const stores = Layer.mergeAll(
        SingleRunner.layer({ runnerStorage: "sql", shardingConfig: sharding }).pipe(
          Layer.provide(Digest.layerWebCrypto)
        ),
        VideoRepository.VideoRepository.layerSql,
        storage._tag === "embedded"
          // The data directory is locked to this process, whose channel entities and facade write every record
          // through this layer: it keeps them in memory, and reading a channel (every request checks its tenant)
          // or a tenant's list costs no statement.
          ? ChannelRepository.ChannelRepository.layerSqlExclusive
          : ChannelRepository.ChannelRepository.layerSql,
        BudgetLedger.BudgetLedger.layerSql,
        BudgetLimitsStore.BudgetLimitsStore.layerSql(limits)
      ).pipe(Layer.provideMerge(sql))
      // effect/cluster never deletes processed messages: without this the message tables grow forever. Built
      // after the stores, so that the cluster's tables exist when it first runs.
      return MessageRetention.layer({ retention: config.messageRetention ?? "7 days" }).pipe(
        Layer.provideMerge(stores)
      )
    }
  }
}

/**
 * Applies every pending migration of the runtime's SQL storage, and nothing else: the runtime's tables
 * (recorded in `ytempire_migrations`) and effect/cluster's message and runner tables. Each storage layer applies
 * them too when it is built; this is for doing it ahead, e.g. in a deployment step (`ytempire migrate`).
 * Returns the names of the runtime migrations it applied.
 *
 * @category migrations
 */
export const migrate: Effect.Effect<
  ReadonlyArray<string>,
  SqlError.SqlError | Migrator.MigrationError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const applied = yield* Migrations.run
  yield* Layer.build(Layer.mergeAll(SqlMessageStorage.layerMigrations({}), SqlRunnerStorage.layerMigrations({}))).pipe(
    Effect.scoped
  )
  return applied.map(([id, name]) => `${String(id).padStart(4, "0")}_${name}`)
})

/**
 * Everything: storage, cluster, workflow engine, channel entities, the pipeline, the offline providers, the
 * artifact store, and the facade.
 *
 * @category layers
 */
export const layer = (config: Config) =>
  layerWithProviders(config, Offline.layer({ ...config.providers, dataDir: config.dataDir }))

/**
 * The runtime with the stage chains given by the caller: cloud providers, or stand-ins for tests and
 * benchmarks.
 *
 * @category layers
 */
export const layerWithProviders = <E>(config: Config, providers: Layer.Layer<Offline.Services, E>) => {
  const settings = { ...VideoPipeline.PipelineSettings.defaultValue(), ...config.pipeline }
  return Ytempire.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      VideoPipeline.layer.pipe(Layer.provide(ChannelEntity.layerFinishedListener)),
      ChannelEntity.layer({ maxInFlight: config.maxInFlightPerChannel, maxIdleTime: config.channelIdleTime })
    )),
    Layer.provideMerge(ClusterWorkflowEngine.layer),
    Layer.provideMerge(config.gpu === undefined ? Layer.empty : Scheduler.Scheduler.layer(config.gpu)),
    Layer.provideMerge(providers),
    Layer.provideMerge(ArtifactStore.ArtifactStore.layer(config.dataDir)),
    Layer.provideMerge(storageLayer(config, settings.limits)),
    Layer.provideMerge(Layer.succeed(VideoPipeline.PipelineSettings)(settings)),
    Layer.provide(NodeServices.layer)
  )
}

/** Infrastructure failures of cluster messaging: defects for the facade's callers, not their errors. */
const clusterFailures = [
  "MailboxFull",
  "AlreadyProcessingMessage",
  "PersistenceError",
  "EntityNotAssignedToRunner"
] as const

const decodeInput = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (input: unknown) => decode(input).pipe(Effect.mapError(Errors.InvalidRequest.fromSchemaError))
}

/**
 * A request object with its `undefined` fields left out: a caller in JavaScript writes `{ status: undefined }` for
 * "no status filter", which the request schemas read as an absent key.
 */
const withoutUndefined = (input: unknown): unknown =>
  typeof input === "object" && input !== null && !Array.isArray(input)
    ? Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined))
    : input

const decodeRequest = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = decodeInput(schema)
  return (input: unknown) => decode(withoutUndefined(input))
}

/**
 * A request for a page of channels: a status to filter on, and where to start and how many.
 *
 * @category models
 */
export const ListChannelsRequest = Schema.Struct({
  status: Schema.optionalKey(Channel.ChannelStatus),
  ...Pagination.pageRequestFields
})

/**
 * A request for a page of videos: a channel and a status to filter on, and where to start and how many.
 *
 * @category models
 */
export const ListVideosRequest = Schema.Struct({
  channelId: Schema.optionalKey(Ids.ChannelId),
  status: Schema.optionalKey(Video.VideoStatus),
  ...Pagination.pageRequestFields
})

/**
 * A request for a cost report: the days, inclusive, in the budget time zone, and optionally one channel.
 *
 * @category models
 */
export const CostReportRequest = Schema.Struct({
  from: Budget.Day,
  to: Budget.Day,
  channelId: Schema.optionalKey(Ids.ChannelId)
})

/**
 * The longest range of days a cost report covers.
 *
 * @category constants
 */
export const maxReportDays = 366

/**
 * How many of a tenant's channels and videos are in each status.
 *
 * @category models
 */
export interface Counts {
  readonly channels: Operations.ChannelCounts
  readonly videos: Operations.VideoCounts
}

const channelCursor = Cursor.make("channels", ChannelRepository.ChannelPosition)
const videoCursor = Cursor.make("videos", VideoRepository.VideoPosition)

const dayMillis = 24 * 60 * 60 * 1000

/** The instant a day (`YYYY-MM-DD`) starts in a time zone: its first instant, as the budget periods count it. */
const startOfDay = (day: string, zone: DateTime.TimeZone, plusDays = 0): DateTime.Utc => {
  // Noon of the day in the zone, moved by whole days, then the start of that day: where a clock change skips
  // midnight the day starts at 01:00, as `Budget.rolloverAfter` has it.
  const noon = DateTime.makeZonedUnsafe(`${day}T12:00:00Z`, { timeZone: zone, adjustForTimeZone: true })
  return DateTime.toUtc(DateTime.startOf(DateTime.add(noon, { days: plusDays }), "day"))
}

/** The number of calendar days from `from` to `to`, both included (negative when `to` is before `from`). */
const daysBetween = (from: string, to: string): number =>
  Math.round(
    (DateTime.toEpochMillis(DateTime.makeUnsafe(`${to}T00:00:00Z`)) -
      DateTime.toEpochMillis(DateTime.makeUnsafe(`${from}T00:00:00Z`))) / dayMillis
  ) + 1

/**
 * The facade of an embedded ytempire. Inputs that come from outside are `unknown` and decoded here, so bad input
 * is an InvalidRequest naming the field, and nothing is written. Everything is within a tenant: another
 * tenant's channel or video is not found.
 *
 * @category services
 */
export class Ytempire extends Context.Service<Ytempire, {
  /** Registers (or re-registers) a channel of a tenant. */
  readonly registerChannel: (
    tenantId: Ids.TenantId,
    registration: unknown
  ) => Effect.Effect<Channel.Channel, Errors.InvalidRequest | Errors.Forbidden>
  /**
   * A page of the tenant's channels, oldest first, optionally of one status (`ListChannelsRequest`: `status`,
   * `cursor`, `limit` 1 to 500, default 50). `nextCursor`, when present, gets the next page; a cursor that is not
   * one of these is an InvalidRequest (field `cursor`).
   */
  readonly listChannels: (
    tenantId: Ids.TenantId,
    request: unknown
  ) => Effect.Effect<Channel.ChannelPage, Errors.InvalidRequest>
  /** A channel of the tenant. */
  readonly getChannel: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound>
  /** Changes a channel's settings (`Channel.ChannelUpdate`: only the fields present change). */
  readonly updateChannel: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId,
    update: unknown
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound | Errors.InvalidRequest>
  /**
   * Deletes a channel: pauses it (it takes no new videos), cancels its queued and running videos (releasing what
   * their budgets hold), and removes its record, which ends its schedule. Its videos stay, readable by the
   * tenant (`getVideo`, and `listVideos` without a channel filter).
   */
  readonly deleteChannel: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId
  ) => Effect.Effect<void, Channel.ChannelNotFound>
  /** Asks a channel for a video; the video id, when given, makes the request idempotent. */
  readonly requestVideo: (
    tenantId: Ids.TenantId,
    request: unknown
  ) => Effect.Effect<
    Video.Video,
    Errors.InvalidRequest | Channel.ChannelNotFound | Channel.ChannelPaused | Budget.BudgetExceeded
  >
  /** A video of the tenant. */
  readonly getVideo: (tenantId: Ids.TenantId, videoId: Ids.VideoId) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /**
   * A page of the tenant's videos, newest request first, optionally of one channel and one status
   * (`ListVideosRequest`). The cursor is a position in that order, so a walk through the pages returns every
   * video exactly once while new videos arrive (they are newer than the pages already read). A channel that is
   * not the tenant's is ChannelNotFound.
   */
  readonly listVideos: (
    tenantId: Ids.TenantId,
    request: unknown
  ) => Effect.Effect<Video.VideoPage, Errors.InvalidRequest | Channel.ChannelNotFound>
  /** A video as it changes, ending when it is final. */
  readonly watchVideo: (
    tenantId: Ids.TenantId,
    videoId: Ids.VideoId
  ) => Stream.Stream<Video.Video, Video.VideoNotFound>
  /** Stops a video and releases what it holds; a final video is returned as it is. */
  readonly cancelVideo: (
    tenantId: Ids.TenantId,
    videoId: Ids.VideoId
  ) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /** Pauses a channel: it takes no new videos. */
  readonly pauseChannel: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound>
  /** Resumes a paused channel. */
  readonly resumeChannel: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound>
  /** The channel's record, running and queued videos and next scheduled run. */
  readonly channelState: (
    tenantId: Ids.TenantId,
    channelId: Ids.ChannelId
  ) => Effect.Effect<Contract.ChannelState, Channel.ChannelNotFound>
  /**
   * Where the tenant's budgets stand today: its tenant-day scope and the global day and month, with their limits
   * now; with a channel, that channel's day first.
   */
  readonly budgetStatus: (
    tenantId: Ids.TenantId,
    channelId?: Ids.ChannelId | undefined
  ) => Effect.Effect<ReadonlyArray<Budget.BudgetStatus>, Channel.ChannelNotFound>
  /** The limits that apply to the tenant now (`tenantDaily`: this tenant's). */
  readonly budgetLimits: (tenantId: Ids.TenantId) => Effect.Effect<Budget.BudgetLimits>
  /**
   * Sets the tenant's daily limit (`None`: none); its limits from then on. New requests and reservations use it
   * at once in this process, and within seconds in others on the same database.
   */
  readonly setTenantDailyLimit: (
    tenantId: Ids.TenantId,
    limit: Option.Option<Money.Money>
  ) => Effect.Effect<Budget.BudgetLimits>
  /**
   * Sets the operation-wide daily and/or monthly limit, for every tenant (the caller decides who may); the limits
   * from then on of a tenant without its own daily limit.
   */
  readonly setGlobalLimits: (update: BudgetLimitsStore.GlobalLimitsUpdate) => Effect.Effect<Budget.BudgetLimits>
  /**
   * What the tenant's videos (or one channel's) requested on the days from `from` to `to` (inclusive, in the
   * budget time zone; at most 366 days) cost, from their stage records: in all, per video that cost anything,
   * per channel and per stage.
   */
  readonly costReport: (
    tenantId: Ids.TenantId,
    request: unknown
  ) => Effect.Effect<Budget.CostReport, Errors.InvalidRequest | Channel.ChannelNotFound>
  /** How many of the tenant's channels and videos are in each status. */
  readonly counts: (tenantId: Ids.TenantId) => Effect.Effect<Counts>
  /** The GPUs as the scheduler sees them (no devices, source `none`, when no GPU is configured). */
  readonly gpuStatus: Effect.Effect<Gpu.GpuStatus>
}>()("@ytempire/runtime/Ytempire") {
  /**
   * The facade over the channel entities, the repositories, the ledger and the limits.
   */
  static readonly layer = Layer.effect(Ytempire)(Effect.gen(function*() {
    const clientFor = yield* Contract.ChannelEntity.client
    const channels = yield* ChannelRepository.ChannelRepository
    const videos = yield* VideoRepository.VideoRepository
    const ledger = yield* BudgetLedger.BudgetLedger
    const limits = yield* BudgetLimitsStore.BudgetLimitsStore
    const settings = yield* VideoPipeline.PipelineSettings
    const engine = yield* WorkflowEngine.WorkflowEngine
    const scheduler = yield* Effect.serviceOption(Scheduler.Scheduler)
    const noGpu = new Gpu.GpuStatus({
      source: "none",
      devices: [],
      queued: new Gpu.GpuQueueDepth({ critical: 0, high: 0, normal: 0, low: 0 })
    })
    const decodeRegistration = decodeInput(Channel.ChannelRegistration)
    const decodeVideoRequest = decodeInput(Video.VideoRequest)
    const decodeUpdate = decodeInput(Channel.ChannelUpdate)
    const decodeListChannels = decodeRequest(ListChannelsRequest)
    const decodeListVideos = decodeRequest(ListVideosRequest)
    const decodeCostReport = decodeRequest(CostReportRequest)

    /** The channel, if it belongs to the tenant; another tenant's channel is not found. */
    const ownChannel = (tenantId: Ids.TenantId, channelId: Ids.ChannelId) =>
      channels.get(channelId).pipe(
        Effect.filterOrFail(
          (channel) => channel.tenantId === tenantId,
          () => new Channel.ChannelNotFound({ channelId })
        )
      )

    const ownVideo = (tenantId: Ids.TenantId, videoId: Ids.VideoId) =>
      videos.get(videoId).pipe(
        Effect.filterOrFail((video) => video.tenantId === tenantId, () => new Video.VideoNotFound({ videoId }))
      )

    // 128 random bits: ids are global, so a new one must not meet an existing video (anyone's) by chance.
    const newVideoId = Effect.map(
      Effect.all(Array.from({ length: 4 }, () => Random.nextIntBetween(0, 2 ** 32))),
      (words) => Schema.decodeSync(Ids.VideoId)(`v-${words.map((w) => w.toString(16).padStart(8, "0")).join("")}`)
    )

    /** Stops a video that is not final, releases what its reservation holds, and marks it cancelled. */
    const cancel = Effect.fnUntraced(function*(video: Video.Video) {
      if (Video.isFinal(video.status)) return video
      const executionId = yield* Pipeline.VideoPipeline.executionId({
        videoId: video.id,
        channelId: video.channelId,
        tenantId: video.tenantId,
        topic: video.topic
      })
      yield* Pipeline.VideoPipeline.interrupt(executionId).pipe(
        Effect.provideService(WorkflowEngine.WorkflowEngine, engine)
      )
      // What the video's reservation still holds (its estimate less the stages settled) goes back to the budgets.
      yield* ledger.release(video.id).pipe(Effect.orDie)
      const now = yield* DateTime.now
      // Counted once, by the write that made it final (`update`'s last call is the one written).
      let cancelledHere = false
      const cancelled = yield* videos.update(video.id, (current) => {
        cancelledHere = !Video.isFinal(current.status)
        return Video.isFinal(current.status)
          ? current
          : new Video.Video({ ...current, status: "cancelled", updatedAt: now, completedAt: now })
      }).pipe(Effect.orDie)
      if (cancelledHere) yield* PipelineMetrics.videoFinished(cancelled)
      yield* clientFor(video.channelId).VideoFinished({ videoId: video.id }, { discard: true }).pipe(
        Effect.catchTag(clusterFailures, Effect.die)
      )
      return cancelled
    })

    return Ytempire.of({
      gpuStatus: Option.match(scheduler, { onNone: () => Effect.succeed(noGpu), onSome: (gpu) => gpu.status }),

      registerChannel: Effect.fn("Ytempire.registerChannel")(function*(tenantId, input) {
        const registration = yield* decodeRegistration(input)
        return yield* clientFor(registration.id).Register({ tenantId, registration }).pipe(
          Effect.catchTag(clusterFailures, Effect.die)
        )
      }),

      listChannels: Effect.fn("Ytempire.listChannels")(function*(tenantId, input) {
        const request = yield* decodeListChannels(input)
        const after = request.cursor === undefined ? undefined : yield* channelCursor.decode(request.cursor)
        const page = yield* channels.page({ tenantId, status: request.status, after, limit: request.limit })
        return {
          items: page.channels,
          ...(Option.isSome(page.next) ? { nextCursor: channelCursor.encode(page.next.value) } : {})
        }
      }),

      getChannel: (tenantId, channelId) => ownChannel(tenantId, channelId),

      updateChannel: Effect.fn("Ytempire.updateChannel")(function*(tenantId, channelId, input) {
        const update = yield* decodeUpdate(input)
        yield* ownChannel(tenantId, channelId)
        return yield* clientFor(channelId).Configure({ update }).pipe(Effect.catchTag(clusterFailures, Effect.die))
      }),

      deleteChannel: Effect.fn("Ytempire.deleteChannel")(function*(tenantId, channelId) {
        yield* ownChannel(tenantId, channelId)
        // Through the channel's actor, which handles one command at a time: once it is paused, no request makes
        // a new video and no finished video starts a queued one, so the unfinished videos listed next are all.
        yield* clientFor(channelId).Pause().pipe(Effect.catchTag(clusterFailures, Effect.die))
        const running = yield* videos.list({ channelId, status: "running" })
        const queued = yield* videos.list({ channelId, status: "queued" })
        yield* Effect.forEach([...running, ...queued], cancel, { discard: true })
        // Without its record, the channel's pending wake-ups and finished videos do nothing.
        yield* channels.remove(channelId)
      }),

      requestVideo: Effect.fn("Ytempire.requestVideo")(function*(tenantId, input) {
        const request = yield* decodeVideoRequest(input)
        yield* ownChannel(tenantId, request.channelId)
        const videoId = request.videoId ?? (yield* newVideoId)
        const reply = yield* clientFor(request.channelId).RequestVideo({ videoId, topic: request.topic }).pipe(
          Effect.catchTag(clusterFailures, Effect.die)
        )
        // A request repeated with the caller's id gets the first request's stored reply (the message is
        // deduplicated by video id): answer with the video as it stands now instead.
        return request.videoId === undefined ? reply : yield* Effect.orElseSucceed(videos.get(videoId), () => reply)
      }),

      getVideo: (tenantId, videoId) => ownVideo(tenantId, videoId),

      listVideos: Effect.fn("Ytempire.listVideos")(function*(tenantId, input) {
        const request = yield* decodeListVideos(input)
        if (request.channelId !== undefined) yield* ownChannel(tenantId, request.channelId)
        const after = request.cursor === undefined ? undefined : yield* videoCursor.decode(request.cursor)
        const page = yield* videos.page({
          tenantId,
          channelId: request.channelId,
          status: request.status,
          after,
          limit: request.limit
        })
        return {
          items: page.videos,
          ...(Option.isSome(page.next) ? { nextCursor: videoCursor.encode(page.next.value) } : {})
        }
      }),

      watchVideo: (tenantId, videoId) => Stream.unwrap(Effect.as(ownVideo(tenantId, videoId), videos.watch(videoId))),

      cancelVideo: Effect.fn("Ytempire.cancelVideo")(function*(tenantId, videoId) {
        return yield* cancel(yield* ownVideo(tenantId, videoId))
      }),

      pauseChannel: Effect.fn("Ytempire.pauseChannel")(function*(tenantId, channelId) {
        yield* ownChannel(tenantId, channelId)
        return yield* clientFor(channelId).Pause().pipe(Effect.catchTag(clusterFailures, Effect.die))
      }),

      resumeChannel: Effect.fn("Ytempire.resumeChannel")(function*(tenantId, channelId) {
        yield* ownChannel(tenantId, channelId)
        return yield* clientFor(channelId).Resume().pipe(Effect.catchTag(clusterFailures, Effect.die))
      }),

      channelState: Effect.fn("Ytempire.channelState")(function*(tenantId, channelId) {
        yield* ownChannel(tenantId, channelId)
        return yield* clientFor(channelId).State().pipe(Effect.catchTag(clusterFailures, Effect.die))
      }),

      budgetStatus: Effect.fn("Ytempire.budgetStatus")(function*(tenantId, channelId) {
        const channel = channelId === undefined ? undefined : yield* ownChannel(tenantId, channelId)
        const now = yield* DateTime.now
        const current = yield* limits.get(tenantId)
        const policy = channel?.budget ?? new Budget.BudgetPolicy({})
        // The scopes a video of the channel (or of the tenant) reserves in, but its own.
        const spender = {
          tenantId,
          channelId: channel?.id ?? Ids.ChannelId.make("none"),
          videoId: Ids.VideoId.make("none")
        }
        const scopes = Budget.scopesFor(spender, now, settings.budgetZone)
          .filter((scope) => scope._tag !== "video" && (scope._tag !== "channel-day" || channel !== undefined))
          .map((scope) => ({ scope, limit: Budget.limitFor(scope._tag, policy, current) }))
        return yield* Effect.orDie(ledger.status(scopes))
      }),

      budgetLimits: (tenantId) => limits.get(tenantId),

      setTenantDailyLimit: Effect.fn("Ytempire.setTenantDailyLimit")(function*(tenantId, limit) {
        return yield* limits.setTenantDaily(tenantId, limit)
      }),

      setGlobalLimits: Effect.fn("Ytempire.setGlobalLimits")(function*(update) {
        return yield* limits.setGlobal(update)
      }),

      costReport: Effect.fn("Ytempire.costReport")(function*(tenantId, input) {
        const request = yield* decodeCostReport(input)
        const days = daysBetween(request.from, request.to)
        if (days < 1) {
          return yield* new Errors.InvalidRequest({
            message: `to (${request.to}) must not be before from (${request.from})`,
            field: "to"
          })
        }
        if (days > maxReportDays) {
          return yield* new Errors.InvalidRequest({
            message: `the range from ${request.from} to ${request.to} is ${days} days; at most ${maxReportDays}`,
            field: "to"
          })
        }
        if (request.channelId !== undefined) yield* ownChannel(tenantId, request.channelId)
        const summary = yield* videos.costs({
          tenantId,
          channelId: request.channelId,
          from: startOfDay(request.from, settings.budgetZone),
          until: startOfDay(request.to, settings.budgetZone, 1)
        })
        const total = Money.sum(summary.byChannel.map((channel) => channel.total))
        const count = summary.byChannel.reduce((sum, channel) => sum + channel.videos, 0)
        return new Budget.CostReport({
          from: request.from,
          to: request.to,
          total,
          videos: count,
          averagePerVideo: count === 0 ? Money.zero : Money.scale(total, 1, count),
          byChannel: summary.byChannel,
          byStage: summary.byStage
        })
      }),

      counts: Effect.fn("Ytempire.counts")(function*(tenantId) {
        const [channelCounts, videoCounts] = yield* Effect.all(
          [channels.countByStatus(tenantId), videos.countByStatus(tenantId)],
          { concurrency: 2 }
        )
        return {
          channels: new Operations.ChannelCounts(channelCounts),
          videos: new Operations.VideoCounts(videoCounts)
        }
      })
    })
  }))
}
