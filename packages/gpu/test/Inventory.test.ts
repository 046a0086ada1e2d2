import { NodeServices } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Health from "@ytempire/gpu/Health"
import { GpuInventory, type GpuSetting, parseSetting } from "@ytempire/gpu/Inventory"
import { ConfigProvider, Effect, Layer, Result } from "effect"
import { fakeNvidiaSmi, fixture } from "./utils/fakeNvidiaSmi.ts"

const inventory = <E>(layer: Layer.Layer<GpuInventory, E>) =>
  Effect.gen(function*() {
    return yield* GpuInventory
  }).pipe(Effect.provide(layer))

const probe = (command: string, options?: Parameters<typeof GpuInventory.layerProbe>[0]) =>
  inventory(GpuInventory.layerProbe({ command, ...options }).pipe(Layer.provide(NodeServices.layer)))

// The inventory YTEMPIRE_GPU and YTEMPIRE_GPU_HEADROOM_MIB in `env` name.
const config = (env: Record<string, string>) =>
  GpuInventory.layerConfig.pipe(
    Layer.provide(NodeServices.layer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
  )

const settingOf = (value: string): GpuSetting => Result.getOrThrow(parseSetting(value))

describe("GpuInventory.layerProbe", () => {
  it.live("finds the GPUs nvidia-smi reports, named by UUID, with the headroom taken off", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-three-gpus.csv") })
      const gpus = yield* probe(smi.command, { headroomMiB: 2048 })
      expect(gpus.source).toBe("nvidia-smi")
      expect(gpus.devices).toEqual([
        {
          id: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
          index: 0,
          name: "NVIDIA GeForce RTX 5090",
          uuid: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
          totalMiB: 32607,
          headroomMiB: 2048,
          usableMiB: 30559,
          encoderSessions: 8,
          encoderEngines: 3
        },
        {
          id: "GPU-a1b2c3d4-5e6f-4071-8293-a4b5c6d7e8f9",
          index: 1,
          name: "NVIDIA GeForce RTX 4090",
          uuid: "GPU-a1b2c3d4-5e6f-4071-8293-a4b5c6d7e8f9",
          totalMiB: 24564,
          headroomMiB: 2048,
          usableMiB: 22516,
          encoderSessions: 8,
          encoderEngines: 2
        },
        // An unknown card gets the cautious GeForce figures.
        {
          id: "GPU-0d6e2f41-9c3b-4a7e-b5d8-16f2e9a0c7b4",
          index: 2,
          name: "NVIDIA RTX A6000",
          uuid: "GPU-0d6e2f41-9c3b-4a7e-b5d8-16f2e9a0c7b4",
          totalMiB: 49140,
          headroomMiB: 2048,
          usableMiB: 47092,
          encoderSessions: 8,
          encoderEngines: 1
        }
      ])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("keeps 1024 MiB of headroom by default and knows the H100 has no NVENC", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-not-reported.csv") })
      const gpus = yield* probe(smi.command)
      expect(gpus.devices.map((d) => [d.name, d.usableMiB, d.encoderSessions, d.encoderEngines])).toEqual([
        ["NVIDIA H100 80GB HBM3", 81559 - 1024, 0, 0],
        ["NVIDIA L4", 23034 - 1024, 1024, 2]
      ])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("reads live memory, utilization and temperature per device, and leaves out one that vanished", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-requires-reset.csv") })
      const gpus = yield* probe(smi.command)
      const [first, second] = gpus.devices
      assert(first !== undefined && second !== undefined)

      const readings = yield* gpus.readings
      expect(readings).toEqual([
        { deviceId: first.id, memoryUsedMiB: 1234, utilizationPercent: 12, temperatureC: 45, faults: [] },
        {
          deviceId: second.id,
          faults: [
            "memory.used: [GPU requires reset]",
            "utilization.gpu: [GPU requires reset]",
            "temperature.gpu: [GPU requires reset]"
          ]
        }
      ])
      expect(readings.map((r) => Health.evaluate(r, "healthy"))).toEqual(["healthy", "draining"])

      // The second GPU falls off the bus.
      yield* smi.answer({ stdout: yield* fixture("nvidia-smi-device-lost.txt"), exitCode: 15 })
      const after = yield* gpus.readings
      expect(after.map((r) => r.deviceId)).toEqual([first.id])
      expect(Health.evaluate(after.find((r) => r.deviceId === second.id), "healthy")).toBe("unavailable")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("is 'none' when there is no nvidia-smi", () =>
    Effect.gen(function*() {
      const gpus = yield* probe("/nonexistent/bin/nvidia-smi")
      expect(gpus.source).toBe("none")
      expect(gpus.devices).toEqual([])
      expect(yield* gpus.readings).toEqual([])
    }))

  it.live("is 'none' when nvidia-smi finds no devices", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-no-devices.txt"), exitCode: 6 })
      const gpus = yield* probe(smi.command)
      expect(gpus.source).toBe("none")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("falls back to the configured preset when there is no nvidia-smi", () =>
    Effect.gen(function*() {
      const gpus = yield* probe("/nonexistent/bin/nvidia-smi", { fallback: { preset: "rtx5090", count: 2 } })
      expect(gpus.source).toBe("configured")
      expect(gpus.devices.map((d) => [d.id, d.totalMiB, d.usableMiB])).toEqual([
        ["gpu0", 32768, 31744],
        ["gpu1", 32768, 31744]
      ])
    }))

  it.live("fails rather than run without the GPU when nvidia-smi is there but broken", () =>
    Effect.gen(function*() {
      const smi = yield* fakeNvidiaSmi({ stdout: yield* fixture("nvidia-smi-no-driver.txt"), exitCode: 9 })
      const error = yield* Effect.flip(probe(smi.command, { fallback: { preset: "rtx5090", count: 1 } }))
      expect(error._tag).toBe("NvidiaSmiFailed")

      yield* smi.answer({ stdout: yield* fixture("nvidia-smi-with-header.txt") })
      const garbage = yield* Effect.flip(probe(smi.command))
      assert(garbage._tag === "NvidiaSmiUnparseable")
      expect(garbage.lineNumber).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})

describe("GpuInventory presets and configuration", () => {
  it.effect("rtx5090 is a 32 GiB card with 8 NVENC sessions on 3 engines, 31 GiB of it usable", () =>
    Effect.gen(function*() {
      const gpus = yield* inventory(GpuInventory.layerPreset("rtx5090"))
      expect(gpus.source).toBe("configured")
      expect(gpus.devices).toEqual([{
        id: "gpu0",
        index: 0,
        name: "NVIDIA GeForce RTX 5090",
        uuid: "",
        totalMiB: 32768,
        headroomMiB: 1024,
        usableMiB: 31744,
        encoderSessions: 8,
        encoderEngines: 3
      }])
      // Nothing is read live: the configured device is taken to be present and well.
      expect(yield* gpus.readings).toEqual([{ deviceId: "gpu0", faults: [] }])
    }))

  it.effect("configured devices are named by id or gpu<index>, each with its own or the common headroom", () =>
    Effect.gen(function*() {
      const gpus = yield* inventory(GpuInventory.layerConfigured([
        { name: "Big", totalMiB: 49152, encoderSessions: 1024, encoderEngines: 3, id: "a6000", headroomMiB: 4096 },
        { name: "Small", totalMiB: 8192, encoderSessions: 8, encoderEngines: 1 }
      ], { headroomMiB: 512 }))
      expect(gpus.devices.map((d) => [d.id, d.index, d.usableMiB])).toEqual([["a6000", 0, 45056], ["gpu1", 1, 7680]])
    }))

  it.effect("refuses a headroom that leaves nothing usable, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(inventory(GpuInventory.layerPreset("rtx4090", { headroomMiB: 24576 })))
      expect(error.field).toBe("devices.0.headroomMiB")
      expect(error.message).toContain("leaves nothing usable")
      const negative = yield* Effect.flip(inventory(GpuInventory.layerPreset("rtx4090", { headroomMiB: -1 })))
      expect(negative.field).toBe("headroomMiB")
      const duplicate = yield* Effect.flip(inventory(GpuInventory.layerConfigured([
        { name: "A", totalMiB: 8192, encoderSessions: 8, encoderEngines: 1, id: "x" },
        { name: "B", totalMiB: 8192, encoderSessions: 8, encoderEngines: 1, id: "x" }
      ])))
      expect(duplicate.message).toContain("distinct")
    }))

  it.effect("none has no devices and no readings", () =>
    Effect.gen(function*() {
      const gpus = yield* inventory(GpuInventory.layerNone)
      expect([gpus.source, gpus.devices, yield* gpus.readings]).toEqual(["none", [], []])
    }))

  it.effect("layerConfig reads YTEMPIRE_GPU and YTEMPIRE_GPU_HEADROOM_MIB", () =>
    Effect.gen(function*() {
      const gpus = yield* inventory(config({ YTEMPIRE_GPU: "rtx4090x2", YTEMPIRE_GPU_HEADROOM_MIB: "512" }))
      expect(gpus.devices.map((d) => [d.id, d.name, d.usableMiB])).toEqual([
        ["gpu0", "NVIDIA GeForce RTX 4090", 24064],
        ["gpu1", "NVIDIA GeForce RTX 4090", 24064]
      ])
      const error = yield* Effect.flip(inventory(config({ YTEMPIRE_GPU: "rtx9090" })))
      assert(error._tag === "InvalidGpuSetting")
      expect(error.value).toBe("rtx9090")
    }))
})

describe("parseSetting", () => {
  it("accepts probe, none, a preset, several of a preset, and a probe with a fallback", () => {
    expect(settingOf("probe")).toEqual({ _tag: "Probe" })
    expect(settingOf("none")).toEqual({ _tag: "None" })
    expect(settingOf("rtx5090")).toEqual({ _tag: "Preset", preset: "rtx5090", count: 1 })
    expect(settingOf(" RTX5090X2 ")).toEqual({ _tag: "Preset", preset: "rtx5090", count: 2 })
    expect(settingOf("l4x16")).toEqual({ _tag: "Preset", preset: "l4", count: 16 })
    expect(settingOf("probe:h100x8")).toEqual({ _tag: "Probe", fallback: { preset: "h100", count: 8 } })
  })

  it("rejects anything else, naming the value and listing the valid forms and presets", () => {
    for (const value of ["rtx9090", "rtx5090x0", "rtx5090x17", "probe:", "probe:none", "5090", "", "gpu"]) {
      const error = Result.getFailure(parseSetting(value))
      assert(error._tag === "Some", value)
      expect(error.value.value).toBe(value)
      expect(error.value.message).toContain(JSON.stringify(value))
      for (const valid of ["probe", "none", "rtx5090", "rtx4090", "l4", "h100"]) {
        expect(error.value.message).toContain(valid)
      }
    }
  })
})
