/**
 * Who is calling, for RPC and REST alike: the `Authorization: Bearer <key>` header turned into the key's
 * Principal, and the key's request rate checked.
 *
 * @since 0.1.0
 */
import { Auth, Errors } from "@ytempire/domain"
import { Context, Effect, Layer, Option } from "effect"
import * as ApiKeys from "./ApiKeys.ts"
import * as RateLimiter from "./RateLimiter.ts"

const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i

/**
 * The token of an `Authorization: Bearer <token>` header, if it is one.
 *
 * @category utils
 */
export const bearerToken = (authorization: string | undefined): Option.Option<string> => {
  const match = authorization === undefined ? null : bearer.exec(authorization)
  return match === null ? Option.none() : Option.some(match[1]!)
}

/**
 * The authenticator.
 *
 * @category services
 */
export class Authenticator extends Context.Service<Authenticator, {
  /**
   * The caller of a request with this `Authorization` header: Unauthorized without a bearer key or with one
   * that matches no live key; RateLimited when the key is over its rate.
   */
  readonly authenticate: (
    authorization: string | undefined
  ) => Effect.Effect<Auth.Principal, Errors.Unauthorized | Errors.RateLimited>
}>()("@ytempire/server/Authenticator") {
  /**
   * Over the key store and the rate limiter.
   *
   * @category layers
   */
  static readonly layer: Layer.Layer<Authenticator, never, ApiKeys.ApiKeys | RateLimiter.RateLimiter> = Layer
    .effect(Authenticator)(Effect.gen(function*() {
      const keys = yield* ApiKeys.ApiKeys
      const limiter = yield* RateLimiter.RateLimiter
      return Authenticator.of({
        authenticate: Effect.fnUntraced(function*(authorization) {
          const token = bearerToken(authorization)
          if (Option.isNone(token)) {
            return yield* new Errors.Unauthorized({
              message: "missing API key: send the header \"Authorization: Bearer <key>\""
            })
          }
          const principal = yield* keys.authenticate(token.value)
          if (Option.isNone(principal)) {
            return yield* new Errors.Unauthorized({ message: "invalid or revoked API key" })
          }
          const decision = yield* limiter.take(principal.value.keyId)
          if (!decision.allowed) {
            return yield* new Errors.RateLimited({
              retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMillis / 1000))
            })
          }
          return principal.value
        })
      })
    }))
}
