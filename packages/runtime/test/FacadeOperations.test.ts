/**
 * The facade's operations over channels, videos, budgets and costs (listing by cursor, get, update, delete,
 * budget status and limits, cost report, counts), through the whole runtime with stand-in providers, in each
 * storage mode: memory, Postgres (a database of this file's own) and embedded (PGlite). One runtime per mode
 * serves its tests; each test works in tenants of its own.
 */
import { expect, layer } from "@effect/vitest"
import { Budget, Channel, Ids, Money, Stage, Video } from "@ytempire/domain"
import { BudgetLedger, ChannelRepository, VideoRepository, YtempireRuntime } from "@ytempire/runtime"
import { Context, DateTime, Effect, Layer, Option, Redacted, Ref, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeProviders from "./utils/FakeProviders.ts"
import * as PgTest from "./utils/PgTest.ts"

// ---------------------------------------------------------------------------------------------------------------
// the runtime of a storage mode

/** The stand-in providers of the suite's runtime, to hold a stage while a test looks. */
class Fakes extends Context.Service<Fakes, FakeProviders.FakeProviders>()("test/FacadeOperations/Fakes") {}

/** Budget days ten hours ahead of UTC, so that a day that is UTC's by mistake shows. */
const zone = DateTime.zoneMakeOffset(10 * 60 * 60 * 1000)

const database = "ytempire_test_facade"

const postgresUrl = (name: string) => {
  const user = process.env["PGUSER"] ?? "postgres"
  const password = process.env["PGPASSWORD"]
  const host = process.env["PGHOST"] ?? "127.0.0.1"
  const port = process.env["PGPORT"] ?? "5432"
  const credentials = password === undefined ? user : `${user}:${encodeURIComponent(password)}`
  return Redacted.make(`postgres://${credentials}@${host}:${port}/${name}`)
}

const runtimeOn = (storage: Effect.Effect<YtempireRuntime.Storage, unknown>) =>
  Layer.unwrap(Effect.gen(function*() {
    const providers = yield* FakeProviders.make
    const dataDir = mkdtempSync(join(tmpdir(), "ytempire-facade-"))
    return YtempireRuntime.layerWithProviders({
      dataDir,
      storage: yield* Effect.orDie(storage),
      messagePollInterval: "50 millis",
      pipeline: { budgetZone: zone, retry: { attemptTimeout: "1 minute", maxAttempts: 1, baseDelay: 0, maxDelay: 0 } }
    }, providers.layer).pipe(Layer.merge(Layer.succeed(Fakes)(providers)))
  }))

const modes = [
  { name: "memory", storage: Effect.succeed<YtempireRuntime.Storage>({ _tag: "memory" }) },
  {
    name: "Postgres",
    // A fresh database, made by the test helper; the runtime connects to it by URL.
    storage: Effect.as(Effect.provide(Effect.void, PgTest.layer(database)), {
      _tag: "postgres" as const,
      url: postgresUrl(database)
    })
  },
  { name: "embedded", storage: Effect.succeed<YtempireRuntime.Storage>({ _tag: "embedded" }) }
]

// ---------------------------------------------------------------------------------------------------------------
// helpers

let counter = 0
/** An id of this test's own (the runtime of a mode is shared by its tests). */
const unique = (label: string) => `${label}-${++counter}`
const tenant = () => Ids.TenantId.make(unique("tenant"))
const channelId = (id: string) => Schema.decodeSync(Ids.ChannelId)(id)
const videoId = (id: string) => Schema.decodeSync(Ids.VideoId)(id)

const registration = (id: string, fields: Record<string, unknown> = {}) => ({
  id,
  name: "Tech Daily",
  niche: "technology",
  language: "en",
  style: "upbeat explainer",
  ...fields
})

/** The error of an effect that must fail. */
const failure = <E extends { readonly _tag: string }>(effect: Effect.Effect<unknown, E>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error as E & { readonly field?: string; readonly message: string }))

const encodeChannel = Schema.encodeSync(Channel.Channel)
const at = (iso: string): DateTime.Utc => DateTime.makeUnsafe(iso)

/** The video once it is final. */
const finished = (tenantId: Ids.TenantId, id: Ids.VideoId) =>
  Effect.gen(function*() {
    const ytempire = yield* YtempireRuntime.Ytempire
    return Option.getOrThrow(yield* Stream.runLast(ytempire.watchVideo(tenantId, id)))
  })

/** Every page of a list, following `nextCursor`, with `between` run after each page but the last. */
const walk = <A, E, R>(
  page: (
    cursor: string | undefined
  ) => Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly nextCursor?: string }, E, R>,
  between: (pageIndex: number) => Effect.Effect<void, never, R> = () => Effect.void
) =>
  Effect.gen(function*() {
    const pages: Array<ReadonlyArray<A>> = []
    let cursor: string | undefined
    for (;;) {
      const result = yield* page(cursor)
      pages.push(result.items)
      if (result.nextCursor === undefined) return pages
      cursor = result.nextCursor
      yield* between(pages.length - 1)
    }
  })

/** A final video stored as the pipeline would leave it, with stage costs in cents. */
const storedVideo = (options: {
  readonly tenantId: Ids.TenantId
  readonly channelId: string
  readonly requestedAt: DateTime.Utc
  readonly status?: Video.VideoStatus
  readonly costs?: Partial<Record<Stage.Stage, number>>
}) => {
  const stages = Object.entries(options.costs ?? {}).map(([stage, cents]) =>
    new Video.StageRecord({
      stage: stage as Stage.Stage,
      status: "completed",
      attempts: [],
      cost: Money.fromCents(cents)
    })
  )
  return new Video.Video({
    id: videoId(unique("stored")),
    tenantId: options.tenantId,
    channelId: channelId(options.channelId),
    topic: "stored",
    status: options.status ?? "completed",
    stages,
    totalCost: Money.sum(stages.map((record) => record.cost)),
    requestedAt: options.requestedAt,
    updatedAt: options.requestedAt
  })
}

// ---------------------------------------------------------------------------------------------------------------
// the operations, in each mode

for (const mode of modes) {
  layer(runtimeOn(mode.storage), { excludeTestServices: true, timeout: "60 seconds" })(
    `Ytempire facade operations (${mode.name})`,
    (it) => {
      it.effect("lists channels by cursor, oldest first, each once, filtered by status", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const ids = Array.from({ length: 7 }, () => unique("list"))
          for (const id of ids) yield* ytempire.registerChannel(acme, registration(id))
          yield* ytempire.registerChannel(tenant(), registration(unique("other")))
          yield* ytempire.pauseChannel(acme, channelId(ids[2]!))
          yield* ytempire.pauseChannel(acme, channelId(ids[5]!))

          const pages = yield* walk((cursor) => ytempire.listChannels(acme, { cursor, limit: 3 }))
          expect(pages.map((page) => page.length)).toEqual([3, 3, 1])
          const all = (yield* (yield* ChannelRepository.ChannelRepository).list(acme)).map((channel) => channel.id)
          expect(pages.flat().map((channel) => channel.id)).toEqual(all)
          expect(new Set(all)).toEqual(new Set(ids))

          const paused = yield* walk((cursor) => ytempire.listChannels(acme, { status: "paused", cursor, limit: 1 }))
          expect(paused.flat().map((channel) => channel.id).toSorted()).toEqual([ids[2], ids[5]].toSorted())
          const active = yield* ytempire.listChannels(acme, { status: "active" })
          expect(active.items).toHaveLength(5)
          expect(active.nextCursor).toBeUndefined()

          // Bad input names its field; a cursor of another list, or none at all, is refused.
          expect(yield* failure(ytempire.listChannels(acme, { limit: 0 }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "limit"
          })
          expect(yield* failure(ytempire.listChannels(acme, { status: "asleep" }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "status"
          })
          expect(yield* failure(ytempire.listChannels(acme, { cursor: "not-a-cursor" }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "cursor"
          })
        }))

      it.effect("lists videos newest first by cursor, each once, while new videos arrive", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const videos = yield* VideoRepository.VideoRepository
          const acme = tenant()
          const tech = unique("tech")
          const news = unique("news")
          yield* ytempire.registerChannel(acme, registration(tech))
          yield* ytempire.registerChannel(acme, registration(news))
          // 24 videos at 6 instants, 4 at each (ties are ordered by insertion), over two channels and two statuses.
          const base = DateTime.makeUnsafe("2026-05-01T08:00:00Z")
          for (let i = 0; i < 24; i++) {
            yield* videos.insert(storedVideo({
              tenantId: acme,
              channelId: i % 2 === 0 ? tech : news,
              requestedAt: DateTime.add(base, { minutes: Math.floor(i / 4) }),
              status: i % 3 === 0 ? "failed" : "completed"
            }))
          }
          const expected = (yield* videos.list({ tenantId: acme })).map((video) => video.id)
          expect(expected).toHaveLength(24)

          // New videos between the pages: as new as the newest (a tie, inserted later) and newer still.
          const arrivals: Array<Ids.VideoId> = []
          const pages = yield* walk(
            (cursor) => ytempire.listVideos(acme, { cursor, limit: 5 }),
            (index) =>
              Effect.gen(function*() {
                const requestedAt = index === 0 ? DateTime.add(base, { minutes: 5 }) : DateTime.add(base, { hours: 1 })
                const video = yield* videos.insert(storedVideo({ tenantId: acme, channelId: tech, requestedAt }))
                arrivals.push(video.id)
              })
          )
          const seen = pages.flat().map((video) => video.id)
          expect(seen.slice(0, 5)).toEqual(expected.slice(0, 5))
          expect(seen.filter((id) => !arrivals.includes(id))).toEqual(expected)
          expect(new Set(seen).size).toBe(seen.length)
          // Afterwards, everything is there, newest first.
          const now = yield* walk((cursor) => ytempire.listVideos(acme, { cursor, limit: 7 }))
          expect(now.flat().map((video) => video.id)).toEqual(
            (yield* videos.list({ tenantId: acme })).map((video) => video.id)
          )
          expect(now.flat()).toHaveLength(24 + arrivals.length)

          // Filters by channel and status, together with the cursor.
          const failedOfTech = yield* walk((cursor) =>
            ytempire.listVideos(acme, { channelId: tech, status: "failed", cursor, limit: 2 })
          )
          expect(failedOfTech.flat().map((video) => video.id)).toEqual(
            (yield* videos.list({ tenantId: acme, channelId: channelId(tech), status: "failed" })).map((v) => v.id)
          )
          expect(failedOfTech.flat().length).toBeGreaterThan(0)

          expect(yield* failure(ytempire.listVideos(acme, { channelId: unique("nope") }))).toMatchObject({
            _tag: "ChannelNotFound"
          })
          expect(yield* failure(ytempire.listVideos(acme, { status: "done" }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "status"
          })
          expect(yield* failure(ytempire.listVideos(acme, { limit: 501 }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "limit"
          })
          const channelCursor = (yield* ytempire.listChannels(acme, { limit: 1 })).nextCursor!
          expect(yield* failure(ytempire.listVideos(acme, { cursor: channelCursor }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "cursor"
          })
        }))

      it.effect("keeps tenants apart: another tenant's channel and video are not found", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const globex = tenant()
          const tech = channelId(unique("tech"))
          yield* ytempire.registerChannel(acme, registration(tech))
          const video = yield* ytempire.requestVideo(acme, { channelId: tech, topic: "Phones" })
          yield* finished(acme, video.id)

          expect((yield* ytempire.getChannel(acme, tech)).id).toBe(tech)
          expect((yield* failure(ytempire.getChannel(globex, tech)))._tag).toBe("ChannelNotFound")
          expect((yield* failure(ytempire.updateChannel(globex, tech, { name: "Mine" })))._tag).toBe("ChannelNotFound")
          expect((yield* failure(ytempire.deleteChannel(globex, tech)))._tag).toBe("ChannelNotFound")
          expect((yield* failure(ytempire.listVideos(globex, { channelId: tech })))._tag).toBe("ChannelNotFound")
          expect((yield* failure(ytempire.budgetStatus(globex, tech)))._tag).toBe("ChannelNotFound")
          const today = Budget.periodOf(yield* DateTime.now, zone).day
          expect((yield* failure(ytempire.costReport(globex, { from: today, to: today, channelId: tech })))._tag)
            .toBe("ChannelNotFound")
          expect((yield* failure(ytempire.getVideo(globex, video.id)))._tag).toBe("VideoNotFound")
          expect((yield* ytempire.listChannels(globex, {})).items).toEqual([])
          expect((yield* ytempire.listVideos(globex, {})).items).toEqual([])
          expect((yield* ytempire.counts(globex)).videos.completed).toBe(0)
          expect((yield* ytempire.costReport(globex, { from: today, to: today })).videos).toBe(0)
          // The channel is still there for its tenant.
          expect((yield* ytempire.getChannel(acme, tech)).name).toBe("Tech Daily")
          // Asking for a video under an id that another tenant's video holds is refused, without that video.
          const mine = channelId(unique("mine"))
          yield* ytempire.registerChannel(globex, registration(mine))
          const taken = yield* failure(
            ytempire.requestVideo(globex, { channelId: mine, videoId: video.id, topic: "x" })
          )
          expect(taken).toMatchObject({ _tag: "InvalidRequest", field: "videoId" })
          expect(JSON.stringify(taken)).not.toContain("Phones")
          expect((yield* ytempire.listVideos(globex, {})).items).toEqual([])
        }))

      it.effect("updates a channel through its actor; a bad update changes nothing", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const id = channelId(unique("tech"))
          yield* ytempire.registerChannel(
            acme,
            registration(id, { schedule: { cron: "0 9 * * *", timeZone: "UTC" }, budget: { daily: "5" } })
          )
          const updated = yield* ytempire.updateChannel(acme, id, {
            name: "Tech Weekly",
            schedule: null,
            priority: "high",
            budget: { perVideo: "2.00", daily: null }
          })
          expect(updated).toMatchObject({ id, name: "Tech Weekly", priority: "high", niche: "technology" })
          expect(updated.schedule).toBeUndefined()
          expect(updated.budget.perVideo).toBe(Money.unsafeFromDecimal("2"))
          expect(updated.budget.daily).toBeUndefined()
          const stored = yield* ytempire.getChannel(acme, id)
          expect(encodeChannel(stored)).toEqual(encodeChannel(updated))
          expect((yield* ytempire.channelState(acme, id)).nextScheduledRun).toBeUndefined()

          const badQuality = yield* failure(ytempire.updateChannel(acme, id, { quality: 7 }))
          expect(badQuality).toMatchObject({ _tag: "InvalidRequest", field: "quality" })
          const badName = yield* failure(ytempire.updateChannel(acme, id, { name: "", niche: "cars" }))
          expect(badName).toMatchObject({ _tag: "InvalidRequest", field: "name" })
          const badCron = yield* failure(
            ytempire.updateChannel(acme, id, { schedule: { cron: "every day", timeZone: "UTC" } })
          )
          expect(badCron).toMatchObject({ _tag: "InvalidRequest", field: "schedule.cron" })
          expect((yield* failure(ytempire.updateChannel(acme, id, "rename it")))._tag).toBe("InvalidRequest")
          expect(encodeChannel(yield* ytempire.getChannel(acme, id))).toEqual(encodeChannel(updated))
          expect((yield* failure(ytempire.updateChannel(acme, channelId(unique("nope")), { name: "x" })))._tag)
            .toBe("ChannelNotFound")
        }))

      it.effect("deletes a channel: its unfinished videos are cancelled and their reservations released", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const fakes = yield* Fakes
          const ledger = yield* BudgetLedger.BudgetLedger
          const acme = tenant()
          const doomed = channelId(unique("doomed"))
          const kept = channelId(unique("kept"))
          yield* ytempire.registerChannel(acme, registration(doomed))
          yield* ytempire.registerChannel(acme, registration(kept))
          const done = yield* ytempire.requestVideo(acme, { channelId: doomed, topic: "done before" })
          yield* finished(acme, done.id)

          const release = yield* fakes.hold("ffmpeg")
          yield* Effect.gen(function*() {
            const calls = (yield* Ref.get(fakes.calls)).filter((name) => name === "ffmpeg").length
            const running = yield* ytempire.requestVideo(acme, { channelId: doomed, topic: "running" })
            const queued = yield* ytempire.requestVideo(acme, { channelId: doomed, topic: "queued" })
            // The first is held at its render stage, holding a reservation; the second waits its turn.
            while ((yield* Ref.get(fakes.calls)).filter((name) => name === "ffmpeg").length === calls) {
              yield* Effect.sleep("10 millis")
            }
            const [held] = yield* ledger.status([Budget.VideoScope.make({ videoId: running.id })])
            expect(Money.isZero(held!.reserved)).toBe(false)

            yield* ytempire.deleteChannel(acme, doomed)

            expect((yield* ytempire.getVideo(acme, running.id)).status).toBe("cancelled")
            expect((yield* ytempire.getVideo(acme, queued.id)).status).toBe("cancelled")
            expect((yield* ytempire.getVideo(acme, done.id)).status).toBe("completed")
            const [released] = yield* ledger.status([Budget.VideoScope.make({ videoId: running.id })])
            expect(Money.isZero(released!.reserved)).toBe(true)
            const today = Budget.periodOf(yield* DateTime.now, zone).day
            const [tenantDay] = yield* ledger.status([Budget.TenantDayScope.make({ tenantId: acme, day: today })])
            expect(Money.isZero(tenantDay!.reserved)).toBe(true)
          }).pipe(Effect.ensuring(release))

          // The channel is gone; its videos stay readable.
          expect((yield* ytempire.listChannels(acme, {})).items.map((channel) => channel.id)).toEqual([kept])
          expect((yield* failure(ytempire.getChannel(acme, doomed)))._tag).toBe("ChannelNotFound")
          expect((yield* failure(ytempire.requestVideo(acme, { channelId: doomed, topic: "more" })))._tag).toBe(
            "ChannelNotFound"
          )
          expect((yield* failure(ytempire.deleteChannel(acme, doomed)))._tag).toBe("ChannelNotFound")
          const videos = (yield* ytempire.listVideos(acme, {})).items
          expect(videos.map((video) => video.status).toSorted()).toEqual(["cancelled", "cancelled", "completed"])
          expect((yield* ytempire.counts(acme)).channels).toMatchObject({ active: 1, paused: 0 })
          // The other channel still works.
          const after = yield* ytempire.requestVideo(acme, { channelId: kept, topic: "still here" })
          expect((yield* finished(acme, after.id)).status).toBe("completed")
        }))

      it.effect("a deleted channel's schedule stops", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const id = channelId(unique("ticking"))
          // Every second.
          yield* ytempire.registerChannel(
            acme,
            registration(id, { schedule: { cron: "* * * * * *", timeZone: "UTC" } })
          )
          while ((yield* ytempire.listVideos(acme, {})).items.length === 0) yield* Effect.sleep("50 millis")
          yield* ytempire.deleteChannel(acme, id)
          const before = (yield* ytempire.listVideos(acme, {})).items
          yield* Effect.sleep("1500 millis")
          const after = (yield* ytempire.listVideos(acme, {})).items
          expect(after.map((video) => video.id)).toEqual(before.map((video) => video.id))
          expect(after.every((video) => Video.isFinal(video.status))).toBe(true)
        }))

      it.effect("a tenant's daily limit set at run time refuses its next request; another tenant goes on", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const globex = tenant()
          const acmeChannel = channelId(unique("acme"))
          const globexChannel = channelId(unique("globex"))
          yield* ytempire.registerChannel(acme, registration(acmeChannel))
          yield* ytempire.registerChannel(globex, registration(globexChannel))
          const first = yield* ytempire.requestVideo(acme, { channelId: acmeChannel, topic: "first" })
          const spent = (yield* finished(acme, first.id)).totalCost
          expect(spent).toBeGreaterThan(0)
          expect((yield* ytempire.budgetLimits(acme)).tenantDaily).toBeUndefined()

          // Below what the tenant spent today: hard control for its non-critical channels.
          const limit = Money.fromCents(1)
          const limits = yield* ytempire.setTenantDailyLimit(acme, Option.some(limit))
          expect(limits.tenantDaily).toBe(limit)
          expect((yield* ytempire.budgetLimits(acme)).tenantDaily).toBe(limit)
          expect((yield* ytempire.budgetLimits(globex)).tenantDaily).toBeUndefined()
          const refused = yield* failure(ytempire.requestVideo(acme, { channelId: acmeChannel, topic: "second" }))
          expect(refused).toMatchObject({ _tag: "BudgetExceeded", limit })
          expect((refused as Budget.BudgetExceeded).scope._tag).toBe("tenant-day")
          expect((yield* ytempire.getChannel(acme, acmeChannel)).status).toBe("budget-paused")

          const status = yield* ytempire.budgetStatus(acme)
          expect(status.map((scope) => scope.scope._tag)).toEqual(["tenant-day", "global-day", "global-month"])
          expect(status[0]).toMatchObject({ limit, committed: spent, level: "hard" })
          const ofChannel = yield* ytempire.budgetStatus(acme, acmeChannel)
          expect(ofChannel.map((scope) => scope.scope._tag)).toEqual([
            "channel-day",
            "tenant-day",
            "global-day",
            "global-month"
          ])
          expect(ofChannel[0]).toMatchObject({ committed: spent, level: "normal" })

          const other = yield* ytempire.requestVideo(globex, { channelId: globexChannel, topic: "unaffected" })
          expect((yield* finished(globex, other.id)).status).toBe("completed")

          // A limit below a video's estimate, before the tenant spent anything: the request is taken (nothing is
          // spent yet), and the video's reservation is refused by the same limit.
          const initech = tenant()
          const initechChannel = channelId(unique("initech"))
          yield* ytempire.registerChannel(initech, registration(initechChannel))
          yield* ytempire.setTenantDailyLimit(initech, Option.some(limit))
          const starved = yield* ytempire.requestVideo(initech, { channelId: initechChannel, topic: "starved" })
          const failed = yield* finished(initech, starved.id)
          expect(failed).toMatchObject({ status: "failed", error: { tag: "BudgetExceeded" } })
          expect(failed.totalCost).toBe(Money.zero)

          // Without a limit again, the channel takes requests again.
          expect((yield* ytempire.setTenantDailyLimit(acme, Option.none())).tenantDaily).toBeUndefined()
          const again = yield* ytempire.requestVideo(acme, { channelId: acmeChannel, topic: "again" })
          expect((yield* finished(acme, again.id)).status).toBe("completed")
          expect((yield* ytempire.getChannel(acme, acmeChannel)).status).toBe("active")
        }))

      it.effect("sets the global limits for every tenant", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const configured = new Budget.BudgetLimits({})
          const daily = Money.unsafeFromDecimal("150")
          const changed = yield* ytempire.setGlobalLimits({ daily })
          expect(changed).toMatchObject({ globalDaily: daily, globalMonthly: configured.globalMonthly })
          yield* ytempire.setTenantDailyLimit(acme, Option.some(Money.unsafeFromDecimal("40")))
          const monthly = Money.unsafeFromDecimal("4000")
          yield* ytempire.setGlobalLimits({ monthly })
          expect(yield* ytempire.budgetLimits(acme)).toMatchObject({
            tenantDaily: Money.unsafeFromDecimal("40"),
            globalDaily: daily,
            globalMonthly: monthly
          })
          const status = yield* ytempire.budgetStatus(tenant())
          expect(status.map((scope) => scope.limit)).toEqual([undefined, daily, monthly])
          // Back to the configured figures, for the other tests.
          yield* ytempire.setGlobalLimits({ daily: configured.globalDaily, monthly: configured.globalMonthly })
          expect(yield* ytempire.budgetLimits(tenant())).toMatchObject({
            globalDaily: configured.globalDaily,
            globalMonthly: configured.globalMonthly
          })
        }))

      it.effect("reports costs per channel and stage that add up to the videos' costs", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const acme = tenant()
          const tech = channelId(unique("tech"))
          const news = channelId(unique("news"))
          yield* ytempire.registerChannel(acme, registration(tech))
          yield* ytempire.registerChannel(acme, registration(news, { quality: 1 }))
          const made = [
            yield* ytempire.requestVideo(acme, { channelId: tech, topic: "one" }),
            yield* ytempire.requestVideo(acme, { channelId: tech, topic: "two" }),
            yield* ytempire.requestVideo(acme, { channelId: news, topic: "three" })
          ]
          const videos = yield* Effect.forEach(made, (video) => finished(acme, video.id))
          const today = Budget.periodOf(yield* DateTime.now, zone).day
          const report = yield* ytempire.costReport(acme, { from: today, to: today })
          const total = Money.sum(videos.map((video) => video.totalCost))
          expect(report).toMatchObject({ from: today, to: today, total, videos: 3 })
          expect(report.averagePerVideo).toBe(Money.scale(total, 1, 3))
          const costOf = (channel: Ids.ChannelId) =>
            Money.sum(videos.filter((video) => video.channelId === channel).map((video) => video.totalCost))
          expect(report.byChannel.map((entry) => [entry.channelId, entry.videos, entry.total]).toSorted()).toEqual(
            [[tech, 2, costOf(tech)], [news, 1, costOf(news)]].toSorted()
          )
          expect(report.byStage.map((entry) => entry.stage)).toEqual(Stage.all)
          for (const entry of report.byStage) {
            expect(entry.total).toBe(
              Money.sum(
                videos.flatMap((video) => video.stages.filter((s) => s.stage === entry.stage).map((s) => s.cost))
              )
            )
          }
          expect(Money.sum(report.byStage.map((entry) => entry.total))).toBe(total)
          const ofNews = yield* ytempire.costReport(acme, { from: today, to: today, channelId: news })
          expect(ofNews).toMatchObject({ total: costOf(news), videos: 1 })

          // Bad ranges name the field.
          expect(yield* failure(ytempire.costReport(acme, { from: "2026-02-30", to: today }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "from"
          })
          expect(yield* failure(ytempire.costReport(acme, { from: "2026-03-02", to: "2026-03-01" }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "to"
          })
          expect(yield* failure(ytempire.costReport(acme, { from: "2025-01-01", to: "2026-01-02" }))).toMatchObject({
            _tag: "InvalidRequest",
            field: "to"
          })
          expect((yield* ytempire.costReport(acme, { from: "2025-01-01", to: "2026-01-01" })).videos).toBe(0)
          expect(yield* failure(ytempire.costReport(acme, { to: today }))).toMatchObject({ field: "from" })
        }))

      it.effect("counts a day's costs in the budget time zone", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const videos = yield* VideoRepository.VideoRepository
          const acme = tenant()
          const tech = unique("tech")
          yield* ytempire.registerChannel(acme, registration(tech))
          // The budget zone is UTC+10: 2026-03-01 there runs from 2026-02-28T14:00Z to 2026-03-01T14:00Z.
          for (
            const [requestedAt, cents] of [
              ["2026-02-28T13:59:59.999Z", 1],
              ["2026-02-28T14:00:00.000Z", 20],
              ["2026-03-01T13:59:59.999Z", 300],
              ["2026-03-01T14:00:00.000Z", 4000]
            ] as const
          ) {
            yield* videos.insert(
              storedVideo({ tenantId: acme, channelId: tech, requestedAt: at(requestedAt), costs: { script: cents } })
            )
          }
          // A video that cost nothing is not counted.
          yield* videos.insert(
            storedVideo({ tenantId: acme, channelId: tech, requestedAt: at("2026-03-01T00:00:00Z"), status: "failed" })
          )
          const first = yield* ytempire.costReport(acme, { from: "2026-03-01", to: "2026-03-01" })
          expect(first).toMatchObject({ total: Money.fromCents(320), videos: 2, averagePerVideo: Money.fromCents(160) })
          const range = yield* ytempire.costReport(acme, { from: "2026-02-28", to: "2026-03-02" })
          expect(range).toMatchObject({ total: Money.fromCents(4321), videos: 4 })
          expect(range.byStage.find((entry) => entry.stage === "script")?.total).toBe(Money.fromCents(4321))
          expect(range.byStage.find((entry) => entry.stage === "render")?.total).toBe(Money.zero)
        }))

      it.effect("counts channels and videos by status", () =>
        Effect.gen(function*() {
          const ytempire = yield* YtempireRuntime.Ytempire
          const videos = yield* VideoRepository.VideoRepository
          const acme = tenant()
          const ids = [unique("a"), unique("b"), unique("c")]
          for (const id of ids) yield* ytempire.registerChannel(acme, registration(id))
          yield* ytempire.pauseChannel(acme, channelId(ids[0]!))
          // Stored directly, on a channel id that no actor runs, so that nothing starts them.
          const statuses: ReadonlyArray<Video.VideoStatus> = [
            "queued",
            "running",
            "running",
            "completed",
            "completed",
            "completed",
            "failed",
            "cancelled"
          ]
          const requestedAt = yield* DateTime.now
          for (const status of statuses) {
            yield* videos.insert(storedVideo({ tenantId: acme, channelId: unique("ghost"), requestedAt, status }))
          }
          yield* videos.insert(storedVideo({ tenantId: tenant(), channelId: unique("ghost"), requestedAt }))
          const counts = yield* ytempire.counts(acme)
          expect({ ...counts.channels }).toEqual({ active: 2, paused: 1, "budget-paused": 0 })
          expect({ ...counts.videos }).toEqual({ queued: 1, running: 2, completed: 3, failed: 1, cancelled: 1 })
          expect({ ...(yield* ytempire.counts(tenant())).videos }).toEqual({
            queued: 0,
            running: 0,
            completed: 0,
            failed: 0,
            cancelled: 0
          })
        }))
    }
  )
}
