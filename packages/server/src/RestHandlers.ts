/**
 * The REST API's implementation: each route a thin adapter over `Operations`, the bearer middleware over
 * `Authenticator`, and the edges of HTTP turned into the API's JSON errors:
 *
 * - a path parameter, query or body that does not decode (effect's HttpApi answers those with an empty 400) is
 *   `{"_tag":"InvalidRequest","message":…,"field":…}`, 400;
 * - a body that is not JSON is InvalidRequest (400) without a field; one larger than {@link maxBodyBytes} is 413,
 *   one of another content type 415, both with an InvalidRequest body;
 * - a path under `/api/v1` that is no route is `{"_tag":"RouteNotFound",…}`, 404;
 * - an unexpected failure (a defect) is logged and answered `{"_tag":"InternalServerError",…}`, 500, nothing of
 *   its cause told to the caller.
 *
 * The OpenAPI document (`/api/v1/openapi.json`) and the docs page (`/api/v1/docs`, Scalar, its script served
 * inline, so it works offline) need no key.
 *
 * @since 0.1.0
 */
import { Auth, Errors } from "@ytempire/domain"
import { ByteSize, Cause, Effect, type FileSystem, Layer, type Path, Stream, type Types } from "effect"
import {
  type Etag,
  HttpIncomingMessage,
  type HttpPlatform,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { HttpApiBuilder, HttpApiError, HttpApiScalar } from "effect/http-api"
import * as Authenticator from "./Authenticator.ts"
import * as Operations from "./Operations.ts"
import * as RestApi from "./RestApi.ts"

/**
 * The largest request body the API reads.
 *
 * @category constants
 */
export const maxBodyBytes = 1024 * 1024

const maxBodySize = ByteSize.bytes(maxBodyBytes)

const errorResponse = (status: number, body: { readonly _tag: string; readonly message: string }) =>
  HttpServerResponse.jsonUnsafe(body, { status })

const tooLarge = errorResponse(413, {
  _tag: "InvalidRequest",
  message: `the request body is larger than ${maxBodyBytes} bytes`
}).pipe(HttpServerResponse.setHeader("connection", "close"))

/** The request slots whose decode failures are the caller's mistake (the others are the server's). */
const requestSlots: ReadonlySet<HttpApiError.HttpApiSchemaError["kind"]> = new Set([
  "Params",
  "Headers",
  "Query",
  "Payload"
])

/**
 * The server side of `RestApi.RequestErrors`: caps the body, and turns what effect's HttpApi answers with an
 * empty or plain-text 4xx into the API's JSON errors.
 */
const requestErrors = Layer.succeed(RestApi.RequestErrors)((httpEffect) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      Number(request.headers["content-length"] ?? 0) > maxBodyBytes
        ? Effect.succeed(tooLarge)
        : httpEffect.pipe(
          // A body of a content type the route does not take: effect answers 415 with plain text.
          Effect.map((response) =>
            response.status === 415
              ? errorResponse(415, {
                _tag: "InvalidRequest",
                message: `unsupported content type ${
                  JSON.stringify(request.headers["content-type"] ?? "")
                }; send application/json`
              })
              : response
          ),
          Effect.catch((error): Effect.Effect<never, Errors.InvalidRequest | Types.unhandled> =>
            HttpApiError.HttpApiSchemaError.is(error) && requestSlots.has(error.kind)
              ? Effect.fail(Errors.InvalidRequest.fromSchemaError(error.cause))
              : Effect.fail(error)
          ),
          Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize)
        )
  )
)

const internalError = errorResponse(500, { _tag: "InternalServerError", message: "internal server error" })

/**
 * Around each of the API's routes, after effect's HttpApi has turned the handler's errors into responses: a
 * body that could not be read (past the size cap without a content-length, or broken off) is the caller's
 * mistake; any other defect is logged and answered with a bare 500, nothing of its cause told to the caller.
 */
const defects = HttpRouter.middleware((httpEffect) =>
  Effect.catchDefect(
    httpEffect,
    (defect) =>
      HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError"
        ? Effect.succeed(
          defect.reason.reason === "BodyTooLarge"
            ? tooLarge
            : errorResponse(400, { _tag: "InvalidRequest", message: "the request body could not be read" })
        )
        : Effect.as(Effect.logError("REST request failed", Cause.die(defect)), internalError)
  )
).layer

/** The server side of `RestApi.Authentication`: the caller from the `Authorization` header. */
const authentication = Layer.effect(RestApi.Authentication)(Effect.gen(function*() {
  const authenticator = yield* Authenticator.Authenticator
  return RestApi.Authentication.of({
    bearer: (httpEffect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.flatMap(
          authenticator.authenticate(request.headers.authorization),
          (principal) => Effect.provideService(httpEffect, Auth.CurrentPrincipal, principal)
        ))
  })
}))

const channels = HttpApiBuilder.group(
  RestApi.Api,
  "channels",
  Effect.fnUntraced(function*(handlers) {
    const operations = yield* Operations.Operations
    return handlers.handleAll({
      list: ({ query }) => operations.listChannels(query),
      create: ({ payload }) => operations.registerChannel(payload),
      get: ({ params }) => operations.getChannel(params.channelId),
      update: ({ params, payload }) => operations.updateChannel(params.channelId, payload),
      pause: ({ params }) => operations.pauseChannel(params.channelId),
      resume: ({ params }) => operations.resumeChannel(params.channelId),
      delete: ({ params }) => operations.deleteChannel(params.channelId)
    })
  })
)

const videos = HttpApiBuilder.group(
  RestApi.Api,
  "videos",
  Effect.fnUntraced(function*(handlers) {
    const operations = yield* Operations.Operations
    return handlers.handleAll({
      list: ({ query }) => operations.listVideos(query),
      generate: ({ payload }) => operations.generateVideo(payload),
      get: ({ params }) => operations.getVideo(params.videoId),
      cancel: ({ params }) => operations.cancelVideo(params.videoId),
      events: ({ params }) =>
        Effect.gen(function*() {
          // Not found and forbidden are answered before the 200 and the stream start.
          yield* operations.getVideo(params.videoId)
          const principal = yield* Auth.CurrentPrincipal
          return operations.watchVideo(params.videoId).pipe(Stream.provideService(Auth.CurrentPrincipal, principal))
        })
    })
  })
)

const budgets = HttpApiBuilder.group(
  RestApi.Api,
  "budgets",
  Effect.fnUntraced(function*(handlers) {
    const operations = yield* Operations.Operations
    return handlers.handleAll({
      status: ({ query }) => operations.budgetStatus(query.channelId),
      limits: () => operations.budgetLimits,
      setLimits: ({ payload }) => operations.setBudgetLimits(payload),
      costs: ({ query }) => operations.costReport(query)
    })
  })
)

const system = HttpApiBuilder.group(
  RestApi.Api,
  "system",
  Effect.fnUntraced(function*(handlers) {
    const operations = yield* Operations.Operations
    return handlers.handleAll({
      gpu: () => operations.gpuStatus,
      status: () => operations.status
    })
  })
)

const keys = HttpApiBuilder.group(
  RestApi.Api,
  "keys",
  Effect.fnUntraced(function*(handlers) {
    const operations = yield* Operations.Operations
    return handlers.handleAll({
      create: ({ payload }) => operations.createApiKey(payload),
      list: () => operations.listApiKeys,
      revoke: ({ params }) => operations.revokeApiKey(params.keyId)
    })
  })
)

/** Any other path under the API's prefix: a JSON 404 rather than an empty one. */
const routeNotFound = HttpRouter.add("*", `${RestApi.prefix}/*`, (request) =>
  Effect.succeed(errorResponse(404, {
    _tag: "RouteNotFound",
    message: `no route ${request.method} ${request.url.split("?")[0]}`
  })))

/**
 * The REST API's routes, the OpenAPI document and the docs page, for `HttpRouter.serve`. The platform services
 * (`Etag.Generator`, `FileSystem`, `HttpPlatform`, `Path`) come with the HTTP server's layer
 * (`NodeHttpServer.layer`).
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  | HttpRouter.HttpRouter
  | Etag.Generator
  | FileSystem.FileSystem
  | HttpPlatform.HttpPlatform
  | Path.Path
  | Operations.Operations
  | Authenticator.Authenticator
> = Layer.mergeAll(
  HttpApiBuilder.layer(RestApi.Api, { openapiPath: RestApi.openApiPath }),
  HttpApiScalar.layer(RestApi.Api, { path: RestApi.docsPath, scalar: { withDefaultFonts: false } }),
  routeNotFound
).pipe(
  Layer.provide(defects),
  Layer.provide(
    Layer.mergeAll(channels, videos, budgets, system, keys).pipe(Layer.provide([authentication, requestErrors]))
  )
)
