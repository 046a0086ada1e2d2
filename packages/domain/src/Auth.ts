/**
 * Who is calling: every RPC and REST call carries an API key (`Authorization: Bearer <key>`) bound to one
 * tenant and one role. The server's Authentication middleware turns the key into a Principal that handlers
 * read from `CurrentPrincipal`; a tenant only ever sees its own channels, videos and budgets.
 *
 * Roles: `admin` may do everything, including managing keys; `operator` may change channels, videos and
 * budgets but not keys; `viewer` may only read.
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"
import { Rpc, RpcGroup, RpcMiddleware } from "effect/rpc"
import * as Errors from "./Errors.ts"
import * as Ids from "./Ids.ts"
import * as Text from "./Text.ts"

/**
 * What a key may do.
 *
 * @category models
 */
export const Role = Schema.Literals(["admin", "operator", "viewer"])
/** @category models */
export type Role = typeof Role.Type

/**
 * An action, for role checks.
 *
 * @category models
 */
export type Permission = "read" | "write" | "manage-keys"

const grants: Record<Role, ReadonlyArray<Permission>> = {
  admin: ["read", "write", "manage-keys"],
  operator: ["read", "write"],
  viewer: ["read"]
}

/**
 * Whether a role grants a permission.
 *
 * @category utils
 */
export const allows = (role: Role, permission: Permission): boolean => grants[role].includes(permission)

/**
 * The authenticated caller.
 *
 * @category models
 */
export class Principal extends Schema.Class<Principal>("@ytempire/domain/Auth/Principal")({
  keyId: Ids.ApiKeyId,
  tenantId: Ids.TenantId,
  role: Role
}) {}

/**
 * The caller of the request being handled, provided by the Authentication middleware.
 *
 * @category services
 */
export class CurrentPrincipal extends Context.Service<CurrentPrincipal, Principal>()(
  "@ytempire/domain/Auth/CurrentPrincipal"
) {}

/**
 * The RPC middleware that authenticates every call. The server implements it (checking the bearer key and the
 * key's rate limit); clients provide the key through `RpcMiddleware.layerClient`.
 *
 * @category middleware
 */
export class Authentication extends RpcMiddleware.Service<Authentication, {
  provides: CurrentPrincipal
}>()("@ytempire/domain/Auth/Authentication", {
  error: Schema.Union([Errors.Unauthorized, Errors.RateLimited]),
  requiredForClient: true
}) {}

// ---------------------------------------------------------------------------------------------------------------
// API keys

/**
 * An API key as it is listed: never its secret, which only `CreateApiKey` returns, once.
 *
 * @category models
 */
export class ApiKey extends Schema.Class<ApiKey>("@ytempire/domain/Auth/ApiKey")({
  id: Ids.ApiKeyId,
  tenantId: Ids.TenantId,
  role: Role,
  name: Schema.optionalKey(Schema.String),
  createdAt: Schema.DateTimeUtcFromString,
  revokedAt: Schema.optionalKey(Schema.DateTimeUtcFromString)
}) {}

/**
 * A new key and its secret (the bearer token), shown this once: only its hash is stored.
 *
 * @category models
 */
export class CreatedApiKey extends Schema.Class<CreatedApiKey>("@ytempire/domain/Auth/CreatedApiKey")({
  key: ApiKey,
  secret: Schema.String
}) {}

/**
 * What a new key is for: its role, and a name to recognise it by. The tenant is the caller's.
 *
 * @category models
 */
export class ApiKeyRequest extends Schema.Class<ApiKeyRequest>("@ytempire/domain/Auth/ApiKeyRequest")({
  role: Role,
  name: Schema.optionalKey(
    Schema.String.check(
      Schema.isMaxLength(100, { message: "name must be at most 100 characters" }),
      Text.noControlCharacters("name")
    )
  )
}) {}

/**
 * No key with this id is visible to the caller.
 *
 * @category errors
 */
export class ApiKeyNotFound extends Schema.TaggedError<ApiKeyNotFound>()("ApiKeyNotFound", {
  keyId: Schema.String
}) {
  override get message(): string {
    return `API key ${this.keyId} not found`
  }
}

/**
 * The key operations, for admins of a tenant: create (the secret is returned once), list and revoke.
 *
 * @category rpc
 */
export class ApiKeyRpcs extends RpcGroup.make(
  Rpc.make("CreateApiKey", {
    payload: ApiKeyRequest,
    success: CreatedApiKey,
    error: Schema.Union([Errors.InvalidRequest, Errors.Forbidden])
  }),
  Rpc.make("ListApiKeys", { success: Schema.Array(ApiKey), error: Errors.Forbidden }),
  Rpc.make("RevokeApiKey", {
    payload: { keyId: Ids.ApiKeyId },
    success: ApiKey,
    error: Schema.Union([ApiKeyNotFound, Errors.Forbidden])
  })
) {}
