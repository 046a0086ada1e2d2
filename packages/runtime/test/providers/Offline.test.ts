import { assert, expect, layer } from "@effect/vitest"
import { Channel, Ids, Quota, Stage } from "@ytempire/domain"
import {
  Ffmpeg,
  LocalPublisher,
  Offline,
  PipelineMetrics,
  ProviderChain,
  Providers,
  Script,
  Speech
} from "@ytempire/runtime"
import { Context, DateTime, Effect, Fiber, FileSystem, Layer, Metric, Path, Schema } from "effect"
import { TestClock } from "effect/testing"

const epoch = DateTime.makeUnsafe(0)

// An account that may upload one video a day (the current quota model: uploads have their own bucket).
const oneUploadADay = Ids.AccountId.make("acct-one-upload-a-day")

const channel = new Channel.Channel({
  id: Ids.ChannelId.make("ch-tiny-facts"),
  tenantId: Ids.TenantId.make("tenant-1"),
  name: "Tiny Facts",
  niche: "marine biology",
  language: "en",
  style: "calm explainer",
  youtubeAccount: oneUploadADay,
  status: "active",
  createdAt: epoch,
  updatedAt: epoch
})

const topic = "why octopuses have three hearts"
const videoA = Ids.VideoId.make("video-a")
const videoB = Ids.VideoId.make("video-b")

// Short and quick: the smallest script, spoken fast, rendered at 10 frames per second.
const settings = (dataDir: string): Offline.Options => ({
  dataDir,
  privacyStatus: "unlisted",
  accounts: [new Quota.AccountQuota({ accountId: oneUploadADay, role: "primary", dailyUploads: 1 })],
  targetWords: 60,
  speechRate: 260,
  fps: 10
})

const instant: ProviderChain.RetryPolicy = { attemptTimeout: "2 minutes", maxAttempts: 3, baseDelay: 0, maxDelay: 0 }

type Inputs = Partial<Record<Stage.Stage, string>>

/** The test's temporary directory: the publisher's data directory and the stages' scratch directories. */
class TestDir extends Context.Service<TestDir, string>()("test/providers/Offline/TestDir") {}

/** Runs one stage through its chain for `videoId`, in a fresh scratch directory, from the files in `inputs`. */
const runStage = Effect.fnUntraced(function*(stage: Stage.Stage, videoId: Ids.VideoId, inputs: Inputs) {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* TestDir
  const chain = yield* Providers.chainOf(stage)
  const scratch = yield* fs.makeTempDirectory({ directory: dir, prefix: `${videoId}-${stage}-` }).pipe(Effect.orDie)
  const result = yield* ProviderChain.run(stage, chain.providers, { channel, videoId, topic, scratch, inputs }, {
    startTier: "local",
    policy: instant
  })
  return { ...result, value: fileOf(result.value) }
})

/** A quota gauge of the test's account, per bucket. */
const quotaGauge = (metric: Metric.Gauge<number>) =>
  Effect.forEach(["units", "uploads", "searches"] as const, (bucket) =>
    Effect.map(
      Metric.value(Metric.withAttributes(metric, { account: oneUploadADay, bucket })),
      (state) => [bucket, state.value] as const
    )).pipe(Effect.map(Object.fromEntries))

/** The `youtube_quota_used` and `youtube_quota_limit` gauges of the test's account, per bucket. */
const quotaGauges = Effect.all({
  used: quotaGauge(PipelineMetrics.youtubeQuotaUsed),
  limit: quotaGauge(PipelineMetrics.youtubeQuotaLimit)
})

/** The offline providers hand back files, which these tests read. */
const fileOf = (output: Providers.StageOutput): Providers.ProducedFile => {
  if (!("path" in output)) throw new Error(`expected a file, got ${output.bytes.byteLength} bytes`)
  return output
}

/** The first four stages of video A, run once for the whole file, in order, each from the files before it. */
class Produced extends Context.Service<Produced, {
  readonly inputs: Inputs
  readonly results: Readonly<Record<string, ProviderChain.ChainResult<Providers.ProducedFile>>>
}>()("test/providers/Offline/Produced") {}

const ProducedLive = Layer.effect(
  Produced,
  Effect.gen(function*() {
    const inputs: Record<string, string> = {}
    const results: Record<string, ProviderChain.ChainResult<Providers.ProducedFile>> = {}
    for (const stage of Stage.all.filter((each) => each !== "upload")) {
      const result = yield* runStage(stage, videoA, { ...inputs })
      inputs[stage] = result.value.path
      results[stage] = result
    }
    return { inputs, results }
  })
)

const TestDirLive = Layer.effect(
  TestDir,
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-offline-" })
  })
)

// Offline.layer is what is under test; Offline.mediaLayer is the same layer value it builds on, so it is built
// once and shared with the layers the tests build themselves.
const OfflineLive = Layer.unwrap(Effect.gen(function*() {
  return Offline.layer(settings(yield* TestDir))
}))

const TestLayer = ProducedLive.pipe(
  Layer.provideMerge(Layer.mergeAll(OfflineLive, Offline.mediaLayer)),
  Layer.provideMerge(TestDirLive),
  Layer.provideMerge(Offline.mediaLayer)
)

const readJson = Effect.fnUntraced(function*(file: string) {
  const fs = yield* FileSystem.FileSystem
  return JSON.parse(yield* fs.readFileString(file)) as unknown
})

const words = (text: string) => text.split(/\s+/).filter((word) => word.length > 0).length

// Real tools and real time, except where a test brings its own TestClock.
layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("Offline providers", (it) => {
  it.effect("write the script, narration, thumbnail and video as real files, each from the one before", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      const { results } = yield* Produced
      const script = results["script"]!
      const voice = results["voice"]!
      const thumbnail = results["thumbnail"]!
      const render = results["render"]!

      expect([script, voice, thumbnail, render].map((r) => [r.provider, r.tier, r.attempts.length])).toEqual([
        ["local-script-writer", "local", 1],
        ["espeak-ng", "local", 1],
        ["title-card", "local", 1],
        ["ffmpeg-libx264", "local", 1]
      ])
      expect([script, voice, thumbnail, render].map((r) => r.usage.map((item) => item.price))).toEqual([
        ["compute.cpu-hour"],
        ["compute.cpu-hour"],
        ["compute.cpu-hour"],
        ["compute.cpu-hour"]
      ])

      // The script: Script JSON that decodes.
      expect(script.value).toMatchObject({ mediaType: "application/json" })
      expect(script.value.path.endsWith("/script.json")).toBe(true)
      const decoded = yield* Schema.decodeUnknownEffect(Script.Script)(yield* readJson(script.value.path))
      expect(decoded.title).toBe(script.value.details?.["title"])
      expect(decoded.language).toBe("en")

      // The narration: a WAV as long as the words take at the configured rate (260 words per minute), give or
      // take espeak-ng's pauses.
      expect(voice.value.mediaType).toBe("audio/wav")
      expect(voice.value.path.endsWith("/narration.wav")).toBe(true)
      const seconds = voice.value.details?.["durationSeconds"]
      assert(typeof seconds === "number")
      const expected = (words(Script.narrationText(decoded)) / 260) * 60
      expect(seconds).toBeGreaterThan(expected * 0.6)
      expect(seconds).toBeLessThan(expected * 1.8)
      expect(voice.value.details).toMatchObject({ characters: Script.characters(decoded) })
      expect(voice.value.details?.["voice"]).toMatch(/en/)
      const wav = yield* ffmpeg.probe(voice.value.path)
      expect(wav.streams.map((s) => [s.codecType, s.codecName])).toEqual([["audio", "pcm_s16le"]])
      expect(wav.durationSeconds).toBeCloseTo(seconds, 2)

      // The thumbnail: a 1280×720 PNG, by its IHDR chunk.
      expect(thumbnail.value.mediaType).toBe("image/png")
      const png = yield* fs.readFile(thumbnail.value.path)
      const view = new DataView(png.buffer, png.byteOffset, png.byteLength)
      expect(new TextDecoder().decode(png.subarray(1, 4))).toBe("PNG")
      expect([view.getUint32(16), view.getUint32(20)]).toEqual([1280, 720])

      // The video: H.264 1280×720 and AAC, as long as the narration (within 10 %).
      expect(render.value.mediaType).toBe("video/mp4")
      const probe = yield* ffmpeg.probe(render.value.path)
      expect(probe.streams.filter((s) => s.codecType === "video").map((s) => [s.codecName, s.width, s.height]))
        .toEqual([["h264", 1280, 720]])
      expect(probe.streams.filter((s) => s.codecType === "audio").map((s) => s.codecName)).toEqual(["aac"])
      expect(Math.abs(probe.durationSeconds - seconds)).toBeLessThan(seconds * 0.1)
      expect(render.value.details).toMatchObject({ width: 1280, height: 720, fps: 10 })
      // One scene card per scene was drawn beside it.
      const cards = (yield* fs.readDirectory(path.dirname(render.value.path))).filter((n) => /^scene-\d+\.png$/.test(n))
      expect(cards).toHaveLength(decoded.scenes.length)
    }))

  it.effect("publishes once per video id, idempotently, within the account's quota", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* TestDir
      const { inputs } = yield* Produced
      const script = yield* Schema.decodeUnknownEffect(Script.Script)(yield* readJson(inputs.script!))

      const first = yield* runStage("upload", videoA, inputs)
      const published = path.join(dir, "published", videoA)
      expect(first.value).toMatchObject({
        mediaType: "application/json",
        details: { publishedPath: published, quotaUnitsUsed: 50, quotaUploadsUsed: 1, alreadyPublished: false }
      })
      // The account's quota gauges, per bucket: what the day has used of what it allows.
      expect(yield* quotaGauges).toEqual({
        used: { units: 50, uploads: 1, searches: 0 },
        limit: { units: Quota.defaultDailyUnits, uploads: 1, searches: Quota.defaultDailySearches }
      })
      expect((yield* fs.readDirectory(published)).toSorted()).toEqual(["metadata.json", "thumbnail.png", "video.mp4"])
      const metadataText = yield* fs.readFileString(path.join(published, "metadata.json"))
      expect(yield* fs.readFileString(first.value.path)).toBe(metadataText)
      const metadata = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(LocalPublisher.VideoResource))(
        metadataText
      )
      expect(metadata).toMatchObject({
        kind: "youtube#video",
        id: videoA,
        snippet: {
          title: script.title,
          description: script.description,
          tags: script.tags,
          defaultLanguage: "en",
          defaultAudioLanguage: "en",
          channelTitle: "Tiny Facts",
          categoryId: LocalPublisher.defaultCategoryId
        },
        status: { privacyStatus: "unlisted", selfDeclaredMadeForKids: false },
        fileDetails: {
          fileName: "video.mp4",
          fileType: "video",
          videoStreams: [{ widthPixels: 1280, heightPixels: 720, codec: "h264" }],
          audioStreams: [{ channelCount: 2, codec: "aac" }]
        }
      })
      expect(metadata.snippet.thumbnails["maxres"]).toMatchObject({ width: 1280, height: 720 })
      const videoBytes = yield* fs.readFile(path.join(published, "video.mp4"))
      expect(videoBytes).toEqual(yield* fs.readFile(inputs.render!))
      expect(metadata.fileDetails.fileSize).toBe(String(videoBytes.byteLength))
      const videoModified = (yield* fs.stat(path.join(published, "video.mp4"))).mtime

      // Again with the same content: the publication found, nothing written, nothing charged (the account's one
      // upload of the day is spent, so a charge would have failed).
      const again = yield* runStage("upload", videoA, inputs)
      expect(again.value.details).toMatchObject({ quotaUnitsUsed: 0, quotaUploadsUsed: 0, alreadyPublished: true })
      expect(yield* fs.readFileString(again.value.path)).toBe(metadataText)
      expect(yield* fs.readFileString(path.join(published, "metadata.json"))).toBe(metadataText)
      expect((yield* fs.stat(path.join(published, "video.mp4"))).mtime).toEqual(videoModified)

      // Another video on the same account: the day's upload bucket is empty.
      const refused = yield* Effect.flip(runStage("upload", videoB, inputs))
      expect(refused._tag).toBe("StageFailed")
      expect(refused.attempts).toHaveLength(1)
      const error = refused.attempts[0]!.error!
      expect(error).toMatchObject({ tag: "ProviderUnavailable", retryable: false })
      expect(error.message).toMatch(/quota of account acct-one-upload-a-day is exhausted: its uploads bucket/)
      expect(error.message).toMatch(/resets at \d{4}-\d{2}-\d{2}T\d{2}:00:00/)
      expect(yield* fs.exists(path.join(dir, "published", videoB))).toBe(false)
      expect((yield* quotaGauges).used).toEqual({ units: 50, uploads: 1, searches: 0 })
    }))

  it.effect("a missing input fails the stage at once: ProviderUnavailable, not retryable", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const { inputs } = yield* Produced

      const noVoice = yield* Effect.flip(runStage("render", videoB, { script: inputs.script! }))
      expect(noVoice.attempts.map((a) => [a.provider, a.outcome, a.error?.tag, a.error?.retryable])).toEqual([
        ["ffmpeg-libx264", "failed", "ProviderUnavailable", false]
      ])
      expect(noVoice.attempts[0]!.error!.message).toMatch(/no voice file among the inputs/)

      const gone = path.join(path.dirname(inputs.script!), "nothing-here.json")
      const noScript = yield* Effect.flip(runStage("voice", videoB, { script: gone }))
      expect(noScript.attempts.map((a) => [a.outcome, a.error?.retryable])).toEqual([["failed", false]])
      expect(noScript.attempts[0]!.error!.message).toContain(`the script file ${gone} does not exist`)
    }))

  it.effect("a tool that fails is retried: ProviderUnavailable, retryable", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* TestDir
      const { inputs } = yield* Produced
      const bogus = path.join(dir, "not-a-narration.wav")
      yield* fs.writeFileString(bogus, "this is not a WAV file")

      const failed = yield* Effect.flip(runStage("render", videoB, { script: inputs.script!, voice: bogus }))
      expect(failed.attempts.map((a) => [a.attempt, a.outcome, a.error?.retryable])).toEqual([
        [1, "failed", true],
        [2, "failed", true],
        [3, "failed", true]
      ])
      expect(failed.attempts[0]!.error!.message).toMatch(/could not render the video: ffprobe exited with code/)
    }))

  it.effect("speaks a language espeak-ng lacks with the default voice", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* TestDir
      const { inputs } = yield* Produced
      const english = yield* Schema.decodeUnknownEffect(Script.Script)(yield* readJson(inputs.script!))
      // "tlh" (Klingon) is a well-formed language tag that espeak-ng has no voice for.
      const klingon = new Script.Script({ ...english, language: "tlh", narration: ["Qapla."] })
      const file = path.join(dir, "klingon-script.json")
      yield* fs.writeFileString(file, yield* Schema.encodeEffect(Schema.fromJsonString(Script.Script))(klingon))

      const result = yield* runStage("voice", videoB, { script: file })
      expect(result.value.details).toMatchObject({ voice: Speech.defaultVoice, characters: "Qapla.".length })
    }))

  it.effect("honours an artificial latency before the work", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* TestDir
      const slow = yield* Layer.build(Offline.layerNoDeps({ ...settings(dir), latency: { script: "90 seconds" } }))
      const chain = Context.get(slow, Providers.ScriptWriter)
      const scratch = yield* fs.makeTempDirectory({ directory: dir, prefix: "slow-" })
      const input = { channel, videoId: videoA, topic, scratch, inputs: {} }

      const fiber = yield* ProviderChain.run("script", chain.providers, input, {
        startTier: "local",
        policy: { ...instant, attemptTimeout: "5 minutes" }
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("89 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      expect(yield* fs.readDirectory(scratch)).toEqual([])
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(fileOf(result.value).path.startsWith(scratch)).toBe(true)
      const attempt = result.attempts[0]!
      expect(DateTime.toEpochMillis(attempt.endedAt) - DateTime.toEpochMillis(attempt.startedAt)).toBe(90_000)
    }).pipe(Effect.provide(TestClock.layer())))
})
