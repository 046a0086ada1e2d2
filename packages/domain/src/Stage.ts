/**
 * The stages of a video, in the order the pipeline runs them: script → voice → thumbnail → render → upload.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

/**
 * One step of the video pipeline.
 *
 * @category models
 */
export const Stage = Schema.Literals(["script", "voice", "thumbnail", "render", "upload"])
/** @category models */
export type Stage = typeof Stage.Type

/**
 * Every stage, in pipeline order.
 *
 * @category constants
 */
export const all: ReadonlyArray<Stage> = Stage.literals

/**
 * The stage that runs after `stage`, or `None` after the last one.
 *
 * @category utils
 */
export const next = (stage: Stage): Option.Option<Stage> => Option.fromUndefinedOr(all[all.indexOf(stage) + 1])

/**
 * Whether the stage needs a GPU lease when a GPU is present (image generation, video encoding, local models).
 *
 * @category utils
 */
export const usesGpu = (stage: Stage): boolean => stage === "thumbnail" || stage === "render"
