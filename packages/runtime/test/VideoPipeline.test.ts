import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Budget, Channel, Ids, Money, Pipeline, Pricing } from "@ytempire/domain"
import { ArtifactStore, BudgetLedger, ChannelRepository, VideoPipeline, VideoRepository } from "@ytempire/runtime"
import { DateTime, Effect, Fiber, Layer, Option, Ref, Schema, Stream } from "effect"
import { ClusterWorkflowEngine, TestRunner } from "effect/cluster"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeProviders from "./utils/FakeProviders.ts"

const tenantId = Schema.decodeSync(Ids.TenantId)("acme")

const channelWith = (id: string, settings: { quality?: number; budget?: Budget.BudgetPolicy } = {}) =>
  new Channel.Channel({
    id: Schema.decodeSync(Ids.ChannelId)(id),
    tenantId,
    name: "Tech Daily",
    niche: "technology",
    language: "en",
    style: "upbeat explainer",
    status: "active",
    createdAt: DateTime.makeUnsafe("2026-11-22T00:00:00Z"),
    updatedAt: DateTime.makeUnsafe("2026-11-22T00:00:00Z"),
    ...settings
  })

const videoId = (id: string) => Schema.decodeSync(Ids.VideoId)(id)

/** Registers the channel, stores the queued video, and runs its pipeline to the end. */
const produce = (channel: Channel.Channel, id: Ids.VideoId, topic = "Five phones under $300") =>
  Effect.gen(function*() {
    const channels = yield* ChannelRepository.ChannelRepository
    const videos = yield* VideoRepository.VideoRepository
    yield* channels.put(channel)
    yield* videos.insert(VideoPipeline.queued({ videoId: id, channel, topic }, yield* DateTime.now))
    const exit = yield* Pipeline.VideoPipeline.execute({
      videoId: id,
      channelId: channel.id,
      tenantId: channel.tenantId,
      topic
    }).pipe(Effect.exit)
    return { exit, video: yield* videos.get(id) }
  })

const withPipeline = <A, E, R>(
  body: (providers: FakeProviders.FakeProviders) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const providers = yield* FakeProviders.make
    const dataDir = mkdtempSync(join(tmpdir(), "ytempire-pipeline-"))
    const layer = VideoPipeline.layer.pipe(
      Layer.provideMerge(ClusterWorkflowEngine.layer),
      Layer.provideMerge(TestRunner.layer),
      Layer.provideMerge(VideoPipeline.layerMemoryStores),
      Layer.provideMerge(providers.layer),
      Layer.provideMerge(ArtifactStore.ArtifactStore.layer(dataDir)),
      Layer.provideMerge(
        Layer.succeed(VideoPipeline.PipelineSettings)({
          ...VideoPipeline.PipelineSettings.defaultValue(),
          retry: { attemptTimeout: "1 minute", maxAttempts: 2, baseDelay: 0, maxDelay: 0 }
        })
      ),
      Layer.provide(NodeServices.layer)
    )
    return yield* body(providers).pipe(Effect.provide(layer))
  })

describe("VideoPipeline", () => {
  it.effect("runs the five stages in order, storing each artifact and committing each stage's cost once", () =>
    withPipeline((providers) =>
      Effect.gen(function*() {
        const channel = channelWith("tech", { quality: 0.9 })
        const { exit, video } = yield* produce(channel, videoId("v1"))
        expect(exit._tag).toBe("Success")
        expect(video.status).toBe("completed")
        expect(video.stages.map((record) => [record.stage, record.status])).toEqual([
          ["script", "completed"],
          ["voice", "completed"],
          ["thumbnail", "completed"],
          ["render", "completed"],
          ["upload", "completed"]
        ])
        expect(yield* Ref.get(providers.calls)).toEqual(["gpt-4", "google-tts", "card", "ffmpeg", "publisher"])
        // Each stage saw the files of the stages before it.
        const store = yield* ArtifactStore.ArtifactStore
        const upload = video.stages.find((record) => record.stage === "upload")!
        const fs = yield* Effect.promise(() => import("node:fs/promises"))
        const uploadText = yield* Effect.promise(() => fs.readFile(store.pathOf(upload.artifact!), "utf8"))
        expect(uploadText).toBe("upload of v1 after script,voice,thumbnail,render")
        for (const record of video.stages) expect(yield* store.has(record.artifact!)).toBe(true)
        // Costs: $0.12 + $0.006 + 1 s and 60 s of CPU + 1 MB sent.
        const expected = Money.sum([
          Money.unsafeFromDecimal("0.12"),
          Money.unsafeFromDecimal("0.006"),
          Pricing.cost([Pricing.use("compute.cpu-hour", 61_000)]),
          Pricing.cost([Pricing.use("network.bandwidth-gb", 1_000_000)])
        ])
        expect(Money.toDecimal(video.totalCost)).toBe(Money.toDecimal(expected))
        const ledger = yield* BudgetLedger.BudgetLedger
        const [status] = yield* ledger.status([Budget.VideoScope.make({ videoId: video.id })])
        expect(Money.toDecimal(status!.committed)).toBe(Money.toDecimal(expected))
        expect(Money.isZero(status!.reserved)).toBe(true)
      })
    ))

  it.effect("runs a video once when it is requested twice", () =>
    withPipeline((providers) =>
      Effect.gen(function*() {
        const channel = channelWith("tech")
        const first = yield* produce(channel, videoId("v2"))
        const second = yield* produce(channel, videoId("v2"))
        expect(first.exit._tag).toBe("Success")
        expect(second.exit._tag).toBe("Success")
        expect(yield* Ref.get(providers.calls)).toHaveLength(5)
        expect(second.video.totalCost).toBe(first.video.totalCost)
      })
    ))

  it.effect("refuses a video over budget before any provider runs, and never retries it", () =>
    withPipeline((providers) =>
      Effect.gen(function*() {
        const channel = channelWith("cheap", {
          quality: 0.9,
          budget: new Budget.BudgetPolicy({ perVideo: Money.unsafeFromDecimal("0.05") })
        })
        const { exit, video } = yield* produce(channel, videoId("v3"))
        expect(exit._tag).toBe("Failure")
        expect(String(exit)).toMatch(/BudgetExceeded/)
        expect(yield* Ref.get(providers.calls)).toEqual([])
        expect(video.status).toBe("failed")
        expect(video.error).toMatchObject({ tag: "BudgetExceeded", retryable: false })
        expect(video.stages[0]).toMatchObject({ stage: "script", status: "failed" })
      })
    ))

  it.effect("fails the video when every provider of a stage fails, keeping the attempts and releasing the money", () =>
    withPipeline((providers) =>
      Effect.gen(function*() {
        yield* Ref.set(providers.behaviours, { ffmpeg: "fatal" })
        const channel = channelWith("tech")
        const { exit, video } = yield* produce(channel, videoId("v4"))
        expect(String(exit)).toMatch(/StageFailed/)
        expect(video.status).toBe("failed")
        const render = video.stages.find((record) => record.stage === "render")!
        expect(render.status).toBe("failed")
        expect(render.attempts).toHaveLength(1)
        expect(render.attempts[0]).toMatchObject({ provider: "ffmpeg", outcome: "failed", error: { retryable: false } })
        expect(video.stages.find((record) => record.stage === "upload")).toBeUndefined()
        const ledger = yield* BudgetLedger.BudgetLedger
        const [status] = yield* ledger.status([Budget.VideoScope.make({ videoId: video.id })])
        expect(Money.isZero(status!.reserved)).toBe(true)
        expect(status!.committed).toBe(video.totalCost)
      })
    ))

  it.effect("uses the cheaper tier under soft budget control", () =>
    withPipeline((providers) =>
      Effect.gen(function*() {
        const channel = channelWith("busy", {
          quality: 0.9,
          budget: new Budget.BudgetPolicy({
            perVideo: Money.unsafeFromDecimal("3"),
            daily: Money.unsafeFromDecimal("10")
          })
        })
        // Earlier spending today has taken the channel's day to 95 %.
        const ledger = yield* BudgetLedger.BudgetLedger
        const day = DateTime.formatIsoDate(yield* DateTime.now)
        const scope = Budget.ChannelDayScope.make({ channelId: channel.id, day })
        yield* ledger.reserve({
          reservationId: "earlier",
          scopes: [{ scope, limit: Option.some(Money.unsafeFromDecimal("10")) }],
          amount: Money.unsafeFromDecimal("9.50")
        })
        yield* ledger.commit("earlier", Money.unsafeFromDecimal("9.50"))
        const { exit, video } = yield* produce(channel, videoId("v5"))
        expect(exit._tag).toBe("Success")
        expect((yield* Ref.get(providers.calls))[0]).toBe("gpt-3.5")
        const script = video.stages[0]!
        expect(script.tier).toBe("economy")
        expect(script.attempts[0]!.fallbackReason).toBe("soft budget control")
      })
    ))

  it.effect("streams the video's progress until it is final", () =>
    withPipeline(() =>
      Effect.gen(function*() {
        const channel = channelWith("tech")
        const videos = yield* VideoRepository.VideoRepository
        yield* ChannelRepository.ChannelRepository.pipe(Effect.flatMap((channels) => channels.put(channel)))
        yield* videos.insert(VideoPipeline.queued({ videoId: videoId("v6"), channel, topic: "t" }, yield* DateTime.now))
        const watching = yield* videos.watch(videoId("v6")).pipe(Stream.runCollect, Effect.forkChild)
        yield* Effect.yieldNow
        yield* Pipeline.VideoPipeline.execute({ videoId: videoId("v6"), channelId: channel.id, tenantId, topic: "t" })
        const snapshots = yield* Fiber.join(watching)
        const statuses = snapshots.map((video) => video.status)
        expect(statuses[0]).toBe("queued")
        expect(statuses.at(-1)).toBe("completed")
        // Every stage shows up running, then completed, in pipeline order.
        const completedCounts = snapshots.map((video) =>
          video.stages.filter((record) => record.status === "completed").length
        )
        expect(completedCounts).toEqual(completedCounts.toSorted((x, y) => x - y))
        expect(completedCounts.at(-1)).toBe(5)
        expect(snapshots.some((video) => video.stages.some((record) => record.status === "running"))).toBe(true)
      })
    ))
})
