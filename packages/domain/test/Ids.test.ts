import { describe, expect, it } from "@effect/vitest"
import { Ids } from "@ytempire/domain"
import { Effect, Schema } from "effect"

describe("Ids", () => {
  it.effect("decodes a well-formed channel id", () =>
    Effect.gen(function*() {
      const id = yield* Schema.decodeUnknownEffect(Ids.ChannelId)("tech-reviews_01")
      expect(id).toBe("tech-reviews_01")
    }))

  it("rejects ids with spaces, slashes or nothing in them, naming the id", () => {
    for (const bad of ["", "has space", "../etc", "x".repeat(129)]) {
      expect(() => Schema.decodeUnknownSync(Ids.VideoId)(bad)).toThrow(/VideoId/)
    }
  })
})
