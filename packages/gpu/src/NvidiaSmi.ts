/**
 * nvidia-smi: the query the GPU inventory runs, the parser for its CSV output, and the live query.
 *
 * The inventory asks for `index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu` as CSV
 * without header or units, one line per GPU:
 *
 * ```text
 * 0, NVIDIA GeForce RTX 5090, GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13, 32607, 1234, 12, 45
 * ```
 *
 * A field the card does not report reads `[N/A]` or `[Not Supported]` and is left out of the {@link Row}; a field
 * the driver could not read (`[GPU requires reset]`, `[Unknown Error]`, `ERR!`) is recorded in the row's
 * `faults`, which the health evaluation turns into "draining". A GPU nvidia-smi cannot open at all gets a line
 * such as `Unable to determine the device handle for GPU0000:02:00.0: Unknown Error` instead of a row; such lines
 * are kept in {@link Probe}'s `faults` (they name a PCI bus, not a device the inventory knows).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Fiber, Option, Result, Schema, Stream } from "effect"
import type { PlatformError } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

/**
 * The fields queried, in the order of the CSV columns.
 *
 * @category constants
 */
export const fields = [
  "index",
  "name",
  "uuid",
  "memory.total",
  "memory.used",
  "utilization.gpu",
  "temperature.gpu"
] as const

/**
 * The arguments of the query: `--query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu
 * --format=csv,noheader,nounits`.
 *
 * @category constants
 */
export const queryArgs: ReadonlyArray<string> = [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"]

/**
 * The command run when none is given: `nvidia-smi`, looked up on `PATH`.
 *
 * @category constants
 */
export const defaultCommand = "nvidia-smi"

/**
 * How long a query may take. A wedged driver can make nvidia-smi hang; the query then fails rather than stalling
 * the health monitor.
 *
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(10)

/**
 * One GPU as nvidia-smi reports it. Memory is in MiB, utilization in percent, temperature in °C; a figure the
 * card does not report (`[N/A]`, `[Not Supported]`) or could not read is absent.
 *
 * @category models
 */
export interface Row {
  readonly index: number
  readonly name: string
  readonly uuid: string
  readonly memoryTotalMiB?: number
  readonly memoryUsedMiB?: number
  readonly utilizationPercent?: number
  readonly temperatureC?: number
  /** The fields the driver reported an error for, as `field: value` (`temperature.gpu: [GPU requires reset]`). */
  readonly faults: ReadonlyArray<string>
}

/**
 * What one query found: a row per GPU that answered, and the problems that belong to no row (a GPU that could
 * not be opened; a non-zero exit beside usable rows).
 *
 * @category models
 */
export interface Probe {
  readonly rows: ReadonlyArray<Row>
  readonly faults: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * There is no nvidia-smi to run (no NVIDIA driver on this machine, or not on `PATH`). The inventory treats this
 * as a machine without a GPU.
 *
 * @category errors
 */
export class NvidiaSmiNotFound extends Schema.TaggedError<NvidiaSmiNotFound>()("NvidiaSmiNotFound", {
  command: Schema.String
}) {
  override get message(): string {
    return `${this.command} was not found: no NVIDIA driver on this machine, or it is not on PATH`
  }
}

/**
 * nvidia-smi ran but gave no readings: it exited with an error (`exitCode`; `message` ends with what it said,
 * such as "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"), did not answer in time,
 * or could not be started.
 *
 * @category errors
 */
export class NvidiaSmiFailed extends Schema.TaggedError<NvidiaSmiFailed>()("NvidiaSmiFailed", {
  command: Schema.String,
  message: Schema.String,
  exitCode: Schema.optionalKey(Schema.Int),
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * A line of nvidia-smi's output is neither a GPU reading nor a message it is known to print: `lineNumber`
 * (from 1) and `line` say which, `reason` what is wrong with it.
 *
 * @category errors
 */
export class NvidiaSmiUnparseable extends Schema.TaggedError<NvidiaSmiUnparseable>()("NvidiaSmiUnparseable", {
  lineNumber: Schema.Int,
  line: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `nvidia-smi output line ${this.lineNumber} is not a GPU reading (${this.reason}): ${this.line}`
  }
}

/**
 * Any way a query can fail.
 *
 * @category errors
 */
export type NvidiaSmiError = NvidiaSmiNotFound | NvidiaSmiFailed | NvidiaSmiUnparseable

// ---------------------------------------------------------------------------------------------------------------
// parsing

const notReported = new Set(["[N/A]", "N/A", "[Not Supported]"])

// nvidia-smi brackets every value that is not a reading; "ERR!" is what older drivers print for a failed read.
const isFault = (value: string): boolean =>
  value === "ERR!" || (value.startsWith("[") && value.endsWith("]") && !notReported.has(value))

const deviceFaultLine = /^Unable to determine the device handle\b|\bGPU is lost\b/i
const noDevicesLine = /^No devices were found\b/i
const uuidPattern = /^(GPU|MIG)-[0-9a-f][0-9a-f-]*$/i
const numberPattern = /^\d+(\.\d+)?$/

type Parsed<A> = { readonly _tag: "ok"; readonly value: A } | { readonly _tag: "bad"; readonly reason: string }

const ok = <A>(value: A): Parsed<A> => ({ _tag: "ok", value })
const bad = (reason: string): Parsed<never> => ({ _tag: "bad", reason })

type Cell =
  | { readonly _tag: "value"; readonly value: number }
  | { readonly _tag: "absent" }
  | { readonly _tag: "fault"; readonly fault: string }

const numberCell = (field: string, text: string): Parsed<Cell> => {
  if (notReported.has(text)) return ok({ _tag: "absent" })
  if (isFault(text)) return ok({ _tag: "fault", fault: `${field}: ${text}` })
  if (!numberPattern.test(text)) return bad(`${field} ${JSON.stringify(text)} is not a number`)
  return ok({ _tag: "value", value: Number(text) })
}

// A row, or a fault that belongs to no row (the GPU's index or UUID could not be read).
const parseRow = (line: string): Parsed<Row | { readonly _tag: "fault"; readonly fault: string }> => {
  const cells = line.split(",").map((cell) => cell.trim())
  if (cells.length !== fields.length) {
    return bad(`expected ${fields.length} comma-separated fields (${fields.join(", ")}), found ${cells.length}`)
  }
  const [index, name, uuid, ...figures] = cells as [string, string, string, string, string, string, string]
  if (isFault(index) || isFault(uuid)) return ok({ _tag: "fault", fault: line })
  if (!/^\d+$/.test(index)) return bad(`index ${JSON.stringify(index)} is not a whole number`)
  if (name === "") return bad("the name is empty")
  if (!uuidPattern.test(uuid)) return bad(`uuid ${JSON.stringify(uuid)} is not a GPU UUID`)

  const faults: Array<string> = isFault(name) ? [`name: ${name}`] : []
  const values: Array<number | undefined> = []
  for (let i = 0; i < figures.length; i++) {
    const cell = numberCell(fields[i + 3]!, figures[i]!)
    if (cell._tag === "bad") return cell
    values.push(cell.value._tag === "value" ? cell.value.value : undefined)
    if (cell.value._tag === "fault") faults.push(cell.value.fault)
  }
  const [memoryTotalMiB, memoryUsedMiB, utilizationPercent, temperatureC] = values
  return ok({
    index: Number(index),
    name,
    uuid,
    ...(memoryTotalMiB === undefined ? {} : { memoryTotalMiB }),
    ...(memoryUsedMiB === undefined ? {} : { memoryUsedMiB }),
    ...(utilizationPercent === undefined ? {} : { utilizationPercent }),
    ...(temperatureC === undefined ? {} : { temperatureC }),
    faults
  })
}

/**
 * Parses the output of the query ({@link queryArgs}). Blank lines and "No devices were found" are skipped; lines
 * about a GPU nvidia-smi could not open go to `faults`; any other line that is not a GPU reading fails with
 * {@link NvidiaSmiUnparseable} naming it.
 *
 * @category parsing
 */
export const parse = (output: string): Result.Result<Probe, NvidiaSmiUnparseable> => {
  const rows: Array<Row> = []
  const faults: Array<string> = []
  const lines = output.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === "" || noDevicesLine.test(line)) continue
    if (deviceFaultLine.test(line)) {
      faults.push(line)
      continue
    }
    const parsed = parseRow(line)
    if (parsed._tag === "bad") {
      return Result.fail(new NvidiaSmiUnparseable({ lineNumber: i + 1, line, reason: parsed.reason }))
    }
    if ("_tag" in parsed.value) faults.push(parsed.value.fault)
    else rows.push(parsed.value)
  }
  return Result.succeed({ rows, faults })
}

// ---------------------------------------------------------------------------------------------------------------
// the live query

/**
 * Where nvidia-smi is and how long to wait for it.
 *
 * @category models
 */
export interface QueryOptions {
  /** The executable (default `nvidia-smi` on `PATH`); a path lets tests and unusual installs name another. */
  readonly command?: string | undefined
  /** Default {@link defaultTimeout}. */
  readonly timeout?: Duration.Input | undefined
}

const outputLimit = 64 * 1024

const tailOf = (text: string, lines = 8): string => text.trim().split(/\r?\n/).slice(-lines).join("\n")

interface Completed {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const collect = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>) =>
  Stream.runFold(Stream.decodeText(stream), () => "", (text, chunk) => (text + chunk).slice(-outputLimit))

/**
 * Runs the query once and parses its output.
 *
 * - No executable: {@link NvidiaSmiNotFound}.
 * - "No devices were found" (the driver is there, the GPUs are not): an empty probe.
 * - A non-zero exit with readings for some GPUs: those rows, with the exit in `faults`; without any readings:
 *   {@link NvidiaSmiFailed} with the exit code and the tail of what it printed.
 * - No answer within the timeout: {@link NvidiaSmiFailed}. The process is then killed in the background, so a
 *   process stuck in the driver cannot stall the caller.
 *
 * @category queries
 */
export const query: (
  options?: QueryOptions
) => Effect.Effect<Probe, NvidiaSmiError, ChildProcessSpawner.ChildProcessSpawner> = Effect.fn("NvidiaSmi.query")(
  function*(options?: QueryOptions) {
    const command = options?.command ?? defaultCommand
    const timeout = Duration.fromInputUnsafe(options?.timeout ?? defaultTimeout)
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner

    const runOnce: Effect.Effect<Completed, PlatformError.PlatformError> = Effect.scoped(Effect.gen(function*() {
      const handle = yield* spawner.spawn(
        ChildProcess.make(command, queryArgs, { stdin: "ignore", forceKillAfter: "1 second" })
      )
      const [stdout, stderr, exitCode] = yield* Effect.all(
        [collect(handle.stdout), collect(handle.stderr), handle.exitCode],
        { concurrency: "unbounded" }
      )
      return { exitCode: Number(exitCode), stdout, stderr }
    }))

    // Run detached and wait with a timeout, so that a process the kernel will not let die cannot hold us.
    const fiber = yield* Effect.forkDetach(runOnce)
    const outcome = yield* Fiber.join(fiber).pipe(
      Effect.timeoutOption(timeout),
      Effect.onInterrupt(() => Effect.forkDetach(Fiber.interrupt(fiber))),
      Effect.mapError((error) =>
        error.reason._tag === "NotFound"
          ? new NvidiaSmiNotFound({ command })
          : new NvidiaSmiFailed({ command, message: `could not run ${command}: ${error.message}`, cause: error })
      )
    )
    if (Option.isNone(outcome)) {
      yield* Effect.forkDetach(Fiber.interrupt(fiber))
      return yield* new NvidiaSmiFailed({
        command,
        message: `${command} did not answer within ${Duration.format(timeout)}`
      })
    }

    const { exitCode, stderr, stdout } = outcome.value
    const parsed = parse(stdout)
    if (exitCode === 0) return yield* Effect.fromResult(parsed)
    if (noDevicesLine.test(stdout.trim()) || noDevicesLine.test(stderr.trim())) return { rows: [], faults: [] }
    if (Result.isSuccess(parsed) && parsed.success.rows.length > 0) {
      return {
        rows: parsed.success.rows,
        faults: [...parsed.success.faults, `${command} exited with code ${exitCode}`]
      }
    }
    const said = tailOf(`${stderr}\n${stdout}`)
    return yield* new NvidiaSmiFailed({
      command,
      exitCode,
      message: `${command} exited with code ${exitCode}${said === "" ? "" : `: ${said}`}`
    })
  }
)
