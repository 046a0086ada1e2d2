/**
 * The channel actor's contract: one entity per channel (its id is the channel id), the single writer of the
 * channel's state. Commands that must not be lost are persisted messages: a crash between sending and handling
 * one only delays it. `RequestVideo` is deduplicated by video id, so asking twice queues one video; scheduled
 * ticks are deduplicated by their time and delivered at it, which makes the channel's schedule a durable timer.
 *
 * @since 0.1.0
 */
import { DateTime, PrimaryKey, Schema } from "effect"
import { ClusterSchema, DeliverAt, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Budget from "./Budget.ts"
import * as Channel from "./Channel.ts"
import * as Errors from "./Errors.ts"
import * as Ids from "./Ids.ts"
import * as Video from "./Video.ts"

/**
 * A moment at which the channel acts by itself: its schedule's next run, or the end of a budget period that
 * paused it. Delivered at `at`; sending the same moment twice delivers it once.
 *
 * @category models
 */
export class Wakeup extends Schema.Class<Wakeup>("@ytempire/domain/ChannelEntity/Wakeup")({
  at: Schema.DateTimeUtc
}) {
  [PrimaryKey.symbol](): string {
    return DateTime.formatIso(this.at)
  }
  [DeliverAt.symbol](): DateTime.DateTime {
    return this.at
  }
}

/**
 * What the channel actor knows of itself: its record, and the videos it is producing and has queued.
 *
 * @category models
 */
export class ChannelState extends Schema.Class<ChannelState>("@ytempire/domain/ChannelEntity/ChannelState")({
  channel: Channel.Channel,
  running: Schema.Array(Ids.VideoId),
  queued: Schema.Array(Ids.VideoId),
  nextScheduledRun: Schema.optionalKey(Schema.DateTimeUtcFromString)
}) {}

/**
 * The channel entity.
 *
 * @category entities
 */
export const ChannelEntity = Entity.make("Channel", [
  Rpc.make("Register", {
    payload: { tenantId: Ids.TenantId, registration: Channel.ChannelRegistration },
    success: Channel.Channel,
    error: Errors.Forbidden
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Configure", {
    payload: { update: Channel.ChannelUpdate },
    success: Channel.Channel,
    error: Channel.ChannelNotFound
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Pause", { success: Channel.Channel, error: Channel.ChannelNotFound }).annotate(
    ClusterSchema.Persisted,
    true
  ),
  Rpc.make("Resume", { success: Channel.Channel, error: Channel.ChannelNotFound }).annotate(
    ClusterSchema.Persisted,
    true
  ),
  Rpc.make("RequestVideo", {
    payload: { videoId: Ids.VideoId, topic: Schema.String },
    primaryKey: ({ videoId }) => videoId,
    success: Video.Video,
    error: Schema.Union([
      Channel.ChannelNotFound,
      Channel.ChannelPaused,
      Budget.BudgetExceeded,
      Errors.InvalidRequest
    ])
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("VideoFinished", {
    payload: { videoId: Ids.VideoId },
    primaryKey: ({ videoId }) => videoId
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Wake", { payload: Wakeup }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("State", { success: ChannelState, error: Channel.ChannelNotFound })
])
