import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, expect, layer } from "@effect/vitest"
import { Speech } from "@ytempire/runtime"
import { Effect, FileSystem, Layer, Path } from "effect"

const TestLayer = Layer.mergeAll(Speech.Speech.layer, NodeFileSystem.layer, NodePath.layer)

const twoSentences = "Welcome back to the channel. Today we look at why octopuses have three hearts."

// The fields of a canonical 44-byte WAV header.
const readWavHeader = (bytes: Uint8Array) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ascii = (offset: number) => new TextDecoder().decode(bytes.subarray(offset, offset + 4))
  return {
    riff: ascii(0),
    riffSize: view.getUint32(4, true),
    wave: ascii(8),
    fmt: ascii(12),
    format: view.getUint16(20, true),
    channels: view.getUint16(22, true),
    sampleRate: view.getUint32(24, true),
    bitsPerSample: view.getUint16(34, true),
    data: ascii(36),
    dataSize: view.getUint32(40, true)
  }
}

const tempDir = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-speech-" })
})

layer(TestLayer, { timeout: "60 seconds" })("Speech", (it) => {
  it.effect("speaks two sentences into a mono 16-bit 22,050 Hz RIFF/WAVE file of a plausible length", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const output = path.join(yield* tempDir, "narration.wav")

      const narration = yield* speech.synthesize({ text: twoSentences, output })

      const bytes = yield* fs.readFile(output)
      const header = readWavHeader(bytes)
      expect(header).toEqual({
        riff: "RIFF",
        riffSize: bytes.byteLength - 8,
        wave: "WAVE",
        fmt: "fmt ",
        format: 1,
        channels: 1,
        sampleRate: 22_050,
        bitsPerSample: 16,
        data: "data",
        dataSize: bytes.byteLength - 44
      })
      expect(narration.path).toBe(output)
      expect(narration.bytes).toBe(bytes.byteLength)
      expect(narration.samples).toBe(header.dataSize / 2)
      expect(narration.durationSeconds).toBe(narration.samples / 22_050)
      expect(narration.durationSeconds).toBeGreaterThan(1)
      expect(narration.durationSeconds).toBeLessThan(15)
      // Not silence: espeak-ng wrote speech.
      const samples = new Int16Array(bytes.slice(44).buffer)
      expect(samples.reduce((peak, sample) => Math.max(peak, Math.abs(sample)), 0)).toBeGreaterThan(1_000)
    }))

  it.effect("grows with the text, speaks several paragraphs, and shrinks with a faster rate", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const dir = yield* tempDir
      const short = yield* speech.synthesize({ text: twoSentences, output: path.join(dir, "short.wav") })
      const paragraphs = [twoSentences, twoSentences, twoSentences].join("\n\n")
      const long = yield* speech.synthesize({ text: paragraphs, output: path.join(dir, "long.wav") })
      const fast = yield* speech.synthesize({ text: paragraphs, output: path.join(dir, "fast.wav"), rate: 350 })

      expect(long.durationSeconds).toBeGreaterThan(short.durationSeconds * 2.5)
      expect(fast.durationSeconds).toBeLessThan(long.durationSeconds * 0.75)
    }))

  it.effect("reads markup-like text aloud instead of dropping it", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const dir = yield* tempDir
      const plain = yield* speech.synthesize({ text: "Tom and Jerry.", output: path.join(dir, "plain.wav") })
      const marked = yield* speech.synthesize({
        text: "Tom <script>alert</script> and Jerry.",
        output: path.join(dir, "marked.wav")
      })
      expect(marked.durationSeconds).toBeGreaterThan(plain.durationSeconds + 0.5)
    }))

  it.effect("selects voices by name or language code", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const dir = yield* tempDir
      const german = yield* speech.synthesize({
        text: "Guten Tag. Wie geht es Ihnen?",
        voice: "de",
        output: path.join(dir, "de.wav")
      })
      expect(german.voice).toBe("de")
      // "en-gb" is a language of the voice gmw/en, not a voice name of its own.
      const british = yield* speech.synthesize({
        text: "Good day.",
        voice: "en-gb",
        output: path.join(dir, "gb.wav")
      })
      expect(british.voice).toBe("gmw/en")
      const variant = yield* speech.synthesize({
        text: "Hello.",
        voice: "en-us+f3",
        output: path.join(dir, "f3.wav")
      })
      expect(variant.voice).toBe("en-us+f3")

      const voices = yield* speech.voices
      expect(voices.length).toBeGreaterThan(50)
      expect(voices.some((voice) => voice.languages.includes("de"))).toBe(true)
    }))

  it.effect("fails with UnknownVoice naming an unknown voice, and writes nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const dir = yield* tempDir
      const output = path.join(dir, "never.wav")

      const error = yield* Effect.flip(speech.synthesize({ text: twoSentences, voice: "xx-klingon", output }))

      assert(error._tag === "UnknownVoice")
      expect(error.voice).toBe("xx-klingon")
      expect(error.message).toContain("xx-klingon")
      expect(yield* fs.exists(output)).toBe(false)
      expect(yield* fs.readDirectory(dir)).toEqual([])
    }))

  it.effect("refuses empty text and out-of-range rates with InvalidMediaInput naming the field", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const speech = yield* Speech.Speech
      const output = path.join(yield* tempDir, "x.wav")

      const empty = yield* Effect.flip(speech.synthesize({ text: " \n\n ", output }))
      assert(empty._tag === "InvalidMediaInput")
      expect(empty.field).toBe("text")

      const tooFast = yield* Effect.flip(speech.synthesize({ text: twoSentences, rate: 1_000, output }))
      assert(tooFast._tag === "InvalidMediaInput")
      expect(tooFast.field).toBe("rate")
    }))
})
