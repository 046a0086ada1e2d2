import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Auth, Ids, Pricing, type Provider, type Stage } from "@ytempire/domain"
import { Providers, YtempireRuntime } from "@ytempire/runtime"
import * as ApiKeys from "@ytempire/server/ApiKeys"
import * as Authenticator from "@ytempire/server/Authenticator"
import * as Operations from "@ytempire/server/Operations"
import * as RateLimiter from "@ytempire/server/RateLimiter"
import * as RestHandlers from "@ytempire/server/RestHandlers"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"

const acme = Schema.decodeSync(Ids.TenantId)("acme")
const globex = Schema.decodeSync(Ids.TenantId)("globex")

/** Each stage done at once by one provider: a few bytes and a fixed usage (as bench/instantProviders.ts). */
const instant = (stage: Stage.Stage, tier: Provider.ProviderTier, usage: Pricing.Usage): Providers.Chain => ({
  providers: [{
    stage,
    name: `instant-${stage}`,
    tier,
    run: (input) =>
      Effect.sync(() => ({
        value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
        usage
      }))
  }]
})

const instantProviders = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)(instant("script", "standard", [Pricing.use("openai.gpt-3.5-turbo", 2_000)])),
  Layer.succeed(Providers.Narrator)(instant("voice", "standard", [Pricing.use("google.tts", 1_500)])),
  Layer.succeed(Providers.ThumbnailArtist)(instant("thumbnail", "local", [Pricing.use("compute.cpu-hour", 1_000)])),
  Layer.succeed(Providers.Renderer)(instant("render", "local", [Pricing.use("compute.cpu-hour", 60_000)])),
  Layer.succeed(Providers.Publisher)(instant("upload", "local", [Pricing.use("network.bandwidth-gb", 1_000_000)]))
)

/** Generous, so that only the rate test is ever refused. */
const generous: RateLimiter.Rate = { perSecond: 1_000, burst: 1_000 }

/** The REST API on a random local port, over the runtime in memory mode with instant providers. */
const serverLayer = (rate: RateLimiter.Rate) => {
  const runtime = YtempireRuntime.layerWithProviders({
    dataDir: mkdtempSync(join(tmpdir(), "ytempire-rest-")),
    storage: { _tag: "memory" },
    messagePollInterval: "50 millis"
  }, instantProviders)
  const services = Layer.mergeAll(
    Operations.Operations.layer({ operatorTenant: acme, startedAt: 0 }),
    Authenticator.Authenticator.layer.pipe(Layer.provide(RateLimiter.RateLimiter.layerMemory(rate)))
  ).pipe(Layer.provideMerge(ApiKeys.ApiKeys.layerMemory), Layer.provide(runtime))
  return HttpRouter.serve(RestHandlers.layer, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(services),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
}

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body as JSON; `undefined` when it is not JSON. */
  readonly json: any
}

interface Request {
  readonly key?: string | undefined
  /** Sent as JSON. */
  readonly body?: unknown
  /** Sent as it is (with `contentType`, JSON by default). */
  readonly raw?: string | undefined
  readonly contentType?: string | undefined
  /** Sent as it is, in pieces, without a content-length (chunked). */
  readonly chunked?: string | undefined
}

type Call = (method: string, path: string, request?: Request) => Effect.Effect<Reply>

const parse = (text: string) => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A plain `fetch` to the API: what goes over the wire, as curl would see it. */
const caller = (base: string): Call => (method, path, request = {}) =>
  Effect.promise(async () => {
    const body: string | ReadableStream<Uint8Array> | undefined = request.chunked === undefined
      ? request.raw ?? (request.body === undefined ? undefined : JSON.stringify(request.body))
      : ReadableStream.from(request.chunked.match(/[^]{1,65536}/g)!.map((piece) => new TextEncoder().encode(piece)))
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        ...(request.key === undefined ? {} : { authorization: `Bearer ${request.key}` }),
        ...(body === undefined ? {} : { "content-type": request.contentType ?? "application/json" })
      },
      ...(body === undefined ? {} : { body, duplex: "half" })
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, json: parse(text) }
  })

/** A running server: a caller, and a key maker for a tenant and role. */
const withServer = <A, E, R>(
  body: (server: {
    readonly call: Call
    readonly key: (tenantId: Ids.TenantId, role: Auth.Role) => Effect.Effect<string>
  }) => Effect.Effect<A, E, R>,
  rate: RateLimiter.Rate = generous
) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const keys = yield* ApiKeys.ApiKeys
    return yield* body({
      call: caller(HttpServer.formatAddress(server.address)),
      key: (tenantId, role) =>
        Effect.map(keys.create(tenantId, new Auth.ApiKeyRequest({ role })), (created) => created.secret)
    })
  }).pipe(Effect.provide(serverLayer(rate)))

const registration = {
  id: "tech",
  name: "Tech Daily — 東京 📺",
  niche: "technology",
  language: "en",
  style: "upbeat explainer",
  schedule: { cron: "0 9 * * *", timeZone: "Europe/Berlin" },
  budget: { perVideo: "2.50", daily: 20 }
}

/** The reply is the API's JSON error: the status, the tag, a message, and the fields given. */
const expectError = (reply: Reply, status: number, tag: string, fields: Record<string, unknown> = {}) => {
  expect(reply.status, reply.text).toBe(status)
  expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
  expect(reply.json).toMatchObject({ _tag: tag, ...fields })
  expect(typeof reply.json.message).toBe("string")
  expect(reply.json.message.length).toBeGreaterThan(0)
}

describe("REST API", () => {
  it.live("creates a channel, generates a video and follows it over NDJSON and polling to completion", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        const created = yield* call("POST", "/channels", { key: operator, body: registration })
        expect(created.status, created.text).toBe(200)
        expect(created.json).toMatchObject({
          id: "tech",
          tenantId: "acme",
          name: "Tech Daily — 東京 📺",
          status: "active",
          priority: "normal",
          quality: 0.5,
          schedule: { cron: "0 9 * * *", timeZone: "Europe/Berlin" },
          // Money crosses the wire as decimal strings of dollars, as it was sent.
          budget: { perVideo: "2.50", daily: "20.00" }
        })
        expect(Date.parse(created.json.createdAt)).not.toBeNaN()
        const read = yield* call("GET", "/channels/tech", { key: operator })
        expect(read.json).toEqual(created.json)

        const accepted = yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", videoId: "v1", topic: "Five phones under $300" }
        })
        expect(accepted.status, accepted.text).toBe(202)
        expect(accepted.json).toMatchObject({ id: "v1", channelId: "tech", tenantId: "acme" })

        const events = yield* call("GET", "/videos/v1/events", { key: operator })
        expect(events.status).toBe(200)
        expect(events.headers.get("content-type")).toMatch(/^application\/x-ndjson/)
        const progress = events.text.trim().split("\n").map((line) => JSON.parse(line))
        expect(["queued", "started"]).toContain(progress[0].event)
        expect(progress.at(-1)).toMatchObject({ event: "completed", video: { id: "v1", status: "completed" } })
        expect(progress.filter((entry) => entry.event === "stage-completed").map((entry) => entry.stage)).toEqual([
          "script",
          "voice",
          "thumbnail",
          "render",
          "upload"
        ])

        // And by polling, as a client without streams would.
        let video = (yield* call("GET", "/videos/v1", { key: operator })).json
        for (let polls = 0; video.status !== "completed" && polls < 100; polls++) {
          yield* Effect.sleep("50 millis")
          video = (yield* call("GET", "/videos/v1", { key: operator })).json
        }
        expect(video).toMatchObject({ id: "v1", status: "completed" })
        expect(video.stages.map((record: { stage: string }) => record.stage)).toEqual([
          "script",
          "voice",
          "thumbnail",
          "render",
          "upload"
        ])
        expect(video.totalCost).toMatch(/^\d+\.\d{2,6}$/)
        expect(Number(video.totalCost)).toBeGreaterThan(0)

        const status = yield* call("GET", "/status", { key: operator })
        expect(status.json).toMatchObject({ channels: { active: 1 }, videos: { completed: 1 } })
        const budgets = yield* call("GET", "/budgets?channelId=tech", { key: operator })
        expect(budgets.status, budgets.text).toBe(200)
        expect(budgets.json.map((entry: { scope: { _tag: string } }) => entry.scope._tag).toSorted()).toEqual([
          "channel-day",
          "global-day",
          "global-month",
          "tenant-day"
        ])
        expect((yield* call("GET", "/gpu", { key: operator })).json).toMatchObject({ source: "none", devices: [] })
      })
    ))

  it.live("changes, pauses, resumes and deletes a channel", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        yield* call("POST", "/channels", { key: operator, body: registration })
        const updated = yield* call("PATCH", "/channels/tech", {
          key: operator,
          body: { style: "calm", schedule: null, budget: { daily: null } }
        })
        expect(updated.status, updated.text).toBe(200)
        expect(updated.json).toMatchObject({ style: "calm", budget: { perVideo: "2.50" } })
        expect(updated.json.schedule).toBeUndefined()
        expect(updated.json.budget.daily).toBeUndefined()

        expect((yield* call("POST", "/channels/tech/pause", { key: operator })).json.status).toBe("paused")
        const refused = yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", topic: "t" }
        })
        expectError(refused, 409, "ChannelPaused", { channelId: "tech", status: "paused" })
        expect((yield* call("POST", "/channels/tech/resume", { key: operator })).json.status).toBe("active")

        const deleted = yield* call("DELETE", "/channels/tech", { key: operator })
        expect(deleted.status, deleted.text).toBe(204)
        expect(deleted.text).toBe("")
        expectError(yield* call("GET", "/channels/tech", { key: operator }), 404, "ChannelNotFound", {
          channelId: "tech",
          message: "channel tech not found"
        })
        expectError(yield* call("DELETE", "/channels/tech", { key: operator }), 404, "ChannelNotFound")
      })
    ))

  it.live("refuses a video past the tenant's daily budget with 402 BudgetExceeded, until the limit goes", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        const { budget: _, ...withoutBudget } = registration
        yield* call("POST", "/channels", { key: operator, body: withoutBudget })
        yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", videoId: "v1", topic: "t" }
        })
        expect((yield* call("GET", "/videos/v1/events", { key: operator })).text).toContain("\"event\":\"completed\"")

        const limited = yield* call("PUT", "/budgets/limits", { key: operator, body: { tenantDaily: "0.000001" } })
        expect(limited.status, limited.text).toBe(200)
        expect(limited.json).toMatchObject({ tenantDaily: "0.000001", globalDaily: "200.00", globalMonthly: "5000.00" })
        const refused = yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", topic: "t" }
        })
        expectError(refused, 402, "BudgetExceeded", {
          scope: { _tag: "tenant-day", tenantId: "acme" },
          limit: "0.000001"
        })
        expect(refused.json.message).toContain("would be exceeded")

        const lifted = yield* call("PUT", "/budgets/limits", { key: operator, body: { tenantDaily: null } })
        expect(lifted.json.tenantDaily).toBeUndefined()
        const accepted = yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", topic: "t" }
        })
        expect(accepted.status, accepted.text).toBe(202)
      })
    ))

  it.live("lists channels and videos page by page with cursors", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        const ids = ["c1", "c2", "c3", "c4", "c5"]
        for (const id of ids) {
          expect((yield* call("POST", "/channels", { key: operator, body: { ...registration, id } })).status).toBe(200)
        }
        const seen: Array<string> = []
        let cursor: string | undefined
        for (let pages = 0; pages < 10; pages++) {
          const query = cursor === undefined ? "limit=2" : `limit=2&cursor=${encodeURIComponent(cursor)}`
          const page = yield* call("GET", `/channels?${query}`, { key: operator })
          expect(page.status, page.text).toBe(200)
          expect(page.json.items.length).toBeLessThanOrEqual(2)
          seen.push(...page.json.items.map((channel: { id: string }) => channel.id))
          cursor = page.json.nextCursor
          if (cursor === undefined) break
        }
        // Oldest first, each once.
        expect(seen).toEqual(ids)
        const paused = yield* call("POST", "/channels/c2/pause", { key: operator })
        expect(paused.status).toBe(200)
        const onlyPaused = yield* call("GET", "/channels?status=paused", { key: operator })
        expect(onlyPaused.json.items.map((channel: { id: string }) => channel.id)).toEqual(["c2"])

        for (const id of ["v1", "v2", "v3"]) {
          const accepted = yield* call("POST", "/videos/generate", {
            key: operator,
            body: { channelId: "c1", videoId: id, topic: `topic ${id}` }
          })
          expect(accepted.status, accepted.text).toBe(202)
        }
        const first = yield* call("GET", "/videos?channelId=c1&limit=2", { key: operator })
        expect(first.status, first.text).toBe(200)
        expect(first.json.items).toHaveLength(2)
        expect(typeof first.json.nextCursor).toBe("string")
        const second = yield* call(
          "GET",
          `/videos?channelId=c1&limit=2&cursor=${encodeURIComponent(first.json.nextCursor)}`,
          {
            key: operator
          }
        )
        expect(second.json.nextCursor).toBeUndefined()
        const videoIds = [...first.json.items, ...second.json.items].map((video: { id: string }) => video.id)
        // Newest first.
        expect(videoIds).toEqual(["v3", "v2", "v1"])

        expectError(yield* call("GET", "/channels?cursor=garbage", { key: operator }), 400, "InvalidRequest", {
          field: "cursor"
        })
        expectError(yield* call("GET", "/channels?limit=0", { key: operator }), 400, "InvalidRequest", {
          field: "limit"
        })
        expectError(yield* call("GET", "/videos?limit=many", { key: operator }), 400, "InvalidRequest", {
          field: "limit"
        })
        expectError(yield* call("GET", "/channels?status=sleeping", { key: operator }), 400, "InvalidRequest", {
          field: "status"
        })
      })
    ))

  it.live("answers 401 without a key or with a wrong one, 403 to a viewer's write, 404 for another tenant's video", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        yield* call("POST", "/channels", { key: operator, body: registration })
        yield* call("POST", "/videos/generate", {
          key: operator,
          body: { channelId: "tech", videoId: "v1", topic: "t" }
        })

        expectError(yield* call("GET", "/videos/v1"), 401, "Unauthorized")
        expectError(yield* call("GET", "/videos/v1", { key: "ytk_not-a-key" }), 401, "Unauthorized")
        // No key is checked before the input: a bad request without a key is still 401.
        expectError(yield* call("POST", "/channels", { body: { id: 5 } }), 401, "Unauthorized")

        const viewer = yield* key(acme, "viewer")
        expectError(
          yield* call("POST", "/channels", { key: viewer, body: { ...registration, id: "news" } }),
          403,
          "Forbidden"
        )
        expect((yield* call("GET", "/videos/v1", { key: viewer })).status).toBe(200)
        expectError(yield* call("GET", "/keys", { key: viewer }), 403, "Forbidden")
        expectError(yield* call("POST", "/keys", { key: operator, body: { role: "admin" } }), 403, "Forbidden")
        expectError(
          yield* call("PUT", "/budgets/limits", { key: operator, body: { globalDaily: "1" } }),
          403,
          "Forbidden"
        )

        const stranger = yield* key(globex, "admin")
        expectError(yield* call("GET", "/videos/v1", { key: stranger }), 404, "VideoNotFound", {
          videoId: "v1",
          message: "video v1 not found"
        })
        expectError(yield* call("GET", "/videos/v1/events", { key: stranger }), 404, "VideoNotFound")
        expectError(yield* call("POST", "/videos/v1/cancel", { key: stranger }), 404, "VideoNotFound")
        expectError(yield* call("GET", "/channels/tech", { key: stranger }), 404, "ChannelNotFound")
        expect((yield* call("GET", "/videos", { key: stranger })).json.items).toEqual([])
      })
    ))

  it.live("manages keys: an admin creates one (201, its secret once), lists and revokes it", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const admin = yield* key(acme, "admin")
        const created = yield* call("POST", "/keys", { key: admin, body: { role: "viewer", name: "dashboard" } })
        expect(created.status, created.text).toBe(201)
        expect(created.json).toMatchObject({ key: { tenantId: "acme", role: "viewer", name: "dashboard" } })
        const secret: string = created.json.secret
        expect((yield* call("GET", "/status", { key: secret })).status).toBe(200)

        const listed = yield* call("GET", "/keys", { key: admin })
        expect(listed.json.map((entry: { id: string }) => entry.id)).toContain(created.json.key.id)
        expect(listed.text).not.toContain(secret)

        const revoked = yield* call("DELETE", `/keys/${created.json.key.id}`, { key: admin })
        expect(revoked.status, revoked.text).toBe(200)
        expect(revoked.json.revokedAt).toBeDefined()
        expectError(yield* call("GET", "/status", { key: secret }), 401, "Unauthorized")
        expectError(yield* call("DELETE", "/keys/no-such-key", { key: admin }), 404, "ApiKeyNotFound")
      })
    ))

  it.live("answers a burst past the key's rate with 429 and Retry-After", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const viewer = yield* key(acme, "viewer")
        const replies = yield* Effect.forEach(
          Array.from({ length: 15 }),
          () => call("GET", "/gpu", { key: viewer }),
          { concurrency: "unbounded" }
        )
        const refused = replies.filter((reply) => reply.status === 429)
        expect(replies.filter((reply) => reply.status === 200).length).toBeLessThanOrEqual(5)
        expect(refused.length).toBeGreaterThanOrEqual(10)
        for (const reply of refused) {
          expectError(reply, 429, "RateLimited")
          const retryAfter = Number(reply.headers.get("retry-after"))
          expect(retryAfter).toBeGreaterThanOrEqual(1)
          expect(reply.json.retryAfterSeconds).toBe(retryAfter)
        }
        // Another key has its own bucket.
        expect((yield* call("GET", "/gpu", { key: yield* key(acme, "viewer") })).status).toBe(200)
      }), { perSecond: 1, burst: 5 }))

  it.live("answers bad input with 400 InvalidRequest naming the field, and creates nothing", () =>
    withServer(({ call, key }) =>
      Effect.gen(function*() {
        const operator = yield* key(acme, "operator")
        const invalid = (body: unknown, field: string | undefined) =>
          Effect.gen(function*() {
            const reply = yield* call("POST", "/channels", { key: operator, body })
            expectError(reply, 400, "InvalidRequest")
            expect(reply.json.field).toBe(field)
            return reply
          })

        yield* invalid({ ...registration, id: 5 }, "id")
        yield* invalid({ ...registration, quality: "high" }, "quality")
        const { niche: _, ...withoutNiche } = registration
        yield* invalid(withoutNiche, "niche")
        yield* invalid({ ...registration, id: "каналы" }, "id")
        yield* invalid({ ...registration, id: "a b" }, "id")
        const huge = yield* invalid({ ...registration, name: "x".repeat(100_000) }, "name")
        expect(huge.json.message).toContain("name must be at most 100 characters")
        expect(huge.text.length).toBeLessThan(10_000)
        yield* invalid({ ...registration, budget: { perVideo: "-1" } }, "budget.perVideo")
        yield* invalid({ ...registration, budget: { perVideo: "lots" } }, "budget.perVideo")
        const cron = yield* invalid(
          { ...registration, schedule: { cron: "61 25 * * *", timeZone: "UTC" } },
          "schedule.cron"
        )
        expect(cron.json.message).toContain("invalid cron expression")
        yield* invalid({ ...registration, schedule: { cron: "0 9 * * *", timeZone: "Moon/Base" } }, "schedule.timeZone")
        yield* invalid([registration], undefined)
        yield* invalid(null, undefined)

        const notJson = yield* call("POST", "/channels", { key: operator, raw: "{\"id\": \"tech\"," })
        expectError(notJson, 400, "InvalidRequest")
        expect(notJson.json.field).toBeUndefined()
        expectError(
          yield* call("POST", "/channels", { key: operator, raw: "id=tech", contentType: "text/plain" }),
          415,
          "InvalidRequest"
        )
        expectError(
          yield* call("POST", "/channels", {
            key: operator,
            raw: JSON.stringify({ ...registration, style: "y".repeat(2 * 1024 * 1024) })
          }),
          413,
          "InvalidRequest"
        )

        // The same without a content-length: the body is read up to the cap, and no further.
        expectError(
          yield* call("POST", "/channels", {
            key: operator,
            chunked: JSON.stringify({ ...registration, style: "y".repeat(2 * 1024 * 1024) })
          }),
          413,
          "InvalidRequest"
        )

        expectError(yield* call("GET", "/channels/bad%20id", { key: operator }), 400, "InvalidRequest", {
          field: "channelId"
        })
        expectError(
          yield* call("GET", "/costs?from=2026-02-30&to=2026-03-01", { key: operator }),
          400,
          "InvalidRequest",
          {
            field: "from"
          }
        )
        expectError(yield* call("GET", "/costs?to=2026-03-01", { key: operator }), 400, "InvalidRequest", {
          field: "from"
        })
        expectError(
          yield* call("PUT", "/budgets/limits", { key: operator, body: { tenantDaily: -5 } }),
          400,
          "InvalidRequest",
          { field: "tenantDaily" }
        )
        expectError(
          yield* call("POST", "/videos/generate", { key: operator, body: { channelId: "tech", topic: "" } }),
          400,
          "InvalidRequest",
          { field: "topic" }
        )
        expectError(
          yield* call("PATCH", "/channels/tech", { key: operator, body: { quality: 2 } }),
          400,
          "InvalidRequest",
          { field: "quality" }
        )

        // Nothing was created, and the limits are as they were.
        expect((yield* call("GET", "/channels", { key: operator })).json).toEqual({ items: [] })
        expect((yield* call("GET", "/videos", { key: operator })).json).toEqual({ items: [] })
        expect((yield* call("GET", "/budgets/limits", { key: operator })).json.tenantDaily).toBeUndefined()

        expectError(yield* call("GET", "/no-such-route", { key: operator }), 404, "RouteNotFound")
        expectError(yield* call("PUT", "/channels", { key: operator, body: {} }), 404, "RouteNotFound")
      })
    ))

  it.live("serves the OpenAPI document and the docs page without a key", () =>
    withServer(({ call }) =>
      Effect.gen(function*() {
        const document = yield* call("GET", "/openapi.json")
        expect(document.status).toBe(200)
        expect(document.json.openapi).toMatch(/^3\./)
        expect(document.json.info).toMatchObject({ title: "ytempire", version: "0.1.0" })
        const paths = Object.keys(document.json.paths)
        for (
          const path of [
            "/api/v1/channels",
            "/api/v1/channels/{channelId}",
            "/api/v1/channels/{channelId}/pause",
            "/api/v1/videos",
            "/api/v1/videos/generate",
            "/api/v1/videos/{videoId}",
            "/api/v1/videos/{videoId}/events",
            "/api/v1/budgets",
            "/api/v1/budgets/limits",
            "/api/v1/costs",
            "/api/v1/gpu",
            "/api/v1/status",
            "/api/v1/keys",
            "/api/v1/keys/{keyId}"
          ]
        ) expect(paths).toContain(path)
        const generate = document.json.paths["/api/v1/videos/generate"].post
        expect(Object.keys(generate.responses)).toEqual(
          expect.arrayContaining(["202", "400", "401", "402", "403", "404", "409", "429"])
        )
        expect(generate.responses["429"].headers).toHaveProperty("retry-after")
        expect(document.json.components.securitySchemes).toBeDefined()

        const docs = yield* call("GET", "/docs")
        expect(docs.status).toBe(200)
        expect(docs.headers.get("content-type")).toMatch(/^text\/html/)
      })
    ))
})
