import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, expect, layer } from "@effect/vitest"
import { Ffmpeg, Speech, TitleCard } from "@ytempire/runtime"
import { Effect, Exit, Fiber, FileSystem, Layer, Path, Schedule } from "effect"

const TestLayer = Layer.mergeAll(
  Ffmpeg.Ffmpeg.layer,
  Speech.Speech.layer,
  TitleCard.TitleCard.layer,
  NodeFileSystem.layer,
  NodePath.layer
)

const tempDir = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-ffmpeg-" })
})

// Three scene cards in `dir`.
const sceneCards = Effect.fnUntraced(function*(dir: string) {
  const path = yield* Path.Path
  const cards = yield* TitleCard.TitleCard
  const title = "Why Octopuses Have Three Hearts"
  const specs = [
    TitleCard.title({ title, subtitle: "Marine biology", seed: "channel-octopus" }),
    TitleCard.scene({
      text: "Two hearts pump blood through the gills.",
      index: 2,
      total: 3,
      caption: title,
      seed: "c"
    }),
    TitleCard.scene({ text: "The third pumps it through the body.", index: 3, total: 3, caption: title, seed: "c" })
  ]
  return yield* Effect.forEach(specs, (card, i) => cards.write(card, path.join(dir, `scene-${i + 1}.png`)))
})

// The command lines of running processes that mention `needle` (Linux).
const processesMentioning = Effect.fnUntraced(function*(needle: string) {
  const fs = yield* FileSystem.FileSystem
  const entries = yield* fs.readDirectory("/proc")
  const found: Array<string> = []
  for (const pid of entries.filter((entry) => /^\d+$/.test(entry))) {
    const cmdline = yield* fs.readFileString(`/proc/${pid}/cmdline`).pipe(Effect.orElseSucceed(() => ""))
    if (cmdline.includes(needle)) found.push(cmdline.replaceAll("\0", " "))
  }
  return found
})

// Real processes and real time: no TestClock.
layer(TestLayer, { timeout: "60 seconds", excludeTestServices: true })("Ffmpeg", (it) => {
  it.effect("renders three scene cards over a narration into a 720p H.264 + AAC MP4 as long as the narration", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      const speech = yield* Speech.Speech
      const dir = yield* tempDir
      const scenes = yield* sceneCards(dir)
      const narration = yield* speech.synthesize({
        text: "Octopuses have three hearts. Two of them serve the gills.",
        output: path.join(dir, "narration.wav")
      })
      expect(narration.durationSeconds).toBeGreaterThan(2)
      expect(narration.durationSeconds).toBeLessThan(6)
      const output = path.join(dir, "video.mp4")

      const video = yield* ffmpeg.render({
        scenes: scenes.map((scene, i) => ({ image: scene.path, duration: i === 0 ? 2 : 1 })),
        narration: narration.path,
        output
      })

      const probe = yield* ffmpeg.probe(output)
      const videoStreams = probe.streams.filter((stream) => stream.codecType === "video")
      const audioStreams = probe.streams.filter((stream) => stream.codecType === "audio")
      expect(videoStreams.map((s) => [s.codecName, s.width, s.height])).toEqual([["h264", 1280, 720]])
      expect(audioStreams.map((s) => s.codecName)).toEqual(["aac"])
      expect(probe.formatName).toContain("mp4")
      expect(Math.abs(probe.durationSeconds - narration.durationSeconds)).toBeLessThan(
        narration.durationSeconds * 0.1
      )
      expect(video.frames).toBe(Math.ceil(narration.durationSeconds * 30))
      expect(video.bytes).toBe(probe.bytes)
      expect((yield* fs.readDirectory(dir)).filter((name) => name.includes(".partial"))).toEqual([])

      // The narration's own probe: one mono 22,050 Hz PCM stream of the duration Speech reported.
      const wav = yield* ffmpeg.probe(narration.path)
      expect(wav.streams.map((s) => [s.codecType, s.codecName, s.sampleRate, s.channels])).toEqual([
        ["audio", "pcm_s16le", 22_050, 1]
      ])
      expect(wav.durationSeconds).toBeCloseTo(narration.durationSeconds, 2)
    }))

  it.effect("interrupting a render stops ffmpeg and leaves no file at the output path", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      const dir = yield* tempDir
      const scenes = yield* sceneCards(dir)
      // Five minutes of silence: a render that takes far longer than this test waits.
      const narration = path.join(dir, "silence.wav")
      yield* fs.writeFile(narration, Speech.encodeWav(new Int16Array(22_050 * 300), 22_050))
      const output = path.join(dir, "video.mp4")

      const fiber = yield* Effect.forkChild(
        ffmpeg.render({ scenes: scenes.map((scene) => ({ image: scene.path, duration: 1 })), narration, output })
      )
      // Wait until ffmpeg is writing its temporary file.
      const partial = yield* fs.readDirectory(dir).pipe(
        Effect.map((names) => names.find((name) => name.includes(".partial"))),
        Effect.flatMap((name) => name === undefined ? Effect.fail("not yet" as const) : Effect.succeed(name)),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("10 seconds")
      )
      expect(yield* processesMentioning(partial)).not.toEqual([])

      yield* Fiber.interrupt(fiber)

      const exit = yield* Fiber.await(fiber)
      expect(Exit.hasInterrupts(exit)).toBe(true)
      expect(yield* fs.exists(output)).toBe(false)
      expect((yield* fs.readDirectory(dir)).filter((name) => name.includes(".partial") || name.endsWith(".mp4")))
        .toEqual([])
      expect(yield* processesMentioning(partial)).toEqual([])
    }))

  it.effect("a missing input fails with MissingInput naming it, and writes nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      const dir = yield* tempDir
      const [scene] = yield* sceneCards(dir)
      const narration = path.join(dir, "silence.wav")
      yield* fs.writeFile(narration, Speech.encodeWav(new Int16Array(22_050), 22_050))
      const output = path.join(dir, "video.mp4")
      const missing = path.join(dir, "no-such-scene.png")

      const noScene = yield* Effect.flip(
        ffmpeg.render({
          scenes: [{ image: scene!.path, duration: 1 }, { image: missing, duration: 1 }],
          narration,
          output
        })
      )
      assert(noScene._tag === "MissingInput")
      expect([noScene.path, noScene.role]).toEqual([missing, "scene"])

      const noNarration = yield* Effect.flip(
        ffmpeg.render({
          scenes: [{ image: scene!.path, duration: 1 }],
          narration: path.join(dir, "none.wav"),
          output
        })
      )
      assert(noNarration._tag === "MissingInput")
      expect(noNarration.role).toBe("narration")

      const noFile = yield* Effect.flip(ffmpeg.probe(path.join(dir, "nothing.mp4")))
      assert(noFile._tag === "MissingInput")

      expect(yield* fs.exists(output)).toBe(false)
    }))

  it.effect("an input ffmpeg cannot read fails with MediaError carrying ffmpeg's stderr, and writes nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      const dir = yield* tempDir
      const bogus = path.join(dir, "not-an-image.png")
      yield* fs.writeFileString(bogus, "this is not a PNG")
      const narration = path.join(dir, "silence.wav")
      yield* fs.writeFile(narration, Speech.encodeWav(new Int16Array(22_050), 22_050))
      const output = path.join(dir, "video.mp4")

      const error = yield* Effect.flip(ffmpeg.render({ scenes: [{ image: bogus, duration: 1 }], narration, output }))

      assert(error._tag === "MediaError")
      expect(error.tool).toBe("ffmpeg")
      expect(error.message).toMatch(/^ffmpeg exited with code \d+:\n./)
      expect(yield* fs.readDirectory(dir)).toEqual(["not-an-image.png", "silence.wav"])
    }))
})
