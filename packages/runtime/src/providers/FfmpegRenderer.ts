/**
 * The offline provider of the `render` stage (tier `local`): draws one scene card per scene of the script (the
 * {@link TitleCard} service: the scene's heading, its position, the video's title as a caption, coloured by the
 * channel's id) into the scratch directory, then renders them over the narration of the `voice` stage with
 * ffmpeg (the {@link Ffmpeg} service, libx264 + AAC on the CPU) into `scratch/video.mp4` (`video/mp4`,
 * 1280×720). Each scene lasts its share of the narration by its weight. Its usage is the CPU time the cards and
 * the render took.
 *
 * **Gotchas**
 *
 * - The provider carries a `gpu` job spec ({@link gpu}): what an NVENC render of the same video would lease. This
 *   CPU path does not use a GPU, but a runtime with a GPU scheduler acquires that lease around the stage all
 *   the same, so that swapping in a GPU renderer changes no scheduling.
 *
 * @since 0.1.0
 */
import { GpuJobSpec, type Provider } from "@ytempire/domain"
import { type Duration, Effect, FileSystem, Path } from "effect"
import * as Ffmpeg from "../media/Ffmpeg.ts"
import * as TitleCard from "../media/TitleCard.ts"
import type * as Providers from "../Providers.ts"
import * as Shared from "./internal/shared.ts"

/**
 * The provider's name.
 *
 * @category constants
 */
export const name = "ffmpeg-libx264"

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
export const fileName = "video.mp4"

/**
 * The GPU work an NVENC render would lease ({@link GpuJobSpec.nvencRender1080p}); the CPU path ignores it.
 *
 * @category constants
 */
export const gpu: GpuJobSpec.GpuJobSpec = GpuJobSpec.nvencRender1080p

/**
 * How the provider works: an artificial `latency` slept before each run, and the frame rate (30 when absent; a
 * video of still cards looks the same at a lower rate and renders faster).
 *
 * @category models
 */
export interface Options {
  readonly latency?: Duration.Input | undefined
  readonly fps?: number | undefined
}

/**
 * The provider, with the Ffmpeg and TitleCard services and the file system it uses.
 *
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Providers.StageProvider,
  never,
  Ffmpeg.Ffmpeg | TitleCard.TitleCard | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const ffmpeg = yield* Ffmpeg.Ffmpeg
    const cards = yield* TitleCard.TitleCard
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const who: Shared.Who = { provider: name, stage: "render" }

    const run = Effect.fn("FfmpegRenderer.run")(function*(input: Providers.StageInput) {
      yield* Effect.annotateCurrentSpan({ "ytempire.video.id": input.videoId, "ytempire.channel.id": input.channel.id })
      yield* Shared.delay(options.latency)
      const [video, cpuMillis] = yield* Shared.timed(Effect.gen(function*() {
        const script = yield* Shared.readScript(who, fs, input)
        const narration = yield* Shared.inputFile(who, fs, input, "voice")
        const output = yield* Shared.scratchFile(who, fs, path, input, fileName)
        const total = script.scenes.length
        const scenes = yield* Effect.forEach(script.scenes, (scene, i) =>
          cards.write(
            TitleCard.scene({
              text: scene.heading,
              index: i + 1,
              total,
              caption: script.title,
              seed: input.channel.id
            }),
            path.join(input.scratch, `scene-${String(i + 1).padStart(2, "0")}.png`)
          ).pipe(
            Effect.map((card) => ({ image: card.path, duration: scene.weight })),
            Effect.mapError(Shared.fromMedia(who, `could not draw the card of scene ${i + 1}`))
          ), { concurrency: 4 })
        return yield* ffmpeg.render({ scenes, narration, output, fps: options.fps }).pipe(
          Effect.mapError(Shared.fromMedia(who, "could not render the video"))
        )
      }))
      const value: Providers.ProducedFile = {
        path: video.path,
        mediaType: "video/mp4",
        details: {
          durationSeconds: video.durationSeconds,
          width: video.width,
          height: video.height,
          fps: video.fps,
          frames: video.frames,
          bytes: video.bytes
        }
      }
      return { value, usage: Shared.cpuUsage(cpuMillis) }
    })

    return { name, tier, stage: "render", gpu, run }
  })
