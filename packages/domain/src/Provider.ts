/**
 * Providers: the services that do a stage's work (a script writer, a narrator, a thumbnail artist, a
 * renderer, a publisher), each of a tier. The runtime chains them per stage and falls back tier by tier; at
 * soft budget control it starts from the cheaper tiers.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as StageModule from "./Stage.ts"

/**
 * How good and how expensive a provider is: `premium` (GPT-4, ElevenLabs), `standard` (GPT-3.5, Google TTS),
 * `economy` (the cheapest cloud option) and `local` (on this machine: a local model, espeak-ng, ffmpeg).
 *
 * @category models
 */
export const ProviderTier = Schema.Literals(["premium", "standard", "economy", "local"])
/** @category models */
export type ProviderTier = typeof ProviderTier.Type

/**
 * The tiers from most to least expensive.
 *
 * @category constants
 */
export const tiers: ReadonlyArray<ProviderTier> = ProviderTier.literals

/**
 * A provider could not do the work. `retryable` says whether the same provider may succeed on another
 * attempt (a 429 or a 5xx, a dropped connection) or not (a rejected request, a missing credential), in which
 * case the chain moves on to the next provider at once.
 *
 * @category errors
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  provider: Schema.String,
  stage: StageModule.Stage,
  reason: Schema.String,
  retryable: Schema.Boolean
}) {
  /** Whether another attempt at the same provider may succeed. */
  get isRetryable(): boolean {
    return this.retryable
  }
  override get message(): string {
    return `${this.provider} could not run the ${this.stage} stage: ${this.reason}`
  }
}

/**
 * One attempt at a stage took longer than its timeout. Retryable: the next attempt may be faster.
 *
 * @category errors
 */
export class StageTimeout extends Schema.TaggedError<StageTimeout>()("StageTimeout", {
  provider: Schema.String,
  stage: StageModule.Stage,
  timeoutMillis: Schema.Int
}) {
  /** A timed-out attempt may be retried. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `${this.provider} did not finish the ${this.stage} stage within ${this.timeoutMillis} ms`
  }
}
