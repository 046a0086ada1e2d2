/**
 * Every operation of the server's API, once: the RPC handlers and the REST handlers are thin adapters over
 * these. Each reads the caller from `Auth.CurrentPrincipal`, checks that the caller's role allows it (a viewer
 * only reads; only an admin manages keys), and acts within the caller's tenant, so another tenant's channel or
 * video is simply not found.
 *
 * @since 0.1.0
 */
import { Auth, Budget, Channel, Errors, Gpu, Ids, Operations as Contract, Video } from "@ytempire/domain"
import { YtempireRuntime } from "@ytempire/runtime"
import { Clock, Context, Effect, Layer, Option, Schema, Stream } from "effect"
import * as ApiKeys from "./ApiKeys.ts"
import { version } from "./Version.ts"

/**
 * What the operations need to know about the server itself.
 *
 * @category models
 */
export interface Settings {
  /** The tenant whose admins may change the operation-wide (global) budget limits. */
  readonly operatorTenant: Ids.TenantId
  /** When the server started (epoch milliseconds), for its uptime. */
  readonly startedAt: number
}

/** The caller, if the role allows `permission`; Forbidden otherwise. */
const allowed = (permission: Auth.Permission) =>
  Effect.flatMap(Auth.CurrentPrincipal, (principal: Auth.Principal) =>
    Auth.allows(principal.role, permission)
      ? Effect.succeed(principal)
      : Effect.fail(
        new Errors.Forbidden({ message: `the ${principal.role} role may not ${describe[permission]}` })
      ))

const describe: Record<Auth.Permission, string> = {
  read: "read",
  write: "change channels, videos or budgets",
  "manage-keys": "manage API keys"
}

const encodeRegistration = Schema.encodeSync(Channel.ChannelRegistration)
const encodeUpdate = Schema.encodeSync(Channel.ChannelUpdate)
const encodeVideoRequest = Schema.encodeSync(Video.VideoRequest)

const reader = allowed("read")
const writer = allowed("write")

/**
 * The API's operations, for the caller in `Auth.CurrentPrincipal`.
 *
 * @category services
 */
export class Operations extends Context.Service<Operations, {
  readonly registerChannel: (
    registration: Channel.ChannelRegistration
  ) => Effect.Effect<Channel.Channel, Errors.InvalidRequest | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly listChannels: (
    request: { readonly status?: Channel.ChannelStatus | undefined; readonly cursor?: string; readonly limit?: number }
  ) => Effect.Effect<Channel.ChannelPage, Errors.InvalidRequest | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly getChannel: (
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly updateChannel: (
    channelId: Ids.ChannelId,
    update: Channel.ChannelUpdate
  ) => Effect.Effect<
    Channel.Channel,
    Channel.ChannelNotFound | Errors.InvalidRequest | Errors.Forbidden,
    Auth.CurrentPrincipal
  >
  readonly pauseChannel: (
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly resumeChannel: (
    channelId: Ids.ChannelId
  ) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly deleteChannel: (
    channelId: Ids.ChannelId
  ) => Effect.Effect<void, Channel.ChannelNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly generateVideo: (
    request: Video.VideoRequest
  ) => Effect.Effect<
    Video.Video,
    | Channel.ChannelNotFound
    | Channel.ChannelPaused
    | Budget.BudgetExceeded
    | Errors.InvalidRequest
    | Errors.Forbidden,
    Auth.CurrentPrincipal
  >
  readonly getVideo: (
    videoId: Ids.VideoId
  ) => Effect.Effect<Video.Video, Video.VideoNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly listVideos: (
    request: {
      readonly channelId?: Ids.ChannelId | undefined
      readonly status?: Video.VideoStatus | undefined
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
    }
  ) => Effect.Effect<
    Video.VideoPage,
    Channel.ChannelNotFound | Errors.InvalidRequest | Errors.Forbidden,
    Auth.CurrentPrincipal
  >
  readonly cancelVideo: (
    videoId: Ids.VideoId
  ) => Effect.Effect<Video.Video, Video.VideoNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  /** The video's progress: what happened so far, then each change, ending after its final event. */
  readonly watchVideo: (
    videoId: Ids.VideoId
  ) => Stream.Stream<Video.VideoProgress, Video.VideoNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
  readonly budgetStatus: (
    channelId: Ids.ChannelId | undefined
  ) => Effect.Effect<
    ReadonlyArray<Budget.BudgetStatus>,
    Channel.ChannelNotFound | Errors.Forbidden,
    Auth.CurrentPrincipal
  >
  readonly budgetLimits: Effect.Effect<Budget.BudgetLimits, Errors.Forbidden, Auth.CurrentPrincipal>
  /**
   * Changes limits: the caller's tenant daily limit (an admin or operator); the global ones only by an admin of
   * the operator tenant.
   */
  readonly setBudgetLimits: (
    update: Budget.BudgetLimitsUpdate
  ) => Effect.Effect<Budget.BudgetLimits, Errors.Forbidden, Auth.CurrentPrincipal>
  readonly costReport: (
    request: {
      readonly from: typeof Budget.Day.Type
      readonly to: typeof Budget.Day.Type
      readonly channelId?: Ids.ChannelId | undefined
    }
  ) => Effect.Effect<
    Budget.CostReport,
    Channel.ChannelNotFound | Errors.InvalidRequest | Errors.Forbidden,
    Auth.CurrentPrincipal
  >
  readonly gpuStatus: Effect.Effect<Gpu.GpuStatus, Errors.Forbidden, Auth.CurrentPrincipal>
  readonly status: Effect.Effect<Contract.ServiceStatus, Errors.Forbidden, Auth.CurrentPrincipal>
  readonly createApiKey: (
    request: Auth.ApiKeyRequest
  ) => Effect.Effect<Auth.CreatedApiKey, Errors.Forbidden, Auth.CurrentPrincipal>
  readonly listApiKeys: Effect.Effect<ReadonlyArray<Auth.ApiKey>, Errors.Forbidden, Auth.CurrentPrincipal>
  readonly revokeApiKey: (
    keyId: Ids.ApiKeyId
  ) => Effect.Effect<Auth.ApiKey, Auth.ApiKeyNotFound | Errors.Forbidden, Auth.CurrentPrincipal>
}>()("@ytempire/server/Operations") {
  /**
   * The operations over the runtime's facade and the key store.
   */
  static readonly layer = (
    settings: Settings
  ): Layer.Layer<Operations, never, YtempireRuntime.Ytempire | ApiKeys.ApiKeys> =>
    Layer.effect(Operations)(Effect.gen(function*() {
      const ytempire = yield* YtempireRuntime.Ytempire
      const keys = yield* ApiKeys.ApiKeys

      return Operations.of({
        registerChannel: Effect.fn("Operations.registerChannel")(function*(registration) {
          const { tenantId } = yield* writer
          // The facade decodes what it is given: hand it the wire form (Money as a decimal string), not the decoded value.
          return yield* ytempire.registerChannel(tenantId, encodeRegistration(registration))
        }),
        listChannels: Effect.fn("Operations.listChannels")(function*(request) {
          const { tenantId } = yield* reader
          return yield* ytempire.listChannels(tenantId, request)
        }),
        getChannel: Effect.fn("Operations.getChannel")(function*(channelId) {
          const { tenantId } = yield* reader
          return yield* ytempire.getChannel(tenantId, channelId)
        }),
        updateChannel: Effect.fn("Operations.updateChannel")(function*(channelId, update) {
          const { tenantId } = yield* writer
          return yield* ytempire.updateChannel(tenantId, channelId, encodeUpdate(update))
        }),
        pauseChannel: Effect.fn("Operations.pauseChannel")(function*(channelId) {
          const { tenantId } = yield* writer
          return yield* ytempire.pauseChannel(tenantId, channelId)
        }),
        resumeChannel: Effect.fn("Operations.resumeChannel")(function*(channelId) {
          const { tenantId } = yield* writer
          return yield* ytempire.resumeChannel(tenantId, channelId)
        }),
        deleteChannel: Effect.fn("Operations.deleteChannel")(function*(channelId) {
          const { tenantId } = yield* writer
          return yield* ytempire.deleteChannel(tenantId, channelId)
        }),
        generateVideo: Effect.fn("Operations.generateVideo")(function*(request) {
          const { tenantId } = yield* writer
          return yield* ytempire.requestVideo(tenantId, encodeVideoRequest(request))
        }),
        getVideo: Effect.fn("Operations.getVideo")(function*(videoId) {
          const { tenantId } = yield* reader
          return yield* ytempire.getVideo(tenantId, videoId)
        }),
        listVideos: Effect.fn("Operations.listVideos")(function*(request) {
          const { tenantId } = yield* reader
          return yield* ytempire.listVideos(tenantId, request)
        }),
        cancelVideo: Effect.fn("Operations.cancelVideo")(function*(videoId) {
          const { tenantId } = yield* writer
          return yield* ytempire.cancelVideo(tenantId, videoId)
        }),
        watchVideo: (videoId) =>
          Stream.unwrap(Effect.map(reader, ({ tenantId }) => {
            let previous: Video.Video | undefined
            return ytempire.watchVideo(tenantId, videoId).pipe(
              Stream.flatMap((video) => {
                const events = Video.progressBetween(previous, video)
                previous = video
                return Stream.fromIterable(events)
              })
            )
          })),
        budgetStatus: Effect.fn("Operations.budgetStatus")(function*(channelId) {
          const { tenantId } = yield* reader
          return yield* ytempire.budgetStatus(tenantId, channelId)
        }),
        budgetLimits: Effect.gen(function*() {
          const { tenantId } = yield* reader
          return yield* ytempire.budgetLimits(tenantId)
        }),
        setBudgetLimits: Effect.fn("Operations.setBudgetLimits")(function*(update) {
          const principal = yield* writer
          const global = update.globalDaily !== undefined || update.globalMonthly !== undefined
          if (global && (principal.tenantId !== settings.operatorTenant || principal.role !== "admin")) {
            return yield* new Errors.Forbidden({
              message: `only an admin of the operator tenant (${settings.operatorTenant}) may change the global limits`
            })
          }
          if (update.tenantDaily !== undefined) {
            yield* ytempire.setTenantDailyLimit(principal.tenantId, Option.fromNullishOr(update.tenantDaily))
          }
          if (global) {
            yield* ytempire.setGlobalLimits({
              ...(update.globalDaily === undefined ? {} : { daily: update.globalDaily }),
              ...(update.globalMonthly === undefined ? {} : { monthly: update.globalMonthly })
            })
          }
          return yield* ytempire.budgetLimits(principal.tenantId)
        }),
        costReport: Effect.fn("Operations.costReport")(function*(request) {
          const { tenantId } = yield* reader
          return yield* ytempire.costReport(tenantId, request)
        }),
        gpuStatus: Effect.andThen(reader, ytempire.gpuStatus),
        status: Effect.gen(function*() {
          const { tenantId } = yield* reader
          const counts = yield* ytempire.counts(tenantId)
          const now = yield* Clock.currentTimeMillis
          return new Contract.ServiceStatus({
            version,
            uptimeSeconds: Math.max(0, (now - settings.startedAt) / 1000),
            channels: counts.channels,
            videos: counts.videos
          })
        }),
        createApiKey: Effect.fn("Operations.createApiKey")(function*(request) {
          const { tenantId } = yield* allowed("manage-keys")
          return yield* keys.create(tenantId, request)
        }),
        listApiKeys: Effect.gen(function*() {
          const { tenantId } = yield* allowed("manage-keys")
          return yield* keys.list(tenantId)
        }),
        revokeApiKey: Effect.fn("Operations.revokeApiKey")(function*(keyId) {
          const { tenantId } = yield* allowed("manage-keys")
          return yield* keys.revoke(tenantId, keyId)
        })
      })
    }))
}
