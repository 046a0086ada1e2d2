/**
 * The whole runtime in one layer, and the facade that a program embedding ytempire uses: register channels,
 * request videos, watch them and cancel them. Configuration chooses the storage, not the code path:
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
import { Budget, Channel, ChannelEntity as Contract, Errors, Gpu, Ids, Pipeline, Video } from "@ytempire/domain"
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
  SingleRunner
} from "effect/cluster"
import { Digest } from "effect/crypto"
import type { SqlError } from "effect/sql"
import { WorkflowEngine } from "effect/workflow"
import * as ArtifactStore from "./ArtifactStore.ts"
import * as BudgetLedger from "./BudgetLedger.ts"
import * as ChannelEntity from "./ChannelEntity.ts"
import * as ChannelRepository from "./ChannelRepository.ts"
import * as EmbeddedSql from "./EmbeddedSql.ts"
import * as MessageRetention from "./MessageRetention.ts"
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
  /** Prices, operation-wide budget limits, the budget time zone, the expected work of a video, retries. */
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

const storageLayer = (config: Config): Layer.Layer<StorageServices, StartupError> => {
  const storage = config.storage ?? { _tag: "embedded" }
  const sharding: Partial<ShardingConfig.ShardingConfig["Service"]> = {
    entityMessagePollInterval: config.messagePollInterval ?? "1 second"
  }
  switch (storage._tag) {
    case "memory":
      return Layer.mergeAll(layerMemoryCluster(sharding), VideoPipeline.layerMemoryStores)
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
        ChannelRepository.ChannelRepository.layerSql,
        BudgetLedger.BudgetLedger.layerSql
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
export const layerWithProviders = <E>(config: Config, providers: Layer.Layer<Offline.Services, E>) =>
  Ytempire.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      VideoPipeline.layer.pipe(Layer.provide(ChannelEntity.layerFinishedListener)),
      ChannelEntity.layer({ maxInFlight: config.maxInFlightPerChannel, maxIdleTime: config.channelIdleTime })
    )),
    Layer.provideMerge(ClusterWorkflowEngine.layer),
    Layer.provideMerge(config.gpu === undefined ? Layer.empty : Scheduler.Scheduler.layer(config.gpu)),
    Layer.provideMerge(providers),
    Layer.provideMerge(ArtifactStore.ArtifactStore.layer(config.dataDir)),
    Layer.provideMerge(storageLayer(config)),
    Layer.provideMerge(
      Layer.succeed(VideoPipeline.PipelineSettings)({
        ...VideoPipeline.PipelineSettings.defaultValue(),
        ...config.pipeline
      })
    ),
    Layer.provide(NodeServices.layer)
  )

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
 * The facade of an embedded ytempire. Inputs are decoded here, so bad input is an InvalidRequest naming the
 * field, and nothing is written.
 *
 * @category services
 */
export class Ytempire extends Context.Service<Ytempire, {
  /** Registers (or re-registers) a channel of a tenant. */
  readonly registerChannel: (
    tenantId: Ids.TenantId,
    registration: unknown
  ) => Effect.Effect<Channel.Channel, Errors.InvalidRequest | Errors.Forbidden>
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
  /** The GPUs as the scheduler sees them (no devices, source `none`, when no GPU is configured). */
  readonly gpuStatus: Effect.Effect<Gpu.GpuStatus>
}>()("@ytempire/runtime/Ytempire") {
  /**
   * The facade over the channel entities and repositories.
   */
  static readonly layer = Layer.effect(Ytempire)(Effect.gen(function*() {
    const clientFor = yield* Contract.ChannelEntity.client
    const channels = yield* ChannelRepository.ChannelRepository
    const videos = yield* VideoRepository.VideoRepository
    const ledger = yield* BudgetLedger.BudgetLedger
    const engine = yield* WorkflowEngine.WorkflowEngine
    const scheduler = yield* Effect.serviceOption(Scheduler.Scheduler)
    const noGpu = new Gpu.GpuStatus({
      source: "none",
      devices: [],
      queued: new Gpu.GpuQueueDepth({ critical: 0, high: 0, normal: 0, low: 0 })
    })
    const decodeRegistration = decodeInput(Channel.ChannelRegistration)
    const decodeRequest = decodeInput(Video.VideoRequest)

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

    const newVideoId = Effect.map(
      Random.nextIntBetween(0, 2 ** 31),
      (n) => Schema.decodeSync(Ids.VideoId)(`v-${n.toString(36)}`)
    )

    return Ytempire.of({
      gpuStatus: Option.match(scheduler, { onNone: () => Effect.succeed(noGpu), onSome: (gpu) => gpu.status }),

      registerChannel: Effect.fn("Ytempire.registerChannel")(function*(tenantId, input) {
        const registration = yield* decodeRegistration(input)
        return yield* clientFor(registration.id).Register({ tenantId, registration }).pipe(
          Effect.catchTag(clusterFailures, Effect.die)
        )
      }),

      requestVideo: Effect.fn("Ytempire.requestVideo")(function*(tenantId, input) {
        const request = yield* decodeRequest(input)
        yield* ownChannel(tenantId, request.channelId)
        const videoId = request.videoId ?? (yield* newVideoId)
        return yield* clientFor(request.channelId).RequestVideo({ videoId, topic: request.topic }).pipe(
          Effect.catchTag(clusterFailures, Effect.die)
        )
      }),

      getVideo: (tenantId, videoId) => ownVideo(tenantId, videoId),

      watchVideo: (tenantId, videoId) => Stream.unwrap(Effect.as(ownVideo(tenantId, videoId), videos.watch(videoId))),

      cancelVideo: Effect.fn("Ytempire.cancelVideo")(function*(tenantId, videoId) {
        const video = yield* ownVideo(tenantId, videoId)
        if (Video.isFinal(video.status)) return video
        const executionId = yield* Pipeline.VideoPipeline.executionId({
          videoId,
          channelId: video.channelId,
          tenantId: video.tenantId,
          topic: video.topic
        })
        yield* Pipeline.VideoPipeline.interrupt(executionId).pipe(
          Effect.provideService(WorkflowEngine.WorkflowEngine, engine)
        )
        // What the video's reservation still holds (its estimate less the stages settled) goes back to the budgets.
        yield* ledger.release(videoId).pipe(Effect.orDie)
        const now = yield* DateTime.now
        const cancelled = yield* videos.update(videoId, (current) =>
          Video.isFinal(current.status)
            ? current
            : new Video.Video({ ...current, status: "cancelled", updatedAt: now, completedAt: now }))
        yield* clientFor(video.channelId).VideoFinished({ videoId }, { discard: true }).pipe(
          Effect.catchTag(clusterFailures, Effect.die)
        )
        return cancelled
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
      })
    })
  }))
}
