/**
 * The errors the media layer shares: a tool (espeak-ng, sharp, ffmpeg, ffprobe, the file system) that failed,
 * and input the caller got wrong. The errors of one tool's own inputs live with it (`UnknownVoice` in Speech,
 * `MissingInput` in Ffmpeg). Providers translate these into `Provider.ProviderUnavailable` at their edge.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The tools the media layer drives.
 *
 * @category models
 */
export const MediaTool = Schema.Literals(["espeak-ng", "sharp", "ffmpeg", "ffprobe", "filesystem"])
/** @category models */
export type MediaTool = typeof MediaTool.Type

/**
 * A media tool failed: it could not be loaded or started, it exited with an error (`message` then ends with the
 * tail of what it wrote to stderr), or a file could not be written. Nothing is left at the output path.
 *
 * @category errors
 */
export class MediaError extends Schema.TaggedError<MediaError>()("MediaError", {
  tool: MediaTool,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

/**
 * The caller's input cannot be rendered: `field` names the offending option (`"text"`, `"rate"`, `"scenes"`),
 * `message` says what is wrong. Retrying the same input fails the same way.
 *
 * @category errors
 */
export class InvalidMediaInput extends Schema.TaggedError<InvalidMediaInput>()("InvalidMediaInput", {
  field: Schema.String,
  message: Schema.String
}) {}
