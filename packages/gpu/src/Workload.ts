/**
 * Simulator workloads: the devices of a GPU server and the jobs that arrive at it, read from a JSON file.
 *
 * ```json
 * { "devices": [ { "name": "rtx5090", "vramMiB": 32768, "headroomMiB": 1024, "encoderSessions": 8, "encoderEngines": 3 } ],
 *   "jobs": [ { "id": "v1-thumb", "video": "v1", "channel": "c1", "priority": "normal", "kind": "image",
 *               "arrivalS": 0, "vramMiB": 9216, "durationS": 6, "computeShare": 1, "model": "sdxl", "modelLoadS": 10,
 *               "encoderSessions": 0, "after": [] } ] }
 * ```
 *
 * A job arrives at `arrivalS` seconds, or when every job named in `after` has finished if that is later;
 * `durationS` is how long it runs alone on a device once its model is loaded. `headroomMiB` (default 0),
 * `encoderSessions` (0), `model` (none), `modelLoadS` (0) and `after` (none) may be left out.
 *
 * {@link decode} checks the file with Schema and then across jobs (unique ids, known and acyclic `after`, every
 * job fitting some device); its error names the field and, for a job, the job's id.
 *
 * @since 0.1.0
 */
import { GpuJobSpec, Ids, Priority } from "@ytempire/domain"
import { Effect, Result, Schema, SchemaIssue } from "effect"
import type { GpuDevice } from "./Device.ts"

const positiveInt = (name: string) => {
  const message = `${name} must be a positive integer`
  return Schema.Number.annotate({ message }).check(Schema.isInt({ message }), Schema.isGreaterThan(0, { message }))
}

const nonNegativeInt = (name: string) => {
  const message = `${name} must be a non-negative integer`
  return Schema.Number.annotate({ message }).check(
    Schema.isInt({ message }),
    Schema.isGreaterThanOrEqualTo(0, { message })
  )
}

const nonEmpty = (name: string) =>
  Schema.String.annotate({ message: `${name} must be a non-empty string` }).check(
    Schema.isNonEmpty({ message: `${name} must be a non-empty string` })
  )

const seconds = (name: string, check: "positive" | "nonNegative") => {
  const message = check === "positive"
    ? `${name} must be a positive number of seconds`
    : `${name} must be a non-negative number of seconds`
  return Schema.Number.annotate({ message }).check(
    Schema.isFinite({ message }),
    check === "positive" ? Schema.isGreaterThan(0, { message }) : Schema.isGreaterThanOrEqualTo(0, { message })
  )
}

const computeShareMessage = "computeShare must be a number greater than 0 and at most 1"

/**
 * A device of the simulated server.
 *
 * @category models
 */
export const WorkloadDevice = Schema.Struct({
  name: nonEmpty("name"),
  vramMiB: positiveInt("vramMiB"),
  headroomMiB: nonNegativeInt("headroomMiB").pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  encoderSessions: nonNegativeInt("encoderSessions").pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  encoderEngines: nonNegativeInt("encoderEngines").pipe(Schema.withDecodingDefaultKey(Effect.succeed(0)))
})
/** @category models */
export type WorkloadDevice = typeof WorkloadDevice.Type

/**
 * A job of the workload.
 *
 * @category models
 */
export const WorkloadJob = Schema.Struct({
  id: nonEmpty("id"),
  video: nonEmpty("video"),
  channel: nonEmpty("channel"),
  priority: Priority.PriorityClass.annotate({
    message: `priority must be one of "critical", "high", "normal" or "low"`
  }),
  kind: GpuJobSpec.GpuJobKind,
  arrivalS: seconds("arrivalS", "nonNegative"),
  vramMiB: positiveInt("vramMiB"),
  durationS: seconds("durationS", "positive"),
  computeShare: Schema.Number.annotate({ message: computeShareMessage }).check(
    Schema.isFinite({ message: computeShareMessage }),
    Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMinimum: true }, { message: computeShareMessage })
  ),
  model: Schema.optionalKey(nonEmpty("model")),
  modelLoadS: seconds("modelLoadS", "nonNegative").pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  encoderSessions: nonNegativeInt("encoderSessions").pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  after: Schema.Array(Schema.String.annotate({ message: "after must list job ids" })).annotate({
    message: "after must be an array of job ids"
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed([])))
})
/** @category models */
export type WorkloadJob = typeof WorkloadJob.Type

/**
 * A workload file.
 *
 * @category models
 */
export const Workload = Schema.Struct({
  devices: Schema.Array(WorkloadDevice).annotate({ message: "devices must be an array" }).check(
    Schema.isMinLength(1, { message: "devices must list at least one device" })
  ),
  jobs: Schema.Array(WorkloadJob).annotate({ message: "jobs must be an array" })
})
/** @category models */
export type Workload = typeof Workload.Type

/**
 * The workload file is not valid. `field` is the path of the offending value (`jobs[3].vramMiB`), `jobId` the id
 * of the job it belongs to, when it belongs to one.
 *
 * @category errors
 */
export class WorkloadInvalid extends Schema.TaggedError<WorkloadInvalid>()("WorkloadInvalid", {
  field: Schema.String,
  jobId: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    const where = this.jobId === undefined ? this.field : `job ${JSON.stringify(this.jobId)} (${this.field})`
    return `invalid workload: ${where}: ${this.reason}`
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) => typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`,
    ""
  )

/** The id of the raw job at `jobs[index]`, when the input has one. */
const rawJobId = (input: unknown, index: number): string | undefined => {
  const jobs = (input as { readonly jobs?: unknown } | null)?.jobs
  if (!Array.isArray(jobs)) return undefined
  const id = (jobs[index] as { readonly id?: unknown } | null | undefined)?.id
  return typeof id === "string" && id !== "" ? id : undefined
}

const fromSchemaError = (input: unknown, error: Schema.SchemaError): WorkloadInvalid => {
  const [first] = formatter(error.issue).issues
  const path = (first?.path ?? []).map((key) => typeof key === "object" && key !== null ? key.key : key)
  const jobId = path[0] === "jobs" && typeof path[1] === "number" ? rawJobId(input, path[1]) : undefined
  const reason = first?.message ?? error.message
  return new WorkloadInvalid({
    field: path.length === 0 ? "(file)" : pathText(path),
    reason,
    ...(jobId === undefined ? {} : { jobId })
  })
}

/**
 * The usable VRAM of a workload device: what the scheduler may lease.
 *
 * @category models
 */
export const usableMiB = (device: WorkloadDevice): number => device.vramMiB - device.headroomMiB

/** The checks across fields and jobs that a per-value schema cannot make. */
const crossCheck = (workload: Workload): Result.Result<Workload, WorkloadInvalid> => {
  for (const [index, device] of workload.devices.entries()) {
    if (device.headroomMiB >= device.vramMiB) {
      return Result.fail(
        new WorkloadInvalid({ field: `devices[${index}].headroomMiB`, reason: "headroomMiB must be less than vramMiB" })
      )
    }
    if (device.encoderSessions > 0 && device.encoderEngines === 0) {
      return Result.fail(
        new WorkloadInvalid({
          field: `devices[${index}].encoderEngines`,
          reason: "a device with encoder sessions needs at least one encoder engine"
        })
      )
    }
  }
  const byId = new Map<string, number>()
  for (const [index, job] of workload.jobs.entries()) {
    if (byId.has(job.id)) {
      return Result.fail(
        new WorkloadInvalid({
          field: `jobs[${index}].id`,
          jobId: job.id,
          reason: `the id is also used by jobs[${byId.get(job.id)}]`
        })
      )
    }
    byId.set(job.id, index)
  }
  const largest = Math.max(...workload.devices.map(usableMiB))
  for (const [index, job] of workload.jobs.entries()) {
    const fail = (field: string, reason: string) =>
      Result.fail(new WorkloadInvalid({ field: `jobs[${index}].${field}`, jobId: job.id, reason }))
    if (job.vramMiB > largest) {
      return fail("vramMiB", `the job needs ${job.vramMiB} MiB and the largest usable device has ${largest} MiB`)
    }
    if (!workload.devices.some((d) => usableMiB(d) >= job.vramMiB && d.encoderSessions >= job.encoderSessions)) {
      return fail("encoderSessions", `no device with room for the job allows ${job.encoderSessions} encoder sessions`)
    }
    for (const dependency of job.after) {
      if (dependency === job.id) return fail("after", "a job cannot wait for itself")
      if (!byId.has(dependency)) return fail("after", `${JSON.stringify(dependency)} is not a job of the workload`)
    }
  }
  const cycle = findCycle(workload.jobs, byId)
  if (cycle !== undefined) {
    const index = byId.get(cycle[0]!)!
    return Result.fail(
      new WorkloadInvalid({
        field: `jobs[${index}].after`,
        jobId: cycle[0]!,
        reason: `the jobs wait for each other in a cycle: ${cycle.join(" → ")}`
      })
    )
  }
  return Result.succeed(workload)
}

/** A cycle in the `after` graph, as the ids along it (first repeated at the end), if there is one. */
const findCycle = (
  jobs: ReadonlyArray<WorkloadJob>,
  byId: ReadonlyMap<string, number>
): ReadonlyArray<string> | undefined => {
  // 0 unvisited, 1 on the current path, 2 done; iterative, so a long chain cannot overflow the stack.
  const state = new Uint8Array(jobs.length)
  for (let start = 0; start < jobs.length; start++) {
    if (state[start] !== 0) continue
    const stack: Array<{ index: number; next: number }> = [{ index: start, next: 0 }]
    state[start] = 1
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const after = jobs[top.index]!.after
      if (top.next >= after.length) {
        state[top.index] = 2
        stack.pop()
        continue
      }
      const next = byId.get(after[top.next++]!)!
      if (state[next] === 1) {
        const from = stack.findIndex((frame) => frame.index === next)
        return [...stack.slice(from).map((frame) => jobs[frame.index]!.id), jobs[next]!.id]
      }
      if (state[next] === 0) {
        state[next] = 1
        stack.push({ index: next, next: 0 })
      }
    }
  }
  return undefined
}

/**
 * Reads a workload from parsed JSON, or fails naming the first bad field (and its job).
 *
 * @category decoding
 */
export const decode = (input: unknown): Result.Result<Workload, WorkloadInvalid> => {
  const decoded = Schema.decodeUnknownResult(Workload)(input, { errors: "first" })
  return Result.isFailure(decoded)
    ? Result.fail(fromSchemaError(input, decoded.failure))
    : crossCheck(decoded.success)
}

/**
 * Reads a workload from the text of a JSON file.
 *
 * @category decoding
 */
export const parse = (text: string): Result.Result<Workload, WorkloadInvalid> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Result.fail(
      new WorkloadInvalid({
        field: "(file)",
        reason: `not JSON: ${error instanceof Error ? error.message : String(error)}`
      })
    )
  }
  return decode(json)
}

/**
 * The scheduler's devices for a workload's devices: ids `gpu0`, `gpu1`, … in file order.
 *
 * @category constructors
 */
export const devicesOf = (workload: Workload): ReadonlyArray<GpuDevice> =>
  workload.devices.map((device, index) => ({
    id: deviceId(index),
    index,
    name: device.name,
    uuid: `simulated-${index}`,
    totalMiB: device.vramMiB,
    headroomMiB: device.headroomMiB,
    usableMiB: usableMiB(device),
    encoderSessions: device.encoderSessions,
    encoderEngines: device.encoderEngines
  }))

const deviceId = (index: number) => Schema.decodeSync(Ids.GpuDeviceId)(`gpu${index}`)

/**
 * The job spec the scheduler sees for a workload job.
 *
 * @category constructors
 */
export const specOf = (job: WorkloadJob): GpuJobSpec.GpuJobSpec =>
  new GpuJobSpec.GpuJobSpec({
    kind: job.kind,
    vramMiB: job.vramMiB,
    estimatedSeconds: job.durationS,
    computeShare: job.computeShare,
    priority: job.priority,
    modelLoadSeconds: job.modelLoadS,
    encoderSessions: job.encoderSessions,
    ...(job.model === undefined ? {} : { modelKey: job.model })
  })
