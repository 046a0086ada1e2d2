/**
 * The server that `bench/server.ts` measures, run as a child process: the whole server (`Server.layer`, as
 * `ytempire serve` builds it) with instant providers in place of the offline ones, so that what the benchmark
 * measures is the HTTP API and the runtime behind it, not espeak-ng and ffmpeg.
 *
 *   node bench/serverChild.ts
 *
 * Configured like the server, by its environment (`PORT`, `HOST`, `YTEMPIRE_STORAGE`, `DATABASE_URL`,
 * `YTEMPIRE_DATA_DIR`, `REDIS_URL`, `YTEMPIRE_RATE_LIMIT`, `YTEMPIRE_BOOTSTRAP_KEY`, `LOG_LEVEL`…, read by
 * `ServerConfig.load`). Runs until SIGTERM or SIGINT.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Server from "@ytempire/server/Server"
import * as ServerConfig from "@ytempire/server/ServerConfig"
import { Clock, Effect, Layer } from "effect"
import * as InstantProviders from "./instantProviders.ts"

const main = Effect.gen(function*() {
  const config = yield* ServerConfig.load({})
  const startedAt = yield* Clock.currentTimeMillis
  yield* Layer.launch(Server.layer(config, { startedAt, providers: InstantProviders.layer })).pipe(
    Effect.provide(Server.loggingLayer(config))
  )
})

NodeRuntime.runMain(main)
