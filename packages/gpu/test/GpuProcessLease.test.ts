/**
 * The scheduler and the process runner together, both real: a child process runs under a lease, and the lease
 * goes back only once the child is gone, within a second of an interruption (the grace, plus a second, for a
 * child that ignores SIGTERM).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import { GpuJobSpec, Ids } from "@ytempire/domain"
import type { GpuDevice } from "@ytempire/gpu/Device"
import * as GpuProcess from "@ytempire/gpu/GpuProcess"
import { Scheduler } from "@ytempire/gpu/Scheduler"
import { Clock, Effect, Fiber, FileSystem, Layer, Metric, Path, Schedule, Schema, type Scope } from "effect"

const rtx5090: GpuDevice = {
  id: Schema.decodeSync(Ids.GpuDeviceId)("GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13"),
  index: 0,
  name: "NVIDIA GeForce RTX 5090",
  uuid: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
  totalMiB: 32_768,
  headroomMiB: 1024,
  usableMiB: 31_744,
  encoderSessions: 8,
  encoderEngines: 3
}

const render = (vramMiB: number) =>
  new GpuJobSpec.GpuJobSpec({ kind: "render", vramMiB, estimatedSeconds: 10, computeShare: 0.5, priority: "normal" })

type SchedulerService = Scheduler["Service"]

/** A test with its own scheduler over the one device, Node's process spawner and file system, and a scope. */
const live = <A, E>(
  body: (scheduler: SchedulerService) => Effect.Effect<A, E, NodeServices.NodeServices | Scope.Scope>
) =>
  Effect.gen(function*() {
    return yield* body(yield* Scheduler)
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(Scheduler.layer({ devices: [rtx5090] }), NodeServices.layer)),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

/** Whether the process is gone: `kill(pid, 0)` fails with ESRCH (exited and reaped). */
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return true
    throw error
  }
}

/** What a child reports once it has started: its pid and the lease's variables it was given. */
const Started = Schema.fromJsonString(Schema.Struct({
  pid: Schema.Int,
  cudaVisibleDevices: Schema.String,
  vramMiB: Schema.String
}))

/**
 * A node child that writes {@link Started} to the file named by its first argument (atomically, by rename),
 * then runs `rest`.
 */
const child = (file: string, rest: string, before = "") => ({
  command: process.execPath,
  args: [
    "-e",
    `${before}
const fs = require("fs")
const file = process.argv[1]
fs.writeFileSync(file + ".tmp", JSON.stringify({
  pid: process.pid,
  cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES,
  vramMiB: process.env.YTEMPIRE_GPU_VRAM_MIB
}))
fs.renameSync(file + ".tmp", file)
${rest}`,
    file
  ]
})

const tempFile = (name: string) =>
  Effect.gen(function*() {
    const files = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    return path.join(yield* files.makeTempDirectoryScoped({ prefix: "ytempire-gpu-lease-" }), name)
  })

/** Waits until the child has written its start report. */
const started = (file: string) =>
  Effect.gen(function*() {
    const files = yield* FileSystem.FileSystem
    return yield* Schema.decodeEffect(Started)(yield* files.readFileString(file))
  }).pipe(Effect.retry(Schedule.spaced("5 millis")), Effect.timeout("5 seconds"))

interface Sample {
  readonly at: number
  readonly leasedMiB: number
  readonly queued: number
  /** Whether the watched child was still running just after `status` was read. */
  readonly childAlive: boolean
}

/**
 * Reads the scheduler's status every millisecond or so until the scope closes, checking just after each read
 * whether the child `pid()` names is still running.
 */
const watch = (scheduler: SchedulerService, pid: () => number | undefined) =>
  Effect.gen(function*() {
    const samples: Array<Sample> = []
    const sample = Effect.gen(function*() {
      const status = yield* scheduler.status
      const at = yield* Clock.currentTimeMillis
      const watched = pid()
      samples.push({
        at,
        leasedMiB: status.devices[0]!.leasedMiB,
        queued: status.queued.normal,
        childAlive: watched !== undefined && !gone(watched)
      })
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(sample, Effect.sleep("1 millis"))))
    return samples
  })

/** Waits until the watcher has taken a sample that satisfies `predicate`. */
const seen = (samples: ReadonlyArray<Sample>, predicate: (sample: Sample) => boolean) =>
  Effect.suspend(() => samples.some(predicate) ? Effect.void : Effect.fail("not yet")).pipe(
    Effect.retry(Schedule.spaced("1 millis")),
    Effect.timeout("1 second")
  )

describe("GpuProcess.run under a Scheduler lease", () => {
  it.live("interrupted: the child is gone and the lease free within a second", () =>
    live((scheduler) =>
      Effect.gen(function*() {
        const file = yield* tempFile("job.json")
        let pid: number | undefined
        const samples = yield* watch(scheduler, () => pid)

        const job = Effect.scoped(Effect.gen(function*() {
          const lease = yield* scheduler.acquire(render(4096))
          return yield* GpuProcess.run(lease, { ...child(file, "setInterval(() => {}, 1000)"), killGrace: "5 seconds" })
        }))
        const fiber = yield* Effect.forkChild(job)
        const report = yield* started(file)
        pid = report.pid

        // The child runs on the leased device, and the lease is held.
        expect(report.cudaVisibleDevices).toBe(rtx5090.uuid)
        expect(report.vramMiB).toBe("4096")
        expect(gone(report.pid)).toBe(false)
        expect((yield* scheduler.status).devices[0]!.leasedMiB).toBe(4096)
        // Seen from outside too, before the interruption.
        yield* seen(samples, (s) => s.leasedMiB === 4096 && s.childAlive)

        const interruptedAt = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(fiber)
        const completedAt = yield* Clock.currentTimeMillis

        // It exits on SIGTERM: the run completes well within the 5 s grace.
        expect(completedAt - interruptedAt).toBeLessThan(1_000)
        expect(() => process.kill(report.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }))
        expect((yield* scheduler.status).devices[0]!.leasedMiB).toBe(0)

        // Let the watcher read the status again.
        yield* Effect.sleep("20 millis")
        // Seen from outside: the lease freed within a second of the interruption, with the child gone by then.
        const after = samples.filter((s) => s.at >= interruptedAt)
        const freed = after.find((s) => s.leasedMiB === 0)
        assert(freed !== undefined, "status never showed the lease freed")
        expect(freed.at - interruptedAt).toBeLessThan(1_000)
        expect(samples.filter((s) => s.leasedMiB === 0 && s.at >= interruptedAt && s.childAlive)).toEqual([])
      })
    ))

  it.live("a job waiting for a full device gets its lease once the holder's child exits and its scope closes", () =>
    live((scheduler) =>
      Effect.gen(function*() {
        const firstFile = yield* tempFile("first.json")
        const secondFile = yield* tempFile("second.json")
        const events: Array<string> = []
        let pid: number | undefined
        const samples = yield* watch(scheduler, () => pid)

        // Fills the device's usable memory; its child exits on its own after 300 ms.
        const first = Effect.scoped(Effect.gen(function*() {
          const lease = yield* scheduler.acquire(render(rtx5090.usableMiB))
          events.push("first granted")
          const result = yield* GpuProcess.run(lease, child(firstFile, "setTimeout(() => {}, 300)"))
          events.push("first exited")
          return result
        }))
        const second = Effect.scoped(Effect.gen(function*() {
          const lease = yield* scheduler.acquire(render(4096))
          // What is leased once it is granted: its own lease alone, the first one gone.
          const leasedMiB = (yield* scheduler.status).devices[0]!.leasedMiB
          events.push(
            `second granted, first child ${
              pid !== undefined && gone(pid) ? "gone" : "running"
            }, ${leasedMiB} MiB leased`
          )
          const result = yield* GpuProcess.run(lease, child(secondFile, ""))
          events.push("second exited")
          return { lease, result }
        }))

        const firstFiber = yield* Effect.forkChild(first)
        const firstReport = yield* started(firstFile)
        pid = firstReport.pid
        expect((yield* scheduler.status).devices[0]!.leasedMiB).toBe(rtx5090.usableMiB)

        const secondFiber = yield* Effect.forkChild(second)
        // The second job waits in the queue while the first child runs.
        yield* scheduler.status.pipe(
          Effect.filterOrFail((status) => status.queued.normal === 1),
          Effect.retry(Schedule.spaced("1 millis")),
          Effect.timeout("1 second")
        )
        expect(events).toEqual(["first granted"])
        expect(gone(firstReport.pid)).toBe(false)

        const firstResult = yield* Fiber.join(firstFiber)
        expect(firstResult.pid).toBe(firstReport.pid)
        const { lease, result } = yield* Fiber.join(secondFiber)
        expect(events).toEqual([
          "first granted",
          "first exited",
          "second granted, first child gone, 4096 MiB leased",
          "second exited"
        ])
        expect(lease).toMatchObject({ device: rtx5090, vramMiB: 4096 })
        const secondReport = yield* started(secondFile)
        expect(secondReport).toEqual({ pid: result.pid, cudaVisibleDevices: rtx5090.uuid, vramMiB: "4096" })
        expect((yield* scheduler.status).devices[0]!.leasedMiB).toBe(0)

        // Never more leased than usable: the watcher saw the device full, then the second job's lease alone.
        const leased = samples.map((s) => s.leasedMiB)
        expect(Math.max(...leased)).toBe(rtx5090.usableMiB)
        expect(leased).toContain(4096)
        expect(leased.every((miB) => miB === 0 || miB === 4096 || miB === rtx5090.usableMiB)).toBe(true)
        expect(samples.some((s) => s.queued === 1 && s.leasedMiB === rtx5090.usableMiB)).toBe(true)
        // The second job's lease came only once the first child was gone.
        expect(samples.filter((s) => s.leasedMiB === 4096 && s.childAlive)).toEqual([])
      })
    ))

  it.live("a child that ignores SIGTERM is killed after the grace, and only then is the lease freed", () =>
    live((scheduler) =>
      Effect.gen(function*() {
        const file = yield* tempFile("stubborn.json")
        let pid: number | undefined
        const samples = yield* watch(scheduler, () => pid)

        const job = Effect.scoped(Effect.gen(function*() {
          const lease = yield* scheduler.acquire(render(4096))
          return yield* GpuProcess.run(lease, {
            // The handler is installed before the child reports that it has started.
            ...child(file, "setInterval(() => {}, 1000)", `process.on("SIGTERM", () => {})`),
            killGrace: "300 millis"
          })
        }))
        const fiber = yield* Effect.forkChild(job)
        const report = yield* started(file)
        pid = report.pid
        expect(gone(report.pid)).toBe(false)
        yield* seen(samples, (s) => s.leasedMiB === 4096 && s.childAlive)

        const interruptedAt = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(fiber)
        const took = (yield* Clock.currentTimeMillis) - interruptedAt

        // SIGTERM did nothing: the run waited out the grace, then SIGKILL.
        expect(took).toBeGreaterThanOrEqual(280)
        expect(took).toBeLessThan(300 + 1_000)
        expect(() => process.kill(report.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }))
        expect((yield* scheduler.status).devices[0]!.leasedMiB).toBe(0)

        yield* Effect.sleep("20 millis")
        const after = samples.filter((s) => s.at >= interruptedAt)
        // Through the grace the child ran on and the lease stayed held...
        expect(after.some((s) => s.leasedMiB === 4096 && s.childAlive && s.at - interruptedAt >= 200)).toBe(true)
        // ...and when status first showed it free the child was gone.
        const freed = after.find((s) => s.leasedMiB === 0)
        assert(freed !== undefined, "status never showed the lease freed")
        expect(freed.childAlive).toBe(false)
        expect(freed.at - interruptedAt).toBeGreaterThanOrEqual(280)
        expect(freed.at - interruptedAt).toBeLessThan(300 + 1_000)
        expect(after.filter((s) => s.leasedMiB === 0 && s.childAlive)).toEqual([])
      })
    ))
})
