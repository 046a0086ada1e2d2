/**
 * Crash resume, in embedded mode and on Postgres: a process producing a video is killed (SIGKILL) while its
 * render stage runs; a second process on the same storage finishes the video. The finished stages are not run
 * again, the interrupted one runs once more, and the budget ledger charged every stage once.
 *
 * The video keeps its trace across the crash: both processes export their spans (OTLP over HTTP, the JSON
 * mapping) to a receiver in this process, and the stages that the second process runs are in the video's trace.
 *
 * The processes are test/fixtures/crash-child.ts; each provider run appends its stage to
 * `<dataDir>/provider-runs.log`.
 */
import { PgClient } from "@effect/sql-pg"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { type ChildProcessByStdio, spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const fixture = "test/fixtures/crash-child.ts"
const stages = ["script", "voice", "thumbnail", "render", "upload"] as const

type Mode = "embedded" | "postgres"

interface Summary {
  readonly status: string
  readonly error: string | null
  readonly traceId: string | null
  readonly totalCost: number
  readonly stages: ReadonlyArray<{
    readonly stage: string
    readonly status: string
    readonly cost: number
    readonly attempts: number
    readonly artifact: string | null
  }>
  readonly ledger: ReadonlyArray<{ readonly scope: string; readonly committed: number; readonly reserved: number }>
}

type Child = ChildProcessByStdio<null, Readable, Readable>

const startChild = (mode: Mode, phase: "first" | "second", dataDir: string, env: NodeJS.ProcessEnv) => {
  const child: Child = spawn(process.execPath, [fixture, mode, phase, dataDir], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // A child that hangs is killed, so that the test reports its output instead of timing out.
    timeout: 120_000,
    killSignal: "SIGKILL"
  })
  const output = { stdout: "", stderr: "" }
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk))
  const describeOutput = () => `stdout:\n${output.stdout}\nstderr:\n${output.stderr.slice(-4000)}`
  return { child, output, describeOutput }
}

/** Resolves when the child prints `marker` on a line of its own; rejects if it exits first. */
const waitForLine = (started: ReturnType<typeof startChild>, marker: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const onData = () => {
      if (started.output.stdout.split("\n").includes(marker)) {
        cleanup()
        resolve()
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`the child exited (${code ?? signal}) before printing ${marker}\n${started.describeOutput()}`))
    }
    const cleanup = () => {
      started.child.stdout.off("data", onData)
      started.child.off("exit", onExit)
    }
    started.child.stdout.on("data", onData)
    started.child.on("exit", onExit)
    onData()
  })

const runLog = (dataDir: string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const line of readFileSync(join(dataDir, "provider-runs.log"), "utf8").split("\n")) {
    if (line !== "") counts[line] = (counts[line] ?? 0) + 1
  }
  return counts
}

// ---------------------------------------------------------------------------------------------------------------
// a local OTLP/HTTP receiver, decoding the OTLP JSON mapping (ExportTraceServiceRequest)

interface KeyValue {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: number | string }
}

interface ExportTraceServiceRequest {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<KeyValue> }
    readonly scopeSpans?: ReadonlyArray<{
      readonly spans?: ReadonlyArray<{
        readonly traceId: string
        readonly spanId: string
        readonly name: string
        readonly attributes?: ReadonlyArray<KeyValue>
      }>
    }>
  }>
}

/** A received span: its process (the service name), its ids and name, its string attributes. */
interface Span {
  readonly service: string | undefined
  readonly traceId: string
  readonly spanId: string
  readonly name: string
  readonly attributes: Readonly<Record<string, string | undefined>>
}

const stringAttributes = (list: ReadonlyArray<KeyValue> | undefined) =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, value.stringValue]))

/** A receiver on a free port of 127.0.0.1, collecting every span it is sent. */
const startReceiver = async () => {
  const spans: Array<Span> = []
  const server: Server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.method === "POST" && request.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportTraceServiceRequest
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = stringAttributes(resourceSpans.resource?.attributes)["service.name"]
          for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const span of scopeSpans.spans ?? []) {
              spans.push({
                service,
                traceId: span.traceId,
                spanId: span.spanId,
                name: span.name,
                attributes: stringAttributes(span.attributes)
              })
            }
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" })
      response.end("{}")
    })
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  return {
    spans,
    /**
     * The variables that point a child's tracing here, as service `service`: sending every 50 ms (a process to
     * be killed), or in one batch as it exits (the SDK's 5 s delay is longer than the second process lives).
     */
    env: (service: string, scheduleDelay: "50" | "5000"): NodeJS.ProcessEnv => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${address.port}`,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: scheduleDelay,
      OTEL_SERVICE_NAME: service
    }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const dataDirs: Array<string> = []
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

const crashAndResume = async (mode: Mode, env: NodeJS.ProcessEnv = {}) => {
  const dataDir = mkdtempSync(join(tmpdir(), `ytempire-crash-${mode}-`))
  dataDirs.push(dataDir)
  const otlp = await startReceiver()
  try {
    await crashAndResumeTraced(mode, dataDir, env, otlp)
  } finally {
    await otlp.close()
  }
}

const crashAndResumeTraced = async (
  mode: Mode,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  otlp: Awaited<ReturnType<typeof startReceiver>>
) => {
  const t0 = performance.now()

  // 1. A process produces the video; kill it while it renders.
  const first = startChild(mode, "first", dataDir, { ...env, ...otlp.env("crash-first", "50") })
  try {
    await waitForLine(first, "RENDER_STARTED")
  } finally {
    first.child.kill("SIGKILL")
  }
  const [, signal] = await once(first.child, "exit")
  expect(signal).toBe("SIGKILL")
  const t1 = performance.now()
  // Everything before the render ran once, and the render had started.
  expect(runLog(dataDir)).toEqual({ script: 1, voice: 1, thumbnail: 1, render: 1 })

  // 2. A second process on the same storage finishes it.
  const second = startChild(mode, "second", dataDir, { ...env, ...otlp.env("crash-second", "5000") })
  const [code] = await once(second.child, "close")
  expect(code, second.describeOutput()).toBe(0)
  const t2 = performance.now()
  console.log(
    `crash-resume (${mode}): killed after ${Math.round(t1 - t0)} ms, resumed and finished in ${Math.round(t2 - t1)} ms`
  )
  const lines = second.output.stdout.split("\n").filter((line) => line !== "")
  expect(lines, second.describeOutput()).toHaveLength(1)
  const summary = JSON.parse(lines[0]!) as Summary

  // The video is done, every stage once.
  expect(summary, second.describeOutput()).toMatchObject({ status: "completed", error: null })
  expect(summary.stages.map((record) => [record.stage, record.status])).toEqual(
    stages.map((stage) => [stage, "completed"])
  )
  for (const record of summary.stages) expect(record.artifact).not.toBeNull()
  // Each provider ran once, but the render: once interrupted by the kill, once to completion.
  expect(runLog(dataDir)).toEqual({ script: 1, voice: 1, thumbnail: 1, render: 2, upload: 1 })

  // The ledger charged each stage once: the video's scope holds the sum of the stage costs, nothing reserved.
  const stageSum = summary.stages.reduce((sum, record) => sum + record.cost, 0)
  expect(summary.totalCost).toBe(stageSum)
  expect(stageSum).toBeGreaterThan(0)
  expect(summary.ledger.find((status) => status.scope === "video:crash-1")).toEqual({
    scope: "video:crash-1",
    committed: stageSum,
    reserved: 0
  })
  // Nothing stays reserved in the video's other scopes (its channel's and tenant's day, the operation's day and
  // month); on fresh storage they hold this video alone (all of it, unless the run crossed midnight UTC).
  expect(summary.ledger).toHaveLength(5)
  for (const status of summary.ledger) {
    expect(status.reserved).toBe(0)
    expect(status.committed).toBeLessThanOrEqual(stageSum)
  }

  // The video kept its trace: the second process (which sent its spans before exiting) ran the render again
  // and the upload, in the video's trace, under the workflow it resumed.
  expect(summary.traceId).toMatch(/^[0-9a-f]{32}$/)
  const videoSpans = otlp.spans.filter((span) => span.attributes["ytempire.video.id"] === "crash-1")
  const resumedStages = videoSpans.filter((span) =>
    span.service === "crash-second" && span.name === "VideoPipeline.stage"
  )
  expect(resumedStages.map((span) => span.attributes["ytempire.stage"]).toSorted()).toEqual(["render", "upload"])
  for (const span of resumedStages) expect(span.traceId).toBe(summary.traceId)
  const resumedRuns = otlp.spans.filter((span) =>
    span.service === "crash-second" && span.name === "Workflow/VideoPipeline.run"
  )
  expect(resumedRuns.map((span) => span.traceId)).toEqual([summary.traceId])
  // The first process's spans of the video that it sent before it was killed are in the same trace.
  expect(videoSpans.filter((span) => span.service === "crash-first").length).toBeGreaterThan(0)
  for (const span of videoSpans) expect(span.traceId, `${span.service}: ${span.name}`).toBe(summary.traceId)
}

/** A fresh database on the local Postgres server (dropped and created), and its URL. */
const freshDatabase = (database: string) => {
  const host = process.env["PGHOST"] ?? "127.0.0.1"
  const port = Number(process.env["PGPORT"] ?? 5432)
  const username = process.env["PGUSER"] ?? "postgres"
  const password = process.env["PGPASSWORD"]
  return Effect.gen(function*() {
    const admin = yield* PgClient.PgClient
    yield* admin`DROP DATABASE IF EXISTS ${admin(database)} WITH (FORCE)`
    yield* admin`CREATE DATABASE ${admin(database)}`
    const auth = encodeURIComponent(username) + (password === undefined ? "" : `:${encodeURIComponent(password)}`)
    return `postgres://${auth}@${host}:${port}/${database}`
  }).pipe(
    Effect.provide(PgClient.layer({
      host,
      port,
      username,
      ...(password === undefined ? {} : { password: Redacted.make(password) }),
      database: "postgres",
      maxConnections: 1
    })),
    Effect.runPromise
  )
}

describe("crash resume", () => {
  it("embedded: a video interrupted by SIGKILL during its render is finished by the next process", async () => {
    expect.hasAssertions()
    await crashAndResume("embedded")
  }, 300_000)

  it("postgres: a video interrupted by SIGKILL during its render is finished by the next process", async () => {
    expect.hasAssertions()
    const url = await freshDatabase("ytempire_test_crash_resume")
    await crashAndResume("postgres", { DATABASE_URL: url })
  }, 300_000)
})
