import { describe, expect, it } from "@effect/vitest"
import * as Workload from "@ytempire/gpu/Workload"
import { Result } from "effect"

const rtx5090 = { name: "rtx5090", vramMiB: 32_768, headroomMiB: 1024, encoderSessions: 8, encoderEngines: 3 }

const thumb = {
  id: "v1-thumb",
  video: "v1",
  channel: "c1",
  priority: "normal",
  kind: "image",
  arrivalS: 0,
  vramMiB: 9000,
  durationS: 6,
  computeShare: 1.0,
  model: "sdxl",
  modelLoadS: 20,
  encoderSessions: 0,
  after: []
}

const render = {
  id: "v1-render",
  video: "v1",
  channel: "c1",
  priority: "normal",
  kind: "render",
  arrivalS: 0,
  vramMiB: 2048,
  durationS: 354,
  computeShare: 0.25,
  encoderSessions: 1,
  after: ["v1-thumb"]
}

const invalid = (input: unknown): Workload.WorkloadInvalid => {
  const result = Workload.decode(input)
  if (Result.isSuccess(result)) throw new Error("expected the workload to be refused")
  return result.failure
}

describe("Workload", () => {
  it("reads the issue's example and fills in the defaults", () => {
    const { after: _, encoderSessions: __, ...bare } = render
    const result = Workload.decode({ devices: [rtx5090], jobs: [thumb, bare] })
    if (Result.isFailure(result)) throw result.failure
    expect(Workload.usableMiB(result.success.devices[0]!)).toBe(31_744)
    expect(result.success.jobs[1]).toMatchObject({ id: "v1-render", after: [], encoderSessions: 0, modelLoadS: 0 })
    expect(result.success.jobs[1]!.model).toBeUndefined()
    expect(Workload.devicesOf(result.success)[0]).toMatchObject({ id: "gpu0", usableMiB: 31_744, encoderEngines: 3 })
    expect(Workload.specOf(result.success.jobs[0]!)).toMatchObject({
      kind: "image",
      vramMiB: 9000,
      estimatedSeconds: 6,
      modelKey: "sdxl",
      modelLoadSeconds: 20
    })
  })

  it("names the field and the job of a bad value", () => {
    const error = invalid({ devices: [rtx5090], jobs: [render, { ...thumb, vramMiB: -5 }] })
    expect(error).toMatchObject({ field: "jobs[1].vramMiB", jobId: "v1-thumb" })
    expect(error.message).toBe(
      `invalid workload: job "v1-thumb" (jobs[1].vramMiB): vramMiB must be a positive integer`
    )
    expect(invalid({ devices: [rtx5090], jobs: [{ ...thumb, priority: "urgent" }] }).message).toContain(
      `job "v1-thumb" (jobs[0].priority): priority must be one of "critical", "high", "normal" or "low"`
    )
    expect(invalid({ devices: [rtx5090], jobs: [{ ...thumb, computeShare: 1.5 }] })).toMatchObject({
      field: "jobs[0].computeShare",
      jobId: "v1-thumb"
    })
  })

  it("names the field and the job of a missing value, and the position of a job without an id", () => {
    const { durationS: _, ...noDuration } = thumb
    expect(invalid({ devices: [rtx5090], jobs: [noDuration] })).toMatchObject({
      field: "jobs[0].durationS",
      jobId: "v1-thumb"
    })
    const { id: __, ...noId } = thumb
    const error = invalid({ devices: [rtx5090], jobs: [render, noId] })
    expect(error.field).toBe("jobs[1].id")
    expect(error.jobId).toBeUndefined()
  })

  it("refuses a job that waits for an unknown job, for itself or in a cycle, naming it", () => {
    expect(invalid({ devices: [rtx5090], jobs: [thumb, { ...render, after: ["v9-thumb"] }] })).toMatchObject({
      field: "jobs[1].after",
      jobId: "v1-render",
      reason: `"v9-thumb" is not a job of the workload`
    })
    expect(invalid({ devices: [rtx5090], jobs: [{ ...thumb, after: ["v1-thumb"] }] }).reason).toBe(
      "a job cannot wait for itself"
    )
    const cycle = invalid({ devices: [rtx5090], jobs: [{ ...thumb, after: ["v1-render"] }, render] })
    expect(cycle).toMatchObject({ field: "jobs[0].after", jobId: "v1-thumb" })
    expect(cycle.reason).toContain("v1-thumb → v1-render → v1-thumb")
  })

  it("refuses duplicate ids and jobs no device could hold", () => {
    expect(invalid({ devices: [rtx5090], jobs: [thumb, { ...render, id: "v1-thumb", after: [] }] })).toMatchObject({
      field: "jobs[1].id",
      jobId: "v1-thumb"
    })
    const tooBig = invalid({ devices: [rtx5090], jobs: [{ ...thumb, vramMiB: 40_000 }] })
    expect(tooBig).toMatchObject({ field: "jobs[0].vramMiB", jobId: "v1-thumb" })
    expect(tooBig.reason).toContain("largest usable device has 31744 MiB")
    expect(invalid({ devices: [rtx5090], jobs: [{ ...render, encoderSessions: 9, after: [] }] })).toMatchObject({
      field: "jobs[0].encoderSessions",
      jobId: "v1-render"
    })
  })

  it("refuses bad devices and files that are not JSON", () => {
    expect(invalid({ devices: [{ ...rtx5090, headroomMiB: 40_000 }], jobs: [] })).toMatchObject({
      field: "devices[0].headroomMiB"
    })
    expect(invalid({ devices: [], jobs: [] })).toMatchObject({
      field: "devices",
      reason: "devices must list at least one device"
    })
    expect(invalid({ devices: [{ ...rtx5090, encoderEngines: 0 }], jobs: [] }).field).toBe("devices[0].encoderEngines")
    const notJson = Workload.parse("{ devices: ")
    expect(Result.isFailure(notJson) && notJson.failure.message).toMatch(/^invalid workload: \(file\): not JSON/)
  })
})
