/**
 * Where channel records live. The channel entity is their single writer; the pipeline and readers look them
 * up here.
 *
 * @since 0.1.0
 */
import { Channel, Ids } from "@ytempire/domain"
import { Context, Effect, Layer, Ref } from "effect"

/**
 * The channel records.
 *
 * @category services
 */
export class ChannelRepository extends Context.Service<ChannelRepository, {
  /** Stores the channel, replacing the record with its id. */
  readonly put: (channel: Channel.Channel) => Effect.Effect<Channel.Channel>
  /** The channel with this id. */
  readonly get: (channelId: Ids.ChannelId) => Effect.Effect<Channel.Channel, Channel.ChannelNotFound>
  /** Every channel of a tenant. */
  readonly list: (tenantId: Ids.TenantId) => Effect.Effect<ReadonlyArray<Channel.Channel>>
}>()("@ytempire/runtime/ChannelRepository") {
  /**
   * Records in memory, for tests and the in-memory mode.
   */
  static readonly layerMemory: Layer.Layer<ChannelRepository> = Layer.effect(ChannelRepository)(
    Effect.gen(function*() {
      const channels = yield* Ref.make(new Map<string, Channel.Channel>())
      return ChannelRepository.of({
        put: (channel) => Ref.update(channels, (map) => new Map(map).set(channel.id, channel)).pipe(Effect.as(channel)),
        get: (channelId) =>
          Ref.get(channels).pipe(Effect.flatMap((map) => {
            const channel = map.get(channelId)
            return channel === undefined
              ? Effect.fail(new Channel.ChannelNotFound({ channelId }))
              : Effect.succeed(channel)
          })),
        list: (tenantId) =>
          Ref.get(channels).pipe(
            Effect.map((map) => [...map.values()].filter((channel) => channel.tenantId === tenantId))
          )
      })
    })
  )
}
