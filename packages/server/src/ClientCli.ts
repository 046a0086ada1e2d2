/**
 * The client commands of the `ytempire` CLI: `channels list|create|pause|resume` and
 * `videos generate|get|list|cancel|watch`. They speak RPC to a running server (`--url`, `--key`, or
 * `YTEMPIRE_URL` / `YTEMPIRE_API_KEY`) and print what it answers: readable lines, or with `--json` one JSON line
 * per result (a watched video: one per progress event).
 *
 * The server's errors come back as they are (`ytempire: channel c-1 not found`), with exit code 1; a server that
 * cannot be reached says so.
 *
 * @since 0.1.0
 */
import { Channel, Errors, Ids, Money, Pagination, Video } from "@ytempire/domain"
import { Config, Console, Effect, Option, Redacted, Schema, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Client from "./Client.ts"

const connection = {
  url: Flag.String("url").pipe(
    Flag.withDescription("The server's base URL (YTEMPIRE_URL; default http://localhost:8000)"),
    Flag.withFallbackConfig(Config.String("YTEMPIRE_URL")),
    Flag.withDefault("http://localhost:8000")
  ),
  key: Flag.Redacted("key").pipe(
    Flag.withDescription("The API key (YTEMPIRE_API_KEY)"),
    Flag.withFallbackConfig(Config.Redacted("YTEMPIRE_API_KEY"))
  ),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print JSON lines"), Flag.withDefault(false))
}

/** Runs `use` with a client of the server the flags name; failures print one line and exit 1. */
const withClient = <A, E>(
  flags: { readonly url: string; readonly key: Redacted.Redacted<string> },
  use: (client: Client.YtempireClient["Service"]) => Effect.Effect<A, E>
) =>
  Effect.flatMap(Client.YtempireClient, use).pipe(
    Effect.provide(Client.YtempireClient.layer({ url: flags.url, key: flags.key })),
    Effect.catch((error: unknown) => fail(describe(error, flags.url))),
    Effect.catchDefect((defect) => fail(describe(defect, flags.url)))
  )

const fail = (message: string) =>
  Console.error(`ytempire: ${message}`).pipe(
    Effect.andThen(Effect.sync(() => {
      process.exitCode = 1
    }))
  )

const describe = (error: unknown, url: string): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    if (error._tag === "RpcClientError") {
      return `cannot reach the server at ${url}: ${String(Reflect.get(error, "message"))}`
    }
    const message = Reflect.get(error, "message")
    const field = Reflect.get(error, "field")
    return `${String(message)}${typeof field === "string" ? ` (field ${field})` : ""}`
  }
  return String(error)
}

const print = <A>(schema: Schema.Codec<A, unknown>, json: boolean, line: (value: A) => string) => {
  const encode = Schema.encodeSync(schema)
  return (value: A) => Console.log(json ? JSON.stringify(encode(value)) : line(value))
}

const channelLine = (channel: Channel.Channel) =>
  `${channel.id}\t${channel.status}\t${channel.name}\t${channel.niche}` +
  (channel.schedule === undefined ? "" : `\t${channel.schedule.cron} ${channel.schedule.timeZone}`)

const videoLine = (video: Video.Video) =>
  `${video.id}\t${video.channelId}\t${video.status}${
    video.currentStage === undefined ? "" : ` (${video.currentStage})`
  }` +
  `\t${Money.format(video.totalCost)}\t${video.topic}` + (video.error === undefined ? "" : `\t${video.error.message}`)

const printChannel = (json: boolean) =>
  print(Channel.Channel as Schema.Codec<Channel.Channel, unknown>, json, channelLine)
const printVideo = (json: boolean) => print(Video.Video as Schema.Codec<Video.Video, unknown>, json, videoLine)

const optionalString = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

/** The fields that are set: `None` and `undefined` ones left out (the request schemas' keys are optional). */
const defined = <A extends Record<string, unknown>>(fields: A) =>
  Object.fromEntries(
    Object.entries(fields).flatMap(([key, value]) =>
      Option.isOption(value)
        ? Option.isSome(value) ? [[key, value.value]] : []
        : value === undefined
        ? []
        : [[key, value]]
    )
  )

/**
 * A request checked here, before it is sent: bad flags are an InvalidRequest naming the field, as the server would
 * answer, rather than the client's schema failure.
 */
const checked = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, input: unknown) =>
  Schema.decodeUnknownEffect(schema)(input).pipe(Effect.mapError(Errors.InvalidRequest.fromSchemaError))

// ---------------------------------------------------------------------------------------------------------------
// channels

const channelId = Flag.String("channel").pipe(Flag.withDescription("The channel's id"), Flag.withSchema(Ids.ChannelId))

const channelsList = Command.make(
  "list",
  { ...connection, status: Flag.Literals("status", Channel.ChannelStatus.literals).pipe(Flag.optional) },
  Effect.fn("ClientCli.channelsList")(function*(flags) {
    yield* withClient(flags, (client) =>
      Effect.gen(function*() {
        let cursor: string | undefined
        do {
          const page = yield* client.ListChannels(
            yield* checked(
              Schema.Struct({ status: Schema.optionalKey(Channel.ChannelStatus), ...Pagination.pageRequestFields }),
              defined({ status: flags.status, cursor, limit: 500 })
            )
          )
          yield* Effect.forEach(page.items, printChannel(flags.json), { discard: true })
          cursor = page.nextCursor
        } while (cursor !== undefined)
      }))
  })
).pipe(Command.withDescription("List your channels (all pages)"))

const channelsCreate = Command.make(
  "create",
  {
    ...connection,
    id: Flag.String("id").pipe(Flag.withDescription("The channel's id (registering the same id again updates it)")),
    name: Flag.String("name").pipe(Flag.withDescription("Its name")),
    niche: Flag.String("niche").pipe(Flag.withDescription("What it is about, e.g. \"personal finance\"")),
    style: Flag.String("style").pipe(
      Flag.withDescription("How its videos sound"),
      Flag.withDefault("upbeat explainer")
    ),
    language: Flag.String("language").pipe(Flag.withDescription("A BCP 47 tag"), Flag.withDefault("en")),
    cron: optionalString("cron", "When it asks for a video, e.g. \"0 9 * * *\" (needs --time-zone)"),
    timeZone: optionalString("time-zone", "The cron's IANA time zone, e.g. Europe/Berlin"),
    priority: optionalString("priority", "critical, high, normal or low"),
    quality: Flag.Finite("quality").pipe(Flag.withDescription("0 (cheapest) to 1 (best)"), Flag.optional)
  },
  Effect.fn("ClientCli.channelsCreate")(function*(flags) {
    const schedule = Option.isSome(flags.cron) || Option.isSome(flags.timeZone)
      ? {
        schedule: { cron: Option.getOrElse(flags.cron, () => ""), timeZone: Option.getOrElse(flags.timeZone, () => "") }
      }
      : {}
    yield* withClient(flags, (client) =>
      checked(Channel.ChannelRegistration, {
        id: flags.id,
        name: flags.name,
        niche: flags.niche,
        style: flags.style,
        language: flags.language,
        ...schedule,
        ...defined({ priority: flags.priority, quality: flags.quality })
      }).pipe(Effect.flatMap(client.RegisterChannel), Effect.flatMap(printChannel(flags.json))))
  })
).pipe(Command.withDescription("Register a channel (the server checks every field)"))

const channelsPause = Command.make(
  "pause",
  { ...connection, channelId },
  Effect.fn("ClientCli.channelsPause")(function*(flags) {
    yield* withClient(
      flags,
      (client) => client.PauseChannel({ channelId: flags.channelId }).pipe(Effect.flatMap(printChannel(flags.json)))
    )
  })
).pipe(Command.withDescription("Pause a channel: it takes no new videos"))

const channelsResume = Command.make(
  "resume",
  { ...connection, channelId },
  Effect.fn("ClientCli.channelsResume")(function*(flags) {
    yield* withClient(
      flags,
      (client) => client.ResumeChannel({ channelId: flags.channelId }).pipe(Effect.flatMap(printChannel(flags.json)))
    )
  })
).pipe(Command.withDescription("Resume a paused channel"))

/**
 * `ytempire channels …`.
 *
 * @category commands
 */
export const channels = Command.make("channels").pipe(
  Command.withDescription("Channels on a ytempire server"),
  Command.withSubcommands([channelsList, channelsCreate, channelsPause, channelsResume])
)

// ---------------------------------------------------------------------------------------------------------------
// videos

const videoId = Flag.String("video").pipe(Flag.withDescription("The video's id"), Flag.withSchema(Ids.VideoId))

const watch = (client: Client.YtempireClient["Service"], id: Ids.VideoId, json: boolean) =>
  client.WatchVideo({ videoId: id }).pipe(
    Stream.runForEach((progress) =>
      Console.log(
        json
          ? JSON.stringify(Schema.encodeSync(Video.VideoProgress)(progress))
          : `${progress.video.id}\t${progress.event}${progress.stage === undefined ? "" : ` ${progress.stage}`}\t` +
            Money.format(progress.video.totalCost)
      )
    )
  )

const videosGenerate = Command.make(
  "generate",
  {
    ...connection,
    channelId,
    topic: Flag.String("topic").pipe(Flag.withDescription("What the video is about")),
    id: optionalString("id", "The video's id (asking again with the same id makes no second video)"),
    follow: Flag.Boolean("watch").pipe(Flag.withDescription("Follow its progress to the end"), Flag.withDefault(false))
  },
  Effect.fn("ClientCli.videosGenerate")(function*(flags) {
    yield* withClient(flags, (client) =>
      Effect.gen(function*() {
        const video = yield* client.GenerateVideo(
          yield* checked(Video.VideoRequest, {
            channelId: flags.channelId,
            topic: flags.topic,
            ...defined({ videoId: flags.id })
          })
        )
        if (flags.follow) return yield* watch(client, video.id, flags.json)
        yield* printVideo(flags.json)(video)
      }))
  })
).pipe(Command.withDescription("Ask a channel for a video"))

const videosGet = Command.make(
  "get",
  { ...connection, videoId },
  Effect.fn("ClientCli.videosGet")(function*(flags) {
    yield* withClient(flags, (client) =>
      client.GetVideo({ videoId: flags.videoId }).pipe(
        Effect.flatMap((video) =>
          flags.json
            ? printVideo(true)(video)
            : Effect.andThen(
              printVideo(false)(video),
              Effect.forEach(video.stages, (record) =>
                Console.log(
                  `  ${record.stage}\t${record.status}\t${record.provider ?? ""}\t${Money.format(record.cost)}` +
                    (record.artifact === undefined ? "" : `\t${record.artifact.path}`)
                ), { discard: true })
            )
        )
      ))
  })
).pipe(Command.withDescription("A video with its stage records"))

const videosList = Command.make(
  "list",
  {
    ...connection,
    channelId: channelId.pipe(Flag.optional),
    status: Flag.Literals("status", Video.VideoStatus.literals).pipe(Flag.optional),
    limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (newest first)"), Flag.withDefault(50))
  },
  Effect.fn("ClientCli.videosList")(function*(flags) {
    yield* withClient(
      flags,
      (client) =>
        checked(
          Schema.Struct({
            channelId: Schema.optionalKey(Ids.ChannelId),
            status: Schema.optionalKey(Video.VideoStatus),
            ...Pagination.pageRequestFields
          }),
          defined({ channelId: flags.channelId, status: flags.status, limit: flags.limit })
        ).pipe(
          Effect.flatMap(client.ListVideos),
          Effect.flatMap((page) => Effect.forEach(page.items, printVideo(flags.json), { discard: true }))
        )
    )
  })
).pipe(Command.withDescription("Your videos, newest first"))

const videosCancel = Command.make(
  "cancel",
  { ...connection, videoId },
  Effect.fn("ClientCli.videosCancel")(function*(flags) {
    yield* withClient(
      flags,
      (client) => client.CancelVideo({ videoId: flags.videoId }).pipe(Effect.flatMap(printVideo(flags.json)))
    )
  })
).pipe(Command.withDescription("Stop a video and release what it holds"))

const videosWatch = Command.make(
  "watch",
  { ...connection, videoId },
  Effect.fn("ClientCli.videosWatch")(function*(flags) {
    yield* withClient(flags, (client) => watch(client, flags.videoId, flags.json))
  })
).pipe(Command.withDescription("Follow a video's progress until it is final"))

/**
 * `ytempire videos …`.
 *
 * @category commands
 */
export const videos = Command.make("videos").pipe(
  Command.withDescription("Videos on a ytempire server"),
  Command.withSubcommands([videosGenerate, videosGet, videosList, videosCancel, videosWatch])
)
