/**
 * The implementation of the domain's VideoPipeline workflow: script → voice → thumbnail → render → upload, one
 * activity per stage, named after its stage (`script`, `voice`, `thumbnail`, `render`, `upload`).
 *
 * Every stage runs the same way: run the stage's provider chain in a scratch directory, store the produced file
 * in the content-addressed artifact store, move the stage's actual cost (from the providers' usage) out of the
 * video's reservation into committed spend, and record the stage (and the next one as running) on the video.
 * Besides that:
 * - `script` first starts the video: it reads the channel's settings (returned, so that every later stage and
 *   every replay uses the same ones), chooses the starting tier (the channel's quality, cheaper under soft budget
 *   control) and reserves the whole video's estimate at that tier in all of its budget scopes at once (day,
 *   tenant, channel, month, video): a video that starts is funded to its end, and a budget that admits N videos
 *   lets N start;
 * - `upload` last finishes it: what the estimate held beyond the actual costs goes back to the budgets and the
 *   video is completed.
 *
 * Each activity's result is stored by the workflow engine under its stable name, so after a crash the pipeline
 * resumes at the first unfinished stage. A crash inside an activity, after its stage was recorded but before the
 * engine stored its result, re-runs the activity: it finds the stage completed on the video and returns its
 * artifact without running or paying for it again. The reservation is idempotent by video id and settlements
 * by stage, so no step charges twice. A budget refusal fails the video at once and is never retried; a stage
 * whose every provider failed fails the video with every attempt recorded (activity `<stage>:fail`, which also
 * releases what is left of the reservation).
 *
 * Fewer, fatter activities are deliberate: each activity is a round trip through the engine's message storage,
 * which is most of what a video costs the runtime (see `bench/pipeline.ts`).
 *
 * @since 0.1.0
 */
import { Budget, Channel, Money, Pipeline, Pricing, Provider, Stage, Video } from "@ytempire/domain"
import { Scheduler } from "@ytempire/gpu"
import { Context, DateTime, Effect, Layer, Option, Schema } from "effect"
import { Activity } from "effect/workflow"
import * as ArtifactStore from "./ArtifactStore.ts"
import * as BudgetLedger from "./BudgetLedger.ts"
import * as BudgetLimitsStore from "./BudgetLimitsStore.ts"
import * as ChannelRepository from "./ChannelRepository.ts"
import * as PipelineMetrics from "./PipelineMetrics.ts"
import * as ProviderChain from "./ProviderChain.ts"
import * as Providers from "./Providers.ts"
import * as VideoRepository from "./VideoRepository.ts"

/**
 * How the pipeline prices and limits work: the price table, the operation-wide limits, the time zone of budget
 * days and months, the expected work of a video (for estimates) and the retry policy of provider chains.
 *
 * `limits` are the configured limits. With a `BudgetLimitsStore` in the context (the runtime always has one),
 * reservations use the store's limits, which start from these and can be changed at run time; without one,
 * these apply as they are.
 *
 * @category services
 */
export const PipelineSettings = Context.Reference<{
  readonly prices: Pricing.PriceTable
  readonly limits: Budget.BudgetLimits
  readonly budgetZone: DateTime.TimeZone
  readonly plan: Pricing.VideoPlan
  readonly retry: ProviderChain.RetryPolicy
}>("@ytempire/runtime/PipelineSettings", {
  defaultValue: () => ({
    prices: Pricing.defaultTable,
    limits: new Budget.BudgetLimits({}),
    budgetZone: DateTime.zoneMakeOffset(0),
    plan: Pricing.defaultPlan,
    retry: ProviderChain.defaultPolicy
  })
})

/**
 * Told when a video reaches a final status (completed or failed), so that its channel can start the next one.
 * The runtime points it at the channel entity; by default nobody listens. It may be told twice after a crash.
 *
 * @category services
 */
export const VideoFinishedListener = Context.Reference<{
  readonly onFinished: (video: Video.Video) => Effect.Effect<void>
}>("@ytempire/runtime/VideoPipeline/VideoFinishedListener", {
  defaultValue: () => ({ onFinished: () => Effect.void })
})

/** How the video is funded: its reservation, the tier its stages start at, and whether soft control chose it. */
const Funding = Schema.Struct({
  reservationId: Schema.String,
  tier: Provider.ProviderTier,
  softControl: Schema.Boolean
})
type Funding = typeof Funding.Type

/** What the `script` activity stores: the channel's settings for the whole video, its funding and the script. */
const Started = Schema.Struct({
  channel: Channel.Channel,
  funding: Funding,
  artifact: Video.ArtifactRef
})

const stageOrder = (a: Video.StageRecord, b: Video.StageRecord) =>
  Stage.all.indexOf(a.stage) - Stage.all.indexOf(b.stage)

const withStage = (video: Video.Video, record: Video.StageRecord): Video.Video => {
  const stages = [...video.stages.filter((existing) => existing.stage !== record.stage), record].toSorted(stageOrder)
  return new Video.Video({
    ...video,
    stages,
    currentStage: record.stage,
    totalCost: Money.sum(stages.map((entry) => entry.cost))
  })
}

const completedRecord = (video: Video.Video, stage: Stage.Stage): Video.StageRecord | undefined =>
  video.stages.find((record) => record.stage === stage && record.status === "completed" && record.artifact)

const recorded = (error: { readonly _tag: string; readonly message: string }, retryable: boolean) =>
  new Video.RecordedError({ tag: error._tag, message: error.message, retryable })

/**
 * The tier a replayed start chose: the one whose whole-video estimate is the amount reserved. (Recomputing it
 * from the budgets' standing would see the video's own reservation, and might choose a cheaper tier.)
 */
const tierReserved = (amount: Money.Money, settings: typeof PipelineSettings.Service) =>
  Provider.tiers.find((tier) => Pricing.videoEstimate(tier, settings.plan, settings.prices).total === amount)

/**
 * The VideoPipeline workflow's implementation. It needs the repositories, the ledger, the artifact store and
 * the five stage chains; the workflow engine (in memory, on SQL, or on a cluster) comes from the edge.
 *
 * @category layers
 */
export const layer = Pipeline.VideoPipeline.toLayer(
  Effect.fnUntraced(function*(payload) {
    const settings = yield* PipelineSettings
    const videos = yield* VideoRepository.VideoRepository
    const ledger = yield* BudgetLedger.BudgetLedger
    const artifacts = yield* ArtifactStore.ArtifactStore
    const listener = yield* VideoFinishedListener
    const spender = { tenantId: payload.tenantId, channelId: payload.channelId, videoId: payload.videoId }
    const gpu = yield* Effect.serviceOption(Scheduler.Scheduler)
    const limitsStore = yield* Effect.serviceOption(BudgetLimitsStore.BudgetLimitsStore)
    // A provider that declares GPU work runs each attempt under a lease of the scheduler, when there is one.
    const underLease = (
      stage: Stage.Stage,
      channelId: Channel.Channel["id"],
      provider: Providers.StageProvider
    ): Providers.StageProvider => {
      const spec = provider.gpu
      if (spec === undefined || Option.isNone(gpu)) return provider
      return {
        ...provider,
        run: (input) =>
          Effect.scoped(
            gpu.value.acquire(spec, { channel: channelId, video: payload.videoId }).pipe(
              Effect.mapError((error) =>
                new Provider.ProviderUnavailable({
                  provider: provider.name,
                  stage,
                  reason: error.message,
                  retryable: error.isRetryable
                })
              ),
              Effect.flatMap((lease) => provider.run({ ...input, gpu: lease }))
            )
          )
      }
    }
    const estimateOf = (stage: Stage.Stage, tier: Provider.ProviderTier) =>
      Pricing.estimate(stage, tier, settings.plan, settings.prices)

    // A failed video gives back what its reservation still holds (nothing, when none was made) and records why.
    const fail = (stage: Stage.Stage, error: Video.RecordedError, attempts: ReadonlyArray<Video.ProviderAttempt>) =>
      Activity.make({
        name: `${stage}:fail`,
        execute: Effect.gen(function*() {
          yield* ledger.release(payload.videoId)
          const now = yield* DateTime.now
          // Whether this write made the video final (`update` may call its function more than once: the last
          // call is the one written): a replay finds it final and counts nothing.
          let failedHere = false
          const failed = yield* videos.update(payload.videoId, (video) => {
            failedHere = !Video.isFinal(video.status)
            if (Video.isFinal(video.status)) return video
            const previous = video.stages.find((record) => record.stage === stage)
            const withFailure = withStage(
              video,
              new Video.StageRecord({
                ...(previous ?? { stage, attempts: [], cost: Money.zero }),
                stage,
                status: "failed",
                attempts,
                endedAt: now
              })
            )
            return new Video.Video({ ...withFailure, status: "failed", error, updatedAt: now, completedAt: now })
          })
          if (failedHere) {
            yield* PipelineMetrics.videoFinished(failed)
            // A stage's failure is its last provider's; a refusal before any provider ran is the refusal's.
            yield* PipelineMetrics.videoFailed(stage, attempts.at(-1)?.error?.tag ?? error.tag)
          }
          yield* listener.onFinished(failed)
        }).pipe(Effect.orDie)
      })

    // The video's end, after its last stage was recorded (which completed it): what its reservation still holds
    // goes back, and its channel is told.
    const finish = (video: Video.Video) => Effect.andThen(ledger.release(payload.videoId), listener.onFinished(video))

    /**
     * One stage, the same way for all: providers → artifact → settlement → record. `video` is the record as the
     * activity found it; a stage recorded completed there is not run again.
     */
    const runStage = Effect.fn("VideoPipeline.stage")(function*(
      stage: Stage.Stage,
      video: Video.Video,
      channel: Channel.Channel,
      funding: Funding,
      inputs: Partial<Record<Stage.Stage, string>>
    ) {
      yield* Effect.annotateCurrentSpan("ytempire.stage", stage)
      const done = completedRecord(video, stage)
      if (done?.artifact !== undefined) return { artifact: done.artifact, video }
      const estimated = estimateOf(stage, funding.tier)
      const startedAt = video.stages.find((record) => record.stage === stage)?.startedAt ?? (yield* DateTime.now)
      const chain = yield* Providers.chainOf(stage)
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const scratch = yield* artifacts.scratch
        const providers = chain.providers.map((provider) => underLease(stage, channel.id, provider))
        const output = yield* ProviderChain.run(stage, providers, {
          channel,
          videoId: payload.videoId,
          topic: payload.topic,
          scratch,
          inputs
        }, {
          startTier: funding.tier,
          policy: settings.retry,
          startReason: funding.softControl ? "soft budget control" : undefined
        })
        const value = output.value
        const artifact = yield* ("bytes" in value
          ? artifacts.putBytes(value.bytes, value.mediaType)
          : artifacts.putFile(value.path, value.mediaType))
        return { ...output, artifact }
      }))
      const actual = Pricing.cost(result.usage, settings.prices)
      yield* Effect.annotateCurrentSpan({
        "ytempire.provider": result.provider,
        "ytempire.provider.tier": result.tier,
        "ytempire.cost_usd": Money.toDollars(actual)
      })
      const settled = yield* ledger.settle(funding.reservationId, stage, actual).pipe(Effect.orDie)
      if (!settled.replayed) yield* PipelineMetrics.usageSettled(result.usage, settings.prices, actual)
      const endedAt = yield* DateTime.now
      const following = Stage.next(stage)
      // Whether this write completed the video (the last call of the function is the one written).
      let completedHere = false
      const updated = yield* videos.update(payload.videoId, (current) => {
        completedHere = false
        const completed = withStage(
          current,
          new Video.StageRecord({
            stage,
            status: "completed",
            provider: result.provider,
            tier: result.tier,
            attempts: result.attempts,
            estimated,
            cost: actual,
            startedAt,
            endedAt,
            artifact: result.artifact
          })
        )
        // The next stage starts now, or the video is complete: recorded in the same write, so that a stage
        // costs the records one write.
        if (current.status !== "running") return completed
        if (Option.isNone(following)) {
          completedHere = true
          return new Video.Video({ ...completed, status: "completed", updatedAt: endedAt, completedAt: endedAt })
        }
        return withStage(
          completed,
          new Video.StageRecord({
            stage: following.value,
            status: "running",
            attempts: [],
            estimated: estimateOf(following.value, funding.tier),
            cost: Money.zero,
            startedAt: endedAt
          })
        )
      })
      yield* PipelineMetrics.stageCompleted(stage, result.provider, startedAt, endedAt)
      if (completedHere) yield* PipelineMetrics.videoFinished(updated)
      return { artifact: result.artifact, video: updated }
    }, Effect.catchTag(["ArtifactError", "VideoNotFound"], Effect.die))

    // script: start the video (channel settings, funding, running), then its first stage.
    const started = yield* Activity.make({
      name: "script",
      success: Started,
      error: Schema.Union([Video.StageFailed, Budget.BudgetExceeded, Channel.ChannelNotFound]),
      execute: Effect.gen(function*() {
        const channel = yield* (yield* ChannelRepository.ChannelRepository).get(payload.channelId)
        const now = yield* DateTime.now
        const limits = Option.isSome(limitsStore) ? yield* limitsStore.value.get(payload.tenantId) : settings.limits
        const scopes = Budget.scopesFor(spender, now, settings.budgetZone).map((scope) => ({
          scope,
          limit: Budget.limitFor(scope._tag, channel.budget, limits)
        }))
        const standing = yield* ledger.status(scopes)
        const softControl = Budget.strictest(standing.map((status) => status.level)) !== "normal"
        const chosen = ProviderChain.startTier(channel.quality, softControl)
        const reserved = yield* ledger.reserve({
          reservationId: payload.videoId,
          scopes,
          amount: Pricing.videoEstimate(chosen, settings.plan, settings.prices).total
        })
        const tier = reserved.replayed ? tierReserved(reserved.reservation.amount, settings) ?? chosen : chosen
        const funding: Funding = { reservationId: payload.videoId, tier, softControl }
        const running = yield* videos.update(payload.videoId, (video) =>
          video.status === "queued"
            ? withStage(
              new Video.Video({ ...video, status: "running", updatedAt: now }),
              new Video.StageRecord({
                stage: "script",
                status: "running",
                attempts: [],
                estimated: estimateOf("script", tier),
                cost: Money.zero,
                startedAt: now
              })
            )
            : video)
        const { artifact } = yield* runStage("script", running, channel, funding, {})
        return { channel, funding, artifact }
      }).pipe(Effect.catchTag(["LedgerUnavailable", "VideoNotFound"], Effect.die))
    }).pipe(
      Effect.tapError((error) =>
        fail("script", recorded(error, false), error._tag === "StageFailed" ? error.attempts : [])
      )
    )

    const { channel, funding } = started
    const inputs: Partial<Record<Stage.Stage, string>> = { script: artifacts.pathOf(started.artifact) }
    for (const stage of Stage.all.slice(1)) {
      const artifact = yield* Activity.make({
        name: stage,
        success: Video.ArtifactRef,
        error: Video.StageFailed,
        execute: Effect.gen(function*() {
          const video = yield* videos.get(payload.videoId)
          const stored = yield* runStage(stage, video, channel, funding, { ...inputs })
          if (stage === "upload") yield* finish(stored.video)
          return stored.artifact
        }).pipe(Effect.catchTag(["VideoNotFound", "LedgerUnavailable"], Effect.die))
      }).pipe(
        Effect.tapError((error) => fail(stage, recorded(error, false), error.attempts))
      )
      inputs[stage] = artifacts.pathOf(artifact)
    }
  }, (body, payload) =>
    // Every span of the video (its activities, stages, provider attempts, reservation and GPU lease waits) names
    // its channel and video, and so does every line it logs.
    Effect.annotateSpans(body, { "ytempire.channel.id": payload.channelId, "ytempire.video.id": payload.videoId })
      .pipe(Effect.annotateLogs({ channelId: payload.channelId, videoId: payload.videoId })))
)

/**
 * Everything the pipeline layer needs besides the workflow engine and the stage chains, in memory: for tests
 * and the in-memory mode.
 *
 * @category layers
 */
export const layerMemoryStores: Layer.Layer<
  VideoRepository.VideoRepository | ChannelRepository.ChannelRepository | BudgetLedger.BudgetLedger
> = Layer.mergeAll(
  VideoRepository.VideoRepository.layerMemory,
  ChannelRepository.ChannelRepository.layerMemory,
  BudgetLedger.BudgetLedger.layerMemory
)

/**
 * The first record of a requested video, as the request stores it before the pipeline starts. `traceId` is the
 * trace the request runs in (the video's trace, when the pipeline starts from the request).
 *
 * @category constructors
 */
export const queued = (
  request: {
    readonly videoId: Video.Video["id"]
    readonly channel: Channel.Channel
    readonly topic: string
    readonly traceId?: string | undefined
  },
  now: DateTime.Utc
): Video.Video =>
  new Video.Video({
    id: request.videoId,
    channelId: request.channel.id,
    tenantId: request.channel.tenantId,
    topic: request.topic,
    status: "queued",
    stages: [],
    totalCost: Money.zero,
    ...(request.traceId === undefined ? {} : { traceId: request.traceId }),
    requestedAt: now,
    updatedAt: now
  })
