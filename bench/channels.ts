/**
 * What many channels cost in memory: registers channels in one process through the channel entity's
 * `Register` message (memory storage), lets the idle ones passivate (a short `maxIdleTime`), and reports RSS
 * and heap used before registering, right after, and once every entity has passivated.
 *
 *   npm run bench -- channels [--channels 10000] [--concurrency 100] [--max-idle-ms 1000]
 *   node --expose-gc bench/run.ts channels        (forces a full GC before each reading)
 *
 * Readings after passivation: as V8 left the process after `--idle-seconds` of quiet (`afterIdleUnforced`), and
 * after a forced "last resort" major GC (`afterPassivation`, with `--expose-gc`), which compacts the heap and
 * gives its free pages back. `peakRssMb` is the most the process held, during the registration burst.
 *
 * One JSON line goes to stdout; progress to stderr.
 */
import { Channel, ChannelEntity as Contract, Ids } from "@ytempire/domain"
import { ChannelRepository, YtempireRuntime } from "@ytempire/runtime"
import { Clock, Console, Effect, FileSystem, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { Sharding } from "effect/cluster"
import { availableParallelism, loadavg } from "node:os"
import * as InstantProviders from "./instantProviders.ts"

/** The machine's 1-minute load average: other work on the machine slows the wall-time figures. */
const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100

const tenantId = Schema.decodeSync(Ids.TenantId)("bench")

const gc = (globalThis as { gc?: (options?: { readonly type: "major"; readonly flavor: "last-resort" }) => void }).gc

/**
 * RSS, heap used, the heap V8 holds (heap total: it keeps what it grew to) and the process's peak RSS so far,
 * in MB, after a full GC when one can be forced.
 */
const memory = Effect.sync(() => {
  // The "last resort" major GC compacts the heap and gives its free pages back, as V8's memory reducer does
  // by itself a while after the allocation rate drops.
  gc?.({ type: "major", flavor: "last-resort" })
  const usage = process.memoryUsage()
  return {
    rssMb: mb(usage.rss),
    heapUsedMb: mb(usage.heapUsed),
    heapTotalMb: mb(usage.heapTotal),
    peakRssMb: mb(process.resourceUsage().maxRSS * 1024)
  }
})

/** The same figures without forcing a GC: what the process holds after V8 was left to itself. */
const memoryAsIs = Effect.sync(() => {
  const usage = process.memoryUsage()
  return { rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed), heapTotalMb: mb(usage.heapTotal) }
})

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024 * 10) / 10

/** The runtime in its memory mode, with instant providers and a short idle time for channel actors. */
const benchLayer = (maxIdleMillis: number, dataDir: string) =>
  YtempireRuntime.layerWithProviders({
    dataDir,
    storage: { _tag: "memory" },
    channelIdleTime: maxIdleMillis
  }, InstantProviders.layer)

const registration = (index: number) =>
  new Channel.ChannelRegistration({
    id: Schema.decodeSync(Ids.ChannelId)(`bench-${index + 1}`),
    name: `Bench channel ${index + 1}`,
    niche: "technology",
    language: "en",
    style: "upbeat explainer"
  })

const positive = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.withDefault(fallback)
  )

/**
 * The `channels` benchmark.
 *
 * @category commands
 */
export const command = Command.make(
  "channels",
  {
    channels: positive("channels", "Channels to register (default 10000)", 10_000),
    concurrency: positive("concurrency", "Registrations in flight at once (default 100)", 100),
    maxIdleMillis: positive("max-idle-ms", "The channel entity's maxIdleTime, in milliseconds (default 1000)", 1000),
    passivationTimeoutSeconds: positive(
      "passivation-timeout",
      "Seconds to wait for idle entities to passivate (default 60)",
      60
    ),
    idleSeconds: positive(
      "idle-seconds",
      "Seconds the process stays idle after passivation before the unforced reading (default 15)",
      15
    )
  },
  Effect.fnUntraced(function*(flags) {
    const atStart = loadAverage()
    if (gc === undefined) {
      yield* Console.error("channels: no forced GC (run `node --expose-gc bench/run.ts channels` for settled figures)")
    }
    const fs = yield* FileSystem.FileSystem
    const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-bench-" })
    const result = yield* Effect.gen(function*() {
      const sharding = yield* Sharding.Sharding
      const clientFor = yield* Contract.ChannelEntity.client
      const before = yield* memory

      yield* Console.error(`channels: registering ${flags.channels} through the channel entity`)
      const started = yield* Clock.currentTimeMillis
      yield* Effect.forEach(
        Array.from({ length: flags.channels }, (_, i) => i),
        (i) => clientFor(`bench-${i + 1}`).Register({ tenantId, registration: registration(i) }),
        { concurrency: flags.concurrency, discard: true }
      )
      const registerSeconds = ((yield* Clock.currentTimeMillis) - started) / 1000
      const activeAfterRegister = yield* sharding.activeEntityCount
      const afterRegister = yield* memory
      const registered = (yield* (yield* ChannelRepository.ChannelRepository).list(tenantId)).length

      yield* Console.error(`channels: ${activeAfterRegister} active entities; waiting for them to passivate`)
      const waitStarted = yield* Clock.currentTimeMillis
      const deadline = waitStarted + flags.passivationTimeoutSeconds * 1000
      let active = activeAfterRegister
      while (active > 0 && (yield* Clock.currentTimeMillis) < deadline) {
        yield* Effect.sleep("250 millis")
        active = yield* sharding.activeEntityCount
      }
      const passivationSeconds = ((yield* Clock.currentTimeMillis) - waitStarted) / 1000
      // First as V8 left it after a quiet while (its memory reducer shrinks an idle heap), then forced.
      yield* Console.error(`channels: passivated; idle for ${flags.idleSeconds} s`)
      yield* Effect.sleep(`${flags.idleSeconds} seconds`)
      const afterIdle = yield* memoryAsIs
      const afterPassivation = yield* memory
      return {
        channels: flags.channels,
        registered,
        path: "ChannelEntity Register message (Contract.ChannelEntity.client), memory storage",
        gcForced: gc !== undefined,
        maxIdleMillis: flags.maxIdleMillis,
        registerSeconds,
        registrationsPerSecond: Math.round(flags.channels / registerSeconds),
        before,
        afterRegister: { ...afterRegister, activeEntities: activeAfterRegister },
        afterPassivation: { ...afterPassivation, activeEntities: active, waitedSeconds: passivationSeconds },
        afterIdleUnforced: { ...afterIdle, idleSeconds: flags.idleSeconds }
      }
    }).pipe(Effect.provide(benchLayer(flags.maxIdleMillis, dataDir)))
    yield* Console.log(JSON.stringify({
      bench: "channels",
      node: process.version,
      cpus: availableParallelism(),
      loadAverage: { atStart, atEnd: loadAverage() },
      target: { rssMb: 500 },
      ...result
    }))
  }, Effect.scoped)
).pipe(
  Command.withDescription(
    "RSS and heap of 10,000 channels registered through the channel entity, before and after they passivate"
  )
)
