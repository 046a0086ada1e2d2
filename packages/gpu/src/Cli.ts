/**
 * The `ytempire-gpu` command line: `ytempire-gpu simulate --workload FILE [--policy ytempire|fifo|first-fit|all]
 * [--aging-seconds 300] [--json]` runs the VRAM scheduler and its baselines on a workload file in virtual time
 * and prints, per policy, the makespan against the lower bound, how busy the GPUs stayed while work waited,
 * videos per day against the fifo baseline, waits per priority class, model loads and peak VRAM per device.
 *
 * @since 0.1.0
 */
import { Console, Effect, FileSystem, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Simulator from "./Simulator.ts"
import * as Workload from "./Workload.ts"

const thousands = (value: number, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

const percent = (value: number) => `${(value * 100).toFixed(1)} %`

const waitsText = (waits: Simulator.Waits) =>
  waits.jobs === 0 ? "none" : `${thousands(waits.p50)}/${thousands(waits.p95)}/${thousands(waits.max)}`

/** The human-readable report of a comparison. */
const humanReport = (path: string, comparison: Simulator.Comparison): ReadonlyArray<string> => {
  const bound = comparison.lowerBound
  const lines = [
    `${path}: ${comparison.devices} GPUs, ${thousands(comparison.jobs)} jobs, ${thousands(comparison.videos)} videos`,
    `lower bound ${thousands(bound.seconds)} s (${bound.binding}; compute ${thousands(bound.compute)}, VRAM ${
      thousands(bound.vram)
    }, encoder ${thousands(bound.encoder)}, chain ${
      thousands(bound.chain)
    }); aging ${comparison.agingSeconds} s a class`
  ]
  for (const report of comparison.reports) {
    const vsFifo = report.throughputVsFifo === undefined ? "" : ` (${report.throughputVsFifo.toFixed(2)} × fifo)`
    const indent = " ".repeat(11)
    const starvation = report.starvation
    lines.push(
      "",
      `${report.policy.padEnd(10)} makespan ${thousands(report.makespanSeconds)} s = ${
        report.makespanOverBound.toFixed(3)
      } × bound   busy while queued ${percent(report.busyWhileQueued)} (compute ${
        percent(report.utilizationWhileQueued.compute)
      }, encoders ${percent(report.utilizationWhileQueued.encoder)})   ${
        thousands(report.videosPerDay, 1)
      } videos/day${vsFifo}`,
      `${indent}model loads ${report.modelLoads}   peak VRAM ${
        report.devices.map((d) => `${d.id} ${thousands(d.peakResidentMiB)}/${thousands(d.usableMiB)} MiB`).join(", ")
      }   over-commits ${report.overCommits}`,
      `${indent}waits p50/p95/max (s): critical ${waitsText(report.waits.critical)}, high ${
        waitsText(report.waits.high)
      }, normal ${waitsText(report.waits.normal)}, low ${waitsText(report.waits.low)}`,
      `${indent}low-priority max wait ${thousands(starvation.lowMaxWaitSeconds)} s ${
        starvation.withinBound ? "≤" : ">"
      } ${thousands(starvation.boundSeconds)} s (others' max + aging bound + longest lease)`
    )
  }
  return lines
}

/**
 * `ytempire-gpu simulate`.
 *
 * @category commands
 */
export const simulate = Command.make(
  "simulate",
  {
    workload: Flag.File("workload", { mustExist: true }).pipe(
      Flag.withDescription("The workload file (JSON: devices and jobs)")
    ),
    policy: Flag.Literals("policy", ["ytempire", "fifo", "first-fit", "all"]).pipe(
      Flag.withDescription("The policy to run: ours, a baseline, or all three side by side (default)"),
      Flag.withDefault("all")
    ),
    agingSeconds: Flag.Finite("aging-seconds").pipe(
      Flag.withDescription("Seconds of waiting that move a job one priority class up (default 300)"),
      Flag.withSchema(Schema.Finite.check(Schema.isGreaterThan(0))),
      Flag.withDefault(300)
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON line"), Flag.withDefault(false))
  },
  Effect.fn("Cli.simulate")(function*({ agingSeconds, json, policy, workload }) {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(workload).pipe(
      Effect.mapError((error) => new Workload.WorkloadInvalid({ field: "(file)", reason: error.message }))
    )
    const parsed = Workload.parse(text)
    if (parsed._tag === "Failure") return yield* parsed.failure
    const selected = policy === "all" ? Simulator.policies : [policy]
    const comparison = Simulator.compare(parsed.success, selected, { agingSeconds })
    if (json) {
      const { reports, ...figures } = comparison
      return yield* Console.log(JSON.stringify({ workload, ...figures, policies: reports }))
    }
    for (const line of humanReport(workload, comparison)) yield* Console.log(line)
  })
).pipe(Command.withDescription("Run the VRAM scheduler and its baselines on a workload file in virtual time"))

/**
 * The root command.
 *
 * @category commands
 */
export const ytempireGpu = Command.make("ytempire-gpu").pipe(
  Command.withDescription("ytempire-gpu: the VRAM scheduler's simulator"),
  Command.withSubcommands([simulate])
)
