/**
 * Properties of the VRAM scheduler under random jobs, durations, health changes and interruptions: a device's
 * leases never exceed its usable VRAM or encoder sessions, every lease is released exactly once, and a
 * low-priority job never waits longer than the aging bound plus the longest job.
 */
import { describe, expect, it } from "@effect/vitest"
import { GpuJobSpec, Ids, Priority } from "@ytempire/domain"
import type { GpuDevice } from "@ytempire/gpu/Device"
import * as GpuMetrics from "@ytempire/gpu/GpuMetrics"
import { Scheduler } from "@ytempire/gpu/Scheduler"
import { type CoreLease, type Policy, SchedulerCore, type Ticket } from "@ytempire/gpu/SchedulerCore"
import { Effect, Fiber, Metric, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"

const deviceId = Schema.decodeSync(Ids.GpuDeviceId)
const channelId = Schema.decodeSync(Ids.ChannelId)

const makeDevice = (index: number, usableMiB: number, encoderSessions: number, encoderEngines: number): GpuDevice => ({
  id: deviceId(`gpu${index}`),
  index,
  name: "test-gpu",
  uuid: `GPU-${index}`,
  totalMiB: usableMiB + 512,
  headroomMiB: 512,
  usableMiB,
  encoderSessions,
  encoderEngines
})

const arbDevices = fc.array(
  fc.record({
    usableMiB: fc.integer({ min: 2000, max: 32_000 }),
    sessions: fc.integer({ min: 0, max: 8 }),
    engines: fc.integer({ min: 1, max: 3 })
  }),
  { minLength: 1, maxLength: 3 }
).map((devices) => devices.map((d, index) => makeDevice(index, d.usableMiB, d.sessions, d.engines)))

const arbSpec = fc.record({
  vramMiB: fc.integer({ min: 1, max: 34_000 }),
  encoderSessions: fc.integer({ min: 0, max: 3 }),
  computeShare: fc.double({ min: 0.01, max: 1, noNaN: true }),
  estimatedSeconds: fc.double({ min: 0.5, max: 600, noNaN: true }),
  priority: fc.constantFrom(...Priority.all),
  modelKey: fc.option(fc.constantFrom("sdxl", "llama", "tts"), { nil: undefined })
}).map(({ modelKey, ...fields }) =>
  new GpuJobSpec.GpuJobSpec({ kind: "other", ...fields, ...(modelKey === undefined ? {} : { modelKey }) })
)

/** A value one time in three, else undefined. */
const sometimes = <A>(arbitrary: fc.Arbitrary<A>) =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })

type Op =
  | { readonly op: "submit"; readonly spec: GpuJobSpec.GpuJobSpec; readonly channel: string }
  | { readonly op: "release"; readonly pick: number }
  | { readonly op: "cancel"; readonly pick: number }
  | { readonly op: "health"; readonly device: number; readonly health: "healthy" | "draining" | "unavailable" }
  | { readonly op: "time"; readonly seconds: number }

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant("submit" as const), spec: arbSpec, channel: fc.constantFrom("a", "b", "c") })
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("health" as const),
      device: fc.nat(),
      health: fc.constantFrom("healthy" as const, "draining" as const, "unavailable" as const)
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("time" as const), seconds: fc.double({ min: 0, max: 2000, noNaN: true }) })
  }
)

/** A job that takes more than half of a 10,000 MiB device. */
const halfDeviceJob = (priority: Priority.PriorityClass, duration: number) =>
  new GpuJobSpec.GpuJobSpec({ kind: "other", vramMiB: 6000, estimatedSeconds: duration, computeShare: 0.1, priority })

describe("SchedulerCore properties", () => {
  it("never leases past a device's usable VRAM or sessions, grants only on healthy devices, releases each lease once", () => {
    fc.assert(
      fc.property(
        arbDevices,
        fc.array(arbOp, { maxLength: 150 }),
        fc.constantFrom<Policy>("ytempire", "first-fit", "fifo"),
        (devices, ops, policy) => {
          const releases = new Map<number, number>()
          const active = new Map<number, CoreLease>()
          const tickets: Array<Ticket> = []
          const core = new SchedulerCore(devices, { policy, agingSeconds: 60, maxQueued: 40 }, {
            granted: (lease) => {
              expect(lease.device.health).toBe("healthy")
              expect(lease.heldMiB).toBeGreaterThanOrEqual(lease.vramMiB)
              active.set(lease.id, lease)
            },
            released: (lease) => {
              releases.set(lease.id, (releases.get(lease.id) ?? 0) + 1)
              active.delete(lease.id)
            }
          })
          let now = 0
          const misjudged: Array<GpuJobSpec.GpuJobSpec> = []
          const check = () => {
            for (const state of core.devices) {
              let held = 0
              let sessions = 0
              for (const lease of active.values()) {
                if (lease.device !== state) continue
                held += lease.heldMiB
                sessions += lease.encoderSessions
              }
              expect(state.activeMiB).toBe(held)
              expect(state.sessions).toBe(sessions)
              expect(held + state.idleMiB).toBeLessThanOrEqual(state.device.usableMiB)
              expect(sessions).toBeLessThanOrEqual(state.device.encoderSessions)
            }
          }
          for (const op of ops) {
            switch (op.op) {
              case "submit": {
                const result = core.submit(op.spec, op.channel, now)
                if (result._tag === "Queued") tickets.push(result.ticket)
                if (result._tag === "Granted") tickets.push(result.lease.ticket)
                // Refused as too large exactly when no device could ever hold it.
                const fitsSomewhere = devices.some((d) =>
                  d.usableMiB >= op.spec.vramMiB && d.encoderSessions >= op.spec.encoderSessions
                )
                if ((result._tag === "TooLarge") === fitsSomewhere) misjudged.push(op.spec)
                break
              }
              case "release": {
                const leases = [...active.values()]
                if (leases.length > 0) core.release(leases[op.pick % leases.length]!, now)
                break
              }
              case "cancel": {
                // Any ticket: a waiting one leaves the queue, a granted one (the race) releases its lease.
                if (tickets.length > 0) core.cancel(tickets[op.pick % tickets.length]!, now)
                break
              }
              case "health":
                core.setHealth(devices[op.device % devices.length]!.id, op.health, now)
                break
              case "time":
                now += op.seconds
                core.tick(now)
                break
            }
            check()
          }
          expect(misjudged).toEqual([])
          for (const ticket of tickets) core.cancel(ticket, now)
          check()
          expect(core.queued).toBe(0)
          for (const state of core.devices) expect([state.activeMiB, state.sessions]).toEqual([0, 0])
          expect(core.granted).toBe(core.released)
          for (const count of releases.values()) expect(count).toBe(1)
          expect(releases.size).toBe(core.granted)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("throws on a second release of the same lease", () => {
    const core = new SchedulerCore([makeDevice(0, 8000, 0, 1)])
    const result = core.submit(
      new GpuJobSpec.GpuJobSpec({
        kind: "llm",
        vramMiB: 100,
        estimatedSeconds: 1,
        computeShare: 1,
        priority: "normal"
      }),
      "c",
      0
    )
    if (result._tag !== "Granted") throw new Error("expected a grant")
    core.release(result.lease, 1)
    expect(() => core.release(result.lease, 2)).toThrow("released twice")
  })

  it("releases a grant that races a cancel", () => {
    const core = new SchedulerCore([makeDevice(0, 8000, 0, 1)])
    const job = new GpuJobSpec.GpuJobSpec({
      kind: "llm",
      vramMiB: 6000,
      estimatedSeconds: 1,
      computeShare: 0.1,
      priority: "normal"
    })
    const holder = core.submit(job, "c", 0)
    const waiter = core.submit(job, "c", 0)
    if (holder._tag !== "Granted" || waiter._tag !== "Queued") throw new Error("expected a grant and a wait")
    const grants: Array<CoreLease> = []
    waiter.ticket.onGrant = (lease) => grants.push(lease)
    core.release(holder.lease, 1)
    // Granted, but its requester was interrupted before it could take the lease.
    expect(grants).toHaveLength(1)
    expect(core.devices[0]!.activeMiB).toBe(6000)
    expect(core.cancel(waiter.ticket, 1)).toBe(true)
    expect(core.devices[0]!.activeMiB).toBe(0)
    expect(grants[0]!.released).toBe(true)
    expect(core.cancel(waiter.ticket, 2)).toBe(false)
  })

  it("grants a low-priority job within the aging bound plus the longest job, however much else arrives", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 5, max: 300 }),
        fc.array(
          fc.record({
            gap: fc.double({ min: 0.5, max: 30, noNaN: true }),
            duration: fc.double({ min: 1, max: 120, noNaN: true }),
            priority: fc.constantFrom(...Priority.all),
            channel: fc.constantFrom("a", "b", "c", "d", "e")
          }),
          { minLength: 20, maxLength: 200 }
        ),
        (slots, agingSeconds, arrivals) => {
          // Every job takes more than half a device: one job per device at a time, so higher classes arriving
          // faster than they are served would starve the low job forever without aging.
          const devices = Array.from({ length: slots }, (_, i) => makeDevice(i, 10_000, 0, 1))
          const core = new SchedulerCore(devices, { policy: "ytempire", agingSeconds })
          const ends: Array<{ at: number; lease: CoreLease }> = []
          const durations = new Map<number, number>()
          const onGrant = (lease: CoreLease) => ends.push({ at: now + durations.get(lease.ticket.id)!, lease })
          let now = 0
          let nextId = 0
          const submit = (priority: Priority.PriorityClass, duration: number, channel: string) => {
            durations.set(++nextId, duration)
            core.submit(halfDeviceJob(priority, duration), channel, now, onGrant)
          }
          // Fill every device, then the low job arrives to an empty queue.
          for (let i = 0; i < slots; i++) submit("critical", 120, "a")
          submit("low", 1, "starved")
          const lowId = nextId
          const submittedAt = now
          let lowGrantedAt: number | undefined
          const longest = Math.max(120, ...arrivals.map((a) => a.duration))
          let index = 0
          let arrivalAt = arrivals[0]!.gap
          for (let step = 0; lowGrantedAt === undefined && step < 20_000; step++) {
            ends.sort((a, b) => a.at - b.at)
            const end = ends[0]
            // Keep higher-priority work arriving, cycling through the draws, always at least one waiting.
            if (end === undefined || arrivalAt <= end.at) {
              now = arrivalAt
              const a = arrivals[index % arrivals.length]!
              submit(a.priority === "low" ? "critical" : a.priority, a.duration, a.channel)
              index++
              arrivalAt = now + arrivals[index % arrivals.length]!.gap
            } else {
              ends.shift()
              now = end.at
              if (core.queued === 0) submit("critical", 60, "a")
              core.release(end.lease, now)
            }
            for (const entry of ends) if (entry.lease.ticket.id === lowId) lowGrantedAt ??= entry.lease.grantedAt
          }
          expect(lowGrantedAt).toBeDefined()
          expect(lowGrantedAt! - submittedAt).toBeLessThanOrEqual(3 * agingSeconds + longest + 1e-3)
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe("Scheduler properties", () => {
  it("keeps leases within usable VRAM at every step and releases every lease, under random interruptions", async () => {
    let totalGrants = 0
    await fc.assert(
      fc.asyncProperty(
        arbDevices,
        fc.array(
          fc.record({
            spec: arbSpec,
            arriveAt: fc.integer({ min: 0, max: 60 }),
            holdFor: fc.integer({ min: 1, max: 30 }),
            interruptAt: sometimes(fc.integer({ min: 0, max: 120 })),
            timeout: sometimes(fc.integer({ min: 1, max: 60 })),
            fails: fc.boolean()
          }),
          { minLength: 5, maxLength: 30 }
        ),
        (devices, jobs) =>
          Effect.gen(function*() {
            const scheduler = yield* Scheduler
            let finished = 0
            const fibers = yield* Effect.forEach(jobs, (job, i) =>
              Effect.forkChild(
                Effect.sleep(`${job.arriveAt} seconds`).pipe(
                  Effect.andThen(
                    Effect.scoped(
                      scheduler.acquire(job.spec, { channel: channelId(`c${i % 3}`) }).pipe(
                        job.timeout === undefined ? (self) => self : Effect.timeout(`${job.timeout} seconds`),
                        Effect.andThen(Effect.sleep(`${job.holdFor} seconds`)),
                        // A job that fails after its lease still releases it.
                        Effect.andThen(job.fails ? Effect.fail("job failed" as const) : Effect.void)
                      )
                    )
                  ),
                  Effect.ignore,
                  Effect.ensuring(Effect.sync(() => finished++))
                )
              ))
            yield* Effect.forEach(jobs, (job, i) =>
              job.interruptAt === undefined
                ? Effect.void
                : Effect.forkChild(
                  Effect.sleep(`${job.interruptAt} seconds`).pipe(Effect.andThen(Fiber.interrupt(fibers[i]!)))
                ))
            const check = Effect.gen(function*() {
              const status = yield* scheduler.status
              for (const [i, d] of status.devices.entries()) {
                expect(d.leasedMiB).toBeLessThanOrEqual(devices[i]!.usableMiB)
                expect(d.encoderSessionsLeased).toBeLessThanOrEqual(devices[i]!.encoderSessions)
              }
            })
            for (let t = 0; t < 1000 && finished < jobs.length; t += 1) {
              yield* TestClock.adjust("1 second")
              yield* check
            }
            expect(finished).toBe(jobs.length)
            const status = yield* scheduler.status
            expect(status.devices.map((d) => [d.leasedMiB, d.encoderSessionsLeased])).toEqual(
              status.devices.map(() => [0, 0])
            )
            expect(status.queued).toMatchObject({ critical: 0, high: 0, normal: 0, low: 0 })
            // Every grant was released once: as many lease durations as waits were recorded.
            let grants = 0
            let releases = 0
            for (const priority of Priority.all) {
              grants += (yield* Metric.value(Metric.withAttributes(GpuMetrics.waitSeconds, { priority }))).count
            }
            releases += (yield* Metric.value(Metric.withAttributes(GpuMetrics.leaseDurationSeconds, { kind: "other" })))
              .count
            expect(releases).toBe(grants)
            totalGrants += grants
          }).pipe(
            Effect.provide(Scheduler.layer({ devices, agingSeconds: 20 })),
            Effect.provideService(Metric.MetricRegistry, new Map()),
            Effect.provide(TestClock.layer()),
            Effect.runPromise
          )
      ),
      { numRuns: 60 }
    )
    // The runs did lease GPUs (not only refuse too-large jobs).
    expect(totalGrants).toBeGreaterThan(200)
  })
})
