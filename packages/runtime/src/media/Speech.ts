/**
 * Speech: text to a narration WAV file (mono, 16-bit PCM at espeak-ng's 22,050 Hz) with espeak-ng compiled to
 * WebAssembly, so the offline voice provider needs no native install. The module is loaded once per layer
 * (about 25 MB of voice data) and its calls are serialised: espeak-ng keeps the current voice and rate as global
 * state, so two narrations must not interleave.
 *
 * @since 0.1.0
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Effect, FileSystem, Layer, Option, Path, Schema, Semaphore } from "effect"
import { writeFileAtomically } from "../internal/atomicFile.ts"
import { InvalidMediaInput, MediaError } from "./MediaError.ts"

/**
 * The sample rate of every file Speech writes: espeak-ng's native rate.
 *
 * @category constants
 */
export const sampleRate = 22_050

/**
 * The voice used when a request names none.
 *
 * @category constants
 */
export const defaultVoice = "en-us"

/**
 * The speaking rate used when a request names none, in words per minute (espeak-ng's default).
 *
 * @category constants
 */
export const defaultRate = 175

/**
 * The slowest and fastest speaking rates espeak-ng accepts, in words per minute.
 *
 * @category constants
 */
export const rateRange = { min: 80, max: 450 } as const

/**
 * No espeak-ng voice or language is called `voice`.
 *
 * @category errors
 */
export class UnknownVoice extends Schema.TaggedError<UnknownVoice>()("UnknownVoice", {
  voice: Schema.String
}) {
  override get message(): string {
    return `espeak-ng has no voice or language called ${JSON.stringify(this.voice)}`
  }
}

/**
 * A voice espeak-ng can speak with: its display `name`, the `identifier` that selects it exactly
 * (`"gmw/en-GB-x-rp"`) and the language codes it speaks (`["en-gb-x-rp", "en-gb", "en"]`).
 *
 * @category models
 */
export class Voice extends Schema.Class<Voice>("@ytempire/runtime/media/Speech/Voice")({
  name: Schema.String,
  identifier: Schema.String,
  languages: Schema.Array(Schema.String)
}) {}

/**
 * What to say and where to write it.
 *
 * - `voice`: a language code (`"en"`, `"en-us"`, `"en-gb"`, `"de"`), a voice identifier (`"gmw/en-GB-x-rp"`),
 *   optionally with an espeak-ng variant (`"en-us+f3"`); `"en-us"` when absent.
 * - `rate`: words per minute, 80 to 450; 175 when absent.
 * - `pitch`: 0 to 99; 50 when absent.
 *
 * @category models
 */
export interface SpeechRequest {
  readonly text: string
  readonly output: string
  readonly voice?: string | undefined
  readonly rate?: number | undefined
  readonly pitch?: number | undefined
}

/**
 * A narration that was written: its path, its size in bytes, its exact duration (the sample count over the
 * sample rate) and the voice that spoke it.
 *
 * @category models
 */
export class Narration extends Schema.Class<Narration>("@ytempire/runtime/media/Speech/Narration")({
  path: Schema.String,
  bytes: Schema.Int,
  samples: Schema.Int,
  sampleRate: Schema.Int,
  durationSeconds: Schema.Number,
  voice: Schema.String
}) {}

/**
 * Text to speech with espeak-ng.
 *
 * @category services
 */
export class Speech extends Context.Service<Speech, {
  /**
   * Speaks `text` into a WAV file at `output`, written atomically (a failure or an interruption leaves nothing
   * there). Text is spoken literally: `<`, `&` and quotes are read, not taken as markup.
   */
  readonly synthesize: (
    request: SpeechRequest
  ) => Effect.Effect<Narration, UnknownVoice | InvalidMediaInput | MediaError>
  /** The voices this espeak-ng build has. */
  readonly voices: Effect.Effect<ReadonlyArray<Voice>>
}>()("@ytempire/runtime/media/Speech") {
  /**
   * Speech on the espeak-ng WebAssembly module, loaded when the layer is built. Needs a FileSystem and a Path.
   *
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<Speech, MediaError, FileSystem.FileSystem | Path.Path> = Layer.effect(
    Speech,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const worker = yield* Effect.acquireRelease(loadWorker, (loaded) => Effect.sync(() => loaded.__destroy__()))
      const engineRate = worker.get_samplerate()
      if (engineRate !== sampleRate) {
        return yield* new MediaError({
          tool: "espeak-ng",
          message: `espeak-ng reports a sample rate of ${engineRate} Hz, expected ${sampleRate} Hz`
        })
      }
      const voices: ReadonlyArray<Voice> = worker.list_voices().map((voice) =>
        new Voice({
          name: voice.name,
          identifier: voice.identifier,
          languages: voice.languages.map((language) => language.name)
        })
      )
      const lock = yield* Semaphore.make(1)

      // The name to give espeak-ng for a requested voice: the name itself when espeak-ng knows it, otherwise
      // the voice that speaks it as a language with the best (lowest) priority ("en-gb" is "gmw/en").
      const selectVoice = (requested: string): Option.Option<string> => {
        if (requested.trim() === "" || requested.trim() !== requested) return Option.none()
        if (worker.set_voice(requested) === 0) return Option.some(requested)
        const plus = requested.indexOf("+")
        const language = (plus < 0 ? requested : requested.slice(0, plus)).toLowerCase()
        const variant = plus < 0 ? "" : requested.slice(plus)
        let best: { readonly identifier: string; readonly priority: number } | undefined
        for (const voice of worker.list_voices()) {
          for (const spoken of voice.languages) {
            if (spoken.name.toLowerCase() === language && (best === undefined || spoken.priority < best.priority)) {
              best = { identifier: voice.identifier, priority: spoken.priority }
            }
          }
        }
        if (best === undefined) return Option.none()
        const name = `${best.identifier}${variant}`
        return worker.set_voice(name) === 0 ? Option.some(name) : Option.none()
      }

      const speakParagraph = (paragraph: string, into: Array<Int16Array>) =>
        Effect.try({
          try: () =>
            worker.synthesize(escapeForSsml(paragraph), (samples) => {
              into.push(samples)
              return false
            }),
          catch: (cause) => new MediaError({ tool: "espeak-ng", message: "espeak-ng failed while speaking", cause })
        })

      const synthesize = Effect.fn("Speech.synthesize")(
        function*(request: SpeechRequest): Effect.fn.Return<Narration, UnknownVoice | InvalidMediaInput | MediaError> {
          const voice = request.voice ?? defaultVoice
          const rate = request.rate ?? defaultRate
          const pitch = request.pitch ?? 50
          yield* Effect.annotateCurrentSpan({ voice, rate, characters: request.text.length })
          const paragraphs = toParagraphs(request.text)
          if (paragraphs.length === 0) {
            return yield* new InvalidMediaInput({
              field: "text",
              message: "there is nothing to say: the text is empty"
            })
          }
          if (!Number.isFinite(rate) || rate < rateRange.min || rate > rateRange.max) {
            return yield* new InvalidMediaInput({
              field: "rate",
              message: `rate must be between ${rateRange.min} and ${rateRange.max} words per minute, got ${rate}`
            })
          }
          if (!Number.isInteger(pitch) || pitch < 0 || pitch > 99) {
            return yield* new InvalidMediaInput({ field: "pitch", message: `pitch must be 0 to 99, got ${pitch}` })
          }
          if (path.extname(request.output).toLowerCase() !== ".wav") {
            return yield* new InvalidMediaInput({ field: "output", message: "the output must be a .wav file" })
          }

          // espeak-ng holds the voice and rate globally: select them and speak under one permit. Speaking is
          // synchronous, so the text goes paragraph by paragraph with a yield between, not blocking the event
          // loop for the whole of a long narration at once.
          const chunks: Array<Int16Array> = []
          const selected = yield* lock.withPermits(1)(Effect.gen(function*() {
            const choice = selectVoice(voice)
            if (Option.isNone(choice)) return yield* new UnknownVoice({ voice })
            worker.set_rate(Math.round(rate))
            worker.set_pitch(pitch)
            for (const paragraph of paragraphs) {
              yield* speakParagraph(paragraph, chunks)
              yield* Effect.yieldNow
            }
            return choice.value
          }))

          const samples = concatSamples(chunks)
          const wav = encodeWav(samples, sampleRate)
          yield* writeFileAtomically(request.output, wav).pipe(
            Effect.provideService(FileSystem.FileSystem, fs),
            Effect.provideService(Path.Path, path)
          )
          const narration = new Narration({
            path: request.output,
            bytes: wav.byteLength,
            samples: samples.length,
            sampleRate,
            durationSeconds: samples.length / sampleRate,
            voice: selected
          })
          yield* Effect.annotateCurrentSpan({ durationSeconds: narration.durationSeconds })
          return narration
        }
      )

      return Speech.of({ synthesize, voices: Effect.succeed(voices) })
    })
  )

  /**
   * Speech with Node's file system.
   *
   * @category layers
   */
  static readonly layer: Layer.Layer<Speech, MediaError> = Speech.layerNoDeps.pipe(
    Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
  )
}

/**
 * A WAV file (RIFF/WAVE, PCM, mono, 16-bit little-endian) holding `samples`.
 *
 * @category utils
 */
export const encodeWav = (samples: Int16Array, rate: number): Uint8Array => {
  const dataBytes = samples.length * 2
  const bytes = new Uint8Array(44 + dataBytes)
  const view = new DataView(bytes.buffer)
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i))
  }
  ascii(0, "RIFF")
  view.setUint32(4, 36 + dataBytes, true)
  ascii(8, "WAVE")
  ascii(12, "fmt ")
  view.setUint32(16, 16, true) // size of the fmt chunk
  view.setUint16(20, 1, true) // PCM
  view.setUint16(22, 1, true) // mono
  view.setUint32(24, rate, true)
  view.setUint32(28, rate * 2, true) // bytes per second
  view.setUint16(32, 2, true) // bytes per frame
  view.setUint16(34, 16, true) // bits per sample
  ascii(36, "data")
  view.setUint32(40, dataBytes, true)
  for (const [i, sample] of samples.entries()) view.setInt16(44 + 2 * i, sample, true)
  return bytes
}

// -----------------------------------------------------------------------------
// espeak-ng
// -----------------------------------------------------------------------------

// The part of the Emscripten module's API that Speech uses (the package ships no type declarations).
interface EspeakWorker {
  set_voice(name: string): number
  set_rate(wordsPerMinute: number): void
  set_pitch(pitch: number): void
  get_samplerate(): number
  list_voices(): ReadonlyArray<{
    readonly name: string
    readonly identifier: string
    readonly languages: ReadonlyArray<{ readonly name: string; readonly priority: number }>
  }>
  /** Calls `onAudio` with each chunk of samples; returning `true` from it aborts. */
  synthesize(text: string, onAudio: (samples: Int16Array, events: ReadonlyArray<unknown>) => boolean): void
  __destroy__(): void
}

interface EspeakModule {
  readonly eSpeakNGWorker: new() => EspeakWorker
}

const espeakPackage: string = "@echogarden/espeak-ng-emscripten"

const failed = (cause: unknown) =>
  new MediaError({ tool: "espeak-ng", message: `could not load ${espeakPackage}`, cause })

const loadWorker: Effect.Effect<EspeakWorker, MediaError> = Effect.gen(function*() {
  // A specifier TypeScript cannot resolve, as the package has no declarations; checked below.
  const imported: unknown = yield* Effect.tryPromise({ try: () => import(espeakPackage), catch: failed })
  const factory = (imported as { readonly default?: unknown } | undefined)?.default
  if (typeof factory !== "function") return yield* failed(new Error("the package exports no module factory"))
  const module: unknown = yield* Effect.tryPromise({
    try: () => factory({ print: ignoreOutput, printErr: ignoreOutput }) as Promise<unknown>,
    catch: failed
  })
  const Worker = (module as Partial<EspeakModule> | undefined)?.eSpeakNGWorker
  if (typeof Worker !== "function") return yield* failed(new Error("the module has no eSpeakNGWorker"))
  return yield* Effect.try({ try: () => new Worker(), catch: failed })
})

// Emscripten's print hooks: espeak-ng's own messages are not wanted on the console.
const ignoreOutput = (): void => {}

// -----------------------------------------------------------------------------
// text
// -----------------------------------------------------------------------------

// Paragraphs of speakable text: control characters (a NUL would end the C string) become spaces, unpaired
// surrogates become U+FFFD, and blank lines separate paragraphs.
const toParagraphs = (text: string): Array<string> => {
  let cleaned = ""
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0
    if (code >= 0xd800 && code <= 0xdfff) cleaned += "\uFFFD"
    else if ((code < 0x20 && char !== "\n" && char !== "\t") || code === 0x7f) cleaned += char === "\r" ? "\n" : " "
    else cleaned += char
  }
  return cleaned.split(/\n[ \t]*\n/).map((paragraph) => paragraph.trim()).filter((paragraph) => paragraph !== "")
}

// espeak-ng reads its input as SSML here: escaped, markup-like text is spoken rather than dropped.
const escapeForSsml = (text: string): string =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const concatSamples = (chunks: ReadonlyArray<Int16Array>): Int16Array => {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
  const samples = new Int16Array(total)
  let offset = 0
  for (const chunk of chunks) {
    samples.set(chunk, offset)
    offset += chunk.length
  }
  return samples
}
