/**
 * The VRAM scheduler's metrics, named as Prometheus will expose them (base units: bytes and seconds). The
 * `Scheduler` service keeps them current; they live in the `Metric.MetricRegistry` of the context the
 * scheduler's layer was built in.
 *
 * | metric | type | attributes |
 * | --- | --- | --- |
 * | `gpu_vram_leased_bytes` | gauge | `device` |
 * | `gpu_vram_resident_bytes` (leases and idle loaded models) | gauge | `device` |
 * | `gpu_vram_usable_bytes` | gauge | `device` |
 * | `gpu_encoder_sessions_leased` | gauge | `device` |
 * | `gpu_queue_depth` | gauge | `priority` |
 * | `gpu_wait_seconds` | histogram | `priority` |
 * | `gpu_lease_duration_seconds` | histogram | `kind` |
 * | `gpu_rejections_total` | counter | `reason`: `too_large`, `queue_full` |
 * | `gpu_model_loads_total` | counter | `device` |
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/** Bytes in a MiB, the unit of VRAM in job specs and nvidia-smi. */
export const bytesPerMiB = 1024 * 1024

/**
 * VRAM held by leases on a device, in bytes.
 *
 * @category metrics
 */
export const vramLeasedBytes = Metric.gauge("gpu_vram_leased_bytes", {
  description: "VRAM held by GPU leases, per device"
})

/**
 * VRAM held by leases and by idle models kept loaded on a device, in bytes. Idle models are evicted for a lease
 * that needs the room, so only `gpu_vram_leased_bytes` is committed.
 *
 * @category metrics
 */
export const vramResidentBytes = Metric.gauge("gpu_vram_resident_bytes", {
  description: "VRAM held by GPU leases and by idle loaded models, per device"
})

/**
 * The VRAM a device offers to leases (its memory less its headroom), in bytes.
 *
 * @category metrics
 */
export const vramUsableBytes = Metric.gauge("gpu_vram_usable_bytes", {
  description: "VRAM the scheduler may lease, per device"
})

/**
 * NVENC sessions held by leases on a device.
 *
 * @category metrics
 */
export const encoderSessionsLeased = Metric.gauge("gpu_encoder_sessions_leased", {
  description: "NVENC encoder sessions held by GPU leases, per device"
})

/**
 * Jobs waiting for a lease, per priority class.
 *
 * @category metrics
 */
export const queueDepth = Metric.gauge("gpu_queue_depth", {
  description: "Jobs waiting for a GPU lease, per priority class"
})

/**
 * How long a job waited for its lease, per priority class, in seconds.
 *
 * @category metrics
 */
export const waitSeconds = Metric.histogram("gpu_wait_seconds", {
  description: "Seconds a job waited for its GPU lease, per priority class",
  boundaries: Metric.boundariesFromIterable([
    0.01,
    0.05,
    0.1,
    0.5,
    1,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14_400
  ])
})

/**
 * How long a lease was held, per job kind, in seconds.
 *
 * @category metrics
 */
export const leaseDurationSeconds = Metric.histogram("gpu_lease_duration_seconds", {
  description: "Seconds a GPU lease was held, per job kind",
  boundaries: Metric.boundariesFromIterable([0.1, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200])
})

/**
 * Requests refused at once: `too_large` (no device could ever hold them) or `queue_full` (admission control).
 *
 * @category metrics
 */
export const rejectionsTotal = Metric.counter("gpu_rejections_total", {
  description: "GPU lease requests refused, per reason",
  incremental: true
})

/**
 * Leases whose model was not loaded on their device (the job loads it first).
 *
 * @category metrics
 */
export const modelLoadsTotal = Metric.counter("gpu_model_loads_total", {
  description: "GPU leases that load their model on the device, per device",
  incremental: true
})

/**
 * The reasons of {@link rejectionsTotal}.
 *
 * @category models
 */
export type RejectionReason = "too_large" | "queue_full"
