/**
 * The YouTube Data API v3 quota of one YouTube account: what each call costs, how much an account may spend per
 * day, and when the day ends. Everything here is pure; the caller reads the time from the `Clock` and passes it in
 * as a `DateTime.Utc`.
 *
 * Two quota models exist. Google's current quota-cost page gives a project 10,000 units per day for all endpoints
 * combined except `videos.insert` and `search.list`, which have their own daily buckets (100 calls each by default,
 * 1 per call). Older documents, and projects still on the old terms, charge `videos.insert` 1,600 units and
 * `search.list` 100 units out of the 10,000. An account says which model applies with its {@link QuotaModel}.
 *
 * Quotas reset at midnight Pacific Time (`America/Los_Angeles`), so a quota day lasts 23 hours on the day clocks
 * spring forward and 25 hours on the day they fall back.
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Result, Schema } from "effect"
import * as Ids from "./Ids.ts"

const positiveInt = (name: string) =>
  Schema.Number.annotate({ message: `${name} must be a positive integer` }).check(
    Schema.isInt({ message: `${name} must be a positive integer` }),
    Schema.isGreaterThan(0, { message: `${name} must be a positive integer` })
  )

const nonNegativeInt = (name: string) =>
  Schema.Number.annotate({ message: `${name} must be a non-negative integer` }).check(
    Schema.isInt({ message: `${name} must be a non-negative integer` }),
    Schema.isGreaterThanOrEqualTo(0, { message: `${name} must be a non-negative integer` })
  )

const positiveIntOr = (name: string, defaultValue: number) =>
  positiveInt(name).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(defaultValue)),
    Schema.withConstructorDefault(Effect.succeed(defaultValue))
  )

// =============================================================================
// rules
// =============================================================================

/**
 * How the API charges an account:
 *
 * - `separate-upload-bucket` (current, the default): `videos.insert` and `search.list` each count against their own
 *   daily bucket of calls; every other method spends units out of the daily units.
 * - `units-only` (legacy): every method spends units, `videos.insert` 1,600 and `search.list` 100.
 *
 * @category models
 */
export const QuotaModel = Schema.Literals(["separate-upload-bucket", "units-only"]).annotate({
  message: `model must be "separate-upload-bucket" or "units-only"`
})
/** @category models */
export type QuotaModel = typeof QuotaModel.Type

/**
 * The API methods ytempire calls.
 *
 * @category models
 */
export const QuotaCall = Schema.Literals([
  "videos.insert",
  "videos.update",
  "videos.list",
  "thumbnails.set",
  "channels.list",
  "playlistItems.insert",
  "search.list"
])
/** @category models */
export type QuotaCall = typeof QuotaCall.Type

/**
 * A daily allowance: `units` shared by most methods, `uploads` for `videos.insert` and `searches` for `search.list`
 * (the last two only in the `separate-upload-bucket` model).
 *
 * @category models
 */
export const QuotaBucket = Schema.Literals(["units", "uploads", "searches"])
/** @category models */
export type QuotaBucket = typeof QuotaBucket.Type

/**
 * An amount in each bucket: what a call costs, or what is left.
 *
 * @category models
 */
export const QuotaAmounts = Schema.Struct({
  units: nonNegativeInt("units"),
  uploads: nonNegativeInt("uploads"),
  searches: nonNegativeInt("searches")
})
/** @category models */
export type QuotaAmounts = typeof QuotaAmounts.Type

/**
 * The model an account uses unless it says otherwise.
 *
 * @category constants
 */
export const defaultModel: QuotaModel = "separate-upload-bucket"

/**
 * A project's default daily units.
 *
 * @category constants
 */
export const defaultDailyUnits = 10_000

/**
 * The default daily `videos.insert` calls in the `separate-upload-bucket` model.
 *
 * @category constants
 */
export const defaultDailyUploads = 100

/**
 * The default daily `search.list` calls in the `separate-upload-bucket` model.
 *
 * @category constants
 */
export const defaultDailySearches = 100

/**
 * The fraction of a bucket above which operations are alerted ("quota above 80 %").
 *
 * @category constants
 */
export const alertThreshold = 0.8

/**
 * The zone whose midnight resets the quota.
 *
 * @category constants
 */
export const resetTimeZone = "America/Los_Angeles"

/**
 * Each call's cost in units when it is charged to the units (the whole table in the `units-only` model; every
 * method but `videos.insert` and `search.list` in the `separate-upload-bucket` model).
 *
 * @category constants
 */
export const unitCosts: { readonly [Call in QuotaCall]: number } = {
  "videos.insert": 1600,
  "videos.update": 50,
  "videos.list": 1,
  "thumbnails.set": 50,
  "channels.list": 1,
  "playlistItems.insert": 50,
  "search.list": 100
}

/**
 * What one call costs in each bucket under a model.
 *
 * **Gotchas**
 *
 * The API charges a request even when it fails, and charges every page of a paged list again.
 *
 * @category utils
 */
export const costOf = (call: QuotaCall, model: QuotaModel): QuotaAmounts => {
  if (model === "separate-upload-bucket") {
    if (call === "videos.insert") return { units: 0, uploads: 1, searches: 0 }
    if (call === "search.list") return { units: 0, uploads: 0, searches: 1 }
  }
  return { units: unitCosts[call], uploads: 0, searches: 0 }
}

// =============================================================================
// accounts
// =============================================================================

/**
 * An account's place in the pool: the operations documents run primary accounts 1–12 and keep 13–15 in reserve.
 *
 * @category models
 */
export const AccountRole = Schema.Literals(["primary", "reserve"]).annotate({
  message: `role must be "primary" or "reserve"`
})
/** @category models */
export type AccountRole = typeof AccountRole.Type

/**
 * One YouTube account's quota configuration. `model`, `dailyUnits`, `dailyUploads` and `dailySearches` default to
 * the API's current defaults when left out, both in the constructor and when decoding.
 *
 * **Gotchas**
 *
 * `dailyUploads` and `dailySearches` apply only in the `separate-upload-bucket` model; in `units-only` those calls
 * spend `dailyUnits`.
 *
 * @category models
 */
export class AccountQuota extends Schema.Class<AccountQuota>("@ytempire/domain/Quota/AccountQuota")({
  accountId: Ids.AccountId,
  role: AccountRole,
  model: QuotaModel.pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(defaultModel)),
    Schema.withConstructorDefault(Effect.succeed(defaultModel))
  ),
  dailyUnits: positiveIntOr("dailyUnits", defaultDailyUnits),
  dailyUploads: positiveIntOr("dailyUploads", defaultDailyUploads),
  dailySearches: positiveIntOr("dailySearches", defaultDailySearches)
}) {}

// =============================================================================
// days
// =============================================================================

const pacific = DateTime.zoneMakeNamedUnsafe(resetTimeZone)

/**
 * A quota day: the Pacific calendar date, `YYYY-MM-DD`.
 *
 * @category models
 */
export const QuotaDay = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}$/, { message: "day must be a date written YYYY-MM-DD" })
)
/** @category models */
export type QuotaDay = typeof QuotaDay.Type

/**
 * The quota day an instant belongs to: its calendar date in Pacific Time.
 *
 * @category utils
 */
export const quotaDay = (now: DateTime.Utc): QuotaDay => DateTime.formatIsoDate(DateTime.setZone(now, pacific))

/**
 * The next quota reset strictly after `now`: the next midnight in Pacific Time. Daylight saving is respected, so
 * consecutive resets are 23, 24 or 25 hours apart.
 *
 * @category utils
 */
export const nextReset = (now: DateTime.Utc): DateTime.Utc =>
  DateTime.setZone(now, pacific).pipe(DateTime.startOf("day"), DateTime.add({ days: 1 }), DateTime.toUtc)

// =============================================================================
// usage
// =============================================================================

/**
 * What an account has spent on one quota day.
 *
 * @category models
 */
export class QuotaUsage extends Schema.Class<QuotaUsage>("@ytempire/domain/Quota/QuotaUsage")({
  day: QuotaDay,
  unitsUsed: nonNegativeInt("unitsUsed"),
  uploadsUsed: nonNegativeInt("uploadsUsed"),
  searchesUsed: nonNegativeInt("searchesUsed")
}) {}

/**
 * Nothing spent yet, on the quota day of `now`.
 *
 * @category constructors
 */
export const emptyUsage = (now: DateTime.Utc): QuotaUsage =>
  new QuotaUsage({ day: quotaDay(now), unitsUsed: 0, uploadsUsed: 0, searchesUsed: 0 })

/**
 * The usage that counts at `now`: `usage` itself on its own quota day, nothing once a later quota day has begun.
 *
 * **Gotchas**
 *
 * Usage recorded for a day after `now` (a clock that stepped back) is kept rather than reset, so a skewed clock
 * cannot hand out a second day's quota.
 *
 * @category utils
 */
export const usageOn = (usage: QuotaUsage, now: DateTime.Utc): QuotaUsage =>
  quotaDay(now) > usage.day ? emptyUsage(now) : usage

const usedIn = (usage: QuotaUsage, bucket: QuotaBucket): number =>
  bucket === "units" ? usage.unitsUsed : bucket === "uploads" ? usage.uploadsUsed : usage.searchesUsed

const limitOf = (account: AccountQuota, bucket: QuotaBucket): number =>
  bucket === "units" ? account.dailyUnits : bucket === "uploads" ? account.dailyUploads : account.dailySearches

const bucketsOf = (model: QuotaModel): ReadonlyArray<QuotaBucket> =>
  model === "units-only" ? ["units"] : ["units", "uploads", "searches"]

/**
 * What is left at `now`: `units` is the units left; `uploads` and `searches` are how many more `videos.insert` and
 * `search.list` calls would be admitted (in the `units-only` model, how many the units left would pay for).
 *
 * @category utils
 */
export const remaining = (account: AccountQuota, usage: QuotaUsage, now: DateTime.Utc): QuotaAmounts => {
  const current = usageOn(usage, now)
  const units = Math.max(0, account.dailyUnits - current.unitsUsed)
  if (account.model === "units-only") {
    return {
      units,
      uploads: Math.floor(units / unitCosts["videos.insert"]),
      searches: Math.floor(units / unitCosts["search.list"])
    }
  }
  return {
    units,
    uploads: Math.max(0, account.dailyUploads - current.uploadsUsed),
    searches: Math.max(0, account.dailySearches - current.searchesUsed)
  }
}

/**
 * The fraction used at `now` of the fullest bucket the account's model meters, from 0 to 1 (above 1 only if the
 * API was called past the limit). Compare with {@link alertThreshold}.
 *
 * @category utils
 */
export const fractionUsed = (account: AccountQuota, usage: QuotaUsage, now: DateTime.Utc): number => {
  const current = usageOn(usage, now)
  return Math.max(...bucketsOf(account.model).map((bucket) => usedIn(current, bucket) / limitOf(account, bucket)))
}

// =============================================================================
// errors
// =============================================================================

/**
 * A call was refused because a bucket of the account's daily quota would overflow. `used` and `limit` describe
 * that bucket on the current quota day, `needed` what the refused call (or calls) would have cost in it, and
 * `resetsAt` the next Pacific midnight, when the bucket is full again.
 *
 * @category errors
 */
export class QuotaExhausted extends Schema.TaggedError<QuotaExhausted>()("QuotaExhausted", {
  accountId: Ids.AccountId,
  bucket: QuotaBucket,
  limit: Schema.Int,
  used: Schema.Int,
  needed: Schema.Int,
  resetsAt: Schema.DateTimeUtc
}) {
  override get message(): string {
    return `YouTube account ${this.accountId} has ${Math.max(0, this.limit - this.used)} of ${this.limit} ` +
      `${this.bucket} left today and needs ${this.needed}; the quota resets at ${DateTime.formatIso(this.resetsAt)}`
  }
}

// =============================================================================
// accounting
// =============================================================================

/**
 * Admits a sequence of calls as one: either all of them fit in today's quota and the result is the usage after
 * them, or none is charged and the result is a {@link QuotaExhausted} for the first bucket that would overflow.
 *
 * **When to use**
 *
 * Before a multi-call job, such as an upload followed by `thumbnails.set` and `playlistItems.insert`, so that the
 * video is not uploaded when its thumbnail could not be set afterwards.
 *
 * @category utils
 */
export const checkAll = (
  account: AccountQuota,
  usage: QuotaUsage,
  calls: Iterable<QuotaCall>,
  now: DateTime.Utc
): Result.Result<QuotaUsage, QuotaExhausted> => {
  const current = usageOn(usage, now)
  const needed = { units: 0, uploads: 0, searches: 0 }
  for (const call of calls) {
    const cost = costOf(call, account.model)
    needed.units += cost.units
    needed.uploads += cost.uploads
    needed.searches += cost.searches
  }
  for (const bucket of bucketsOf(account.model)) {
    const limit = limitOf(account, bucket)
    const used = usedIn(current, bucket)
    if (needed[bucket] > 0 && used + needed[bucket] > limit) {
      return Result.fail(
        new QuotaExhausted({
          accountId: account.accountId,
          bucket,
          limit,
          used,
          needed: needed[bucket],
          resetsAt: nextReset(now)
        })
      )
    }
  }
  return Result.succeed(
    new QuotaUsage({
      day: current.day,
      unitsUsed: current.unitsUsed + needed.units,
      uploadsUsed: current.uploadsUsed + needed.uploads,
      searchesUsed: current.searchesUsed + needed.searches
    })
  )
}

/**
 * Admits one call: the usage after it, or a {@link QuotaExhausted} naming the bucket it would overflow.
 *
 * @category utils
 */
export const check = (
  account: AccountQuota,
  usage: QuotaUsage,
  call: QuotaCall,
  now: DateTime.Utc
): Result.Result<QuotaUsage, QuotaExhausted> => checkAll(account, usage, [call], now)
