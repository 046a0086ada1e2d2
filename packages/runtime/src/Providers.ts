/**
 * The ports of the five stages: each stage is a service holding its chain of providers, most expensive first
 * (ScriptWriter, Narrator, ThumbnailArtist, Renderer, Publisher). Every provider has the same shape: it gets the
 * video's context and the files of the stages before it, does its work (in a scratch directory when it needs
 * files), and hands back one file or its bytes (the script's JSON, the narration's WAV, the thumbnail's PNG, the
 * video's MP4, the publication's metadata JSON) with what it used, from which the actual cost is computed. The
 * pipeline stores that file in the artifact store, so the next stage (and a resumed pipeline) finds it by content.
 *
 * Cloud providers (OpenAI, ElevenLabs, the YouTube Data API) plug in as more entries of the same chains.
 *
 * @since 0.1.0
 */
import type { Channel, GpuJobSpec, Ids, Stage } from "@ytempire/domain"
import type { Device } from "@ytempire/gpu"
import { Context, Effect } from "effect"
import type * as ProviderChain from "./ProviderChain.ts"

/**
 * A file a provider made in its scratch directory, with its media type and any facts worth keeping
 * (a narration's duration, a publication's id).
 *
 * @category models
 */
export interface ProducedFile {
  readonly path: string
  readonly mediaType: string
  readonly details?: Readonly<Record<string, string | number | boolean>> | undefined
}

/**
 * Bytes a provider made in memory (a script's JSON, a publication record), with its media type: stored as they
 * are, without a scratch file in between.
 *
 * @category models
 */
export interface ProducedBytes {
  readonly bytes: Uint8Array
  readonly mediaType: string
  readonly details?: Readonly<Record<string, string | number | boolean>> | undefined
}

/**
 * What a provider hands back: a file in its scratch directory, or bytes.
 *
 * @category models
 */
export type StageOutput = ProducedFile | ProducedBytes

/**
 * What a stage's provider works from.
 *
 * @category models
 */
export interface StageInput {
  readonly channel: Channel.Channel
  readonly videoId: Ids.VideoId
  readonly topic: string
  /**
   * A directory of its own, removed after the stage; the produced file must be inside it. It does not exist
   * until the provider creates it (most stages of most providers need no files but the one they hand back).
   */
  readonly scratch: string
  /** The absolute paths of the files of the stages already done. */
  readonly inputs: Readonly<Partial<Record<Stage.Stage, string>>>
  /**
   * The GPU lease the runtime holds for this attempt, when the provider declares `gpu` and a GPU scheduler is
   * configured: run GPU work on `gpu.device` (e.g. with `GpuProcess.run`), within `gpu.vramMiB`.
   */
  readonly gpu?: Device.GpuLease | undefined
}

/**
 * A provider of a stage. `gpu`, when present, is the GPU work it needs: the runtime acquires a VRAM lease
 * for it around each attempt's `run` when a GPU scheduler is configured (and hands it over as `input.gpu`); a
 * request no GPU can hold, or a full queue, fails the attempt like an unavailable provider, so the chain moves
 * on (to a CPU provider after it, typically). The wait for the lease counts toward the attempt's timeout.
 *
 * @category models
 */
export interface StageProvider extends ProviderChain.StageProvider<StageInput, StageOutput> {
  readonly stage: Stage.Stage
  readonly gpu?: GpuJobSpec.GpuJobSpec | undefined
}

/**
 * A stage's chain of providers.
 *
 * @category models
 */
export interface Chain {
  readonly providers: ReadonlyArray<StageProvider>
}

/**
 * The script stage: title, description, tags, narration and scenes, as the runtime's Script JSON.
 *
 * @category services
 */
export class ScriptWriter extends Context.Service<ScriptWriter, Chain>()("@ytempire/runtime/Providers/ScriptWriter") {}

/**
 * The voice stage: the narration as a WAV file.
 *
 * @category services
 */
export class Narrator extends Context.Service<Narrator, Chain>()("@ytempire/runtime/Providers/Narrator") {}

/**
 * The thumbnail stage: a 1280×720 PNG.
 *
 * @category services
 */
export class ThumbnailArtist
  extends Context.Service<ThumbnailArtist, Chain>()("@ytempire/runtime/Providers/ThumbnailArtist")
{}

/**
 * The render stage: an H.264 + AAC MP4 of scene cards over the narration.
 *
 * @category services
 */
export class Renderer extends Context.Service<Renderer, Chain>()("@ytempire/runtime/Providers/Renderer") {}

/**
 * The upload stage: publishes the video and thumbnail with YouTube-style metadata, counting quota against the
 * channel's account; its file is the publication record (JSON).
 *
 * @category services
 */
export class Publisher extends Context.Service<Publisher, Chain>()("@ytempire/runtime/Providers/Publisher") {}

/**
 * The chain of a stage, from the stage's service.
 *
 * @category accessors
 */
export const chainOf = Effect.fnUntraced(function*(stage: Stage.Stage) {
  switch (stage) {
    case "script":
      return yield* ScriptWriter
    case "voice":
      return yield* Narrator
    case "thumbnail":
      return yield* ThumbnailArtist
    case "render":
      return yield* Renderer
    case "upload":
      return yield* Publisher
  }
})
