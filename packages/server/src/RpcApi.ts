/**
 * The RPC API on the server's HTTP router: the handlers of every RPC of `YtempireRpcs` (thin adapters over
 * `Operations`), the server side of the `Auth.Authentication` middleware (over `Authenticator`), and the routes
 * that serve them:
 *
 * - `POST /rpc`: one HTTP request per call (or batch). The body's content type picks the serialization:
 *   `application/x-ndjson` (or `application/ndjson`) streams the responses, one JSON line each, as they happen,
 *   so `WatchVideo` reports progress live; anything else is read as `application/json`, which answers once, with
 *   every response of the request in one array (a `WatchVideo` over JSON waits for the video to be final).
 * - `GET /rpc/ws`: a WebSocket carrying JSON messages, many calls and streams on one connection.
 *
 * Every call carries `Authorization: Bearer <key>` (in the RPC message's headers, or the HTTP request's, which
 * the server merges into each message); without a live key it fails with `Unauthorized`, over the key's rate with
 * `RateLimited`.
 *
 * **Gotchas**
 *
 * An infrastructure failure (a defect: a database down, a bug) never reaches the client as it is: it is logged
 * here with its cause, and the client's call dies with a bare "internal server error", so no SQL, connection
 * string or stack crosses the wire. Such a failure ends only its own call, never the other calls of the
 * connection.
 *
 * @since 0.1.0
 */
import { Auth, Errors, Rpcs } from "@ytempire/domain"
import { ByteSize, Effect, Layer, Stream } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  type HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { type Rpc, type RpcGroup, RpcSerialization, RpcServer } from "effect/rpc"
import * as Authenticator from "./Authenticator.ts"
import * as Operations from "./Operations.ts"

/**
 * The path of the HTTP protocol (POST).
 *
 * @category constants
 */
export const httpPath = "/rpc"

/**
 * The path of the WebSocket protocol (GET, upgraded).
 *
 * @category constants
 */
export const websocketPath = "/rpc/ws"

/**
 * The handler services of every RPC of the API.
 *
 * @category models
 */
export type Handlers = Rpc.ToHandler<RpcGroup.Rpcs<typeof Rpcs.YtempireRpcs>>

/**
 * Reading is every role's right, so the role check of a read cannot refuse: the read RPCs do not list
 * `Forbidden`, and were it to happen it would be a bug, a defect.
 */
const read = <A, E, R>(
  effect: Effect.Effect<A, E | Errors.Forbidden, R>
): Effect.Effect<A, Exclude<E, Errors.Forbidden>, R> =>
  Effect.catchIf<A, E | Errors.Forbidden, R, Errors.Forbidden, never, never, never>(
    effect,
    (error) => error instanceof Errors.Forbidden,
    (error) => Effect.die(error)
  )

/**
 * The handlers: each RPC is one `Operations` member, which checks the caller's role and tenant.
 *
 * @category layers
 */
export const layerHandlers: Layer.Layer<Handlers, never, Operations.Operations> = Rpcs.YtempireRpcs.toLayer(
  Effect.gen(function*() {
    const operations = yield* Operations.Operations
    return Rpcs.YtempireRpcs.of({
      RegisterChannel: (registration) => operations.registerChannel(registration),
      ListChannels: (request) => operations.listChannels(request).pipe(read),
      GetChannel: ({ channelId }) => operations.getChannel(channelId).pipe(read),
      UpdateChannel: ({ channelId, update }) => operations.updateChannel(channelId, update),
      PauseChannel: ({ channelId }) => operations.pauseChannel(channelId),
      ResumeChannel: ({ channelId }) => operations.resumeChannel(channelId),
      DeleteChannel: ({ channelId }) => operations.deleteChannel(channelId),
      GenerateVideo: (request) => operations.generateVideo(request),
      GetVideo: ({ videoId }) => operations.getVideo(videoId).pipe(read),
      ListVideos: (request) => operations.listVideos(request).pipe(read),
      CancelVideo: ({ videoId }) => operations.cancelVideo(videoId),
      WatchVideo: ({ videoId }) => operations.watchVideo(videoId).pipe(Stream.catchTag("Forbidden", Stream.die)),
      GetBudgetStatus: ({ channelId }) => operations.budgetStatus(channelId).pipe(read),
      GetBudgetLimits: () => operations.budgetLimits.pipe(read),
      SetBudgetLimits: (update) => operations.setBudgetLimits(update),
      GetCostReport: (request) => operations.costReport(request).pipe(read),
      GetGpuStatus: () => operations.gpuStatus.pipe(read),
      GetStatus: () => operations.status.pipe(read),
      CreateApiKey: (request) => operations.createApiKey(request),
      ListApiKeys: () => operations.listApiKeys,
      RevokeApiKey: ({ keyId }) => operations.revokeApiKey(keyId)
    })
  })
)

/** What a client sees of a defect. Not an Error: an Error would carry its cause and name across the wire. */
const internalError = "internal server error"

/**
 * The server side of `Auth.Authentication`: the `authorization` header of the call turned into its
 * `Auth.CurrentPrincipal` (or `Unauthorized` / `RateLimited`), and the call's defects logged and hidden.
 *
 * @category layers
 */
export const layerAuthentication: Layer.Layer<Auth.Authentication, never, Authenticator.Authenticator> = Layer
  .effect(Auth.Authentication)(Effect.gen(function*() {
    const authenticator = yield* Authenticator.Authenticator
    return Auth.Authentication.of((effect, { headers, rpc }) =>
      authenticator.authenticate(headers["authorization"]).pipe(
        Effect.flatMap((principal) => Effect.provideService(effect, Auth.CurrentPrincipal, principal)),
        Effect.catchDefect((defect) =>
          Effect.logError(`RPC ${rpc._tag} failed`, defect).pipe(Effect.andThen(Effect.die(internalError)))
        )
      )
    )
  }))

const ndjsonContentType = /^application\/(x-)?ndjson\b/i

/**
 * The largest RPC request body (and WebSocket message) read: 1 MiB, like the REST API's.
 *
 * @category constants
 */
export const maxBodyBytes = 1024 * 1024

const tooLarge = HttpServerResponse.jsonUnsafe(
  { _tag: "InvalidRequest", message: `the request body is larger than ${maxBodyBytes} bytes or could not be read` },
  { status: 413 }
).pipe(HttpServerResponse.setHeader("connection", "close"))

const serverOptions = {
  // A defect of one call is that call's failure, not the end of every call of the connection.
  disableFatalDefects: true
} as const

/**
 * Mounts the RPC server on the HttpRouter: `POST /rpc` (JSON or NDJSON by the body's content type) and
 * `GET /rpc/ws` (WebSocket, JSON). Merge it into the application given to `HttpRouter.serve`.
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpRouter.HttpRouter | Operations.Operations | Authenticator.Authenticator
> = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const json = yield* RpcServer.toHttpEffect(Rpcs.YtempireRpcs, serverOptions).pipe(
    Effect.provideService(RpcSerialization.RpcSerialization, RpcSerialization.json)
  )
  const ndjson = yield* RpcServer.toHttpEffect(Rpcs.YtempireRpcs, serverOptions).pipe(
    Effect.provideService(RpcSerialization.RpcSerialization, RpcSerialization.ndjson)
  )
  const websocket = yield* RpcServer.toHttpEffectWebsocket(Rpcs.YtempireRpcs, serverOptions).pipe(
    Effect.provideService(RpcSerialization.RpcSerialization, RpcSerialization.json)
  )
  yield* router.add(
    "POST",
    httpPath,
    (request: HttpServerRequest.HttpServerRequest) =>
      // The body is read before any call is authenticated: cap it, as the REST API does.
      Number(request.headers["content-length"] ?? 0) > maxBodyBytes
        ? Effect.succeed(tooLarge)
        : (ndjsonContentType.test(request.headers["content-type"] ?? "") ? ndjson : json).pipe(
          Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
          Effect.catchDefect((defect) =>
            HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError"
              ? Effect.succeed(tooLarge)
              : Effect.die(defect)
          )
        )
  )
  yield* router.add("GET", websocketPath, websocket)
})).pipe(
  Layer.provide([layerHandlers, layerAuthentication])
)
