/**
 * What one scheduling decision costs with a deep queue: the VRAM scheduler's core (the code the `Scheduler`
 * service and the simulator run) with 10,000 jobs waiting, against the first-fit and fifo baselines' decisions
 * on the same jobs in the same run.
 *
 *   npm run bench -- gpu-scheduler [--queued 10000] [--decisions 40000] [--devices 2] [--channels 1000]
 *
 * Each policy gets a fresh scheduler over `--devices` RTX 5090s and the simulator's job mix (1080p NVENC
 * renders, SDXL thumbnails, local Llama scripts; every priority class; channels drawn Zipf-like), enough jobs
 * to fill the devices and leave `--queued` waiting. Then, in virtual time, the lease that ends first is
 * released and a new job submitted, `--decisions` times in all (a release and a submit are one decision each,
 * and each may grant several leases); the first 10 % warm the JIT up and are not counted. A decision's time is
 * its wall time around the core's synchronous call (with aging, fair share, affinity, placement and
 * reservations). One JSON line goes to stdout; progress to stderr.
 */
import { GpuJobSpec, Ids, Priority } from "@ytempire/domain"
import type { GpuDevice } from "@ytempire/gpu/Device"
import { type CoreLease, type Policy, SchedulerCore } from "@ytempire/gpu/SchedulerCore"
import { Console, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { availableParallelism, loadavg } from "node:os"

/** The machine's 1-minute load average: other work on the machine slows the wall-time figures. */
const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100

/** mulberry32: the same jobs for every policy. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const rtx5090 = (index: number): GpuDevice => ({
  id: Schema.decodeSync(Ids.GpuDeviceId)(`gpu${index}`),
  index,
  name: "rtx5090",
  uuid: `bench-${index}`,
  totalMiB: 32_768,
  headroomMiB: 1024,
  usableMiB: 31_744,
  encoderSessions: 8,
  encoderEngines: 3
})

interface Job {
  readonly spec: GpuJobSpec.GpuJobSpec
  readonly channel: string
}

/** The simulator's mix: a render and a thumbnail per video, a script for one video in five. */
const makeJobs = (count: number, channels: number): ReadonlyArray<Job> => {
  const next = random(4)
  const weights = Array.from({ length: channels }, (_, i) => 1 / (i + 1) ** 0.8)
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  const channelOf = () => {
    let target = next() * total
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i]!
      if (target <= 0) return `c${i}`
    }
    return `c${channels - 1}`
  }
  return Array.from({ length: count }, () => {
    const draw = next()
    const priority = Priority.all[Math.floor(next() * 4)]!
    const base = draw < 0.45
      ? GpuJobSpec.nvencRender1080p
      : draw < 0.9
      ? GpuJobSpec.sdxlThumbnail
      : new GpuJobSpec.GpuJobSpec({
        kind: "llm",
        vramMiB: 6144,
        estimatedSeconds: 30,
        computeShare: 0.5,
        priority,
        modelKey: "llama-3.1-8b-instruct-q4",
        modelLoadSeconds: 5
      })
    const spec = new GpuJobSpec.GpuJobSpec({
      ...base,
      priority,
      estimatedSeconds: base.estimatedSeconds * (0.75 + 0.5 * next())
    })
    return { spec, channel: channelOf() }
  })
}

interface Measured {
  readonly policy: Policy
  readonly decisions: number
  readonly microsPerDecision: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly queuedMin: number
  readonly queuedMax: number
  readonly leasesHeld: number
}

const measure = (policy: Policy, devices: number, queued: number, decisions: number, jobs: ReadonlyArray<Job>) => {
  const core = new SchedulerCore(Array.from({ length: devices }, (_, i) => rtx5090(i)), { policy })
  // Leases in the order they end (estimated seconds after their grant): a binary heap.
  const ends: Array<{ at: number; lease: CoreLease }> = []
  const push = (entry: { at: number; lease: CoreLease }) => {
    ends.push(entry)
    for (let i = ends.length - 1; i > 0;) {
      const parent = (i - 1) >> 1
      if (ends[parent]!.at <= ends[i]!.at) break
      ;[ends[parent], ends[i]] = [ends[i]!, ends[parent]!]
      i = parent
    }
  }
  const pop = () => {
    const top = ends[0]!
    const last = ends.pop()!
    if (ends.length > 0) {
      ends[0] = last
      for (let i = 0;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < ends.length && ends[l]!.at < ends[smallest]!.at) smallest = l
        if (r < ends.length && ends[r]!.at < ends[smallest]!.at) smallest = r
        if (smallest === i) break
        ;[ends[smallest], ends[i]] = [ends[i]!, ends[smallest]!]
        i = smallest
      }
    }
    return top
  }
  let now = 0
  let nextJob = 0
  const onGrant = (lease: CoreLease) => push({ at: now + lease.ticket.spec.estimatedSeconds, lease })
  const submit = () => {
    const job = jobs[nextJob++ % jobs.length]!
    core.submit(job.spec, job.channel, now, onGrant)
  }
  while (core.queued < queued) submit()
  const warmup = Math.floor(decisions / 10)
  const times = new Float64Array(decisions - warmup)
  let queuedMin = Number.POSITIVE_INFINITY
  let queuedMax = 0
  for (let i = 0; i < decisions; i += 2) {
    const end = pop()
    now = end.at
    const a = process.hrtime.bigint()
    core.release(end.lease, now)
    const b = process.hrtime.bigint()
    submit()
    const c = process.hrtime.bigint()
    if (i >= warmup) {
      times[i - warmup] = Number(b - a) / 1000
      if (i + 1 - warmup < times.length) times[i + 1 - warmup] = Number(c - b) / 1000
      queuedMin = Math.min(queuedMin, core.queued)
      queuedMax = Math.max(queuedMax, core.queued)
    }
  }
  const sorted = Array.from(times).toSorted((x, y) => x - y)
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 100) / 100
  const result: Measured = {
    policy,
    decisions: sorted.length,
    microsPerDecision: Math.round((sorted.reduce((sum, t) => sum + t, 0) / sorted.length) * 100) / 100,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    queuedMin,
    queuedMax,
    leasesHeld: ends.length
  }
  return result
}

const positive = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.withDefault(fallback)
  )

/**
 * The `gpu-scheduler` benchmark.
 *
 * @category commands
 */
export const command = Command.make(
  "gpu-scheduler",
  {
    queued: positive("queued", "Jobs waiting while decisions are measured (default 10000)", 10_000),
    decisions: positive("decisions", "Decisions to make per policy, a tenth of them warm-up (default 40000)", 40_000),
    devices: positive("devices", "RTX 5090s to schedule (default 2)", 2),
    channels: positive("channels", "Channels the jobs come from (default 1000)", 1000)
  },
  Effect.fnUntraced(function*(flags) {
    const atStart = loadAverage()
    const jobs = makeJobs(flags.queued + flags.decisions + 1000, flags.channels)
    const results: Array<Measured> = []
    for (const policy of ["ytempire", "first-fit", "fifo"] as const) {
      yield* Console.error(`gpu-scheduler: ${policy}, ${flags.queued} queued, ${flags.decisions} decisions`)
      results.push(yield* Effect.sync(() => measure(policy, flags.devices, flags.queued, flags.decisions, jobs)))
    }
    yield* Console.log(JSON.stringify({
      bench: "gpu-scheduler",
      node: process.version,
      cpus: availableParallelism(),
      loadAverage: { atStart, atEnd: loadAverage() },
      target: { microsPerDecision: 50 },
      queued: flags.queued,
      devices: flags.devices,
      channels: flags.channels,
      unit: "microseconds of wall time per decision (a release or a submit, with the grants it makes)",
      results
    }))
  })
).pipe(
  Command.withDescription(
    "Microseconds per VRAM scheduling decision with 10,000 jobs queued, against the first-fit and fifo baselines"
  )
)
