/**
 * The implementation of the domain's VideoPipeline workflow: script → voice → thumbnail → render → upload.
 *
 * 0. `start` — read the channel's settings (kept for every replay) and mark the video running;
 * 1. `budget:reserve` — choose the starting tier (the channel's quality, cheaper under soft budget control) and
 *    reserve the whole video's estimate at that tier in all of its budget scopes at once (day, tenant, channel,
 *    month, video): a video that starts is funded to its end, and a budget that admits N videos lets N start.
 * 2. for each stage, `<stage>:run` — run the stage's provider chain in a scratch directory and store the
 *    produced file in the content-addressed artifact store; then `<stage>:settle` — move the stage's actual
 *    cost (from the providers' usage) out of the reservation into committed spend, and record the stage.
 * 3. `finish` — give back what the estimate held beyond the actual costs, and mark the video completed.
 *
 * Each step is an activity with a stable, unique name, so its result is stored by the workflow engine: after a
 * crash the pipeline resumes at the first unfinished step, and a finished stage is never run or paid for
 * again. Every step is also idempotent on its own (the reservation by video id, settlements by stage, artifacts
 * by content, records by value), for a crash inside a step. A budget refusal fails the video at once and is
 * never retried; a stage whose every provider failed releases what is left of the reservation and fails the
 * video with every attempt recorded.
 *
 * @since 0.1.0
 */
import { Budget, Channel, Money, Pipeline, Pricing, Provider, Stage, Video } from "@ytempire/domain"
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import { Activity } from "effect/workflow"
import * as ArtifactStore from "./ArtifactStore.ts"
import * as BudgetLedger from "./BudgetLedger.ts"
import * as ChannelRepository from "./ChannelRepository.ts"
import * as ProviderChain from "./ProviderChain.ts"
import * as Providers from "./Providers.ts"
import * as VideoRepository from "./VideoRepository.ts"

/**
 * How the pipeline prices and limits work: the price table, the operation-wide limits, the time zone of budget
 * days and months, the expected work of a video (for estimates) and the retry policy of provider chains.
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

/** What `budget:reserve` stores. */
const Reserved = Schema.Struct({
  reservationId: Schema.String,
  tier: Provider.ProviderTier,
  estimated: Money.Money,
  softControl: Schema.Boolean
})

/** What `<stage>:run` stores. */
const Produced = Schema.Struct({
  artifact: Video.ArtifactRef,
  provider: Schema.String,
  tier: Provider.ProviderTier,
  usage: Pricing.Usage,
  attempts: Schema.Array(Video.ProviderAttempt),
  startedAt: Schema.DateTimeUtcFromString,
  endedAt: Schema.DateTimeUtcFromString
})
type Produced = typeof Produced.Type

const withStage = (video: Video.Video, record: Video.StageRecord): Video.Video => {
  const stages = [...video.stages.filter((existing) => existing.stage !== record.stage), record]
    .toSorted((a, b) => Stage.all.indexOf(a.stage) - Stage.all.indexOf(b.stage))
  return new Video.Video({
    ...video,
    stages,
    currentStage: record.stage,
    totalCost: Money.sum(stages.map((entry) => entry.cost))
  })
}

const recorded = (error: { readonly _tag: string; readonly message: string }, retryable: boolean) =>
  new Video.RecordedError({ tag: error._tag, message: error.message, retryable })

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

    // The channel's settings as they were when the video started, kept for every replay; the video is running.
    const channel = yield* Activity.make({
      name: "start",
      success: Channel.Channel,
      error: Channel.ChannelNotFound,
      execute: Effect.gen(function*() {
        const channels = yield* ChannelRepository.ChannelRepository
        const current = yield* channels.get(payload.channelId)
        const now = yield* DateTime.now
        yield* videos.update(
          payload.videoId,
          (video) =>
            video.status === "queued" ? new Video.Video({ ...video, status: "running", updatedAt: now }) : video
        ).pipe(Effect.orDie)
        return current
      })
    })

    const fail = (stage: Stage.Stage, error: Video.RecordedError, attempts: ReadonlyArray<Video.ProviderAttempt>) =>
      Activity.make({
        name: `${stage}:fail`,
        execute: DateTime.now.pipe(
          Effect.flatMap((now) =>
            videos.update(payload.videoId, (video) => {
              const previous = video.stages.find((record) => record.stage === stage)
              const failed = withStage(
                video,
                new Video.StageRecord({
                  ...(previous ?? { stage, attempts: [], cost: Money.zero }),
                  stage,
                  status: "failed",
                  attempts,
                  endedAt: now
                })
              )
              return new Video.Video({ ...failed, status: "failed", error, updatedAt: now, completedAt: now })
            })
          ),
          Effect.flatMap(listener.onFinished),
          Effect.orDie
        )
      })

    // The whole video's estimate is reserved at once, in all of its scopes, before any stage runs: a video that
    // starts is funded to the end, and a budget that admits N videos lets exactly N start.
    const budget = yield* Activity.make({
      name: "budget:reserve",
      success: Reserved,
      error: Budget.BudgetExceeded,
      execute: Effect.gen(function*() {
        const now = yield* DateTime.now
        const scopes = Budget.scopesFor(spender, now, settings.budgetZone).map((scope) => ({
          scope,
          limit: Budget.limitFor(scope._tag, channel.budget, settings.limits)
        }))
        const standing = yield* ledger.status(scopes)
        const softControl = Budget.strictest(standing.map((status) => status.level)) !== "normal"
        const tier = ProviderChain.startTier(channel.quality, softControl)
        const estimated = Pricing.videoEstimate(tier, settings.plan, settings.prices).total
        const reservationId = payload.videoId
        yield* ledger.reserve({ reservationId, scopes, amount: estimated })
        return { reservationId, tier, estimated, softControl }
      }).pipe(Effect.catchTag("LedgerUnavailable", Effect.die))
    }).pipe(
      Effect.tapError((error) => fail("script", recorded(error, false), []))
    )

    const inputs: Partial<Record<Stage.Stage, string>> = {}
    for (const stage of Stage.all) {
      const estimated = Pricing.estimate(stage, budget.tier, settings.plan, settings.prices)
      const produced: Produced = yield* Activity.make({
        name: `${stage}:run`,
        success: Produced,
        error: Video.StageFailed,
        execute: Effect.gen(function*() {
          const chain = yield* Providers.chainOf(stage)
          const startedAt = yield* DateTime.now
          yield* videos.update(payload.videoId, (video) =>
            withStage(
              video,
              new Video.StageRecord({ stage, status: "running", attempts: [], estimated, cost: Money.zero, startedAt })
            ))
          const result = yield* Effect.scoped(Effect.gen(function*() {
            const scratch = yield* artifacts.scratch
            const output = yield* ProviderChain.run(stage, chain.providers, {
              channel,
              videoId: payload.videoId,
              topic: payload.topic,
              scratch,
              inputs: { ...inputs }
            }, {
              startTier: budget.tier,
              policy: settings.retry,
              startReason: budget.softControl ? "soft budget control" : undefined
            })
            const artifact = yield* artifacts.putFile(output.value.path, output.value.mediaType)
            return { ...output, artifact }
          }))
          const endedAt = yield* DateTime.now
          return {
            artifact: result.artifact,
            provider: result.provider,
            tier: result.tier,
            usage: result.usage,
            attempts: result.attempts,
            startedAt,
            endedAt
          }
        }).pipe(Effect.catchTag(["ArtifactError", "VideoNotFound"], Effect.die))
      }).pipe(
        Effect.tapError((error) =>
          Effect.andThen(
            Activity.make({
              name: "budget:release-after-failure",
              execute: Effect.orDie(ledger.release(budget.reservationId))
            }),
            fail(stage, recorded(error, false), error.attempts)
          )
        )
      )

      yield* Activity.make({
        name: `${stage}:settle`,
        success: Money.Money,
        execute: Effect.gen(function*() {
          const actual = Pricing.cost(produced.usage, settings.prices)
          yield* ledger.settle(budget.reservationId, stage, actual)
          yield* videos.update(payload.videoId, (video) =>
            withStage(
              video,
              new Video.StageRecord({
                stage,
                status: "completed",
                provider: produced.provider,
                tier: produced.tier,
                attempts: produced.attempts,
                estimated,
                cost: actual,
                startedAt: produced.startedAt,
                endedAt: produced.endedAt,
                artifact: produced.artifact
              })
            ))
          return actual
        }).pipe(Effect.orDie)
      })
      inputs[stage] = artifacts.pathOf(produced.artifact)
    }

    // What the estimate held beyond the actual costs goes back to the budgets, and the video is done.
    yield* Activity.make({
      name: "finish",
      execute: Effect.gen(function*() {
        yield* ledger.release(budget.reservationId)
        const now = yield* DateTime.now
        const completed = yield* videos.update(
          payload.videoId,
          (video) => new Video.Video({ ...video, status: "completed", updatedAt: now, completedAt: now })
        )
        yield* listener.onFinished(completed)
      }).pipe(Effect.orDie)
    })
  })
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
 * The first record of a requested video, as the request stores it before the pipeline starts.
 *
 * @category constructors
 */
export const queued = (
  request: { readonly videoId: Video.Video["id"]; readonly channel: Channel.Channel; readonly topic: string },
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
    requestedAt: now,
    updatedAt: now
  })
