import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
const mvpDay = fileURLToPath(new URL("../../../bench/gpu/mvp-day.json", import.meta.url))

const ytempireGpu = (...args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("ytempire-gpu simulate", () => {
  it("prints one JSON line comparing the three policies on a workload", () => {
    const { status, stdout } = ytempireGpu("simulate", "--workload", mvpDay, "--json")
    expect(status).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines).toHaveLength(1)
    const report = JSON.parse(lines[0]!)
    expect(report).toMatchObject({ devices: 1, jobs: 110, videos: 50, lowerBound: { binding: "encoder" } })
    expect(report.policies.map((p: { policy: string }) => p.policy)).toEqual(["ytempire", "fifo", "first-fit"])
    const [ours] = report.policies
    expect(ours.makespanOverBound).toBeLessThanOrEqual(1.05)
    expect(ours.throughputVsFifo).toBeGreaterThanOrEqual(1.5)
    expect(ours.waits.low.jobs).toBeGreaterThan(0)
    expect(ours.devices[0].peakResidentMiB).toBeLessThanOrEqual(ours.devices[0].usableMiB)
  })

  it("prints a readable report for one policy", () => {
    const { status, stdout } = ytempireGpu("simulate", "--workload", mvpDay, "--policy", "fifo")
    expect(status).toBe(0)
    expect(stdout).toContain("1 GPUs, 110 jobs, 50 videos")
    expect(stdout).toMatch(/^fifo\s+makespan [\d,]+ s = [\d.]+ × bound/m)
    expect(stdout).not.toMatch(/^ytempire/m)
  })

  it("refuses a bad workload with one line naming the job and the field, and exit code 2", () => {
    const file = join(mkdtempSync(join(tmpdir(), "ytempire-gpu-")), "bad.json")
    writeFileSync(
      file,
      JSON.stringify({
        devices: [{ name: "rtx5090", vramMiB: 32_768, headroomMiB: 1024, encoderSessions: 8, encoderEngines: 3 }],
        jobs: [{
          id: "v1-thumb",
          video: "v1",
          channel: "c1",
          priority: "normal",
          kind: "image",
          arrivalS: 0,
          vramMiB: 9000,
          durationS: "six",
          computeShare: 1
        }]
      })
    )
    const { status, stderr, stdout } = ytempireGpu("simulate", "--workload", file)
    expect(status).toBe(2)
    expect(stdout).toBe("")
    expect(stderr.trim()).toBe(
      `ytempire-gpu: invalid workload: job "v1-thumb" (jobs[0].durationS): durationS must be a positive number of seconds`
    )
    expect(ytempireGpu("simulate", "--workload", join(tmpdir(), "no-such-workload.json")).status).toBe(2)
  })
})
