import { NodeServices } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import type { Ids } from "@ytempire/domain"
import { GpuJobSpec } from "@ytempire/domain"
import type { GpuDevice, GpuLease } from "@ytempire/gpu/Device"
import * as GpuProcess from "@ytempire/gpu/GpuProcess"
import { Clock, Duration, Effect, Fiber, FileSystem, Path, Schedule, type Scope } from "effect"
import * as fs from "node:fs"

const rtx5090: GpuDevice = {
  id: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13" as Ids.GpuDeviceId,
  index: 1,
  name: "NVIDIA GeForce RTX 5090",
  uuid: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
  totalMiB: 32768,
  headroomMiB: 1024,
  usableMiB: 31744,
  encoderSessions: 8,
  encoderEngines: 3
}

const lease = (device: GpuDevice = rtx5090): GpuLease => ({
  leaseId: 42,
  device,
  vramMiB: 9 * 1024,
  encoderSessions: 0,
  spec: GpuJobSpec.sdxlThumbnail
})

// Whether a process exists. A zombie (exited, not yet reaped by its parent) holds no GPU memory: it counts as gone.
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false
    throw error
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
}

const tempDir = Effect.gen(function*() {
  const files = yield* FileSystem.FileSystem
  return yield* files.makeTempDirectoryScoped({ prefix: "ytempire-gpu-process-" })
})

// Waits until a child has written its pid to `file`.
const pidIn = (file: string) =>
  Effect.gen(function*() {
    const files = yield* FileSystem.FileSystem
    const text = yield* files.readFileString(file)
    const pid = Number(text.trim())
    if (!(pid > 0)) return yield* Effect.fail("not yet")
    return pid
  }).pipe(Effect.retry(Schedule.spaced("10 millis")), Effect.timeout("5 seconds"))

const node = (script: string, args: ReadonlyArray<string> = []) => ({
  command: process.execPath,
  args: ["-e", script, ...args]
})

const live = <A, E>(effect: Effect.Effect<A, E, NodeServices.NodeServices | Scope.Scope>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeServices.layer))

describe.concurrent("GpuProcess.run", () => {
  it.live("confines the process to the leased device and tells it the lease", () =>
    live(Effect.gen(function*() {
      const names = [
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT",
        "YTEMPIRE_GPU_DEVICE_ID",
        "YTEMPIRE_GPU_LEASE_ID",
        "YTEMPIRE_GPU_VRAM_MIB",
        "YTEMPIRE_GPU_MEMORY_FRACTION",
        "JOB_INPUT",
        "PATH"
      ]
      const result = yield* GpuProcess.run(lease(), {
        ...node(
          `const names = ${
            JSON.stringify(names)
          }; console.log(JSON.stringify(Object.fromEntries(names.map((n) => [n, process.env[n]]))))`
        ),
        // The job cannot move itself to another device.
        env: { JOB_INPUT: "scene-3.json", CUDA_VISIBLE_DEVICES: "0,1,2" }
      })
      const env = JSON.parse(result.stdout)
      expect(env).toMatchObject({
        CUDA_VISIBLE_DEVICES: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
        CUDA_DEVICE_ORDER: "PCI_BUS_ID",
        CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: "0=9216M",
        YTEMPIRE_GPU_DEVICE_ID: "GPU-3f9c1a52-7d4e-4b8a-9e61-2c5d8f0a7b13",
        YTEMPIRE_GPU_LEASE_ID: "42",
        YTEMPIRE_GPU_VRAM_MIB: "9216",
        YTEMPIRE_GPU_MEMORY_FRACTION: "0.28125",
        JOB_INPUT: "scene-3.json"
      })
      // The rest of this process's environment is inherited.
      expect(env.PATH).toBe(process.env["PATH"])
    })))

  it.live("selects a configured device without a UUID by its nvidia-smi index", () =>
    live(Effect.gen(function*() {
      const configured = { ...rtx5090, id: "gpu1" as Ids.GpuDeviceId, uuid: "" }
      const result = yield* GpuProcess.run(lease(configured), {
        command: "sh",
        args: ["-c", `printf '%s %s' "$CUDA_VISIBLE_DEVICES" "$CUDA_DEVICE_ORDER"`]
      })
      expect(result.stdout).toBe("1 PCI_BUS_ID")
    })))

  it.live("captures stdout and stderr separately, keeping the end of output past the limit", () =>
    live(Effect.gen(function*() {
      const result = yield* GpuProcess.run(lease(), {
        ...node(
          `process.stdout.write("x".repeat(100000) + "RESULT {\\"frames\\": 240}\\n"); console.error("warming up")`
        ),
        outputLimit: 1000
      })
      expect(result.stdout).toHaveLength(1000)
      expect(result.stdout.endsWith(`RESULT {"frames": 240}\n`)).toBe(true)
      expect(result.stdoutTruncated).toBe(true)
      expect(result.stderr).toBe("warming up\n")
      expect(result.stderrTruncated).toBe(false)
    })))

  it.live("fails with the exit code and the end of stderr when the process fails", () =>
    live(Effect.gen(function*() {
      const error = yield* Effect.flip(GpuProcess.run(lease(), {
        ...node(
          `console.error("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"); process.exit(3)`
        )
      }))
      assert(error._tag === "GpuProcessExited")
      expect(error.exitCode).toBe(3)
      expect(error.stderrTail).toBe("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
      expect(error.message).toContain("exited with code 3")
    })))

  it.live("reports the signal that killed a process", () =>
    live(Effect.gen(function*() {
      const error = yield* Effect.flip(GpuProcess.run(lease(), { command: "sh", args: ["-c", "kill -KILL $$"] }))
      assert(error._tag === "GpuProcessExited")
      expect(error.exitCode).toBeUndefined()
      expect(error.signal).toBe("SIGKILL")
    })))

  it.live("fails with GpuProcessSpawnFailed when the executable does not exist", () =>
    live(Effect.gen(function*() {
      const error = yield* Effect.flip(GpuProcess.run(lease(), { command: "/nonexistent/bin/python3" }))
      expect(error._tag).toBe("GpuProcessSpawnFailed")
      expect(error.message).toContain("/nonexistent/bin/python3")
    })))

  it.live("stops a process that runs past its timeout with SIGTERM", () =>
    live(Effect.gen(function*() {
      const [took, error] = yield* Effect.timed(Effect.flip(GpuProcess.run(lease(), {
        command: "sh",
        args: [
          "-c",
          `trap 'echo "got SIGTERM, saving checkpoint" >&2; exit 143' TERM; echo started >&2; while :; do sleep 0.02; done`
        ],
        timeout: "300 millis",
        killGrace: "3 seconds"
      })))
      assert(error._tag === "GpuProcessTimedOut")
      expect(error.timeoutMillis).toBe(300)
      // What it wrote as it stopped is kept.
      expect(error.stderrTail.startsWith("started\n")).toBe(true)
      expect(error.stderrTail.endsWith("got SIGTERM, saving checkpoint")).toBe(true)
      expect(isAlive(error.pid)).toBe(false)
      // It exited on SIGTERM: the run did not wait for the grace to pass.
      expect(Duration.toMillis(took)).toBeLessThan(1_500)
    })))

  it.live("kills a process that ignores SIGTERM once the grace has passed", () =>
    live(Effect.gen(function*() {
      const [took, error] = yield* Effect.timed(Effect.flip(GpuProcess.run(lease(), {
        command: "sh",
        // SIGTERM stays ignored across exec.
        args: ["-c", `trap '' TERM; echo started >&2; exec sleep 60`],
        timeout: "200 millis",
        killGrace: "600 millis"
      })))
      assert(error._tag === "GpuProcessTimedOut")
      expect(isAlive(error.pid)).toBe(false)
      expect(Duration.toMillis(took)).toBeGreaterThanOrEqual(800)
      expect(Duration.toMillis(took)).toBeLessThan(2_500)
    })))

  it.live("interrupted, stops the process and completes within a second, before the lease is released", () =>
    live(Effect.gen(function*() {
      const path = yield* Path.Path
      const pidFile = path.join(yield* tempDir, "job.pid")
      let released: { readonly at: number; readonly jobAlive: boolean } | undefined

      // The lease: a scope whose finalizer records when it is released and whether the process was gone by then.
      const job = Effect.scoped(Effect.gen(function*() {
        yield* Effect.addFinalizer(() =>
          Effect.map(Clock.currentTimeMillis, (at) => {
            released = { at, jobAlive: isAlive(Number(fs.readFileSync(pidFile, "utf8"))) }
          })
        )
        return yield* GpuProcess.run(lease(), {
          ...node(`require("fs").writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)`, [
            pidFile
          ])
        })
      }))

      const fiber = yield* Effect.forkChild(job)
      const pid = yield* pidIn(pidFile)
      expect(isAlive(pid)).toBe(true)

      const interruptedAt = yield* Clock.currentTimeMillis
      yield* Fiber.interrupt(fiber)
      const completedAt = yield* Clock.currentTimeMillis

      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }))
      expect(completedAt - interruptedAt).toBeLessThan(1_000)
      assert(released !== undefined)
      expect(released.jobAlive).toBe(false)
      expect(released.at - interruptedAt).toBeLessThan(1_000)
    })))

  it.live("interrupted, also stops the processes the job started", () =>
    live(Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      const leaderFile = path.join(dir, "leader.pid")
      const childFile = path.join(dir, "child.pid")
      let releasedWith: { readonly leaderAlive: boolean; readonly childAlive: boolean } | undefined

      const job = Effect.scoped(Effect.gen(function*() {
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            releasedWith = {
              leaderAlive: isAlive(Number(fs.readFileSync(leaderFile, "utf8"))),
              childAlive: isAlive(Number(fs.readFileSync(childFile, "utf8")))
            }
          })
        )
        return yield* GpuProcess.run(lease(), {
          command: "sh",
          args: ["-c", `echo $$ > '${leaderFile}'; sleep 60 & echo $! > '${childFile}'; wait`],
          killGrace: "300 millis"
        })
      }))

      const fiber = yield* Effect.forkChild(job)
      const leader = yield* pidIn(leaderFile)
      const child = yield* pidIn(childFile)
      expect([isAlive(leader), isAlive(child)]).toEqual([true, true])

      const [took] = yield* Effect.timed(Fiber.interrupt(fiber))
      expect([isAlive(leader), isAlive(child)]).toEqual([false, false])
      expect(releasedWith).toEqual({ leaderAlive: false, childAlive: false })
      // Both exit on SIGTERM at once. The orphaned child is a zombie until init reaps it, and the spawner waits
      // for that too, for at most the grace and then a second after SIGKILL: here init reaps orphans only about
      // once a second, so the bound is that rather than one second.
      expect(Duration.toMillis(took)).toBeLessThan(300 + 1_000 + 1_000)
    })))

  it.live("leaves nothing of a finished job running in its process group", () =>
    live(Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      const childFile = path.join(dir, "child.pid")
      // The job starts a helper in the background and exits without it.
      yield* GpuProcess.run(lease(), {
        command: "sh",
        args: ["-c", `sleep 60 > /dev/null 2>&1 & echo $! > '${childFile}'`],
        killGrace: "200 millis"
      })
      expect(isAlive(yield* pidIn(childFile))).toBe(false)
    })))
})
