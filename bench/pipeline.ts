/**
 * What a video costs the runtime itself: CPU per video and videos per second of our VideoPipeline workflow
 * (five stages, each reserve → run → commit, the video record updated at every step) against a bare
 * effect/workflow of five no-op activities, on the same cluster workflow engine and the same storage, with
 * instant providers (each writes a tiny file and reports a fixed usage), so that what is measured is the
 * pipeline around the providers.
 *
 *   npm run bench -- pipeline [--storage both|memory|postgres] [--videos N] [--serial-videos N] [--warmup 10]
 *                             [--rounds 4] [--bare-activities 5] [--only ours|bare] [--data-root DIR]
 *
 * Four configurations: memory storage (MessageStorage.layerMemory, memory repositories and ledger) and
 * Postgres (SingleRunner with SQL runner storage, the SQL repositories and ledger, on a database created
 * empty for the configuration and dropped after it), each at concurrency 20 and 1. Each configuration gets
 * fresh layers, warms both workflows up, then runs them in alternating rounds (ours, bare, bare, ours, …) so
 * that machine noise hits both. CPU is the process's (user + system, every thread) over a round, divided by
 * its videos; videos/s is wall time. Videos enter the pipeline through `VideoPipeline.execute` after their
 * queued record is inserted: the channel entity is bypassed. One JSON line goes to stdout; progress to stderr.
 */
import { NodeServices } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Budget, Channel, Ids, Money, Pipeline } from "@ytempire/domain"
import { ArtifactStore, BudgetLedger, ChannelRepository, VideoPipeline, VideoRepository } from "@ytempire/runtime"
import { Clock, Config, Console, Context, DateTime, Effect, FileSystem, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import {
  ClusterWorkflowEngine,
  MessageStorage,
  RunnerHealth,
  Runners,
  RunnerStorage,
  Sharding,
  ShardingConfig,
  SingleRunner
} from "effect/cluster"
import { Digest } from "effect/crypto"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"
import { Activity, Workflow } from "effect/workflow"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import * as InstantProviders from "./instantProviders.ts"

/** The machine's 1-minute load average: other work on the machine slows the wall-time figures. */
export const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100

// ---------------------------------------------------------------------------------------------------------------
// the two workflows

/** The baseline: an effect/workflow of activities that do nothing (five unless `--bare-activities` says). */
const Bare = Workflow.make("BenchBareWorkflow", {
  payload: { id: Schema.String },
  idempotencyKey: ({ id }) => id
})

const bareLayer = (activities: number) => {
  const noops = Array.from({ length: activities }, (_, i) => Activity.make({ name: `noop-${i}`, execute: Effect.void }))
  return Bare.toLayer(Effect.fnUntraced(function*() {
    for (const activity of noops) yield* activity
  }))
}

const tenantId = Schema.decodeSync(Ids.TenantId)("bench")
const epoch = DateTime.makeUnsafe("2026-01-01T00:00:00Z")

/** Twenty channels, so that videos spread over channel-day budget scopes as they would in production. */
export const channels = Array.from({ length: 20 }, (_, i) =>
  new Channel.Channel({
    id: Schema.decodeSync(Ids.ChannelId)(`bench-${i + 1}`),
    tenantId,
    name: `Bench ${i + 1}`,
    niche: "technology",
    language: "en",
    style: "upbeat explainer",
    status: "active",
    budget: new Budget.BudgetPolicy({ perVideo: Money.unsafeFromDecimal("100") }),
    createdAt: epoch,
    updatedAt: epoch
  }))

/** Operation-wide limits far above what a run spends, so that no budget control changes the work. */
const settings = Layer.succeed(VideoPipeline.PipelineSettings)({
  ...VideoPipeline.PipelineSettings.defaultValue(),
  limits: new Budget.BudgetLimits({
    globalDaily: Money.unsafeFromDecimal("100000000"),
    globalMonthly: Money.unsafeFromDecimal("100000000")
  })
})

const topic = "Five phones under $300"

/** One video of ours: its queued record (as the channel entity would store it), then its pipeline. */
export const ourVideo = Effect.fnUntraced(function*(id: string, index: number) {
  const videos = yield* VideoRepository.VideoRepository
  const channel = channels[index % channels.length]!
  const videoId = Ids.VideoId.make(id)
  yield* videos.insert(VideoPipeline.queued({ videoId, channel, topic }, yield* DateTime.now))
  yield* Pipeline.VideoPipeline.execute({ videoId, channelId: channel.id, tenantId, topic })
})

/** Every video of ours that ran is completed (checked after the measurements, outside them). */
export const checkCompleted = Effect.fnUntraced(function*(expected: number) {
  const videos = yield* (yield* VideoRepository.VideoRepository).list({ tenantId })
  const completed = videos.filter((video) => video.status === "completed").length
  if (completed !== expected || videos.length !== expected) {
    return yield* Effect.die(new Error(`${completed} of ${videos.length} videos completed, ${expected} expected`))
  }
})

const bareVideo = (id: string) => Bare.execute({ id })

// ---------------------------------------------------------------------------------------------------------------
// storage

export type Storage = "memory" | "postgres"

/**
 * How many `activity` messages the engine has stored for a workflow's executions: one per activity run, so
 * this over the videos run is what a video costs in engine round trips (counted, not assumed, since the
 * pipeline's shape changes).
 */
class ActivityMessages extends Context.Service<ActivityMessages, {
  /** The activity messages stored for the workflow named `workflow`. */
  readonly count: (workflow: string) => Effect.Effect<number>
}>()("bench/pipeline/ActivityMessages") {
  static readonly layerMemory = Layer.effect(ActivityMessages)(Effect.gen(function*() {
    const driver = yield* MessageStorage.MemoryDriver
    return ActivityMessages.of({
      count: (workflow) =>
        Effect.sync(() =>
          driver.journal.filter((envelope) =>
            envelope._tag === "Request" && envelope.tag === "activity" &&
            envelope.address.entityType === `Workflow/${workflow}`
          ).length
        )
    })
  }))

  static readonly layerSql = Layer.effect(ActivityMessages)(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return ActivityMessages.of({
      count: (workflow) =>
        sql<{ readonly n: number }>`
          SELECT count(*)::int AS n FROM cluster_messages
          WHERE entity_type = ${`Workflow/${workflow}`} AND tag = 'activity'
        `.pipe(Effect.map((rows) => rows[0]?.n ?? 0), Effect.orDie)
    })
  }))
}

/** How the runtime configures sharding (YtempireRuntime's default poll interval). */
const shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = { entityMessagePollInterval: "1 second" }

const memoryStorage = Layer.mergeAll(
  Sharding.layer.pipe(
    Layer.provideMerge(ActivityMessages.layerMemory),
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer(shardingConfig))
  ),
  VideoPipeline.layerMemoryStores
)

const server = Config.all({
  host: Config.String("PGHOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.Port("PGPORT").pipe(Config.withDefault(5432)),
  username: Config.String("PGUSER").pipe(Config.withDefault("postgres")),
  password: Config.option(Config.Redacted("PGPASSWORD"))
})

const connection = Effect.map(server, ({ host, password, port, username }) => ({
  host,
  port,
  username,
  ...(Option.isSome(password) ? { password: password.value } : {})
}))

/** Runs `statement` on the server's `postgres` database. */
const onServer = (statement: (sql: PgClient.PgClient) => Effect.Effect<unknown, SqlError.SqlError>) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    yield* statement(sql)
  }).pipe(
    Effect.provide(Layer.unwrap(
      Effect.map(connection, (options) => PgClient.layer({ ...options, database: "postgres", maxConnections: 1 }))
    ))
  )

/** The SQL storage of the runtime on `database`, created empty when the layer is built and dropped after. */
const postgresStorage = (database: string) =>
  Layer.unwrap(Effect.gen(function*() {
    const drop = onServer((sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`)
    yield* drop
    yield* onServer((sql) => sql`CREATE DATABASE ${sql(database)}`)
    // Runs after the layers below (and their pool) have closed.
    yield* Effect.addFinalizer(() => Effect.orDie(drop))
    return Layer.mergeAll(
      SingleRunner.layer({ runnerStorage: "sql", shardingConfig }).pipe(Layer.provide(Digest.layerWebCrypto)),
      VideoRepository.VideoRepository.layerSql,
      ChannelRepository.ChannelRepository.layerSql,
      BudgetLedger.BudgetLedger.layerSql,
      ActivityMessages.layerSql
    ).pipe(Layer.provide(PgClient.layer({ ...(yield* connection), database })))
  }))

/** Both workflows on the cluster workflow engine over `storage`, with instant providers. */
export const benchLayer = (storage: Storage, database: string, dataDir: string, bareActivities: number) =>
  Layer.mergeAll(VideoPipeline.layer, bareLayer(bareActivities)).pipe(
    Layer.provideMerge(ClusterWorkflowEngine.layer),
    Layer.provideMerge(InstantProviders.layer),
    Layer.provideMerge(ArtifactStore.ArtifactStore.layer(dataDir)),
    Layer.provideMerge(settings),
    Layer.provideMerge(storage === "memory" ? memoryStorage : postgresStorage(database)),
    Layer.provide(NodeServices.layer)
  )

// ---------------------------------------------------------------------------------------------------------------
// measuring

export interface Tally {
  videos: number
  cpuMicros: number
  wallNanos: bigint
}

export const figures = (tally: Tally) =>
  tally.videos === 0 ? null : {
    cpuMsPerVideo: round(tally.cpuMicros / 1000 / tally.videos),
    videosPerSecond: round(tally.videos / (Number(tally.wallNanos) / 1e9))
  }

export const round = (value: number) => Math.round(value * 1000) / 1000

/** Runs `count` videos at `concurrency`, adding their CPU and wall time to `tally`. */
export const measure = Effect.fnUntraced(function*<R>(
  tally: Tally,
  run: (id: string, index: number) => Effect.Effect<unknown, unknown, R>,
  ids: ReadonlyArray<string>,
  concurrency: number
) {
  const started = yield* Clock.currentTimeNanos
  const cpu = process.cpuUsage()
  yield* Effect.forEach(ids, run, { concurrency, discard: true })
  const used = process.cpuUsage(cpu)
  tally.wallNanos += (yield* Clock.currentTimeNanos) - started
  tally.cpuMicros += used.user + used.system
  tally.videos += ids.length
})

/** Splits `total` into `parts` counts that differ by at most one. */
export const split = (total: number, parts: number) =>
  Array.from({ length: parts }, (_, i) => Math.floor((total + i) / parts)).filter((n) => n > 0)

const configuration = Effect.fnUntraced(function*(options: {
  readonly storage: Storage
  readonly concurrency: number
  readonly videos: number
  readonly warmup: number
  readonly rounds: number
  readonly database: string
  readonly only: "ours" | "bare" | undefined
  readonly bareActivities: number
  readonly dataRoot: string | undefined
}) {
  const { concurrency, storage } = options
  const label = `${storage} c=${concurrency}`
  const started = yield* Clock.currentTimeNanos
  const fs = yield* FileSystem.FileSystem
  const dataDir = yield* fs.makeTempDirectoryScoped({
    prefix: "ytempire-bench-",
    ...(options.dataRoot === undefined ? {} : { directory: options.dataRoot })
  })
  return yield* Effect.gen(function*() {
    const repository = yield* ChannelRepository.ChannelRepository
    yield* Effect.forEach(channels, repository.put, { discard: true })
    let next = 0
    const idsFor = (prefix: string, count: number) =>
      Array.from({ length: count }, () => `${prefix}-${storage}-${concurrency}-${next++}`)
    const scratch: Tally = { videos: 0, cpuMicros: 0, wallNanos: 0n }
    yield* Console.error(`pipeline ${label}: warm-up, ${options.warmup} videos of each`)
    if (options.only !== "bare") yield* measure(scratch, ourVideo, idsFor("w", options.warmup), concurrency)
    if (options.only !== "ours") yield* measure(scratch, bareVideo, idsFor("wb", options.warmup), concurrency)
    const ours: Tally = { videos: 0, cpuMicros: 0, wallNanos: 0n }
    const bare: Tally = { videos: 0, cpuMicros: 0, wallNanos: 0n }
    const counts = split(options.videos, options.rounds)
    for (const [index, count] of counts.entries()) {
      const runOurs = options.only === "bare" ? Effect.void : measure(ours, ourVideo, idsFor("v", count), concurrency)
      const runBare = options.only === "ours" ? Effect.void : measure(bare, bareVideo, idsFor("b", count), concurrency)
      // ours, bare, bare, ours, …: each goes first half of the time.
      yield* index % 2 === 0 ? Effect.andThen(runOurs, runBare) : Effect.andThen(runBare, runOurs)
      yield* Console.error(`pipeline ${label}: round ${index + 1}/${counts.length}`)
    }
    if (options.only !== "bare") yield* checkCompleted(options.warmup + ours.videos)
    const messages = yield* ActivityMessages
    const perVideo = (count: number, tally: Tally) =>
      tally.videos === 0 ? null : round(count / (options.warmup + tally.videos))
    return {
      mode: storage,
      concurrency,
      videos: Math.max(ours.videos, bare.videos),
      seconds: round(Number((yield* Clock.currentTimeNanos) - started) / 1e9),
      ours: figures(ours),
      bare: figures(bare),
      cpuRatio: options.only === undefined
        ? round(ours.cpuMicros / ours.videos / (bare.cpuMicros / bare.videos))
        : null,
      activitiesPerVideo: {
        ours: perVideo(yield* messages.count(Pipeline.VideoPipeline._tag), ours),
        bare: perVideo(yield* messages.count(Bare._tag), bare)
      }
    }
  }).pipe(Effect.provide(benchLayer(storage, options.database, dataDir, options.bareActivities)))
}, Effect.scoped)

const positive = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.withDefault(fallback)
  )

const optionalPositive = (name: string, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    Flag.optional
  )

/** Measured videos per workflow at concurrency 20 and 1: Postgres runs fewer, to keep the whole run short. */
const defaults: Record<Storage, { readonly concurrent: number; readonly serial: number }> = {
  memory: { concurrent: 200, serial: 50 },
  postgres: { concurrent: 100, serial: 20 }
}

/**
 * The `pipeline` benchmark.
 *
 * @category commands
 */
export const command = Command.make(
  "pipeline",
  {
    videos: optionalPositive(
      "videos",
      "Measured videos of each workflow per configuration at concurrency 20 (default: memory 200, Postgres 100)"
    ),
    serialVideos: optionalPositive(
      "serial-videos",
      "Measured videos of each workflow per configuration at concurrency 1 (default: memory 50, Postgres 20)"
    ),
    warmup: positive("warmup", "Unmeasured videos of each workflow before each configuration (default 10)", 10),
    bareActivities: positive("bare-activities", "No-op activities of the bare workflow (default 5)", 5),
    rounds: positive("rounds", "Alternating rounds that the measured videos are split into (default 4)", 4),
    storage: Flag.Literals("storage", ["both", "memory", "postgres"]).pipe(
      Flag.withDescription("memory, postgres (PGHOST/PGPORT/PGUSER, a fresh database), or both (default)"),
      Flag.withDefault("both")
    ),
    only: Flag.Literals("only", ["ours", "bare"]).pipe(
      Flag.withDescription("Run one workflow only, without the comparison (for profiling with node --cpu-prof)"),
      Flag.optional
    ),
    dataRoot: Flag.String("data-root").pipe(
      Flag.withDescription(
        "Where each configuration's data directory (its artifact files) is made (default: the system's temporary " +
          "directory); e.g. /dev/shm to leave the disk's file-creation cost out"
      ),
      Flag.optional
    ),
    database: Flag.String("database").pipe(
      Flag.withDescription(
        "The database that Postgres configurations create, use and drop (default ytempire_bench_pipeline)"
      ),
      Flag.withDefault("ytempire_bench_pipeline")
    )
  },
  Effect.fnUntraced(function*(flags) {
    const atStart = loadAverage()
    const storages: ReadonlyArray<Storage> = flags.storage === "both" ? ["memory", "postgres"] : [flags.storage]
    const results = []
    for (const storage of storages) {
      for (const concurrency of [20, 1]) {
        results.push(
          yield* configuration({
            storage,
            concurrency,
            videos: concurrency === 1
              ? Option.getOrElse(flags.serialVideos, () => defaults[storage].serial)
              : Option.getOrElse(flags.videos, () => defaults[storage].concurrent),
            warmup: flags.warmup,
            rounds: flags.rounds,
            database: flags.database,
            only: Option.getOrUndefined(flags.only),
            bareActivities: flags.bareActivities,
            dataRoot: Option.getOrUndefined(flags.dataRoot)
          })
        )
      }
    }
    yield* Console.log(JSON.stringify({
      bench: "pipeline",
      node: process.version,
      cpus: availableParallelism(),
      loadAverage: { atStart, atEnd: loadAverage() },
      entry: "VideoPipeline.execute after inserting the queued video (the channel entity is bypassed)",
      dataRoot: Option.getOrElse(flags.dataRoot, () => tmpdir()),
      targets: { cpuRatio: 1.5, memoryVideosPerSecond: 90, postgresVideosPerSecond: 40, atConcurrency: 20 },
      results
    }))
  })
).pipe(
  Command.withDescription(
    "CPU per video and videos/s of the VideoPipeline workflow against a bare 5-activity workflow (memory, Postgres)"
  )
)
