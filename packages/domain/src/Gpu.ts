/**
 * What the GPU inventory and the VRAM scheduler report: each device's memory (total, usable after headroom,
 * leased), its encoder sessions, its health, and the queue of jobs waiting per priority class.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import * as Ids from "./Ids.ts"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * `healthy` devices take new leases; `draining` ones (errors, too hot) finish what they run and take none;
 * `unavailable` ones have disappeared.
 *
 * @category models
 */
export const GpuHealth = Schema.Literals(["healthy", "draining", "unavailable"])
/** @category models */
export type GpuHealth = typeof GpuHealth.Type

/**
 * Where the inventory came from: a live `nvidia-smi` probe, configuration (a preset such as `rtx5090`), or
 * nothing (no GPU: GPU stages take their CPU path).
 *
 * @category models
 */
export const InventorySource = Schema.Literals(["nvidia-smi", "configured", "none"])
/** @category models */
export type InventorySource = typeof InventorySource.Type

/**
 * One device as the scheduler sees it.
 *
 * @category models
 */
export class GpuDeviceStatus extends Schema.Class<GpuDeviceStatus>("@ytempire/domain/Gpu/GpuDeviceStatus")({
  id: Ids.GpuDeviceId,
  index: Count,
  name: Schema.String,
  totalMiB: Count,
  usableMiB: Count,
  leasedMiB: Count,
  encoderSessions: Count,
  encoderSessionsLeased: Count,
  health: GpuHealth,
  temperatureC: Schema.optionalKey(Schema.Finite),
  utilizationPercent: Schema.optionalKey(Schema.Finite),
  loadedModels: Schema.Array(Schema.String)
}) {}

/**
 * Jobs waiting for a lease, per priority class.
 *
 * @category models
 */
export class GpuQueueDepth extends Schema.Class<GpuQueueDepth>("@ytempire/domain/Gpu/GpuQueueDepth")({
  critical: Count,
  high: Count,
  normal: Count,
  low: Count
}) {}

/**
 * The whole GPU picture.
 *
 * @category models
 */
export class GpuStatus extends Schema.Class<GpuStatus>("@ytempire/domain/Gpu/GpuStatus")({
  source: InventorySource,
  devices: Schema.Array(GpuDeviceStatus),
  queued: GpuQueueDepth
}) {}

/**
 * The GPU operations.
 *
 * @category rpc
 */
export class GpuRpcs extends RpcGroup.make(
  Rpc.make("GetGpuStatus", { success: GpuStatus })
) {}
