import { describe, expect, it } from "@effect/vitest"
import { Ids, Video } from "@ytempire/domain"
import { Effect, Schema } from "effect"

describe("Ids", () => {
  it.effect("decodes a well-formed channel id", () =>
    Effect.gen(function*() {
      const id = yield* Schema.decodeUnknownEffect(Ids.ChannelId)("tech-reviews_01")
      expect(id).toBe("tech-reviews_01")
    }))

  it("rejects ids with spaces, slashes or nothing in them, naming the id", () => {
    for (const bad of ["", "has space", "../etc", "x".repeat(161)]) {
      expect(() => Schema.decodeUnknownSync(Ids.VideoId)(bad)).toThrow(/VideoId/)
    }
    for (const bad of ["", "has space", "x".repeat(129)]) {
      expect(() => Schema.decodeUnknownSync(Ids.ChannelId)(bad)).toThrow(/ChannelId/)
    }
  })
})

describe("VideoRequest", () => {
  it("reserves the scheduled runs' ids and refuses control characters in the topic", () => {
    const decode = Schema.decodeUnknownSync(Video.VideoRequest)
    expect(() => decode({ channelId: "c", videoId: "scheduled:c:20260101090000", topic: "x" })).toThrow(
      /scheduled runs/
    )
    expect(() => decode({ channelId: "c", videoId: "x".repeat(129), topic: "x" })).toThrow(/at most 128/)
    expect(() => decode({ channelId: "c", topic: "nul \u0000 inside" })).toThrow(/control characters/)
    expect(decode({ channelId: "c", videoId: "my-video", topic: "tabs\tand\nlines are fine" }).videoId).toBe("my-video")
  })
})
