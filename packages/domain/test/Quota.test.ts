import { describe, expect, it } from "@effect/vitest"
import { Ids, Quota } from "@ytempire/domain"
import { DateTime, Effect, Result, Schema } from "effect"
import { TestClock } from "effect/testing"

const utc = (iso: string): DateTime.Utc => DateTime.toUtc(DateTime.makeUnsafe(iso))
const iso = (instant: DateTime.Utc): string => DateTime.formatIso(instant)
const hours = (from: DateTime.Utc, to: DateTime.Utc): number =>
  (DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)) / 3_600_000

const accountId = Ids.AccountId.make("yt-account-01")

const account = (model: Quota.QuotaModel) => new Quota.AccountQuota({ accountId, role: "primary", model })

const admitted = (result: Result.Result<Quota.QuotaUsage, Quota.QuotaExhausted>): Quota.QuotaUsage => {
  if (Result.isFailure(result)) throw new Error(`expected the call to be admitted: ${result.failure.message}`)
  return result.success
}

const refused = (result: Result.Result<Quota.QuotaUsage, Quota.QuotaExhausted>): Quota.QuotaExhausted => {
  if (Result.isSuccess(result)) throw new Error(`expected QuotaExhausted, got ${JSON.stringify(result.success)}`)
  return result.failure
}

describe("Quota", () => {
  describe("quota days and resets (midnight America/Los_Angeles)", () => {
    it("spring forward, 2026-03-08: the Pacific day lasts 23 hours", () => {
      const lastSecondOfPst = utc("2026-03-08T07:59:59Z")
      expect(Quota.quotaDay(lastSecondOfPst)).toBe("2026-03-07")
      const midnight = Quota.nextReset(lastSecondOfPst)
      expect(iso(midnight)).toBe("2026-03-08T08:00:00.000Z")

      expect(Quota.quotaDay(midnight)).toBe("2026-03-08")
      const nextMidnight = Quota.nextReset(midnight)
      expect(iso(nextMidnight)).toBe("2026-03-09T07:00:00.000Z")
      expect(hours(midnight, nextMidnight)).toBe(23)

      // 10:30Z is 03:30 PDT, just after the skipped hour
      expect(Quota.quotaDay(utc("2026-03-08T10:30:00Z"))).toBe("2026-03-08")
      expect(iso(Quota.nextReset(utc("2026-03-08T10:30:00Z")))).toBe("2026-03-09T07:00:00.000Z")
      expect(Quota.quotaDay(utc("2026-03-09T06:59:59.999Z"))).toBe("2026-03-08")
    })

    it("fall back, 2026-11-01: the Pacific day lasts 25 hours", () => {
      const lastSecondOfPdt = utc("2026-11-01T06:59:59Z")
      expect(Quota.quotaDay(lastSecondOfPdt)).toBe("2026-10-31")
      const midnight = Quota.nextReset(lastSecondOfPdt)
      expect(iso(midnight)).toBe("2026-11-01T07:00:00.000Z")

      expect(Quota.quotaDay(midnight)).toBe("2026-11-01")
      const nextMidnight = Quota.nextReset(midnight)
      expect(iso(nextMidnight)).toBe("2026-11-02T08:00:00.000Z")
      expect(hours(midnight, nextMidnight)).toBe(25)

      // 01:30 happens twice: 08:30Z in PDT, 09:30Z in PST; both belong to the same day and reset
      for (const instant of ["2026-11-01T08:30:00Z", "2026-11-01T09:30:00Z", "2026-11-02T07:59:59.999Z"]) {
        expect(Quota.quotaDay(utc(instant))).toBe("2026-11-01")
        expect(iso(Quota.nextReset(utc(instant)))).toBe("2026-11-02T08:00:00.000Z")
      }
    })

    it("an ordinary day resets at 08:00Z in winter and 07:00Z in summer, not at UTC midnight", () => {
      expect(Quota.quotaDay(utc("2026-01-15T00:30:00Z"))).toBe("2026-01-14")
      expect(iso(Quota.nextReset(utc("2026-01-15T00:30:00Z")))).toBe("2026-01-15T08:00:00.000Z")
      expect(Quota.quotaDay(utc("2026-07-04T06:59:59Z"))).toBe("2026-07-03")
      expect(iso(Quota.nextReset(utc("2026-07-04T06:59:59Z")))).toBe("2026-07-04T07:00:00.000Z")
    })

    it.prop(
      "the next reset is strictly later, at most 25 hours away, and starts the next quota day",
      // 2020-01-01 to 2040-01-01
      [Schema.Int.check(Schema.isBetween({ minimum: 1_577_836_800_000, maximum: 2_208_988_800_000 }))],
      ([millis]) => {
        const now = DateTime.makeUnsafe(millis)
        const reset = Quota.nextReset(now)
        const gap = hours(now, reset)
        expect(gap).toBeGreaterThan(0)
        expect(gap).toBeLessThanOrEqual(25)
        expect(Quota.quotaDay(reset)).not.toBe(Quota.quotaDay(now))
        expect(Quota.quotaDay(DateTime.subtract(reset, { milliseconds: 1 }))).toBe(Quota.quotaDay(now))
        expect(Quota.nextReset(DateTime.subtract(reset, { milliseconds: 1 }))).toStrictEqual(reset)
      }
    )

    it.effect("the quota day of the Clock's time", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(DateTime.toEpochMillis(utc("2026-03-08T07:59:59Z")))
        expect(Quota.quotaDay(yield* DateTime.now)).toBe("2026-03-07")
        yield* TestClock.adjust("1 second")
        expect(Quota.quotaDay(yield* DateTime.now)).toBe("2026-03-08")
      }))
  })

  describe("usage rolls over at the Pacific midnight", () => {
    it("usage from late on one Pacific day counts until the next Pacific midnight, and not after", () => {
      const quota = account("units-only")
      const cases = [
        { late: "2026-03-08T07:30:00Z", lastInstant: "2026-03-08T07:59:59.999Z", reset: "2026-03-08T08:00:00Z" },
        { late: "2026-11-01T06:30:00Z", lastInstant: "2026-11-01T06:59:59.999Z", reset: "2026-11-01T07:00:00Z" }
      ]
      for (const { lastInstant, late, reset } of cases) {
        let usage = Quota.emptyUsage(utc(late))
        for (let i = 0; i < 6; i++) usage = admitted(Quota.check(quota, usage, "videos.insert", utc(late)))
        expect(usage.unitsUsed).toBe(9600)

        // UTC midnight has passed for the March case, the Pacific one has not
        expect(Quota.usageOn(usage, utc(lastInstant))).toBe(usage)
        expect(Quota.remaining(quota, usage, utc(lastInstant)).units).toBe(400)
        expect(refused(Quota.check(quota, usage, "videos.insert", utc(lastInstant))).bucket).toBe("units")

        const fresh = Quota.usageOn(usage, utc(reset))
        expect(fresh.unitsUsed).toBe(0)
        expect(fresh.day).toBe(Quota.quotaDay(utc(reset)))
        expect(Quota.remaining(quota, usage, utc(reset)).units).toBe(10_000)
        expect(admitted(Quota.check(quota, usage, "videos.insert", utc(reset))).unitsUsed).toBe(1600)
      }
    })

    it("usage recorded for a later day (a clock that stepped back) is not reset", () => {
      const usage = new Quota.QuotaUsage({ day: "2026-05-02", unitsUsed: 700, uploadsUsed: 3, searchesUsed: 0 })
      expect(Quota.usageOn(usage, utc("2026-05-02T06:00:00Z"))).toBe(usage)
    })
  })

  describe("quota models", () => {
    const now = utc("2026-04-10T16:00:00Z")

    it("charges each call per model", () => {
      expect(Quota.costOf("videos.insert", "units-only")).toStrictEqual({ units: 1600, uploads: 0, searches: 0 })
      expect(Quota.costOf("videos.insert", "separate-upload-bucket")).toStrictEqual({
        units: 0,
        uploads: 1,
        searches: 0
      })
      expect(Quota.costOf("search.list", "units-only")).toStrictEqual({ units: 100, uploads: 0, searches: 0 })
      expect(Quota.costOf("search.list", "separate-upload-bucket")).toStrictEqual({
        units: 0,
        uploads: 0,
        searches: 1
      })
      for (const model of ["units-only", "separate-upload-bucket"] as const) {
        expect(Quota.costOf("thumbnails.set", model).units).toBe(50)
        expect(Quota.costOf("videos.update", model).units).toBe(50)
        expect(Quota.costOf("playlistItems.insert", model).units).toBe(50)
        expect(Quota.costOf("videos.list", model).units).toBe(1)
        expect(Quota.costOf("channels.list", model).units).toBe(1)
      }
    })

    it("units-only: 6 uploads fit in 10,000 units and the 7th is refused on the units", () => {
      const quota = account("units-only")
      let usage = Quota.emptyUsage(now)
      for (let i = 0; i < 6; i++) usage = admitted(Quota.check(quota, usage, "videos.insert", now))
      expect(usage.unitsUsed).toBe(9600)
      expect(Quota.remaining(quota, usage, now)).toStrictEqual({ units: 400, uploads: 0, searches: 4 })

      const error = refused(Quota.check(quota, usage, "videos.insert", now))
      expect(error).toBeInstanceOf(Quota.QuotaExhausted)
      expect(error.bucket).toBe("units")
      expect(error.accountId).toBe(accountId)
      expect(error.limit).toBe(10_000)
      expect(error.used).toBe(9600)
      expect(error.needed).toBe(1600)
      expect(iso(error.resetsAt)).toBe("2026-04-11T07:00:00.000Z")
      expect(error.message).toContain("2026-04-11T07:00:00.000Z")

      // smaller calls still fit
      expect(admitted(Quota.check(quota, usage, "thumbnails.set", now)).unitsUsed).toBe(9650)
    })

    it("separate-upload-bucket: 100 uploads with their thumbnails fit and the 101st upload is refused on uploads", () => {
      const quota = account("separate-upload-bucket")
      let usage = Quota.emptyUsage(now)
      for (let i = 0; i < 100; i++) {
        usage = admitted(Quota.check(quota, usage, "videos.insert", now))
        usage = admitted(Quota.check(quota, usage, "thumbnails.set", now))
      }
      expect(usage.uploadsUsed).toBe(100)
      expect(usage.unitsUsed).toBe(5000)
      expect(Quota.remaining(quota, usage, now)).toStrictEqual({ units: 5000, uploads: 0, searches: 100 })

      const error = refused(Quota.check(quota, usage, "videos.insert", now))
      expect(error.bucket).toBe("uploads")
      expect(error.limit).toBe(100)
      expect(error.used).toBe(100)
      expect(error.needed).toBe(1)

      // the units are a separate bucket and still have room
      expect(admitted(Quota.check(quota, usage, "videos.update", now)).unitsUsed).toBe(5050)
    })

    it("separate-upload-bucket: searches have their own bucket of 100 calls", () => {
      const quota = account("separate-upload-bucket")
      let usage = Quota.emptyUsage(now)
      for (let i = 0; i < 100; i++) usage = admitted(Quota.check(quota, usage, "search.list", now))
      expect(usage.unitsUsed).toBe(0)
      expect(refused(Quota.check(quota, usage, "search.list", now)).bucket).toBe("searches")
      expect(admitted(Quota.check(quota, usage, "videos.insert", now)).uploadsUsed).toBe(1)
    })

    it("checkAll admits a multi-call job whole or not at all", () => {
      const quota = account("separate-upload-bucket")
      const usage = new Quota.QuotaUsage({ day: Quota.quotaDay(now), unitsUsed: 9960, uploadsUsed: 5, searchesUsed: 0 })
      const job = ["videos.insert", "thumbnails.set", "playlistItems.insert"] as const

      // the upload alone would fit; with its thumbnail and playlist entry (100 units) the job does not
      expect(admitted(Quota.check(quota, usage, "videos.insert", now)).uploadsUsed).toBe(6)
      const error = refused(Quota.checkAll(quota, usage, job, now))
      expect(error.bucket).toBe("units")
      expect(error.needed).toBe(100)
      expect(error.used).toBe(9960)

      const roomy = new Quota.QuotaUsage({ day: Quota.quotaDay(now), unitsUsed: 0, uploadsUsed: 5, searchesUsed: 0 })
      const after = admitted(Quota.checkAll(quota, roomy, job, now))
      expect([after.unitsUsed, after.uploadsUsed]).toStrictEqual([100, 6])
    })

    it("fractionUsed reports the fullest metered bucket, for the 80 % alert", () => {
      const day = Quota.quotaDay(now)
      const separate = account("separate-upload-bucket")
      const uploads80 = new Quota.QuotaUsage({ day, unitsUsed: 4000, uploadsUsed: 80, searchesUsed: 0 })
      expect(Quota.fractionUsed(separate, uploads80, now)).toBe(0.8)
      const units79 = new Quota.QuotaUsage({ day, unitsUsed: 7900, uploadsUsed: 10, searchesUsed: 0 })
      expect(Quota.fractionUsed(separate, units79, now)).toBeLessThan(Quota.alertThreshold)

      // units-only has no uploads bucket: only the units count
      expect(Quota.fractionUsed(account("units-only"), uploads80, now)).toBe(0.4)
      // a previous day's usage no longer counts
      expect(Quota.fractionUsed(separate, uploads80, Quota.nextReset(now))).toBe(0)
    })
  })

  describe("AccountQuota", () => {
    it("decodes with the API's defaults", () => {
      const quota = Schema.decodeUnknownSync(Quota.AccountQuota)({ accountId: "yt-account-13", role: "reserve" })
      expect(quota.role).toBe("reserve")
      expect(quota.model).toBe("separate-upload-bucket")
      expect(quota.dailyUnits).toBe(10_000)
      expect(quota.dailyUploads).toBe(100)
      expect(quota.dailySearches).toBe(100)
      const custom = Schema.decodeUnknownSync(Quota.AccountQuota)({
        accountId: "yt-account-02",
        role: "primary",
        model: "units-only",
        dailyUnits: 50_000
      })
      expect([custom.model, custom.dailyUnits]).toStrictEqual(["units-only", 50_000])
    })

    it("rejects bad input with a message that names the field", () => {
      const decode = Schema.decodeUnknownSync(Quota.AccountQuota)
      const base = { accountId: "yt-account-01", role: "primary" }
      expect(() => decode({ ...base, dailyUnits: -1 })).toThrow(/dailyUnits must be a positive integer/)
      expect(() => decode({ ...base, dailyUnits: 0 })).toThrow(/dailyUnits must be a positive integer/)
      expect(() => decode({ ...base, dailyUploads: 2.5 })).toThrow(/dailyUploads must be a positive integer/)
      expect(() => decode({ ...base, dailyUnits: "lots" })).toThrow(/dailyUnits must be a positive integer/)
      expect(() => decode({ ...base, role: "backup" })).toThrow(/role must be "primary" or "reserve"/)
      expect(() => decode({ ...base, model: "per-method" })).toThrow(/model must be/)
      expect(() => decode({ ...base, accountId: "" })).toThrow(/AccountId/)
      expect(() => new Quota.AccountQuota({ accountId, role: "primary", dailyUnits: -5 })).toThrow(
        /Schema validation failed/
      )
    })
  })

  describe("QuotaExhausted", () => {
    it("round-trips through JSON, its reset instant as an ISO string", () => {
      const now = utc("2026-11-01T09:30:00Z")
      const error = refused(
        Quota.check(
          new Quota.AccountQuota({ accountId, role: "reserve", dailyUploads: 1 }),
          new Quota.QuotaUsage({ day: Quota.quotaDay(now), unitsUsed: 0, uploadsUsed: 1, searchesUsed: 0 }),
          "videos.insert",
          now
        )
      )
      const codec = Schema.toCodecJson(Quota.QuotaExhausted)
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(codec)(error)))
      expect(json).toStrictEqual({
        _tag: "QuotaExhausted",
        accountId: "yt-account-01",
        bucket: "uploads",
        limit: 1,
        used: 1,
        needed: 1,
        resetsAt: "2026-11-02T08:00:00.000Z"
      })
      const decoded = Schema.decodeUnknownSync(codec)(json)
      expect(decoded).toBeInstanceOf(Quota.QuotaExhausted)
      expect(iso(decoded.resetsAt)).toBe("2026-11-02T08:00:00.000Z")
      expect(decoded.message).toBe(
        "YouTube account yt-account-01 has 0 of 1 uploads left today and needs 1; the quota resets at 2026-11-02T08:00:00.000Z"
      )
    })
  })
})
