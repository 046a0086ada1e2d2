/**
 * What the in-process server tests share: a free port, the configuration of a memory-storage server with a
 * bootstrap admin key, and a script provider that always fails (so that each script falls back to the next).
 */
import { Ids, Provider } from "@ytempire/domain"
import type { Providers } from "@ytempire/runtime"
import type * as ServerConfig from "@ytempire/server/ServerConfig"
import { Duration, Effect, Option, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A port nobody listens on right now. */
export const freePort = Effect.promise(async () => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  server.close()
  await once(server, "close")
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
})

/** A new API key secret, in the server's format. */
export const newSecret = (): string => `yte_${randomBytes(32).toString("base64url")}`

/**
 * A server on 127.0.0.1:`port` with memory storage, no GPU, a generous rate limit, and `adminKey` as the
 * bootstrap admin of tenant `acme`; its data directory a new temporary one named after `label`.
 */
export const memoryConfig = (port: number, adminKey: string, label: string): ServerConfig.ServerConfig => ({
  port,
  host: "127.0.0.1",
  storage: { _tag: "memory" },
  dataDir: mkdtempSync(join(tmpdir(), `ytempire-${label}-`)),
  redisUrl: Option.none(),
  gpu: { _tag: "None" },
  logLevel: "Warn",
  logFormat: "text",
  rate: { perSecond: 1_000, burst: 1_000 },
  shutdownTimeout: Duration.seconds(5),
  operatorTenant: Schema.decodeSync(Ids.TenantId)("acme"),
  bootstrapKey: Option.some(Redacted.make(adminKey)),
  providerLatency: Duration.zero
})

/** The script's first provider in tests: it always fails, not retryably, so each script falls back to the second. */
export const flakyScript: Providers.StageProvider = {
  stage: "script",
  name: "flaky-script",
  tier: "standard",
  run: () =>
    Effect.fail(
      new Provider.ProviderUnavailable({ provider: "flaky-script", stage: "script", reason: "down", retryable: false })
    )
}
