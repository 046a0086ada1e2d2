/**
 * The offline provider of the `thumbnail` stage (tier `local`): a 1280×720 PNG title card (the {@link TitleCard}
 * service) with the script's title and the channel's niche as its subtitle, its colours seeded by the channel's
 * id so that a channel keeps one look, at `scratch/thumbnail.png` (`image/png`). Its usage is the CPU time the
 * drawing took.
 *
 * @since 0.1.0
 */
import type { Provider } from "@ytempire/domain"
import { type Duration, Effect, FileSystem, Path } from "effect"
import * as TitleCard from "../media/TitleCard.ts"
import type * as Providers from "../Providers.ts"
import * as Shared from "./internal/shared.ts"

/**
 * The provider's name.
 *
 * @category constants
 */
export const name = "title-card"

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
export const fileName = "thumbnail.png"

/**
 * How the provider works: an artificial `latency` slept before each run.
 *
 * @category models
 */
export interface Options {
  readonly latency?: Duration.Input | undefined
}

/**
 * The provider, with the TitleCard service and the file system it uses.
 *
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Providers.StageProvider, never, TitleCard.TitleCard | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const cards = yield* TitleCard.TitleCard
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const who: Shared.Who = { provider: name, stage: "thumbnail" }

    const run = Effect.fn("TitleCardArtist.run")(function*(input: Providers.StageInput) {
      yield* Effect.annotateCurrentSpan({ "ytempire.video.id": input.videoId, "ytempire.channel.id": input.channel.id })
      yield* Shared.delay(options.latency)
      const [card, cpuMillis] = yield* Shared.timed(Effect.gen(function*() {
        const script = yield* Shared.readScript(who, fs, input)
        const output = yield* Shared.scratchFile(who, fs, path, input, fileName)
        return yield* cards.write(
          TitleCard.title({ title: script.title, subtitle: input.channel.niche, seed: input.channel.id }),
          output
        ).pipe(Effect.mapError(Shared.fromMedia(who, "could not draw the title card")))
      }))
      const value: Providers.ProducedFile = {
        path: card.path,
        mediaType: "image/png",
        details: { width: card.width, height: card.height, bytes: card.bytes }
      }
      return { value, usage: Shared.cpuUsage(cpuMillis) }
    })

    return { name, tier, stage: "thumbnail", run }
  })
