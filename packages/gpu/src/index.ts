/**
 * @ytempire/gpu — GPU inventory, the VRAM scheduler, the GPU process runner and the scheduler's simulator.
 *
 * @since 0.1.0
 */
export * as Device from "./Device.ts"
export * as GpuMetrics from "./GpuMetrics.ts"
export * as GpuProcess from "./GpuProcess.ts"
export * as Health from "./Health.ts"
export * as Inventory from "./Inventory.ts"
export * as NvidiaSmi from "./NvidiaSmi.ts"
export * as Scheduler from "./Scheduler.ts"
export * as SchedulerCore from "./SchedulerCore.ts"
export * as Simulator from "./Simulator.ts"
export * as Workload from "./Workload.ts"
