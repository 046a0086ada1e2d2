/**
 * The runtime's metrics, named as Prometheus exposes them (base units: seconds and dollars; `_total` on
 * counters; no per-video attribute), and the functions that record them where they happen: the pipeline at a
 * video's final status and at each stage, the provider chain at each attempt, the ledger at each write, the
 * publisher at each quota charge. They live in the `Metric.MetricRegistry` of the context they are recorded in
 * (the process's default registry, unless a layer provides another); `@ytempire/ops` serves them at `/metrics`.
 *
 * | metric | type | attributes | recorded |
 * | --- | --- | --- | --- |
 * | `videos_generated_total` | counter | `channel`, `status` (`completed`, `failed`, `cancelled`) | a video's final status |
 * | `video_generation_duration_seconds` | histogram (30 … 960 s) | | a completed video: first stage start to completion |
 * | `video_generation_failures_total` | counter | `stage`, `reason` | a failed video |
 * | `cost_per_video` | gauge, dollars | `channel` | a completed video: its total cost (the channel's last) |
 * | `video_cost_dollars` | histogram | | a completed video: its total cost |
 * | `api_cost_dollars_total` | counter | `service` (a price key: `openai.gpt-4`, `compute.cpu-hour`, …) | each stage settled |
 * | `stage_duration_seconds` | histogram | `stage`, `provider` | each stage completed: its start to its end |
 * | `provider_attempts_total` | counter | `provider`, `outcome` (`succeeded`, `failed`, `timed-out`) | each provider attempt |
 * | `budget_spent_dollars` | gauge | `scope` | read at export from the ledger's last write of the scope |
 * | `budget_reserved_dollars` | gauge | `scope` | likewise |
 * | `budget_limit_dollars` | gauge | `scope` (limited scopes only) | likewise |
 * | `youtube_quota_used` | gauge | `account`, `bucket` (`units`, `uploads`, `searches`) | read at export from the publisher's quota ledger |
 * | `youtube_quota_limit` | gauge | `account`, `bucket` | likewise |
 * | `active_channels` | gauge | | {@link refreshActiveChannels}, at export |
 *
 * A budget `scope` is the scope's key without its period (`global-day`, `global-month`, `tenant-day:<tenant>`,
 * `channel-day:<channel>`; video scopes are left out): the series shows the current period.
 *
 * **Gotchas**
 * - Counted once: a video is counted when the write that makes it final is this process's (a replayed activity
 *   finds it final and counts nothing), a stage's cost when its settlement was not a replay.
 * - The issue's `active_channels_total` is exposed as `active_channels`: Prometheus reserves `_total` for
 *   counters, and `promtool check metrics` refuses a gauge named so.
 * - A budget period ends for the gauges when the ledger first writes a scope of the next period (any video
 *   starting does): until then, after midnight without any video, the previous day's figures stay.
 *
 * @since 0.1.0
 */
import { type Budget, Money, Pricing, Quota, type Stage, type Video } from "@ytempire/domain"
import { Clock, Context, DateTime, Effect, Metric } from "effect"

// ---------------------------------------------------------------------------------------------------------------
// metrics

/**
 * Videos that reached a final status, per channel and status (`completed`, `failed`, `cancelled`).
 *
 * @category metrics
 */
export const videosGeneratedTotal = Metric.counter("videos_generated_total", {
  description: "Videos that reached a final status, per channel and status",
  incremental: true
})

/**
 * How long a completed video took, from the start of its first stage to its completion, in seconds.
 *
 * @category metrics
 */
export const videoGenerationDurationSeconds = Metric.histogram("video_generation_duration_seconds", {
  description: "Seconds from a video's first stage starting to its completion",
  boundaries: Metric.boundariesFromIterable([30, 60, 120, 240, 480, 960])
})

/**
 * Failed videos, per stage they failed at and reason (`provider_unavailable`, `stage_timeout`,
 * `budget_exceeded`, `channel_not_found`, …).
 *
 * @category metrics
 */
export const videoGenerationFailuresTotal = Metric.counter("video_generation_failures_total", {
  description: "Videos that failed, per stage and reason",
  incremental: true
})

/**
 * The total cost of each channel's last completed video, in dollars.
 *
 * @category metrics
 */
export const costPerVideo = Metric.gauge("cost_per_video", {
  description: "Cost in dollars of the last completed video, per channel"
})

/**
 * The total cost of completed videos, in dollars.
 *
 * @category metrics
 */
export const videoCostDollars = Metric.histogram("video_cost_dollars", {
  description: "Cost in dollars of completed videos",
  boundaries: Metric.boundariesFromIterable([0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10])
})

/**
 * What the stages' providers cost, per priced service (`openai.gpt-4`, `google.tts`, `compute.cpu-hour`, …),
 * in dollars.
 *
 * @category metrics
 */
export const apiCostDollarsTotal = Metric.counter("api_cost_dollars_total", {
  description: "Dollars spent on priced services, per service",
  incremental: true
})

const stageBoundaries = Metric.boundariesFromIterable([
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1200,
  1800
])

/**
 * How long a completed stage took, from its start to its end (retries and fallbacks included), per stage and
 * the provider that completed it, in seconds.
 *
 * @category metrics
 */
export const stageDurationSeconds = Metric.histogram("stage_duration_seconds", {
  description: "Seconds a completed stage took, per stage and the provider that completed it",
  boundaries: stageBoundaries
})

/**
 * Provider attempts, per provider and outcome (`succeeded`, `failed`, `timed-out`).
 *
 * @category metrics
 */
export const providerAttemptsTotal = Metric.counter("provider_attempts_total", {
  description: "Provider attempts, per provider and outcome",
  incremental: true
})

/**
 * Committed spend in a budget scope's current period, in dollars.
 *
 * @category metrics
 */
export const budgetSpentDollars = Metric.gauge("budget_spent_dollars", {
  description: "Dollars committed in a budget scope's current period"
})

/**
 * Spend reserved (held for videos under way) in a budget scope's current period, in dollars.
 *
 * @category metrics
 */
export const budgetReservedDollars = Metric.gauge("budget_reserved_dollars", {
  description: "Dollars reserved in a budget scope's current period"
})

/**
 * The limit of a budget scope, in dollars (limited scopes only).
 *
 * @category metrics
 */
export const budgetLimitDollars = Metric.gauge("budget_limit_dollars", {
  description: "The limit of a budget scope in dollars"
})

/**
 * What a YouTube account has used of a daily quota bucket today.
 *
 * @category metrics
 */
export const youtubeQuotaUsed = Metric.gauge("youtube_quota_used", {
  description: "YouTube quota used today, per account and bucket"
})

/**
 * The daily size of a YouTube account's quota bucket.
 *
 * @category metrics
 */
export const youtubeQuotaLimit = Metric.gauge("youtube_quota_limit", {
  description: "YouTube daily quota, per account and bucket"
})

/**
 * Channels whose status is `active`.
 *
 * @category metrics
 */
export const activeChannels = Metric.gauge("active_channels", {
  description: "Channels that are active"
})

// ---------------------------------------------------------------------------------------------------------------
// recording

/**
 * The series of a metric for one set of attribute values, as a metric object of its own, made once per set: its
 * registry key is computed once, where `Metric.withAttributes` would merge the attributes and compute the key
 * again at every update that changes series (the hot paths alternate between a few series all the time).
 */
type Series = (attributes: Metric.Metric.AttributeSet) => Metric.Metric<number, unknown>

const counterSeries = (base: Metric.Counter<number>): Series => (attributes) =>
  Metric.counter(base.id, { description: base.description, incremental: true, attributes })

const gaugeSeries = (base: Metric.Gauge<number>): Series => (attributes) =>
  Metric.gauge(base.id, { description: base.description, attributes })

const histogramSeries = (base: Metric.Histogram<number>, boundaries: ReadonlyArray<number>): Series => (attributes) =>
  Metric.histogram(base.id, { description: base.description, boundaries, attributes })

/** The series of one attribute, made once per value. */
const byValue = (make: Series, name: string) => {
  const series = new Map<string, Metric.Metric<number, unknown>>()
  return (value: string): Metric.Metric<number, unknown> => {
    let found = series.get(value)
    if (found === undefined) {
      found = make({ [name]: value })
      series.set(value, found)
    }
    return found
  }
}

/** The series of two attributes, made once per pair of values. */
const byPair = (make: Series, first: string, second: string) => {
  const series = new Map<string, Map<string, Metric.Metric<number, unknown>>>()
  return (a: string, b: string): Metric.Metric<number, unknown> => {
    let ofA = series.get(a)
    if (ofA === undefined) {
      ofA = new Map()
      series.set(a, ofA)
    }
    let found = ofA.get(b)
    if (found === undefined) {
      found = make({ [first]: a, [second]: b })
      ofA.set(b, found)
    }
    return found
  }
}

const videosGenerated = byPair(counterSeries(videosGeneratedTotal), "channel", "status")
const failures = byPair(counterSeries(videoGenerationFailuresTotal), "stage", "reason")
const costOfChannel = byValue(gaugeSeries(costPerVideo), "channel")
const apiCost = byValue(counterSeries(apiCostDollarsTotal), "service")
const stageDuration = byPair(histogramSeries(stageDurationSeconds, stageBoundaries), "stage", "provider")
const attempts = byPair(counterSeries(providerAttemptsTotal), "provider", "outcome")

/** Runs `f` with the fiber's context: metric updates without an effect per update. */
const recordWith = (f: (context: Context.Context<never>) => void): Effect.Effect<void> =>
  Effect.withFiberSucceed((fiber) => f(fiber.context))

const seconds = (from: DateTime.DateTime, to: DateTime.DateTime) =>
  Math.max(0, DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)) / 1000

/**
 * A reason label from an error's tag: `ProviderUnavailable` → `provider_unavailable`.
 *
 * @category utils
 */
export const reasonOf = (tag: string): string => tag.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()

/**
 * A video reached a final status by this process's write: counts it, and for a completed video records its
 * duration and cost.
 *
 * @category recording
 */
export const videoFinished = (video: Video.Video) =>
  recordWith((context) => {
    videosGenerated(video.channelId, video.status).updateUnsafe(1, context)
    if (video.status !== "completed") return
    const dollars = Money.toDollars(video.totalCost)
    costOfChannel(video.channelId).updateUnsafe(dollars, context)
    videoCostDollars.updateUnsafe(dollars, context)
    const started = video.stages[0]?.startedAt
    if (started !== undefined && video.completedAt !== undefined) {
      videoGenerationDurationSeconds.updateUnsafe(seconds(started, video.completedAt), context)
    }
  })

/**
 * A video failed at `stage` (with {@link videoFinished} for its status): `reason` is the failure's tag.
 *
 * @category recording
 */
export const videoFailed = (stage: Stage.Stage, reasonTag: string) =>
  recordWith((context) => failures(stage, reasonOf(reasonTag)).updateUnsafe(1, context))

/**
 * A stage was completed by `provider`, from `startedAt` to `endedAt`.
 *
 * @category recording
 */
export const stageCompleted = (
  stage: Stage.Stage,
  provider: string,
  startedAt: DateTime.DateTime,
  endedAt: DateTime.DateTime
) => recordWith((context) => stageDuration(stage, provider).updateUnsafe(seconds(startedAt, endedAt), context))

/**
 * A stage's usage was settled (not a replay): its cost per priced service. `total` is the usage's cost (what
 * was settled), the cost of its one item when it has one.
 *
 * @category recording
 */
export const usageSettled = (usage: Pricing.Usage, prices: Pricing.PriceTable, total: Money.Money) =>
  recordWith((context) => {
    if (usage.length === 1) {
      apiCost(usage[0]!.price).updateUnsafe(Money.toDollars(total), context)
      return
    }
    for (const item of usage) {
      apiCost(item.price).updateUnsafe(Money.toDollars(Pricing.itemCost(item, prices)), context)
    }
  })

/**
 * One provider attempt ended with `outcome`.
 *
 * @category recording
 */
export const providerAttempt = (provider: string, outcome: Video.AttemptOutcome) =>
  recordWith((context) => attempts(provider, outcome).updateUnsafe(1, context))

/**
 * Sets {@link activeChannels} from a count of the channels by status (`ChannelRepository.countByStatus`).
 *
 * @category recording
 */
export const refreshActiveChannels = (counts: { readonly active: number }) =>
  recordWith((context) => activeChannels.updateUnsafe(counts.active, context))

// ---------------------------------------------------------------------------------------------------------------
// gauges read at export

const noHooks = () => {}

/** Registers a gauge series whose value is read when the metrics are exported. */
const registerGauge = (
  metric: Metric.Gauge<number>,
  attributes: Metric.Metric.AttributeSet,
  context: Context.Context<never>,
  value: (context: Context.Context<never>) => number
): Metric.Registration =>
  Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
    get: (exportContext) => ({ value: value(exportContext) }),
    update: noHooks,
    modify: noHooks
  })

/**
 * The budget series of a scope: its key without its period; `undefined` for a video's scope (no per-video
 * series).
 *
 * @category utils
 */
export const budgetScopeLabel = (scope: Budget.BudgetScope): string | undefined => {
  switch (scope._tag) {
    case "video":
      return undefined
    case "channel-day":
      return `channel-day:${scope.channelId}`
    case "tenant-day":
      return `tenant-day:${scope.tenantId}`
    case "global-day":
    case "global-month":
      return scope._tag
  }
}

interface BudgetSeries {
  period: string
  monthly: boolean
  committed: Money.Money
  reserved: Money.Money
  limit: Money.Money | undefined
  limitRegistration: Metric.Registration | undefined
  readonly registrations: Array<Metric.Registration>
}

/**
 * The budget gauges of one ledger: it tells {@link BudgetGauges.written} every scope row it writes, and the
 * gauges read the last written row of each scope when they are exported. A row of a period older than the
 * newest period written reads as nothing spent or reserved (its scope has not been written in the new period).
 *
 * @category models
 */
export interface BudgetGauges {
  /** A scope row was written: its amounts and limit after the write (call after the write is durable). */
  readonly written: (
    scope: Budget.BudgetScope,
    committed: Money.Money,
    reserved: Money.Money,
    limit: Money.Money | undefined
  ) => void
  /** Removes the series (the ledger is closing). */
  readonly close: () => void
}

/**
 * The budget gauges of a ledger built in `context` (whose metric registry holds them).
 *
 * @category constructors
 */
export const budgetGauges = (context: Context.Context<never>): BudgetGauges => {
  const series = new Map<string, BudgetSeries>()
  let newestDay = ""
  let newestMonth = ""
  const current = (entry: BudgetSeries) => entry.period >= (entry.monthly ? newestMonth : newestDay)
  return {
    written: (scope, committed, reserved, limit) => {
      const label = budgetScopeLabel(scope)
      if (label === undefined) return
      const monthly = scope._tag === "global-month"
      const period = scope._tag === "global-month" ? scope.month : scope._tag === "video" ? "" : scope.day
      if (monthly ? period > newestMonth : period > newestDay) {
        if (monthly) newestMonth = period
        else newestDay = period
      }
      let entry = series.get(label)
      if (entry === undefined) {
        const created: BudgetSeries = {
          period,
          monthly,
          committed,
          reserved,
          limit,
          limitRegistration: undefined,
          registrations: []
        }
        const attributes = { scope: label }
        created.registrations.push(
          registerGauge(
            budgetSpentDollars,
            attributes,
            context,
            () => current(created) ? Money.toDollars(created.committed) : 0
          ),
          registerGauge(
            budgetReservedDollars,
            attributes,
            context,
            () => current(created) ? Money.toDollars(created.reserved) : 0
          )
        )
        series.set(label, created)
        entry = created
      } else if (period >= entry.period) {
        entry.period = period
        entry.committed = committed
        entry.reserved = reserved
        entry.limit = limit
      } else {
        // A late write of an older period (a video started before midnight settling after it): not current.
        return
      }
      const withLimit = entry
      if (limit !== undefined && withLimit.limitRegistration === undefined) {
        withLimit.limitRegistration = registerGauge(
          budgetLimitDollars,
          { scope: label },
          context,
          () => withLimit.limit === undefined ? Number.NaN : Money.toDollars(withLimit.limit)
        )
      } else if (limit === undefined && withLimit.limitRegistration !== undefined) {
        withLimit.limitRegistration.remove()
        withLimit.limitRegistration = undefined
      }
    },
    close: () => {
      for (const entry of series.values()) {
        for (const registration of entry.registrations) registration.remove()
        entry.limitRegistration?.remove()
      }
      series.clear()
    }
  }
}

const quotaBuckets = (account: Quota.AccountQuota): ReadonlyArray<Quota.QuotaBucket> =>
  account.model === "units-only" ? ["units"] : ["units", "uploads", "searches"]

const quotaUsedIn = (usage: Quota.QuotaUsage, bucket: Quota.QuotaBucket): number =>
  bucket === "units" ? usage.unitsUsed : bucket === "uploads" ? usage.uploadsUsed : usage.searchesUsed

const quotaLimitOf = (account: Quota.AccountQuota, bucket: Quota.QuotaBucket): number =>
  bucket === "units" ? account.dailyUnits : bucket === "uploads" ? account.dailyUploads : account.dailySearches

/**
 * The quota gauges of one publisher: {@link QuotaGauges.track} registers an account's series (one per bucket its
 * model meters) the first time the account is charged or configured. They read the account's usage when they
 * are exported, at the export's clock: a new quota day reads as nothing used.
 *
 * @category models
 */
export interface QuotaGauges {
  /** Registers the account's series, reading `usage()` (its usage as last recorded, of any day) at export. */
  readonly track: (account: Quota.AccountQuota, usage: () => Quota.QuotaUsage | undefined) => void
  /** Removes the series (the publisher is closing). */
  readonly close: () => void
}

/**
 * The quota gauges of a publisher made in `context` (whose metric registry holds them).
 *
 * @category constructors
 */
export const quotaGauges = (context: Context.Context<never>): QuotaGauges => {
  const tracked = new Map<string, ReadonlyArray<Metric.Registration>>()
  return {
    track: (account, usage) => {
      if (tracked.has(account.accountId)) return
      tracked.set(
        account.accountId,
        quotaBuckets(account).flatMap((bucket) => {
          const attributes = { account: account.accountId, bucket }
          return [
            registerGauge(youtubeQuotaUsed, attributes, context, (exportContext) => {
              const recorded = usage()
              if (recorded === undefined) return 0
              const now = DateTime.makeUnsafe(Context.get(exportContext, Clock.Clock).currentTimeMillisUnsafe())
              return quotaUsedIn(Quota.usageOn(recorded, now), bucket)
            }),
            registerGauge(youtubeQuotaLimit, attributes, context, () => quotaLimitOf(account, bucket))
          ]
        })
      )
    },
    close: () => {
      for (const registrations of tracked.values()) {
        for (const registration of registrations) registration.remove()
      }
      tracked.clear()
    }
  }
}
