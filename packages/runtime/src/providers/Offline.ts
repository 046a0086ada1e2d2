/**
 * The default chains: one offline provider per stage, needing no network, no account and no GPU.
 *
 * | stage     | provider                                   | file                                  |
 * | --------- | ------------------------------------------ | ------------------------------------- |
 * | script    | {@link LocalScript} (templates)            | `script.json`                         |
 * | voice     | {@link EspeakNarrator} (espeak-ng, WASM)   | `narration.wav`                       |
 * | thumbnail | {@link TitleCardArtist} (sharp)            | `thumbnail.png`, 1280×720             |
 * | render    | {@link FfmpegRenderer} (ffmpeg, libx264)   | `video.mp4`, 1280×720 H.264 + AAC     |
 * | upload    | {@link LocalPublisher} (a directory)       | `publication.json`                    |
 *
 * All are of the `local` tier. Each can be slowed by an artificial latency per stage, for demos and fault tests
 * (a latency longer than the chain's attempt timeout makes the stage time out). Every failure of a provider is
 * a `Provider.ProviderUnavailable`: not retryable when its input is wrong or missing, retryable when a tool or
 * the disk failed.
 *
 * **When to use**
 *
 * `layer` for a runtime with no cloud providers (the embedded default, tests, demos); `layerNoDeps` to share
 * the media services (Speech loads about 25 MB of WebAssembly) with other layers. To mix offline and cloud
 * providers in one chain, build the chain from the providers' `make` functions instead.
 *
 * @since 0.1.0
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import type { Quota, Stage } from "@ytempire/domain"
import { type Duration, Effect, type FileSystem, Layer, type Path } from "effect"
import * as Ffmpeg from "../media/Ffmpeg.ts"
import type { MediaError } from "../media/MediaError.ts"
import * as Speech from "../media/Speech.ts"
import * as TitleCard from "../media/TitleCard.ts"
import * as Providers from "../Providers.ts"
import * as EspeakNarrator from "./EspeakNarrator.ts"
import * as FfmpegRenderer from "./FfmpegRenderer.ts"
import * as LocalPublisher from "./LocalPublisher.ts"
import * as LocalScript from "./LocalScript.ts"
import * as TitleCardArtist from "./TitleCardArtist.ts"

/**
 * The offline chains' settings:
 *
 * - `dataDir`: where the publisher writes `published/<videoId>/`;
 * - `latency`: an artificial delay per stage, slept before the provider's work;
 * - `privacyStatus`, `categoryId`, `containsSyntheticMedia`, `accounts`: the publisher's (see
 *   {@link LocalPublisher.Options});
 * - `targetWords`: the script's length (see {@link LocalScript.Options});
 * - `speechRate`: the narration's words per minute (see {@link EspeakNarrator.Options});
 * - `fps`: the render's frame rate (see {@link FfmpegRenderer.Options}).
 *
 * @category models
 */
export interface Options {
  readonly dataDir: string
  readonly latency?: Readonly<Partial<Record<Stage.Stage, Duration.Input>>> | undefined
  readonly privacyStatus?: LocalPublisher.PrivacyStatus | undefined
  readonly categoryId?: string | undefined
  readonly containsSyntheticMedia?: boolean | undefined
  readonly accounts?: ReadonlyArray<Quota.AccountQuota> | undefined
  readonly targetWords?: number | undefined
  readonly speechRate?: number | undefined
  readonly fps?: number | undefined
}

/**
 * The five stage services.
 *
 * @category models
 */
export type Services =
  | Providers.ScriptWriter
  | Providers.Narrator
  | Providers.ThumbnailArtist
  | Providers.Renderer
  | Providers.Publisher

/**
 * The media services and file system the offline providers use.
 *
 * @category models
 */
export type Requirements =
  | Speech.Speech
  | TitleCard.TitleCard
  | Ffmpeg.Ffmpeg
  | FileSystem.FileSystem
  | Path.Path

const chain = (provider: Providers.StageProvider): Providers.Chain => ({ providers: [provider] })

/**
 * The five stages, one offline provider each, on media services the caller provides.
 *
 * @category layers
 */
export const layerNoDeps = (options: Options): Layer.Layer<Services, never, Requirements> => {
  const latency = options.latency ?? {}
  return Layer.mergeAll(
    Layer.effect(
      Providers.ScriptWriter,
      Effect.map(LocalScript.make({ latency: latency.script, targetWords: options.targetWords }), chain)
    ),
    Layer.effect(
      Providers.Narrator,
      Effect.map(EspeakNarrator.make({ latency: latency.voice, rate: options.speechRate }), chain)
    ),
    Layer.effect(
      Providers.ThumbnailArtist,
      Effect.map(TitleCardArtist.make({ latency: latency.thumbnail }), chain)
    ),
    Layer.effect(
      Providers.Renderer,
      Effect.map(FfmpegRenderer.make({ latency: latency.render, fps: options.fps }), chain)
    ),
    Layer.effect(
      Providers.Publisher,
      Effect.map(
        LocalPublisher.make({
          dataDir: options.dataDir,
          privacyStatus: options.privacyStatus,
          categoryId: options.categoryId,
          containsSyntheticMedia: options.containsSyntheticMedia,
          accounts: options.accounts,
          latency: latency.upload
        }),
        chain
      )
    )
  )
}

/**
 * The media services on Node: espeak-ng (loaded when built), sharp, ffmpeg and ffprobe, and the file system.
 *
 * @category layers
 */
export const mediaLayer: Layer.Layer<Requirements, MediaError> = Layer.mergeAll(
  Speech.Speech.layer,
  TitleCard.TitleCard.layer,
  Ffmpeg.Ffmpeg.layer,
  NodeFileSystem.layer,
  NodePath.layer
)

/**
 * The five stages, one offline provider each, with the media services on Node. Fails to build with a
 * `MediaError` when espeak-ng or sharp cannot be loaded.
 *
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Services, MediaError> =>
  layerNoDeps(options).pipe(Layer.provide(mediaLayer))
