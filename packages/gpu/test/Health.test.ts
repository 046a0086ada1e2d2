import { assert, describe, expect, it } from "@effect/vitest"
import type { Gpu, Ids } from "@ytempire/domain"
import type { GpuDevice } from "@ytempire/gpu/Device"
import { evaluate, HealthMonitor } from "@ytempire/gpu/Health"
import { GpuInventory, type GpuReading } from "@ytempire/gpu/Inventory"
import { NvidiaSmiFailed } from "@ytempire/gpu/NvidiaSmi"
import { Clock, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"

const reading = (temperatureC: number | undefined, faults: ReadonlyArray<string> = []): GpuReading => ({
  deviceId: "gpu0" as Ids.GpuDeviceId,
  ...(temperatureC === undefined ? {} : { temperatureC }),
  faults
})

describe("evaluate", () => {
  it("is unavailable when the device is missing from the readings", () => {
    expect(evaluate(undefined, "healthy")).toBe("unavailable")
    expect(evaluate(undefined, "draining")).toBe("unavailable")
  })

  it("drains a device the driver reports an error for, however cool", () => {
    expect(evaluate(reading(40, ["temperature.gpu: [GPU requires reset]"]), "healthy")).toBe("draining")
    expect(evaluate(reading(undefined, ["memory.used: ERR!"]), "healthy")).toBe("draining")
  })

  it("drains a device hotter than 85 °C and takes it back only below 80 °C", () => {
    expect(evaluate(reading(85), "healthy")).toBe("healthy")
    expect(evaluate(reading(86), "healthy")).toBe("draining")
    expect(evaluate(reading(84), "draining")).toBe("draining")
    expect(evaluate(reading(80), "draining")).toBe("draining")
    expect(evaluate(reading(79), "draining")).toBe("healthy")
    // A device coming back from "unavailable" is judged on its temperature alone.
    expect(evaluate(reading(82), "unavailable")).toBe("healthy")
  })

  it("is healthy when the card reports no temperature", () => {
    expect(evaluate(reading(undefined), "healthy")).toBe("healthy")
  })

  it("uses the limit and hysteresis it is given", () => {
    const options = { temperatureLimitC: 75, hysteresisC: 10 }
    expect(evaluate(reading(76), "healthy", options)).toBe("draining")
    expect(evaluate(reading(66), "draining", options)).toBe("draining")
    expect(evaluate(reading(64), "draining", options)).toBe("healthy")
  })
})

const device = (index: number): GpuDevice => ({
  id: `gpu${index}` as Ids.GpuDeviceId,
  index,
  name: "NVIDIA GeForce RTX 5090",
  uuid: "",
  totalMiB: 32768,
  headroomMiB: 1024,
  usableMiB: 31744,
  encoderSessions: 8,
  encoderEngines: 3
})

// An inventory of two GPUs whose readings the test sets: a temperature each, absent when the GPU has vanished,
// or a failed query.
const scenario = Effect.sync(() => {
  let temperatures: Record<string, number | undefined> = { gpu0: 60, gpu1: 60 }
  let queryFails = false
  const reports: Array<{ readonly at: number; readonly deviceId: string; readonly health: Gpu.GpuHealth }> = []
  const devices = [device(0), device(1)]
  const inventory = GpuInventory.layerTest({
    devices,
    readings: Effect.suspend(() =>
      queryFails
        ? Effect.fail(new NvidiaSmiFailed({ command: "nvidia-smi", message: "nvidia-smi did not answer within 10s" }))
        : Effect.succeed(devices.flatMap((d): Array<GpuReading> => {
          const temperatureC = temperatures[d.id]
          return temperatureC === undefined ? [] : [{ deviceId: d.id, temperatureC, faults: [] }]
        }))
    )
  })
  const monitor = HealthMonitor.layer({
    interval: "10 seconds",
    sink: (deviceId, health) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        reports.push({ at, deviceId, health })
      })
  }).pipe(Layer.provide(inventory))
  return {
    monitor,
    reports,
    set: (next: Record<string, number | undefined>) => {
      temperatures = { ...temperatures, ...next }
    },
    failQueries: (fail: boolean) => {
      queryFails = fail
    }
  }
})

describe("HealthMonitor", () => {
  it.effect("drains a device over 85 °C at the next poll and reports it back once it cools below 80 °C", () =>
    Effect.gen(function*() {
      const { monitor, reports, set } = yield* scenario
      yield* Effect.gen(function*() {
        const health = yield* HealthMonitor
        expect(reports).toEqual([])

        set({ gpu0: 91 })
        yield* TestClock.adjust("9 seconds")
        expect(reports).toEqual([])
        yield* TestClock.adjust("1 second")
        expect(reports).toEqual([{ at: 10_000, deviceId: "gpu0", health: "draining" }])

        // Still hot, then cooling but inside the hysteresis: no new report.
        yield* TestClock.adjust("10 seconds")
        set({ gpu0: 82 })
        yield* TestClock.adjust("10 seconds")
        expect(reports).toHaveLength(1)
        expect((yield* health.current).get("gpu0" as Ids.GpuDeviceId)).toBe("draining")

        set({ gpu0: 78 })
        yield* TestClock.adjust("10 seconds")
        expect(reports.map((r) => [r.deviceId, r.health])).toEqual([["gpu0", "draining"], ["gpu0", "healthy"]])
        expect([...(yield* health.current)]).toEqual([["gpu0", "healthy"], ["gpu1", "healthy"]])
      }).pipe(Effect.provide(monitor))
    }))

  it.effect("marks a device that vanished unavailable, and healthy again when it returns", () =>
    Effect.gen(function*() {
      const { monitor, reports, set } = yield* scenario
      yield* Effect.gen(function*() {
        yield* HealthMonitor
        set({ gpu1: undefined })
        yield* TestClock.adjust("10 seconds")
        expect(reports.map((r) => [r.deviceId, r.health])).toEqual([["gpu1", "unavailable"]])
        yield* TestClock.adjust("30 seconds")
        expect(reports).toHaveLength(1)
        set({ gpu1: 55 })
        yield* TestClock.adjust("10 seconds")
        expect(reports.map((r) => [r.deviceId, r.health])).toEqual([["gpu1", "unavailable"], ["gpu1", "healthy"]])
      }).pipe(Effect.provide(monitor))
    }))

  it.effect("drains every device while the readings cannot be taken", () =>
    Effect.gen(function*() {
      const { failQueries, monitor, reports } = yield* scenario
      yield* Effect.gen(function*() {
        yield* HealthMonitor
        failQueries(true)
        yield* TestClock.adjust("10 seconds")
        expect(reports.map((r) => [r.deviceId, r.health])).toEqual([["gpu0", "draining"], ["gpu1", "draining"]])
        failQueries(false)
        yield* TestClock.adjust("10 seconds")
        expect(reports.slice(2).map((r) => [r.deviceId, r.health])).toEqual([["gpu0", "healthy"], ["gpu1", "healthy"]])
      }).pipe(Effect.provide(monitor))
    }))

  it.effect("reports a device that is already hot at the first poll, when the monitor starts", () =>
    Effect.gen(function*() {
      const { monitor, reports, set } = yield* scenario
      set({ gpu1: 95 })
      yield* Effect.gen(function*() {
        const health = yield* HealthMonitor
        expect(reports.map((r) => [r.deviceId, r.health])).toEqual([["gpu1", "draining"]])
        // check polls at once, between the regular polls.
        set({ gpu1: 70 })
        const now = yield* health.check
        expect(now.get("gpu1" as Ids.GpuDeviceId)).toBe("healthy")
        assert.strictEqual(reports.length, 2)
      }).pipe(Effect.provide(monitor))
    }))

  it.effect("stops polling when its layer is released", () =>
    Effect.gen(function*() {
      const { monitor, reports, set } = yield* scenario
      yield* Effect.provide(HealthMonitor.use(() => Effect.void), monitor)
      set({ gpu0: 99 })
      yield* TestClock.adjust("1 minute")
      expect(reports).toEqual([])
    }))
})
