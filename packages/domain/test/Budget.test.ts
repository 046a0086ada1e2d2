import { describe, expect, it } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import { DateTime, Option, Schema } from "effect"

const usd = (text: string): Money.Money => Money.unsafeFromDecimal(text)
const micros = (count: number): Money.Money => Money.fromMicros(count)
const utc = (iso: string): DateTime.Utc => DateTime.toUtc(DateTime.makeUnsafe(iso))
const iso = (instant: DateTime.Utc): string => DateTime.formatIso(instant)
const hours = (from: DateTime.Utc, to: DateTime.Utc): number =>
  (DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)) / 3_600_000

const UTC = DateTime.zoneMakeNamedUnsafe("UTC")
const tokyo = DateTime.zoneMakeNamedUnsafe("Asia/Tokyo")
const newYork = DateTime.zoneMakeNamedUnsafe("America/New_York")

const spender: Budget.Spender = {
  tenantId: Ids.TenantId.make("t1"),
  channelId: Ids.ChannelId.make("c1"),
  videoId: Ids.VideoId.make("v1")
}

const rollover = (kind: Budget.ScopeKind, now: string, zone: DateTime.TimeZone): string => {
  const next = Budget.rolloverAfter(kind, utc(now), zone)
  if (Option.isNone(next)) throw new Error(`expected a rollover for ${kind}`)
  return iso(next.value)
}

describe("Budget", () => {
  describe("scopes and periods", () => {
    // 23:30 UTC on 30 November is 08:30 on 1 December in Tokyo (UTC+9).
    const lateNovember = utc("2026-11-30T23:30:00Z")

    it("gives the five scopes of a stage, dated in UTC", () => {
      const scopes = Budget.scopesFor(spender, lateNovember, UTC)
      expect(scopes.map(Budget.scopeKey)).toStrictEqual([
        "video:v1",
        "channel-day:c1:2026-11-30",
        "tenant-day:t1:2026-11-30",
        "global-day:2026-11-30",
        "global-month:2026-11"
      ])
      expect(scopes.map((scope) => scope._tag)).toStrictEqual(Budget.ScopeKind.literals)
      expect(Budget.periodOf(lateNovember, UTC)).toStrictEqual({ day: "2026-11-30", month: "2026-11" })
    })

    it("dates the same instant in the budget time zone: already 1 December in Tokyo", () => {
      const scopes = Budget.scopesFor(spender, lateNovember, tokyo)
      expect(scopes.map(Budget.scopeKey)).toStrictEqual([
        "video:v1",
        "channel-day:c1:2026-12-01",
        "tenant-day:t1:2026-12-01",
        "global-day:2026-12-01",
        "global-month:2026-12"
      ])
      expect(Budget.periodOf(lateNovember, tokyo)).toStrictEqual({ day: "2026-12-01", month: "2026-12" })
      // New York (UTC-5 in November) is still on the 30th, six and a half hours earlier.
      expect(Budget.periodOf(lateNovember, newYork)).toStrictEqual({ day: "2026-11-30", month: "2026-11" })
    })

    it("keys are stable (the same after a JSON round trip) and distinct across scopes and periods", () => {
      const codec = Schema.Array(Budget.BudgetScope)
      const scopes = [
        ...Budget.scopesFor(spender, lateNovember, UTC),
        ...Budget.scopesFor(spender, lateNovember, tokyo)
      ]
      const keys = scopes.map(Budget.scopeKey)
      const decoded = Schema.decodeUnknownSync(codec)(JSON.parse(JSON.stringify(Schema.encodeSync(codec)(scopes))))
      expect(decoded.map(Budget.scopeKey)).toStrictEqual(keys)
      expect(Budget.scopesFor(spender, lateNovember, UTC).map(Budget.scopeKey)).toStrictEqual(keys.slice(0, 5))
      // Only the video scope is the same in both zones' periods.
      expect(new Set(keys).size).toBe(9)

      // A tenant and a channel with the same id still have different keys.
      const swapped = Budget.scopesFor(
        { tenantId: Ids.TenantId.make("c1"), channelId: Ids.ChannelId.make("t1"), videoId: spender.videoId },
        lateNovember,
        UTC
      ).map(Budget.scopeKey)
      expect(swapped.slice(1, 3)).toStrictEqual(["channel-day:t1:2026-11-30", "tenant-day:c1:2026-11-30"])
      expect(new Set([...keys, ...swapped]).size).toBe(11)
    })

    it("refuses malformed days and months in scopes", () => {
      const decode = Schema.decodeUnknownSync(Budget.BudgetScope)
      expect(() => decode({ _tag: "global-day", day: "2026-11" })).toThrow(/calendar day/)
      expect(() => decode({ _tag: "global-month", month: "2026-11-30" })).toThrow(/calendar month/)
      expect(() => decode({ _tag: "channel-day", channelId: "bad id", day: "2026-11-30" })).toThrow(/ChannelId/)
    })
  })

  describe("rollover", () => {
    it("day scopes roll over at the next midnight and the month scope on the first of the next month", () => {
      const now = "2026-11-30T23:30:00Z"
      for (const kind of ["channel-day", "tenant-day", "global-day"] as const) {
        expect(rollover(kind, now, UTC)).toBe("2026-12-01T00:00:00.000Z")
        // Tokyo's 2 December starts at 15:00 UTC on 1 December.
        expect(rollover(kind, now, tokyo)).toBe("2026-12-01T15:00:00.000Z")
      }
      expect(rollover("global-month", now, UTC)).toBe("2026-12-01T00:00:00.000Z")
      // Tokyo is already in December, which ends at midnight on 1 January in Tokyo.
      expect(rollover("global-month", now, tokyo)).toBe("2026-12-31T15:00:00.000Z")
      expect(rollover("global-month", "2026-12-31T12:00:00Z", UTC)).toBe("2027-01-01T00:00:00.000Z")
      expect(rollover("global-month", "2026-02-10T00:00:00Z", UTC)).toBe("2026-03-01T00:00:00.000Z")
    })

    it("an instant exactly at midnight belongs to the new period and rolls over at the one after", () => {
      expect(Budget.periodOf(utc("2026-12-01T00:00:00Z"), UTC).day).toBe("2026-12-01")
      expect(rollover("global-day", "2026-12-01T00:00:00Z", UTC)).toBe("2026-12-02T00:00:00.000Z")
      expect(rollover("global-month", "2026-12-01T00:00:00Z", UTC)).toBe("2027-01-01T00:00:00.000Z")
      expect(Budget.periodOf(utc("2026-11-30T23:59:59.999Z"), UTC).day).toBe("2026-11-30")
    })

    it("follows daylight saving time in New York: a 23-hour day in March and a 25-hour day in November", () => {
      // 8 March 2026: clocks spring forward; midnight is 05:00Z (EST), the next midnight 04:00Z (EDT).
      expect(Budget.periodOf(utc("2026-03-08T04:59:59Z"), newYork).day).toBe("2026-03-07")
      expect(rollover("global-day", "2026-03-08T04:59:59Z", newYork)).toBe("2026-03-08T05:00:00.000Z")
      expect(rollover("global-day", "2026-03-08T12:00:00Z", newYork)).toBe("2026-03-09T04:00:00.000Z")
      expect(hours(utc("2026-03-08T05:00:00Z"), utc(rollover("global-day", "2026-03-08T05:00:00Z", newYork)))).toBe(23)

      // 1 November 2026: clocks fall back; midnight is 04:00Z (EDT), the next midnight 05:00Z (EST).
      expect(rollover("global-day", "2026-11-01T12:00:00Z", newYork)).toBe("2026-11-02T05:00:00.000Z")
      expect(hours(utc("2026-11-01T04:00:00Z"), utc(rollover("global-day", "2026-11-01T04:00:00Z", newYork)))).toBe(25)

      // Months starting in one offset and ending in the other.
      expect(rollover("global-month", "2026-03-15T12:00:00Z", newYork)).toBe("2026-04-01T04:00:00.000Z")
      expect(rollover("global-month", "2026-11-15T12:00:00Z", newYork)).toBe("2026-12-01T05:00:00.000Z")
      // 31 October ends at midnight EDT: the clocks only fall back at 02:00 on 1 November.
      expect(rollover("global-month", "2026-10-31T12:00:00Z", newYork)).toBe("2026-11-01T04:00:00.000Z")
    })

    it.prop(
      "a rollover is strictly later and starts the next period; the millisecond before is still this one",
      // 2020-01-01 to 2040-01-01
      [Schema.Int.check(Schema.isBetween({ minimum: 1_577_836_800_000, maximum: 2_208_988_800_000 }))],
      ([millis]) => {
        const now = DateTime.toUtc(DateTime.makeUnsafe(millis))
        for (const zone of [UTC, tokyo, newYork]) {
          for (const kind of ["global-day", "global-month"] as const) {
            const field = kind === "global-day" ? "day" : "month"
            const next = Option.getOrThrow(Budget.rolloverAfter(kind, now, zone))
            expect(DateTime.toEpochMillis(next)).toBeGreaterThan(millis)
            expect(Budget.periodOf(next, zone)[field]).not.toBe(Budget.periodOf(now, zone)[field])
            const lastMoment = DateTime.subtract(next, { milliseconds: 1 })
            expect(Budget.periodOf(lastMoment, zone)[field]).toBe(Budget.periodOf(now, zone)[field])
          }
        }
      }
    )

    it("a video scope never rolls over", () => {
      expect(Option.isNone(Budget.rolloverAfter("video", utc("2026-11-30T23:30:00Z"), UTC))).toBe(true)
      expect(Option.isNone(Budget.rolloverAfter("video", utc("2026-11-30T23:30:00Z"), tokyo))).toBe(true)
    })
  })

  describe("control levels", () => {
    const daily = usd("200")

    it("soft control starts at 90 % and hard control at 100 % of the limit", () => {
      expect(Budget.controlLevel(usd("0"), daily)).toBe("normal")
      expect(Budget.controlLevel(usd("179.98"), daily)).toBe("normal") // 89.99 %
      expect(Budget.controlLevel(usd("179.99"), daily)).toBe("normal")
      expect(Budget.controlLevel(usd("179.999999"), daily)).toBe("normal")
      expect(Budget.controlLevel(usd("180.00"), daily)).toBe("soft") // 90 %
      expect(Budget.controlLevel(usd("199.999999"), daily)).toBe("soft")
      expect(Budget.controlLevel(usd("200.00"), daily)).toBe("hard") // 100 %
      expect(Budget.controlLevel(usd("250"), daily)).toBe("hard")
      // A $3.00 video: soft from $2.70.
      expect(Budget.controlLevel(usd("2.69"), usd("3.00"))).toBe("normal")
      expect(Budget.controlLevel(usd("2.70"), usd("3.00"))).toBe("soft")
    })

    it("a zero limit is hard control as soon as anything is spent", () => {
      expect(Budget.controlLevel(Money.zero, Money.zero)).toBe("normal")
      expect(Budget.controlLevel(micros(1), Money.zero)).toBe("hard")
    })

    it("a stage is as constrained as its strictest scope", () => {
      expect(Budget.strictest([])).toBe("normal")
      expect(Budget.strictest(["normal", "normal"])).toBe("normal")
      expect(Budget.strictest(["normal", "soft", "normal"])).toBe("soft")
      expect(Budget.strictest(["soft", "hard", "normal"])).toBe("hard")
      expect(Budget.strictest(["hard", "soft"])).toBe("hard")
      expect(Budget.strictest(new Set<Budget.ControlLevel>(["soft", "normal"]))).toBe("soft")
      // Scopes at $100 of $200, $2.80 of $3.00, $4,400 of $5,000: the video scope makes the stage soft.
      const levels = [
        Budget.controlLevel(usd("100"), usd("200")),
        Budget.controlLevel(usd("2.80"), usd("3.00")),
        Budget.controlLevel(usd("4400"), usd("5000"))
      ]
      expect(levels).toStrictEqual(["normal", "soft", "normal"])
      expect(Budget.strictest(levels)).toBe("soft")
    })
  })

  describe("alert thresholds", () => {
    const daily = usd("200")

    it("reports the thresholds passed on the way from one amount to another", () => {
      expect(Budget.crossedThresholds(usd("90"), usd("170"), daily)).toStrictEqual([0.5, 0.8])
      expect(Budget.crossedThresholds(usd("0"), usd("200"), daily)).toStrictEqual([0.5, 0.8, 0.9, 1])
      expect(Budget.crossedThresholds(usd("0"), usd("250"), daily)).toStrictEqual([0.5, 0.8, 0.9, 1])
      expect(Budget.crossedThresholds(usd("179.99"), usd("180"), daily)).toStrictEqual([0.9])
      expect(Budget.crossedThresholds(usd("199.999999"), usd("200"), daily)).toStrictEqual([1])
    })

    it("reports nothing while spending stays within a band, or falls", () => {
      expect(Budget.crossedThresholds(usd("101"), usd("159.99"), daily)).toStrictEqual([])
      // At a threshold already counts as past it: $100 is 50 %.
      expect(Budget.crossedThresholds(usd("100"), usd("159.99"), daily)).toStrictEqual([])
      expect(Budget.crossedThresholds(usd("0"), usd("99.999999"), daily)).toStrictEqual([])
      expect(Budget.crossedThresholds(usd("180"), usd("180"), daily)).toStrictEqual([])
      expect(Budget.crossedThresholds(usd("170"), usd("90"), daily)).toStrictEqual([])
      expect(Budget.crossedThresholds(usd("200"), usd("300"), daily)).toStrictEqual([])
    })

    it("a zero limit reports every threshold on the first spend", () => {
      expect(Budget.crossedThresholds(Money.zero, micros(1), Money.zero)).toStrictEqual([0.5, 0.8, 0.9, 1])
      expect(Budget.crossedThresholds(Money.zero, Money.zero, Money.zero)).toStrictEqual([])
    })

    it("the 90 % and 100 % alerts fire exactly when soft and hard control begin, for any limit", () => {
      // 25 µUSD: 90 % is 22.5 µUSD, so 22 µUSD is still below it and 23 µUSD past it.
      expect(Budget.crossedThresholds(Money.zero, micros(22), micros(25))).toStrictEqual([0.5, 0.8])
      expect(Budget.crossedThresholds(micros(22), micros(23), micros(25))).toStrictEqual([0.9])
      for (const limit of [micros(1), micros(3), micros(25), micros(1_234_567), usd("3.00"), usd("200")]) {
        const lines = [0.5, 0.8, 0.9, 1].map((t) => Math.ceil(Money.toMicros(limit) * t))
        for (const line of lines) {
          for (const spent of [line - 1, line, line + 1].filter((amount) => amount >= 0).map(micros)) {
            const crossed = Budget.crossedThresholds(Money.zero, spent, limit)
            const level = Budget.controlLevel(spent, limit)
            expect(crossed.includes(0.9), `${spent} of ${limit}`).toBe(level !== "normal")
            expect(crossed.includes(1), `${spent} of ${limit}`).toBe(level === "hard")
          }
        }
      }
    })

    it("reports each threshold exactly once as spending grows reservation by reservation", () => {
      // Reserve $7.30 at a time while the day admits it, then the last headroom.
      const reported: Array<{ readonly threshold: number; readonly at: string }> = []
      const levels: Array<Budget.ControlLevel> = []
      let committed = Money.zero
      const reserve = (amount: Money.Money) => {
        const after = Money.add(committed, amount)
        for (const threshold of Budget.crossedThresholds(committed, after, daily)) {
          reported.push({ threshold, at: Money.toDecimal(after) })
        }
        committed = after
        levels.push(Budget.controlLevel(committed, daily))
      }
      const step = usd("7.30")
      while (Budget.admits(daily, committed, Money.zero, step)) reserve(step)
      // 27 × $7.30 = $197.10; the 28th would make $204.40.
      expect(Money.toDecimal(committed)).toBe("197.10")
      expect(Money.toDecimal(Budget.headroom(daily, committed, Money.zero))).toBe("2.90")
      reserve(Budget.headroom(daily, committed, Money.zero))
      expect(Budget.admits(daily, committed, Money.zero, micros(1))).toBe(false)

      expect(reported).toStrictEqual([
        { threshold: 0.5, at: "102.20" }, // 14 × $7.30
        { threshold: 0.8, at: "160.60" }, // 22 × $7.30
        { threshold: 0.9, at: "182.50" }, // 25 × $7.30
        { threshold: 1, at: "200.00" }
      ])
      expect(levels.indexOf("soft")).toBe(24) // the 25th reservation
      expect(levels.indexOf("hard")).toBe(27) // the last one
    })

    it.prop(
      "whatever the steps, each threshold is reported once, in order, at the first amount at or past it",
      [
        Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40_000_000 }))).check(
          Schema.isMinLength(1)
        )
      ],
      ([steps]) => {
        const limit = usd("200")
        const reported: Array<number> = []
        let spent = Money.zero
        for (const step of [...steps, Money.toMicros(limit)]) {
          const after = Money.add(spent, micros(step))
          const crossed = Budget.crossedThresholds(spent, after, limit)
          for (const threshold of crossed) {
            expect(Money.toMicros(spent)).toBeLessThan(Money.toMicros(limit) * threshold)
            expect(Money.toMicros(after)).toBeGreaterThanOrEqual(Money.toMicros(limit) * threshold)
          }
          reported.push(...crossed)
          spent = after
        }
        expect(reported).toStrictEqual([0.5, 0.8, 0.9, 1])
      }
    )
  })

  describe("admission and headroom", () => {
    const daily = usd("200")

    it("admits a reservation that reaches the limit exactly, and not one micro-dollar more", () => {
      const committed = usd("150")
      const reserved = usd("49.999999")
      expect(Budget.admits(daily, committed, reserved, micros(1))).toBe(true)
      expect(Budget.admits(daily, committed, reserved, micros(2))).toBe(false)
      expect(Money.toMicros(Budget.headroom(daily, committed, reserved))).toBe(1)
      expect(Budget.admits(daily, usd("120"), usd("77"), usd("3.00"))).toBe(true)
      expect(Budget.admits(daily, usd("120"), usd("77"), usd("3.000001"))).toBe(false)
      // A $3.00 video with $2.50 already spent takes $0.50 more, not $0.51.
      expect(Budget.admits(usd("3.00"), usd("2.50"), Money.zero, usd("0.50"))).toBe(true)
      expect(Budget.admits(usd("3.00"), usd("2.50"), Money.zero, usd("0.51"))).toBe(false)
    })

    it("headroom is what is left, and never negative when actual costs overran the limit", () => {
      expect(Money.toDecimal(Budget.headroom(daily, usd("120"), usd("30")))).toBe("50.00")
      expect(Budget.headroom(daily, usd("150"), usd("50"))).toBe(Money.zero)
      expect(Budget.headroom(daily, usd("210"), Money.zero)).toBe(Money.zero)
      expect(Budget.headroom(daily, usd("190"), usd("20"))).toBe(Money.zero)
      expect(Budget.admits(daily, usd("210"), Money.zero, Money.zero)).toBe(false)
    })

    it.prop(
      "a reservation is admitted exactly when it fits in the headroom",
      [
        Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 300_000_000 })),
        Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 300_000_000 })),
        Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 300_000_000 }))
      ],
      ([committed, reserved, needed]) => {
        const room = Budget.headroom(daily, micros(committed), micros(reserved))
        expect(Money.isNegative(room)).toBe(false)
        expect(Budget.admits(daily, micros(committed), micros(reserved), micros(needed))).toBe(
          committed + reserved <= Money.toMicros(daily) && needed <= Money.toMicros(room)
        )
      }
    )
  })

  describe("policies and limits", () => {
    const decodePolicy = Schema.decodeUnknownSync(Budget.BudgetPolicy)
    const decodeLimits = Schema.decodeUnknownSync(Budget.BudgetLimits)

    it("default to the operations documents' figures when keys are absent", () => {
      const policy = decodePolicy({})
      expect(Money.toDecimal(policy.perVideo)).toBe("3.00")
      expect(policy.daily).toBeUndefined()
      const limits = decodeLimits({})
      expect(limits.tenantDaily).toBeUndefined()
      expect(Money.toDecimal(limits.globalDaily)).toBe("200.00")
      expect(Money.toDecimal(limits.globalMonthly)).toBe("5000.00")
      // The constructors have the same defaults.
      expect(new Budget.BudgetPolicy({}).perVideo).toBe(policy.perVideo)
      expect(new Budget.BudgetLimits({}).globalMonthly).toBe(limits.globalMonthly)
    })

    it("read given amounts from decimal strings or numbers, and encode them as decimal strings", () => {
      const policy = decodePolicy({ perVideo: "0.75", daily: 25 })
      expect(Money.toMicros(policy.perVideo)).toBe(750_000)
      expect(policy.daily === undefined ? undefined : Money.toMicros(policy.daily)).toBe(25_000_000)
      expect(Schema.encodeSync(Budget.BudgetPolicy)(policy)).toStrictEqual({ perVideo: "0.75", daily: "25.00" })
      expect(Schema.encodeSync(Budget.BudgetPolicy)(decodePolicy({}))).toStrictEqual({ perVideo: "3.00" })

      const limits = decodeLimits({ tenantDaily: "50", globalDaily: "0", globalMonthly: 1234.5 })
      expect(Schema.encodeSync(Budget.BudgetLimits)(limits)).toStrictEqual({
        tenantDaily: "50.00",
        globalDaily: "0.00",
        globalMonthly: "1234.50"
      })
    })

    it("refuse negative and malformed amounts, naming the field", () => {
      expect(() => decodePolicy({ perVideo: "-1" })).toThrow(/must not be negative[\s\S]*perVideo/)
      expect(() => decodePolicy({ perVideo: "three dollars" })).toThrow(/amount of US dollars[\s\S]*perVideo/)
      expect(() => decodePolicy({ daily: "-0.01" })).toThrow(/daily/)
      expect(() => decodeLimits({ globalDaily: "-200" })).toThrow(/must not be negative[\s\S]*globalDaily/)
      expect(() => decodeLimits({ globalMonthly: "5,000" })).toThrow(/globalMonthly/)
      expect(() => decodeLimits({ tenantDaily: -5 })).toThrow(/tenantDaily/)
      expect(() => decodeLimits({ globalDaily: null })).toThrow(/globalDaily/)
    })

    it("give each scope its limit, and none where the scope is unlimited", () => {
      const policy = decodePolicy({})
      const limits = decodeLimits({})
      const of = (kind: Budget.ScopeKind, p = policy, l = limits) =>
        Option.map(Budget.limitFor(kind, p, l), Money.toDecimal)
      expect(of("video")).toStrictEqual(Option.some("3.00"))
      expect(of("channel-day")).toStrictEqual(Option.none())
      expect(of("tenant-day")).toStrictEqual(Option.none())
      expect(of("global-day")).toStrictEqual(Option.some("200.00"))
      expect(of("global-month")).toStrictEqual(Option.some("5000.00"))
      const strict = decodePolicy({ perVideo: "1.00", daily: "10" })
      const tenant = decodeLimits({ tenantDaily: "40" })
      expect(of("video", strict, tenant)).toStrictEqual(Option.some("1.00"))
      expect(of("channel-day", strict, tenant)).toStrictEqual(Option.some("10.00"))
      expect(of("tenant-day", strict, tenant)).toStrictEqual(Option.some("40.00"))
    })
  })

  describe("BudgetExceeded", () => {
    const encode = Schema.encodeSync(Budget.BudgetExceeded)
    const decode = Schema.decodeUnknownSync(Budget.BudgetExceeded)
    const exceeded = new Budget.BudgetExceeded({
      scope: Budget.ChannelDayScope.make({ channelId: Ids.ChannelId.make("c1"), day: "2026-11-22" }),
      limit: usd("200"),
      committed: usd("199.50"),
      needed: usd("0.75")
    })

    it("survives a JSON round trip with its tag, scope and amounts", () => {
      const wire = JSON.parse(JSON.stringify(encode(exceeded)))
      expect(wire).toStrictEqual({
        _tag: "BudgetExceeded",
        scope: { _tag: "channel-day", channelId: "c1", day: "2026-11-22" },
        limit: "200.00",
        committed: "199.50",
        needed: "0.75"
      })
      const back = decode(wire)
      expect(back).toBeInstanceOf(Budget.BudgetExceeded)
      expect(back._tag).toBe("BudgetExceeded")
      expect(back.scope).toStrictEqual(exceeded.scope)
      expect(back.limit).toBe(exceeded.limit)
      expect(back.committed).toBe(exceeded.committed)
      expect(back.needed).toBe(exceeded.needed)
      expect(back.message).toBe(exceeded.message)
      expect(back.isRetryable).toBe(false)

      for (const scope of Budget.scopesFor(spender, utc("2026-11-30T23:30:00Z"), tokyo)) {
        const error = new Budget.BudgetExceeded({ scope, limit: usd("3"), committed: usd("2.99"), needed: usd("1") })
        expect(Budget.scopeKey(decode(JSON.parse(JSON.stringify(encode(error)))).scope)).toBe(Budget.scopeKey(scope))
      }
    })

    it("is never retried, and its message names the scope and the amounts", () => {
      expect(exceeded.isRetryable).toBe(false)
      expect(exceeded.message).toContain("channel-day:c1:2026-11-22")
      expect(exceeded.message).toContain("$199.50")
      expect(exceeded.message).toContain("$200.00")
      expect(exceeded.message).toContain("$0.75")
      const monthly = new Budget.BudgetExceeded({
        scope: Budget.GlobalMonthScope.make({ month: "2026-11" }),
        limit: usd("5000"),
        committed: usd("4999"),
        needed: usd("2.50")
      })
      expect(monthly.message).toContain("global-month:2026-11")
      expect(monthly.message).toContain("$5,000.00")
    })
  })
})

describe("Budget.reached", () => {
  it("compares exactly in micro-dollars, also where 90 % of the limit is not a whole micro-dollar", () => {
    const limit = Money.fromMicros(1_000_001) // 90 % is 900,000.9 µUSD
    expect(Budget.reached(Money.fromMicros(900_000), limit, 0.9)).toBe(false)
    expect(Budget.reached(Money.fromMicros(900_001), limit, 0.9)).toBe(true)
    expect(Budget.controlLevel(Money.fromMicros(900_000), limit)).toBe("normal")
    expect(Budget.controlLevel(Money.fromMicros(900_001), limit)).toBe("soft")
    expect(Budget.reached(Money.zero, Money.zero, 1)).toBe(false)
    expect(Budget.reached(Money.fromMicros(1), Money.zero, 0.5)).toBe(true)
  })
})

describe("Budget periods where a clock change skips midnight", () => {
  it("rolls over at the first instant of the next day or month, not an hour later", () => {
    // America/Santiago springs forward at 24:00 on 2026-09-05 → 2026-09-06 starts at 01:00 (-03), 04:00Z... and
    // the next day starts at its own midnight. Check the defining property: the instant before the rollover is
    // still in the old period and the rollover is in the new one.
    for (const zoneName of ["America/Santiago", "Asia/Beirut", "America/Asuncion", "America/Sao_Paulo"]) {
      const zone = DateTime.zoneMakeNamedUnsafe(zoneName)
      for (let hour = 0; hour < 24 * 400; hour += 5) {
        const now = DateTime.makeUnsafe(Date.UTC(2025, 0, 1) + hour * 3_600_000)
        for (const kind of ["global-day", "global-month"] as const) {
          const next = Option.getOrThrow(Budget.rolloverAfter(kind, now, zone))
          const key = kind === "global-day" ? "day" : "month"
          const before = Budget.periodOf(DateTime.subtract(next, { milliseconds: 1 }), zone)[key]
          const after = Budget.periodOf(next, zone)[key]
          expect(before, `${zoneName} ${kind} ${DateTime.formatIso(now)}`).toBe(Budget.periodOf(now, zone)[key])
          expect(after).not.toBe(before)
        }
      }
    }
  })

  it("accepts only days and months of the calendar", () => {
    expect(() => Schema.decodeUnknownSync(Budget.Day)("2026-13-45")).toThrow(/not a day of the calendar/)
    expect(() => Schema.decodeUnknownSync(Budget.Day)("2026-02-29")).toThrow(/not a day of the calendar/)
    expect(Schema.decodeUnknownSync(Budget.Day)("2028-02-29")).toBe("2028-02-29")
    expect(() => Schema.decodeUnknownSync(Budget.Month)("2026-00")).toThrow(/not a month of the calendar/)
  })
})
