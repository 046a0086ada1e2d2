/**
 * A program driving a running ytempire server over its RPC API: register a channel, ask it for a video, follow
 * the video's progress as it happens, and print where the video is and what it cost.
 *
 *   ytempire serve &                       # or any server you can reach
 *   YTEMPIRE_API_KEY=<key> node examples/rpc-client.ts [--url http://localhost:8000] [--transport websocket] [--json]
 *
 * The key needs the operator or admin role (a viewer may not register channels). `--url` falls back to
 * YTEMPIRE_URL, then http://localhost:8000; `--key` to YTEMPIRE_API_KEY. Progress goes to stderr; with --json,
 * stdout gets one JSON line describing the video (its status, the MP4 and the upload receipt, as paths in the
 * server's data directory, and its total cost). Of ytempire, the program imports only `@ytempire/server/client`
 * and the domain: nothing of the server or the runtime.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Ids, Money, type Stage, type Video } from "@ytempire/domain"
import { YtempireClient } from "@ytempire/server/client"
import { Config, Console, Effect, Logger, Option, Schema, Stream } from "effect"
import { Command, Flag } from "effect/cli"

const progressLine = (progress: Video.VideoProgress) => {
  const record = progress.stage === undefined
    ? undefined
    : progress.video.stages.find((entry) => entry.stage === progress.stage)
  const attempt = record?.attempts.at(-1)
  switch (progress.event) {
    case "stage-started":
      return `${progress.stage} started`
    case "stage-completed":
      return `${progress.stage} completed by ${record?.provider ?? "?"} (${Money.format(record?.cost ?? Money.zero)})`
    case "attempt-failed":
      return `${progress.stage}: ${attempt?.provider ?? "a provider"} failed: ${attempt?.error?.message ?? "?"}`
    case "failed":
      return `failed: ${progress.video.error?.message ?? "?"}`
    default:
      return progress.event
  }
}

const client = Command.make(
  "rpc-client",
  {
    url: Flag.String("url").pipe(
      Flag.withDescription("The server's base URL (YTEMPIRE_URL)"),
      Flag.withFallbackConfig(Config.String("YTEMPIRE_URL")),
      Flag.withDefault("http://localhost:8000")
    ),
    key: Flag.Redacted("key").pipe(
      Flag.withDescription("An API key of the operator or admin role (YTEMPIRE_API_KEY)"),
      Flag.withFallbackConfig(Config.Redacted("YTEMPIRE_API_KEY"))
    ),
    transport: Flag.Literals("transport", ["http", "websocket"]).pipe(
      Flag.withDescription("http (a request per call, NDJSON) or websocket (one connection)"),
      Flag.withDefault("http")
    ),
    channel: Flag.String("channel").pipe(
      Flag.withDescription("The id of the channel to register (registering it again updates it)"),
      Flag.withSchema(Ids.ChannelId),
      Flag.withDefault(Schema.decodeSync(Ids.ChannelId)("rpc-demo"))
    ),
    topic: Flag.String("topic").pipe(
      Flag.withDescription("What the video is about"),
      Flag.withDefault("Five phones under $300 worth buying")
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON line of results"), Flag.withDefault(false))
  },
  Effect.fn("rpc-client")(function*({ channel, json, topic }) {
    const ytempire = yield* YtempireClient
    const registered = yield* ytempire.RegisterChannel({
      id: channel,
      name: "RPC demo",
      niche: "consumer technology",
      language: "en",
      style: "upbeat explainer"
    })
    yield* Console.error(`channel ${registered.id} (${registered.status}) of tenant ${registered.tenantId}`)

    const requested = yield* ytempire.GenerateVideo({ channelId: registered.id, topic })
    yield* Console.error(`video ${requested.id} requested: ${requested.topic}`)
    const last = yield* ytempire.WatchVideo({ videoId: requested.id }).pipe(
      Stream.tap((progress) => Console.error(`[${requested.id}] ${progressLine(progress)}`)),
      Stream.runLast
    )
    // The stream ends with the final event; the video as it was then is the one to report.
    const video = Option.isSome(last) ? last.value.video : yield* ytempire.GetVideo({ videoId: requested.id })
    // Artifact paths are relative to the server's data directory: the render stage's is the MP4, the upload
    // stage's the publication's receipt (the platform's record of the video).
    const artifact = (stage: Stage.Stage) => video.stages.find((record) => record.stage === stage)?.artifact?.path
    const result = {
      id: video.id,
      channelId: video.channelId,
      status: video.status,
      mp4: artifact("render") ?? null,
      receipt: artifact("upload") ?? null,
      totalCost: Money.toDecimal(video.totalCost),
      ...(video.error === undefined ? {} : { error: video.error.message })
    }
    yield* Console.error(
      `${video.id}: ${video.status}, ${result.mp4 ?? "no video"}, total ${Money.format(video.totalCost)}`
    )
    if (json) yield* Console.log(JSON.stringify(result))
  }, (effect, { key, transport, url }) => Effect.provide(effect, YtempireClient.layer({ url, key, transport })))
).pipe(
  Command.withDescription("Register a channel, produce a video through a ytempire server's RPC API, and report it")
)

client.pipe(
  Command.run({ version: "0.1.0" }),
  // Logs go to stderr with the progress, so that stdout holds only the JSON line.
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
