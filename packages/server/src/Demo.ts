/**
 * The demo: ytempire embedded in this process (no server), registering a few channels and producing one video
 * each through the whole pipeline with the offline providers. `npm run demo` runs it.
 *
 *   ytempire demo --channels 3 --data-dir ./demo-data [--json] [--storage embedded|memory|postgres]
 *
 * The default storage keeps its state in the data directory (an embedded Postgres), so a second run finds the
 * same videos done; `--storage postgres` uses DATABASE_URL.
 *
 * @since 0.1.0
 */
import { Ids, Money, Video } from "@ytempire/domain"
import { ArtifactStore, YtempireRuntime } from "@ytempire/runtime"
import { Config, Console, Effect, Option, Redacted, Schema, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Path from "node:path"

const niches = [
  { niche: "consumer technology", style: "upbeat explainer", topic: "Five phones under $300 worth buying" },
  { niche: "personal finance", style: "calm documentary", topic: "How compound interest really works" },
  { niche: "space science", style: "top 5 listicle", topic: "The strangest moons in the solar system" },
  { niche: "home cooking", style: "upbeat explainer", topic: "Three weeknight pasta tricks" },
  { niche: "world history", style: "calm documentary", topic: "Why the Library of Alexandria mattered" }
]

const tenantId = Schema.decodeSync(Ids.TenantId)("demo")

const stageLine = (video: Video.Video, record: Video.StageRecord) =>
  `[${video.channelId}] ${record.stage} ${record.status}` +
  (record.provider === undefined ? "" : ` by ${record.provider}`) +
  (record.status === "completed" ? ` (${Money.format(record.cost)})` : "")

const produce = Effect.fn("Demo.produce")(function*(index: number) {
  const ytempire = yield* YtempireRuntime.Ytempire
  const store = yield* ArtifactStore.ArtifactStore
  const pick = niches[index % niches.length]!
  const channelId = `demo-${index + 1}`
  yield* ytempire.registerChannel(tenantId, {
    id: channelId,
    name: `Demo ${pick.niche}`,
    niche: pick.niche,
    language: "en",
    style: pick.style,
    quality: 0.5
  })
  const requested = yield* ytempire.requestVideo(tenantId, {
    channelId,
    videoId: `${channelId}-first`,
    topic: pick.topic
  })
  // Report each stage once, as it finishes.
  const reported = new Set<string>()
  const final = yield* ytempire.watchVideo(tenantId, requested.id).pipe(
    Stream.tap((video) =>
      Effect.forEach(video.stages, (record) => {
        const key = `${record.stage}:${record.status}`
        if (record.status === "running" || reported.has(key)) return Effect.void
        reported.add(key)
        return Console.error(stageLine(video, record))
      }, { discard: true })
    ),
    Stream.runLast,
    Effect.map(Option.getOrThrow)
  )
  const render = final.stages.find((record) => record.stage === "render")
  return {
    id: final.id,
    channelId: final.channelId,
    status: final.status,
    mp4: render?.artifact === undefined ? null : store.pathOf(render.artifact),
    published: final.status === "completed" ? Path.join(store.root, "published", final.id) : null,
    stages: final.stages.map((record) => ({
      stage: record.stage,
      provider: record.provider ?? null,
      tier: record.tier ?? null,
      cost: Money.toDecimal(record.cost)
    })),
    totalCost: Money.toDecimal(final.totalCost),
    traceId: final.traceId ?? null,
    ...(final.error === undefined ? {} : { error: final.error.message })
  }
})

/**
 * `ytempire demo`: register channels, have each produce one video, and report where the videos are, what each
 * stage cost and (with tracing on) their trace ids. Progress goes to stderr; `--json` prints one JSON line on stdout.
 *
 * @category commands
 */
export const demo = Command.make(
  "demo",
  {
    channels: Flag.Int("channels").pipe(
      Flag.withDescription("How many channels to register (one video each)"),
      Flag.withSchema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 50 }))),
      Flag.withDefault(3)
    ),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withDescription("Where the database, artifacts and published videos go"),
      Flag.withDefault(".ytempire")
    ),
    storage: Flag.Literals("storage", ["embedded", "memory", "postgres"]).pipe(
      Flag.withDescription("embedded (kept in the data directory), memory, or postgres (DATABASE_URL)"),
      Flag.withDefault("embedded")
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON line of results"), Flag.withDefault(false))
  },
  Effect.fn("Demo.run")(function*({ channels, dataDir, json, storage }) {
    const url = storage === "postgres" ? yield* Config.Redacted("DATABASE_URL") : Redacted.make("")
    const runtime = YtempireRuntime.layer({
      dataDir: Path.resolve(dataDir),
      storage: storage === "postgres" ? { _tag: "postgres", url } : { _tag: storage }
    })
    yield* Console.error(`ytempire demo: ${channels} channel(s), ${storage} storage in ${Path.resolve(dataDir)}`)
    const videos = yield* Effect.forEach(Array.from({ length: channels }, (_, i) => i), produce, {
      concurrency: "unbounded"
    }).pipe(Effect.provide(runtime))
    for (const video of videos) {
      yield* Console.error(`${video.id}: ${video.status}, ${video.mp4 ?? "no video"}, total $${video.totalCost}`)
    }
    const total = Money.sum(videos.map((video) => Money.unsafeFromDecimal(video.totalCost)))
    if (json) yield* Console.log(JSON.stringify({ videos, totalCost: Money.toDecimal(total) }))
  })
).pipe(
  Command.withDescription("Register channels, produce one video each, and report where they are and what they cost")
)
