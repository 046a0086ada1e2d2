import { NodeServices } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import * as NvidiaSmi from "@ytempire/gpu/NvidiaSmi"
import { Duration, Effect, Result } from "effect"
import { fakeNvidiaSmi, fixture } from "./utils/fakeNvidiaSmi.ts"

const parsed = (output: string) => Result.getOrThrow(NvidiaSmi.parse(output))

const uuid5090 = "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13"

describe("NvidiaSmi.parse", () => {
  it.effect("reads an RTX 5090's index, name, UUID, memory, utilization and temperature", () =>
    Effect.gen(function*() {
      const probe = parsed(yield* fixture("nvidia-smi-rtx5090.csv"))
      expect(probe).toEqual({
        rows: [{
          index: 0,
          name: "NVIDIA GeForce RTX 5090",
          uuid: uuid5090,
          memoryTotalMiB: 32607,
          memoryUsedMiB: 1234,
          utilizationPercent: 12,
          temperatureC: 45,
          faults: []
        }],
        faults: []
      })
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("reads one row per GPU, in the order printed", () =>
    Effect.gen(function*() {
      const probe = parsed(yield* fixture("nvidia-smi-three-gpus.csv"))
      expect(probe.rows.map((row) => [row.index, row.name, row.memoryTotalMiB, row.memoryUsedMiB])).toEqual([
        [0, "NVIDIA GeForce RTX 5090", 32607, 18342],
        [1, "NVIDIA GeForce RTX 4090", 24564, 3],
        [2, "NVIDIA RTX A6000", 49140, 512]
      ])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("leaves out figures a card does not report ([N/A], [Not Supported]) without calling them faults", () =>
    Effect.gen(function*() {
      const [h100, l4] = parsed(yield* fixture("nvidia-smi-not-reported.csv")).rows
      expect(h100).toEqual({
        index: 0,
        name: "NVIDIA H100 80GB HBM3",
        uuid: "GPU-6b1f0e7a-2c9d-4e58-a3b1-7f0c2d9e4a65",
        memoryTotalMiB: 81559,
        memoryUsedMiB: 13,
        temperatureC: 34,
        faults: []
      })
      expect(l4?.temperatureC).toBeUndefined()
      expect(l4?.utilizationPercent).toBe(0)
      expect(l4?.faults).toEqual([])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("records the fields a GPU that needs a reset cannot report as its faults", () =>
    Effect.gen(function*() {
      const [healthy, broken] = parsed(yield* fixture("nvidia-smi-requires-reset.csv")).rows
      expect(healthy?.faults).toEqual([])
      expect(broken?.uuid).toBe("GPU-9e8d7c6b-5a49-4382-9170-fedcba987654")
      expect(broken?.memoryTotalMiB).toBe(32607)
      expect(broken?.temperatureC).toBeUndefined()
      expect(broken?.faults).toEqual([
        "memory.used: [GPU requires reset]",
        "utilization.gpu: [GPU requires reset]",
        "temperature.gpu: [GPU requires reset]"
      ])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("keeps a GPU that cannot be opened as a fault beside the rows of the others", () =>
    Effect.gen(function*() {
      const probe = parsed(yield* fixture("nvidia-smi-device-lost.txt"))
      expect(probe.rows.map((row) => row.uuid)).toEqual([uuid5090])
      expect(probe.faults).toEqual(["Unable to determine the device handle for GPU0000:02:00.0: Unknown Error"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("fails on output that is not a GPU reading, naming the line", () =>
    Effect.gen(function*() {
      const error = Result.getFailure(NvidiaSmi.parse(yield* fixture("nvidia-smi-with-header.txt")))
      assert(error._tag === "Some")
      expect(error.value.lineNumber).toBe(1)
      expect(error.value.line).toMatch(/^index, name, uuid, memory\.total \[MiB\]/)
      expect(error.value.message).toContain("line 1")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("names the figure that is not a number", () =>
    Effect.sync(() => {
      const output = `0, NVIDIA GeForce RTX 5090, ${uuid5090}, 32607, 1234, 12, 45\n` +
        `1, NVIDIA GeForce RTX 5090, ${uuid5090}, 32607 MiB, 1234, 12, 45\n`
      const error = Result.getFailure(NvidiaSmi.parse(output))
      assert(error._tag === "Some")
      expect(error.value.lineNumber).toBe(2)
      expect(error.value.reason).toBe(`memory.total "32607 MiB" is not a number`)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("reads 'No devices were found' and empty output as no GPUs", () =>
    Effect.gen(function*() {
      expect(parsed(yield* fixture("nvidia-smi-no-devices.txt"))).toEqual({ rows: [], faults: [] })
      expect(parsed("")).toEqual({ rows: [], faults: [] })
    }).pipe(Effect.provide(NodeServices.layer)))
})

// Real processes: a fake nvidia-smi script stands in for the real one.
describe("NvidiaSmi.query", () => {
  it.live("runs the inventory's query and parses one GPU", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-rtx5090.csv") })
      const probe = yield* NvidiaSmi.query({ command: smi.command })
      expect(probe.rows.map((row) => [row.uuid, row.memoryTotalMiB, row.temperatureC])).toEqual([
        [uuid5090, 32607, 45]
      ])
      expect(yield* smi.lastArgs).toEqual([
        "--query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu",
        "--format=csv,noheader,nounits"
      ])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("parses several GPUs", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-three-gpus.csv") })
      const probe = yield* NvidiaSmi.query({ command: smi.command })
      expect(probe.rows.map((row) => row.index)).toEqual([0, 1, 2])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("fails with NvidiaSmiNotFound when there is no such command", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NvidiaSmi.query({ command: "/nonexistent/bin/nvidia-smi" }))
      expect(error).toEqual(new NvidiaSmi.NvidiaSmiNotFound({ command: "/nonexistent/bin/nvidia-smi" }))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("fails with NvidiaSmiUnparseable naming the line when the output is garbage", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: "<html>502 Bad Gateway</html>\n" })
      const error = yield* Effect.flip(NvidiaSmi.query({ command: smi.command }))
      assert(error._tag === "NvidiaSmiUnparseable")
      expect(error.lineNumber).toBe(1)
      expect(error.line).toBe("<html>502 Bad Gateway</html>")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("fails with the exit code and what nvidia-smi said when it exits with an error", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-no-driver.txt"), exitCode: 9 })
      const error = yield* Effect.flip(NvidiaSmi.query({ command: smi.command }))
      assert(error._tag === "NvidiaSmiFailed")
      expect(error.exitCode).toBe(9)
      expect(error.message).toContain("exited with code 9")
      expect(error.message).toContain("couldn't communicate with the NVIDIA driver")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("keeps the GPUs that answered when it exits with an error for another", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-device-lost.txt"), exitCode: 15 })
      const probe = yield* NvidiaSmi.query({ command: smi.command })
      expect(probe.rows.map((row) => row.uuid)).toEqual([uuid5090])
      expect(probe.faults).toContain(`${smi.command} exited with code 15`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("reads 'No devices were found' with its non-zero exit as no GPUs", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-no-devices.txt"), exitCode: 6 })
      expect(yield* NvidiaSmi.query({ command: smi.command })).toEqual({ rows: [], faults: [] })
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("gives up on an nvidia-smi that does not answer within the timeout", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-rtx5090.csv"), delaySeconds: 30 })
      const [took, error] = yield* Effect.timed(
        Effect.flip(NvidiaSmi.query({ command: smi.command, timeout: "200 millis" }))
      )
      expect(error._tag).toBe("NvidiaSmiFailed")
      expect(error.message).toContain("did not answer within")
      expect(Duration.toMillis(took)).toBeLessThan(1_000)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
