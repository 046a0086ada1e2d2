/**
 * One way to run a stage's providers: try them in order from a starting tier down to the cheapest, each with a
 * timeout per attempt; retry an attempt that failed with a retryable error (a 429, a 5xx, a timeout) with
 * exponential backoff and jitter; move to the next provider at once on a non-retryable error or when the
 * retries are spent. Every attempt, with its error and the reason the chain came to its provider, is returned
 * so that the video's stage record keeps it; when every provider fails, the chain fails with `Video.StageFailed`
 * holding them all.
 *
 * The chain only ever falls back to the same or a cheaper tier, so the estimate reserved for the starting tier
 * covers whichever provider finally does the work. Budget refusals never reach the chain (they happen before
 * it, at reservation), so they are never retried.
 *
 * @since 0.1.0
 */
import { Provider, type Stage, Video } from "@ytempire/domain"
import type { Pricing } from "@ytempire/domain"
import { DateTime, Duration, Effect, Random } from "effect"
import * as PipelineMetrics from "./PipelineMetrics.ts"

/**
 * What a provider returns: its value and what it used, from which the actual cost is computed.
 *
 * @category models
 */
export interface Output<A> {
  readonly value: A
  readonly usage: Pricing.Usage
}

/**
 * A provider of one stage: a name (`openai:gpt-4`, `espeak-ng`), a tier and the work itself.
 *
 * @category models
 */
export interface StageProvider<I, A, R = never> {
  readonly name: string
  readonly tier: Provider.ProviderTier
  readonly run: (input: I) => Effect.Effect<Output<A>, Provider.ProviderUnavailable | Provider.StageTimeout, R>
}

/**
 * How hard to try: the timeout of one attempt, the attempts per provider, and the backoff between attempts
 * (`baseDelay × 2^(attempt−1)`, capped at `maxDelay`, then scaled by a random factor in [0.5, 1.5)).
 *
 * @category models
 */
export interface RetryPolicy {
  readonly attemptTimeout: Duration.Input
  readonly maxAttempts: number
  readonly baseDelay: Duration.Input
  readonly maxDelay: Duration.Input
}

/**
 * Two minutes an attempt, three attempts per provider, backoff from 500 ms up to 10 s.
 *
 * @category constants
 */
export const defaultPolicy: RetryPolicy = {
  attemptTimeout: "2 minutes",
  maxAttempts: 3,
  baseDelay: "500 millis",
  maxDelay: "10 seconds"
}

/**
 * The chain's result: the value, its usage, who produced it, and every attempt.
 *
 * @category models
 */
export interface ChainResult<A> extends Output<A> {
  readonly provider: string
  readonly tier: Provider.ProviderTier
  readonly attempts: ReadonlyArray<Video.ProviderAttempt>
}

const tierRank = (tier: Provider.ProviderTier): number => Provider.tiers.indexOf(tier)

/**
 * The providers to try, in order: those of `startTier` or cheaper, most expensive first (the order given keeps
 * its ties). When none is that cheap, the cheapest ones are used, so that a stage never has no provider.
 *
 * @category utils
 */
export const candidates = <P extends { readonly tier: Provider.ProviderTier }>(
  providers: ReadonlyArray<P>,
  startTier: Provider.ProviderTier
): ReadonlyArray<P> => {
  const sorted = providers
    .map((provider, index) => ({ provider, index }))
    .toSorted((a, b) => tierRank(a.provider.tier) - tierRank(b.provider.tier) || a.index - b.index)
    .map(({ provider }) => provider)
  const eligible = sorted.filter((provider) => tierRank(provider.tier) >= tierRank(startTier))
  if (eligible.length > 0) return eligible
  const cheapest = sorted.at(-1)?.tier
  return sorted.filter((provider) => provider.tier === cheapest)
}

/**
 * The tier a stage starts at: from the channel's quality preference (≥ 0.8 premium, ≥ 0.5 standard, ≥ 0.2
 * economy, else local), moved down to at least `economy` under soft budget control.
 *
 * @category utils
 */
export const startTier = (quality: number, softControl: boolean): Provider.ProviderTier => {
  const byQuality: Provider.ProviderTier = quality >= 0.8
    ? "premium"
    : quality >= 0.5
    ? "standard"
    : quality >= 0.2
    ? "economy"
    : "local"
  return softControl && tierRank(byQuality) < tierRank("economy") ? "economy" : byQuality
}

const backoff = Effect.fnUntraced(function*(policy: RetryPolicy, attempt: number) {
  const base = Duration.toMillis(Duration.fromInputUnsafe(policy.baseDelay))
  const cap = Duration.toMillis(Duration.fromInputUnsafe(policy.maxDelay))
  const exponential = Math.min(cap, base * 2 ** (attempt - 1))
  const factor = yield* Random.nextBetween(0.5, 1.5)
  return Duration.millis(Math.round(exponential * factor))
})

const recordError = (error: Provider.ProviderUnavailable | Provider.StageTimeout): Video.RecordedError =>
  new Video.RecordedError({ tag: error._tag, message: error.message, retryable: error.isRetryable })

/**
 * Runs `input` through the chain of `providers` for `stage`, starting at `options.startTier`.
 *
 * @category constructors
 */
export const run = Effect.fn("ProviderChain.run")(function*<I, A, R>(
  stage: Stage.Stage,
  providers: ReadonlyArray<StageProvider<I, A, R>>,
  input: I,
  options: {
    readonly startTier: Provider.ProviderTier
    readonly policy?: RetryPolicy | undefined
    /** Why the chain starts below the providers' best tier (e.g. "soft budget control"), for the first record. */
    readonly startReason?: string | undefined
  }
): Effect.fn.Return<ChainResult<A>, Video.StageFailed, R> {
  const policy = options.policy ?? defaultPolicy
  const timeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(policy.attemptTimeout))
  const attempts: Array<Video.ProviderAttempt> = []
  let fallbackReason: string | undefined = options.startReason
  for (const provider of candidates(providers, options.startTier)) {
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      const startedAt = yield* DateTime.now
      const result = yield* provider.run(input).pipe(
        Effect.timeoutOrElse({
          duration: policy.attemptTimeout,
          orElse: () => Effect.fail(new Provider.StageTimeout({ provider: provider.name, stage, timeoutMillis }))
        }),
        Effect.result,
        Effect.withSpan("ProviderChain.attempt", {
          attributes: {
            "ytempire.stage": stage,
            "ytempire.provider": provider.name,
            "ytempire.provider.tier": provider.tier,
            "ytempire.attempt": attempt,
            ...(fallbackReason === undefined ? {} : { "ytempire.fallback.reason": fallbackReason })
          }
        })
      )
      const endedAt = yield* DateTime.now
      const base = {
        provider: provider.name,
        tier: provider.tier,
        attempt,
        startedAt,
        endedAt,
        ...(fallbackReason === undefined ? {} : { fallbackReason })
      }
      fallbackReason = undefined
      if (result._tag === "Success") {
        attempts.push(new Video.ProviderAttempt({ ...base, outcome: "succeeded" }))
        yield* PipelineMetrics.providerAttempt(provider.name, "succeeded")
        return { ...result.success, provider: provider.name, tier: provider.tier, attempts }
      }
      const error = result.failure
      const outcome = error._tag === "StageTimeout" ? "timed-out" : "failed"
      attempts.push(new Video.ProviderAttempt({ ...base, outcome, error: recordError(error) }))
      yield* PipelineMetrics.providerAttempt(provider.name, outcome)
      if (!error.isRetryable || attempt === policy.maxAttempts) {
        fallbackReason = `${provider.name}: ${error.message}`
        break
      }
      yield* Effect.sleep(yield* backoff(policy, attempt))
    }
  }
  return yield* new Video.StageFailed({ stage, attempts })
})
