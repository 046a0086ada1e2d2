import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Auth, Ids, Pricing, type Provider, type Stage } from "@ytempire/domain"
import { Providers, YtempireRuntime } from "@ytempire/runtime"
import * as ApiKeys from "@ytempire/server/ApiKeys"
import * as Authenticator from "@ytempire/server/Authenticator"
import { YtempireClient } from "@ytempire/server/client"
import * as Operations from "@ytempire/server/Operations"
import * as RateLimiter from "@ytempire/server/RateLimiter"
import * as RpcApi from "@ytempire/server/RpcApi"
import { Cause, Clock, Context, type Duration, Effect, Exit, Layer, Logger, Schema, Stream } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"

const acme = Schema.decodeSync(Ids.TenantId)("acme")
const globex = Schema.decodeSync(Ids.TenantId)("globex")

const registration = {
  id: Schema.decodeSync(Ids.ChannelId)("tech"),
  name: "Tech Daily",
  niche: "technology",
  language: "en",
  style: "upbeat explainer"
}

/**
 * Each stage done by one provider after `latency`: a few bytes and a fixed usage (as bench/instantProviders.ts,
 * which is instant).
 */
const providers = (latency: Duration.Input) => {
  const chain = (stage: Stage.Stage, tier: Provider.ProviderTier, usage: Pricing.Usage): Providers.Chain => ({
    providers: [{
      stage,
      name: `stand-in-${stage}`,
      tier,
      run: (input) =>
        Effect.as(Effect.sleep(latency), {
          value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
          usage
        })
    }]
  })
  return Layer.mergeAll(
    Layer.succeed(Providers.ScriptWriter)(chain("script", "standard", [Pricing.use("openai.gpt-3.5-turbo", 2_000)])),
    Layer.succeed(Providers.Narrator)(chain("voice", "standard", [Pricing.use("google.tts", 1_500)])),
    Layer.succeed(Providers.ThumbnailArtist)(chain("thumbnail", "local", [Pricing.use("compute.cpu-hour", 1_000)])),
    Layer.succeed(Providers.Renderer)(chain("render", "local", [Pricing.use("compute.cpu-hour", 60_000)])),
    Layer.succeed(Providers.Publisher)(chain("upload", "local", [Pricing.use("network.bandwidth-gb", 1_000_000)]))
  )
}

interface ServerOptions {
  /** Replaces the real authenticator. */
  readonly authenticator?: Layer.Layer<Authenticator.Authenticator>
  /** How long each stage takes (default: no time). */
  readonly stageLatency?: Duration.Input
}

/** Thirty calls at once per key, then one a second. */
const rate: RateLimiter.Rate = { perSecond: 1, burst: 30 }

/**
 * The RPC API on a random local port, over the runtime in memory mode with stand-in providers, memory keys and
 * a memory rate limiter.
 */
const serverLayer = ({ authenticator, stageLatency = 0 }: ServerOptions) => {
  const runtime = YtempireRuntime.layerWithProviders({
    dataDir: mkdtempSync(join(tmpdir(), "ytempire-rpc-")),
    storage: { _tag: "memory" },
    messagePollInterval: "50 millis"
  }, providers(stageLatency))
  const services = Layer.mergeAll(
    Operations.Operations.layer({ operatorTenant: acme, startedAt: 0 }),
    authenticator ?? Authenticator.Authenticator.layer.pipe(Layer.provide(RateLimiter.RateLimiter.layerMemory(rate)))
  ).pipe(Layer.provideMerge(ApiKeys.ApiKeys.layerMemory), Layer.provide(runtime))
  return HttpRouter.serve(RpcApi.layer, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(services),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
}

/** The server's base URL and a key maker, to a test running with the server up. */
const withServer = <A, E, R>(
  body: (server: {
    readonly url: string
    readonly key: (tenantId: Ids.TenantId, role: Auth.Role) => Effect.Effect<string>
  }) => Effect.Effect<A, E, R>,
  options: ServerOptions = {}
) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const keys = yield* ApiKeys.ApiKeys
    // Scoped here, so that the clients the body connects close before the server stops.
    return yield* Effect.scoped(body({
      url: HttpServer.formatAddress(server.address),
      key: (tenantId, role) =>
        Effect.map(keys.create(tenantId, new Auth.ApiKeyRequest({ role })), (created) => created.secret)
    }))
  }).pipe(Effect.provide(serverLayer(options)))

/** A client, connected until the scope of the test's body closes. */
const connect = (url: string, key: string, transport: "http" | "websocket") =>
  Effect.map(Layer.build(YtempireClient.layer({ url, key, transport })), Context.get(YtempireClient))

/** A raw POST to /rpc: its status, content type and body. */
const post = (url: string, contentType: string, body: string, authorization?: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/rpc`, {
      method: "POST",
      headers: {
        "content-type": contentType,
        ...(authorization === undefined ? {} : { authorization })
      },
      body
    })
    return { status: response.status, contentType: response.headers.get("content-type"), text: await response.text() }
  })

const getStatusRequest = JSON.stringify({ _tag: "Request", id: "1", tag: "GetStatus", payload: null, headers: [] })

describe("RPC API", () => {
  for (const transport of ["http", "websocket"] as const) {
    describe(`over ${transport}`, () => {
      it.live("registers a channel, generates a video and watches it to completion", () =>
        withServer(({ key, url }) =>
          Effect.gen(function*() {
            const client = yield* connect(url, yield* key(acme, "operator"), transport)
            const channel = yield* client.RegisterChannel(registration)
            expect(channel).toMatchObject({ id: "tech", tenantId: "acme", status: "active" })
            expect((yield* client.ListChannels({})).items.map((entry) => entry.id)).toEqual(["tech"])

            const requested = yield* client.GenerateVideo({ channelId: channel.id, topic: "Five phones under $300" })
            expect(requested.channelId).toBe("tech")
            const progress = yield* client.WatchVideo({ videoId: requested.id }).pipe(
              Stream.runCollect,
              Effect.timeout("30 seconds")
            )
            const events = progress.map((entry) => entry.event)
            expect(["queued", "started"]).toContain(events[0])
            expect(events.at(-1)).toBe("completed")
            expect(progress.filter((entry) => entry.event === "stage-completed").map((entry) => entry.stage)).toEqual([
              "script",
              "voice",
              "thumbnail",
              "render",
              "upload"
            ])

            const video = yield* client.GetVideo({ videoId: requested.id })
            expect(video.status).toBe("completed")
            expect(video.totalCost).toBeGreaterThan(0)
            expect(video.stages.find((record) => record.stage === "upload")?.artifact?.path).toBeTruthy()
            expect(progress.at(-1)?.video.status).toBe("completed")
          })
        ))

      it.live("refuses callers: no key or a wrong one, a viewer's write, another tenant's video", () =>
        withServer(({ key, url }) =>
          Effect.gen(function*() {
            const operator = yield* connect(url, yield* key(acme, "operator"), transport)
            yield* operator.RegisterChannel(registration)
            const video = yield* operator.GenerateVideo({ channelId: registration.id, topic: "Phones" })

            const anonymous = yield* connect(url, "", transport)
            expect(yield* Effect.flip(anonymous.GetStatus())).toMatchObject({ _tag: "Unauthorized" })
            // Well formed, but no key's.
            const wrong = yield* connect(url, `yte_${"A".repeat(43)}`, transport)
            expect(yield* Effect.flip(wrong.GetVideo({ videoId: video.id }))).toMatchObject({ _tag: "Unauthorized" })

            const admin = yield* connect(url, yield* key(acme, "admin"), transport)
            const created = yield* admin.CreateApiKey({ role: "viewer", name: "short-lived" })
            const shortLived = yield* connect(url, created.secret, transport)
            expect((yield* shortLived.GetVideo({ videoId: video.id })).id).toBe(video.id)
            expect((yield* admin.RevokeApiKey({ keyId: created.key.id })).revokedAt).toBeDefined()
            expect(yield* Effect.flip(shortLived.GetVideo({ videoId: video.id }))).toMatchObject({
              _tag: "Unauthorized"
            })

            const viewer = yield* connect(url, yield* key(acme, "viewer"), transport)
            expect(yield* Effect.flip(viewer.RegisterChannel({ ...registration, id: Ids.ChannelId.make("news") })))
              .toMatchObject({ _tag: "Forbidden" })
            expect((yield* viewer.GetVideo({ videoId: video.id })).id).toBe(video.id)
            expect(yield* Effect.flip(viewer.ListApiKeys())).toMatchObject({ _tag: "Forbidden" })

            const stranger = yield* connect(url, yield* key(globex, "admin"), transport)
            expect(yield* Effect.flip(stranger.GetVideo({ videoId: video.id }))).toMatchObject({
              _tag: "VideoNotFound",
              videoId: video.id
            })
            expect(yield* Effect.flip(stranger.WatchVideo({ videoId: video.id }).pipe(Stream.runDrain))).toMatchObject({
              _tag: "VideoNotFound"
            })
            expect(yield* Effect.flip(stranger.CancelVideo({ videoId: video.id }))).toMatchObject({
              _tag: "VideoNotFound"
            })
          })
        ))

      it.live("refuses a burst past the key's rate with RateLimited and a retry delay", () =>
        withServer(({ key, url }) =>
          Effect.gen(function*() {
            const client = yield* connect(url, yield* key(acme, "viewer"), transport)
            const exits = yield* Effect.forEach(
              Array.from({ length: rate.burst + 10 }),
              () => Effect.exit(client.GetGpuStatus()),
              { concurrency: "unbounded" }
            )
            const refused = exits.filter(Exit.isFailure).map((exit) => Cause.squash(exit.cause))
            // The burst, and the odd token the bucket refills (one a second) while a loaded machine runs this.
            expect(exits.filter(Exit.isSuccess).length).toBeLessThanOrEqual(rate.burst + 3)
            expect(refused.length).toBeGreaterThanOrEqual(7)
            for (const error of refused) {
              expect(error).toMatchObject({ _tag: "RateLimited" })
              expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1)
            }
            // Another key has its own bucket.
            const other = yield* connect(url, yield* key(acme, "viewer"), transport)
            expect((yield* other.GetGpuStatus()).devices).toBeDefined()
          })
        ))
    })
  }

  it.live("streams WatchVideo over HTTP as it happens: each event arrives when its stage is done", () =>
    withServer(({ key, url }) =>
      Effect.gen(function*() {
        const client = yield* connect(url, yield* key(acme, "operator"), "http")
        yield* client.RegisterChannel(registration)
        const requested = yield* client.GenerateVideo({ channelId: registration.id, topic: "Slow phones" })
        const arrivals = yield* client.WatchVideo({ videoId: requested.id }).pipe(
          Stream.mapEffect((progress) => Effect.map(Clock.currentTimeMillis, (at) => ({ at, event: progress.event }))),
          Stream.runCollect
        )
        expect(arrivals.at(-1)?.event).toBe("completed")
        // Five stages of 150 ms: a response sent at the end would bring every event at once.
        expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThan(400)
      }), { stageLatency: "150 millis" }))

  it.live("serves JSON and NDJSON on POST /rpc, chosen by the request's content type", () =>
    withServer(({ key, url }) =>
      Effect.gen(function*() {
        const authorization = `Bearer ${yield* key(acme, "viewer")}`
        const json = yield* post(url, "application/json", getStatusRequest, authorization)
        expect(json.status).toBe(200)
        expect(json.contentType).toMatch(/^application\/json/)
        expect(JSON.parse(json.text)).toMatchObject([{ _tag: "Exit", requestId: "1", exit: { _tag: "Success" } }])

        const ndjson = yield* post(url, "application/x-ndjson", `${getStatusRequest}\n`, authorization)
        expect(ndjson.contentType).toMatch(/^application\/x-ndjson/)
        const lines = ndjson.text.trim().split("\n").map((line) => JSON.parse(line))
        expect(lines).toMatchObject([{ _tag: "Exit", requestId: "1", exit: { _tag: "Success" } }])

        const anonymous = yield* post(url, "application/json", getStatusRequest)
        expect(JSON.parse(anonymous.text)).toMatchObject([{
          _tag: "Exit",
          exit: { _tag: "Failure", cause: [{ _tag: "Fail", error: { _tag: "Unauthorized" } }] }
        }])

        // A body past 1 MiB is refused before it is read whole, key or not.
        const huge = yield* post(url, "application/json", `[${getStatusRequest},"${"x".repeat(2 * 1024 * 1024)}"]`)
        expect(huge.status).toBe(413)
        expect(JSON.parse(huge.text)).toMatchObject({ _tag: "InvalidRequest" })
      })
    ))

  it.live("hides an infrastructure failure from the client: a bare internal error, nothing of its cause", () => {
    const secret = "postgres://ytempire:hunter2@10.0.0.5/prod"
    const broken = Layer.succeed(Authenticator.Authenticator)({
      authenticate: () => Effect.die(new Error(`connection to ${secret} refused`))
    })
    // What the server logs, to check that the cause is kept there.
    const logged: Array<string> = []
    const collector = Logger.make(({ cause, message }) => {
      logged.push(`${Array.isArray(message) ? message.join(" ") : String(message)} ${Cause.pretty(cause)}`)
    })
    return withServer(({ url }) =>
      Effect.gen(function*() {
        const raw = yield* post(url, "application/json", getStatusRequest, "Bearer anything")
        expect(raw.text).not.toContain("hunter2")
        expect(raw.text).toContain("internal server error")

        for (const transport of ["http", "websocket"] as const) {
          const client = yield* connect(url, "anything", transport)
          const first = yield* Effect.exit(client.GetStatus())
          expect(Exit.isFailure(first) && Cause.squash(first.cause)).toBe("internal server error")
          // The client and its connection still work after it.
          const second = yield* Effect.exit(client.GetStatus())
          expect(Exit.isFailure(second) && Cause.squash(second.cause)).toBe("internal server error")
        }
        expect(logged.some((line) => line.includes("RPC GetStatus failed") && line.includes("hunter2"))).toBe(true)
      }), { authenticator: broken }).pipe(Effect.provide(Logger.layer([collector])))
  })
})
