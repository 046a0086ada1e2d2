/**
 * The channel actor: the implementation of the domain's ChannelEntity. Each channel's commands are handled one
 * at a time by its entity (on whichever runner owns the channel's shard), which makes it the single writer of
 * the channel's record and of its queue of videos:
 *
 * - `RequestVideo` checks the channel's status and hard budget control, stores the video as queued (once per
 *   video id) and starts it when fewer than `maxInFlight` of the channel's videos run; the others wait in
 *   request order and start as running ones finish (`VideoFinished`, sent by the pipeline).
 * - Hard control: when a budget scope of the channel (its day, its tenant's day, the operation's day or month)
 *   is spent, a non-critical channel refuses new videos with BudgetExceeded and becomes `budget-paused` until
 *   that period rolls over (a durable wake-up then resumes it). Critical channels keep producing.
 * - The schedule: registering or configuring a channel with a cron schedule sends it a `Wake` message to be
 *   delivered at the next run; on waking it requests a video (its id derived from the channel and the time, so
 *   a repeated wake-up makes no second video) and schedules the next. The wake-ups are persisted messages, so
 *   the schedule survives restarts.
 * - Deletion (by the runtime's facade) pauses the channel, cancels its unfinished videos and removes its record:
 *   a wake-up or a finished video of a channel without a record does nothing, so its schedule stops there.
 * - Idle channels passivate (`maxIdleTime`); their state lives in the repositories, so they come back on
 *   demand with nothing lost.
 *
 * @since 0.1.0
 */
import { Budget, Channel, ChannelEntity, Errors, Ids, Pipeline, Pricing, Video } from "@ytempire/domain"
import { Cron, DateTime, Duration, Effect, Layer, Option, Schema, Tracer } from "effect"
import { Entity } from "effect/cluster"
import * as BudgetLedger from "./BudgetLedger.ts"
import * as BudgetLimitsStore from "./BudgetLimitsStore.ts"
import * as ChannelRepository from "./ChannelRepository.ts"
import * as ProviderChain from "./ProviderChain.ts"
import * as VideoPipeline from "./VideoPipeline.ts"
import * as VideoRepository from "./VideoRepository.ts"

/**
 * How the channel actors behave.
 *
 * @category models
 */
export interface Options {
  /** Videos of one channel produced at the same time (default 1); more wait in order. */
  readonly maxInFlight?: number | undefined
  /** How long an idle channel stays in memory (default 5 minutes). */
  readonly maxIdleTime?: Duration.Input | undefined
}

/**
 * The topic of a scheduled video: the channel's niche and the day, so that each run has its own.
 *
 * @category utils
 */
export const scheduledTopic = (channel: Channel.Channel, at: DateTime.Utc): string =>
  `${channel.niche}: the ${DateTime.formatIsoDate(at)} roundup`

/**
 * The id of the video a scheduled run requests: `scheduled:<channel>:<time>`, so that the same run never makes
 * two videos; requests may not use the prefix, so no one else can take a run's id first.
 *
 * @category utils
 */
export const scheduledVideoId = (channelId: Ids.ChannelId, at: DateTime.Utc): Ids.VideoId =>
  Schema.decodeSync(Ids.VideoId)(
    `${Video.scheduledPrefix}${channelId}:${DateTime.formatIso(at).replace(/[^0-9]/g, "").slice(0, 14)}`
  )

/** The channel's next scheduled run after `after`, if it has a schedule. */
const nextRun = (channel: Channel.Channel, after: DateTime.Utc): Option.Option<DateTime.Utc> =>
  channel.schedule === undefined
    ? Option.none()
    : Option.some(DateTime.fromDateUnsafe(Cron.next(channel.schedule.toCron(), after)))

/** The fields of `fields` that are not undefined. */
const definedOnly = <A extends Record<string, unknown>>(
  fields: A
): Partial<{ [K in keyof A]: Exclude<A[K], undefined> }> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as never

/**
 * The channel entity's layer. Needs the repositories, the ledger, the pipeline's settings and the workflow
 * engine (to start pipelines), and Sharding (to schedule its own wake-ups).
 *
 * @category layers
 */
export const layer = (options: Options = {}) =>
  ChannelEntity.ChannelEntity.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const channelId = Schema.decodeSync(Ids.ChannelId)(address.entityId)
      const channels = yield* ChannelRepository.ChannelRepository
      const videos = yield* VideoRepository.VideoRepository
      const ledger = yield* BudgetLedger.BudgetLedger
      const settings = yield* VideoPipeline.PipelineSettings
      const limitsStore = yield* Effect.serviceOption(BudgetLimitsStore.BudgetLimitsStore)
      const clientFor = yield* ChannelEntity.ChannelEntity.client
      const self = clientFor(channelId)
      const maxInFlight = Math.max(1, options.maxInFlight ?? 1)

      const wakeAt = (at: DateTime.Utc) =>
        self.Wake(new ChannelEntity.Wakeup({ at }), { discard: true }).pipe(Effect.orDie)

      const scheduleNext = Effect.fnUntraced(function*(channel: Channel.Channel) {
        const next = nextRun(channel, yield* DateTime.now)
        if (Option.isSome(next)) yield* wakeAt(next.value)
      })

      const save = Effect.fnUntraced(function*(channel: Channel.Channel, change: Partial<Channel.Channel>) {
        const now = yield* DateTime.now
        return yield* channels.put(new Channel.Channel({ ...channel, ...change, updatedAt: now }))
      })

      /**
       * Starts queued videos, oldest first, while fewer than `maxInFlight` run. Each workflow starts under the span
       * that requested its video (the video's trace), not under the command that happens to start it (a video
       * finishing is another video's trace).
       */
      const startQueued = Effect.fnUntraced(function*(channel: Channel.Channel) {
        if (channel.status !== "active") return
        const running = yield* videos.list({ channelId, status: "running" })
        const queued = (yield* videos.list({ channelId, status: "queued" })).toReversed()
        for (const video of queued.slice(0, Math.max(0, maxInFlight - running.length))) {
          // Marked running before the workflow starts, so that the next command sees it in flight.
          const now = yield* DateTime.now
          yield* videos.update(video.id, (current) =>
            current.status === "queued" ? new Video.Video({ ...current, status: "running", updatedAt: now }) : current)
          const execute = Pipeline.VideoPipeline.execute({
            videoId: video.id,
            channelId: video.channelId,
            tenantId: video.tenantId,
            topic: video.topic
          }, { discard: true })
          yield* video.traceId === undefined || video.spanId === undefined
            ? execute
            : Effect.withParentSpan(execute, Tracer.externalSpan({ traceId: video.traceId, spanId: video.spanId }))
        }
      }, Effect.orDie)

      /** The first spent scope that a new video of this channel would reserve in, if any. */
      const spentScope = Effect.fnUntraced(function*(channel: Channel.Channel) {
        const now = yield* DateTime.now
        const probe = { tenantId: channel.tenantId, channelId: channel.id, videoId: Ids.VideoId.make("probe") }
        const limits = Option.isSome(limitsStore) ? yield* limitsStore.value.get(channel.tenantId) : settings.limits
        const scopes = Budget.scopesFor(probe, now, settings.budgetZone)
          .filter((scope) =>
            scope._tag !== "video"
          )
          .map((scope) => ({ scope, limit: Budget.limitFor(scope._tag, channel.budget, limits) }))
        const statuses = yield* Effect.orDie(ledger.status(scopes))
        return Option.fromUndefinedOr(statuses.find((status) => status.level === "hard"))
      })

      const loadChannel = channels.get(channelId)

      return ChannelEntity.ChannelEntity.of({
        Register: ({ payload }) =>
          Effect.gen(function*() {
            const now = yield* DateTime.now
            const existing = yield* Effect.option(loadChannel)
            if (Option.isSome(existing) && existing.value.tenantId !== payload.tenantId) {
              return yield* new Errors.Forbidden({ message: `channel id ${channelId} is not available` })
            }
            const channel = yield* channels.put(
              new Channel.Channel({
                ...payload.registration,
                id: channelId,
                tenantId: payload.tenantId,
                status: Option.match(existing, { onNone: () => "active" as const, onSome: (c) => c.status }),
                createdAt: Option.match(existing, { onNone: () => now, onSome: (c) => c.createdAt }),
                updatedAt: now
              })
            )
            yield* scheduleNext(channel)
            return channel
          }),

        Configure: ({ payload: { update } }) =>
          Effect.gen(function*() {
            const { schedule, youtubeAccount, ...current } = yield* loadChannel
            // Absent fields stay as they are; `null` removes the schedule or the account binding.
            const nextSchedule = update.schedule === null ? undefined : update.schedule ?? schedule
            const nextAccount = update.youtubeAccount === null ? undefined : update.youtubeAccount ?? youtubeAccount
            const channel = yield* channels.put(
              new Channel.Channel({
                ...current,
                ...definedOnly({
                  name: update.name,
                  niche: update.niche,
                  language: update.language,
                  style: update.style,
                  priority: update.priority,
                  budget: update.budget === undefined ? undefined : Budget.updatePolicy(current.budget, update.budget),
                  quality: update.quality
                }),
                ...(nextSchedule === undefined ? {} : { schedule: nextSchedule }),
                ...(nextAccount === undefined ? {} : { youtubeAccount: nextAccount }),
                updatedAt: yield* DateTime.now
              })
            )
            if (update.schedule !== undefined) yield* scheduleNext(channel)
            return channel
          }),

        Pause: () => Effect.flatMap(loadChannel, (channel) => save(channel, { status: "paused" })),

        Resume: () =>
          Effect.gen(function*() {
            const channel = yield* save(yield* loadChannel, { status: "active" })
            yield* startQueued(channel)
            // A wake-up that found the channel paused did not schedule the next run (a pending one is not sent
            // twice: wake-ups are deduplicated by their time).
            yield* scheduleNext(channel)
            return channel
          }),

        RequestVideo: ({ payload }) =>
          Effect.gen(function*() {
            let channel = yield* loadChannel
            // A video already requested of this channel is answered as it stands, whatever the channel's state
            // now. An id that another channel's video holds is refused without a word about that video: ids are
            // global, and the answer must not carry another channel's (or tenant's) record.
            const existing = yield* Effect.option(videos.get(payload.videoId))
            if (Option.isSome(existing)) {
              if (existing.value.channelId === channelId) return existing.value
              return yield* new Errors.InvalidRequest({
                message: `video id ${payload.videoId} is already used by another video; choose another id`,
                field: "videoId"
              })
            }
            if (channel.status === "paused") {
              return yield* new Channel.ChannelPaused({ channelId, status: channel.status })
            }
            if (channel.priority !== "critical") {
              const spent = yield* spentScope(channel)
              if (Option.isSome(spent)) {
                const status = spent.value
                if (channel.status !== "budget-paused") {
                  channel = yield* save(channel, { status: "budget-paused" })
                  const now = yield* DateTime.now
                  const rollover = Budget.rolloverAfter(status.scope._tag, now, settings.budgetZone)
                  if (Option.isSome(rollover)) yield* wakeAt(rollover.value)
                }
                return yield* new Budget.BudgetExceeded({
                  scope: status.scope,
                  limit: status.limit ?? status.committed,
                  committed: status.committed,
                  reserved: status.reserved,
                  needed: Pricing.videoEstimate(
                    ProviderChain.startTier(channel.quality, true),
                    settings.plan,
                    settings.prices
                  ).total
                })
              }
            }
            if (channel.status === "budget-paused") channel = yield* save(channel, { status: "active" })
            const now = yield* DateTime.now
            // The request's trace is the video's: the workflow, started now or once the video's turn comes,
            // continues this span (cluster messages carry the span), and so does every stage after a restart.
            const span = yield* Effect.option(Effect.currentParentSpan)
            const queued = VideoPipeline.queued({
              videoId: payload.videoId,
              channel,
              topic: payload.topic,
              traceId: Option.isSome(span) ? span.value.traceId : undefined
            }, now)
            const video = yield* videos.insert(
              Option.isSome(span) ? new Video.Video({ ...queued, spanId: span.value.spanId }) : queued
            )
            yield* startQueued(channel)
            return yield* videos.get(video.id).pipe(Effect.orDie)
          }),

        // A deleted channel's videos may still finish (or be cancelled by the deletion): nothing to start then.
        VideoFinished: () =>
          Effect.flatMap(
            Effect.option(loadChannel),
            Option.match({ onNone: () => Effect.void, onSome: startQueued })
          ),

        Wake: ({ payload }) =>
          Effect.gen(function*() {
            // A deleted channel: its schedule ends here.
            const found = yield* Effect.option(loadChannel)
            if (Option.isNone(found)) return
            let channel = found.value
            // The end of a budget period: a budget-paused channel may produce again (checked on the next request).
            if (channel.status === "budget-paused") {
              channel = yield* save(channel, { status: "active" })
              yield* startQueued(channel)
            }
            // A scheduled run: only if the schedule still has a run at this moment (it may have changed since).
            const schedule = channel.schedule
            if (schedule === undefined || channel.status !== "active") return
            if (!Cron.match(schedule.toCron(), payload.at)) return
            const videoId = scheduledVideoId(channelId, payload.at)
            yield* self.RequestVideo({ videoId, topic: scheduledTopic(channel, payload.at) }, { discard: true }).pipe(
              Effect.orDie
            )
            const next = nextRun(channel, payload.at)
            if (Option.isSome(next)) yield* wakeAt(next.value)
          }),

        State: () =>
          Effect.gen(function*() {
            const channel = yield* loadChannel
            const running = yield* videos.list({ channelId, status: "running" })
            const queued = yield* videos.list({ channelId, status: "queued" })
            const next = channel.status === "active" ? nextRun(channel, yield* DateTime.now) : Option.none()
            return new ChannelEntity.ChannelState({
              channel,
              running: running.map((video) => video.id),
              queued: queued.toReversed().map((video) => video.id),
              ...(Option.isSome(next) ? { nextScheduledRun: next.value } : {})
            })
          })
      })
    }),
    { maxIdleTime: options.maxIdleTime ?? "5 minutes" }
  )

/**
 * Points the pipeline's finished-video listener at the channel entity, so that a channel starts its next
 * queued video when one finishes.
 *
 * @category layers
 */
export const layerFinishedListener = Layer.effect(VideoPipeline.VideoFinishedListener)(
  Effect.gen(function*() {
    const clientFor = yield* ChannelEntity.ChannelEntity.client
    return {
      onFinished: (video: Video.Video) =>
        clientFor(video.channelId).VideoFinished({ videoId: video.id }, { discard: true }).pipe(Effect.orDie)
    }
  })
)
