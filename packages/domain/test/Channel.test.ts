import { describe, expect, it } from "@effect/vitest"
import { Budget, Channel, Errors, Money } from "@ytempire/domain"
import { Cron, DateTime, Effect, Schema } from "effect"

const registration = {
  id: "tech-daily",
  name: "Tech Daily",
  niche: "consumer technology",
  language: "en-US",
  style: "upbeat explainer",
  schedule: { cron: "0 9 * * *", timeZone: "Europe/Berlin" }
}

const decodeRegistration = Schema.decodeUnknownEffect(Channel.ChannelRegistration)

/** Decodes `registration` with `patch` applied and returns the InvalidRequest it fails with. */
const invalid = (patch: Record<string, unknown>) =>
  decodeRegistration({ ...registration, ...patch }).pipe(
    Effect.flip,
    Effect.map(Errors.InvalidRequest.fromSchemaError)
  )

describe("Channel", () => {
  it.effect("decodes a registration, filling in the defaults", () =>
    Effect.gen(function*() {
      const channel = yield* decodeRegistration(registration)
      expect(channel.priority).toBe("normal")
      expect(channel.quality).toBe(0.5)
      expect(Money.toDecimal(channel.budget.perVideo)).toBe("3.00")
      expect(channel.budget.daily).toBeUndefined()
      expect(channel.youtubeAccount).toBeUndefined()
      // And encodes back to plain JSON with money as decimal strings.
      const encoded = Schema.encodeSync(Channel.ChannelRegistration)(channel)
      expect(JSON.parse(JSON.stringify(encoded))).toMatchObject({ ...registration, budget: { perVideo: "3.00" } })
    }))

  it.effect("reads the schedule's cron in the channel's time zone, across daylight saving", () =>
    Effect.gen(function*() {
      const channel = yield* decodeRegistration(registration)
      const cron = channel.schedule!.toCron()
      // 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
      const winter = Cron.next(cron, DateTime.makeUnsafe("2026-01-15T00:00:00Z"))
      const summer = Cron.next(cron, DateTime.makeUnsafe("2026-07-15T00:00:00Z"))
      expect(winter.toISOString()).toBe("2026-01-15T08:00:00.000Z")
      expect(summer.toISOString()).toBe("2026-07-15T07:00:00.000Z")
    }))

  it.effect("names the malformed field of a channel in the error", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, string, RegExp]> = [
        [{ id: "has spaces" }, "id", /ChannelId/],
        [{ id: undefined }, "id", /Expected string/],
        [{ name: "" }, "name", /name must not be empty/],
        [{ name: "x".repeat(101) }, "name", /name must be at most 100 characters/],
        [{ name: 42 }, "name", /Expected string/],
        [{ niche: " padded " }, "niche", /niche must not start or end with spaces/],
        [{ language: "english" }, "language", /BCP 47/],
        [{ style: "" }, "style", /style must not be empty/],
        [{ schedule: { cron: "61 * * * *", timeZone: "UTC" } }, "schedule.cron", /invalid cron expression/],
        [{ schedule: { cron: "every day", timeZone: "UTC" } }, "schedule.cron", /invalid cron expression/],
        [{ schedule: { cron: "0 0 31 2 *", timeZone: "UTC" } }, "schedule.cron", /never runs/],
        [{ schedule: { cron: "0 9 * * *", timeZone: "Mars/Olympus" } }, "schedule.timeZone", /unknown time zone/],
        [{ schedule: { cron: "0 9 * * *" } }, "schedule.timeZone", /Missing key/],
        [{ priority: "urgent" }, "priority", /"critical" \| "high" \| "normal" \| "low"/],
        [{ quality: 1.5 }, "quality", /quality must be between 0 and 1/],
        [{ quality: -0.1 }, "quality", /quality must be between 0 and 1/],
        [{ budget: { perVideo: "-1" } }, "budget.perVideo", /must not be negative/],
        [{ budget: { perVideo: "cheap" } }, "budget.perVideo", /amount of US dollars/],
        [{ budget: { daily: "1,000" } }, "budget.daily", /amount of US dollars/],
        [{ youtubeAccount: "" }, "youtubeAccount", /AccountId must not be empty/]
      ]
      for (const [patch, field, message] of cases) {
        const error = yield* invalid(patch)
        expect(error.field, JSON.stringify(patch)).toBe(field)
        expect(error.message, JSON.stringify(patch)).toMatch(message)
        // The message is the issue's own; the path is in `field`, not repeated in the text.
        expect(error.message).not.toContain(" at [")
      }
    }))

  it.effect("takes partial updates and refuses malformed ones by field", () =>
    Effect.gen(function*() {
      const update = yield* Schema.decodeUnknownEffect(Channel.ChannelUpdate)({ quality: 0.9, schedule: null })
      expect(update.quality).toBe(0.9)
      expect(update.schedule).toBeNull()
      expect(update.name).toBeUndefined()
      const error = yield* Schema.decodeUnknownEffect(Channel.ChannelUpdate)({
        schedule: { cron: "x", timeZone: "UTC" }
      })
        .pipe(Effect.flip, Effect.map(Errors.InvalidRequest.fromSchemaError))
      expect(error.field).toBe("schedule.cron")
    }))

  it("explains a paused channel's error", () => {
    const byBudget = new Channel.ChannelPaused({ channelId: "c1" as never, status: "budget-paused" })
    expect(byBudget.message).toMatch(/budget control/)
    expect(new Channel.ChannelNotFound({ channelId: "c9" }).message).toBe("channel c9 not found")
  })
})

describe("ChannelUpdate of the budget", () => {
  it("changes only the budget fields present, and null removes the daily limit", () => {
    const policy = new Budget.BudgetPolicy({
      perVideo: Money.unsafeFromDecimal("1"),
      daily: Money.unsafeFromDecimal("20")
    })
    const update = Schema.decodeUnknownSync(Channel.ChannelUpdate)({ budget: { daily: "10" } })
    const changed = Budget.updatePolicy(policy, update.budget!)
    expect(Money.toDecimal(changed.perVideo)).toBe("1.00")
    expect(Money.toDecimal(changed.daily!)).toBe("10.00")
    const removed = Budget.updatePolicy(policy, Schema.decodeUnknownSync(Budget.BudgetPolicyUpdate)({ daily: null }))
    expect(removed.daily).toBeUndefined()
    expect(Money.toDecimal(removed.perVideo)).toBe("1.00")
  })
})
