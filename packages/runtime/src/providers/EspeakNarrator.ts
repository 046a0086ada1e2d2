/**
 * The offline provider of the `voice` stage (tier `local`): speaks the script's narration with espeak-ng (the
 * {@link Speech} service) into `scratch/narration.wav` (`audio/wav`, mono 16-bit 22,050 Hz). Its usage is the
 * CPU time the speaking took, measured with the `Clock`.
 *
 * The voice follows the script's language: the language tag itself (`"de"`, `"en-gb"`), then its primary
 * language (`"es"` for `"es-MX"`), then espeak-ng's default voice ({@link Speech.defaultVoice}) when espeak-ng
 * speaks neither. The file's details say which voice spoke.
 *
 * @since 0.1.0
 */
import type { Provider } from "@ytempire/domain"
import { type Duration, Effect, FileSystem, Path } from "effect"
import * as Speech from "../media/Speech.ts"
import type * as Providers from "../Providers.ts"
import * as Script from "../Script.ts"
import * as Shared from "./internal/shared.ts"

/**
 * The provider's name.
 *
 * @category constants
 */
export const name = "espeak-ng"

/**
 * The provider's tier.
 *
 * @category constants
 */
export const tier = "local" satisfies Provider.ProviderTier

/**
 * The name of the file it writes in the scratch directory.
 *
 * @category constants
 */
export const fileName = "narration.wav"

/**
 * How the provider works: an artificial `latency` slept before each run, and the speaking `rate` in words per
 * minute (espeak-ng's 175 when absent; see {@link Speech.rateRange}).
 *
 * @category models
 */
export interface Options {
  readonly latency?: Duration.Input | undefined
  readonly rate?: number | undefined
}

/**
 * The voices to try for a language, best first: the tag, its primary language, the default voice.
 *
 * @category utils
 */
export const voicesFor = (language: string): ReadonlyArray<string> => {
  const tag = language.toLowerCase()
  const primary = tag.split("-")[0] ?? tag
  return [...new Set([tag, primary, Speech.defaultVoice])]
}

/**
 * The provider, with the Speech service and the file system it uses.
 *
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Providers.StageProvider, never, Speech.Speech | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const speech = yield* Speech.Speech
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const who: Shared.Who = { provider: name, stage: "voice" }

    // Speaks with the first voice espeak-ng has; UnknownVoice moves on to the next candidate.
    const speak = (text: string, output: string, voices: ReadonlyArray<string>): Effect.Effect<
      Speech.Narration,
      Speech.UnknownVoice | Shared.AnyMediaError
    > => {
      const [voice, ...rest] = voices
      const attempt = speech.synthesize({ text, output, voice, rate: options.rate })
      return rest.length === 0 ? attempt : attempt.pipe(
        Effect.catchTag("UnknownVoice", () => speak(text, output, rest))
      )
    }

    const run = Effect.fn("EspeakNarrator.run")(function*(input: Providers.StageInput) {
      yield* Effect.annotateCurrentSpan({ "ytempire.video.id": input.videoId, "ytempire.channel.id": input.channel.id })
      yield* Shared.delay(options.latency)
      const [spoken, cpuMillis] = yield* Shared.timed(Effect.gen(function*() {
        const script = yield* Shared.readScript(who, fs, input)
        const output = yield* Shared.scratchFile(who, fs, path, input, fileName)
        return yield* speak(Script.narrationText(script), output, voicesFor(script.language)).pipe(
          Effect.mapError(Shared.fromMedia(who, "espeak-ng could not speak the narration")),
          Effect.map((narration) => ({ narration, characters: Script.characters(script) }))
        )
      }))
      const value: Providers.ProducedFile = {
        path: spoken.narration.path,
        mediaType: "audio/wav",
        details: {
          durationSeconds: spoken.narration.durationSeconds,
          voice: spoken.narration.voice,
          characters: spoken.characters
        }
      }
      return { value, usage: Shared.cpuUsage(cpuMillis) }
    })

    return { name, tier, stage: "voice", run }
  })
