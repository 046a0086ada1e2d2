/**
 * The offline provider of the `script` stage (tier `local`): writes the video's script with the deterministic
 * {@link LocalScriptWriter} and stores it as the Script's JSON at `scratch/script.json` (`application/json`),
 * which every later stage reads. Its usage is the writer's: the CPU time the writing took.
 *
 * @since 0.1.0
 */
import type { Provider } from "@ytempire/domain"
import { type Duration, Effect, FileSystem, Path } from "effect"
import type * as Providers from "../Providers.ts"
import * as Script from "../Script.ts"
import * as Shared from "./internal/shared.ts"
import * as LocalScriptWriter from "./LocalScriptWriter.ts"

/**
 * The provider's name, as the provider chain and a video's stage record name it (the writer's).
 *
 * @category constants
 */
export const name = LocalScriptWriter.name

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
export const fileName = "script.json"

/**
 * How the provider works: an artificial `latency` slept before each run (for demos and fault tests), and the
 * narration's `targetWords` (see {@link LocalScriptWriter.Options}; a small target keeps narrations short).
 *
 * @category models
 */
export interface Options {
  readonly latency?: Duration.Input | undefined
  readonly targetWords?: number | undefined
}

/**
 * The provider, with the file system it writes through.
 *
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Providers.StageProvider, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const who: Shared.Who = { provider: name, stage: "script" }

    const run = Effect.fn("LocalScript.run")(function*(input: Providers.StageInput) {
      yield* Effect.annotateCurrentSpan({ "ytempire.video.id": input.videoId, "ytempire.channel.id": input.channel.id })
      yield* Shared.delay(options.latency)
      const output = yield* Shared.scratchFile(who, fs, path, input, fileName)
      const written = yield* LocalScriptWriter.write(
        { channel: input.channel, topic: input.topic, videoId: input.videoId },
        { targetWords: options.targetWords }
      )
      const json = yield* Shared.encodeScript(written.script).pipe(
        Effect.mapError((error) => Shared.unavailable(who, `the script does not encode: ${error.message}`, false))
      )
      yield* Shared.writeFileAtomically(who, output, new TextEncoder().encode(json), fs, path)
      const value: Providers.ProducedFile = {
        path: output,
        mediaType: "application/json",
        details: {
          title: written.script.title,
          language: written.script.language,
          scenes: written.script.scenes.length,
          characters: Script.characters(written.script)
        }
      }
      return { value, usage: written.usage }
    })

    return { name, tier, stage: "script", run }
  })
