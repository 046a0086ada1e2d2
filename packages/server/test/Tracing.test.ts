import { describe, expect, it } from "@effect/vitest"
import { Ids, Provider, type Stage } from "@ytempire/domain"
import { Providers } from "@ytempire/runtime"
import * as Server from "@ytempire/server/Server"
import type * as ServerConfig from "@ytempire/server/ServerConfig"
import { Duration, Effect, Layer, Option, Redacted, References, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { mkdtempSync } from "node:fs"
import { createServer as createHttpServer } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

// ---------------------------------------------------------------------------------------------------------------
// the server: memory storage, stand-in providers (the script's first provider fails, so that it falls back)

const instant = (stage: Stage.Stage): Providers.StageProvider => ({
  stage,
  name: `instant-${stage}`,
  tier: "local",
  run: (input) =>
    Effect.succeed({
      value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
      usage: []
    })
})

const flaky: Providers.StageProvider = {
  stage: "script",
  name: "flaky-script",
  tier: "standard",
  run: () =>
    Effect.fail(
      new Provider.ProviderUnavailable({ provider: "flaky-script", stage: "script", reason: "down", retryable: false })
    )
}

const providers = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)({ providers: [flaky, instant("script")] }),
  Layer.succeed(Providers.Narrator)({ providers: [instant("voice")] }),
  Layer.succeed(Providers.ThumbnailArtist)({ providers: [instant("thumbnail")] }),
  Layer.succeed(Providers.Renderer)({ providers: [instant("render")] }),
  Layer.succeed(Providers.Publisher)({ providers: [instant("upload")] })
)

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

const adminKey = `yte_${randomBytes(32).toString("base64url")}`

const config = (port: number): ServerConfig.ServerConfig => ({
  port,
  host: "127.0.0.1",
  storage: { _tag: "memory" },
  dataDir: mkdtempSync(join(tmpdir(), "ytempire-tracing-")),
  redisUrl: Option.none(),
  gpu: { _tag: "None" },
  logLevel: "Warn",
  logFormat: "text",
  rate: { perSecond: 1_000, burst: 1_000 },
  shutdownTimeout: Duration.seconds(5),
  operatorTenant: Schema.decodeSync(Ids.TenantId)("acme"),
  bootstrapKey: Option.some(Redacted.make(adminKey)),
  providerLatency: Duration.zero
})

const call = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, text, json: JSON.parse(text) as any }
  })

// ---------------------------------------------------------------------------------------------------------------
// a local OTLP/HTTP receiver, decoding the OTLP JSON mapping (ExportTraceServiceRequest)

interface AnyValue {
  readonly stringValue?: string
  readonly boolValue?: boolean
  readonly intValue?: number | string
  readonly doubleValue?: number
}

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: AnyValue }>
}

interface ExportTraceServiceRequest {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: AnyValue }> }
    readonly scopeSpans?: ReadonlyArray<{ readonly spans?: ReadonlyArray<OtlpSpan> }>
  }>
}

/** A span with its attributes as plain values. */
interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly attributes: Readonly<Record<string, string | number | boolean>>
  readonly service: string | undefined
}

const plain = (value: AnyValue): string | number | boolean =>
  value.stringValue ?? value.boolValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue!)

const attributesOf = (list: ReadonlyArray<{ readonly key: string; readonly value: AnyValue }> | undefined) =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]))

const receiver = Effect.acquireRelease(
  Effect.promise(async () => {
    const spans: Array<Span> = []
    let requests = 0
    const server = createHttpServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        requests++
        if (request.method === "POST" && request.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportTraceServiceRequest
          for (const resourceSpans of body.resourceSpans ?? []) {
            const service = attributesOf(resourceSpans.resource?.attributes)["service.name"]
            for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
              for (const span of scopeSpans.spans ?? []) {
                spans.push({
                  traceId: span.traceId,
                  spanId: span.spanId,
                  parentSpanId: span.parentSpanId === "" ? undefined : span.parentSpanId,
                  name: span.name,
                  attributes: attributesOf(span.attributes),
                  service: typeof service === "string" ? service : undefined
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
    return { server, port: address.port, spans, requests: () => requests }
  }),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const otelVariables = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_SERVICE_NAME",
  "OTEL_TRACES_EXPORTER"
]

/** Runs `effect` with the OTEL variables set to `env` (the others unset), restoring them after. */
const withEnv = <A, E, R>(env: Record<string, string>, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(otelVariables.map((name) => [name, process.env[name]]))
      for (const name of otelVariables) delete process.env[name]
      Object.assign(process.env, env)
      return saved
    }),
    () => effect,
    (saved) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  )

/** Starts a server, produces one video on it and closes the server (which sends the last spans); the video. */
const oneVideo = Effect.scoped(Effect.gen(function*() {
  const port = yield* freePort
  const base = `http://127.0.0.1:${port}`
  yield* Layer.build(
    Server.layer(config(port), { startedAt: 0, providers }).pipe(
      Layer.provide(Layer.succeed(References.MinimumLogLevel)("Error"))
    )
  )
  const created = yield* call(base, "POST", "/api/v1/channels", {
    id: "tech",
    name: "Channel tech",
    niche: "technology",
    language: "en",
    style: "upbeat explainer",
    budget: { daily: "20" }
  })
  if (created.status !== 200) return yield* Effect.die(new Error(`channel: ${created.text}`))
  const accepted = yield* call(base, "POST", "/api/v1/videos/generate", {
    channelId: "tech",
    videoId: "v1",
    topic: "Phones"
  })
  if (accepted.status !== 202) return yield* Effect.die(new Error(`video: ${accepted.text}`))
  for (let polls = 0; polls < 400; polls++) {
    const video = (yield* call(base, "GET", "/api/v1/videos/v1")).json
    if (video.status === "completed" || video.status === "failed") return video
    yield* Effect.sleep("25 millis")
  }
  return yield* Effect.die(new Error("video v1 did not finish"))
}))

describe("tracing", () => {
  it.live("one video is one trace: its stages and provider attempts, parent-linked, with their attributes", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "50"
      }, oneVideo)
      expect(video.status).toBe("completed")
      expect(video.traceId).toMatch(/^[0-9a-f]{32}$/)

      const spans = otlp.spans
      expect(new Set(spans.map((span) => span.service))).toEqual(new Set(["ytempire"]))
      const stages = spans.filter((span) => span.name === "VideoPipeline.stage")
      const attempts = spans.filter((span) => span.name === "ProviderChain.attempt")
      expect(stages.map((span) => span.attributes["ytempire.stage"]).toSorted()).toEqual(
        ["render", "script", "thumbnail", "upload", "voice"]
      )
      // The script's flaky provider, then its fallback; one attempt for each other stage.
      expect(attempts).toHaveLength(6)

      // One trace, the video's.
      for (const span of [...stages, ...attempts]) expect(span.traceId).toBe(video.traceId)

      // Parent-linked: every attempt under its stage, every stage's ancestors in the trace up to one root.
      const byId = new Map(spans.filter((span) => span.traceId === video.traceId).map((span) => [span.spanId, span]))
      const ancestors = (span: Span): Array<Span> => {
        const chain: Array<Span> = []
        let parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId)
        while (parent !== undefined) {
          chain.push(parent)
          parent = parent.parentSpanId === undefined ? undefined : byId.get(parent.parentSpanId)
        }
        return chain
      }
      const roots = new Set<string>()
      for (const span of [...stages, ...attempts]) {
        const chain = ancestors(span)
        const top = chain.at(-1) ?? span
        // The chain ends at the trace's root, not at a parent that was never received.
        expect(top.parentSpanId, `${span.name} reaches the root`).toBeUndefined()
        roots.add(top.spanId)
      }
      expect(roots.size).toBe(1)
      for (const attempt of attempts) {
        const stage = ancestors(attempt).find((span) => span.name === "VideoPipeline.stage")
        expect(stage?.attributes["ytempire.stage"]).toBe(attempt.attributes["ytempire.stage"])
      }

      // The attributes.
      for (const span of [...stages, ...attempts]) {
        expect(span.attributes["ytempire.channel.id"]).toBe("tech")
        expect(span.attributes["ytempire.video.id"]).toBe("v1")
      }
      for (const stage of stages) {
        expect(stage.attributes["ytempire.provider"]).toBe(`instant-${stage.attributes["ytempire.stage"]}`)
        expect(stage.attributes["ytempire.provider.tier"]).toBe("local")
        expect(stage.attributes["ytempire.cost_usd"]).toBe(0)
      }
      const scriptAttempts = attempts.filter((span) => span.attributes["ytempire.stage"] === "script")
      expect(scriptAttempts.map((span) => span.attributes["ytempire.provider"]).toSorted()).toEqual([
        "flaky-script",
        "instant-script"
      ])
      const fallback = scriptAttempts.find((span) => span.attributes["ytempire.provider"] === "instant-script")
      expect(fallback?.attributes["ytempire.fallback.reason"]).toMatch(/^flaky-script: /)
      expect(fallback?.attributes["ytempire.provider.tier"]).toBe("local")
      expect(fallback?.attributes["ytempire.attempt"]).toBe(1)
      const reservation = spans.find((span) => span.name === "BudgetLedger.reserve")
      expect(reservation?.traceId).toBe(video.traceId)
      expect(reservation?.attributes["ytempire.cost_usd"]).toBeGreaterThanOrEqual(0)
    }))

  it.live("with no endpoint set nothing is sent", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" }, oneVideo)
      expect(video.status).toBe("completed")
      expect(otlp.requests()).toBe(0)
    }))

  it.live("OTEL_TRACES_EXPORTER=none sends nothing", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}`,
        OTEL_TRACES_EXPORTER: "none"
      }, oneVideo)
      expect(video.status).toBe("completed")
      expect(otlp.requests()).toBe(0)
    }))

  it.live("with a dead endpoint videos still complete", () =>
    Effect.gen(function*() {
      const dead = yield* freePort
      const video = yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
        OTEL_BSP_SCHEDULE_DELAY: "10"
      }, oneVideo)
      expect(video.status).toBe("completed")
    }))
})
