import { describe, expect, it } from "@effect/vitest"
import { Auth, Budget, Channel, Errors, Ids, Money, Quota, Rpcs, Stage, Video } from "@ytempire/domain"
import { Cause, DateTime, Effect, Exit, Layer, Option, Ref, Schema, Stream } from "effect"
import { Headers } from "effect/http"
import { Rpc, RpcMiddleware, RpcSchema, RpcTest } from "effect/rpc"

const money = Money.unsafeFromDecimal
const at = (iso: string): DateTime.Utc => DateTime.makeUnsafe(iso)

const tenantId = Ids.TenantId.make("acme")
const channelId = Ids.ChannelId.make("tech-daily")
const apiKey = "test-secret"
const principal = new Auth.Principal({ keyId: Ids.ApiKeyId.make("key-1"), tenantId, role: "operator" })

// ---------------------------------------------------------------------------------------------------------------
// an in-memory server for the video RPCs, behind the real Authentication middleware

const VideoApi = Video.VideoRpcs.middleware(Auth.Authentication)

/** The server side of Authentication: `authorization: Bearer <key>` with the one known key, or Unauthorized. */
const AuthenticationServer = Layer.succeed(Auth.Authentication)((effect, { headers }) =>
  Option.match(Option.filter(Headers.get(headers, "authorization"), (value) => value === `Bearer ${apiKey}`), {
    onNone: () => Effect.fail(new Errors.Unauthorized({ message: "missing or unknown API key" })),
    onSome: () => Effect.provideService(effect, Auth.CurrentPrincipal, principal)
  })
)

/** The client side of Authentication: sends `key` as a bearer token, or no header at all. */
const AuthenticationClient = (key: string | undefined) =>
  RpcMiddleware.layerClient(Auth.Authentication, ({ next, request }) =>
    next(
      key === undefined
        ? request
        : { ...request, headers: Headers.set(request.headers, "authorization", `Bearer ${key}`) }
    ))

const requestedAt = at("2026-11-22T10:00:00Z")
const estimate = money("0.45")
const tenantDailyLimit = money("1.00")

const queuedVideo = (id: Ids.VideoId, request: Video.VideoRequest, tenant: Ids.TenantId) =>
  new Video.Video({
    id,
    channelId: request.channelId,
    tenantId: tenant,
    topic: request.topic,
    status: "queued",
    stages: [],
    totalCost: Money.zero,
    requestedAt,
    updatedAt: requestedAt
  })

/** The progress of a video that runs every stage and completes, one event after another. */
const progressOf = (video: Video.Video): ReadonlyArray<Video.VideoProgress> => {
  const running = new Video.Video({ ...video, status: "running" })
  return [
    new Video.VideoProgress({ event: "queued", video }),
    new Video.VideoProgress({ event: "started", video: running }),
    ...Stage.all.flatMap((stage) => [
      new Video.VideoProgress({ event: "stage-started", stage, video: running }),
      new Video.VideoProgress({ event: "stage-completed", stage, video: running })
    ]),
    new Video.VideoProgress({ event: "completed", video: new Video.Video({ ...video, status: "completed" }) })
  ]
}

/** Videos in a Map; each generated video reserves $0.45 against a $1.00 tenant day. */
const VideoHandlers = VideoApi.toLayer(Effect.gen(function*() {
  const videos = new Map<string, Video.Video>()
  const committed = yield* Ref.make(Money.zero)
  return VideoApi.of({
    GenerateVideo: Effect.fnUntraced(function*(request) {
      const caller = yield* Auth.CurrentPrincipal
      const spent = yield* Ref.get(committed)
      if (!Budget.admits(tenantDailyLimit, spent, Money.zero, estimate)) {
        return yield* new Budget.BudgetExceeded({
          scope: Budget.TenantDayScope.make({ tenantId: caller.tenantId, day: "2026-11-22" }),
          limit: tenantDailyLimit,
          committed: spent,
          needed: estimate
        })
      }
      yield* Ref.set(committed, Money.add(spent, estimate))
      const video = queuedVideo(request.videoId ?? Ids.VideoId.make(`v-${videos.size + 1}`), request, caller.tenantId)
      videos.set(video.id, video)
      return video
    }),
    GetVideo: ({ videoId }) => {
      const video = videos.get(videoId)
      return video === undefined ? Effect.fail(new Video.VideoNotFound({ videoId })) : Effect.succeed(video)
    },
    ListVideos: () => Effect.succeed({ items: [...videos.values()] }),
    CancelVideo: ({ videoId }) => Effect.fail(new Video.VideoNotFound({ videoId })),
    WatchVideo: ({ videoId }) => {
      const video = videos.get(videoId)
      return video === undefined
        ? Stream.fail(new Video.VideoNotFound({ videoId }))
        : Stream.fromIterable(progressOf(video))
    }
  })
}))

const ServerLayer = Layer.mergeAll(VideoHandlers, AuthenticationServer)

/** A client that authenticates with `key` (or sends no key), against the server in the environment. */
const clientWith = (key: string | undefined) =>
  RpcTest.makeClient(VideoApi).pipe(Effect.provide(AuthenticationClient(key)))

const request = { channelId, topic: "Five phones under $300" }

// ---------------------------------------------------------------------------------------------------------------
// JSON wire samples

/** Encodes with the JSON codec that RpcSerialization.json uses, sends through JSON text, and decodes. */
const overJson = <S extends Schema.Codec<unknown, unknown>>(schema: S, value: S["Type"]) => {
  const codec = Schema.toCodecJson(schema)
  const wire: unknown = JSON.parse(JSON.stringify(Schema.encodeSync(codec)(value)))
  const decoded = Schema.decodeUnknownSync(codec)(wire)
  return { wire, decoded, reencoded: Schema.encodeSync(codec)(decoded) }
}

const fullVideo = new Video.Video({
  id: Ids.VideoId.make("v-1"),
  channelId,
  tenantId,
  topic: "Five phones under $300",
  status: "running",
  currentStage: "voice",
  stages: [
    new Video.StageRecord({
      stage: "script",
      status: "completed",
      provider: "openai:gpt-3.5",
      tier: "standard",
      attempts: [
        new Video.ProviderAttempt({
          provider: "openai:gpt-4",
          tier: "premium",
          attempt: 1,
          outcome: "failed",
          startedAt: at("2026-11-22T10:00:00Z"),
          endedAt: at("2026-11-22T10:00:02Z"),
          error: new Video.RecordedError({ tag: "ProviderUnavailable", message: "429", retryable: true })
        }),
        new Video.ProviderAttempt({
          provider: "openai:gpt-3.5",
          tier: "standard",
          attempt: 1,
          outcome: "succeeded",
          startedAt: at("2026-11-22T10:00:03Z"),
          endedAt: at("2026-11-22T10:00:09.250Z"),
          fallbackReason: "ProviderUnavailable: 429"
        })
      ],
      estimated: money("0.50"),
      cost: money("0.45"),
      startedAt: at("2026-11-22T10:00:00Z"),
      endedAt: at("2026-11-22T10:00:09.250Z"),
      artifact: new Video.ArtifactRef({
        path: "artifacts/ab/abcdef.json",
        sha256: "a".repeat(64),
        bytes: 2048,
        mediaType: "application/json"
      })
    }),
    new Video.StageRecord({ stage: "voice", status: "running", attempts: [], cost: Money.zero })
  ],
  totalCost: money("0.45"),
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  requestedAt: at("2026-11-22T09:59:59Z"),
  updatedAt: at("2026-11-22T10:00:09.250Z")
})

const expectedTags = [
  "RegisterChannel",
  "ListChannels",
  "GetChannel",
  "UpdateChannel",
  "PauseChannel",
  "ResumeChannel",
  "DeleteChannel",
  "GenerateVideo",
  "GetVideo",
  "ListVideos",
  "CancelVideo",
  "WatchVideo",
  "GetBudgetStatus",
  "GetBudgetLimits",
  "SetBudgetLimits",
  "GetCostReport",
  "GetGpuStatus",
  "GetStatus",
  "CreateApiKey",
  "ListApiKeys",
  "RevokeApiKey"
]

describe("Rpcs", () => {
  it("serves exactly the documented RPCs, every one behind Authentication", () => {
    expect([...Rpcs.YtempireRpcs.requests.keys()].toSorted()).toStrictEqual(expectedTags.toSorted())
    for (const rpc of Rpcs.YtempireRpcs.requests.values()) {
      expect(rpc.middlewares.has(Auth.Authentication), rpc._tag).toBe(true)
    }
  })

  describe("through the RPC client and server", () => {
    it.effect("refuses calls without a valid key with a typed Unauthorized", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const video = yield* client.GenerateVideo({ ...request, videoId: Ids.VideoId.make("v-known") })
        // The video exists, but neither a wrong key nor a missing one may read it.
        for (const key of ["wrong-key", undefined]) {
          const other = yield* clientWith(key)
          const error = yield* Effect.flip(other.GetVideo({ videoId: video.id }))
          expect(error).toBeInstanceOf(Errors.Unauthorized)
          expect(error).toMatchObject({ _tag: "Unauthorized", message: "missing or unknown API key" })
        }
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("generates a video for the caller's tenant and reads it back", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const video = yield* client.GenerateVideo(request)
        expect(video).toBeInstanceOf(Video.Video)
        expect(video.tenantId).toBe(tenantId)
        expect(video.status).toBe("queued")
        const read = yield* client.GetVideo({ videoId: video.id })
        expect(read.topic).toBe(request.topic)
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("fails GenerateVideo over budget with a BudgetExceeded whose figures arrive intact", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        yield* client.GenerateVideo(request)
        yield* client.GenerateVideo(request)
        const error = yield* Effect.flip(client.GenerateVideo(request))
        expect(error).toBeInstanceOf(Budget.BudgetExceeded)
        if (error._tag !== "BudgetExceeded") return expect.fail(`expected BudgetExceeded, got ${error._tag}`)
        expect(error.scope).toStrictEqual({ _tag: "tenant-day", tenantId: "acme", day: "2026-11-22" })
        expect(Money.toDecimal(error.limit)).toBe("1.00")
        expect(Money.toDecimal(error.committed)).toBe("0.90")
        expect(Money.toDecimal(error.needed)).toBe("0.45")
        expect(error.isRetryable).toBe(false)
        expect(error.message).toBe(
          "budget tenant-day:acme:2026-11-22 would be exceeded: $0.90 spent of $1.00, $0.45 more needed"
        )
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("fails GetVideo of an unknown id with VideoNotFound", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const error = yield* Effect.flip(client.GetVideo({ videoId: Ids.VideoId.make("v-missing") }))
        expect(error).toBeInstanceOf(Video.VideoNotFound)
        expect(error.message).toBe("video v-missing not found")
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("refuses a malformed payload in the client, as a defect rather than an InvalidRequest", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const videoId = Ids.VideoId.make("v-empty-topic")
        // The client builds the payload with the payload schema's constructor, which validates and throws.
        const exit = yield* Effect.exit(client.GenerateVideo({ channelId, videoId, topic: "" }))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
        if (Exit.isFailure(exit)) expect(String(Cause.squash(exit.cause))).toMatch(/Schema validation failed/)
        // Nothing reached the server.
        expect(yield* Effect.flip(client.GetVideo({ videoId }))).toBeInstanceOf(Video.VideoNotFound)
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("streams a video's progress in order and ends after the final event", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const video = yield* client.GenerateVideo(request)
        const progress = yield* Stream.runCollect(client.WatchVideo({ videoId: video.id }))
        expect(progress.map(({ event, stage }) => stage === undefined ? event : `${event}:${stage}`)).toStrictEqual([
          "queued",
          "started",
          "stage-started:script",
          "stage-completed:script",
          "stage-started:voice",
          "stage-completed:voice",
          "stage-started:thumbnail",
          "stage-completed:thumbnail",
          "stage-started:render",
          "stage-completed:render",
          "stage-started:upload",
          "stage-completed:upload",
          "completed"
        ])
        expect(progress.at(-1)?.video.status).toBe("completed")
        expect(progress.every((item) => item.video.id === video.id)).toBe(true)
      }).pipe(Effect.provide(ServerLayer)))

    it.effect("fails WatchVideo of an unknown id with VideoNotFound, and without a key with Unauthorized", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(apiKey)
        const missing = yield* Effect.flip(Stream.runCollect(client.WatchVideo({ videoId: Ids.VideoId.make("v-x") })))
        expect(missing).toBeInstanceOf(Video.VideoNotFound)
        const anonymous = yield* clientWith(undefined)
        const refused = yield* Effect.flip(
          Stream.runCollect(anonymous.WatchVideo({ videoId: Ids.VideoId.make("v-x") }))
        )
        expect(refused).toBeInstanceOf(Errors.Unauthorized)
      }).pipe(Effect.provide(ServerLayer)))
  })

  describe("JSON wire encoding", () => {
    it("derives a JSON codec for every payload, result and stream chunk, and carries auth errors for each", () => {
      for (const rpc of Rpcs.YtempireRpcs.requests.values()) {
        const exit = Schema.toCodecJson(Rpc.exitSchema(rpc))
        Schema.toCodecJson(rpc.payloadSchema)
        Schema.toCodecJson(rpc.errorSchema)
        // A stream's elements travel in chunks, as the server encodes them.
        const success = rpc.successSchema
        Schema.toCodecJson(RpcSchema.isStreamSchema(success) ? Schema.NonEmptyArray(success.success) : success)
        // Every RPC may fail with the middleware's errors; they must survive JSON.
        const wire = JSON.parse(JSON.stringify(
          Schema.encodeUnknownSync(exit)(
            Exit.fail(new Errors.RateLimited({ retryAfterSeconds: 30 }))
          )
        ))
        const decoded = Schema.decodeUnknownSync(exit)(wire)
        expect(Exit.isFailure(decoded), rpc._tag).toBe(true)
        expect(Exit.findErrorOption(decoded as Exit.Exit<unknown, unknown>), rpc._tag).toStrictEqual(
          Option.some(new Errors.RateLimited({ retryAfterSeconds: 30 }))
        )
      }
    })

    it("round-trips a full video, with money as decimal strings and instants as ISO strings", () => {
      const { decoded, reencoded, wire } = overJson(Video.Video, fullVideo)
      expect(wire).toMatchObject({
        id: "v-1",
        totalCost: "0.45",
        requestedAt: "2026-11-22T09:59:59.000Z",
        stages: [
          {
            estimated: "0.50",
            cost: "0.45",
            attempts: [
              { startedAt: "2026-11-22T10:00:00.000Z", error: { tag: "ProviderUnavailable", retryable: true } },
              { endedAt: "2026-11-22T10:00:09.250Z", fallbackReason: "ProviderUnavailable: 429" }
            ],
            artifact: { bytes: 2048 }
          },
          { stage: "voice", cost: "0.00", attempts: [] }
        ]
      })
      expect(reencoded).toStrictEqual(wire)
      expect(decoded).toBeInstanceOf(Video.Video)
      expect(decoded.totalCost).toBe(fullVideo.totalCost)
      expect(DateTime.formatIso(decoded.stages[0]!.attempts[1]!.endedAt)).toBe("2026-11-22T10:00:09.250Z")
    })

    it("round-trips a channel, its progress events and the domain errors", () => {
      const channel = new Channel.Channel({
        id: channelId,
        tenantId,
        name: "Tech Daily",
        niche: "consumer technology",
        language: "en-US",
        style: "upbeat explainer",
        schedule: new Channel.ChannelSchedule({ cron: "0 9 * * *", timeZone: "Europe/Berlin" }),
        priority: "high",
        budget: new Budget.BudgetPolicy({ perVideo: money("2.50"), daily: money("20") }),
        status: "budget-paused",
        createdAt: at("2026-11-01T00:00:00Z"),
        updatedAt: at("2026-11-22T10:00:00Z")
      })
      const samples: ReadonlyArray<readonly [Schema.Codec<unknown, unknown>, unknown, Record<string, unknown>]> = [
        [Channel.Channel, channel, {
          budget: { perVideo: "2.50", daily: "20.00" },
          quality: 0.5,
          schedule: { timeZone: "Europe/Berlin" },
          createdAt: "2026-11-01T00:00:00.000Z"
        }],
        [
          Budget.BudgetExceeded,
          new Budget.BudgetExceeded({
            scope: Budget.ChannelDayScope.make({ channelId, day: "2026-11-22" }),
            limit: money("20"),
            committed: money("19.75"),
            needed: money("0.45")
          }),
          {
            _tag: "BudgetExceeded",
            scope: { _tag: "channel-day", channelId: "tech-daily", day: "2026-11-22" },
            limit: "20.00",
            committed: "19.75",
            needed: "0.45"
          }
        ],
        [
          Quota.QuotaExhausted,
          new Quota.QuotaExhausted({
            accountId: Ids.AccountId.make("yt-01"),
            bucket: "uploads",
            limit: 100,
            used: 100,
            needed: 1,
            resetsAt: at("2026-11-23T08:00:00Z")
          }),
          { _tag: "QuotaExhausted", bucket: "uploads", resetsAt: "2026-11-23T08:00:00.000Z" }
        ],
        [
          Errors.InvalidRequest,
          new Errors.InvalidRequest({ message: "topic must not be empty", field: "topic" }),
          { _tag: "InvalidRequest", message: "topic must not be empty", field: "topic" }
        ],
        [
          Video.VideoProgress,
          new Video.VideoProgress({ event: "stage-completed", stage: "script", video: fullVideo }),
          { event: "stage-completed", stage: "script", video: { id: "v-1", totalCost: "0.45" } }
        ]
      ]
      for (const [schema, value, expected] of samples) {
        const { decoded, reencoded, wire } = overJson(schema, value)
        expect(wire).toMatchObject(expected)
        expect(reencoded).toStrictEqual(wire)
        expect(Object.getPrototypeOf(decoded)).toBe(Object.getPrototypeOf(value))
      }
    })

    it("carries a typed GenerateVideo failure through the RPC exit schema", () => {
      const generate = Rpcs.YtempireRpcs.requests.get("GenerateVideo")!
      const failure = new Budget.BudgetExceeded({
        scope: Budget.VideoScope.make({ videoId: Ids.VideoId.make("v-1") }),
        limit: money("3.00"),
        committed: money("2.80"),
        needed: money("0.45")
      })
      const { decoded, wire } = overJson(Rpc.exitSchema(generate), Exit.fail(failure))
      expect(wire).toMatchObject({
        _tag: "Failure",
        cause: [{ _tag: "Fail", error: { limit: "3.00", needed: "0.45" } }]
      })
      const error = Option.getOrThrow(Exit.findErrorOption(decoded))
      expect(error).toBeInstanceOf(Budget.BudgetExceeded)
      expect(error).toMatchObject({ committed: money("2.80"), needed: money("0.45") })
    })
  })
})
