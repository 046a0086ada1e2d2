/**
 * The VRAM scheduler in virtual time: a workload's jobs arrive at simulated devices, the scheduler leases them
 * memory and encoder sessions, and the simulator runs them under a contention model and reports how the
 * policy did, beside the two baselines in the same run.
 *
 * **Same code as the service.** The `Scheduler` service is a thin shell (fibers, scopes, metrics) around the
 * scheduler core (`SchedulerCore`); the simulator drives that same core from a discrete-event loop
 * instead, calling the same `submit` and `release` at the virtual instants the service would. A loop rather
 * than fibers under a `TestClock`, because a job's remaining time changes whenever another job starts or ends
 * on its device (the contention model below), which a fiber sleeping a fixed time cannot follow; and a loop
 * runs a 1,000-video day in well under a second, deterministically.
 *
 * **Contention model.**
 * - A job whose model is not loaded on its device first loads it for `modelLoadS` seconds, holding its VRAM,
 *   drawing neither compute nor encoder. Its VRAM then stays resident as an idle copy of the model after the
 *   job ends, until a job that needs the room evicts it (least recently used first; see `SchedulerCore`).
 * - Running jobs share the device: an encoder job progresses at most at `engines / sessions` when the encoder
 *   sessions running on the device outnumber its engines; compute is shared in proportion to `computeShare`, so
 *   when the shares add up past 1 every job is scaled down by the same factor θ, except that a job held below θ
 *   by the encoder keeps its own rate and leaves the rest of the compute to the others (θ solves
 *   `Σ computeShare × min(cap, θ) = 1`).
 * - A job's progress per second is that rate; it ends when it has progressed `durationS`.
 *
 * **Figures.** The makespan is the time the last job ends. The lower bound is the largest of: for every
 * arrival time t, t plus the work arriving at or after t divided by the capacity, counted as compute
 * (`computeShare × durationS` over the devices), VRAM area (`vramMiB × durationS` over the usable VRAM) and
 * encoder work (`encoderSessions × durationS` over the encoder engines); and every job's arrival plus its chain
 * of `after` jobs. No schedule can beat it under this model (model loads aside). A device is busy while it
 * holds a lease; "busy while queued" is the share of device time it was busy while some job waited, and
 * "utilization while queued" the share of the compute and of the encoder engines that running jobs used then.
 * Videos per day is the workload's videos per 24 hours of makespan; the fifo baseline's is the yardstick.
 *
 * **Starvation.** No policy bounds waits absolutely once more work arrives than the GPUs can do (in a burst
 * everyone waits hours). What aging promises is relative: a low-priority job ranks with critical ones after
 * `3 × agingSeconds`, so it waits at most that much longer than the longest-waiting job of the other classes,
 * plus one lease for a device to free up. The report checks exactly that (`starvation`).
 *
 * @since 0.1.0
 */
import type { Priority } from "@ytempire/domain"
import { Heap } from "./internal/heap.ts"
import { type CoreLease, type Policy, SchedulerCore } from "./SchedulerCore.ts"
import * as Workload from "./Workload.ts"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * The policies the simulator runs: ours, and the two baselines.
 *
 * @category models
 */
export type SimulatedPolicy = Policy

/**
 * All policies, ours first.
 *
 * @category constants
 */
export const policies: ReadonlyArray<SimulatedPolicy> = ["ytempire", "fifo", "first-fit"]

/**
 * The scheduler's settings for a simulation.
 *
 * @category models
 */
export interface SimulationOptions {
  /** Seconds of waiting that move a job one priority level up (default 300). */
  readonly agingSeconds?: number
  /** Seconds the first job in the queue waits before a device is reserved for it (default `agingSeconds`). */
  readonly reserveAfterSeconds?: number
  /** Whether the report lists every job's times and device (`trace`). */
  readonly trace?: boolean
}

/**
 * One job in a traced run: when it was submitted (arrived with its `after` jobs done), granted a lease, and
 * finished, in seconds, and on which device.
 *
 * @category models
 */
export interface JobTrace {
  readonly id: string
  readonly device: string
  readonly submittedAt: number
  readonly grantedAt: number
  readonly finishedAt: number
  readonly loadedModel: boolean
}

/**
 * Waits for leases of one priority class, in seconds.
 *
 * @category models
 */
export interface Waits {
  readonly jobs: number
  readonly p50: number
  readonly p95: number
  readonly max: number
}

/**
 * One device over a run.
 *
 * @category models
 */
export interface DeviceReport {
  readonly id: string
  readonly name: string
  readonly usableMiB: number
  /** The most VRAM leases held at once. */
  readonly peakLeasedMiB: number
  /** The most VRAM leases and idle loaded models held at once. */
  readonly peakResidentMiB: number
  readonly modelLoads: number
  /** Share of the makespan the device held a lease. */
  readonly busyFraction: number
}

/**
 * The lower bound on the makespan, and each of its parts.
 *
 * @category models
 */
export interface LowerBound {
  readonly seconds: number
  readonly binding: "compute" | "vram" | "encoder" | "chain"
  readonly compute: number
  readonly vram: number
  readonly encoder: number
  readonly chain: number
}

/**
 * What starvation looks like in a run: the longest wait of a low-priority job against the longest wait of any
 * other class plus the aging bound (`3 × agingSeconds`, the wait after which a low job ranks with critical
 * ones) plus the longest lease of the run (the most it may then wait for a running job to end).
 *
 * @category models
 */
export interface StarvationCheck {
  readonly lowMaxWaitSeconds: number
  readonly othersMaxWaitSeconds: number
  readonly agingBoundSeconds: number
  readonly longestLeaseSeconds: number
  readonly boundSeconds: number
  readonly withinBound: boolean
}

/**
 * One policy's run.
 *
 * @category models
 */
export interface PolicyReport {
  readonly policy: SimulatedPolicy
  readonly makespanSeconds: number
  readonly lowerBoundSeconds: number
  readonly makespanOverBound: number
  /** Share of device time the devices were busy while at least one job waited (1 when none ever waited). */
  readonly busyWhileQueued: number
  /**
   * While at least one job waited: the share of the devices' compute and of their encoder engines that running
   * jobs used (1 when none ever waited). Stricter than `busyWhileQueued`: a device running one render is busy but
   * uses a quarter of its compute and a third of its encoders.
   */
  readonly utilizationWhileQueued: { readonly compute: number; readonly encoder: number }
  readonly videos: number
  /** Videos completed per 24 hours of makespan. */
  readonly videosPerDay: number
  readonly waits: Readonly<Record<Priority.PriorityClass, Waits>>
  readonly modelLoads: number
  readonly devices: ReadonlyArray<DeviceReport>
  /** Instants at which a device held more than its usable VRAM or encoder sessions: always 0. */
  readonly overCommits: number
  readonly starvation: StarvationCheck
  /** Scheduler decisions (submits and releases) and their mean cost, in microseconds of wall time. */
  readonly decisions: number
  readonly microsPerDecision: number
  /** Every job, with `trace: true`. */
  readonly trace?: ReadonlyArray<JobTrace>
}

/**
 * A comparison of policies on one workload.
 *
 * @category models
 */
export interface Comparison {
  readonly devices: number
  readonly jobs: number
  readonly videos: number
  readonly lowerBound: LowerBound
  readonly agingSeconds: number
  readonly reports: ReadonlyArray<PolicyReport & { readonly throughputVsFifo: number | undefined }>
}

// ---------------------------------------------------------------------------------------------------------------
// the lower bound

/**
 * The lower bound on a workload's makespan (see the module doc).
 *
 * @category bounds
 */
export const lowerBound = (workload: Workload.Workload): LowerBound => {
  const devices = workload.devices
  const computeCapacity = devices.length
  const vramCapacity = devices.reduce((sum, d) => sum + Workload.usableMiB(d), 0)
  const encoderCapacity = devices.reduce((sum, d) => sum + d.encoderEngines, 0)
  const jobs = workload.jobs.toSorted((a, b) => b.arrivalS - a.arrivalS)
  let compute = 0
  let vram = 0
  let encoder = 0
  let computeWork = 0
  let vramWork = 0
  let encoderWork = 0
  for (const job of jobs) {
    computeWork += job.computeShare * job.durationS
    vramWork += job.vramMiB * job.durationS
    encoderWork += job.encoderSessions * job.durationS
    compute = Math.max(compute, job.arrivalS + computeWork / computeCapacity)
    vram = Math.max(vram, job.arrivalS + vramWork / vramCapacity)
    if (encoderWork > 0) encoder = Math.max(encoder, job.arrivalS + encoderWork / encoderCapacity)
  }
  const parts = {
    compute: round(compute),
    vram: round(vram),
    encoder: round(encoder),
    chain: round(chainBound(workload.jobs))
  }
  const binding = (Object.keys(parts) as Array<keyof typeof parts>).reduce((a, b) => parts[b] > parts[a] ? b : a)
  return { seconds: parts[binding], binding, ...parts }
}

/** The latest of every job's earliest finish: its arrival, after its `after` jobs, plus its duration. */
const chainBound = (jobs: ReadonlyArray<Workload.WorkloadJob>): number => {
  const byId = new Map(jobs.map((job, index) => [job.id, index]))
  const finish = new Float64Array(jobs.length).fill(-1)
  let latest = 0
  for (let start = 0; start < jobs.length; start++) {
    if (finish[start]! >= 0) continue
    // Iterative depth-first: the workload was checked acyclic.
    const stack = [start]
    while (stack.length > 0) {
      const index = stack[stack.length - 1]!
      const job = jobs[index]!
      let ready = job.arrivalS
      let pending = false
      for (const id of job.after) {
        const dependency = byId.get(id)!
        if (finish[dependency]! < 0) {
          stack.push(dependency)
          pending = true
        } else ready = Math.max(ready, finish[dependency]!)
      }
      if (pending) continue
      stack.pop()
      finish[index] = ready + job.durationS
      latest = Math.max(latest, finish[index]!)
    }
  }
  return latest
}

// ---------------------------------------------------------------------------------------------------------------
// the simulation

interface SimJob {
  readonly index: number
  readonly job: Workload.WorkloadJob
  pendingDependencies: number
  readonly dependents: Array<number>
  submittedAt: number
  grantedAt: number
  finishedAt: number
  lease: CoreLease | undefined
  phase: "waiting" | "loading" | "running" | "done"
  /** Seconds of loading, or seconds of solo work, left. */
  remaining: number
  rate: number
}

interface SimDevice {
  readonly active: Array<SimJob>
  leasedMiB: number
  peakLeasedMiB: number
  busySeconds: number
  nextEventAt: number
}

const DAY = 86_400
const DONE = 1e-9

/**
 * Each running job's rate on one device (see the contention model in the module doc).
 */
const assignRates = (active: ReadonlyArray<SimJob>, engines: number): void => {
  let sessions = 0
  for (const job of active) if (job.phase === "running") sessions += job.job.encoderSessions
  const encoderCap = sessions > engines ? engines / sessions : 1
  const running: Array<{ job: SimJob; cap: number; share: number }> = []
  let demand = 0
  for (const job of active) {
    if (job.phase === "loading") {
      job.rate = 1
      continue
    }
    const cap = job.job.encoderSessions > 0 ? encoderCap : 1
    running.push({ job, cap, share: job.job.computeShare })
    demand += job.job.computeShare * cap
  }
  if (demand <= 1) {
    for (const entry of running) entry.job.rate = entry.cap
    return
  }
  running.sort((a, b) => a.cap - b.cap)
  let capacity = 1
  let weight = running.reduce((sum, entry) => sum + entry.share, 0)
  let i = 0
  for (; i < running.length; i++) {
    const entry = running[i]!
    if (entry.cap * weight > capacity) break
    entry.job.rate = entry.cap
    capacity -= entry.share * entry.cap
    weight -= entry.share
  }
  const theta = Math.max(1e-12, capacity / weight)
  for (; i < running.length; i++) running[i]!.job.rate = theta
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

const round = (value: number, digits = 3): number => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/**
 * Runs one policy on a workload.
 *
 * @category simulation
 */
export const simulate = (
  workload: Workload.Workload,
  policy: SimulatedPolicy,
  options: SimulationOptions = {}
): PolicyReport => {
  const agingSeconds = options.agingSeconds ?? 300
  const devices = Workload.devicesOf(workload)
  const core = new SchedulerCore(devices, {
    policy,
    agingSeconds,
    reserveAfterSeconds: options.reserveAfterSeconds ?? agingSeconds
  })
  const simDevices: Array<SimDevice> = devices.map(() => ({
    active: [],
    leasedMiB: 0,
    peakLeasedMiB: 0,
    busySeconds: 0,
    nextEventAt: Number.POSITIVE_INFINITY
  }))
  const byId = new Map(workload.jobs.map((job, index) => [job.id, index]))
  const jobs: Array<SimJob> = workload.jobs.map((job, index) => ({
    index,
    job,
    pendingDependencies: job.after.length,
    dependents: [],
    submittedAt: Number.NaN,
    grantedAt: Number.NaN,
    finishedAt: Number.NaN,
    lease: undefined,
    phase: "waiting",
    remaining: 0,
    rate: 0
  }))
  for (const job of jobs) for (const id of job.job.after) jobs[byId.get(id)!]!.dependents.push(job.index)
  const specs = workload.jobs.map(Workload.specOf)

  const arrivals = new Heap<{ readonly at: number; readonly job: SimJob }>((a, b) =>
    a.at < b.at || (a.at === b.at && a.job.index < b.job.index)
  )
  for (const job of jobs) if (job.pendingDependencies === 0) arrivals.push({ at: job.job.arrivalS, job })

  let now = 0
  let queuedSeconds = 0
  let busyWhileQueuedSeconds = 0
  let computeWhileQueued = 0
  let encoderWhileQueued = 0
  const engines = devices.reduce((sum, d) => sum + d.encoderEngines, 0)
  let overCommits = 0
  let decisions = 0
  let decisionNanos = 0n
  const dirty = new Set<number>()

  const start = (job: SimJob, lease: CoreLease) => {
    job.lease = lease
    job.grantedAt = now
    const device = simDevices[lease.device.device.index]!
    device.active.push(job)
    device.leasedMiB += lease.heldMiB
    if (device.leasedMiB > device.peakLeasedMiB) device.peakLeasedMiB = device.leasedMiB
    if (device.leasedMiB > lease.device.device.usableMiB) overCommits++
    const loads = lease.loadsModel && job.job.modelLoadS > 0
    job.phase = loads ? "loading" : "running"
    job.remaining = loads ? job.job.modelLoadS : job.job.durationS
    dirty.add(lease.device.device.index)
  }

  const timed = <A>(step: () => A): A => {
    const started = process.hrtime.bigint()
    const result = step()
    decisionNanos += process.hrtime.bigint() - started
    decisions++
    return result
  }

  const submit = (job: SimJob) => {
    job.submittedAt = now
    const result = timed(() => core.submit(specs[job.index]!, job.job.channel, now, (lease) => start(job, lease)))
    if (result._tag === "TooLarge" || result._tag === "QueueFull") {
      // The workload was checked against the devices and the simulator sets no queue limit.
      throw new Error(`simulator: job ${job.job.id} refused (${result._tag})`)
    }
  }

  const finish = (job: SimJob) => {
    job.phase = "done"
    job.finishedAt = now
    const lease = job.lease!
    const device = simDevices[lease.device.device.index]!
    device.active.splice(device.active.indexOf(job), 1)
    device.leasedMiB -= lease.heldMiB
    dirty.add(lease.device.device.index)
    timed(() => core.release(lease, now))
    for (const index of job.dependents) {
      const dependent = jobs[index]!
      if (--dependent.pendingDependencies === 0) {
        arrivals.push({ at: Math.max(now, dependent.job.arrivalS), job: dependent })
      }
    }
  }

  const advance = (to: number) => {
    const dt = to - now
    if (dt <= 0) return
    const queued = core.queued > 0
    if (queued) queuedSeconds += dt
    for (const device of simDevices) {
      if (device.active.length === 0) continue
      device.busySeconds += dt
      if (queued) busyWhileQueuedSeconds += dt
      for (const job of device.active) {
        job.remaining -= job.rate * dt
        if (queued && job.phase === "running") {
          computeWhileQueued += job.job.computeShare * job.rate * dt
          encoderWhileQueued += job.job.encoderSessions * job.rate * dt
        }
      }
    }
    now = to
  }

  const refresh = () => {
    for (const index of dirty) {
      const device = simDevices[index]!
      assignRates(device.active, devices[index]!.encoderEngines)
      let next = Number.POSITIVE_INFINITY
      for (const job of device.active) next = Math.min(next, now + Math.max(0, job.remaining) / job.rate)
      device.nextEventAt = next
    }
    dirty.clear()
  }

  for (;;) {
    let next = arrivals.peek()?.at ?? Number.POSITIVE_INFINITY
    for (const device of simDevices) if (device.nextEventAt < next) next = device.nextEventAt
    if (next === Number.POSITIVE_INFINITY) break
    advance(next)
    // Jobs ending free room before new ones arrive at the same instant.
    for (const [index, device] of simDevices.entries()) {
      if (device.nextEventAt > now) continue
      // A copy: finishing a job removes it from `active`, and grants add others.
      for (const job of device.active.slice()) {
        if (job.remaining > DONE * Math.max(1, job.job.durationS)) continue
        if (job.phase === "loading") {
          job.phase = "running"
          job.remaining = job.job.durationS
          dirty.add(index)
        } else finish(job)
      }
      dirty.add(index)
    }
    for (let top = arrivals.peek(); top !== undefined && top.at <= now; top = arrivals.peek()) {
      arrivals.pop()
      submit(top.job)
    }
    refresh()
    for (const state of core.devices) {
      if (
        state.activeMiB + state.idleMiB > state.device.usableMiB ||
        state.sessions > state.device.encoderSessions
      ) overCommits++
    }
  }

  const unfinished = jobs.filter((job) => job.phase !== "done")
  if (unfinished.length > 0) {
    throw new Error(`simulator: ${unfinished.length} jobs never finished (first: ${unfinished[0]!.job.id})`)
  }
  const makespan = jobs.reduce((max, job) => Math.max(max, job.finishedAt), 0)
  const bound = lowerBound(workload)
  const waitsOf = (priority: Priority.PriorityClass): Waits => {
    const waits = jobs.filter((job) => job.job.priority === priority).map((job) => job.grantedAt - job.submittedAt)
      .toSorted((a, b) => a - b)
    return {
      jobs: waits.length,
      p50: round(percentile(waits, 0.5)),
      p95: round(percentile(waits, 0.95)),
      max: round(waits.at(-1) ?? 0)
    }
  }
  const maxWait = (keep: (job: SimJob) => boolean) =>
    jobs.reduce((max, job) => keep(job) ? Math.max(max, job.grantedAt - job.submittedAt) : max, 0)
  const lowMax = maxWait((job) => job.job.priority === "low")
  const othersMax = maxWait((job) => job.job.priority !== "low")
  const longestLease = jobs.reduce((max, job) => Math.max(max, job.finishedAt - job.grantedAt), 0)
  const agingBound = 3 * agingSeconds
  const videos = new Set(workload.jobs.map((job) => job.video)).size
  return {
    policy,
    makespanSeconds: round(makespan),
    lowerBoundSeconds: round(bound.seconds),
    makespanOverBound: round(bound.seconds > 0 ? makespan / bound.seconds : 1, 4),
    busyWhileQueued: round(queuedSeconds > 0 ? busyWhileQueuedSeconds / (queuedSeconds * devices.length) : 1, 4),
    utilizationWhileQueued: {
      compute: round(queuedSeconds > 0 ? computeWhileQueued / (queuedSeconds * devices.length) : 1, 4),
      encoder: round(queuedSeconds > 0 && engines > 0 ? encoderWhileQueued / (queuedSeconds * engines) : 1, 4)
    },
    videos,
    videosPerDay: round(makespan > 0 ? videos * DAY / makespan : 0, 1),
    waits: { critical: waitsOf("critical"), high: waitsOf("high"), normal: waitsOf("normal"), low: waitsOf("low") },
    modelLoads: core.devices.reduce((sum, d) => sum + d.modelLoads, 0),
    devices: core.devices.map((state, index) => ({
      id: state.device.id,
      name: state.device.name,
      usableMiB: state.device.usableMiB,
      peakLeasedMiB: simDevices[index]!.peakLeasedMiB,
      peakResidentMiB: state.peakResidentMiB,
      modelLoads: state.modelLoads,
      busyFraction: round(makespan > 0 ? simDevices[index]!.busySeconds / makespan : 0, 4)
    })),
    overCommits,
    starvation: {
      lowMaxWaitSeconds: round(lowMax),
      othersMaxWaitSeconds: round(othersMax),
      agingBoundSeconds: agingBound,
      longestLeaseSeconds: round(longestLease),
      boundSeconds: round(othersMax + agingBound + longestLease),
      withinBound: lowMax <= othersMax + agingBound + longestLease
    },
    decisions,
    microsPerDecision: round(decisions > 0 ? Number(decisionNanos) / decisions / 1000 : 0, 2),
    ...(options.trace === true
      ? {
        trace: jobs.map((job) => ({
          id: job.job.id,
          device: job.lease!.device.device.id,
          submittedAt: job.submittedAt,
          grantedAt: job.grantedAt,
          finishedAt: job.finishedAt,
          loadedModel: job.lease!.loadsModel
        }))
      }
      : {})
  }
}

/**
 * Runs several policies on one workload and compares each one's throughput with the fifo baseline's.
 *
 * @category simulation
 */
export const compare = (
  workload: Workload.Workload,
  selected: ReadonlyArray<SimulatedPolicy> = policies,
  options: SimulationOptions = {}
): Comparison => {
  const reports = selected.map((policy) => simulate(workload, policy, options))
  const fifo = reports.find((report) => report.policy === "fifo")
  return {
    devices: workload.devices.length,
    jobs: workload.jobs.length,
    videos: new Set(workload.jobs.map((job) => job.video)).size,
    lowerBound: lowerBound(workload),
    agingSeconds: options.agingSeconds ?? 300,
    reports: reports.map((report) => ({
      ...report,
      throughputVsFifo: fifo === undefined || fifo.videosPerDay === 0
        ? undefined
        : round(report.videosPerDay / fifo.videosPerDay, 3)
    }))
  }
}
