/**
 * The REST API, under `/api/v1`: every operation of the server as JSON over HTTP, for callers that do not speak
 * Effect RPC. This module is the contract only (no server code), so a client derives a typed client from it
 * (`HttpApiClient.make(RestApi.Api)`, with `Authentication` provided through `HttpApiMiddleware.layerClient`);
 * `RestHandlers` implements it over the server's operations.
 *
 * - Every route takes `Authorization: Bearer <key>`, except `GET /api/v1/openapi.json` and `GET /api/v1/docs`.
 * - Every error is a JSON object with the domain error's `_tag`, a `message` and the error's own fields
 *   (`channelId`, `scope`, `retryAfterSeconds`…). Bad input (path, query or body) is
 *   `{"_tag":"InvalidRequest","message":…,"field":"schedule.cron"}`, status 400.
 * - Statuses: InvalidRequest 400, Unauthorized 401, BudgetExceeded 402, Forbidden 403, ChannelNotFound,
 *   VideoNotFound and ApiKeyNotFound 404, ChannelPaused and QuotaExhausted 409, RateLimited 429 with a
 *   `Retry-After` header (seconds). A request body that is not JSON is 400, one that is too large 413, one of
 *   another content type 415; a path that is no route 404 — all with a JSON body.
 *
 * @since 0.1.0
 */
import { Auth, Budget, Channel, Errors, Gpu, Ids, Operations, Pagination, Quota, Video } from "@ytempire/domain"
import { Schema, SchemaTransformation } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { version } from "./Version.ts"

/**
 * Where the API lives.
 *
 * @category constants
 */
export const prefix = "/api/v1"

/**
 * The path of the OpenAPI document.
 *
 * @category constants
 */
export const openApiPath = `${prefix}/openapi.json` as const

/**
 * The path of the API's documentation page.
 *
 * @category constants
 */
export const docsPath = `${prefix}/docs` as const

// ---------------------------------------------------------------------------------------------------------------
// errors

/** A Schema tagged error class: its fields and its constructor. */
type ErrorClass = Schema.Top & {
  readonly identifier: string
  readonly fields: Schema.Struct.Fields
  new(props: any): { readonly message: string }
}

/**
 * The error as JSON with its `message` beside its fields. The domain errors whose message is derived from their
 * fields (ChannelNotFound, BudgetExceeded…) define it as a getter, which their schema does not encode; over HTTP a
 * client reads it from the body. Decoding drops the message again and rebuilds the error from its fields.
 */
const withMessage = <E extends ErrorClass>(error: E) => {
  const keys = Object.keys(error.fields)
  const encoded = Schema.Struct({ ...error.fields as E["fields"], message: Schema.String }).annotate({
    identifier: error.identifier
  })
  type Encoded = typeof encoded.Type
  return encoded.pipe(
    Schema.decodeTo(
      Schema.toType(error),
      SchemaTransformation.transform<E["Type"], Encoded>({
        decode: (input) => {
          const { message: _, ...fields } = input as Record<string, unknown>
          return new error(fields)
        },
        encode: (value) => {
          const fields: Record<string, unknown> = { message: (value as { readonly message: string }).message }
          for (const key of keys) {
            const field = (value as Record<string, unknown>)[key]
            if (field !== undefined) fields[key] = field
          }
          return fields as Encoded
        }
      })
    )
  )
}

/**
 * Bad input: a path parameter, query parameter or body field that does not decode (`field` names it), or a
 * request the operation refuses as it stands.
 *
 * @category errors
 */
export const InvalidRequest = Errors.InvalidRequest.pipe(HttpApiSchema.status(400))

/** @category errors */
export const Unauthorized = Errors.Unauthorized.pipe(HttpApiSchema.status(401))

/** @category errors */
export const Forbidden = Errors.Forbidden.pipe(HttpApiSchema.status(403))

/** @category errors */
export const ChannelNotFound = withMessage(Channel.ChannelNotFound).pipe(HttpApiSchema.status(404))

/** @category errors */
export const VideoNotFound = withMessage(Video.VideoNotFound).pipe(HttpApiSchema.status(404))

/** @category errors */
export const ApiKeyNotFound = withMessage(Auth.ApiKeyNotFound).pipe(HttpApiSchema.status(404))

/** @category errors */
export const ChannelPaused = withMessage(Channel.ChannelPaused).pipe(HttpApiSchema.status(409))

/** @category errors */
export const QuotaExhausted = withMessage(Quota.QuotaExhausted).pipe(HttpApiSchema.status(409))

/** @category errors */
export const BudgetExceeded = withMessage(Budget.BudgetExceeded).pipe(HttpApiSchema.status(402))

/**
 * Too many requests from this key: status 429, the delay in seconds both in the body (`retryAfterSeconds`) and
 * in the `Retry-After` header.
 *
 * @category errors
 */
export const RateLimited = Errors.RateLimited.pipe(
  HttpApiSchema.encodeToWithHeaders({
    body: Schema.Struct({
      _tag: Schema.Literal("RateLimited"),
      retryAfterSeconds: Schema.Int,
      message: Schema.String
    }).annotate({ identifier: "RateLimited" }).pipe(HttpApiSchema.status(429)),
    headers: { "retry-after": Schema.Int }
  }, {
    decode: ({ body }) => new Errors.RateLimited({ retryAfterSeconds: body.retryAfterSeconds }),
    encode: (error) => ({
      body: { _tag: "RateLimited" as const, retryAfterSeconds: error.retryAfterSeconds, message: error.message },
      headers: { "retry-after": error.retryAfterSeconds }
    })
  })
)

// ---------------------------------------------------------------------------------------------------------------
// middleware

/**
 * The caller: `Authorization: Bearer <key>` turned into the key's Principal, and the key's rate checked, on every
 * route. Clients provide the key with `HttpApiMiddleware.layerClient(Authentication, …)`.
 *
 * @category middleware
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, {
  provides: Auth.CurrentPrincipal
}>()("@ytempire/server/RestApi/Authentication", {
  security: { bearer: HttpApiSecurity.bearer },
  error: [Unauthorized, RateLimited],
  requiredForClient: true
}) {}

/**
 * Bad requests as the API's errors: a path, query or body that does not decode becomes InvalidRequest (400)
 * naming the field, instead of an empty 400.
 *
 * @category middleware
 */
export class RequestErrors extends HttpApiMiddleware.Service<RequestErrors>()(
  "@ytempire/server/RestApi/RequestErrors",
  { error: InvalidRequest }
) {}

// ---------------------------------------------------------------------------------------------------------------
// groups

const channelIdParams = { channelId: Ids.ChannelId }
const videoIdParams = { videoId: Ids.VideoId }

/**
 * `/channels`: register (idempotent by id), list, read, change, pause, resume and delete channels.
 *
 * @category groups
 */
export class ChannelsApi extends HttpApiGroup.make("channels")
  .add(
    HttpApiEndpoint.get("list", "/channels", {
      query: { status: Schema.optionalKey(Channel.ChannelStatus), ...Pagination.pageRequestFields },
      success: Channel.ChannelPage,
      error: Forbidden
    }),
    HttpApiEndpoint.post("create", "/channels", {
      payload: Channel.ChannelRegistration,
      success: Channel.Channel,
      error: Forbidden
    }),
    HttpApiEndpoint.get("get", "/channels/:channelId", {
      params: channelIdParams,
      success: Channel.Channel,
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.patch("update", "/channels/:channelId", {
      params: channelIdParams,
      payload: Channel.ChannelUpdate,
      success: Channel.Channel,
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.post("pause", "/channels/:channelId/pause", {
      params: channelIdParams,
      success: Channel.Channel,
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.post("resume", "/channels/:channelId/resume", {
      params: channelIdParams,
      success: Channel.Channel,
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.delete("delete", "/channels/:channelId", {
      params: channelIdParams,
      success: HttpApiSchema.NoContent,
      error: [ChannelNotFound, Forbidden]
    })
  )
  .annotateMerge(OpenApi.annotations({ title: "Channels", description: "One YouTube channel each" }))
{}

/**
 * `/videos`: ask for a video (202: accepted, made in the background), read it with its stage records, list,
 * cancel, and follow its progress as NDJSON.
 *
 * @category groups
 */
export class VideosApi extends HttpApiGroup.make("videos")
  .add(
    HttpApiEndpoint.get("list", "/videos", {
      query: {
        channelId: Schema.optionalKey(Ids.ChannelId),
        status: Schema.optionalKey(Video.VideoStatus),
        ...Pagination.pageRequestFields
      },
      success: Video.VideoPage,
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.post("generate", "/videos/generate", {
      payload: Video.VideoRequest,
      success: Video.Video.pipe(HttpApiSchema.status(202)),
      error: [ChannelNotFound, ChannelPaused, BudgetExceeded, QuotaExhausted, Forbidden]
    }),
    HttpApiEndpoint.get("get", "/videos/:videoId", {
      params: videoIdParams,
      success: Video.Video,
      error: [VideoNotFound, Forbidden]
    }),
    HttpApiEndpoint.post("cancel", "/videos/:videoId/cancel", {
      params: videoIdParams,
      success: Video.Video,
      error: [VideoNotFound, Forbidden]
    }),
    HttpApiEndpoint.get("events", "/videos/:videoId/events", {
      params: videoIdParams,
      success: HttpApiSchema.StreamNdjson({ schema: Video.VideoProgress }),
      error: [VideoNotFound, Forbidden]
    }).annotateMerge(OpenApi.annotations({
      description: "The video's progress as newline-delimited JSON: what happened so far, then each change as it " +
        "happens; the response ends after the final event (completed, failed or cancelled)."
    }))
  )
  .annotateMerge(OpenApi.annotations({ title: "Videos", description: "Videos and their progress" }))
{}

/**
 * `/budgets` and `/costs`: where each budget scope stands, the limits, and what was spent.
 *
 * @category groups
 */
export class BudgetsApi extends HttpApiGroup.make("budgets")
  .add(
    HttpApiEndpoint.get("status", "/budgets", {
      query: { channelId: Schema.optionalKey(Ids.ChannelId) },
      success: Schema.Array(Budget.BudgetStatus),
      error: [ChannelNotFound, Forbidden]
    }),
    HttpApiEndpoint.get("limits", "/budgets/limits", {
      success: Budget.BudgetLimits,
      error: Forbidden
    }),
    HttpApiEndpoint.put("setLimits", "/budgets/limits", {
      payload: Budget.BudgetLimitsUpdate,
      success: Budget.BudgetLimits,
      error: Forbidden
    }),
    HttpApiEndpoint.get("costs", "/costs", {
      query: { from: Budget.Day, to: Budget.Day, channelId: Schema.optionalKey(Ids.ChannelId) },
      success: Budget.CostReport,
      error: [ChannelNotFound, Forbidden]
    })
  )
  .annotateMerge(OpenApi.annotations({ title: "Budgets", description: "Budget scopes, limits and costs" }))
{}

/**
 * `/gpu` and `/status`: the GPUs as the scheduler sees them, and the service's own state.
 *
 * @category groups
 */
export class SystemApi extends HttpApiGroup.make("system")
  .add(
    HttpApiEndpoint.get("gpu", "/gpu", { success: Gpu.GpuStatus, error: Forbidden }),
    HttpApiEndpoint.get("status", "/status", { success: Operations.ServiceStatus, error: Forbidden })
  )
  .annotateMerge(OpenApi.annotations({ title: "System", description: "GPUs and service status" }))
{}

/**
 * `/keys`: the tenant's API keys, for its admins. The secret of a new key is in the response to its creation and
 * nowhere else.
 *
 * @category groups
 */
export class KeysApi extends HttpApiGroup.make("keys")
  .add(
    HttpApiEndpoint.post("create", "/keys", {
      payload: Auth.ApiKeyRequest,
      success: Auth.CreatedApiKey.pipe(HttpApiSchema.status(201)),
      error: Forbidden
    }),
    HttpApiEndpoint.get("list", "/keys", { success: Schema.Array(Auth.ApiKey), error: Forbidden }),
    HttpApiEndpoint.delete("revoke", "/keys/:keyId", {
      params: { keyId: Ids.ApiKeyId },
      success: Auth.ApiKey,
      error: [ApiKeyNotFound, Forbidden]
    })
  )
  .annotateMerge(OpenApi.annotations({ title: "API keys", description: "The tenant's API keys" }))
{}

/**
 * The whole REST API, under `/api/v1`, every route behind `Authentication`.
 *
 * @category api
 */
export class Api extends HttpApi.make("ytempire")
  .add(ChannelsApi)
  .add(VideosApi)
  .add(BudgetsApi)
  .add(SystemApi)
  .add(KeysApi)
  // The first middleware added runs innermost: authentication first, then decoding.
  .middleware(RequestErrors)
  .middleware(Authentication)
  .prefix(prefix)
  .annotateMerge(OpenApi.annotations({
    title: "ytempire",
    version,
    description: "The ytempire server's REST API. Every route takes `Authorization: Bearer <key>`; errors are JSON " +
      "with `_tag` and `message` (and `field` for bad input)."
  }))
{}
