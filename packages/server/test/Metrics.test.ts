import { describe, expect, it } from "@effect/vitest"
import { Money, Pricing, Provider, type Stage } from "@ytempire/domain"
import { Providers } from "@ytempire/runtime"
import * as Server from "@ytempire/server/Server"
import { Effect, Layer, Metric, References } from "effect"
import { spawnSync } from "node:child_process"
import * as TestServer from "./utils/TestServer.ts"

// ---------------------------------------------------------------------------------------------------------------
// the server: memory storage, stand-in providers

/** Channels whose render always fails (not retryable): their videos fail at render. */
const brokenChannel = "broken"

const usages: Record<Stage.Stage, Pricing.UsageItem> = {
  script: Pricing.use("openai.gpt-3.5-turbo", 2_000),
  voice: Pricing.use("google.tts", 1_500),
  thumbnail: Pricing.use("compute.cpu-hour", 1_000),
  render: Pricing.use("compute.cpu-hour", 60_000),
  upload: Pricing.use("network.bandwidth-gb", 1_000_000)
}

const instant = (stage: Stage.Stage, tier: Provider.ProviderTier): Providers.StageProvider => ({
  stage,
  name: `instant-${stage}`,
  tier,
  run: (input) =>
    stage === "render" && input.channel.id === brokenChannel
      ? Effect.fail(
        new Provider.ProviderUnavailable({ provider: `instant-${stage}`, stage, reason: "broken", retryable: false })
      )
      : Effect.succeed({
        value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
        usage: [usages[stage]]
      })
})

const providers = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)({ providers: [TestServer.flakyScript, instant("script", "standard")] }),
  Layer.succeed(Providers.Narrator)({ providers: [instant("voice", "standard")] }),
  Layer.succeed(Providers.ThumbnailArtist)({ providers: [instant("thumbnail", "local")] }),
  Layer.succeed(Providers.Renderer)({ providers: [instant("render", "local")] }),
  Layer.succeed(Providers.Publisher)({ providers: [instant("upload", "local")] })
)

const adminKey = TestServer.newSecret()

const config = (port: number) => TestServer.memoryConfig(port, adminKey, "metrics")

// ---------------------------------------------------------------------------------------------------------------
// HTTP and the exposition format

interface Reply {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
  readonly json: any
}

const call = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async (): Promise<Reply> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, contentType: response.headers.get("content-type"), text, json }
  })

interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

const unescape = (value: string) => value.replace(/\\(.)/g, (_, char: string) => char === "n" ? "\n" : char)

/** The text exposition format, parsed: each family's type and every sample with its labels. */
const parse = (text: string): Exposition => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) {
      types.set(type[1]!, type[2]!)
      continue
    }
    if (line.startsWith("#")) continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (sample === null) throw new Error(`not a sample: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) {
      labels[key!] = unescape(value!)
    }
    const raw = sample[3]!
    samples.push({
      name: sample[1]!,
      labels,
      value: raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    })
  }
  return { types, samples }
}

/** The samples of `name` whose labels include `labels`. */
const find = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
  exposition.samples.filter((sample) =>
    sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  )

/** The one sample of `name` with exactly `labels`. */
const value = (exposition: Exposition, name: string, labels: Record<string, string> = {}): number => {
  const found = find(exposition, name, labels).filter((sample) =>
    Object.keys(sample.labels).length === Object.keys(labels).length
  )
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1)
  return found[0]!.value
}

const dollars = (item: Pricing.UsageItem) => Money.toDollars(Pricing.itemCost(item))

// ---------------------------------------------------------------------------------------------------------------

describe("GET /metrics", () => {
  it.live("after a video, passes promtool and shows the video, its costs, stages, attempts, budgets and requests", () =>
    Effect.gen(function*() {
      const port = yield* TestServer.freePort
      const base = `http://127.0.0.1:${port}`
      // The server's own metric registry: what /metrics shows was recorded in the server's context.
      yield* Layer.build(
        Server.layer(config(port), { startedAt: 0, providers }).pipe(
          Layer.provide(Layer.succeed(Metric.MetricRegistry)(new Map())),
          Layer.provide(Layer.succeed(References.MinimumLogLevel)("Error"))
        )
      )

      for (const id of ["tech", brokenChannel]) {
        const created = yield* call(base, "POST", "/api/v1/channels", {
          id,
          name: `Channel ${id}`,
          niche: "technology",
          language: "en",
          style: "upbeat explainer",
          budget: { daily: "20" }
        })
        expect(created.status, created.text).toBe(200)
      }
      for (const [channelId, videoId] of [["tech", "v1"], [brokenChannel, "v2"]]) {
        const accepted = yield* call(base, "POST", "/api/v1/videos/generate", { channelId, videoId, topic: "Phones" })
        expect(accepted.status, accepted.text).toBe(202)
      }
      const final = (videoId: string) =>
        Effect.gen(function*() {
          for (let polls = 0; polls < 200; polls++) {
            const video = (yield* call(base, "GET", `/api/v1/videos/${videoId}`)).json
            if (video.status === "completed" || video.status === "failed") return video
            yield* Effect.sleep("25 millis")
          }
          throw new Error(`video ${videoId} did not finish`)
        })
      const completed = yield* final("v1")
      const failed = yield* final("v2")
      expect(completed.status).toBe("completed")
      expect(failed.status).toBe("failed")
      expect((yield* call(base, "GET", "/no/such/path")).status).toBe(404)
      expect((yield* call(base, "GET", "/health")).status).toBe(200)
      // An RPC request (not a valid one): its route is the RPC endpoint's.
      const rpc = yield* call(base, "POST", "/rpc", [])

      const reply = yield* call(base, "GET", "/metrics")
      expect(reply.status).toBe(200)
      expect(reply.contentType).toBe("text/plain; version=0.0.4; charset=utf-8")

      // Prometheus' own linter accepts the whole exposition.
      const promtool = spawnSync("promtool", ["check", "metrics"], { input: reply.text, encoding: "utf8" })
      expect(promtool.error, "promtool must be installed (Debian's prometheus package)").toBeUndefined()
      expect(`${promtool.stdout}${promtool.stderr}`.trim()).toBe("")
      expect(promtool.status).toBe(0)

      const metrics = parse(reply.text)
      const totalCost = Number(completed.totalCost)
      const failedCost = Number(failed.totalCost)
      expect(totalCost).toBeGreaterThan(0)

      // The video: counted once, by channel and status; the failure by stage and reason.
      expect(metrics.types.get("videos_generated_total")).toBe("counter")
      expect(value(metrics, "videos_generated_total", { channel: "tech", status: "completed" })).toBe(1)
      expect(value(metrics, "videos_generated_total", { channel: brokenChannel, status: "failed" })).toBe(1)
      expect(find(metrics, "videos_generated_total")).toHaveLength(2)
      expect(value(metrics, "video_generation_failures_total", { stage: "render", reason: "provider_unavailable" }))
        .toBe(1)
      expect(value(metrics, "video_generation_duration_seconds_count")).toBe(1)
      expect(value(metrics, "video_generation_duration_seconds_bucket", { le: "30" })).toBe(1)
      expect(find(metrics, "video_generation_duration_seconds_bucket").map((sample) => sample.labels.le)).toEqual([
        "30",
        "60",
        "120",
        "240",
        "480",
        "960",
        "+Inf"
      ])

      // Its cost: the last video per channel (a gauge in dollars), the histogram, and the services' spend.
      expect(metrics.types.get("cost_per_video")).toBe("gauge")
      expect(value(metrics, "cost_per_video", { channel: "tech" })).toBeCloseTo(totalCost, 6)
      expect(find(metrics, "cost_per_video", { channel: brokenChannel })).toEqual([])
      expect(value(metrics, "video_cost_dollars_sum")).toBeCloseTo(totalCost, 6)
      expect(value(metrics, "video_cost_dollars_count")).toBe(1)
      expect(metrics.types.get("api_cost_dollars_total")).toBe("counter")
      // Both videos wrote their script, voice and thumbnail; only the completed one its render and upload.
      expect(value(metrics, "api_cost_dollars_total", { service: "openai.gpt-3.5-turbo" }))
        .toBeCloseTo(2 * dollars(usages.script), 9)
      expect(value(metrics, "api_cost_dollars_total", { service: "google.tts" })).toBeCloseTo(
        2 * dollars(usages.voice),
        9
      )
      expect(value(metrics, "api_cost_dollars_total", { service: "compute.cpu-hour" }))
        .toBeCloseTo(2 * dollars(usages.thumbnail) + dollars(usages.render), 9)
      expect(value(metrics, "api_cost_dollars_total", { service: "network.bandwidth-gb" }))
        .toBeCloseTo(dollars(usages.upload), 9)
      const spent = find(metrics, "api_cost_dollars_total").reduce((sum, sample) => sum + sample.value, 0)
      expect(spent).toBeCloseTo(totalCost + failedCost, 6)

      // Each stage, by the provider that completed it.
      expect(metrics.types.get("stage_duration_seconds")).toBe("histogram")
      expect(value(metrics, "stage_duration_seconds_count", { stage: "script", provider: "instant-script" })).toBe(2)
      expect(value(metrics, "stage_duration_seconds_count", { stage: "render", provider: "instant-render" })).toBe(1)
      expect(value(metrics, "stage_duration_seconds_count", { stage: "upload", provider: "instant-upload" })).toBe(1)
      expect(find(metrics, "stage_duration_seconds_count", { provider: "flaky-script" })).toEqual([])
      const scriptBuckets = find(metrics, "stage_duration_seconds_bucket", { stage: "script" })
      expect(scriptBuckets.at(-1)).toMatchObject({ labels: { le: "+Inf" }, value: 2 })
      expect(scriptBuckets.map((sample) => sample.value)).toEqual(
        scriptBuckets.map((sample) => sample.value).toSorted()
      )
      expect(value(metrics, "stage_duration_seconds_sum", { stage: "script", provider: "instant-script" }))
        .toBeGreaterThanOrEqual(0)

      // Every provider attempt, by outcome.
      expect(value(metrics, "provider_attempts_total", { provider: "flaky-script", outcome: "failed" })).toBe(2)
      expect(value(metrics, "provider_attempts_total", { provider: "instant-script", outcome: "succeeded" })).toBe(2)
      expect(value(metrics, "provider_attempts_total", { provider: "instant-render", outcome: "failed" })).toBe(1)
      expect(value(metrics, "provider_attempts_total", { provider: "instant-upload", outcome: "succeeded" })).toBe(1)

      // The budgets: the channel's day with its limit, the operation's day; nothing left reserved.
      expect(value(metrics, "budget_spent_dollars", { scope: "channel-day:tech" })).toBeCloseTo(totalCost, 6)
      expect(value(metrics, "budget_reserved_dollars", { scope: "channel-day:tech" })).toBe(0)
      expect(value(metrics, "budget_limit_dollars", { scope: "channel-day:tech" })).toBe(20)
      expect(value(metrics, "budget_spent_dollars", { scope: "global-day" })).toBeCloseTo(totalCost + failedCost, 6)
      expect(value(metrics, "budget_spent_dollars", { scope: "tenant-day:acme" })).toBeCloseTo(
        totalCost + failedCost,
        6
      )
      expect(find(metrics, "budget_spent_dollars", { scope: "video" })).toEqual([])
      expect(value(metrics, "active_channels")).toBe(2)

      // Requests, by route pattern (never by URL), and the unmatched path under one label.
      expect(value(metrics, "http_requests_total", { method: "POST", route: "/api/v1/videos/generate", status: "202" }))
        .toBe(2)
      expect(value(metrics, "http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1)
      expect(find(metrics, "http_requests_total", { method: "GET", route: "/api/v1/videos/:videoId", status: "200" }))
        .toHaveLength(1)
      expect(value(metrics, "http_request_duration_seconds_count", { method: "POST", route: "/api/v1/channels" }))
        .toBe(2)
      expect(value(metrics, "http_requests_total", { method: "GET", route: "/health", status: "200" })).toBe(1)
      expect(value(metrics, "http_requests_total", { method: "POST", route: "/rpc", status: String(rpc.status) }))
        .toBe(1)
      const routes = new Set(find(metrics, "http_requests_total").map((sample) => sample.labels.route))
      expect([...routes].filter((route) => route?.includes("v1/videos/v"))).toEqual([])

      // Nothing per video anywhere.
      for (const sample of metrics.samples) {
        expect(Object.values(sample.labels).filter((label) => label === "v1" || label === "v2")).toEqual([])
      }
    }).pipe(Effect.scoped))
})
