/**
 * The durable pipeline of one video, as a workflow contract: its id derives from the video id (asking for the
 * same video twice runs it once), it runs script → voice → thumbnail → render → upload, and it ends with the
 * video completed, or failed with the reason: a budget refusal (never retried) or a stage whose every provider
 * failed. The runtime implements it; servers and clients refer to it by this contract.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Workflow } from "effect/workflow"
import * as Budget from "./Budget.ts"
import * as Channel from "./Channel.ts"
import * as Ids from "./Ids.ts"
import * as Video from "./Video.ts"

/**
 * The video pipeline workflow.
 *
 * @category workflows
 */
export const VideoPipeline = Workflow.make("VideoPipeline", {
  payload: {
    videoId: Ids.VideoId,
    channelId: Ids.ChannelId,
    tenantId: Ids.TenantId,
    topic: Schema.String
  },
  idempotencyKey: ({ videoId }) => videoId,
  error: Schema.Union([Budget.BudgetExceeded, Video.StageFailed, Channel.ChannelNotFound])
})
