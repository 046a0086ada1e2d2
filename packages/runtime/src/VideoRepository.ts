/**
 * Where video records live: each video with its status, current stage and stage records. The pipeline writes
 * them as stages finish; readers list, get and watch them (a stream of the video as it changes, ending when
 * it is final).
 *
 * @since 0.1.0
 */
import { Ids, Video } from "@ytempire/domain"
import { Context, Effect, Layer, Option, PubSub, Ref, Stream } from "effect"

/**
 * Which videos to list.
 *
 * @category models
 */
export interface VideoFilter {
  readonly tenantId?: Ids.TenantId | undefined
  readonly channelId?: Ids.ChannelId | undefined
  readonly status?: Video.VideoStatus | undefined
}

/**
 * The video records.
 *
 * @category services
 */
export class VideoRepository extends Context.Service<VideoRepository, {
  /** Stores a new video; when one with its id exists, returns that one unchanged (a request is idempotent). */
  readonly insert: (video: Video.Video) => Effect.Effect<Video.Video>
  /** The video with this id. */
  readonly get: (videoId: Ids.VideoId) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /** Applies `change` to the stored video, atomically, and returns the result. */
  readonly update: (
    videoId: Ids.VideoId,
    change: (video: Video.Video) => Video.Video
  ) => Effect.Effect<Video.Video, Video.VideoNotFound>
  /** The videos matching the filter, newest request first. */
  readonly list: (filter: VideoFilter) => Effect.Effect<ReadonlyArray<Video.Video>>
  /** The video now and after every change, ending after a final status. */
  readonly watch: (videoId: Ids.VideoId) => Stream.Stream<Video.Video, Video.VideoNotFound>
}>()("@ytempire/runtime/VideoRepository") {
  /**
   * Records in memory, for tests and the in-memory mode.
   */
  static readonly layerMemory: Layer.Layer<VideoRepository> = Layer.effect(VideoRepository)(
    Effect.gen(function*() {
      const videos = yield* Ref.make(new Map<string, Video.Video>())
      const changes = yield* PubSub.unbounded<Video.Video>()

      const get = (videoId: Ids.VideoId) =>
        Ref.get(videos).pipe(
          Effect.flatMap((map) => {
            const video = map.get(videoId)
            return video === undefined ? Effect.fail(new Video.VideoNotFound({ videoId })) : Effect.succeed(video)
          })
        )

      const insert = (video: Video.Video) =>
        Ref.modify(videos, (map): [Option.Option<Video.Video>, Map<string, Video.Video>] => {
          const existing = map.get(video.id)
          return existing === undefined
            ? [Option.none(), new Map(map).set(video.id, video)]
            : [Option.some(existing), map]
        }).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.as(PubSub.publish(changes, video), video),
            onSome: Effect.succeed
          }))
        )

      const update = (videoId: Ids.VideoId, change: (video: Video.Video) => Video.Video) =>
        Ref.modify(videos, (map): [Option.Option<Video.Video>, Map<string, Video.Video>] => {
          const existing = map.get(videoId)
          if (existing === undefined) return [Option.none(), map]
          const next = change(existing)
          return [Option.some(next), new Map(map).set(videoId, next)]
        }).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new Video.VideoNotFound({ videoId })),
            onSome: (video) => Effect.as(PubSub.publish(changes, video), video)
          }))
        )

      const list = (filter: VideoFilter) =>
        Ref.get(videos).pipe(Effect.map((map) =>
          [...map.values()]
            .filter((video) =>
              (filter.tenantId === undefined || video.tenantId === filter.tenantId) &&
              (filter.channelId === undefined || video.channelId === filter.channelId) &&
              (filter.status === undefined || video.status === filter.status)
            )
            .toReversed()
        ))

      const watch = (videoId: Ids.VideoId): Stream.Stream<Video.Video, Video.VideoNotFound> =>
        Stream.unwrap(Effect.gen(function*() {
          // Subscribe before reading, so that no change between the read and the subscription is missed.
          const subscription = yield* PubSub.subscribe(changes)
          const current = yield* get(videoId)
          const later = Stream.fromSubscription(subscription).pipe(
            Stream.filter((video) => video.id === videoId)
          )
          return Stream.concat(Stream.make(current), later).pipe(
            Stream.takeUntil((video) => Video.isFinal(video.status))
          )
        }))

      return VideoRepository.of({ insert, get, update, list, watch })
    })
  )
}
