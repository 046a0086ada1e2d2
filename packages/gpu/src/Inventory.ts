/**
 * The GPU inventory: which devices this machine has, how much of each the scheduler may lease, and their live
 * readings. Three sources, chosen by configuration (`YTEMPIRE_GPU`):
 *
 * - `probe` — ask nvidia-smi (the default). No nvidia-smi, or no GPU behind it, means no devices, unless a
 *   fallback preset is given (`probe:rtx5090`).
 * - a preset (`rtx5090`, `rtx5090x2`, …) — plan with named cards without looking; for development machines,
 *   containers without the driver utilities, and the simulator.
 * - `none` — no GPU: GPU stages take their CPU path.
 *
 * Each device keeps `headroomMiB` (1024 by default) free of leases for the driver, CUDA contexts and
 * fragmentation: `usableMiB = totalMiB - headroomMiB`.
 *
 * Probed devices are named by their UUID (stable across reboots and PCI re-enumeration); configured ones
 * `gpu0`, `gpu1`, … in index order.
 *
 * @since 0.1.0
 */
import { type Gpu, Ids } from "@ytempire/domain"
import { Config, Context, Duration, Effect, Layer, Option, Result, Schema } from "effect"
import { ChildProcessSpawner } from "effect/process"
import type { GpuDevice } from "./Device.ts"
import * as NvidiaSmi from "./NvidiaSmi.ts"

// ---------------------------------------------------------------------------------------------------------------
// presets

/**
 * NVENC sessions on a device whose driver sets no cap (professional and data-centre cards): a figure no
 * workload reaches, so only VRAM and the encoders' throughput bound them. A finite integer, because device
 * status and metrics carry it as one.
 *
 * @category constants
 */
export const uncappedEncoderSessions = 1024

/**
 * Concurrent NVENC sessions current GeForce drivers allow (older drivers allowed 5, and 3 before that).
 *
 * @category constants
 */
export const geforceEncoderSessions = 8

/**
 * The headroom kept free on every device when none is configured, in MiB.
 *
 * @category constants
 */
export const defaultHeadroomMiB = 1024

/**
 * A card the inventory knows by name: its VRAM, its NVENC session limit and its number of encoder engines,
 * and the pattern that recognises it in nvidia-smi's `name`.
 *
 * @category models
 */
export interface Preset {
  readonly name: string
  readonly totalMiB: number
  readonly encoderSessions: number
  readonly encoderEngines: number
  readonly matches: RegExp
}

/**
 * The presets.
 *
 * - `rtx5090`: 32 GiB (nvidia-smi reports 32607 MiB; the headroom covers the difference), 3 NVENC engines,
 *   the GeForce limit of 8 sessions.
 * - `rtx4090`: 24 GiB (24564 MiB reported), 2 NVENC engines, 8 sessions.
 * - `l4`: 23034 MiB, as reported with ECC on (its default); the nominal 24 GiB would over-promise by more than the
 *   default headroom. 2 NVENC engines; the data-centre driver sets no session cap.
 * - `h100`: 81559 MiB, as reported by the 80 GB SXM and PCIe cards with ECC on. **No NVENC at all**: the
 *   H100 has video decoders but no encoders, so jobs that encode never land on it.
 *
 * @category constants
 */
export const presets = {
  rtx5090: {
    name: "NVIDIA GeForce RTX 5090",
    totalMiB: 32 * 1024,
    encoderSessions: geforceEncoderSessions,
    encoderEngines: 3,
    matches: /\bRTX 5090\b/i
  },
  rtx4090: {
    name: "NVIDIA GeForce RTX 4090",
    totalMiB: 24 * 1024,
    encoderSessions: geforceEncoderSessions,
    encoderEngines: 2,
    matches: /\bRTX 4090\b/i
  },
  l4: {
    name: "NVIDIA L4",
    totalMiB: 23034,
    encoderSessions: uncappedEncoderSessions,
    encoderEngines: 2,
    matches: /\bL4\b/
  },
  h100: {
    name: "NVIDIA H100 80GB HBM3",
    totalMiB: 81559,
    encoderSessions: 0,
    encoderEngines: 0,
    matches: /\bH100\b/i
  }
} as const satisfies Record<string, Preset>

/**
 * A preset's name.
 *
 * @category models
 */
export type PresetName = keyof typeof presets

/**
 * The preset names, in the order they are listed to users.
 *
 * @category constants
 */
export const presetNames: ReadonlyArray<PresetName> = Object.keys(presets) as Array<PresetName>

const isPresetName = (name: string): name is PresetName => Object.hasOwn(presets, name)

/**
 * The most devices one setting may name (`rtx5090x16`).
 *
 * @category constants
 */
export const maxPresetCount = 16

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * A GPU setting (`YTEMPIRE_GPU`) is not one of the accepted forms: `value` is what was given, `valid` the
 * forms and presets accepted.
 *
 * @category errors
 */
export class InvalidGpuSetting extends Schema.TaggedError<InvalidGpuSetting>()("InvalidGpuSetting", {
  value: Schema.String,
  valid: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid GPU setting ${JSON.stringify(this.value)}: expected ${this.valid.join(", ")}`
  }
}

/**
 * A configured device or headroom cannot be used: `field` names it (`headroomMiB`, `devices.1.totalMiB`),
 * `message` says why.
 *
 * @category errors
 */
export class InvalidGpuConfiguration extends Schema.TaggedError<InvalidGpuConfiguration>()(
  "InvalidGpuConfiguration",
  {
    field: Schema.String,
    message: Schema.String
  }
) {}

// ---------------------------------------------------------------------------------------------------------------
// settings

/**
 * Some number of one preset.
 *
 * @category models
 */
export interface PresetChoice {
  readonly preset: PresetName
  readonly count: number
}

/**
 * A parsed GPU setting.
 *
 * @category models
 */
export type GpuSetting =
  | { readonly _tag: "Probe"; readonly fallback?: PresetChoice | undefined }
  | ({ readonly _tag: "Preset" } & PresetChoice)
  | { readonly _tag: "None" }

/**
 * The accepted forms of a GPU setting, for messages.
 *
 * @category constants
 */
export const validSettings: ReadonlyArray<string> = [
  "probe",
  "none",
  "<preset>",
  `<preset>x<count> (count 1 to ${maxPresetCount})`,
  "probe:<preset>[x<count>] (probe, else the preset)",
  ...presetNames.map((name) => `preset ${name}`)
]

const presetChoice = (text: string): PresetChoice | undefined => {
  if (isPresetName(text)) return { preset: text, count: 1 }
  const [, name, count] = /^(.+)x(\d+)$/.exec(text) ?? []
  if (name === undefined || !isPresetName(name)) return undefined
  const n = Number(count)
  return n >= 1 && n <= maxPresetCount ? { preset: name, count: n } : undefined
}

/**
 * Parses a GPU setting such as `YTEMPIRE_GPU`: `probe`, `none`, a preset (`rtx5090`), several of one preset
 * (`rtx5090x2`), or a probe that falls back to a preset when there is no nvidia-smi (`probe:rtx5090`). Case and
 * surrounding spaces do not matter.
 *
 * @category parsing
 */
export const parseSetting = (value: string): Result.Result<GpuSetting, InvalidGpuSetting> => {
  const text = value.trim().toLowerCase()
  const invalid = Result.fail(new InvalidGpuSetting({ value, valid: validSettings }))
  if (text === "probe") return Result.succeed({ _tag: "Probe" })
  if (text === "none") return Result.succeed({ _tag: "None" })
  if (text.startsWith("probe:")) {
    const fallback = presetChoice(text.slice("probe:".length))
    return fallback === undefined ? invalid : Result.succeed({ _tag: "Probe", fallback })
  }
  const choice = presetChoice(text)
  return choice === undefined ? invalid : Result.succeed({ _tag: "Preset", ...choice })
}

// ---------------------------------------------------------------------------------------------------------------
// the service

/**
 * One device's live figures, where the source has them: memory in use (by anything, not only by leases),
 * utilization, temperature, and the fields the driver reported an error for. A configured device has a reading
 * with no figures: it is assumed present and well.
 *
 * @category models
 */
export interface GpuReading {
  readonly deviceId: Ids.GpuDeviceId
  readonly memoryUsedMiB?: number
  readonly utilizationPercent?: number
  readonly temperatureC?: number
  readonly faults: ReadonlyArray<string>
}

/**
 * The devices and their readings.
 *
 * @category services
 */
export class GpuInventory extends Context.Service<GpuInventory, {
  /** Where the devices came from. */
  readonly source: Gpu.InventorySource
  /** The devices in index order; empty when the source is "none". Fixed for the life of the layer. */
  readonly devices: ReadonlyArray<GpuDevice>
  /**
   * Current readings, one per device that answered. A device missing from the answer has disappeared (the
   * health monitor marks it "unavailable"); a failed query fails.
   */
  readonly readings: Effect.Effect<ReadonlyArray<GpuReading>, NvidiaSmi.NvidiaSmiError>
}>()("@ytempire/gpu/Inventory/GpuInventory") {
  /**
   * The inventory nvidia-smi reports, queried once when the layer is built; `readings` queries again.
   *
   * With no nvidia-smi, or "No devices were found", the source is "none", or the `fallback` preset when one is
   * given. Any other failure of nvidia-smi (a driver/library mismatch, unparseable output) fails the layer rather
   * than silently running without the GPU.
   *
   * **Gotchas**: a GPU added while running is ignored until the layer is built again; a probed device whose
   * memory the driver cannot report is left out (with a warning).
   *
   * @category layers
   */
  static readonly layerProbe = (
    options?: ProbeOptions
  ): Layer.Layer<
    GpuInventory,
    NvidiaSmi.NvidiaSmiError | InvalidGpuConfiguration,
    ChildProcessSpawner.ChildProcessSpawner
  > =>
    Layer.effect(
      GpuInventory,
      Effect.gen(function*() {
        const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
        const headroomMiB = yield* headroom(options)
        const query = NvidiaSmi.query({ command: options?.command, timeout: options?.timeout }).pipe(
          Effect.provideService(ChildProcessSpawner.ChildProcessSpawner, spawner)
        )
        const probe = yield* query.pipe(
          Effect.catchTag("NvidiaSmiNotFound", (error) =>
            Effect.as(Effect.logInfo(`GPU inventory: ${error.message}`), { rows: [], faults: [] }))
        )
        for (const fault of probe.faults) {
          yield* Effect.logWarning(`GPU inventory: ${fault}`)
        }
        if (probe.rows.length === 0) {
          const fallback = options?.fallback
          if (fallback === undefined) {
            return none
          }
          yield* Effect.logInfo(`GPU inventory: nvidia-smi found no GPU; using the ${fallback.preset} preset`)
          return yield* configured(presetDevices(fallback), headroomMiB)
        }
        const devices: Array<GpuDevice> = []
        for (const row of probe.rows.toSorted(byIndex)) {
          if (row.memoryTotalMiB === undefined) {
            yield* Effect.logWarning(`GPU inventory: left out GPU ${row.index} (${row.uuid}): its memory is unknown`)
            continue
          }
          devices.push(yield* probedDevice(row, row.memoryTotalMiB, headroomMiB, options))
        }
        const readings = query.pipe(Effect.map((found) =>
          readingsOf(devices, found.rows)
        ))
        return GpuInventory.of({ source: "nvidia-smi", devices, readings })
      })
    )

  /**
   * `count` devices of a preset (one by default), named `gpu0`, `gpu1`, …
   *
   * @category layers
   */
  static readonly layerPreset = (
    preset: PresetName,
    options?: InventoryOptions & { readonly count?: number | undefined }
  ): Layer.Layer<GpuInventory, InvalidGpuConfiguration> =>
    Layer.effect(
      GpuInventory,
      Effect.gen(function*() {
        const count = options?.count ?? 1
        if (!Number.isInteger(count) || count < 1 || count > maxPresetCount) {
          return yield* new InvalidGpuConfiguration({
            field: "count",
            message: `count must be a whole number from 1 to ${maxPresetCount}, got ${count}`
          })
        }
        return yield* configured(presetDevices({ preset, count }), yield* headroom(options))
      })
    )

  /**
   * Devices described by configuration, in index order. Each is named by its `id` if given, else `gpu<index>`.
   *
   * @category layers
   */
  static readonly layerConfigured = (
    devices: ReadonlyArray<ConfiguredDevice>,
    options?: InventoryOptions
  ): Layer.Layer<GpuInventory, InvalidGpuConfiguration> =>
    Layer.effect(GpuInventory, Effect.flatMap(headroom(options), (headroomMiB) => configured(devices, headroomMiB)))

  /**
   * No GPU.
   *
   * @category layers
   */
  static readonly layerNone: Layer.Layer<GpuInventory> = Layer.sync(GpuInventory, () => none)

  /**
   * The inventory a parsed {@link GpuSetting} names.
   *
   * @category layers
   */
  static readonly layerSetting = (
    setting: GpuSetting,
    options?: ProbeOptions
  ): Layer.Layer<
    GpuInventory,
    NvidiaSmi.NvidiaSmiError | InvalidGpuConfiguration,
    ChildProcessSpawner.ChildProcessSpawner
  > => {
    switch (setting._tag) {
      case "Probe":
        return GpuInventory.layerProbe({ ...options, fallback: setting.fallback ?? options?.fallback })
      case "Preset":
        return GpuInventory.layerPreset(setting.preset, { ...options, count: setting.count })
      case "None":
        return GpuInventory.layerNone
    }
  }

  /**
   * The inventory configuration names: `YTEMPIRE_GPU` (a {@link GpuSetting}, `probe` when unset) and
   * `YTEMPIRE_GPU_HEADROOM_MIB` (1024 when unset).
   *
   * @category layers
   */
  static readonly layerConfig: Layer.Layer<
    GpuInventory,
    Config.ConfigError | InvalidGpuSetting | NvidiaSmi.NvidiaSmiError | InvalidGpuConfiguration,
    ChildProcessSpawner.ChildProcessSpawner
  > = Layer.unwrap(Effect.gen(function*() {
    const value = yield* Config.String("YTEMPIRE_GPU").pipe(Config.withDefault("probe"))
    const headroomMiB = yield* Config.Int("YTEMPIRE_GPU_HEADROOM_MIB").pipe(Config.withDefault(defaultHeadroomMiB))
    const setting = yield* Effect.fromResult(parseSetting(value))
    return GpuInventory.layerSetting(setting, { headroomMiB })
  }))

  /**
   * An inventory with the given devices and readings, for tests.
   *
   * @category layers
   */
  static readonly layerTest = (options: {
    readonly devices: ReadonlyArray<GpuDevice>
    readonly readings: Effect.Effect<ReadonlyArray<GpuReading>, NvidiaSmi.NvidiaSmiError>
    readonly source?: Gpu.InventorySource | undefined
  }): Layer.Layer<GpuInventory> =>
    Layer.succeed(
      GpuInventory,
      GpuInventory.of({ source: options.source ?? "configured", devices: options.devices, readings: options.readings })
    )
}

// ---------------------------------------------------------------------------------------------------------------
// options

/**
 * Options every source shares.
 *
 * @category models
 */
export interface InventoryOptions {
  /** MiB kept free of leases on every device; default {@link defaultHeadroomMiB}. */
  readonly headroomMiB?: number | undefined
}

/**
 * How to probe.
 *
 * @category models
 */
export interface ProbeOptions extends InventoryOptions {
  /** The nvidia-smi executable; default `nvidia-smi` on `PATH`. */
  readonly command?: string | undefined
  /** How long one query may take; default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** The devices to plan with when nvidia-smi finds none; absent: none. */
  readonly fallback?: PresetChoice | undefined
  /**
   * NVENC sessions and engines of every probed device, overriding what the inventory infers from the name
   * (a known preset's figures; otherwise the GeForce limit of 8 sessions on 1 engine, the cautious guess).
   */
  readonly encoderSessions?: number | undefined
  readonly encoderEngines?: number | undefined
}

/**
 * A device described by configuration.
 *
 * @category models
 */
export interface ConfiguredDevice {
  readonly name: string
  readonly totalMiB: number
  readonly encoderSessions: number
  readonly encoderEngines: number
  /** Default `gpu<index>`. */
  readonly id?: string | undefined
  /** The device's UUID when known; the process runner then selects it by UUID rather than by index. */
  readonly uuid?: string | undefined
  /** This device's headroom, overriding the inventory's. */
  readonly headroomMiB?: number | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// building devices

const none = GpuInventory.of({ source: "none", devices: [], readings: Effect.succeed([]) })

const isCount = (n: number) => Number.isInteger(n) && n >= 0

const headroom = (options: InventoryOptions | undefined): Effect.Effect<number, InvalidGpuConfiguration> => {
  const headroomMiB = options?.headroomMiB ?? defaultHeadroomMiB
  return isCount(headroomMiB)
    ? Effect.succeed(headroomMiB)
    : Effect.fail(
      new InvalidGpuConfiguration({
        field: "headroomMiB",
        message: `headroomMiB must be a whole number of MiB, 0 or more, got ${headroomMiB}`
      })
    )
}

const presetDevices = ({ count, preset }: PresetChoice): Array<ConfiguredDevice> => {
  const { encoderEngines, encoderSessions, name, totalMiB } = presets[preset]
  return Array.from({ length: count }, () => ({ name, totalMiB, encoderSessions, encoderEngines }))
}

const device = (
  field: string,
  fields: Omit<GpuDevice, "usableMiB" | "id"> & { readonly id: string }
): Effect.Effect<GpuDevice, InvalidGpuConfiguration> => {
  const invalid = (name: string, message: string) =>
    Effect.fail(new InvalidGpuConfiguration({ field: `${field}.${name}`, message }))
  const id = Ids.GpuDeviceId.makeOption(fields.id)
  if (Option.isNone(id)) return invalid("id", `${JSON.stringify(fields.id)} is not a usable device id`)
  if (!isCount(fields.totalMiB) || fields.totalMiB === 0) {
    return invalid("totalMiB", `totalMiB must be a positive whole number of MiB, got ${fields.totalMiB}`)
  }
  if (!isCount(fields.headroomMiB)) {
    return invalid("headroomMiB", `headroomMiB must be a whole number of MiB, 0 or more, got ${fields.headroomMiB}`)
  }
  if (fields.headroomMiB >= fields.totalMiB) {
    return invalid(
      "headroomMiB",
      `the headroom of ${fields.headroomMiB} MiB leaves nothing usable of ${fields.name}'s ${fields.totalMiB} MiB`
    )
  }
  if (!isCount(fields.encoderSessions)) {
    return invalid("encoderSessions", `encoderSessions must be a whole number, got ${fields.encoderSessions}`)
  }
  if (!isCount(fields.encoderEngines)) {
    return invalid("encoderEngines", `encoderEngines must be a whole number, got ${fields.encoderEngines}`)
  }
  return Effect.succeed({ ...fields, id: id.value, usableMiB: fields.totalMiB - fields.headroomMiB })
}

const configured = Effect.fnUntraced(function*(devices: ReadonlyArray<ConfiguredDevice>, headroomMiB: number) {
  const built: Array<GpuDevice> = []
  for (const [index, config] of devices.entries()) {
    built.push(
      yield* device(`devices.${index}`, {
        id: config.id ?? `gpu${index}`,
        index,
        name: config.name,
        uuid: config.uuid ?? "",
        totalMiB: config.totalMiB,
        headroomMiB: config.headroomMiB ?? headroomMiB,
        encoderSessions: config.encoderSessions,
        encoderEngines: config.encoderEngines
      })
    )
  }
  const ids = new Set(built.map((d) => d.id))
  if (ids.size !== built.length) {
    return yield* new InvalidGpuConfiguration({ field: "devices", message: "device ids must be distinct" })
  }
  // Nothing to read live: each configured device is taken to be present and well.
  const readings = Effect.succeed(built.map((d): GpuReading => ({ deviceId: d.id, faults: [] })))
  return GpuInventory.of({ source: "configured", devices: built, readings })
})

const byIndex = (a: NvidiaSmi.Row, b: NvidiaSmi.Row): number => a.index - b.index

// What a probed card's encoders are, from its name.
const encodersOf = (name: string, options: ProbeOptions | undefined) => {
  const known = Object.values(presets).find((preset) => preset.matches.test(name))
  return {
    encoderSessions: options?.encoderSessions ?? known?.encoderSessions ?? geforceEncoderSessions,
    encoderEngines: options?.encoderEngines ?? known?.encoderEngines ?? 1
  }
}

const probedDevice = (row: NvidiaSmi.Row, totalMiB: number, headroomMiB: number, options?: ProbeOptions) =>
  device(`gpu ${row.index}`, {
    id: row.uuid,
    index: row.index,
    name: row.name,
    uuid: row.uuid,
    totalMiB,
    headroomMiB,
    ...encodersOf(row.name, options)
  })

const readingsOf = (devices: ReadonlyArray<GpuDevice>, rows: ReadonlyArray<NvidiaSmi.Row>): Array<GpuReading> =>
  devices.flatMap((d) => {
    const row = rows.find((r) => r.uuid === d.uuid)
    if (row === undefined) return []
    return [{
      deviceId: d.id,
      ...(row.memoryUsedMiB === undefined ? {} : { memoryUsedMiB: row.memoryUsedMiB }),
      ...(row.utilizationPercent === undefined ? {} : { utilizationPercent: row.utilizationPercent }),
      ...(row.temperatureC === undefined ? {} : { temperatureC: row.temperatureC }),
      faults: row.faults
    }]
  })
