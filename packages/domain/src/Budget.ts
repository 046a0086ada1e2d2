/**
 * Budgets: how much may be spent, over which scope and period, and what happens as spending approaches a
 * limit. The runtime's ledger moves money through reserve → commit/release against these scopes; this module
 * holds the vocabulary and the pure rules.
 *
 * - Scopes: one video, a channel's day, a tenant's day, the whole operation's day and its month. A stage
 *   reserves its estimate in all of its scopes at once.
 * - Periods: days and months are calendar periods in the budget time zone (UTC unless configured).
 * - Alerts at 50 / 80 / 90 / 100 % of a limit, each once per period; soft control at 90 % (stages use the
 *   cheaper provider tiers); hard control at 100 % (new videos of non-critical channels are refused and those
 *   channels are budget-paused until the period rolls over).
 * - The operations documents' defaults: $5,000 a month, $200 a day, $0.50 target cost per video, warnings at
 *   $2.50 and a critical (and hard) limit at $3.00 per video.
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Option, Schema } from "effect"
import * as Ids from "./Ids.ts"
import * as Money from "./Money.ts"
import * as Stage from "./Stage.ts"

// ---------------------------------------------------------------------------------------------------------------
// scopes and periods

/**
 * The kinds of budget scope.
 *
 * @category models
 */
export const ScopeKind = Schema.Literals(["video", "channel-day", "tenant-day", "global-day", "global-month"])
/** @category models */
export type ScopeKind = typeof ScopeKind.Type

/**
 * A calendar day, `YYYY-MM-DD`, that exists.
 *
 * @category models
 */
export const Day = Schema.String.check(
  Schema.makeFilter((text: string) => {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
    if (match === null) return "expected a calendar day such as 2026-11-22"
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
    const lastDay = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
    return day >= 1 && day <= lastDay ? undefined : `${text} is not a day of the calendar`
  })
)

/**
 * A calendar month, `YYYY-MM`, that exists.
 *
 * @category models
 */
export const Month = Schema.String.check(
  Schema.makeFilter((text: string) => {
    const match = /^(\d{4})-(\d{2})$/.exec(text)
    if (match === null) return "expected a calendar month such as 2026-11"
    const month = Number(match[2])
    return month >= 1 && month <= 12 ? undefined : `${text} is not a month of the calendar`
  })
)

/** @category models */
export const VideoScope = Schema.TaggedStruct("video", { videoId: Ids.VideoId })
/** @category models */
export const ChannelDayScope = Schema.TaggedStruct("channel-day", { channelId: Ids.ChannelId, day: Day })
/** @category models */
export const TenantDayScope = Schema.TaggedStruct("tenant-day", { tenantId: Ids.TenantId, day: Day })
/** @category models */
export const GlobalDayScope = Schema.TaggedStruct("global-day", { day: Day })
/** @category models */
export const GlobalMonthScope = Schema.TaggedStruct("global-month", { month: Month })

/**
 * One budget scope in one period: what a ledger row is kept for.
 *
 * @category models
 */
export const BudgetScope = Schema.Union([VideoScope, ChannelDayScope, TenantDayScope, GlobalDayScope, GlobalMonthScope])
/** @category models */
export type BudgetScope = typeof BudgetScope.Type

/**
 * A stable text key for a scope, for ledger rows and metric-free logs: `"channel-day:c1:2026-11-22"`.
 *
 * @category utils
 */
export const scopeKey = (scope: BudgetScope): string => {
  switch (scope._tag) {
    case "video":
      return `video:${scope.videoId}`
    case "channel-day":
      return `channel-day:${scope.channelId}:${scope.day}`
    case "tenant-day":
      return `tenant-day:${scope.tenantId}:${scope.day}`
    case "global-day":
      return `global-day:${scope.day}`
    case "global-month":
      return `global-month:${scope.month}`
  }
}

/**
 * The calendar day and month that an instant falls in, in the budget time zone.
 *
 * @category utils
 */
export const periodOf = (
  now: DateTime.Utc,
  zone: DateTime.TimeZone
): { readonly day: string; readonly month: string } => {
  const day = DateTime.formatIsoDate(DateTime.setZone(now, zone))
  return { day, month: day.slice(0, 7) }
}

/**
 * The instant a scope's period ends (the next midnight, or the first midnight of the next month, in the
 * budget zone); `None` for a video scope, which never rolls over.
 *
 * @category utils
 */
export const rolloverAfter = (
  kind: ScopeKind,
  now: DateTime.Utc,
  zone: DateTime.TimeZone
): Option.Option<DateTime.Utc> => {
  if (kind === "video") return Option.none()
  const zoned = DateTime.setZone(now, zone)
  const unit = kind === "global-month" ? "month" : "day"
  // Start of the period, a step into the next one, then the start of that: where a clock change skips
  // midnight (America/Santiago, Asia/Beirut), the next period starts at 01:00, not at "midnight + 1 day".
  const next = DateTime.add(DateTime.startOf(zoned, unit), unit === "month" ? { months: 1 } : { days: 1 })
  return Option.some(DateTime.toUtc(DateTime.startOf(next, unit)))
}

/**
 * Who is spending: the ids from which a stage's scopes are derived.
 *
 * @category models
 */
export interface Spender {
  readonly tenantId: Ids.TenantId
  readonly channelId: Ids.ChannelId
  readonly videoId: Ids.VideoId
}

/**
 * The five scopes that a stage of this video reserves in, at this instant.
 *
 * @category utils
 */
export const scopesFor = (spender: Spender, now: DateTime.Utc, zone: DateTime.TimeZone): ReadonlyArray<BudgetScope> => {
  const { day, month } = periodOf(now, zone)
  return [
    VideoScope.make({ videoId: spender.videoId }),
    ChannelDayScope.make({ channelId: spender.channelId, day }),
    TenantDayScope.make({ tenantId: spender.tenantId, day }),
    GlobalDayScope.make({ day }),
    GlobalMonthScope.make({ month })
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// limits and policy

const money = (text: string) => Money.unsafeFromDecimal(text)

/**
 * The operations documents' figures.
 *
 * @category constants
 */
export const defaults = {
  monthly: money("5000"),
  daily: money("200"),
  costPerVideoTarget: money("0.50"),
  costPerVideoWarning: money("2.50"),
  costPerVideoCritical: money("3.00")
} as const

/**
 * The fractions of a limit at which an alert is emitted, once per period each.
 *
 * @category constants
 */
export const alertThresholds: ReadonlyArray<number> = [0.5, 0.8, 0.9, 1]

/**
 * At this fraction of any of its scopes, a stage uses the cheaper provider tiers.
 *
 * @category constants
 */
export const softControlAt = 0.9

/**
 * At this fraction, new videos of non-critical channels are refused.
 *
 * @category constants
 */
export const hardControlAt = 1

const withDefault = (fallback: Money.Money) =>
  Money.NonNegative.pipe(
    Schema.withConstructorDefault(Effect.succeed(fallback)),
    Schema.withDecodingDefaultKey(Effect.succeed(Money.toDecimal(fallback)))
  )

/**
 * A channel's own limits: the most one of its videos may cost (the documents' critical $3.00 by default) and,
 * optionally, the most it may spend in a day.
 *
 * @category models
 */
export class BudgetPolicy extends Schema.Class<BudgetPolicy>("@ytempire/domain/Budget/BudgetPolicy")({
  perVideo: withDefault(defaults.costPerVideoCritical),
  daily: Schema.optionalKey(Money.NonNegative)
}) {}

/**
 * A change to a channel's budget policy: only the fields present change; `daily: null` removes the daily limit.
 *
 * @category models
 */
export class BudgetPolicyUpdate extends Schema.Class<BudgetPolicyUpdate>("@ytempire/domain/Budget/BudgetPolicyUpdate")({
  perVideo: Schema.optionalKey(Money.NonNegative),
  daily: Schema.optionalKey(Schema.NullOr(Money.NonNegative))
}) {}

/**
 * The policy with the update's fields in place.
 *
 * @category utils
 */
export const updatePolicy = (policy: BudgetPolicy, update: BudgetPolicyUpdate): BudgetPolicy => {
  const daily = update.daily === undefined ? policy.daily : update.daily ?? undefined
  return new BudgetPolicy({
    perVideo: update.perVideo ?? policy.perVideo,
    ...(daily === undefined ? {} : { daily })
  })
}

/**
 * The operation-wide limits: per tenant per day (optional), all tenants per day and per month.
 *
 * @category models
 */
export class BudgetLimits extends Schema.Class<BudgetLimits>("@ytempire/domain/Budget/BudgetLimits")({
  tenantDaily: Schema.optionalKey(Money.NonNegative),
  globalDaily: withDefault(defaults.daily),
  globalMonthly: withDefault(defaults.monthly)
}) {}

const optional = (limit: Money.Money | undefined): Option.Option<Money.Money> =>
  limit === undefined ? Option.none() : Option.some(limit)

/**
 * The limit that applies to a scope, from the channel's policy and the operation's limits; `None` when the
 * scope is unlimited.
 *
 * @category utils
 */
export const limitFor = (kind: ScopeKind, policy: BudgetPolicy, limits: BudgetLimits): Option.Option<Money.Money> => {
  switch (kind) {
    case "video":
      return Option.some(policy.perVideo)
    case "channel-day":
      return optional(policy.daily)
    case "tenant-day":
      return optional(limits.tenantDaily)
    case "global-day":
      return Option.some(limits.globalDaily)
    case "global-month":
      return Option.some(limits.globalMonthly)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// control

/**
 * How close a scope is to its limit: `normal`, `soft` (≥ 90 %: cheaper tiers) or `hard` (≥ 100 %: refuse new
 * videos of non-critical channels).
 *
 * @category models
 */
export const ControlLevel = Schema.Literals(["normal", "soft", "hard"])
/** @category models */
export type ControlLevel = typeof ControlLevel.Type

/**
 * Whether `spent` is at or past `fraction` of `limit`, exactly (in integer micro-dollars, no float division):
 * `spent × 100 ≥ limit × percent`. Against a zero limit, any positive spend is past every fraction.
 *
 * @category utils
 */
export const reached = (spent: Money.Money, limit: Money.Money, fraction: number): boolean => {
  if (limit === 0) return spent > 0
  const percent = BigInt(Math.round(fraction * 100))
  return BigInt(Money.toMicros(spent)) * 100n >= BigInt(Money.toMicros(limit)) * percent
}

/**
 * The control level of a scope whose committed plus reserved spend is `spent`.
 *
 * @category utils
 */
export const controlLevel = (spent: Money.Money, limit: Money.Money): ControlLevel =>
  reached(spent, limit, hardControlAt) ? "hard" : reached(spent, limit, softControlAt) ? "soft" : "normal"

/**
 * The strictest of several levels (a stage is as constrained as its most constrained scope).
 *
 * @category utils
 */
export const strictest = (levels: Iterable<ControlLevel>): ControlLevel => {
  let result: ControlLevel = "normal"
  for (const level of levels) {
    if (level === "hard") return "hard"
    if (level === "soft") result = "soft"
  }
  return result
}

/**
 * The alert thresholds that spending crosses when it goes from `before` to `after` (at or past a threshold
 * counts as crossed). The ledger emits each once per period.
 *
 * @category utils
 */
export const crossedThresholds = (before: Money.Money, after: Money.Money, limit: Money.Money): ReadonlyArray<number> =>
  alertThresholds.filter((threshold) =>
    // The same measure as `controlLevel`, so the 90 % and 100 % alerts fire exactly when soft and hard control
    // begin, also for a zero limit (any spend is past it) and for limits that are not whole cents.
    !reached(before, limit, threshold) && reached(after, limit, threshold)
  )

/**
 * What may still be reserved in a scope: `limit − committed − reserved`, never below zero.
 *
 * @category utils
 */
export const headroom = (limit: Money.Money, committed: Money.Money, reserved: Money.Money): Money.Money =>
  Money.max(Money.zero, Money.subtract(Money.subtract(limit, committed), reserved))

/**
 * Whether reserving `needed` more keeps committed plus reserved spend within the limit.
 *
 * @category utils
 */
export const admits = (limit: Money.Money, committed: Money.Money, reserved: Money.Money, needed: Money.Money) =>
  Money.add(Money.add(committed, reserved), needed) <= limit

/**
 * Where one scope stands in its period.
 *
 * @category models
 */
export class BudgetStatus extends Schema.Class<BudgetStatus>("@ytempire/domain/Budget/BudgetStatus")({
  scope: BudgetScope,
  limit: Schema.optionalKey(Money.Money),
  committed: Money.Money,
  reserved: Money.Money,
  level: ControlLevel
}) {}

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * Reserving `needed` in `scope` would take committed plus reserved spend past `limit`. Never retried: the
 * request is refused for this period.
 *
 * @category errors
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  scope: BudgetScope,
  limit: Money.Money,
  committed: Money.Money,
  /** Held by reservations of work in progress (absent: none). */
  reserved: Schema.optionalKey(Money.Money),
  needed: Money.Money
}) {
  /** Budget refusals are final for the request. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    const reserved = this.reserved === undefined || Money.isZero(this.reserved)
      ? ""
      : ` and ${Money.format(this.reserved)} reserved`
    return `budget ${scopeKey(this.scope)} would be exceeded: ${Money.format(this.committed)} spent${reserved} of ${
      Money.format(this.limit)
    }, ${Money.format(this.needed)} more needed`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// cost report

/** @category models */
export class ChannelCost extends Schema.Class<ChannelCost>("@ytempire/domain/Budget/ChannelCost")({
  channelId: Ids.ChannelId,
  videos: Schema.Int,
  total: Money.Money
}) {}

/** @category models */
export class StageCost extends Schema.Class<StageCost>("@ytempire/domain/Budget/StageCost")({
  stage: Stage.Stage,
  total: Money.Money
}) {}

/**
 * What was spent over a range of days (inclusive, in the budget zone): in all, per video on average, per
 * channel and per stage.
 *
 * @category models
 */
export class CostReport extends Schema.Class<CostReport>("@ytempire/domain/Budget/CostReport")({
  from: Day,
  to: Day,
  total: Money.Money,
  videos: Schema.Int,
  averagePerVideo: Money.Money,
  byChannel: Schema.Array(ChannelCost),
  byStage: Schema.Array(StageCost)
}) {}

/**
 * A change of limits; `null` removes an optional limit.
 *
 * @category models
 */
export class BudgetLimitsUpdate extends Schema.Class<BudgetLimitsUpdate>("@ytempire/domain/Budget/BudgetLimitsUpdate")({
  tenantDaily: Schema.optionalKey(Schema.NullOr(Money.NonNegative)),
  globalDaily: Schema.optionalKey(Money.NonNegative),
  globalMonthly: Schema.optionalKey(Money.NonNegative)
}) {}
