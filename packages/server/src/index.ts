/**
 * @ytempire/server — the `ytempire` binary: its CLI today; RPC and REST, tenants and keys, and graceful
 * shutdown with the server issue (#5).
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
export * as Version from "./Version.ts"
