/**
 * ytempire embedded in a Node program, without a server: register three channels, ask each for a video, follow
 * each to the end, and print where the MP4s are and what they cost.
 *
 *   node examples/embedded.ts [data directory, default ./embedded-data]
 *
 * State is kept in the data directory (an embedded Postgres), so a second run finds the videos done. For a
 * ready-made command with flags and JSON output, see `ytempire demo` (`npm run demo`).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Ids, Money } from "@ytempire/domain"
import { ArtifactStore, YtempireRuntime } from "@ytempire/runtime"
import { Console, Effect, Schema, Stream } from "effect"
import * as Path from "node:path"

const dataDir = Path.resolve(process.argv[2] ?? "embedded-data")
const tenantId = Schema.decodeSync(Ids.TenantId)("example")

const channels = [
  { id: "tech", niche: "consumer technology", style: "upbeat explainer", topic: "Five phones under $300" },
  { id: "finance", niche: "personal finance", style: "calm documentary", topic: "How compound interest works" },
  { id: "space", niche: "space science", style: "top 5 listicle", topic: "The strangest moons we know" }
]

const program = Effect.gen(function*() {
  const ytempire = yield* YtempireRuntime.Ytempire
  const store = yield* ArtifactStore.ArtifactStore
  yield* Effect.forEach(channels, (channel) =>
    Effect.gen(function*() {
      yield* ytempire.registerChannel(tenantId, {
        id: channel.id,
        name: `Example ${channel.niche}`,
        niche: channel.niche,
        language: "en",
        style: channel.style
      })
      // The video id makes the request idempotent: running the program again returns the same video.
      const video = yield* ytempire.requestVideo(tenantId, {
        channelId: channel.id,
        videoId: `${channel.id}-first`,
        topic: channel.topic
      })
      const final = yield* ytempire.watchVideo(tenantId, video.id).pipe(
        Stream.tap((update) => Console.error(`${update.id}: ${update.status} ${update.currentStage ?? ""}`)),
        Stream.runLast
      )
      const done = final._tag === "Some" ? final.value : video
      const render = done.stages.find((record) => record.stage === "render")?.artifact
      yield* Console.log(
        `${done.id}: ${done.status}, ${render === undefined ? "no video" : store.pathOf(render)}, ` +
          Money.format(done.totalCost)
      )
    }), { concurrency: "unbounded", discard: true })
})

program.pipe(
  Effect.provide(YtempireRuntime.layer({ dataDir })),
  NodeRuntime.runMain
)
