import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Budget, Channel, Ids, Money, Pipeline } from "@ytempire/domain"
import {
  ArtifactStore,
  BudgetLedger,
  ChannelRepository,
  PipelineMetrics,
  VideoPipeline,
  VideoRepository
} from "@ytempire/runtime"
import { DateTime, Effect, Layer, Metric, Option, Ref } from "effect"
import { ClusterWorkflowEngine, TestRunner } from "effect/cluster"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeProviders from "./utils/FakeProviders.ts"
import * as PgTest from "./utils/PgTest.ts"

const usd = (text: string): Money.Money => Money.unsafeFromDecimal(text)

const gauge = (metric: Metric.Gauge<number>, scope: string) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, { scope })), (state) => state.value)

/** The three budget gauges of a scope, in dollars. */
const budget = Effect.fnUntraced(function*(scope: string) {
  return {
    spent: yield* gauge(PipelineMetrics.budgetSpentDollars, scope),
    reserved: yield* gauge(PipelineMetrics.budgetReservedDollars, scope),
    limit: yield* gauge(PipelineMetrics.budgetLimitDollars, scope)
  }
})

const budgetSeries = Effect.map(
  Metric.snapshot,
  (snapshot) => snapshot.filter((metric) => metric.id.startsWith("budget_")).map((metric) => metric.attributes)
)

const tenantId = Ids.TenantId.make("acme")

/** A video's scopes on `day`, the channel's day limited to $10 and the operation's day to $100. */
const scopesOf = (videoId: string, channelId: string, day: string): ReadonlyArray<BudgetLedger.ScopeLimit> => [
  { scope: Budget.VideoScope.make({ videoId: Ids.VideoId.make(videoId) }), limit: Option.none() },
  {
    scope: Budget.ChannelDayScope.make({ channelId: Ids.ChannelId.make(channelId), day }),
    limit: Option.some(usd("10"))
  },
  { scope: Budget.TenantDayScope.make({ tenantId, day }), limit: Option.none() },
  { scope: Budget.GlobalDayScope.make({ day }), limit: Option.some(usd("100")) },
  { scope: Budget.GlobalMonthScope.make({ month: day.slice(0, 7) }), limit: Option.none() }
]

/**
 * A video funded, settled in two parts and released on one day, then another channel's video reserved on the
 * next: the gauges follow every write, show the current period only, and go with the ledger.
 */
const scenario = (ledgerLayer: Layer.Layer<BudgetLedger.BudgetLedger, unknown>) =>
  Effect.gen(function*() {
    yield* Effect.gen(function*() {
      const ledger = yield* BudgetLedger.BudgetLedger
      yield* ledger.reserve({ reservationId: "v1", scopes: scopesOf("v1", "c1", "2026-11-22"), amount: usd("2") })
      expect(yield* budget("channel-day:c1")).toEqual({ spent: 0, reserved: 2, limit: 10 })
      yield* ledger.settle("v1", "script", usd("0.5"))
      yield* ledger.settle("v1", "voice", usd("0.25"))
      // A replayed part changes nothing.
      yield* ledger.settle("v1", "voice", usd("0.25"))
      expect(yield* budget("channel-day:c1")).toEqual({ spent: 0.75, reserved: 1.25, limit: 10 })
      expect(yield* budget("global-day")).toEqual({ spent: 0.75, reserved: 1.25, limit: 100 })
      yield* ledger.release("v1")
      expect(yield* budget("channel-day:c1")).toEqual({ spent: 0.75, reserved: 0, limit: 10 })
      expect(yield* gauge(PipelineMetrics.budgetSpentDollars, "tenant-day:acme")).toBe(0.75)
      expect(yield* gauge(PipelineMetrics.budgetSpentDollars, "global-month")).toBe(0.75)

      // The next day: the operation's day starts from nothing, and c1's series reads the new day (nothing yet).
      yield* ledger.reserve({ reservationId: "v2", scopes: scopesOf("v2", "c2", "2026-11-23"), amount: usd("1") })
      expect(yield* budget("global-day")).toEqual({ spent: 0, reserved: 1, limit: 100 })
      expect(yield* budget("channel-day:c2")).toEqual({ spent: 0, reserved: 1, limit: 10 })
      expect(yield* budget("channel-day:c1")).toEqual({ spent: 0, reserved: 0, limit: 10 })
      // The month goes on. (Read one by one: reading a series that does not exist would create it.)
      expect(yield* gauge(PipelineMetrics.budgetSpentDollars, "global-month")).toBe(0.75)
      expect(yield* gauge(PipelineMetrics.budgetReservedDollars, "global-month")).toBe(1)

      // One series per scope without its period, none per video, no limit where none is set.
      const series = (yield* budgetSeries).map((attributes) => attributes?.["scope"]).toSorted()
      expect(series).toEqual([
        "channel-day:c1",
        "channel-day:c1",
        "channel-day:c1",
        "channel-day:c2",
        "channel-day:c2",
        "channel-day:c2",
        "global-day",
        "global-day",
        "global-day",
        "global-month",
        "global-month",
        "tenant-day:acme",
        "tenant-day:acme"
      ])
    }).pipe(Effect.provide(ledgerLayer))
    // The ledger closed: its series are gone.
    expect(yield* budgetSeries).toEqual([])
  }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("budget gauges", () => {
  it.effect("in memory", () => scenario(BudgetLedger.BudgetLedger.layerMemory))

  it.live(
    "on Postgres",
    () => scenario(BudgetLedger.BudgetLedger.layerSql.pipe(Layer.provide(PgTest.layer("ytempire_pipeline_metrics")))),
    {
      timeout: 60_000
    }
  )
})

// ---------------------------------------------------------------------------------------------------------------
// the pipeline's metrics, and a replay that must not count again

const counter = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const histogramCount = (metric: Metric.Histogram<number>, attributes: Record<string, string> = {}) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

describe("the pipeline's metrics", () => {
  it.live("count a video once, though its workflow runs again over the same records (a resumed video)", () =>
    Effect.gen(function*() {
      const providers = yield* FakeProviders.make
      const stores = yield* Layer.build(
        Layer.mergeAll(
          VideoPipeline.layerMemoryStores,
          providers.layer,
          ArtifactStore.ArtifactStore.layer(mkdtempSync(join(tmpdir(), "ytempire-metrics-"))).pipe(
            Layer.provide(NodeServices.layer)
          )
        )
      )
      // A workflow engine of its own each time: the second finds every activity's work already recorded, as a
      // process resuming the video after a crash between an activity's writes and its result being stored would.
      const engine = VideoPipeline.layer.pipe(
        Layer.provideMerge(ClusterWorkflowEngine.layer),
        Layer.provideMerge(TestRunner.layer)
      )
      const epoch = DateTime.makeUnsafe("2026-11-22T00:00:00Z")
      const run = (channelId: string, videoId: string) =>
        Effect.gen(function*() {
          const payload = {
            videoId: Ids.VideoId.make(videoId),
            channelId: Ids.ChannelId.make(channelId),
            tenantId,
            topic: "Phones"
          }
          return yield* Pipeline.VideoPipeline.execute(payload).pipe(Effect.exit, Effect.provide(engine))
        }).pipe(Effect.provideContext(stores))
      const setUp = Effect.fnUntraced(function*(channelId: string, videoId: string) {
        const channel = new Channel.Channel({
          id: Ids.ChannelId.make(channelId),
          tenantId,
          name: channelId,
          niche: "technology",
          language: "en",
          style: "upbeat explainer",
          // Premium: the script is GPT-4's.
          quality: 0.9,
          status: "active",
          createdAt: epoch,
          updatedAt: epoch
        })
        yield* (yield* ChannelRepository.ChannelRepository).put(channel)
        yield* (yield* VideoRepository.VideoRepository).insert(
          VideoPipeline.queued({ videoId: Ids.VideoId.make(videoId), channel, topic: "Phones" }, epoch)
        )
      }, Effect.provideContext(stores))

      yield* setUp("tech", "v1")
      expect((yield* run("tech", "v1"))._tag).toBe("Success")
      const once = {
        completed: yield* counter(PipelineMetrics.videosGeneratedTotal, { channel: "tech", status: "completed" }),
        gpt4: yield* counter(PipelineMetrics.apiCostDollarsTotal, { service: "openai.gpt-4" }),
        script: yield* histogramCount(PipelineMetrics.stageDurationSeconds, { stage: "script", provider: "gpt-4" }),
        attempts: yield* counter(PipelineMetrics.providerAttemptsTotal, { provider: "gpt-4", outcome: "succeeded" }),
        videos: yield* histogramCount(PipelineMetrics.videoCostDollars)
      }
      expect(once).toEqual({ completed: 1, gpt4: 0.12, script: 1, attempts: 1, videos: 1 })
      const video = yield* Effect.flatMap(
        VideoRepository.VideoRepository,
        (videos) => videos.get(Ids.VideoId.make("v1"))
      ).pipe(Effect.provideContext(stores))
      const cost = yield* Metric.value(Metric.withAttributes(PipelineMetrics.costPerVideo, { channel: "tech" }))
      expect(cost.value).toBeCloseTo(Money.toDollars(video.totalCost), 9)

      expect((yield* run("tech", "v1"))._tag).toBe("Success")
      expect(yield* Ref.get(providers.calls)).toHaveLength(5)
      expect({
        completed: yield* counter(PipelineMetrics.videosGeneratedTotal, { channel: "tech", status: "completed" }),
        gpt4: yield* counter(PipelineMetrics.apiCostDollarsTotal, { service: "openai.gpt-4" }),
        script: yield* histogramCount(PipelineMetrics.stageDurationSeconds, { stage: "script", provider: "gpt-4" }),
        attempts: yield* counter(PipelineMetrics.providerAttemptsTotal, { provider: "gpt-4", outcome: "succeeded" }),
        videos: yield* histogramCount(PipelineMetrics.videoCostDollars)
      }).toEqual(once)

      // A failed video, run again: its render is tried again (a real attempt), its failure is not counted again.
      yield* Ref.set(providers.behaviours, { ffmpeg: "fatal" })
      yield* setUp("broken", "v2")
      expect((yield* run("broken", "v2"))._tag).toBe("Failure")
      expect((yield* run("broken", "v2"))._tag).toBe("Failure")
      expect(yield* counter(PipelineMetrics.videosGeneratedTotal, { channel: "broken", status: "failed" })).toBe(1)
      expect(
        yield* counter(PipelineMetrics.videoGenerationFailuresTotal, {
          stage: "render",
          reason: "provider_unavailable"
        })
      ).toBe(1)
      expect(yield* counter(PipelineMetrics.providerAttemptsTotal, { provider: "ffmpeg", outcome: "failed" })).toBe(2)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))
})

describe("PipelineMetrics.reasonOf", () => {
  it("turns an error's tag into a label value", () => {
    expect(PipelineMetrics.reasonOf("ProviderUnavailable")).toBe("provider_unavailable")
    expect(PipelineMetrics.reasonOf("StageTimeout")).toBe("stage_timeout")
    expect(PipelineMetrics.reasonOf("BudgetExceeded")).toBe("budget_exceeded")
  })
})
