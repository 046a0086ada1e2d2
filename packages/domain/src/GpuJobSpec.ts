/**
 * GPU job specifications: what a job asks of a GPU before it runs. The VRAM scheduler leases memory by
 * `vramMiB`, packs jobs by `computeShare`, keeps a loaded model warm for jobs with the same `modelKey`, counts
 * NVENC sessions by `encoderSessions`, and queues by `priority` (see the Priority module).
 *
 * All figures are the caller's estimates; the scheduler never over-commits VRAM or encoder sessions against
 * them. A request that could never fit on any usable device fails at once with {@link GpuRequestTooLarge}
 * rather than waiting forever.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaAST } from "effect"
import * as Priority from "./Priority.ts"

/**
 * What kind of work a GPU job does: a local language model, speech synthesis, image generation, a video
 * render, an encode, or anything else.
 *
 * @category models
 */
export const GpuJobKind = Schema.Literals(["llm", "tts", "image", "render", "encode", "other"]).annotate({
  message: `kind must be one of "llm", "tts", "image", "render", "encode" or "other"`
})
/** @category models */
export type GpuJobKind = typeof GpuJobKind.Type

const positiveInt = (name: string) => {
  const message = `${name} must be a positive integer`
  return Schema.Number.annotate({ message }).check(
    Schema.isInt({ message }),
    Schema.isGreaterThan(0, { message })
  )
}

const nonNegativeInt = (name: string) => {
  const message = `${name} must be a non-negative integer`
  return Schema.Number.annotate({ message }).check(
    Schema.isInt({ message }),
    Schema.isGreaterThanOrEqualTo(0, { message })
  )
}

const seconds = (name: string, minimum: SchemaAST.Filter<number>) => {
  const message = `${name} must be a finite number of seconds`
  return Schema.Number.annotate({ message }).check(Schema.isFinite({ message }), minimum)
}

const computeShareMessage = "computeShare must be a number greater than 0 and at most 1"

/**
 * What one GPU job needs.
 *
 * - `vramMiB`: the most video memory the job holds at once, in MiB (model weights included).
 * - `estimatedSeconds`: how long the job runs when it has the GPU to itself, without loading its model.
 * - `computeShare`: the fraction of the GPU's compute the job uses when alone, greater than 0 and at most 1
 *   (an NVENC encode, which runs on the separate encoder, uses little; a diffusion model uses all of it).
 * - `modelKey`: jobs with the same key can share one loaded model; absent when there is no model to share.
 * - `modelLoadSeconds`: the time to load that model when it is not already loaded (0 by default).
 * - `encoderSessions`: concurrent NVENC sessions the job opens (0 by default). GeForce drivers allow 8 at
 *   once; the drivers of professional and data-centre cards set no such cap.
 *
 * **Gotchas**: `vramMiB` is mebibytes (1 GiB = 1,024 MiB), as `nvidia-smi` reports them, not gigabytes.
 *
 * @category models
 */
export class GpuJobSpec extends Schema.Class<GpuJobSpec>("@ytempire/domain/GpuJobSpec/GpuJobSpec")({
  kind: GpuJobKind,
  vramMiB: positiveInt("vramMiB"),
  estimatedSeconds: seconds(
    "estimatedSeconds",
    Schema.isGreaterThan(0, { message: "estimatedSeconds must be a positive number of seconds" })
  ),
  computeShare: Schema.Number.annotate({ message: computeShareMessage }).check(
    Schema.isFinite({ message: computeShareMessage }),
    Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMinimum: true }, { message: computeShareMessage })
  ),
  priority: Priority.PriorityClass.annotate({
    message: `priority must be one of "critical", "high", "normal" or "low"`
  }),
  modelKey: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty({ message: "modelKey must not be empty" }))),
  modelLoadSeconds: seconds(
    "modelLoadSeconds",
    Schema.isGreaterThanOrEqualTo(0, { message: "modelLoadSeconds must not be negative" })
  ).pipe(Schema.withConstructorDefault(Effect.succeed(0)), Schema.withDecodingDefaultKey(Effect.succeed(0))),
  encoderSessions: nonNegativeInt("encoderSessions").pipe(
    Schema.withConstructorDefault(Effect.succeed(0)),
    Schema.withDecodingDefaultKey(Effect.succeed(0))
  )
}) {}

// ---------------------------------------------------------------------------------------------------------------
// presets

/**
 * A typical thumbnail: one 1024×1024 SDXL 1.0 image in fp16. The weights alone are about 7 GB (a 2.6-billion
 * parameter UNet, two text encoders and the VAE); with the VAE decoding in slices a run commonly peaks around
 * 9 GB, so 9 GiB is reserved. The 6 seconds match the pricing plan's `imageGpuMillis`; loading the model
 * from a local disk takes roughly 10 seconds. Typical published figures, not measured here: measure on the
 * target card and override.
 *
 * @category constants
 */
export const sdxlThumbnail: GpuJobSpec = new GpuJobSpec({
  kind: "image",
  vramMiB: 9 * 1024,
  estimatedSeconds: 6,
  computeShare: 1,
  priority: "normal",
  modelKey: "sdxl-base-1.0-fp16",
  modelLoadSeconds: 10
})

/**
 * A typical 1080p render: ffmpeg compositing on the GPU and encoding with one NVENC (`h264_nvenc`) session;
 * frames, filters and encoder surfaces take up to about 2 GiB. The encoder is a separate unit, so the job
 * uses a small share of the GPU's compute. The 354 seconds match the pricing plan's `renderMillis`.
 * Typical figures, not measured here: measure on the target card and override.
 *
 * @category constants
 */
export const nvencRender1080p: GpuJobSpec = new GpuJobSpec({
  kind: "render",
  vramMiB: 2 * 1024,
  estimatedSeconds: 354,
  computeShare: 0.25,
  priority: "normal",
  encoderSessions: 1
})

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * The job asks for more than any usable GPU can give: more VRAM than the largest device has free of its
 * reserve (`largestUsableMiB`) or, when `encoderSessions` and `encoderSessionLimit` are given, more NVENC
 * sessions than a device allows. It would wait forever, so it fails at once. Never retried: the same request
 * fails the same way until the inventory changes.
 *
 * @category errors
 */
export class GpuRequestTooLarge extends Schema.TaggedError<GpuRequestTooLarge>()("GpuRequestTooLarge", {
  kind: GpuJobKind,
  requestedMiB: Schema.Int,
  largestUsableMiB: Schema.Int,
  encoderSessions: Schema.optionalKey(Schema.Int),
  encoderSessionLimit: Schema.optionalKey(Schema.Int)
}) {
  /** The same request cannot succeed on the same GPUs. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    const vram =
      `the ${this.kind} job needs ${this.requestedMiB} MiB of VRAM and the largest usable GPU has ${this.largestUsableMiB} MiB`
    const sessions = this.encoderSessions !== undefined && this.encoderSessionLimit !== undefined
      ? `; it opens ${this.encoderSessions} NVENC sessions and a GPU allows ${this.encoderSessionLimit}`
      : ""
    return `GPU request too large: ${vram}${sessions}`
  }
}

/**
 * The GPU queue is full: `queued` jobs already wait for a lease and the scheduler admits at most `limit`
 * (admission control), so this one is refused at once rather than queued. Retryable: the queue drains as leases
 * end; back off before asking again.
 *
 * @category errors
 */
export class GpuQueueFull extends Schema.TaggedError<GpuQueueFull>()("GpuQueueFull", {
  kind: GpuJobKind,
  queued: Schema.Int,
  limit: Schema.Int
}) {
  /** The queue drains as running jobs end. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `GPU queue full: ${this.queued} jobs are waiting for a GPU lease (the limit is ${this.limit}); ` +
      `the ${this.kind} job was refused, try again later`
  }
}
