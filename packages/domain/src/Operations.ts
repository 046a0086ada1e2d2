/**
 * The service's own state, as `/api/v1/status` and the `GetStatus` RPC report it: version, uptime, and how
 * many of the caller's channels and videos are in each status.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** @category models */
export class ChannelCounts extends Schema.Class<ChannelCounts>("@ytempire/domain/Operations/ChannelCounts")({
  active: Count,
  paused: Count,
  "budget-paused": Count
}) {}

/** @category models */
export class VideoCounts extends Schema.Class<VideoCounts>("@ytempire/domain/Operations/VideoCounts")({
  queued: Count,
  running: Count,
  completed: Count,
  failed: Count,
  cancelled: Count
}) {}

/**
 * The service's status.
 *
 * @category models
 */
export class ServiceStatus extends Schema.Class<ServiceStatus>("@ytempire/domain/Operations/ServiceStatus")({
  version: Schema.String,
  uptimeSeconds: Schema.Finite,
  channels: ChannelCounts,
  videos: VideoCounts
}) {}

/**
 * The operations RPCs.
 *
 * @category rpc
 */
export class OperationsRpcs extends RpcGroup.make(
  Rpc.make("GetStatus", { success: ServiceStatus })
) {}
