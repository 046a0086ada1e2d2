import { describe, expect, it } from "@effect/vitest"
import { Ids, type Stage } from "@ytempire/domain"
import { Providers, YtempireRuntime } from "@ytempire/runtime"
import * as Server from "@ytempire/server/Server"
import { Effect, Layer, Option, Schema, Stream } from "effect"
import { TestConsole } from "effect/testing"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

// Stand-in providers: each hands back a few bytes; the voice provider logs a line while it works.
const instant = (stage: Stage.Stage): Providers.StageProvider => ({
  stage,
  name: `instant-${stage}`,
  tier: "local",
  run: (input) =>
    Effect.gen(function*() {
      if (stage === "voice") yield* Effect.logInfo(`narrating ${input.videoId}`)
      return {
        value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
        usage: []
      }
    })
})

const providers = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)({ providers: [instant("script")] }),
  Layer.succeed(Providers.Narrator)({ providers: [instant("voice")] }),
  Layer.succeed(Providers.ThumbnailArtist)({ providers: [instant("thumbnail")] }),
  Layer.succeed(Providers.Renderer)({ providers: [instant("render")] }),
  Layer.succeed(Providers.Publisher)({ providers: [instant("upload")] })
)

const acme = Schema.decodeSync(Ids.TenantId)("acme")

interface Entry {
  readonly message: unknown
  readonly level: string
  readonly annotations: Record<string, unknown>
  readonly traceId?: string
  readonly spanId?: string
}

describe("structured logs (LOG_FORMAT=json)", () => {
  it.live("a line logged inside a video's work carries its trace and span ids, channel and video", () =>
    Effect.gen(function*() {
      const runtime = YtempireRuntime.layerWithProviders({
        dataDir: mkdtempSync(join(tmpdir(), "ytempire-logging-")),
        storage: { _tag: "memory" },
        messagePollInterval: "50 millis"
      }, providers).pipe(
        // The server's logging, as `--log-format json` configures it, writing to the test's console.
        Layer.provide(Server.loggingLayer({ logFormat: "json", logLevel: "Info" }))
      )
      const video = yield* Effect.gen(function*() {
        const ytempire = yield* YtempireRuntime.Ytempire
        yield* ytempire.registerChannel(acme, {
          id: "tech",
          name: "Tech Daily",
          niche: "technology",
          language: "en",
          style: "upbeat explainer"
        })
        const requested = yield* ytempire.requestVideo(acme, { channelId: "tech", videoId: "v1", topic: "Phones" })
        return yield* ytempire.watchVideo(acme, requested.id).pipe(Stream.runLast, Effect.map(Option.getOrThrow))
      }).pipe(Effect.withSpan("test.request"), Effect.provide(runtime))
      expect(video.status).toBe("completed")

      const lines = (yield* TestConsole.logLines).filter((line): line is string => typeof line === "string")
      const entries = lines.map((line) => JSON.parse(line) as Entry)
      const narrating = entries.filter((entry) => entry.message === "narrating v1")
      expect(narrating, lines.join("\n")).toHaveLength(1)
      const [entry] = narrating
      expect(entry!.level).toBe("INFO")
      expect(entry!.annotations).toMatchObject({ channelId: "tech", videoId: "v1" })
      expect(entry!.traceId).toMatch(/^[0-9a-f]+$/)
      expect(entry!.spanId).toMatch(/^[0-9a-f]+$/)
      // The video's trace: the one its request ran in.
      expect(video.traceId).toBeDefined()
      expect(entry!.traceId).toBe(video.traceId)
    }).pipe(Effect.provide(TestConsole.layer)))

  it.effect("outside any span a line has no trace ids; inside one, that span's", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* Effect.logInfo("outside")
        yield* Effect.logInfo("inside").pipe(Effect.annotateLogs({ videoId: "v2" }), Effect.withSpan("outer"))
      }).pipe(Effect.provide(Server.loggingLayer({ logFormat: "json", logLevel: "Info" })))
      const [outside, inside] = (yield* TestConsole.logLines).map((line) => JSON.parse(line as string))
      expect(outside).toMatchObject({ message: "outside", level: "INFO" })
      expect(outside.traceId).toBeUndefined()
      expect(outside.spanId).toBeUndefined()
      expect(inside).toMatchObject({ message: "inside", annotations: { videoId: "v2" } })
      expect(inside.traceId).toMatch(/^[0-9a-f]{32}$/)
      expect(inside.spanId).toMatch(/^[0-9a-f]{16}$/)
    }).pipe(Effect.provide(TestConsole.layer)))
})
