/**
 * GPU health: whether a device may take new leases. {@link evaluate} judges one reading; the
 * {@link HealthMonitor} polls the inventory's readings and reports each change of health to a sink (the
 * scheduler's `setHealth`), so a hot or failing device is drained and a vanished one taken out, and both come
 * back when they recover.
 *
 * - "unavailable": the device is missing from the readings (fallen off the bus, driver reset).
 * - "draining": the driver reports an error for one of its fields (`[GPU requires reset]`, `ERR!`), the query
 *   itself failed (nothing can be vouched for), or it is hotter than the limit (85 °C by default). A device
 *   drained while hot returns only once it is at least the hysteresis (5 °C) below the limit, so a card hovering
 *   at the limit does not flap.
 * - "healthy": otherwise, including when the card does not report a temperature.
 *
 * @since 0.1.0
 */
import type { Gpu, Ids } from "@ytempire/domain"
import { Context, Duration, Effect, Layer, Semaphore } from "effect"
import { GpuInventory, type GpuReading } from "./Inventory.ts"

/**
 * The temperature above which a device is drained, in °C.
 *
 * @category constants
 */
export const defaultTemperatureLimitC = 85

/**
 * How far below the limit a drained device must cool before it takes leases again, in °C.
 *
 * @category constants
 */
export const defaultHysteresisC = 5

/**
 * How often the monitor polls by default.
 *
 * @category constants
 */
export const defaultInterval: Duration.Duration = Duration.seconds(10)

/**
 * Thresholds of the evaluation.
 *
 * @category models
 */
export interface HealthOptions {
  /** Default {@link defaultTemperatureLimitC}. */
  readonly temperatureLimitC?: number | undefined
  /** Default {@link defaultHysteresisC}. */
  readonly hysteresisC?: number | undefined
}

/**
 * The health a reading shows, given the health the device had before (for the hysteresis); `undefined` when the
 * device is missing from the readings.
 *
 * **Gotchas**: the hysteresis applies to any draining device, not only a hot one: a device drained for a driver
 * error that clears while it is between the limit and the limit less the hysteresis stays draining until it
 * cools.
 *
 * @category evaluation
 */
export const evaluate = (
  reading: GpuReading | undefined,
  previous: Gpu.GpuHealth,
  options?: HealthOptions
): Gpu.GpuHealth => {
  if (reading === undefined) return "unavailable"
  if (reading.faults.length > 0) return "draining"
  const temperature = reading.temperatureC
  if (temperature === undefined) return "healthy"
  const limit = options?.temperatureLimitC ?? defaultTemperatureLimitC
  if (temperature > limit) return "draining"
  const resume = limit - (options?.hysteresisC ?? defaultHysteresisC)
  return previous === "draining" && temperature >= resume ? "draining" : "healthy"
}

/**
 * Where health changes go: the scheduler's `setHealth`, typically.
 *
 * @category models
 */
export type HealthSink<R = never> = (deviceId: Ids.GpuDeviceId, health: Gpu.GpuHealth) => Effect.Effect<void, never, R>

/**
 * How the monitor polls and whom it tells.
 *
 * @category models
 */
export interface MonitorOptions<R = never> extends HealthOptions {
  /** Called once per change of a device's health, never for an unchanged one. */
  readonly sink: HealthSink<R>
  /** Time between polls; default {@link defaultInterval}. */
  readonly interval?: Duration.Input | undefined
}

/**
 * Polls the inventory's readings and keeps each device's health.
 *
 * @category services
 */
export class HealthMonitor extends Context.Service<HealthMonitor, {
  /** Each device's health as of the last poll. */
  readonly current: Effect.Effect<ReadonlyMap<Ids.GpuDeviceId, Gpu.GpuHealth>>
  /** Polls now (besides the regular polls), reporting changes to the sink, and returns the new health. */
  readonly check: Effect.Effect<ReadonlyMap<Ids.GpuDeviceId, Gpu.GpuHealth>>
}>()("@ytempire/gpu/Health/HealthMonitor") {
  /**
   * A monitor that polls once when built and then every `interval` until the layer's scope closes. Every device
   * starts "healthy" (as the scheduler takes it to be), so the first poll reports only those that are not.
   *
   * When the readings cannot be taken (nvidia-smi failed or hung), every device is drained until they can.
   *
   * @category layers
   */
  static readonly layer = <R = never>(
    options: MonitorOptions<R>
  ): Layer.Layer<HealthMonitor, never, GpuInventory | R> =>
    Layer.effect(
      HealthMonitor,
      Effect.gen(function*() {
        const inventory = yield* GpuInventory
        const context = yield* Effect.context<R>()
        const lock = yield* Semaphore.make(1)
        const interval = options.interval ?? defaultInterval
        let health: ReadonlyMap<Ids.GpuDeviceId, Gpu.GpuHealth> = new Map(
          inventory.devices.map((device) => [device.id, "healthy"] as const)
        )

        const poll = Effect.gen(function*() {
          const readings = yield* inventory.readings.pipe(
            // Nothing can be vouched for: every device reads as failing.
            Effect.catch((error) =>
              Effect.succeed(
                inventory.devices.map((device): GpuReading => ({ deviceId: device.id, faults: [error.message] }))
              )
            )
          )
          const next = new Map<Ids.GpuDeviceId, Gpu.GpuHealth>()
          for (const device of inventory.devices) {
            const reading = readings.find((r) => r.deviceId === device.id)
            const before = health.get(device.id) ?? "healthy"
            const after = evaluate(reading, before, options)
            next.set(device.id, after)
            if (after !== before) {
              yield* Effect.logWarning(`GPU ${device.id} is now ${after}`).pipe(
                Effect.annotateLogs({
                  gpu: device.id,
                  from: before,
                  to: after,
                  ...(reading?.temperatureC === undefined ? {} : { temperatureC: reading.temperatureC }),
                  ...(reading === undefined || reading.faults.length === 0 ? {} : { faults: reading.faults.join("; ") })
                })
              )
              yield* options.sink(device.id, after).pipe(Effect.provideContext(context))
              // Recorded per device as it is reported, so a sink that dies midway is retried for the rest.
              health = new Map([...health, [device.id, after]])
            }
          }
          health = next
          return health
        })
        const check = lock.withPermits(1)(poll)

        yield* check
        yield* Effect.sleep(interval).pipe(
          Effect.andThen(check),
          Effect.catchDefect((defect) => Effect.logError("GPU health poll failed", defect)),
          Effect.forever,
          Effect.forkScoped
        )
        return HealthMonitor.of({ current: Effect.sync(() => health), check })
      })
    )
}
