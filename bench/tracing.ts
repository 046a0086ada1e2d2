/**
 * What observability costs: CPU per video of the pipeline with tracing on (spans exported over OTLP/HTTP to a
 * receiver) against tracing off (no endpoint), and the latency of `GET /metrics` on a server with 1,000 channels.
 *
 *   npm run bench -- tracing [--videos 400] [--rounds 8] [--warmup 20] [--concurrency 20] [--channels 1000]
 *                            [--scrapes 200]
 *
 * The pipeline, as `pipeline` measures it (bench/pipeline.ts: `VideoPipeline.execute` after inserting the queued
 * record, instant providers, memory storage): two stacks side by side in this process, each with its own
 * storage and workflow engine, the same but for tracing. The traced one is built with `Tracing.layer` and
 * `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a receiver in a child process (it answers every POST /v1/traces with
 * 200 and counts the spans in the protobuf body), so the SDK really batches, serialises (http/protobuf, the
 * default) and sends every span; the other has no endpoint, so `Tracing.layer` leaves Effect's own tracer in
 * place, as a server without OTEL_* configured runs. Metrics are recorded by both (the runtime always records
 * them; there is no switch). After warm-up, the two run in alternating rounds (on, off, off, on, …); CPU is the
 * process's (user + system) over a round, divided by its videos, and a traced round also pays for flushing its
 * last spans to the receiver (the span processor's queue is raised, `OTEL_BSP_MAX_QUEUE_SIZE`, so that none is
 * dropped: every span is paid for).
 *
 * /metrics: the whole server (`Server.layer`, memory storage, instant providers, tracing off) in this process
 * with its own metric registry; `--channels` channels registered with a daily budget through the runtime's
 * facade, one video each produced, then `--scrapes` sequential GET /metrics over a keep-alive connection (after
 * 10 unmeasured), timed from request to the end of the body. Target: p99 ≤ 10 ms. One JSON line on stdout.
 */
import * as Otel from "@opentelemetry/api"
import { Ids, Money } from "@ytempire/domain"
import { Tracing } from "@ytempire/ops"
import { ChannelRepository, YtempireRuntime } from "@ytempire/runtime"
import * as Server from "@ytempire/server/Server"
import type * as ServerConfig from "@ytempire/server/ServerConfig"
import {
  ConfigProvider,
  Console,
  Context,
  Duration,
  Effect,
  FileSystem,
  Layer,
  Metric,
  Option,
  References,
  Schema,
  Scope,
  Stream
} from "effect"
import { Command, Flag } from "effect/cli"
import { spawn } from "node:child_process"
import { once } from "node:events"
import * as Http from "node:http"
import { createServer } from "node:net"
import { availableParallelism } from "node:os"
import * as InstantProviders from "./instantProviders.ts"
import * as Pipeline from "./pipeline.ts"

// ---------------------------------------------------------------------------------------------------------------
// the OTLP receiver, in a child process (its CPU is not the pipeline's)

/**
 * An OTLP/HTTP receiver: POST /v1/traces is answered 200 with an empty ExportTraceServiceResponse, its spans
 * counted (protobuf: ExportTraceServiceRequest.resource_spans(1) → ResourceSpans.scope_spans(2) →
 * ScopeSpans.spans(2); or the JSON mapping); GET /stats answers what was received. Prints its port.
 */
const receiverSource = `
const http = require("node:http")
let requests = 0, bytes = 0, spans = 0
const varint = (buf, i) => {
  let value = 0, scale = 1, byte
  do { byte = buf[i++]; value += (byte & 0x7f) * scale; scale *= 128 } while (byte & 0x80)
  return [value, i]
}
const each = (buf, start, end, wanted, f) => {
  let i = start
  while (i < end) {
    let tag; [tag, i] = varint(buf, i)
    const type = tag % 8, field = Math.floor(tag / 8)
    if (type === 0) [, i] = varint(buf, i)
    else if (type === 1) i += 8
    else if (type === 5) i += 4
    else if (type === 2) {
      let length; [length, i] = varint(buf, i)
      if (field === wanted) f(i, i + length)
      i += length
    } else throw new Error("wire type " + type)
  }
}
const countProtobuf = (buf) =>
  each(buf, 0, buf.length, 1, (a, b) => each(buf, a, b, 2, (c, d) => each(buf, c, d, 2, () => spans++)))
const countJson = (body) => {
  for (const r of body.resourceSpans ?? []) for (const s of r.scopeSpans ?? []) spans += (s.spans ?? []).length
}
const server = http.createServer((req, res) => {
  const chunks = []
  req.on("data", (chunk) => chunks.push(chunk))
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/stats") {
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(JSON.stringify({ requests, bytes, spans }))
    }
    const body = Buffer.concat(chunks)
    requests++
    bytes += body.length
    if ((req.headers["content-type"] ?? "").includes("json")) {
      countJson(JSON.parse(body.toString("utf8")))
      res.writeHead(200, { "content-type": "application/json" })
      return res.end("{}")
    }
    countProtobuf(body)
    res.writeHead(200, { "content-type": "application/x-protobuf" })
    res.end()
  })
})
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
`

interface ReceiverStats {
  readonly requests: number
  readonly bytes: number
  readonly spans: number
}

/** The receiver, running for the scope; its URL and a way to read what it received. */
const receiver = Effect.gen(function*() {
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(process.execPath, ["-e", receiverSource], { stdio: ["pipe", "pipe", "inherit"] })),
    (started) =>
      Effect.promise(async () => {
        if (started.exitCode !== null) return
        const exited = once(started, "exit")
        // Closing its stdin ends it; a kill of our own child (by its handle) if not.
        started.stdin.end()
        const timer = setTimeout(() => started.kill(), 2_000)
        await exited
        clearTimeout(timer)
      })
  )
  const port = yield* Effect.promise(() =>
    new Promise<number>((resolve, reject) => {
      child.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString("utf8").trim())))
      child.once("exit", (code) => reject(new Error(`the OTLP receiver exited (${code})`)))
    })
  )
  const url = `http://127.0.0.1:${port}`
  const stats = Effect.promise(async () => (await (await fetch(`${url}/stats`)).json()) as ReceiverStats)
  return { url, stats }
})

/** Sends what the global tracer provider has buffered (the OpenTelemetry SDK's, while the traced stack lives). */
const flushSpans = Effect.promise(async () => {
  const provider = Otel.trace.getTracerProvider() as {
    readonly getDelegate?: () => { readonly forceFlush?: () => Promise<void> }
  }
  await provider.getDelegate?.().forceFlush?.()
})

/**
 * Runs `body` with `variables` set in the environment (where the OpenTelemetry SDK reads them) and in its config
 * provider (effect's default one is a copy of the environment taken once: it must not keep them), restoring the
 * environment after.
 */
const withEnv = <A, E, R>(variables: Record<string, string>, body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]))
      Object.assign(process.env, variables)
      return saved
    }),
    () => Effect.provideService(body, ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: environment() })),
    (saved) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  )

/** The pipeline on memory storage with instant providers (and a 1-activity bare workflow, not run). */
const stack = (dataDir: string) => Pipeline.benchLayer("memory", "", dataDir, 1)

/** The environment, without the variables that are not set (or, with `withoutOtel`, that configure tracing). */
const environment = (withoutOtel = false) =>
  Object.fromEntries(
    Object.entries(process.env).flatMap(([name, value]) =>
      value === undefined || (withoutOtel && name.startsWith("OTEL_")) ? [] : [[name, value]]
    )
  )

/** Builds `layer` afresh (no service shared with another stack) for the scope. */
const buildFresh = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.flatMap(Scope.Scope, (scope) => Layer.buildWithMemoMap(layer, Layer.makeMemoMapUnsafe(), scope))

// ---------------------------------------------------------------------------------------------------------------
// the pipeline, tracing on and off

const pipelineCpu = Effect.fnUntraced(function*(options: {
  readonly videos: number
  readonly rounds: number
  readonly warmup: number
  readonly concurrency: number
}) {
  const { concurrency } = options
  const fs = yield* FileSystem.FileSystem
  const otlp = yield* receiver
  const off = yield* buildFresh(stack(yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-bench-" })))
  // Tracing.layer reads the environment when it is built: the endpoint is set for the traced stack only.
  const on = yield* withEnv(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_MAX_QUEUE_SIZE: process.env["OTEL_BSP_MAX_QUEUE_SIZE"] ?? "1000000"
    },
    buildFresh(
      stack(yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-bench-" })).pipe(Layer.provide(Tracing.layer))
    )
  )
  const sides = { on, off } as const
  for (const context of [on, off]) {
    yield* Effect.forEach(
      Pipeline.channels,
      (channel) => Effect.flatMap(ChannelRepository.ChannelRepository, (repository) => repository.put(channel)),
      {
        discard: true
      }
    ).pipe(Effect.provide(context))
  }
  let next = 0
  const idsFor = (side: keyof typeof sides, count: number) => Array.from({ length: count }, () => `${side}-${next++}`)
  const tallies: Record<keyof typeof sides, Pipeline.Tally> = {
    on: { videos: 0, cpuMicros: 0, wallNanos: 0n },
    off: { videos: 0, cpuMicros: 0, wallNanos: 0n }
  }
  const round = (side: keyof typeof sides, tally: Pipeline.Tally, count: number) =>
    Effect.gen(function*() {
      yield* Pipeline.measure(tally, Pipeline.ourVideo, idsFor(side, count), concurrency)
      if (side === "on") {
        // The round's last spans, sent now rather than during the next round: their cost is this round's.
        const cpu = process.cpuUsage()
        const started = process.hrtime.bigint()
        yield* flushSpans
        const used = process.cpuUsage(cpu)
        tally.cpuMicros += used.user + used.system
        tally.wallNanos += process.hrtime.bigint() - started
      }
    }).pipe(Effect.provide(sides[side]))

  yield* Console.error(`tracing: warm-up, ${options.warmup} videos of each`)
  const scratch: Pipeline.Tally = { videos: 0, cpuMicros: 0, wallNanos: 0n }
  yield* round("on", scratch, options.warmup)
  yield* round("off", scratch, options.warmup)
  const afterWarmup = yield* otlp.stats
  const counts = Pipeline.split(options.videos, options.rounds)
  for (const [index, count] of counts.entries()) {
    const first = index % 2 === 0 ? "on" : "off"
    const second = first === "on" ? "off" : "on"
    yield* round(first, tallies[first], count)
    yield* round(second, tallies[second], count)
    yield* Console.error(`tracing: round ${index + 1}/${counts.length}`)
  }
  const received = yield* otlp.stats
  for (const [side, context] of Object.entries(sides)) {
    yield* Pipeline.checkCompleted(options.warmup + tallies[side as keyof typeof sides].videos).pipe(
      Effect.provide(context)
    )
  }
  const perVideo = tallies.on.cpuMicros / tallies.on.videos
  const perVideoOff = tallies.off.cpuMicros / tallies.off.videos
  const spans = received.spans - afterWarmup.spans
  return {
    concurrency,
    videos: tallies.on.videos,
    on: Pipeline.figures(tallies.on),
    off: Pipeline.figures(tallies.off),
    cpuOverheadPercent: Pipeline.round((perVideo / perVideoOff - 1) * 100),
    exported: {
      protocol: process.env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? process.env["OTEL_EXPORTER_OTLP_PROTOCOL"] ??
        "http/protobuf",
      spansPerVideo: Pipeline.round(spans / tallies.on.videos),
      requests: received.requests - afterWarmup.requests,
      bytesPerVideo: Math.round((received.bytes - afterWarmup.bytes) / tallies.on.videos)
    }
  }
}, Effect.scoped)

// ---------------------------------------------------------------------------------------------------------------
// GET /metrics with many channels

const freePort = Effect.promise(async () => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  server.close()
  await once(server, "close")
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
})

const tenantId = Schema.decodeSync(Ids.TenantId)("bench")

const serverConfig = (port: number, dataDir: string): ServerConfig.ServerConfig => ({
  port,
  host: "127.0.0.1",
  storage: { _tag: "memory" },
  dataDir,
  redisUrl: Option.none(),
  gpu: { _tag: "None" },
  logLevel: "Error",
  logFormat: "text",
  rate: { perSecond: 1_000_000, burst: 1_000_000 },
  shutdownTimeout: Duration.seconds(5),
  operatorTenant: tenantId,
  bootstrapKey: Option.none(),
  providerLatency: Duration.zero
})

/** One GET of `path` on the agent's connection: milliseconds to the end of the body, and the body. */
const get = (agent: Http.Agent, port: number, path: string) =>
  Effect.promise(() =>
    new Promise<{ readonly ms: number; readonly status: number; readonly body: string }>((resolve, reject) => {
      const started = process.hrtime.bigint()
      const request = Http.request({ host: "127.0.0.1", port, path, agent }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () =>
          resolve({
            ms: Number(process.hrtime.bigint() - started) / 1e6,
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8")
          }))
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end()
    })
  )

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!

const ms = (value: number) => Math.round(value * 100) / 100

const metricsLatency = Effect.fnUntraced(function*(options: { readonly channels: number; readonly scrapes: number }) {
  const fs = yield* FileSystem.FileSystem
  const port = yield* freePort
  const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-bench-" })
  const context = yield* buildFresh(
    Server.layer(serverConfig(port, dataDir), { startedAt: Date.now(), providers: InstantProviders.layer }).pipe(
      Layer.provide(Layer.succeed(Metric.MetricRegistry)(new Map())),
      Layer.provide(Layer.succeed(References.MinimumLogLevel)("Error"))
    )
  ).pipe(
    // Tracing off, whatever the environment says: the OTEL_* variables are left out of its configuration.
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: environment(true) }))
  )
  const ytempire = Context.get(context, YtempireRuntime.Ytempire)
  yield* ytempire.setGlobalLimits({
    daily: Money.unsafeFromDecimal("100000000"),
    monthly: Money.unsafeFromDecimal("100000000")
  })
  yield* Console.error(`tracing: /metrics, ${options.channels} channels with one video each`)
  const started = process.hrtime.bigint()
  yield* Effect.forEach(Array.from({ length: options.channels }, (_, i) => i + 1), (i) =>
    Effect.gen(function*() {
      yield* ytempire.registerChannel(tenantId, {
        id: `bench-${i}`,
        name: `Bench ${i}`,
        niche: "technology",
        language: "en",
        style: "upbeat explainer",
        budget: { daily: "20" }
      })
      const video = yield* ytempire.requestVideo(tenantId, { channelId: `bench-${i}`, topic: "Phones" })
      const done = yield* ytempire.watchVideo(tenantId, video.id).pipe(Stream.runLast, Effect.map(Option.getOrThrow))
      if (done.status !== "completed") return yield* Effect.die(new Error(`video ${done.id}: ${done.status}`))
    }).pipe(Effect.orDie), { concurrency: 50, discard: true })
  const setupSeconds = Pipeline.round(Number(process.hrtime.bigint() - started) / 1e9)

  const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
  yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
  let last = { ms: 0, status: 0, body: "" }
  for (let i = 0; i < 10; i++) last = yield* get(agent, port, "/metrics")
  if (last.status !== 200) return yield* Effect.die(new Error(`GET /metrics: ${last.status}`))
  yield* Console.error(`tracing: /metrics, ${options.scrapes} scrapes`)
  const latencies: Array<number> = []
  const cpu = process.cpuUsage()
  for (let i = 0; i < options.scrapes; i++) {
    last = yield* get(agent, port, "/metrics")
    latencies.push(last.ms)
  }
  const used = process.cpuUsage(cpu)
  latencies.sort((a, b) => a - b)
  const lines = last.body.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
  return {
    channels: options.channels,
    setupSeconds,
    scrapes: options.scrapes,
    series: lines.length,
    channelSeries: lines.filter((line) => line.includes("bench-")).length,
    bytes: Buffer.byteLength(last.body),
    latencyMs: {
      p50: ms(percentile(latencies, 50)),
      p90: ms(percentile(latencies, 90)),
      p99: ms(percentile(latencies, 99)),
      max: ms(latencies.at(-1)!)
    },
    cpuMsPerScrape: ms((used.user + used.system) / 1000 / options.scrapes)
  }
}, Effect.scoped)

// ---------------------------------------------------------------------------------------------------------------

const positive = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.withDefault(fallback)
  )

/**
 * The `tracing` benchmark.
 *
 * @category commands
 */
export const command = Command.make(
  "tracing",
  {
    videos: positive("videos", "Measured videos with tracing on, and as many with it off (default 400)", 400),
    rounds: positive("rounds", "Alternating rounds that the measured videos are split into (default 8)", 8),
    warmup: positive("warmup", "Unmeasured videos of each side before the rounds (default 20)", 20),
    concurrency: positive("concurrency", "Videos running at once (default 20)", 20),
    channels: positive(
      "channels",
      "Channels (one video each) on the server that /metrics is scraped on (default 1000)",
      1_000
    ),
    scrapes: positive("scrapes", "Measured GET /metrics, one after another (default 200)", 200)
  },
  Effect.fnUntraced(function*(flags) {
    const atStart = Pipeline.loadAverage()
    const pipeline = yield* pipelineCpu(flags)
    const metrics = yield* metricsLatency(flags)
    yield* Console.log(JSON.stringify({
      bench: "tracing",
      node: process.version,
      cpus: availableParallelism(),
      loadAverage: { atStart, atEnd: Pipeline.loadAverage() },
      entry: "VideoPipeline.execute after inserting the queued video (memory storage, instant providers)",
      targets: { cpuOverheadPercent: 10, metricsP99Ms: 10, channels: 1_000 },
      pipeline,
      metrics
    }))
  })
).pipe(
  Command.withDescription(
    "CPU per video of the pipeline with tracing (OTLP export) on vs off, and GET /metrics latency with 1,000 channels"
  )
)
