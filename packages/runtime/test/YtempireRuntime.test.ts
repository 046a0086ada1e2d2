import { describe, expect, it } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import { BudgetLedger, ChannelRepository, VideoRepository, YtempireRuntime } from "@ytempire/runtime"
import { Effect, Exit, Option, Ref, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeProviders from "./utils/FakeProviders.ts"

const acme = Schema.decodeSync(Ids.TenantId)("acme")
const globex = Schema.decodeSync(Ids.TenantId)("globex")
const videoId = (id: string) => Schema.decodeSync(Ids.VideoId)(id)
const channelId = (id: string) => Schema.decodeSync(Ids.ChannelId)(id)

const registration = {
  id: "tech",
  name: "Tech Daily",
  niche: "technology",
  language: "en",
  style: "upbeat explainer"
}

const withRuntime = <A, E, R>(body: (providers: FakeProviders.FakeProviders) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const providers = yield* FakeProviders.make
    const runtime = YtempireRuntime.layerWithProviders({
      dataDir: mkdtempSync(join(tmpdir(), "ytempire-runtime-")),
      storage: { _tag: "memory" },
      messagePollInterval: "50 millis"
    }, providers.layer)
    return yield* body(providers).pipe(Effect.provide(runtime))
  })

const invalid = (effect: Effect.Effect<unknown, { readonly _tag: string }>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error as { _tag: string; field?: string; message: string }))

describe("YtempireRuntime facade", () => {
  it.live("refuses malformed channels and requests by field, and writes nothing", () =>
    withRuntime(() =>
      Effect.gen(function*() {
        const ytempire = yield* YtempireRuntime.Ytempire
        const channels = yield* ChannelRepository.ChannelRepository
        const badCron = yield* invalid(
          ytempire.registerChannel(acme, { ...registration, schedule: { cron: "61 25 * * *", timeZone: "UTC" } })
        )
        expect(badCron).toMatchObject({ _tag: "InvalidRequest", field: "schedule.cron" })
        expect(badCron.message).toMatch(/invalid cron expression/)
        const badZone = yield* invalid(
          ytempire.registerChannel(acme, { ...registration, schedule: { cron: "0 9 * * *", timeZone: "Moon/Base" } })
        )
        expect(badZone).toMatchObject({ _tag: "InvalidRequest", field: "schedule.timeZone" })
        const badQuality = yield* invalid(ytempire.registerChannel(acme, { ...registration, quality: 7 }))
        expect(badQuality).toMatchObject({ _tag: "InvalidRequest", field: "quality" })
        expect(yield* channels.list(acme)).toEqual([])

        yield* ytempire.registerChannel(acme, registration)
        const videos = yield* VideoRepository.VideoRepository
        const noTopic = yield* invalid(ytempire.requestVideo(acme, { channelId: "tech", topic: "" }))
        expect(noTopic).toMatchObject({ _tag: "InvalidRequest", field: "topic" })
        const notAnObject = yield* invalid(ytempire.requestVideo(acme, "make me a video"))
        expect(notAnObject._tag).toBe("InvalidRequest")
        const unknownChannel = yield* invalid(ytempire.requestVideo(acme, { channelId: "nope", topic: "t" }))
        expect(unknownChannel).toMatchObject({ _tag: "ChannelNotFound", channelId: "nope" })
        expect(yield* videos.list({ tenantId: acme })).toEqual([])
      })
    ))

  it.live("keeps tenants apart: another tenant's channel and video are not found", () =>
    withRuntime(() =>
      Effect.gen(function*() {
        const ytempire = yield* YtempireRuntime.Ytempire
        yield* ytempire.registerChannel(acme, registration)
        const video = yield* ytempire.requestVideo(acme, { channelId: "tech", videoId: "v1", topic: "Phones" })
        const done = yield* ytempire.watchVideo(acme, video.id).pipe(Stream.runLast, Effect.map(Option.getOrThrow))
        expect(done.status).toBe("completed")
        expect((yield* invalid(ytempire.getVideo(globex, video.id)))._tag).toBe("VideoNotFound")
        expect((yield* invalid(ytempire.requestVideo(globex, { channelId: "tech", topic: "t" })))._tag).toBe(
          "ChannelNotFound"
        )
        expect((yield* invalid(ytempire.pauseChannel(globex, channelId("tech"))))._tag).toBe("ChannelNotFound")
        // The same channel id cannot be taken over by another tenant.
        expect((yield* invalid(ytempire.registerChannel(globex, registration)))._tag).toBe("Forbidden")
      })
    ))

  it.live("cancels a running video, releasing what its stage had reserved, and starts the next", () =>
    withRuntime((providers) =>
      Effect.gen(function*() {
        const ytempire = yield* YtempireRuntime.Ytempire
        const release = yield* providers.hold("ffmpeg")
        yield* ytempire.registerChannel(acme, registration)
        yield* ytempire.requestVideo(acme, { channelId: "tech", videoId: "c1", topic: "first" })
        yield* ytempire.requestVideo(acme, { channelId: "tech", videoId: "c2", topic: "second" })
        while (!(yield* Ref.get(providers.calls)).includes("ffmpeg")) yield* Effect.sleep("10 millis")
        const cancelled = yield* ytempire.cancelVideo(acme, videoId("c1"))
        expect(cancelled.status).toBe("cancelled")
        const ledger = yield* BudgetLedger.BudgetLedger
        const [scope] = yield* ledger.status([Budget.VideoScope.make({ videoId: videoId("c1") })])
        expect(Money.isZero(scope!.reserved)).toBe(true)
        // The queued video starts once the cancelled one is out of the way.
        yield* release
        const second = yield* ytempire.watchVideo(acme, videoId("c2")).pipe(
          Stream.runLast,
          Effect.map(Option.getOrThrow)
        )
        expect(second.status).toBe("completed")
        const first = yield* ytempire.getVideo(acme, videoId("c1"))
        expect(first.status).toBe("cancelled")
        // Cancelling a final video changes nothing.
        expect((yield* ytempire.cancelVideo(acme, videoId("c2"))).status).toBe("completed")
        expect(Exit.isSuccess(yield* Effect.exit(ytempire.channelState(acme, channelId("tech"))))).toBe(true)
      })
    ))
})
