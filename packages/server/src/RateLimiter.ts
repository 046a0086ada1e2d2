/**
 * The per-key request rate limit: a token bucket per API key that holds up to `burst` requests and refills at
 * `perSecond`. A request finding the bucket empty is refused with how long until a token is back.
 *
 * Two layers with the same behaviour: `layerMemory` (this process's buckets) and `layerRedis` (buckets in
 * Redis, shared by every server on it, so a key's rate is the same whichever server it reaches; the bucket's
 * arithmetic runs in one Lua script on Redis's clock, so concurrent requests cannot both take the last token).
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer } from "effect"
import type { Redis } from "ioredis"

/**
 * How fast a key may call.
 *
 * @category models
 */
export interface Rate {
  /** Requests per second, sustained. */
  readonly perSecond: number
  /** Requests at once after an idle spell. */
  readonly burst: number
}

/**
 * The outcome of one request: allowed, or refused with the milliseconds until it would be allowed.
 *
 * @category models
 */
export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMillis: number }

const allowedDecision: Decision = { allowed: true }

/**
 * The bucket's arithmetic, shared by the memory layer and (in Lua) the Redis one: what is left after a request
 * at `now`, given what was left at `last`.
 *
 * @category utils
 */
export const take = (
  rate: Rate,
  bucket: { readonly tokens: number; readonly at: number } | undefined,
  now: number
): { readonly bucket: { readonly tokens: number; readonly at: number }; readonly decision: Decision } => {
  const refilled = bucket === undefined
    ? rate.burst
    : Math.min(rate.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate.perSecond)
  if (refilled >= 1) return { bucket: { tokens: refilled - 1, at: now }, decision: allowedDecision }
  return {
    bucket: { tokens: refilled, at: now },
    decision: { allowed: false, retryAfterMillis: Math.ceil(((1 - refilled) / rate.perSecond) * 1000) }
  }
}

// KEYS[1]: the bucket; ARGV: per second, burst. Returns 0 when allowed, else the milliseconds to wait.
const script = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if state[1] then
  tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) / 1000 * rate)
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
`

/**
 * The rate limiter.
 *
 * @category services
 */
export class RateLimiter extends Context.Service<RateLimiter, {
  /** Takes one request of `key`'s allowance. */
  readonly take: (key: string) => Effect.Effect<Decision>
}>()("@ytempire/server/RateLimiter") {
  /**
   * Buckets in this process.
   *
   * @category layers
   */
  static readonly layerMemory = (rate: Rate): Layer.Layer<RateLimiter> =>
    Layer.sync(RateLimiter)(() => {
      const buckets = new Map<string, { readonly tokens: number; readonly at: number }>()
      return RateLimiter.of({
        take: (key) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            // Buckets full again carry no information: drop them now and then, so idle keys cost nothing.
            if (buckets.size > 50_000) {
              for (const [name, bucket] of buckets) {
                if (take(rate, bucket, now).bucket.tokens >= rate.burst - 1) buckets.delete(name)
              }
            }
            const next = take(rate, buckets.get(key), now)
            buckets.set(key, next.bucket)
            return next.decision
          })
      })
    })

  /**
   * Buckets in Redis (keys `ytempire:rate:<key>`, expiring once full again). When Redis fails, the request is
   * allowed and the failure logged: an outage of the limiter must not take the API down with it.
   *
   * @category layers
   */
  static readonly layerRedis = (rate: Rate, redis: Redis): Layer.Layer<RateLimiter> =>
    Layer.succeed(RateLimiter)(RateLimiter.of({
      take: (key) =>
        Effect.tryPromise(() => redis.eval(script, 1, `ytempire:rate:${key}`, rate.perSecond, rate.burst)).pipe(
          Effect.map((wait): Decision =>
            Number(wait) > 0 ? { allowed: false, retryAfterMillis: Number(wait) } : allowedDecision
          ),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning("rate limiter: Redis failed; allowing the request", error), allowedDecision)
          )
        )
    }))
}
