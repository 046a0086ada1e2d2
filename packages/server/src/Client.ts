/**
 * A typed client of the server's RPC API, for programs that drive a ytempire server: every RPC of
 * `YtempireRpcs` as a method (`client.GenerateVideo({ channelId, topic })`, `client.WatchVideo({ videoId })` a
 * Stream), with the API key sent on every call.
 *
 * ```ts
 * import { YtempireClient } from "@ytempire/server/client"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* YtempireClient
 *   const video = yield* client.GenerateVideo({ channelId, topic: "Five phones under $300" })
 *   yield* client.WatchVideo({ videoId: video.id }).pipe(Stream.runForEach((progress) => Console.log(progress.event)))
 * }).pipe(Effect.provide(YtempireClient.layer({ url: "http://localhost:8000", key })))
 * ```
 *
 * This module imports only effect and @ytempire/domain (fetch and the global WebSocket), never the server or
 * the runtime, so a client program pulls in neither.
 *
 * **Gotchas**
 *
 * - Over HTTP each call is its own request, with NDJSON bodies, so a `WatchVideo` stream delivers each event
 *   as it happens; a stream lasts as long as its HTTP response.
 * - Over WebSocket every call of the client shares one connection, opened on the first call; a connection
 *   that drops fails the calls in flight (they are not retried).
 * - A call fails with the RPC's errors, `Unauthorized` / `RateLimited` from the server's authentication, or an
 *   `RpcClientError` when the server cannot be reached or answers with something that is not the API.
 *
 * @since 0.1.0
 */
import { Auth, Rpcs } from "@ytempire/domain"
import { Context, Layer, Redacted } from "effect"
import { FetchHttpClient, Headers } from "effect/http"
import { RpcClient, type RpcClientError, RpcMiddleware, RpcSerialization } from "effect/rpc"
import { Socket } from "effect/socket"

/**
 * Where the server is and who calls it.
 *
 * @category models
 */
export interface Options {
  /** The server's base URL, e.g. `http://localhost:8000` (the RPC API is at `/rpc` and `/rpc/ws` under it). */
  readonly url: string
  /** The API key (its secret), sent as `Authorization: Bearer <key>` on every call. */
  readonly key: string | Redacted.Redacted<string>
  /** `http` (the default): a request per call; `websocket`: one connection for every call. */
  readonly transport?: "http" | "websocket" | undefined
}

/**
 * The client side of `Auth.Authentication`: puts the key in the `authorization` header of every call.
 *
 * @category layers
 */
export const layerAuthentication = (
  key: string | Redacted.Redacted<string>
): Layer.Layer<RpcMiddleware.ForClient<Auth.Authentication>> => {
  const authorization = `Bearer ${Redacted.isRedacted(key) ? Redacted.value(key) : key}`
  return RpcMiddleware.layerClient(
    Auth.Authentication,
    ({ next, request }) => next({ ...request, headers: Headers.set(request.headers, "authorization", authorization) })
  )
}

const baseUrl = (url: string) => url.replace(/\/+$/, "")

/**
 * The RPC transport for the options: HTTP with NDJSON bodies at `<url>/rpc`, or a WebSocket with JSON messages
 * at `<url>/rpc/ws` (`ws:` / `wss:` from `http:` / `https:`).
 *
 * @category layers
 */
export const layerProtocol = (options: Options): Layer.Layer<RpcClient.Protocol> =>
  options.transport === "websocket"
    ? RpcClient.layerProtocolSocket().pipe(
      Layer.provide(
        Socket.layerWebSocket(`${baseUrl(options.url).replace(/^http/i, "ws")}/rpc/ws`).pipe(
          Layer.provide(Socket.layerWebSocketConstructorGlobal)
        )
      ),
      Layer.provide(RpcSerialization.layerJson)
    )
    : RpcClient.layerProtocolHttp({ url: `${baseUrl(options.url)}/rpc` }).pipe(
      Layer.provide([FetchHttpClient.layer, RpcSerialization.layerNdjson])
    )

/**
 * The ytempire RPC client.
 *
 * @category services
 */
export class YtempireClient extends Context.Service<
  YtempireClient,
  RpcClient.FromGroup<typeof Rpcs.YtempireRpcs, RpcClientError.RpcClientError>
>()("@ytempire/server/Client/YtempireClient") {
  /**
   * A client of the server at `url`, calling with `key`, over HTTP unless `transport` says `websocket`.
   *
   * @category layers
   */
  static readonly layer = (options: Options): Layer.Layer<YtempireClient> =>
    Layer.effect(YtempireClient)(RpcClient.make(Rpcs.YtempireRpcs)).pipe(
      Layer.provide([layerProtocol(options), layerAuthentication(options.key)])
    )
}
