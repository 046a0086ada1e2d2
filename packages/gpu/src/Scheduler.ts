/**
 * The VRAM scheduler: jobs ask for a lease on a GPU's memory and encoder sessions, wait in a priority queue
 * when there is no room, and hold the lease until their scope closes.
 *
 * - **Leases are scoped.** `acquire` adds the release to the caller's `Scope`, so a lease goes back when the
 *   scope closes, whatever ends it: success, failure, timeout, interruption, or the death of the fiber or
 *   entity that owns the scope. A caller interrupted while it waits leaves the queue; a grant that races the
 *   interruption is released at once, never leaked.
 * - **Order and placement**: priority classes with aging (a low job ranks with critical ones after
 *   `3 × agingSeconds`), weighted fair share across channels, model affinity, best fit on free VRAM with
 *   encoder sessions as a second resource, and compute packing; see `SchedulerCore` for the rules, which
 *   the simulator runs unchanged.
 * - **Refusals are immediate**: a request no device could ever hold fails with `GpuRequestTooLarge`; a request
 *   that finds `maxQueued` jobs waiting fails with `GpuQueueFull` (admission control).
 * - **Health**: only `healthy` devices take new leases; `draining` and `unavailable` ones keep the leases they
 *   hold until those end. `setHealth` is how the health monitor tells the scheduler.
 *
 * **Invariant**: on every device the VRAM held by leases never exceeds `usableMiB`, nor its encoder sessions
 * the device's limit, under any concurrency and interruption: every step of the scheduler is one synchronous
 * state change that no other fiber can interleave with.
 *
 * @since 0.1.0
 */
import { Gpu, GpuJobSpec, type Ids, Priority } from "@ytempire/domain"
import { Clock, Context, Deferred, Effect, Layer, Metric, type Scope } from "effect"
import type { GpuDevice, GpuLease } from "./Device.ts"
import * as GpuMetrics from "./GpuMetrics.ts"
import { type CoreLease, SchedulerCore, type Ticket } from "./SchedulerCore.ts"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * The scheduler's devices and rules.
 *
 * @category models
 */
export interface SchedulerConfig {
  /** The devices to lease (from the inventory); none means every request is too large. */
  readonly devices: ReadonlyArray<GpuDevice>
  /** Where the devices came from, for `status` (default `configured`, or `none` without devices). */
  readonly source?: Gpu.InventorySource | undefined
  /** Jobs that may wait at once; one more is refused with `GpuQueueFull` (default 10,000). */
  readonly maxQueued?: number | undefined
  /** Seconds of waiting that move a job one priority class up (default 300: low ranks as critical after 15 min). */
  readonly agingSeconds?: number | undefined
  /** Seconds the first job in the queue waits before a device is reserved for it (default `agingSeconds`). */
  readonly reserveAfterSeconds?: number | undefined
  /** How far a job whose model is loaded may pass one that must load its model, in fair-share seconds (60). */
  readonly affinityWindowSeconds?: number | undefined
  /** Channels' weights in the fair share (default 1 each). */
  readonly channelWeights?: Readonly<Record<string, number>> | undefined
}

/**
 * Who asks: the channel shares the GPUs fairly with other channels; the video is recorded on the span.
 *
 * @category models
 */
export interface AcquireOptions {
  readonly channel?: Ids.ChannelId | undefined
  readonly video?: Ids.VideoId | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * The VRAM scheduler.
 *
 * **When to use**: every GPU stage acquires a lease for its job spec in a scope around the work, and runs the
 * work on `lease.device` (the process runner does this).
 *
 * **Gotchas**
 * - The lease is released when the *scope* closes, not when the work ends: acquire it in a scope that ends with
 *   the work (`Effect.scoped` around the stage), not in a long-lived one.
 * - Figures are estimates: the scheduler never leases past `usableMiB` by the specs' `vramMiB`, but a job that
 *   uses more than it asked for can still run the card out of memory.
 *
 * @category services
 */
export class Scheduler extends Context.Service<Scheduler, {
  /**
   * A lease on one device for `spec`, waiting in the queue until there is room; released when the scope closes.
   * Fails at once with `GpuRequestTooLarge` when no device could ever hold it and with `GpuQueueFull` when the
   * queue is full.
   */
  readonly acquire: (
    spec: GpuJobSpec.GpuJobSpec,
    options?: AcquireOptions
  ) => Effect.Effect<GpuLease, GpuJobSpec.GpuRequestTooLarge | GpuJobSpec.GpuQueueFull, Scope.Scope>
  /** Each device's memory, sessions, health and loaded models, and the jobs waiting per class. */
  readonly status: Effect.Effect<Gpu.GpuStatus>
  /**
   * Sets a device's health: `draining` and `unavailable` devices take no new leases (their leases run on);
   * `healthy` takes them again. An unknown device id is logged and ignored.
   */
  readonly setHealth: (deviceId: Ids.GpuDeviceId, health: Gpu.GpuHealth) => Effect.Effect<void>
}>()("@ytempire/gpu/Scheduler") {
  /**
   * The scheduler over the given devices.
   *
   * @category layers
   */
  static layer(config: SchedulerConfig): Layer.Layer<Scheduler> {
    return Layer.effect(Scheduler, make(config))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// implementation

/** The lease as its holder sees it. */
const toLease = (lease: CoreLease, spec: GpuJobSpec.GpuJobSpec): GpuLease => ({
  leaseId: lease.id,
  device: lease.device.device,
  vramMiB: lease.vramMiB,
  encoderSessions: lease.encoderSessions,
  spec
})

/** Seconds since the epoch, from the effect's clock (a `TestClock` in tests). */
const nowSeconds = (clock: Clock.Clock) => clock.currentTimeMillisUnsafe() / 1000

/**
 * Builds the scheduler; its metrics go to the metric registry of the context it is built in.
 *
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(config: SchedulerConfig) {
  const context = yield* Effect.context<never>()
  const clock = yield* Clock.Clock
  const devices = config.devices
  const deviceMetrics = new Map(devices.map((device) => {
    const attributes = { device: device.id }
    return [device.id, {
      leased: Metric.withAttributes(GpuMetrics.vramLeasedBytes, attributes),
      resident: Metric.withAttributes(GpuMetrics.vramResidentBytes, attributes),
      usable: Metric.withAttributes(GpuMetrics.vramUsableBytes, attributes),
      sessions: Metric.withAttributes(GpuMetrics.encoderSessionsLeased, attributes),
      loads: Metric.withAttributes(GpuMetrics.modelLoadsTotal, attributes)
    }] as const
  }))
  const queueMetrics = Priority.all.map((priority) => Metric.withAttributes(GpuMetrics.queueDepth, { priority }))
  const waitMetrics = Priority.all.map((priority) => Metric.withAttributes(GpuMetrics.waitSeconds, { priority }))
  const rejection = (reason: GpuMetrics.RejectionReason) =>
    Metric.withAttributes(GpuMetrics.rejectionsTotal, { reason }).updateUnsafe(1, context)

  const weights = config.channelWeights ?? {}
  const agingSeconds = config.agingSeconds ?? 300
  const core = new SchedulerCore(devices, {
    policy: "ytempire",
    agingSeconds,
    maxQueued: config.maxQueued ?? 10_000,
    reserveAfterSeconds: config.reserveAfterSeconds ?? agingSeconds,
    affinityWindowSeconds: config.affinityWindowSeconds ?? 60,
    channelWeight: (channel) => weights[channel] ?? 1
  }, {
    // Inside a scheduler step: record, never call back into the core.
    granted: (lease, waitSeconds) => {
      waitMetrics[lease.ticket.rank]!.updateUnsafe(waitSeconds, context)
      if (lease.loadsModel) deviceMetrics.get(lease.device.device.id)!.loads.updateUnsafe(1, context)
    },
    released: (lease, heldSeconds) =>
      Metric.withAttributes(GpuMetrics.leaseDurationSeconds, { kind: lease.ticket.spec.kind }).updateUnsafe(
        heldSeconds,
        context
      )
  })

  /** Brings the gauges up to date after a step. */
  const publish = () => {
    for (const state of core.devices) {
      const metrics = deviceMetrics.get(state.device.id)!
      metrics.leased.updateUnsafe(state.activeMiB * GpuMetrics.bytesPerMiB, context)
      metrics.resident.updateUnsafe((state.activeMiB + state.idleMiB) * GpuMetrics.bytesPerMiB, context)
      metrics.sessions.updateUnsafe(state.sessions, context)
    }
    const queued = core.queuedPerRank
    for (let rank = 0; rank < queueMetrics.length; rank++) queueMetrics[rank]!.updateUnsafe(queued[rank]!, context)
  }
  for (const device of devices) {
    deviceMetrics.get(device.id)!.usable.updateUnsafe(device.usableMiB * GpuMetrics.bytesPerMiB, context)
  }
  publish()

  const release = (lease: CoreLease) =>
    Effect.sync(() => {
      core.release(lease, nowSeconds(clock))
      publish()
    })

  /** Gives up a ticket: out of the queue, or, when its grant raced the interruption, its lease released. */
  const cancel = (ticket: Ticket) =>
    Effect.sync(() => {
      core.cancel(ticket, nowSeconds(clock))
      publish()
    })

  const acquire = Effect.fn("Scheduler.acquire")(
    function*(spec: GpuJobSpec.GpuJobSpec, options?: AcquireOptions) {
      yield* Effect.annotateCurrentSpan({
        "gpu.kind": spec.kind,
        "gpu.vram_mib": spec.vramMiB,
        "gpu.priority": spec.priority,
        "ytempire.gpu.vram_mib": spec.vramMiB,
        ...(options?.channel === undefined ? {} : { "ytempire.channel.id": options.channel }),
        ...(options?.video === undefined ? {} : { "ytempire.video.id": options.video })
      })
      return yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const granted = Deferred.makeUnsafe<CoreLease>()
          const result = core.submit(
            spec,
            options?.channel ?? "",
            nowSeconds(clock),
            (lease) => Deferred.doneUnsafe(granted, Effect.succeed(lease))
          )
          publish()
          switch (result._tag) {
            case "TooLarge": {
              rejection("too_large")
              return yield* new GpuJobSpec.GpuRequestTooLarge({
                kind: spec.kind,
                requestedMiB: spec.vramMiB,
                largestUsableMiB: result.largestUsableMiB,
                ...(result.encoderSessionLimit === undefined
                  ? {}
                  : { encoderSessions: spec.encoderSessions, encoderSessionLimit: result.encoderSessionLimit })
              })
            }
            case "QueueFull": {
              rejection("queue_full")
              return yield* new GpuJobSpec.GpuQueueFull({ kind: spec.kind, queued: result.queued, limit: result.limit })
            }
            case "Granted": {
              yield* Effect.addFinalizer(() => release(result.lease))
              yield* Effect.annotateCurrentSpan("ytempire.gpu.device", result.lease.device.device.id)
              return toLease(result.lease, spec)
            }
            case "Queued": {
              // Only the wait is interruptible; whatever ends it, a granted lease either reaches the
              // finalizer below or is released by `cancel`.
              const lease = yield* restore(Deferred.await(granted)).pipe(
                Effect.onInterrupt(() => cancel(result.ticket))
              )
              yield* Effect.addFinalizer(() => release(lease))
              yield* Effect.annotateCurrentSpan("ytempire.gpu.device", lease.device.device.id)
              return toLease(lease, spec)
            }
          }
        })
      )
    }
  )

  const status = Effect.sync(() =>
    new Gpu.GpuStatus({
      source: config.source ?? (devices.length === 0 ? "none" : "configured"),
      devices: core.devices.map((state) =>
        new Gpu.GpuDeviceStatus({
          id: state.device.id,
          index: state.device.index,
          name: state.device.name,
          totalMiB: state.device.totalMiB,
          usableMiB: state.device.usableMiB,
          leasedMiB: state.activeMiB,
          encoderSessions: state.device.encoderSessions,
          encoderSessionsLeased: state.sessions,
          health: state.health,
          loadedModels: core.loadedModels(state)
        })
      ),
      queued: new Gpu.GpuQueueDepth({
        critical: core.queuedPerRank[0]!,
        high: core.queuedPerRank[1]!,
        normal: core.queuedPerRank[2]!,
        low: core.queuedPerRank[3]!
      })
    })
  )

  const setHealth = Effect.fn("Scheduler.setHealth")(function*(deviceId: Ids.GpuDeviceId, health: Gpu.GpuHealth) {
    const known = core.setHealth(deviceId, health, nowSeconds(clock))
    publish()
    if (!known) yield* Effect.logWarning(`GPU scheduler: no device ${deviceId}; health ${health} ignored`)
  })

  return Scheduler.of({ acquire, status, setHealth })
})
