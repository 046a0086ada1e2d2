import { describe, expect, it } from "@effect/vitest"
import { Budget, Channel, ChannelEntity as Contract, Ids, Money, Video } from "@ytempire/domain"
import { BudgetLedger, ChannelEntity, VideoRepository, YtempireRuntime } from "@ytempire/runtime"
import { DateTime, Effect, Option, Ref, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeProviders from "./utils/FakeProviders.ts"

const tenantId = Schema.decodeSync(Ids.TenantId)("acme")
const videoId = (id: string) => Schema.decodeSync(Ids.VideoId)(id)

const registration = (id: string, fields: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Channel.ChannelRegistration)({
    id,
    name: "Tech Daily",
    niche: "technology",
    language: "en",
    style: "upbeat explainer",
    ...fields
  })

/** effect/cluster's TestRunner, polling for due messages (scheduled wake-ups) every 50 ms instead of 10 s. */
/** The runtime in its memory mode with stand-in providers, polling for due wake-ups every 50 ms, not 1 s. */
const withChannels = <A, E, R>(body: (providers: FakeProviders.FakeProviders) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const providers = yield* FakeProviders.make
    const runtime = YtempireRuntime.layerWithProviders({
      dataDir: mkdtempSync(join(tmpdir(), "ytempire-channels-")),
      storage: { _tag: "memory" },
      messagePollInterval: "50 millis",
      pipeline: { retry: { attemptTimeout: "1 minute", maxAttempts: 1, baseDelay: 0, maxDelay: 0 } }
    }, providers.layer)
    return yield* body(providers).pipe(Effect.provide(runtime))
  })

const channelClient = (id: string) => Effect.map(Contract.ChannelEntity.client, (clientFor) => clientFor(id))

/** The video once it is final. */
const finished = (id: Ids.VideoId) =>
  Effect.gen(function*() {
    const videos = yield* VideoRepository.VideoRepository
    const last = yield* videos.watch(id).pipe(Stream.runLast)
    return Option.getOrThrow(last)
  })

describe("ChannelEntity", () => {
  it.live("registers a channel and produces a requested video", () =>
    withChannels((providers) =>
      Effect.gen(function*() {
        const channel = yield* channelClient("tech")
        const registered = yield* channel.Register({ tenantId, registration: registration("tech") })
        expect(registered).toMatchObject({ id: "tech", tenantId: "acme", status: "active", priority: "normal" })
        const queued = yield* channel.RequestVideo({ videoId: videoId("v1"), topic: "Budget phones" })
        expect(queued.id).toBe("v1")
        const video = yield* finished(videoId("v1"))
        expect(video.status).toBe("completed")
        expect(video.stages).toHaveLength(5)
        // Asking again for the same video answers as the first time (the stored reply) and makes no second one.
        const again = yield* channel.RequestVideo({ videoId: videoId("v1"), topic: "Budget phones" })
        expect(again.id).toBe("v1")
        expect(yield* Ref.get(providers.calls)).toHaveLength(5)
      })
    ))

  it.live("runs at most one video of a channel at a time and the rest in request order", () =>
    withChannels((providers) =>
      Effect.gen(function*() {
        const release = yield* providers.hold("ffmpeg")
        const channel = yield* channelClient("tech")
        yield* channel.Register({ tenantId, registration: registration("tech") })
        for (const id of ["a", "b", "c"]) yield* channel.RequestVideo({ videoId: videoId(id), topic: id })
        // Wait until the first video reached the render stage, where it is held.
        while (!(yield* Ref.get(providers.calls)).includes("ffmpeg")) yield* Effect.yieldNow
        const state = yield* channel.State()
        expect(state.running).toEqual(["a"])
        expect(state.queued).toEqual(["b", "c"])
        yield* release
        const results = [yield* finished(videoId("a")), yield* finished(videoId("b")), yield* finished(videoId("c"))]
        expect(results.map((video) => video.status)).toEqual(["completed", "completed", "completed"])
        // b started only after a finished, and c after b.
        const calls = yield* Ref.get(providers.calls)
        expect(calls.filter((call) => call === "gpt-3.5" || call === "publisher")).toEqual([
          "gpt-3.5",
          "publisher",
          "gpt-3.5",
          "publisher",
          "gpt-3.5",
          "publisher"
        ])
      })
    ))

  it.live("refuses videos while paused and takes them again after resume", () =>
    withChannels(() =>
      Effect.gen(function*() {
        const channel = yield* channelClient("tech")
        yield* channel.Register({ tenantId, registration: registration("tech") })
        expect((yield* channel.Pause()).status).toBe("paused")
        const refused = yield* Effect.flip(channel.RequestVideo({ videoId: videoId("p1"), topic: "t" }))
        expect(refused._tag).toBe("ChannelPaused")
        const videos = yield* VideoRepository.VideoRepository
        expect(Option.isNone(yield* Effect.option(videos.get(videoId("p1"))))).toBe(true)
        expect((yield* channel.Resume()).status).toBe("active")
        yield* channel.RequestVideo({ videoId: videoId("p2"), topic: "t" })
        expect((yield* finished(videoId("p2"))).status).toBe("completed")
      })
    ))

  it.live("budget-pauses a non-critical channel whose day is spent, but lets a critical one produce", () =>
    withChannels(() =>
      Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const day = DateTime.formatIsoDate(yield* DateTime.now)
        const limit = Money.unsafeFromDecimal("1")
        const budget = { perVideo: "3", daily: "1" }
        for (const id of ["normal", "vip"]) {
          const scope = Budget.ChannelDayScope.make({ channelId: Schema.decodeSync(Ids.ChannelId)(id), day })
          yield* ledger.reserve({
            reservationId: `spent-${id}`,
            scopes: [{ scope, limit: Option.some(limit) }],
            amount: limit
          })
          yield* ledger.commit(`spent-${id}`, limit)
        }
        const normal = yield* channelClient("normal")
        yield* normal.Register({ tenantId, registration: registration("normal", { budget }) })
        const refused = yield* Effect.flip(normal.RequestVideo({ videoId: videoId("n1"), topic: "t" }))
        expect(refused._tag).toBe("BudgetExceeded")
        expect(refused).toMatchObject({ scope: { _tag: "channel-day", channelId: "normal", day } })
        expect((yield* normal.State()).channel.status).toBe("budget-paused")

        const vip = yield* channelClient("vip")
        yield* vip.Register({ tenantId, registration: registration("vip", { budget, priority: "critical" }) })
        yield* vip.RequestVideo({ videoId: videoId("c1"), topic: "t" })
        // The critical channel's video is accepted; its own stages then stop at the spent day scope.
        const video = yield* finished(videoId("c1"))
        expect(video.error?.tag).toBe("BudgetExceeded")

        // It stays budget-paused while the day is spent, also when asked again.
        expect((yield* Effect.flip(normal.RequestVideo({ videoId: videoId("n2"), topic: "t" })))._tag).toBe(
          "BudgetExceeded"
        )
        expect((yield* normal.State()).channel.status).toBe("budget-paused")
      })
    ))

  it.live("requests a video at each run of its schedule, once per run", () =>
    withChannels(() =>
      Effect.gen(function*() {
        const channel = yield* channelClient("sched")
        // Every two seconds (a six-field cron, seconds first), so that the test sees two runs quickly.
        yield* channel.Register({
          tenantId,
          registration: registration("sched", { schedule: { cron: "*/2 * * * * *", timeZone: "UTC" } })
        })
        const state = yield* channel.State()
        const next = state.nextScheduledRun!
        expect(DateTime.toEpochMillis(next) % 2_000).toBe(0)
        const videos = yield* VideoRepository.VideoRepository
        const firstId = ChannelEntity.scheduledVideoId(state.channel.id, next)
        let first = yield* Effect.option(videos.get(firstId))
        while (Option.isNone(first)) {
          yield* Effect.sleep("50 millis")
          first = yield* Effect.option(videos.get(firstId))
        }
        expect(first.value.topic).toContain("technology")
        expect((yield* finished(firstId)).status).toBe("completed")
        let all: ReadonlyArray<Video.Video> = []
        while (all.length < 2) {
          yield* Effect.sleep("50 millis")
          all = yield* videos.list({ channelId: state.channel.id })
        }
        // One video per run: the ids are the runs' times, all distinct.
        expect(new Set(all.map((video) => video.id)).size).toBe(all.length)
        yield* channel.Configure({ update: Schema.decodeSync(Channel.ChannelUpdate)({ schedule: null }) })
        expect((yield* channel.State()).nextScheduledRun).toBeUndefined()
      })
    ))

  it.live(
    "keeps its schedule across a pause: after resume, the runs go on",
    () =>
      withChannels(() =>
        Effect.gen(function*() {
          const channel = yield* channelClient("resumed")
          const videos = yield* VideoRepository.VideoRepository
          const made = Effect.map(videos.list({ channelId: Ids.ChannelId.make("resumed") }), (list) => list.length)
          // Every second; paused long enough for a wake-up to find it paused.
          yield* channel.Register({
            tenantId,
            registration: registration("resumed", { schedule: { cron: "* * * * * *", timeZone: "UTC" } })
          })
          yield* channel.Pause()
          yield* Effect.sleep("1500 millis")
          const whilePaused = yield* made
          yield* channel.Resume()
          while ((yield* made) === whilePaused) yield* Effect.sleep("50 millis")
          expect(yield* made).toBeGreaterThan(whilePaused)
        })
      ),
    10_000
  )
})
