/**
 * Channels: one YouTube channel each, one actor each in the runtime. A channel belongs to a tenant, has a
 * niche, a language and a style that its scripts follow, a schedule on which it asks for videos, a priority
 * class, a budget policy, a quality preference and (optionally) the YouTube account it uploads through.
 *
 * @since 0.1.0
 */
import { Cron, DateTime, Effect, Result, Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import * as Budget from "./Budget.ts"
import * as Errors from "./Errors.ts"
import * as Ids from "./Ids.ts"
import * as Pagination from "./Pagination.ts"
import * as Priority from "./Priority.ts"
import * as Text from "./Text.ts"

/**
 * Whether a channel produces videos: `active`; `paused` by its operator; `budget-paused` by hard budget
 * control until the budget period rolls over.
 *
 * @category models
 */
export const ChannelStatus = Schema.Literals(["active", "paused", "budget-paused"])
/** @category models */
export type ChannelStatus = typeof ChannelStatus.Type

const text = (field: string, maxLength: number) =>
  Schema.String.check(
    Schema.isTrimmed({ message: `${field} must not start or end with spaces` }),
    Schema.isNonEmpty({ message: `${field} must not be empty` }),
    Schema.isMaxLength(maxLength, { message: `${field} must be at most ${maxLength} characters` }),
    Text.noControlCharacters(field)
  )

/**
 * An IANA time zone name such as `America/Los_Angeles` or `UTC`.
 *
 * @category models
 */
export const TimeZoneName = Schema.String.check(
  Schema.makeFilter((zone: string) =>
    DateTime.zoneMakeNamed(zone)._tag === "Some"
      ? undefined
      : `unknown time zone ${JSON.stringify(zone)}; expected an IANA name such as "America/Los_Angeles" or "UTC"`
  )
)

const neverRunsProbe = DateTime.makeUnsafe("2026-01-01T00:00:00Z")

/**
 * A cron expression with five fields (minute hour day-of-month month day-of-week) or six (with seconds first).
 *
 * @category models
 */
export const CronExpression = Schema.String.check(
  Schema.makeFilter((expression: string) => {
    const parsed = Cron.parse(expression)
    if (Result.isFailure(parsed)) {
      return `invalid cron expression ${JSON.stringify(expression)}: ${parsed.failure.message}; expected five ` +
        `fields such as "0 9 * * *" (09:00 every day)`
    }
    // A valid expression may still never match (the 31st of February): a schedule must have a next run.
    try {
      Cron.next(parsed.success, neverRunsProbe)
      return undefined
    } catch {
      return `cron expression ${JSON.stringify(expression)} never runs`
    }
  })
)

/**
 * When a channel asks for a video: a cron expression read in an IANA time zone, so "0 9 * * *" in
 * `Europe/Berlin` is 09:00 Berlin time in summer and in winter.
 *
 * @category models
 */
export class ChannelSchedule extends Schema.Class<ChannelSchedule>("@ytempire/domain/Channel/ChannelSchedule")({
  cron: CronExpression,
  timeZone: TimeZoneName
}) {
  /** The parsed cron, in the schedule's zone. */
  toCron(): Cron.Cron {
    return Cron.parseUnsafe(this.cron, this.timeZone)
  }
}

/**
 * A BCP 47 language tag such as `en`, `en-US` or `pt-BR`.
 *
 * @category models
 */
export const Language = Schema.String.check(
  Schema.isPattern(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, {
    message: "language must be a BCP 47 tag such as \"en\" or \"en-US\""
  })
)

/**
 * How much a channel prefers quality over cost, from 0 (cheapest) to 1 (best): the runtime starts its
 * provider chains at a higher tier for higher values.
 *
 * @category models
 */
export const QualityPreference = Schema.Finite.check(
  Schema.isBetween({ minimum: 0, maximum: 1 }, { message: "quality must be between 0 and 1" })
)

/**
 * What an operator chooses about a channel; the fields that create and update take.
 *
 * @category models
 */
export const channelSettingsFields = {
  name: text("name", 100),
  niche: text("niche", 200),
  language: Language,
  style: text("style", 500),
  schedule: Schema.optionalKey(ChannelSchedule),
  priority: Priority.PriorityClass.pipe(
    Schema.withConstructorDefault(Effect.succeed("normal" as const)),
    Schema.withDecodingDefaultKey(Effect.succeed("normal" as const))
  ),
  budget: Budget.BudgetPolicy.pipe(
    Schema.withConstructorDefault(Effect.sync(() => new Budget.BudgetPolicy({}))),
    Schema.withDecodingDefaultKey(Effect.succeed({}))
  ),
  quality: QualityPreference.pipe(
    Schema.withConstructorDefault(Effect.succeed(0.5)),
    Schema.withDecodingDefaultKey(Effect.succeed(0.5))
  ),
  youtubeAccount: Schema.optionalKey(Ids.AccountId)
}

/**
 * A channel registration: its id (chosen by the caller, so that registering twice is idempotent) and its
 * settings. The tenant comes from the caller's credentials, not from the body.
 *
 * @category models
 */
export class ChannelRegistration
  extends Schema.Class<ChannelRegistration>("@ytempire/domain/Channel/ChannelRegistration")({
    id: Ids.ChannelId,
    ...channelSettingsFields
  })
{}

/**
 * A change to a channel's settings: only the fields present are changed.
 *
 * @category models
 */
export class ChannelUpdate extends Schema.Class<ChannelUpdate>("@ytempire/domain/Channel/ChannelUpdate")({
  name: Schema.optionalKey(channelSettingsFields.name),
  niche: Schema.optionalKey(channelSettingsFields.niche),
  language: Schema.optionalKey(Language),
  style: Schema.optionalKey(channelSettingsFields.style),
  schedule: Schema.optionalKey(Schema.NullOr(ChannelSchedule)),
  priority: Schema.optionalKey(Priority.PriorityClass),
  budget: Schema.optionalKey(Budget.BudgetPolicyUpdate),
  quality: Schema.optionalKey(QualityPreference),
  youtubeAccount: Schema.optionalKey(Schema.NullOr(Ids.AccountId))
}) {}

/**
 * A channel as the runtime keeps it.
 *
 * @category models
 */
export class Channel extends Schema.Class<Channel>("@ytempire/domain/Channel/Channel")({
  id: Ids.ChannelId,
  tenantId: Ids.TenantId,
  ...channelSettingsFields,
  status: ChannelStatus,
  createdAt: Schema.DateTimeUtcFromString,
  updatedAt: Schema.DateTimeUtcFromString
}) {}

/**
 * No channel with this id is visible to the caller (it does not exist, or belongs to another tenant).
 *
 * @category errors
 */
export class ChannelNotFound extends Schema.TaggedError<ChannelNotFound>()("ChannelNotFound", {
  channelId: Schema.String
}) {
  override get message(): string {
    return `channel ${this.channelId} not found`
  }
}

/**
 * The channel is paused (by its operator, or by hard budget control) and takes no new videos.
 *
 * @category errors
 */
export class ChannelPaused extends Schema.TaggedError<ChannelPaused>()("ChannelPaused", {
  channelId: Ids.ChannelId,
  status: ChannelStatus
}) {
  override get message(): string {
    return this.status === "budget-paused"
      ? `channel ${this.channelId} is paused by budget control until its budget period rolls over`
      : `channel ${this.channelId} is paused`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// RPC contract

const channelIdPayload = { channelId: Ids.ChannelId }

/**
 * A page of channels.
 *
 * @category models
 */
export const ChannelPage = Pagination.Page(Channel)
/** @category models */
export type ChannelPage = typeof ChannelPage.Type

/**
 * The channel operations: register (idempotent by id), list, get, update, pause, resume and delete. The tenant
 * is always the caller's.
 *
 * @category rpc
 */
export class ChannelRpcs extends RpcGroup.make(
  Rpc.make("RegisterChannel", {
    payload: ChannelRegistration,
    success: Channel,
    error: Schema.Union([Errors.InvalidRequest, Errors.Forbidden])
  }),
  Rpc.make("ListChannels", {
    payload: { status: Schema.optionalKey(ChannelStatus), ...Pagination.pageRequestFields },
    success: ChannelPage,
    error: Errors.InvalidRequest
  }),
  Rpc.make("GetChannel", { payload: channelIdPayload, success: Channel, error: ChannelNotFound }),
  Rpc.make("UpdateChannel", {
    payload: { channelId: Ids.ChannelId, update: ChannelUpdate },
    success: Channel,
    error: Schema.Union([ChannelNotFound, Errors.InvalidRequest, Errors.Forbidden])
  }),
  Rpc.make("PauseChannel", {
    payload: channelIdPayload,
    success: Channel,
    error: Schema.Union([ChannelNotFound, Errors.Forbidden])
  }),
  Rpc.make("ResumeChannel", {
    payload: channelIdPayload,
    success: Channel,
    error: Schema.Union([ChannelNotFound, Errors.Forbidden])
  }),
  Rpc.make("DeleteChannel", {
    payload: channelIdPayload,
    error: Schema.Union([ChannelNotFound, Errors.Forbidden])
  })
) {}
