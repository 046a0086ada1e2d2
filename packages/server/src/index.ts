/**
 * @ytempire/server — the `ytempire` binary and what it is made of: the server (`Server.layer`: RPC, REST,
 * health, API keys, per-key rate limits, graceful shutdown), its configuration, the CLI, and the typed RPC
 * client (imported on its own as `@ytempire/server/client`, so that a client pulls in none of the server).
 *
 * @since 0.1.0
 */
export * as ApiKeys from "./ApiKeys.ts"
export * as Authenticator from "./Authenticator.ts"
export * as Cli from "./Cli.ts"
export * as Health from "./Health.ts"
export * as HttpMetrics from "./HttpMetrics.ts"
export * as Operations from "./Operations.ts"
export * as RateLimiter from "./RateLimiter.ts"
export * as RestApi from "./RestApi.ts"
export * as RestHandlers from "./RestHandlers.ts"
export * as RpcApi from "./RpcApi.ts"
export * as Server from "./Server.ts"
export * as ServerConfig from "./ServerConfig.ts"
export * as Version from "./Version.ts"
