/**
 * The budget race, through the whole runtime: 200 videos requested at once against a daily budget that admits
 * exactly 37 of them. Exactly 37 complete, the other 163 are refused with BudgetExceeded (at the request, or at
 * the video's reservation), and the day's committed spend never passes the limit — in memory and on Postgres.
 */
import { describe, expect, it } from "@effect/vitest"
import { Budget, Ids, Money, Pricing, type Stage } from "@ytempire/domain"
import { BudgetLedger, Providers, YtempireRuntime } from "@ytempire/runtime"
import { DateTime, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as PgTest from "./utils/PgTest.ts"

const tenantId = Schema.decodeSync(Ids.TenantId)("acme")
const channels = 10
const videosPerChannel = 20
const admitted = 37
const perVideo = Pricing.videoEstimate("standard").total
const dailyLimit = Money.multiply(perVideo, admitted)

/** An instant provider whose actual usage is exactly the standard tier's estimate of its stage. */
const exact = (stage: Stage.Stage): Providers.Chain => ({
  providers: [{
    stage,
    name: `exact-${stage}`,
    tier: "standard",
    run: (input) =>
      Effect.sync(() => ({
        value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
        usage: Pricing.expectedUsage(stage, "standard")
      }))
  }]
})

const exactProviders = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)(exact("script")),
  Layer.succeed(Providers.Narrator)(exact("voice")),
  Layer.succeed(Providers.ThumbnailArtist)(exact("thumbnail")),
  Layer.succeed(Providers.Renderer)(exact("render")),
  Layer.succeed(Providers.Publisher)(exact("upload"))
)

const race = (storage: YtempireRuntime.Storage) =>
  Effect.gen(function*() {
    const ytempire = yield* YtempireRuntime.Ytempire
    for (let c = 0; c < channels; c++) {
      yield* ytempire.registerChannel(tenantId, {
        id: `race-${c}`,
        name: `Race ${c}`,
        niche: "technology",
        language: "en",
        style: "explainer",
        quality: 0.5
      })
    }
    const requests = Array.from({ length: channels * videosPerChannel }, (_, i) => ({
      channelId: `race-${i % channels}`,
      videoId: `race-video-${i}`,
      topic: `topic ${i}`
    }))
    const answers = yield* Effect.forEach(requests, (request) =>
      Effect.result(ytempire.requestVideo(tenantId, request)), {
      concurrency: "unbounded"
    })
    const refusedAtRequest = answers.filter((answer) =>
      answer._tag === "Failure"
    )
    for (const answer of refusedAtRequest) {
      expect(answer._tag === "Failure" && answer.failure._tag).toBe("BudgetExceeded")
    }
    const accepted = answers.flatMap((answer) => answer._tag === "Success" ? [answer.success.id] : [])
    const finals = yield* Effect.forEach(
      accepted,
      (videoId) => ytempire.watchVideo(tenantId, videoId).pipe(Stream.runLast, Effect.map(Option.getOrThrow)),
      { concurrency: 50 }
    )
    const completed = finals.filter((video) => video.status === "completed")
    const failed = finals.filter((video) => video.status === "failed")
    expect(completed).toHaveLength(admitted)
    for (const video of failed) expect(video.error?.tag).toBe("BudgetExceeded")
    expect(failed.length + refusedAtRequest.length).toBe(requests.length - admitted)
    // Every completed video was paid in full, and the day holds exactly what they cost.
    for (const video of completed) expect(video.totalCost).toBe(perVideo)
    const ledger = yield* BudgetLedger.BudgetLedger
    const day = DateTime.formatIsoDate(yield* DateTime.now)
    const [status] = yield* ledger.status([
      { scope: Budget.GlobalDayScope.make({ day }), limit: Option.some(dailyLimit) }
    ])
    expect(status!.committed).toBe(dailyLimit)
    expect(Money.isZero(status!.reserved)).toBe(true)
    return storage
  }).pipe(
    Effect.provide(YtempireRuntime.layerWithProviders({
      dataDir: mkdtempSync(join(tmpdir(), "ytempire-race-")),
      storage,
      maxInFlightPerChannel: videosPerChannel,
      messagePollInterval: "50 millis",
      pipeline: {
        limits: new Budget.BudgetLimits({ globalDaily: dailyLimit }),
        retry: { attemptTimeout: "1 minute", maxAttempts: 1, baseDelay: 0, maxDelay: 0 }
      }
    }, exactProviders))
  )

describe("budget race through the runtime", () => {
  it.live("memory: of 200 videos against a budget for 37, exactly 37 complete", () => race({ _tag: "memory" }), 60_000)

  it.live("Postgres: of 200 videos against a budget for 37, exactly 37 complete", () =>
    Effect.gen(function*() {
      // A fresh database, created by the test helper; the runtime connects to it by URL.
      yield* Effect.provide(Effect.void, PgTest.layer("ytempire_test_budget_race"))
      const url = Redacted.make("postgres://postgres@127.0.0.1:5432/ytempire_test_budget_race")
      yield* race({ _tag: "postgres", url })
    }), 120_000)
})
