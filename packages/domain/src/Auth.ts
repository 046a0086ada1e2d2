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
import { RpcMiddleware } from "effect/rpc"
import * as Errors from "./Errors.ts"
import * as Ids from "./Ids.ts"

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
