import { assert, describe, expect, it } from "@effect/vitest"
import { GpuJobSpec, Ids } from "@ytempire/domain"
import type { GpuDevice } from "@ytempire/gpu/Device"
import * as GpuMetrics from "@ytempire/gpu/GpuMetrics"
import { Scheduler, type SchedulerConfig } from "@ytempire/gpu/Scheduler"
import { Deferred, Effect, Exit, Fiber, Metric, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"

const deviceId = Schema.decodeSync(Ids.GpuDeviceId)
const channelId = Schema.decodeSync(Ids.ChannelId)

const device = (index: number, usableMiB: number, encoderSessions = 8): GpuDevice => ({
  id: deviceId(`gpu${index}`),
  index,
  name: "test-gpu",
  uuid: `GPU-${index}`,
  totalMiB: usableMiB + 1024,
  headroomMiB: 1024,
  usableMiB,
  encoderSessions,
  encoderEngines: 3
})

const spec = (fields: Partial<ConstructorParameters<typeof GpuJobSpec.GpuJobSpec>[0]> = {}) =>
  new GpuJobSpec.GpuJobSpec({
    kind: "image",
    vramMiB: 6000,
    estimatedSeconds: 10,
    computeShare: 0.1,
    priority: "normal",
    ...fields
  })

/** Runs `body` with a scheduler over `config`, built in the test's context (its TestClock, a fresh registry). */
const withScheduler = <A, E>(config: SchedulerConfig, body: (scheduler: Scheduler["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    return yield* body(scheduler)
  }).pipe(
    Effect.provide(Scheduler.layer(config)),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

/** Lets forked fibers run up to their next wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

/** Holds a lease for `seconds` (virtual), recording the order of grants in `order`. */
const hold = (
  scheduler: Scheduler["Service"],
  name: string,
  job: GpuJobSpec.GpuJobSpec,
  seconds: number,
  order: Array<string>,
  channel = "c1"
) =>
  Effect.scoped(Effect.gen(function*() {
    const lease = yield* scheduler.acquire(job, { channel: channelId(channel) })
    order.push(name)
    yield* Effect.sleep(`${seconds} seconds`)
    return lease
  }))

/** A job of `priority` that takes most of a 10,000 MiB device. */
const big = (priority: "critical" | "high" | "normal" | "low") => spec({ vramMiB: 8000, priority })

const bytes = (metric: Metric.Gauge<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)

const leased = (scheduler: Scheduler["Service"]) =>
  Effect.map(scheduler.status, (status) => status.devices.map((d) => d.leasedMiB))

describe("Scheduler", () => {
  it.effect("refuses at once a job bigger than every device, and one with more encoder sessions than any allows", () =>
    withScheduler({ devices: [device(0, 8000), device(1, 31_744)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        // Both devices busy: a too-large job must still fail at once, not wait.
        yield* Effect.forkChild(hold(scheduler, "a", spec({ vramMiB: 8000 }), 100, order))
        yield* Effect.forkChild(hold(scheduler, "b", spec({ vramMiB: 31_744 }), 100, order))
        yield* settle
        const tooBig = yield* Effect.flip(Effect.scoped(scheduler.acquire(spec({ vramMiB: 40_000 }))))
        assert.instanceOf(tooBig, GpuJobSpec.GpuRequestTooLarge)
        expect(tooBig).toMatchObject({ requestedMiB: 40_000, largestUsableMiB: 31_744 })
        const tooManySessions = yield* Effect.flip(
          Effect.scoped(scheduler.acquire(spec({ kind: "render", vramMiB: 2048, encoderSessions: 9 })))
        )
        assert.instanceOf(tooManySessions, GpuJobSpec.GpuRequestTooLarge)
        expect(tooManySessions).toMatchObject({ encoderSessions: 9, encoderSessionLimit: 8 })
        expect(tooManySessions.message).toContain("NVENC sessions")
        expect((yield* scheduler.status).queued.normal).toBe(0)
      })))

  it.effect("refuses with GpuQueueFull when maxQueued jobs wait, and admits again when one leaves", () =>
    withScheduler({ devices: [device(0, 10_000)], maxQueued: 2 }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        yield* Effect.forkChild(hold(scheduler, "holder", spec({ vramMiB: 10_000 }), 100, order))
        yield* settle
        const first = yield* Effect.forkChild(hold(scheduler, "w1", spec(), 1, order))
        yield* Effect.forkChild(hold(scheduler, "w2", spec(), 1, order))
        yield* settle
        const full = yield* Effect.flip(Effect.scoped(scheduler.acquire(spec({ kind: "llm" }))))
        assert.instanceOf(full, GpuJobSpec.GpuQueueFull)
        expect(full).toMatchObject({ kind: "llm", queued: 2, limit: 2 })
        expect(full.isRetryable).toBe(true)
        expect(full.message).toContain("GPU queue full")
        yield* Fiber.interrupt(first)
        const admitted = yield* Effect.forkChild(hold(scheduler, "w3", spec(), 1, order))
        yield* settle
        expect((yield* scheduler.status).queued.normal).toBe(2)
        const rejected = yield* Metric.value(
          Metric.withAttributes(GpuMetrics.rejectionsTotal, { reason: "queue_full" })
        )
        expect(rejected.count).toBe(1)
        yield* TestClock.adjust("100 seconds")
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(admitted)
        expect(order).toEqual(["holder", "w2", "w3"])
      })))

  it.effect("grants by priority class: critical, high, normal, low", () =>
    withScheduler({ devices: [device(0, 10_000)], agingSeconds: 100_000 }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        yield* Effect.forkChild(hold(scheduler, "first", big("normal"), 10, order))
        yield* settle
        for (const priority of ["low", "normal", "high", "critical"] as const) {
          yield* Effect.forkChild(hold(scheduler, priority, big(priority), 10, order, `c-${priority}`))
          yield* settle
        }
        expect((yield* scheduler.status).queued).toMatchObject({ critical: 1, high: 1, normal: 1, low: 1 })
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("10 seconds")
        expect(order).toEqual(["first", "critical", "high", "normal", "low"])
      })))

  it.effect("ages a waiting job: after 3 aging steps a low job goes before a critical one that came later", () =>
    Effect.gen(function*() {
      for (const waited of [25, 31]) {
        const granted = yield* withScheduler(
          { devices: [device(0, 10_000)], agingSeconds: 10 },
          (scheduler) =>
            Effect.gen(function*() {
              const order: Array<string> = []
              // The device frees up 2 s after the critical job arrives: that is when the two are compared.
              yield* Effect.forkChild(hold(scheduler, "holder", big("critical"), waited + 2, order, "h"))
              yield* settle
              yield* Effect.forkChild(hold(scheduler, "low", big("low"), 10, order, "l"))
              yield* settle
              yield* TestClock.adjust(`${waited} seconds`)
              yield* Effect.forkChild(hold(scheduler, "critical", big("critical"), 10, order, "c"))
              yield* settle
              for (let i = 0; i < 6; i++) yield* TestClock.adjust("10 seconds")
              return order
            })
        )
        // 27 s of waiting is 2 steps (low → high): the critical job goes first; 33 s is 3 steps (low → critical),
        // and the low job, older, goes first.
        expect(granted).toEqual(waited < 30 ? ["holder", "critical", "low"] : ["holder", "low", "critical"])
      }
    }))

  it.effect("shares across channels: a channel with 50 jobs waiting does not hold back one with 1", () =>
    withScheduler({ devices: [device(0, 10_000)], agingSeconds: 100_000 }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        yield* Effect.forkChild(hold(scheduler, "holder", spec({ vramMiB: 8000 }), 10, order, "busy"))
        yield* settle
        for (let i = 0; i < 50; i++) {
          yield* Effect.forkChild(hold(scheduler, `busy-${i}`, spec({ vramMiB: 8000 }), 10, order, "busy"))
        }
        yield* settle
        yield* Effect.forkChild(hold(scheduler, "quiet", spec({ vramMiB: 8000 }), 10, order, "quiet"))
        yield* settle
        for (let i = 0; i < 3; i++) yield* TestClock.adjust("10 seconds")
        // The holder, then at most one of the busy channel's jobs, then the quiet channel's.
        expect(order.slice(0, 3)).toContain("quiet")
        expect(order.indexOf("busy-1")).toBeGreaterThan(order.indexOf("quiet"))
      })))

  it.effect("prefers the device where the job's model is loaded, and groups jobs of a loaded model", () =>
    withScheduler({ devices: [device(0, 12_000), device(1, 24_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        const sdxl = spec({ vramMiB: 9216, computeShare: 1, modelKey: "sdxl", modelLoadSeconds: 10 })
        // gpu0 is busy, so the first SDXL job lands on gpu1 and leaves the model loaded there.
        yield* Effect.forkChild(hold(scheduler, "filler", spec({ vramMiB: 12_000 }), 5, order))
        yield* settle
        const first = yield* Effect.forkChild(hold(scheduler, "sdxl-1", sdxl, 5, order))
        yield* settle
        yield* TestClock.adjust("5 seconds")
        expect((yield* Fiber.join(first)).device.id).toBe("gpu1")
        // Best fit alone would pick gpu0 (12,000 MiB); the loaded model wins.
        const second = yield* Effect.scoped(scheduler.acquire(sdxl))
        expect(second.device.id).toBe("gpu1")
        const loads = yield* Metric.value(Metric.withAttributes(GpuMetrics.modelLoadsTotal, { device: "gpu1" }))
        expect(loads.count).toBe(1)
        expect((yield* scheduler.status).devices[1]!.loadedModels).toEqual(["sdxl"])
      })))

  it.effect("lets a job whose model is loaded pass an older one that would load its model", () =>
    withScheduler({ devices: [device(0, 24_000)], agingSeconds: 100_000 }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        const sdxl = spec({ vramMiB: 9216, computeShare: 1, modelKey: "sdxl" })
        const llama = spec({ kind: "llm", vramMiB: 10_000, computeShare: 1, modelKey: "llama" })
        yield* Effect.scoped(scheduler.acquire(sdxl))
        // Both want the whole compute: one at a time. The llama job is older; sdxl is loaded and idle.
        yield* Effect.forkChild(hold(scheduler, "holder", spec({ vramMiB: 10_000, computeShare: 1 }), 10, order))
        yield* settle
        yield* Effect.forkChild(hold(scheduler, "llama", llama, 10, order, "c2"))
        yield* settle
        yield* Effect.forkChild(hold(scheduler, "sdxl", sdxl, 10, order, "c3"))
        yield* settle
        for (let i = 0; i < 3; i++) yield* TestClock.adjust("10 seconds")
        expect(order).toEqual(["holder", "sdxl", "llama"])
      })))

  it.effect("gives a draining device no new leases, lets its lease run on, and uses it again once healthy", () =>
    withScheduler({ devices: [device(0, 10_000), device(1, 10_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        const running = yield* Effect.forkChild(hold(scheduler, "running", spec({ vramMiB: 4000 }), 10, order))
        yield* settle
        expect(yield* leased(scheduler)).toEqual([4000, 0])
        yield* scheduler.setHealth(deviceId("gpu0"), "draining")
        const elsewhere = yield* Effect.forkChild(hold(scheduler, "elsewhere", spec({ vramMiB: 4000 }), 100, order))
        const waiting = yield* Effect.forkChild(hold(scheduler, "waiting", spec({ vramMiB: 8000 }), 100, order))
        yield* settle
        // gpu0 has 6,000 MiB free but drains; gpu1 has 6,000 MiB left: the 8,000 MiB job waits.
        expect(yield* leased(scheduler)).toEqual([4000, 4000])
        expect((yield* scheduler.status).queued.normal).toBe(1)
        yield* TestClock.adjust("10 seconds")
        expect((yield* Fiber.join(running)).device.id).toBe("gpu0")
        expect(yield* leased(scheduler)).toEqual([0, 4000])
        yield* scheduler.setHealth(deviceId("gpu0"), "healthy")
        yield* settle
        expect(yield* leased(scheduler)).toEqual([8000, 4000])
        expect(order).toEqual(["running", "elsewhere", "waiting"])
        expect((yield* scheduler.status).devices.map((d) => d.health)).toEqual(["healthy", "healthy"])
        yield* Fiber.interrupt(elsewhere)
        yield* Fiber.interrupt(waiting)
        expect(yield* leased(scheduler)).toEqual([0, 0])
      })))

  it.effect("releases on interruption of the waiting fiber: it leaves the queue and never gets a lease", () =>
    withScheduler({ devices: [device(0, 10_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        yield* Effect.forkChild(hold(scheduler, "holder", spec({ vramMiB: 10_000 }), 10, order))
        yield* settle
        const waiter = yield* Effect.forkChild(hold(scheduler, "waiter", spec({ vramMiB: 10_000 }), 10, order))
        yield* settle
        expect((yield* scheduler.status).queued.normal).toBe(1)
        yield* Fiber.interrupt(waiter)
        expect((yield* scheduler.status).queued.normal).toBe(0)
        yield* TestClock.adjust("10 seconds")
        expect(order).toEqual(["holder"])
        expect(yield* leased(scheduler)).toEqual([0])
      })))

  it.effect("releases on interruption of the holding fiber, and on a timeout while waiting", () =>
    withScheduler({ devices: [device(0, 10_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        const holder = yield* Effect.forkChild(hold(scheduler, "holder", spec({ vramMiB: 10_000 }), 1000, order))
        yield* settle
        expect(yield* leased(scheduler)).toEqual([10_000])
        const timedOut = yield* Effect.forkChild(
          Effect.scoped(scheduler.acquire(spec({ vramMiB: 10_000 })).pipe(Effect.timeout("5 seconds")))
        )
        yield* settle
        yield* TestClock.adjust("5 seconds")
        expect(Exit.isFailure(yield* Fiber.await(timedOut))).toBe(true)
        expect((yield* scheduler.status).queued.normal).toBe(0)
        yield* Fiber.interrupt(holder)
        expect(yield* leased(scheduler)).toEqual([0])
      })))

  it.effect("never leaks a grant that races an interrupt", () =>
    withScheduler({ devices: [device(0, 10_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        yield* Scope.provide(scheduler.acquire(spec({ vramMiB: 10_000 })), scope)
        const granted = yield* Deferred.make<void>()
        const waiter = yield* Effect.forkChild(Effect.scoped(
          scheduler.acquire(spec({ vramMiB: 10_000 })).pipe(
            Effect.andThen(Deferred.succeed(granted, undefined)),
            Effect.andThen(Effect.never)
          )
        ))
        yield* settle
        // The release grants the waiter's lease; the interrupt reaches the waiter before it runs again.
        yield* Scope.close(scope, Exit.void)
        yield* Fiber.interrupt(waiter)
        expect(yield* leased(scheduler)).toEqual([0])
        expect((yield* scheduler.status).devices[0]!.encoderSessionsLeased).toBe(0)
        // The device is free for the next job.
        const next = yield* Effect.scoped(scheduler.acquire(spec({ vramMiB: 10_000 })))
        expect(next.device.id).toBe("gpu0")
      })))

  it.effect("reports leases, sessions, queue and waits in status and metrics", () =>
    withScheduler({ devices: [device(0, 16_000)] }, (scheduler) =>
      Effect.gen(function*() {
        const order: Array<string> = []
        const render = spec({ kind: "render", vramMiB: 2048, computeShare: 0.25, encoderSessions: 1 })
        yield* Effect.forkChild(hold(scheduler, "r1", render, 20, order))
        yield* Effect.forkChild(hold(scheduler, "big", spec({ vramMiB: 14_000, priority: "high" }), 20, order))
        yield* settle
        const status = yield* scheduler.status
        expect(status.source).toBe("configured")
        expect(status.devices[0]).toMatchObject({ leasedMiB: 2048, encoderSessionsLeased: 1, usableMiB: 16_000 })
        expect(status.queued).toMatchObject({ high: 1, normal: 0 })
        expect(yield* bytes(GpuMetrics.vramLeasedBytes, { device: "gpu0" })).toBe(2048 * 1024 * 1024)
        expect(yield* bytes(GpuMetrics.vramUsableBytes, { device: "gpu0" })).toBe(16_000 * 1024 * 1024)
        expect(yield* bytes(GpuMetrics.queueDepth, { priority: "high" })).toBe(1)
        yield* TestClock.adjust("20 seconds")
        yield* settle
        const waits = yield* Metric.value(Metric.withAttributes(GpuMetrics.waitSeconds, { priority: "high" }))
        expect(waits.count).toBe(1)
        expect(waits.max).toBe(20)
        const durations = yield* Metric.value(
          Metric.withAttributes(GpuMetrics.leaseDurationSeconds, { kind: "render" })
        )
        expect(durations.count).toBe(1)
        expect(durations.sum).toBe(20)
        expect(yield* bytes(GpuMetrics.queueDepth, { priority: "high" })).toBe(0)
        expect(yield* bytes(GpuMetrics.vramLeasedBytes, { device: "gpu0" })).toBe(14_000 * 1024 * 1024)
      })))
})
