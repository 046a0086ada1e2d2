/**
 * A GPU device as the scheduler plans with it, and the lease a job holds on one. Shared by the inventory
 * (which finds devices), the scheduler (which leases their memory and encoder sessions), the process runner
 * (which runs a child on a leased device) and the simulator (which schedules simulated devices).
 *
 * @since 0.1.0
 */
import type { GpuJobSpec, Ids } from "@ytempire/domain"

/**
 * One device: what it has and what of it the scheduler may lease.
 *
 * - `usableMiB` is `totalMiB - headroomMiB`: the headroom stays free for the driver, the CUDA context and
 *   fragmentation, and the scheduler never leases past `usableMiB`.
 * - `encoderSessions` is how many NVENC sessions may be open at once (GeForce drivers allow 8);
 *   `encoderEngines` how many encoder units share their work (3 on an RTX 5090).
 *
 * @category models
 */
export interface GpuDevice {
  readonly id: Ids.GpuDeviceId
  readonly index: number
  readonly name: string
  readonly uuid: string
  readonly totalMiB: number
  readonly headroomMiB: number
  readonly usableMiB: number
  readonly encoderSessions: number
  readonly encoderEngines: number
}

/**
 * What one job holds on one device until its scope closes.
 *
 * @category models
 */
export interface GpuLease {
  readonly leaseId: number
  readonly device: GpuDevice
  readonly vramMiB: number
  readonly encoderSessions: number
  readonly spec: GpuJobSpec.GpuJobSpec
}
