/**
 * The server's API under load: latency percentiles of `GET /api/v1/channels` and `POST /api/v1/videos/generate`
 * at a fixed request rate, per storage, and a step search for the highest rate that keeps p99 within 50 ms.
 *
 *   npm run bench -- server [--storage both|embedded|postgres|memory] [--rate 500] [--seconds 10]
 *                           [--step-seconds 3] [--max-rate 8000] [--channels 20] [--redis-url URL]
 *                           [--settle-seconds 60] [--database NAME]
 *
 * For each storage, a server child process (bench/serverChild.ts: `Server.layer` with the instant providers of
 * bench/instantProviders.ts, its rate limit raised out of the way) starts on a free port, on a fresh data
 * directory (and, for Postgres, a fresh database, dropped after). Through the API, the benchmark makes an operator
 * key, lifts the global budget limits and registers `--channels` channels; then, per route:
 *
 * - a warm-up of 2 s at 100 requests/s (not measured);
 * - steps of `--step-seconds` at 10, 25, 50, 100, 250, 500, 1000, 1500, 2000, 3000, … requests/s (up to `--max-rate`),
 *   stopping at the first step whose p99 is over 50 ms, that has errors, or whose responses come back slower than
 *   95 % of the rate: `maxRateWithinP99` is the last step that passed;
 * - `--rate` requests/s for `--seconds` (the route's main figures).
 *
 * Before each run, the benchmark waits (up to `--settle-seconds`) until the videos asked for by earlier runs are
 * done, so that a run starts on an idle server; for `videos/generate`, `backgroundVideos` says how long the server
 * took to finish the fixed-rate run's videos after it (and how many were still pending when the wait gave up).
 *
 * The load is open-loop: each request leaves at its scheduled time (`start + i / rate`) whether or not earlier
 * ones have been answered, and its latency runs from that scheduled time to the end of its response, so that
 * time spent queueing (in the client, the socket or the server) counts. The client is node:http with a keep-alive
 * Agent (up to 512 sockets), in this process, so on a small machine the client takes CPU from the server. The
 * channel list is measured first; every accepted `videos/generate` starts a video (instant providers) that the
 * server produces in the background while the run goes on, so the generate figures include that work. A request
 * whose connection stays silent for 30 s is abandoned and counted as an error (`timeout`). One JSON line goes to
 * stdout; progress to stderr.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Console, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import type { SqlError } from "effect/sql"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { createServer } from "node:net"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("..", import.meta.url))

/** The machine's 1-minute load average: other work on the machine slows the figures. */
const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100

const round = (value: number) => Math.round(value * 1000) / 1000

type Storage = "embedded" | "postgres" | "memory"

/** The p99 latency that a step of the search must keep, in milliseconds. */
const p99TargetMs = 50

// ---------------------------------------------------------------------------------------------------------------
// Postgres

const pgServer = Config.all({
  host: Config.String("PGHOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.Port("PGPORT").pipe(Config.withDefault(5432)),
  username: Config.String("PGUSER").pipe(Config.withDefault("postgres")),
  password: Config.option(Config.Redacted("PGPASSWORD"))
})

/** Runs `statement` on the server's `postgres` database. */
const onPgServer = (statement: (sql: PgClient.PgClient) => Effect.Effect<unknown, SqlError.SqlError>) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    yield* statement(sql)
  }).pipe(
    Effect.provide(Layer.unwrap(Effect.map(pgServer, ({ host, password, port, username }) =>
      PgClient.layer({
        host,
        port,
        username,
        ...(Option.isSome(password) ? { password: password.value } : {}),
        database: "postgres",
        maxConnections: 1
      })))),
    Effect.orDie
  )

/** A fresh database `name` (dropped after the scope), and its URL. */
const freshDatabase = Effect.fnUntraced(function*(name: string) {
  const { host, password, port, username } = yield* Effect.orDie(pgServer)
  const drop = onPgServer((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)
  yield* drop
  yield* onPgServer((sql) => sql`CREATE DATABASE ${sql(name)}`)
  yield* Effect.addFinalizer(() => drop)
  const auth = encodeURIComponent(username) +
    (Option.isSome(password) ? `:${encodeURIComponent(Redacted.value(password.value))}` : "")
  return `postgres://${auth}@${host}:${port}/${name}`
})

// ---------------------------------------------------------------------------------------------------------------
// the server child

/** A port that nothing listens on right now. */
const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })
)

interface Child {
  readonly url: string
  readonly port: number
  readonly output: () => string
}

/** `node bench/serverChild.ts` with `env`, once GET /health answers; SIGTERM (then SIGKILL) when the scope closes. */
const serverChild = Effect.fnUntraced(function*(env: Record<string, string>) {
  const port = yield* freePort
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, ["bench/serverChild.ts"], {
        cwd: repoRoot,
        env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1" },
        stdio: ["ignore", "pipe", "pipe"]
      })
    ),
    (spawned) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (spawned.exitCode !== null || spawned.signalCode !== null) return resolve()
          const timer = setTimeout(() => spawned.kill("SIGKILL"), 30_000)
          spawned.once("close", () => {
            clearTimeout(timer)
            resolve()
          })
          spawned.kill("SIGTERM")
        })
      )
  )
  let output = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output = (output + chunk).slice(-8000)))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output = (output + chunk).slice(-8000)))
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  for (;;) {
    if (child.exitCode !== null) {
      return yield* Effect.die(new Error(`the server exited with ${child.exitCode}:\n${output}`))
    }
    if (performance.now() - started > 120_000) {
      return yield* Effect.die(new Error(`the server did not answer /health within 120 s:\n${output}`))
    }
    // Each try has its own deadline: a request that reaches the port before the server serves is never answered.
    const ok = yield* Effect.promise(() =>
      fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).then((response) => response.ok, () => false)
    )
    if (ok) break
    yield* Effect.sleep("100 millis")
  }
  yield* Console.error(`server: ${env["YTEMPIRE_STORAGE"]} storage up in ${Math.round(performance.now() - started)} ms`)
  return { url, port, output: () => output } satisfies Child
})

/** One API call for the set-up (not measured): its status and JSON body; anything but `expected` dies. */
const api = (url: string, key: string, method: string, path: string, body: unknown, expected: number) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, text: await response.text() }
  }).pipe(
    Effect.flatMap(({ status, text }) =>
      status === expected
        ? Effect.succeed(text === "" ? undefined : JSON.parse(text))
        : Effect.die(new Error(`${method} ${path}: ${status} ${text}`))
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// the load generator

interface Target {
  readonly method: "GET" | "POST"
  readonly path: string
  /** The body of the `i`th request, if any. */
  readonly body?: (i: number) => string
}

interface Phase {
  readonly rate: number
  readonly seconds: number
  readonly requests: number
  readonly sentPerSecond: number
  readonly completedPerSecond: number
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number }
  readonly ok: number
  readonly errors: Record<string, number>
}

const percentile = (sorted: ReadonlyArray<number>, fraction: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!

/**
 * `rate` requests/s of `target` for `seconds`, open-loop: request `i` leaves at `start + i / rate`; its latency is
 * from then to the end of its response.
 */
const openLoop = (
  agent: Http.Agent,
  server: { readonly port: number; readonly key: string },
  target: Target,
  rate: number,
  seconds: number
): Promise<Phase> =>
  new Promise((resolve) => {
    const total = Math.max(1, Math.round(rate * seconds))
    const interval = 1000 / rate
    const latencies: Array<number> = []
    const errors: Record<string, number> = {}
    let ok = 0
    let sent = 0
    let done = 0
    let lastSent = 0
    let lastDone = 0
    const start = performance.now() + 20
    const finish = (scheduled: number, outcome: number | string) => {
      const now = performance.now()
      latencies.push(now - scheduled)
      lastDone = now
      if (typeof outcome === "number" && outcome >= 200 && outcome < 300) ok++
      else errors[String(outcome)] = (errors[String(outcome)] ?? 0) + 1
      if (++done === total) {
        latencies.sort((a, b) => a - b)
        resolve({
          rate,
          seconds,
          requests: total,
          sentPerSecond: round(total / ((lastSent - start) / 1000 + interval / 1000)),
          completedPerSecond: round(total / ((lastDone - start) / 1000)),
          latencyMs: {
            p50: round(percentile(latencies, 0.5)),
            p95: round(percentile(latencies, 0.95)),
            p99: round(percentile(latencies, 0.99)),
            max: round(latencies.at(-1) ?? 0)
          },
          ok,
          errors
        })
      }
    }
    const fire = (i: number) => {
      const scheduled = start + i * interval
      const body = target.body?.(i)
      const request = Http.request({
        agent,
        host: "127.0.0.1",
        port: server.port,
        method: target.method,
        path: target.path,
        headers: {
          authorization: `Bearer ${server.key}`,
          ...(body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
        }
      }, (response) => {
        response.resume()
        response.on("end", () => finish(scheduled, response.statusCode ?? 0))
        response.on("error", () => finish(scheduled, "response-error"))
      })
      request.setTimeout(30_000, () => request.destroy(new Error("timeout")))
      request.on("error", (error: NodeJS.ErrnoException) => finish(scheduled, error.code ?? error.message))
      request.end(body)
      lastSent = performance.now()
    }
    const tick = () => {
      const now = performance.now()
      while (sent < total && start + sent * interval <= now) fire(sent++)
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
    }
    setTimeout(tick, Math.max(0, start - performance.now()))
  })

/** Whether a step of the search keeps the target: p99 within 50 ms, no errors, the rate kept up with. */
const passes = (phase: Phase) =>
  phase.latencyMs.p99 <= p99TargetMs && Object.keys(phase.errors).length === 0 &&
  phase.completedPerSecond >= 0.95 * phase.rate

const stepRates = (maxRate: number) =>
  [10, 25, 50, 100, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000].filter((rate) => rate <= maxRate)

const describePhase = (label: string, phase: Phase) =>
  `${label} @${phase.rate}/s: p50 ${phase.latencyMs.p50} ms, p99 ${phase.latencyMs.p99} ms, max ${phase.latencyMs.max} ms, ` +
  `${phase.completedPerSecond}/s completed, ${phase.ok} ok, errors ${JSON.stringify(phase.errors)}`

// ---------------------------------------------------------------------------------------------------------------
// one storage

const measureStorage = Effect.fnUntraced(function*(options: {
  readonly storage: Storage
  readonly rate: number
  readonly seconds: number
  readonly stepSeconds: number
  readonly maxRate: number
  readonly channels: number
  readonly redisUrl: string | undefined
  readonly database: string
  readonly settleSeconds: number
}) {
  const { storage } = options
  const dataDir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), `ytempire-bench-server-${storage}-`))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const bootstrap = `yte_${randomBytes(32).toString("base64url")}`
  const env: Record<string, string> = {
    YTEMPIRE_STORAGE: storage,
    YTEMPIRE_DATA_DIR: dataDir,
    YTEMPIRE_BOOTSTRAP_KEY: bootstrap,
    YTEMPIRE_GPU: "none",
    // The limiter stays in the path (each request takes a token) but never refuses the benchmark.
    YTEMPIRE_RATE_LIMIT: "1000000",
    YTEMPIRE_PROVIDER_LATENCY_MS: "0",
    LOG_LEVEL: "warn"
  }
  if (storage === "postgres") env["DATABASE_URL"] = yield* freshDatabase(options.database)
  if (options.redisUrl !== undefined) env["REDIS_URL"] = options.redisUrl
  const child = yield* serverChild(env)

  // Set-up through the API: an operator key, budgets out of the way, the channels.
  const created = yield* api(child.url, bootstrap, "POST", "/api/v1/keys", { role: "operator", name: "bench" }, 201)
  const key: string = created.secret
  yield* api(child.url, bootstrap, "PUT", "/api/v1/budgets/limits", {
    globalDaily: "100000000",
    globalMonthly: "100000000"
  }, 200)
  for (let i = 0; i < options.channels; i++) {
    yield* api(child.url, key, "POST", "/api/v1/channels", {
      id: `bench-${i + 1}`,
      name: `Bench ${i + 1}`,
      niche: "technology",
      language: "en",
      style: "upbeat explainer",
      budget: { perVideo: "100" }
    }, 200)
  }

  const agent = new Http.Agent({ keepAlive: true, maxSockets: 512 })
  yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
  const server = { port: child.port, key }
  const run = (target: Target, rate: number, seconds: number) =>
    Effect.promise(() => openLoop(agent, server, target, rate, seconds))

  const targets: ReadonlyArray<{ readonly route: string; readonly target: Target }> = [
    { route: "GET /api/v1/channels", target: { method: "GET", path: "/api/v1/channels" } },
    {
      route: "POST /api/v1/videos/generate",
      target: {
        method: "POST",
        path: "/api/v1/videos/generate",
        body: (i) =>
          JSON.stringify({ channelId: `bench-${(i % options.channels) + 1}`, topic: "Five phones under $300" })
      }
    }
  ]
  /**
   * Waits until the videos that earlier phases asked for are done (or `settleSeconds` pass), so that each phase
   * starts on an idle server: how long it took and how many were still pending.
   */
  const settle = Effect.gen(function*() {
    const started = performance.now()
    for (;;) {
      const status = yield* api(child.url, key, "GET", "/api/v1/status", undefined, 200)
      const pending: number = status.videos.queued + status.videos.running
      const seconds = round((performance.now() - started) / 1000)
      if (pending === 0 || seconds >= options.settleSeconds) return { seconds, pending }
      yield* Effect.sleep("500 millis")
    }
  })

  const routes = []
  for (const { route, target } of targets) {
    yield* run(target, 100, 2)
    // The step search first: its low rates leave little for the server to finish, where the fixed-rate run of
    // videos/generate leaves a backlog that would weigh on whatever came after it.
    const steps: Array<Phase> = []
    for (const rate of stepRates(options.maxRate)) {
      yield* settle
      const step = yield* run(target, rate, options.stepSeconds)
      steps.push(step)
      yield* Console.error(describePhase(`${storage} ${route} step`, step))
      if (!passes(step)) break
    }
    yield* settle
    const fixed = yield* run(target, options.rate, options.seconds)
    yield* Console.error(describePhase(`${storage} ${route}`, fixed))
    const afterFixed = yield* settle
    if (afterFixed.seconds > 0) {
      yield* Console.error(
        `${storage}: videos in the background done after ${afterFixed.seconds} s (${afterFixed.pending} pending)`
      )
    }
    const passed = steps.filter(passes)
    routes.push({
      route,
      ...fixed,
      backgroundVideos: target.method === "POST" ? afterFixed : undefined,
      maxRateWithinP99: passed.at(-1)?.rate ?? null,
      steps: steps.map((step) => ({
        rate: step.rate,
        completedPerSecond: step.completedPerSecond,
        p99: step.latencyMs.p99,
        errors: Object.values(step.errors).reduce((sum, n) => sum + n, 0),
        passed: passes(step)
      }))
    })
  }
  return { storage, rateLimiter: options.redisUrl === undefined ? "memory" : "redis", routes }
}, Effect.scoped)

// ---------------------------------------------------------------------------------------------------------------
// the command

const positive = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.withDefault(fallback)
  )

/**
 * The `server` benchmark.
 *
 * @category commands
 */
export const command = Command.make(
  "server",
  {
    storage: Flag.Literals("storage", ["both", "embedded", "postgres", "memory"]).pipe(
      Flag.withDescription(
        "embedded (PGlite in a fresh data directory), postgres (PGHOST/PGPORT/PGUSER, a fresh database), memory, " +
          "or both: embedded and postgres (default)"
      ),
      Flag.withDefault("both")
    ),
    rate: positive("rate", "Requests per second of the fixed-rate run of each route (default 500)", 500),
    seconds: positive("seconds", "Seconds of the fixed-rate run of each route (default 10)", 10),
    stepSeconds: positive("step-seconds", "Seconds of each step of the search for the rate within p99 (default 3)", 3),
    maxRate: positive("max-rate", "The highest rate the step search tries (default 8000)", 8000),
    settleSeconds: positive(
      "settle-seconds",
      "Before each run, wait up to this long for the videos asked for earlier to be done (default 60)",
      60
    ),
    channels: positive("channels", "Channels registered, listed and asked for videos in turn (default 20)", 20),
    redisUrl: Flag.String("redis-url").pipe(
      Flag.withDescription("Put the rate limiter in this Redis (default: in the server's memory)"),
      Flag.optional
    ),
    database: Flag.String("database").pipe(
      Flag.withDescription(
        "The database that the postgres run creates, uses and drops (default ytempire_bench_server)"
      ),
      Flag.withDefault("ytempire_bench_server")
    )
  },
  Effect.fnUntraced(function*(flags) {
    const atStart = loadAverage()
    const storages: ReadonlyArray<Storage> = flags.storage === "both" ? ["embedded", "postgres"] : [flags.storage]
    const results = []
    for (const storage of storages) {
      results.push(
        yield* measureStorage({
          storage,
          rate: flags.rate,
          seconds: flags.seconds,
          stepSeconds: flags.stepSeconds,
          maxRate: flags.maxRate,
          channels: flags.channels,
          redisUrl: Option.getOrUndefined(flags.redisUrl),
          database: flags.database,
          settleSeconds: flags.settleSeconds
        })
      )
    }
    yield* Console.log(JSON.stringify({
      bench: "server",
      node: process.version,
      cpus: availableParallelism(),
      loadAverage: { atStart, atEnd: loadAverage() },
      load: "open loop, node:http keep-alive client in the benchmark's process; latency from each request's " +
        "scheduled time to the end of its response",
      providers: "instant (bench/instantProviders.ts)",
      targets: { p99Ms: p99TargetMs, rate: flags.rate },
      results
    }))
  })
).pipe(
  Command.withDescription(
    "Latency of GET /api/v1/channels and POST /api/v1/videos/generate under an open-loop load, and the highest " +
      "rate within p99 50 ms (embedded, Postgres)"
  )
)
