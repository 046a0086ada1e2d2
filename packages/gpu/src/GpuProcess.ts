/**
 * Runs a GPU job's process (a Python/torch script, ffmpeg with NVENC) under a lease: the process sees only the
 * leased device, is told how much of its memory it may use, and never outlives the effect that runs it.
 *
 * **The device.** `CUDA_VISIBLE_DEVICES` names the leased device by UUID (by index, with `CUDA_DEVICE_ORDER=
 * PCI_BUS_ID` so the index means nvidia-smi's, for a configured device without a UUID). CUDA programs, torch and
 * ffmpeg's NVENC encoders then see that one device, as device 0.
 *
 * **The memory.** Nothing outside the process can cap how much VRAM a CUDA process allocates, short of MPS; the
 * runner passes the lease along so the job can keep to it:
 *
 * - `YTEMPIRE_GPU_VRAM_MIB`: the lease, in MiB.
 * - `YTEMPIRE_GPU_MEMORY_FRACTION`: the lease as a fraction of the device's total memory, rounded down, for a
 *   torch script to apply with `torch.cuda.set_per_process_memory_fraction(float(os.environ[...]))` before it
 *   allocates. That limits torch's caching allocator only (an allocation past it raises an out-of-memory error);
 *   the CUDA context (a few hundred MiB) and memory other libraries allocate directly are not counted.
 *   `PYTORCH_CUDA_ALLOC_CONF` has no cap option: it tunes fragmentation (`max_split_size_mb`,
 *   `expandable_segments`, `garbage_collection_threshold`).
 * - `CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=<MiB>M`: a hard limit on the device memory the process may allocate, but
 *   only when an MPS control daemon is running (CUDA 11.5 or later); otherwise CUDA ignores it. `0` is the
 *   device's ordinal as the process sees it, after `CUDA_VISIBLE_DEVICES`.
 * - ffmpeg has no memory cap; an NVENC render's lease is an estimate the scheduler trusts.
 *
 * The lease's variables override the same names in `env`, so a job cannot pick another device.
 *
 * **Stopping.** The process leads its own process group. When the run is interrupted or its `timeout` passes,
 * the group gets SIGTERM and, if anything in it is still running after `killGrace` (5 seconds by default),
 * SIGKILL; the run completes only once the process has exited, so the lease it holds is released after the
 * memory is free. Whatever the process left running in its group when it exited is stopped the same way.
 *
 * **Gotchas**: run the server under an init that reaps orphans (systemd, tini, `docker run --init`). Effect's
 * Node spawner waits until no member of the group is left, zombies included; a descendant orphaned by the job's
 * exit stays a zombie until init reaps it, and without such an init each one costs the grace plus a second
 * before the run completes and the lease is released.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Fiber, Option, Schema, Stream } from "effect"
import type { PlatformError } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import type { GpuLease } from "./Device.ts"

/**
 * The time between SIGTERM and SIGKILL when none is given.
 *
 * @category constants
 */
export const defaultKillGrace: Duration.Duration = Duration.seconds(5)

/**
 * How many characters of each of stdout and stderr are kept (the last ones) when no limit is given.
 *
 * @category constants
 */
export const defaultOutputLimit = 64 * 1024

/**
 * A process to run.
 *
 * @category models
 */
export interface GpuCommand {
  /** The executable (`python3`, `ffmpeg`, a path). */
  readonly command: string
  readonly args?: ReadonlyArray<string> | undefined
  /** Added to this process's environment; the lease's variables win over the same names. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly cwd?: string | undefined
  /** Stop the process when it runs longer; no limit when absent. */
  readonly timeout?: Duration.Input | undefined
  /** Time between SIGTERM and SIGKILL; default {@link defaultKillGrace}. */
  readonly killGrace?: Duration.Input | undefined
  /** Characters kept of each of stdout and stderr (the last ones); default {@link defaultOutputLimit}. */
  readonly outputLimit?: number | undefined
}

/**
 * A process that exited with code 0: its pid and the tail of what it wrote.
 *
 * @category models
 */
export class ProcessResult extends Schema.Class<ProcessResult>("@ytempire/gpu/GpuProcess/ProcessResult")({
  pid: Schema.Int,
  stdout: Schema.String,
  stderr: Schema.String,
  /** Whether the start of stdout was dropped to keep to the output limit. */
  stdoutTruncated: Schema.Boolean,
  stderrTruncated: Schema.Boolean
}) {}

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * The process ended unsuccessfully: with a non-zero `exitCode`, or killed by a `signal` it did not expect (the
 * kernel's out-of-memory killer sends SIGKILL). `stderrTail` is the end of what it wrote to stderr.
 *
 * @category errors
 */
export class GpuProcessExited extends Schema.TaggedError<GpuProcessExited>()("GpuProcessExited", {
  command: Schema.String,
  pid: Schema.Int,
  exitCode: Schema.optionalKey(Schema.Int),
  signal: Schema.optionalKey(Schema.String),
  stderrTail: Schema.String
}) {
  override get message(): string {
    const how = this.exitCode === undefined
      ? `was killed by ${this.signal ?? "a signal"}`
      : `exited with code ${this.exitCode}`
    return `${this.command} ${how}${this.stderrTail === "" ? "" : `:\n${this.stderrTail}`}`
  }
}

/**
 * The process ran longer than its timeout and was stopped (SIGTERM, then SIGKILL after the grace).
 *
 * @category errors
 */
export class GpuProcessTimedOut extends Schema.TaggedError<GpuProcessTimedOut>()("GpuProcessTimedOut", {
  command: Schema.String,
  pid: Schema.Int,
  timeoutMillis: Schema.Number,
  stderrTail: Schema.String
}) {
  override get message(): string {
    return `${this.command} ran longer than ${Duration.format(Duration.millis(this.timeoutMillis))} and was stopped`
  }
}

/**
 * The process could not be started: no such executable, not executable, or no such working directory.
 *
 * @category errors
 */
export class GpuProcessSpawnFailed extends Schema.TaggedError<GpuProcessSpawnFailed>()("GpuProcessSpawnFailed", {
  command: Schema.String,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * Any way a run can fail.
 *
 * @category errors
 */
export type GpuProcessError = GpuProcessExited | GpuProcessTimedOut | GpuProcessSpawnFailed

// ---------------------------------------------------------------------------------------------------------------
// running

const uuidPattern = /^(GPU|MIG)-/i

/**
 * The environment variables that confine a process to its lease (see the module's description).
 *
 * @category running
 */
export const leaseEnvironment = (lease: GpuLease): Record<string, string> => {
  const { device } = lease
  const byUuid = uuidPattern.test(device.uuid)
  const fraction = Math.floor((lease.vramMiB / device.totalMiB) * 1e6) / 1e6
  return {
    CUDA_VISIBLE_DEVICES: byUuid ? device.uuid : String(device.index),
    CUDA_DEVICE_ORDER: "PCI_BUS_ID",
    CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: `0=${lease.vramMiB}M`,
    YTEMPIRE_GPU_DEVICE_ID: device.id,
    YTEMPIRE_GPU_LEASE_ID: String(lease.leaseId),
    YTEMPIRE_GPU_VRAM_MIB: String(lease.vramMiB),
    YTEMPIRE_GPU_MEMORY_FRACTION: String(Math.min(1, fraction))
  }
}

// The last `limit` characters written to a stream.
class Tail {
  text = ""
  truncated = false
  readonly limit: number
  constructor(limit: number) {
    this.limit = limit
  }
  push(chunk: string): void {
    const text = this.text + chunk
    if (text.length > this.limit) {
      this.text = text.slice(-this.limit)
      this.truncated = true
    } else {
      this.text = text
    }
  }
}

const lastLines = (text: string, lines = 20): string => text.trimEnd().split(/\r?\n/).slice(-lines).join("\n")

// Node's spawner reports a process ended by a signal as an error whose cause names the signal.
const signalOf = (error: PlatformError.PlatformError): string | undefined => {
  const text = error.cause instanceof Error ? error.cause.message : error.message
  return /signal: '?(SIG[A-Z0-9]+)'?/.exec(text)?.[1]
}

// Reads a stream into a tail in the background of the current scope.
const drain = (stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>, tail: Tail) =>
  Stream.decodeText(stream).pipe(
    Stream.runForEach((chunk) => Effect.sync(() => tail.push(chunk))),
    Effect.ignore,
    Effect.forkScoped
  )

// After the process exits its pipes normally close at once; a descendant still holding them is not waited for.
const pipeDrainGrace = Duration.millis(500)

/**
 * Runs `command` on the lease's device and waits for it to exit.
 *
 * Succeeds with the tail of its output when it exits with code 0; fails with {@link GpuProcessExited},
 * {@link GpuProcessTimedOut} or {@link GpuProcessSpawnFailed}. Interrupting the run stops the process (SIGTERM,
 * SIGKILL after the grace) and completes once it has exited.
 *
 * **Gotchas**: run it inside the lease's scope, so that the lease is released after the process is gone.
 *
 * @category running
 */
export const run: (
  lease: GpuLease,
  command: GpuCommand
) => Effect.Effect<ProcessResult, GpuProcessError, ChildProcessSpawner.ChildProcessSpawner> = Effect.fn(
  "GpuProcess.run"
)(function*(lease: GpuLease, command: GpuCommand) {
  yield* Effect.annotateCurrentSpan({
    command: command.command,
    gpu: lease.device.id,
    leaseId: lease.leaseId,
    vramMiB: lease.vramMiB
  })
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const limit = command.outputLimit ?? defaultOutputLimit
  const stdout = new Tail(limit)
  const stderr = new Tail(limit)
  const timeout = command.timeout === undefined ? undefined : Duration.fromInputUnsafe(command.timeout)
  const killGrace = command.killGrace ?? defaultKillGrace

  const { exit, pid } = yield* Effect.scoped(Effect.gen(function*() {
    const handle = yield* spawner.spawn(
      ChildProcess.make(command.command, [...(command.args ?? [])], {
        ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
        env: { ...command.env, ...leaseEnvironment(lease) },
        extendEnv: true,
        stdin: "ignore",
        detached: true,
        killSignal: "SIGTERM",
        forceKillAfter: killGrace
      })
    ).pipe(
      Effect.mapError((error) =>
        new GpuProcessSpawnFailed({
          command: command.command,
          message: `could not start ${command.command}: ${error.message}`,
          cause: error
        })
      )
    )
    const readers = [yield* drain(handle.stdout, stdout), yield* drain(handle.stderr, stderr)]
    const exited = Effect.result(handle.exitCode)
    const outcome = timeout === undefined
      ? yield* Effect.map(exited, Option.some)
      : yield* Effect.timeoutOption(exited, timeout)
    // Timed out: stop it here rather than when the scope closes, to keep what it writes as it stops. Once it is
    // stopped, unref keeps the scope from signalling the group again (and waiting again for any zombie in it).
    if (Option.isNone(outcome)) {
      yield* handle.kill({ killSignal: "SIGTERM", forceKillAfter: killGrace }).pipe(
        Effect.andThen(handle.unref),
        Effect.ignore
      )
    }
    yield* Fiber.joinAll(readers).pipe(Effect.timeoutOption(pipeDrainGrace))
    // Closing the scope stops whatever is left of the process group and waits for it.
    return { exit: outcome, pid: Number(handle.pid) }
  }))

  const stderrTail = lastLines(stderr.text)
  if (Option.isNone(exit)) {
    return yield* new GpuProcessTimedOut({
      command: command.command,
      pid,
      timeoutMillis: Duration.toMillis(timeout ?? Duration.zero),
      stderrTail
    })
  }
  const result = exit.value
  if (result._tag === "Failure") {
    const signal = signalOf(result.failure)
    return yield* new GpuProcessExited({
      command: command.command,
      pid,
      ...(signal === undefined ? {} : { signal }),
      stderrTail
    })
  }
  if (result.success !== 0) {
    return yield* new GpuProcessExited({ command: command.command, pid, exitCode: result.success, stderrTail })
  }
  return new ProcessResult({
    pid,
    stdout: stdout.text,
    stderr: stderr.text,
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated
  })
})
