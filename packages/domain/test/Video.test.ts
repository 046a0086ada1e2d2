import { describe, expect, it } from "@effect/vitest"
import { Errors, Money, Stage, Video } from "@ytempire/domain"
import { Effect, Option, Schema } from "effect"

const decodeRequest = Schema.decodeUnknownEffect(Video.VideoRequest)

const invalidRequest = (input: unknown) =>
  decodeRequest(input).pipe(Effect.flip, Effect.map(Errors.InvalidRequest.fromSchemaError))

const videoJson = {
  id: "v-1",
  channelId: "tech-daily",
  tenantId: "acme",
  topic: "Five phones under $300",
  status: "running",
  currentStage: "voice",
  stages: [
    {
      stage: "script",
      status: "completed",
      provider: "openai:gpt-4",
      tier: "premium",
      attempts: [
        {
          provider: "openai:gpt-4",
          tier: "premium",
          attempt: 1,
          outcome: "failed",
          startedAt: "2026-11-22T10:00:00.000Z",
          endedAt: "2026-11-22T10:00:02.000Z",
          error: { tag: "ProviderUnavailable", message: "429 Too Many Requests", retryable: true }
        },
        {
          provider: "openai:gpt-4",
          tier: "premium",
          attempt: 2,
          outcome: "succeeded",
          startedAt: "2026-11-22T10:00:03.000Z",
          endedAt: "2026-11-22T10:00:09.000Z"
        }
      ],
      estimated: "0.12",
      cost: "0.1134",
      startedAt: "2026-11-22T10:00:00.000Z",
      endedAt: "2026-11-22T10:00:09.000Z",
      artifact: {
        path: "artifacts/ab/abcdef.json",
        sha256: "a".repeat(64),
        bytes: 2048,
        mediaType: "application/json"
      }
    },
    { stage: "voice", status: "running", attempts: [], cost: "0" }
  ],
  totalCost: "0.1134",
  requestedAt: "2026-11-22T09:59:59.000Z",
  updatedAt: "2026-11-22T10:00:09.000Z"
}

describe("Video", () => {
  it.effect("decodes a request; the video id is optional and is the idempotency key", () =>
    Effect.gen(function*() {
      const request = yield* decodeRequest({ channelId: "tech-daily", topic: "Best budget phones" })
      expect(request.videoId).toBeUndefined()
      const keyed = yield* decodeRequest({ channelId: "tech-daily", videoId: "v-1", topic: "Best budget phones" })
      expect(keyed.videoId).toBe("v-1")
    }))

  it.effect("names the malformed field of a video request", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string | undefined, RegExp]> = [
        [{ topic: "x" }, "channelId", /Missing key/],
        [{ channelId: "../../etc", topic: "x" }, "channelId", /ChannelId must start with a letter or digit/],
        [{ channelId: "c1", topic: "" }, "topic", /topic must not be empty/],
        [{ channelId: "c1", topic: "y".repeat(301) }, "topic", /at most 300 characters/],
        [{ channelId: "c1", topic: 7 }, "topic", /Expected string/],
        [{ channelId: "c1", topic: "ok", videoId: "" }, "videoId", /VideoId must not be empty/],
        ["not an object", undefined, /Expected object/],
        [null, undefined, /Expected object/]
      ]
      for (const [input, field, message] of cases) {
        const error = yield* invalidRequest(input)
        expect(error.field, JSON.stringify(input)).toBe(field)
        expect(error.message, JSON.stringify(input)).toMatch(message)
      }
    }))

  it.effect("keeps every attempt, its error, the stage's cost and artifact through a JSON round trip", () =>
    Effect.gen(function*() {
      const video = yield* Schema.decodeUnknownEffect(Video.Video)(videoJson)
      const script = video.stages[0]!
      expect(script.attempts.map((attempt) => attempt.outcome)).toEqual(["failed", "succeeded"])
      expect(script.attempts[0]!.error?.retryable).toBe(true)
      expect(Money.toMicros(script.cost)).toBe(113_400)
      expect(Money.toMicros(video.totalCost)).toBe(113_400)
      const roundTrip = JSON.parse(JSON.stringify(Schema.encodeSync(Video.Video)(video)))
      expect(roundTrip).toEqual({
        ...videoJson,
        stages: [{ ...videoJson.stages[0], cost: "0.1134" }, { ...videoJson.stages[1], cost: "0.00" }]
      })
      expect(Video.isFinal(video.status)).toBe(false)
    }))

  it("runs the stages in pipeline order", () => {
    expect(Stage.all).toEqual(["script", "voice", "thumbnail", "render", "upload"])
    expect(Stage.next("thumbnail")).toEqual(Option.some("render"))
    expect(Option.isNone(Stage.next("upload"))).toBe(true)
  })
})
