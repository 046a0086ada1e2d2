/**
 * Branded identifiers. Each id is a non-empty string of letters, digits, `-`, `_`, `.` or `:` (at most 128
 * characters; a video's 160, so that a scheduled run's id can hold its channel's), so an id can be used safely in URLs, file names, entity ids and metric-free log lines; the
 * brand keeps a `ChannelId` from being passed where a `VideoId` is expected.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

const idString = (name: string, maxLength = 128) =>
  Schema.String.check(
    Schema.isNonEmpty({ message: `${name} must not be empty` }),
    Schema.isMaxLength(maxLength, { message: `${name} must be at most ${maxLength} characters` }),
    Schema.isPattern(idPattern, {
      message: `${name} must start with a letter or digit and contain only letters, digits, '.', '_', ':' or '-'`
    })
  )

/**
 * A tenant: the owner of channels, videos, budgets and API keys.
 *
 * @category ids
 */
export const TenantId = idString("TenantId").pipe(Schema.brand("TenantId"))
/** @category ids */
export type TenantId = typeof TenantId.Type

/**
 * A channel: one actor, one YouTube channel.
 *
 * @category ids
 */
export const ChannelId = idString("ChannelId").pipe(Schema.brand("ChannelId"))
/** @category ids */
export type ChannelId = typeof ChannelId.Type

/**
 * A video; the video pipeline's workflow id derives from it, so one id is produced once.
 *
 * @category ids
 */
export const VideoId = idString("VideoId", 160).pipe(Schema.brand("VideoId"))
/** @category ids */
export type VideoId = typeof VideoId.Type

/**
 * A YouTube account that uploads videos and owns a daily quota.
 *
 * @category ids
 */
export const AccountId = idString("AccountId").pipe(Schema.brand("AccountId"))
/** @category ids */
export type AccountId = typeof AccountId.Type

/**
 * A GPU device, as reported by the inventory (its UUID, or a configured name).
 *
 * @category ids
 */
export const GpuDeviceId = idString("GpuDeviceId").pipe(Schema.brand("GpuDeviceId"))
/** @category ids */
export type GpuDeviceId = typeof GpuDeviceId.Type

/**
 * An API key's public identifier (never the secret itself).
 *
 * @category ids
 */
export const ApiKeyId = idString("ApiKeyId").pipe(Schema.brand("ApiKeyId"))
/** @category ids */
export type ApiKeyId = typeof ApiKeyId.Type
