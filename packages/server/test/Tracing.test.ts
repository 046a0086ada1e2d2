import { describe, expect, it } from "@effect/vitest"
import type { Stage } from "@ytempire/domain"
import { Providers } from "@ytempire/runtime"
import * as Server from "@ytempire/server/Server"
import { Effect, Latch, Layer, References } from "effect"
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { createServer as createHttpServer } from "node:http"
import * as TestServer from "./utils/TestServer.ts"

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

/** The stand-in providers; the render of a video waits for `gate` (open by default), so that others queue. */
const providersGated = (gate: Effect.Effect<void>) =>
  Layer.mergeAll(
    Layer.succeed(Providers.ScriptWriter)({ providers: [TestServer.flakyScript, instant("script")] }),
    Layer.succeed(Providers.Narrator)({ providers: [instant("voice")] }),
    Layer.succeed(Providers.ThumbnailArtist)({ providers: [instant("thumbnail")] }),
    Layer.succeed(Providers.Renderer)({
      providers: [{ ...instant("render"), run: (input) => Effect.andThen(gate, instant("render").run(input)) }]
    }),
    Layer.succeed(Providers.Publisher)({ providers: [instant("upload")] })
  )

const adminKey = TestServer.newSecret()

const config = (port: number) => TestServer.memoryConfig(port, adminKey, "tracing")

const call = (
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {}
) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...headers,
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

/** A client's W3C trace context: its trace and span, and the `traceparent` header naming them. */
const clientContext = () => {
  const traceId = randomBytes(16).toString("hex")
  const spanId = randomBytes(8).toString("hex")
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` }
}

interface Request {
  readonly videoId: string
  /** REST (`POST /api/v1/videos/generate`, the default) or RPC (`GenerateVideo` over `POST /rpc`, JSON). */
  readonly via?: "rest" | "rpc" | undefined
  readonly traceparent?: string | undefined
}

interface Session {
  /** Requests a video (the channel `tech` exists), failing the test unless it is accepted. */
  readonly request: (request: Request) => Effect.Effect<void>
  readonly get: (videoId: string) => Effect.Effect<any>
  /** Polls the video until it is final; the video. */
  readonly final: (videoId: string) => Effect.Effect<any>
}

/**
 * Starts a server (its render waiting for `gate`), registers the channel `tech`, runs `body` and closes the
 * server (which sends the last spans).
 */
const withServer = <A>(body: (session: Session) => Effect.Effect<A>, gate: Effect.Effect<void> = Effect.void) =>
  Effect.scoped(Effect.gen(function*() {
    const port = yield* TestServer.freePort
    const base = `http://127.0.0.1:${port}`
    yield* Layer.build(
      Server.layer(config(port), { startedAt: 0, providers: providersGated(gate) }).pipe(
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
    const get = (videoId: string) => Effect.map(call(base, "GET", `/api/v1/videos/${videoId}`), (got) => got.json)
    return yield* body({
      request: Effect.fnUntraced(function*({ traceparent, via, videoId }) {
        const headers = traceparent === undefined ? {} : { traceparent }
        const payload = { channelId: "tech", videoId, topic: "Phones" }
        if (via === "rpc") {
          const request = { _tag: "Request", id: "1", tag: "GenerateVideo", payload, headers: [] }
          const accepted = yield* call(base, "POST", "/rpc", request, headers)
          if (accepted.status !== 200 || accepted.json[0]?.exit?._tag !== "Success") {
            return yield* Effect.die(new Error(`video ${videoId}: ${accepted.text}`))
          }
        } else {
          const accepted = yield* call(base, "POST", "/api/v1/videos/generate", payload, headers)
          if (accepted.status !== 202) return yield* Effect.die(new Error(`video ${videoId}: ${accepted.text}`))
        }
      }),
      get,
      final: Effect.fnUntraced(function*(videoId) {
        for (let polls = 0; polls < 400; polls++) {
          const video = yield* get(videoId)
          if (video.status === "completed" || video.status === "failed") return video
          yield* Effect.sleep("25 millis")
        }
        return yield* Effect.die(new Error(`video ${videoId} did not finish`))
      })
    })
  }))

/** Starts a server, produces one video on it and closes the server; the video. */
const oneVideo = (request: Omit<Request, "videoId"> = {}) =>
  withServer((session) => session.request({ ...request, videoId: "v1" }).pipe(Effect.andThen(session.final("v1"))))

/** Exporting to `otlp`, quickly. */
const exportingTo = (otlp: { readonly port: number }) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}`,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
  OTEL_BSP_SCHEDULE_DELAY: "50"
})

/** The ancestors of `span` among `spans`, nearest first, as far as they were received. */
const ancestorsIn = (spans: ReadonlyArray<Span>) => {
  const byId = new Map(spans.map((span) => [span.spanId, span]))
  return (span: Span): Array<Span> => {
    const chain: Array<Span> = []
    let parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId)
    while (parent !== undefined) {
      chain.push(parent)
      parent = parent.parentSpanId === undefined ? undefined : byId.get(parent.parentSpanId)
    }
    return chain
  }
}

/** The spans of video `videoId`'s stages, by stage. */
const stageSpans = (spans: ReadonlyArray<Span>, videoId: string) =>
  spans.filter((span) => span.name === "VideoPipeline.stage" && span.attributes["ytempire.video.id"] === videoId)

describe("tracing", () => {
  it.live("one video is one trace: its stages and provider attempts, parent-linked, with their attributes", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv(exportingTo(otlp), oneVideo())
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
      const ancestors = ancestorsIn(spans.filter((span) => span.traceId === video.traceId))
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

  for (const via of ["rest", "rpc"] as const) {
    it.live(`the client's traceparent on ${via === "rest" ? "REST" : "RPC"} is the video's trace: request, entity, workflow, stages`, () =>
      Effect.gen(function*() {
        const otlp = yield* receiver
        const client = clientContext()
        const video = yield* withEnv(exportingTo(otlp), oneVideo({ via, traceparent: client.traceparent }))
        expect(video.status).toBe("completed")
        expect(video.traceId).toBe(client.traceId)

        const trace = otlp.spans.filter((span) => span.traceId === client.traceId)
        const ancestors = ancestorsIn(trace)
        // The request's server span continues the client's span, with the HTTP semantic conventions.
        const root = trace.filter((span) => span.parentSpanId === client.spanId)
        expect(root.map((span) => span.name)).toEqual(["POST"])
        const path = via === "rest" ? "/api/v1/videos/generate" : "/rpc"
        expect(root[0]!.attributes).toMatchObject({
          "http.request.method": "POST",
          "http.route": path,
          "url.path": path,
          "url.scheme": "http",
          "server.address": "127.0.0.1",
          "client.address": "127.0.0.1",
          "http.response.status_code": via === "rest" ? 202 : 200
        })
        const request = root[0]!.spanId
        if (via === "rpc") {
          expect(trace.find((span) => span.name === "GenerateVideo")?.parentSpanId).toBe(request)
        }

        // Under it: the channel entity's handling, the workflow it starts, every stage and provider attempt.
        const entity = trace.find((span) => span.name === "Channel.RequestVideo")
        const workflow = trace.find((span) => span.name === "Workflow/VideoPipeline.run")
        const stages = stageSpans(trace, "v1")
        const attempts = trace.filter((span) => span.name === "ProviderChain.attempt")
        expect(entity?.attributes["entity.id"]).toBe("tech")
        expect(stages.map((span) => span.attributes["ytempire.stage"]).toSorted()).toEqual(
          ["render", "script", "thumbnail", "upload", "voice"]
        )
        expect(attempts).toHaveLength(6)
        for (const span of [entity!, workflow!, ...stages, ...attempts]) {
          expect(ancestors(span).at(-1)?.spanId, `${span.name} reaches the request`).toBe(request)
        }
        expect(ancestors(workflow!)).toContain(entity)
        for (const stage of stages) expect(ancestors(stage)).toContain(workflow)
        // Nothing of the video is anywhere else.
        const elsewhere = otlp.spans.filter((span) =>
          span.attributes["ytempire.video.id"] === "v1" && span.traceId !== client.traceId
        )
        expect(elsewhere).toEqual([])
      }))
  }

  it.live("a queued video has a trace of its own: started after the one before it, it continues its own request", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const gate = yield* Latch.make(false)
      const first = clientContext()
      const second = clientContext()
      const [v1, v2] = yield* withEnv(
        exportingTo(otlp),
        withServer((session) =>
          Effect.gen(function*() {
            yield* session.request({ videoId: "v1", traceparent: first.traceparent })
            yield* session.request({ videoId: "v2", traceparent: second.traceparent, via: "rpc" })
            // One video of a channel at a time: v2 waits for v1, whose render waits for the gate.
            expect((yield* session.get("v2")).status).toBe("queued")
            yield* gate.open
            return [yield* session.final("v1"), yield* session.final("v2")] as const
          }), gate.await)
      )
      expect([v1.status, v2.status]).toEqual(["completed", "completed"])
      expect(v1.traceId).toBe(first.traceId)
      expect(v2.traceId).toBe(second.traceId)

      for (const [video, client] of [[v1, first], [v2, second]] as const) {
        const videoId: string = video.id
        const trace = otlp.spans.filter((span) => span.traceId === client.traceId)
        const ancestors = ancestorsIn(trace)
        // The video records the span that requested it: the channel entity's handling of its request.
        expect(trace.find((span) => span.spanId === video.spanId)?.name).toBe("Channel.RequestVideo")
        const stages = stageSpans(otlp.spans, videoId)
        expect(stages.map((span) => span.attributes["ytempire.stage"]).toSorted()).toEqual(
          ["render", "script", "thumbnail", "upload", "voice"]
        )
        for (const stage of stages) {
          expect(stage.traceId, `${videoId}'s ${stage.attributes["ytempire.stage"]}`).toBe(client.traceId)
          // Parent-linked up to the request's server span, the child of the client's.
          expect(ancestors(stage).at(-1)?.parentSpanId).toBe(client.spanId)
          expect(ancestors(stage).map((span) => span.name)).toContain("Channel.RequestVideo")
        }
        const elsewhere = otlp.spans.filter((span) =>
          span.attributes["ytempire.video.id"] === videoId && span.traceId !== client.traceId
        )
        expect(elsewhere).toEqual([])
      }
    }))

  it.live("with no endpoint set nothing is sent", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" }, oneVideo())
      expect(video.status).toBe("completed")
      expect(otlp.requests()).toBe(0)
    }))

  it.live("OTEL_TRACES_EXPORTER=none sends nothing", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      const video = yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}`,
        OTEL_TRACES_EXPORTER: "none"
      }, oneVideo())
      expect(video.status).toBe("completed")
      expect(otlp.requests()).toBe(0)
    }))

  it.live("with a dead endpoint videos still complete", () =>
    Effect.gen(function*() {
      const dead = yield* TestServer.freePort
      const video = yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
        OTEL_BSP_SCHEDULE_DELAY: "10"
      }, oneVideo())
      expect(video.status).toBe("completed")
    }))
})
