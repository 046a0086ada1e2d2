/**
 * The `ytempire` server end to end, as an operator runs it: `node packages/server/src/bin.ts serve` in a child
 * process, on a fresh Postgres database, with the rate limiter in Redis and the real offline providers (espeak-ng,
 * ffmpeg), called over HTTP like curl would (REST) and through the typed RPC client.
 *
 * Processes:
 *
 * - the main server (its own database and data directory), shared by the runbook checks, the REST and RPC
 *   videos, the authorization checks and the fuzzed requests; a second tenant's admin and a viewer get their keys
 *   from `ytempire keys create` while it runs;
 * - a memory-storage server limited to 5 requests/s (burst 5), for the 429;
 * - the shutdown scenario (its own database): a server slowed by YTEMPIRE_PROVIDER_LATENCY_MS gets SIGTERM while
 *   a video renders, then a second server on the same database and data directory finishes the video. It runs in
 *   the background from the start, beside the other tests;
 * - `serve` with bad configuration values, each of which must stop it with exit code 2.
 *
 * Helpers: test/fixtures/server-harness.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Ids } from "@ytempire/domain"
import { YtempireClient } from "@ytempire/server/client"
import { Effect, Stream } from "effect"
import * as fc from "fast-check"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Fuzz from "./fixtures/server-fuzz.ts"
import {
  type Answer,
  call,
  createDatabase,
  createKey,
  dropDatabase,
  killServer,
  micros,
  newSecret,
  pollVideo,
  readNdjson,
  repoRoot,
  runBin,
  type Server,
  startServer
} from "./fixtures/server-harness.ts"

const stages = ["script", "voice", "thumbnail", "render", "upload"]
const runId = randomBytes(4).toString("hex")
const mainDatabase = `ytempire_server_e2e_${runId}`
const shutdownDatabase = `ytempire_server_e2e_${runId}_shutdown`
/** A password in the database URL (the local server trusts its clients and ignores it): no output may hold it. */
const databasePassword = `pw-${randomBytes(9).toString("base64url")}`
const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"

/** The variables the server reads, unset, so that the environment the tests run in does not leak into them. */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  [
    "PORT",
    "HOST",
    "DATABASE_URL",
    "REDIS_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "YTEMPIRE_STORAGE",
    "YTEMPIRE_DATA_DIR",
    "YTEMPIRE_GPU",
    "YTEMPIRE_RATE_LIMIT",
    "YTEMPIRE_RATE_BURST",
    "YTEMPIRE_SHUTDOWN_TIMEOUT",
    "YTEMPIRE_OPERATOR_TENANT",
    "YTEMPIRE_BOOTSTRAP_KEY",
    "YTEMPIRE_PROVIDER_LATENCY_MS"
  ].map((name) => [name, undefined])
)

const tempDirs: Array<string> = []
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `ytempire-server-e2e-${label}-`))
  tempDirs.push(dir)
  return dir
}

const registration = (id: string) => ({
  id,
  name: `E2E ${id}`,
  niche: "consumer technology",
  language: "en",
  style: "calm explainer"
})

const sumOfStages = (video: any): number =>
  (video.stages as ReadonlyArray<{ readonly cost: string }>).reduce((sum, stage) => sum + micros(stage.cost), 0)

/** The answer is an API error: JSON with a string `_tag` and `message`. */
const expectApiError = (answer: Answer, status: number, tag: string) => {
  const context = `${answer.status} ${answer.text.slice(0, 500)}`
  expect(answer.status, context).toBe(status)
  expect(answer.headers.get("content-type"), context).toMatch(/^application\/json/)
  expect(answer.json, context).toMatchObject({ _tag: tag, message: expect.any(String) })
}

// ---------------------------------------------------------------------------------------------------------------
// setup

const adminKey = newSecret()
const limitedKey = newSecret()
let main: Server
let limited: Server
let otherTenantKey: string
let viewerKey: string
let shutdownScenario: Promise<ShutdownOutcome>
const servers: Array<Server> = []
/** Every API key secret of the run: none may appear in a server's output. */
const secrets: Array<string> = [adminKey, limitedKey]

beforeAll(async () => {
  const [mainUrl, shutdownUrl] = await Promise.all([
    createDatabase(mainDatabase, databasePassword),
    createDatabase(shutdownDatabase, databasePassword)
  ])
  // In the background from here: the shutdown scenario (its promise never rejects; the test reads the outcome).
  shutdownScenario = runShutdownScenario(shutdownUrl).then(
    (outcome) => outcome,
    (error: unknown) => ({ error })
  )
  const mainEnv = {
    ...cleanEnv,
    DATABASE_URL: mainUrl,
    REDIS_URL: redisUrl,
    YTEMPIRE_BOOTSTRAP_KEY: adminKey,
    YTEMPIRE_PROVIDER_LATENCY_MS: "0",
    // The fuzzed requests come faster than the default 100/s; the 429 has its own server.
    YTEMPIRE_RATE_LIMIT: "1000"
  }
  const limitedEnv = {
    ...cleanEnv,
    YTEMPIRE_STORAGE: "memory",
    YTEMPIRE_GPU: "none",
    REDIS_URL: redisUrl,
    YTEMPIRE_BOOTSTRAP_KEY: limitedKey,
    YTEMPIRE_RATE_LIMIT: "5",
    YTEMPIRE_RATE_BURST: "5"
  }
  const started = await Promise.all([
    startServer(mainEnv, tempDir("main")),
    startServer(limitedEnv, tempDir("limited"))
  ])
  main = started[0]
  limited = started[1]
  servers.push(main, limited)
  // Keys of another tenant and of a viewer, written into the running server's database by the CLI.
  const keys = await Promise.all([
    createKey({ ...cleanEnv, DATABASE_URL: mainUrl }, "globex", "admin"),
    createKey({ ...cleanEnv, DATABASE_URL: mainUrl }, "operator", "viewer")
  ])
  otherTenantKey = keys[0]
  viewerKey = keys[1]
  secrets.push(...keys)
}, 120_000)

afterAll(async () => {
  await Promise.all(servers.map((server) => killServer(server)))
  await Promise.all([mainDatabase, shutdownDatabase].map((name) => dropDatabase(name).catch(() => undefined)))
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
}, 60_000)

// ---------------------------------------------------------------------------------------------------------------
// the shutdown scenario

interface ShutdownResult {
  readonly atSignal: any
  readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null }
  readonly shutdownMillis: number
  readonly firstStderr: string
  readonly video: any
  readonly budgets: any
  readonly dataDir: string
}
type ShutdownOutcome = ShutdownResult | { readonly error: unknown }

const shutdownTimeoutSeconds = 45

/**
 * A server slowed to 1.5 s per provider stage gets SIGTERM once the video's render stage runs; a second server
 * (no latency) on the same database and data directory finishes the video.
 */
const runShutdownScenario = async (databaseUrl: string): Promise<ShutdownResult> => {
  const key = newSecret()
  secrets.push(key)
  const dataDir = tempDir("shutdown")
  const env = {
    ...cleanEnv,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    YTEMPIRE_GPU: "none",
    YTEMPIRE_BOOTSTRAP_KEY: key,
    YTEMPIRE_SHUTDOWN_TIMEOUT: String(shutdownTimeoutSeconds)
  }
  const first = await startServer({ ...env, YTEMPIRE_PROVIDER_LATENCY_MS: "1500" }, dataDir)
  servers.push(first)
  const channel = await call(first.url, "POST", "/api/v1/channels", { key, body: registration("e2e-shutdown") })
  if (channel.status !== 200) throw new Error(`register: ${channel.status} ${channel.text}`)
  const generate = await call(first.url, "POST", "/api/v1/videos/generate", {
    key,
    body: { channelId: "e2e-shutdown", videoId: "e2e-shutdown-1", topic: "Why trains are quiet" }
  })
  if (generate.status !== 202) throw new Error(`generate: ${generate.status} ${generate.text}`)
  const atSignal = await pollVideo(
    first.url,
    key,
    "e2e-shutdown-1",
    (video) =>
      video.currentStage === "render" &&
      video.stages.some((stage: any) => stage.stage === "render" && stage.status === "running"),
    { everyMs: 100, limitMs: 60_000 }
  )
  const signalled = performance.now()
  first.child.kill("SIGTERM")
  const exit = await first.closed
  const shutdownMillis = performance.now() - signalled

  const second = await startServer({ ...env, YTEMPIRE_PROVIDER_LATENCY_MS: "0" }, dataDir)
  servers.push(second)
  const video = await pollVideo(
    second.url,
    key,
    "e2e-shutdown-1",
    (candidate) => ["completed", "failed", "cancelled"].includes(candidate.status),
    { everyMs: 200, limitMs: 60_000 }
  )
  const budgets = await call(second.url, "GET", "/api/v1/budgets?channelId=e2e-shutdown", { key })
  await killServer(second)
  return {
    atSignal,
    exit,
    shutdownMillis,
    firstStderr: first.output.stderr,
    video,
    budgets: { status: budgets.status, body: budgets.json },
    dataDir
  }
}

// ---------------------------------------------------------------------------------------------------------------
// tests

/** A client command of the CLI against the main server. */
const cli = async (args: ReadonlyArray<string>, key: string = adminKey) => {
  const run = runBin(args, { ...cleanEnv, YTEMPIRE_URL: main.url, YTEMPIRE_API_KEY: key })
  const { code } = await run.closed
  return { code, stdout: run.output.stdout, stderr: run.output.stderr, describe: run.describe }
}

describe("ytempire serve (Postgres, Redis, offline providers)", () => {
  it("answers the runbooks' checks: /health and /ready, and /api/v1/status and /api/v1/channels with a key", async () => {
    const health = await call(main.url, "GET", "/health")
    expect(health.status).toBe(200)
    expect(health.json).toMatchObject({ status: "healthy", version: expect.any(String), uptime: expect.any(Number) })
    const ready = await call(main.url, "GET", "/ready")
    expect(ready.status, ready.text).toBe(200)
    expect(ready.json).toMatchObject({ status: "ready" })
    for (const check of Object.values(ready.json.checks)) expect(check).toMatchObject({ status: "pass" })

    const status = await call(main.url, "GET", "/api/v1/status", { key: adminKey })
    expect(status.status, status.text).toBe(200)
    expect(status.json).toMatchObject({
      version: health.json.version,
      uptimeSeconds: expect.any(Number),
      channels: { active: expect.any(Number) },
      videos: { completed: expect.any(Number) }
    })
    const channels = await call(main.url, "GET", "/api/v1/channels", { key: adminKey })
    expect(channels.status, channels.text).toBe(200)
    expect(channels.json.items).toEqual(expect.any(Array))
    // The API's description and its documentation page need no key.
    const openApi = await call(main.url, "GET", "/api/v1/openapi.json")
    expect(openApi.status).toBe(200)
    expect(openApi.json).toMatchObject({ openapi: expect.any(String), paths: expect.any(Object) })
    expect(Object.keys(openApi.json.paths)).toEqual(
      expect.arrayContaining(["/api/v1/channels", "/api/v1/videos/generate"])
    )
    const docs = await call(main.url, "GET", "/api/v1/docs")
    expect(docs.status).toBe(200)
    expect(docs.headers.get("content-type")).toMatch(/^text\/html/)
  })

  it("is not ready without its Redis, yet stays alive and keeps serving (the limiter lets requests through)", async () => {
    const key = newSecret()
    const server = await startServer(
      {
        ...cleanEnv,
        YTEMPIRE_STORAGE: "memory",
        YTEMPIRE_GPU: "none",
        // Nothing listens on port 1.
        REDIS_URL: "redis://127.0.0.1:1",
        YTEMPIRE_BOOTSTRAP_KEY: key
      },
      mkdtempSync(join(tmpdir(), "ytempire-server-e2e-noredis-"))
    )
    servers.push(server)
    secrets.push(key)
    try {
      const ready = await call(server.url, "GET", "/ready")
      expect(ready.status, ready.text).toBe(503)
      expect(ready.json).toMatchObject({ status: "not ready", checks: { redis: { status: "fail" } } })
      expect(ready.json.checks.cluster).toMatchObject({ status: "pass" })
      expect((await call(server.url, "GET", "/health")).json).toMatchObject({ status: "healthy" })
      expect((await call(server.url, "GET", "/api/v1/status", { key })).status).toBe(200)
    } finally {
      await killServer(server)
    }
  })

  it("REST: registers a channel, generates a video, follows its events to completed; the MP4 is on disk", async () => {
    const channel = await call(main.url, "POST", "/api/v1/channels", {
      key: adminKey,
      body: { ...registration("e2e-rest"), budget: { perVideo: "2.50" } }
    })
    expect(channel.status, channel.text).toBe(200)
    expect(channel.json).toMatchObject({
      id: "e2e-rest",
      tenantId: "operator",
      status: "active",
      budget: { perVideo: "2.50" }
    })

    const request = { channelId: "e2e-rest", videoId: "e2e-rest-1", topic: "Five phones under $300" }
    const accepted = await call(main.url, "POST", "/api/v1/videos/generate", { key: adminKey, body: request })
    expect(accepted.status, accepted.text).toBe(202)
    expect(accepted.json).toMatchObject({ id: "e2e-rest-1", channelId: "e2e-rest", tenantId: "operator" })

    const events = await readNdjson(main.url, "/api/v1/videos/e2e-rest-1/events", adminKey, 60_000)
    expect(events.status).toBe(200)
    expect(events.contentType).toMatch(/ndjson/)
    const names = events.lines.map((line) => line.event)
    expect(names.at(-1), JSON.stringify(names)).toBe("completed")
    expect(events.lines.filter((line) => line.event === "stage-completed").map((line) => line.stage)).toEqual(stages)

    const video = await call(main.url, "GET", "/api/v1/videos/e2e-rest-1", { key: adminKey })
    expect(video.status).toBe(200)
    expect(video.json.status).toBe("completed")
    expect(video.json.stages.map((stage: any) => [stage.stage, stage.status])).toEqual(
      stages.map((stage) => [stage, "completed"])
    )
    expect(micros(video.json.totalCost)).toBe(sumOfStages(video.json))
    const render = video.json.stages.find((stage: any) => stage.stage === "render")
    expect(render.artifact.mediaType).toBe("video/mp4")
    const mp4 = join(main.dataDir, render.artifact.path)
    expect(existsSync(mp4), mp4).toBe(true)
    expect(statSync(mp4).size).toBe(render.artifact.bytes)
    expect(render.artifact.bytes).toBeGreaterThan(10_000)
  }, 90_000)

  it("REST: asking again with a videoId answers with that video as it stands, and makes no second one", async () => {
    const request = { channelId: "e2e-rest", videoId: "e2e-rest-1", topic: "Five phones under $300" }
    const stored = await call(main.url, "GET", "/api/v1/videos/e2e-rest-1", { key: adminKey })
    expect(stored.status, stored.text).toBe(200)
    expect(stored.json.status).toBe("completed")
    const again = await call(main.url, "POST", "/api/v1/videos/generate", { key: adminKey, body: request })
    expect(again.status, again.text).toBe(202)
    expect(again.json, again.text).toMatchObject({
      id: "e2e-rest-1",
      status: "completed",
      totalCost: stored.json.totalCost
    })
    expect(again.json.stages).toHaveLength(stages.length)
    const list = await call(main.url, "GET", "/api/v1/videos?channelId=e2e-rest", { key: adminKey })
    expect(list.status, list.text).toBe(200)
    expect(list.json.items.map((item: any) => item.id)).toEqual(["e2e-rest-1"])
    // Not produced again.
    const after = await call(main.url, "GET", "/api/v1/videos/e2e-rest-1", { key: adminKey })
    expect(after.json).toEqual(stored.json)
  })

  it("RPC: the typed client, and examples/rpc-client.ts beside it, each produce a video to completed", async () => {
    // The example runs as a child while the typed client works in this process.
    const example = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ["examples/rpc-client.ts", "--channel", "e2e-example", "--json"], {
        cwd: repoRoot,
        env: { ...process.env, YTEMPIRE_URL: main.url, YTEMPIRE_API_KEY: adminKey },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 80_000,
        killSignal: "SIGKILL"
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.on("error", reject)
      child.on("close", (code) => resolve({ code, stdout, stderr }))
    })

    const channelId = Ids.ChannelId.make("e2e-rpc")
    const result = await Effect.gen(function*() {
      const client = yield* YtempireClient
      const channel = yield* client.RegisterChannel({
        id: channelId,
        name: "E2E RPC",
        niche: "consumer technology",
        language: "en",
        style: "calm explainer"
      })
      const video = yield* client.GenerateVideo({ channelId, topic: "How trains stay on the rails" })
      const events = yield* client.WatchVideo({ videoId: video.id }).pipe(Stream.runCollect)
      const final = yield* client.GetVideo({ videoId: video.id })
      return { channel, video, events, final }
    }).pipe(
      Effect.provide(YtempireClient.layer({ url: main.url, key: adminKey })),
      Effect.timeout("80 seconds"),
      Effect.runPromise
    )
    expect(result.channel).toMatchObject({ id: "e2e-rpc", tenantId: "operator" })
    expect(result.events.at(-1)?.event).toBe("completed")
    expect(result.final.status).toBe("completed")
    expect(result.final.stages.map((stage) => stage.status)).toEqual(stages.map(() => "completed"))

    const { code, stderr, stdout } = await example
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`).toBe(0)
    const lines = stdout.split("\n").filter((line) => line.trim() !== "")
    expect(lines, stderr.slice(-4000)).toHaveLength(1)
    const reported = JSON.parse(lines[0]!)
    expect(reported).toMatchObject({ channelId: "e2e-example", status: "completed", mp4: expect.any(String) })
    expect(existsSync(join(main.dataDir, reported.mp4))).toBe(true)
    const stored = await call(main.url, "GET", `/api/v1/videos/${reported.id}`, { key: adminKey })
    expect(stored.json).toMatchObject({ status: "completed", totalCost: reported.totalCost })

    // The same server over the WebSocket transport.
    const status = await Effect.gen(function*() {
      const client = yield* YtempireClient
      return yield* client.GetStatus()
    }).pipe(
      Effect.provide(YtempireClient.layer({ url: main.url, key: adminKey, transport: "websocket" })),
      Effect.scoped,
      Effect.timeout("20 seconds"),
      Effect.runPromise
    )
    expect(status.channels.active).toBeGreaterThanOrEqual(3)
    expect(status.videos.completed).toBeGreaterThanOrEqual(3)

    // A wrong key fails the call with Unauthorized, over RPC as over REST.
    const refused = await Effect.gen(function*() {
      const client = yield* YtempireClient
      return yield* client.GetStatus()
    }).pipe(
      Effect.provide(YtempireClient.layer({ url: main.url, key: newSecret() })),
      Effect.flip,
      Effect.timeout("20 seconds"),
      Effect.runPromise
    )
    expect(refused._tag).toBe("Unauthorized")
  }, 90_000)

  it(
    "refuses a missing key, a wrong key, another tenant's video, a viewer's write, and a burst past the rate",
    async () => {
      // 401: no key, an unknown key, something that is not a key.
      expectApiError(await call(main.url, "GET", "/api/v1/channels"), 401, "Unauthorized")
      expectApiError(await call(main.url, "GET", "/api/v1/channels", { key: newSecret() }), 401, "Unauthorized")
      expectApiError(
        await call(main.url, "GET", "/api/v1/channels", { headers: { authorization: "Basic b3BlcmF0b3I6eA==" } }),
        401,
        "Unauthorized"
      )
      // 404: another tenant's channel and video are not there for it.
      const channel = await call(main.url, "POST", "/api/v1/channels", {
        key: adminKey,
        body: registration("e2e-auth")
      })
      expect(channel.status, channel.text).toBe(200)
      const generated = await call(main.url, "POST", "/api/v1/videos/generate", {
        key: adminKey,
        body: { channelId: "e2e-auth", videoId: "e2e-auth-1", topic: "Cancelled at once" }
      })
      expect(generated.status, generated.text).toBe(202)
      const cancelled = await call(main.url, "POST", "/api/v1/videos/e2e-auth-1/cancel", { key: adminKey })
      expect(cancelled.status, cancelled.text).toBe(200)
      expectApiError(
        await call(main.url, "GET", "/api/v1/videos/e2e-auth-1", { key: otherTenantKey }),
        404,
        "VideoNotFound"
      )
      expectApiError(
        await call(main.url, "POST", "/api/v1/videos/e2e-auth-1/cancel", { key: otherTenantKey }),
        404,
        "VideoNotFound"
      )
      expectApiError(
        await call(main.url, "GET", "/api/v1/channels/e2e-auth", { key: otherTenantKey }),
        404,
        "ChannelNotFound"
      )
      expectApiError(
        await call(main.url, "POST", "/api/v1/videos/generate", {
          key: otherTenantKey,
          body: { channelId: "e2e-auth", topic: "Not yours" }
        }),
        404,
        "ChannelNotFound"
      )
      const theirs = await call(main.url, "GET", "/api/v1/channels", { key: otherTenantKey })
      expect(theirs.status).toBe(200)
      expect(theirs.json.items).toEqual([])
      // Nor can it take over the video's id from a channel of its own.
      const own = await call(main.url, "POST", "/api/v1/channels", {
        key: otherTenantKey,
        body: registration("globex-1")
      })
      expect(own.status, own.text).toBe(200)
      expect(own.json.tenantId).toBe("globex")
      const taken = await call(main.url, "POST", "/api/v1/videos/generate", {
        key: otherTenantKey,
        body: { channelId: "globex-1", videoId: "e2e-auth-1", topic: "Same id, other tenant" }
      })
      expect(taken.status, taken.text).toBeGreaterThanOrEqual(400)
      expect(taken.status, taken.text).toBeLessThan(500)
      const untouched = await call(main.url, "GET", "/api/v1/videos/e2e-auth-1", { key: adminKey })
      expect(untouched.json).toMatchObject({ channelId: "e2e-auth", tenantId: "operator", status: "cancelled" })
      // 403: a viewer reads, but does not write.
      const viewed = await call(main.url, "GET", "/api/v1/channels/e2e-auth", { key: viewerKey })
      expect(viewed.status, viewed.text).toBe(200)
      expectApiError(
        await call(main.url, "POST", "/api/v1/channels", { key: viewerKey, body: registration("e2e-viewer") }),
        403,
        "Forbidden"
      )
      expectApiError(
        await call(main.url, "POST", "/api/v1/keys", { key: viewerKey, body: { role: "admin" } }),
        403,
        "Forbidden"
      )
      expectApiError(
        await call(main.url, "GET", "/api/v1/channels/e2e-viewer", { key: adminKey }),
        404,
        "ChannelNotFound"
      )

      // 429: twelve requests at once with a key limited to 5/s, burst 5.
      const burst = await Promise.all(
        Array.from({ length: 12 }, () => call(limited.url, "GET", "/api/v1/status", { key: limitedKey }))
      )
      const statuses = burst.map((answer) => answer.status)
      expect(statuses.filter((status) => status !== 200 && status !== 429), JSON.stringify(statuses)).toEqual([])
      expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(4)
      expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(7)
      const refused = burst.filter((answer) => answer.status === 429)
      expect(refused.length).toBeGreaterThanOrEqual(5)
      for (const answer of refused) {
        expectApiError(answer, 429, "RateLimited")
        const retryAfter = Number(answer.headers.get("retry-after"))
        expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${answer.headers.get("retry-after")}`)
          .toBe(true)
        expect(answer.json.retryAfterSeconds).toBe(retryAfter)
      }
    },
    60_000
  )

  it(
    "the CLI's client commands: create and list channels, generate and get a video; bad flags and keys exit 1",
    async () => {
      const created = await cli(["channels", "create", "--id", "cli-tech", "--name", "CLI Tech", "--niche", "gadgets"])
      expect(created.code, created.describe()).toBe(0)
      expect(created.stdout).toMatch(/^cli-tech\tactive\tCLI Tech\tgadgets/)
      const listed = await cli(["channels", "list", "--json"])
      expect(listed.code, listed.describe()).toBe(0)
      const channels = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { id: string })
      expect(channels.map((channel) => channel.id)).toContain("cli-tech")
      const generated = await cli(["videos", "generate", "--channel", "cli-tech", "--topic", "Tiny gadgets", "--json"])
      expect(generated.code, generated.describe()).toBe(0)
      const video = JSON.parse(generated.stdout) as { id: string; channelId: string }
      expect(video.channelId).toBe("cli-tech")
      const got = await cli(["videos", "get", "--video", video.id, "--json"])
      expect(got.code, got.describe()).toBe(0)
      expect(JSON.parse(got.stdout)).toMatchObject({ id: video.id, topic: "Tiny gadgets" })
      // Bad input is named, before anything is sent; a wrong key and a missing channel are the server's answers.
      const bad = await cli(["channels", "create", "--id", "cli-bad", "--name", "", "--niche", "x"])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/^ytempire: name must not be empty \(field name\)/m)
      expect(bad.stderr).not.toMatch(/at .*\.js/)
      const missing = await cli(["channels", "pause", "--channel", "cli-nope"])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/channel cli-nope not found/)
      const wrongKey = await cli(["channels", "list"], newSecret())
      expect(wrongKey.code).toBe(1)
      expect(wrongKey.stderr).toMatch(/invalid or revoked API key/)
    },
    60_000
  )

  it("answers fuzzed bodies, paths and queries with a 4xx JSON error, creates nothing, and stays healthy", async () => {
    const target = await call(main.url, "POST", "/api/v1/channels", { key: adminKey, body: registration("e2e-fuzz") })
    expect(target.status, target.text).toBe(200)
    const snapshot = () =>
      Promise.all([
        call(main.url, "GET", "/api/v1/channels?limit=500", { key: adminKey }),
        call(main.url, "GET", "/api/v1/videos?limit=500", { key: adminKey }),
        call(main.url, "GET", "/api/v1/keys", { key: adminKey }),
        call(main.url, "GET", "/api/v1/budgets/limits", { key: adminKey })
      ]).then((answers) => answers.map((answer) => ({ status: answer.status, body: answer.json })))
    const before = await snapshot()
    for (const answer of before) expect(answer.status).toBe(200)

    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(Fuzz.request, async (request) => {
        const answer = await call(main.url, request.method, request.path, {
          key: adminKey,
          ...(request.body === undefined ? {} : { body: request.body }),
          ...(request.raw === undefined ? {} : { rawBody: request.raw.body, headers: request.raw.headers })
        })
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1)
        const context = `${request.method} ${request.path.slice(0, 300)} ${
          JSON.stringify(request.body ?? request.raw)?.slice(0, 300)
        }\n→ ${answer.status} ${answer.text.slice(0, 500)}`
        expect(answer.status, context).toBeGreaterThanOrEqual(400)
        expect(answer.status, context).toBeLessThan(500)
        expect(answer.json, context).toMatchObject({ _tag: expect.any(String), message: expect.any(String) })
      }),
      { numRuns: 200 }
    )
    console.log(`fuzz: statuses ${JSON.stringify(Object.fromEntries([...seen].toSorted(([a], [b]) => a - b)))}`)

    // A body past the size limit, and a route that does not exist.
    const oversized = await call(main.url, "POST", "/api/v1/channels", {
      key: adminKey,
      body: { ...registration("fuzz-absent-oversized"), style: "s".repeat(3_000_000) }
    })
    expectApiError(oversized, 413, oversized.json?._tag ?? "?")
    expectApiError(await call(main.url, "PUT", "/api/v1/channels", { key: adminKey }), 404, "RouteNotFound")

    const health = await call(main.url, "GET", "/health")
    expect(health.json?.status).toBe("healthy")
    expect(await snapshot()).toEqual(before)
  }, 60_000)

  it(
    "shuts down on SIGTERM during a render (exit 0) and the next start finishes the video, each stage paid once",
    async () => {
      const outcome = await shutdownScenario
      if ("error" in outcome) throw outcome.error
      const { atSignal, budgets, exit, firstStderr, shutdownMillis, video } = outcome
      const renderAttempts = video.stages?.find((stage: any) => stage.stage === "render")?.attempts?.length
      console.log(
        `shutdown: SIGTERM during the render, exited ${exit.code} after ${Math.round(shutdownMillis)} ms; ` +
          `the render took ${renderAttempts} attempt(s) in all`
      )
      // SIGTERM came while the render ran, after the stages before it had completed.
      expect(atSignal.stages.map((stage: any) => [stage.stage, stage.status])).toEqual([
        ["script", "completed"],
        ["voice", "completed"],
        ["thumbnail", "completed"],
        ["render", "running"]
      ])
      expect(exit, firstStderr.slice(-4000)).toEqual({ code: 0, signal: null })
      expect(shutdownMillis).toBeLessThan(shutdownTimeoutSeconds * 1000)
      expect(firstStderr).toContain("SIGTERM")

      // The second server finished it: every stage exactly once, completed.
      expect(video.status, JSON.stringify(video.error)).toBe("completed")
      expect(video.stages.map((stage: any) => [stage.stage, stage.status])).toEqual(
        stages.map((stage) => [stage, "completed"])
      )
      const render = video.stages.find((stage: any) => stage.stage === "render")
      expect(existsSync(join(outcome.dataDir, render.artifact.path))).toBe(true)
      // The ledger charged each stage once: the video's total is the sum of its stages, and the channel's and the
      // tenant's day (on a database holding this video alone) committed exactly that, nothing left reserved.
      const stageSum = sumOfStages(video)
      expect(stageSum).toBeGreaterThan(0)
      expect(micros(video.totalCost)).toBe(stageSum)
      expect(budgets.status, JSON.stringify(budgets.body)).toBe(200)
      const scopes = budgets.body as ReadonlyArray<any>
      expect(scopes.map((status) => status.scope._tag).toSorted()).toEqual(
        ["channel-day", "global-day", "global-month", "tenant-day"]
      )
      for (const status of scopes) {
        expect(micros(status.reserved), JSON.stringify(status)).toBe(0)
        expect(micros(status.committed), JSON.stringify(status)).toBe(stageSum)
      }
    },
    120_000
  )

  it(
    "refuses a bad configuration value with exit code 2, naming the variable, never printing DATABASE_URL",
    async () => {
      const secret = `hunter2-${randomBytes(6).toString("hex")}`
      const dataDir = tempDir("config")
      // Valid but unreachable: what matters is that its password never shows.
      const base = {
        ...cleanEnv,
        YTEMPIRE_DATA_DIR: dataDir,
        DATABASE_URL: `postgres://ytempire:${secret}@127.0.0.1:9/nowhere`
      }
      const cases: ReadonlyArray<
        { readonly name: string; readonly env: NodeJS.ProcessEnv; readonly args?: Array<string> }
      > = [
        { name: "PORT", env: { ...base, PORT: "abc" } },
        { name: "DATABASE_URL", env: { ...base, DATABASE_URL: `nonsense:${secret}@db` } },
        { name: "YTEMPIRE_GPU", env: { ...base, YTEMPIRE_GPU: "bogus" } },
        { name: "LOG_LEVEL", env: { ...base, LOG_LEVEL: "loud" } },
        { name: "--port", env: base, args: ["--port", "70000"] }
      ]
      const runs = await Promise.all(cases.map(async (entry) => {
        const run = runBin(["serve", ...(entry.args ?? [])], entry.env, { timeoutMs: 30_000 })
        return { entry, run, exit: await run.closed }
      }))
      for (const { entry, exit, run } of runs) {
        expect(exit.code, `${entry.name}\n${run.describe()}`).toBe(2)
        const lines = run.output.stderr.split("\n").filter((line) => line.trim() !== "")
        expect(lines, run.describe()).toContainEqual(expect.stringMatching(
          new RegExp(`^ytempire: bad configuration: ${entry.name.replace(/[-]/g, "\\-")}: `)
        ))
        expect(run.output.stdout + run.output.stderr).not.toContain(secret)
      }
      // Nothing started: no data directory was written.
      expect(existsSync(join(dataDir, "artifacts"))).toBe(false)
    },
    60_000
  )

  it("never prints a secret: the database password and the API keys stay out of the servers' output", () => {
    // The main and rate-limited servers, the one without Redis, and both of the shutdown scenario.
    expect(servers).toHaveLength(5)
    for (const server of servers) {
      const output = server.output.stdout + server.output.stderr
      for (const secret of [databasePassword, ...secrets]) {
        expect(output.includes(secret), `a secret in the output of the server on port ${server.port}`).toBe(false)
      }
    }
  })
})
