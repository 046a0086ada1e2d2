/**
 * Videos: what a caller asks for (a VideoRequest) and what the pipeline records as it makes one (a Video with
 * a record per stage, every provider attempt and its error, the cost and the artifact of each stage).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import * as Budget from "./Budget.ts"
import * as Channel from "./Channel.ts"
import * as Errors from "./Errors.ts"
import * as Ids from "./Ids.ts"
import * as Money from "./Money.ts"
import * as Pagination from "./Pagination.ts"
import * as Provider from "./Provider.ts"
import * as Quota from "./Quota.ts"
import * as StageModule from "./Stage.ts"
import * as Text from "./Text.ts"

/**
 * Where a video is: `queued` (accepted, waiting for its channel's turn), `running`, and the final `completed`,
 * `failed` and `cancelled`.
 *
 * @category models
 */
export const VideoStatus = Schema.Literals(["queued", "running", "completed", "failed", "cancelled"])
/** @category models */
export type VideoStatus = typeof VideoStatus.Type

/**
 * Whether a status is final: the video will not change any more.
 *
 * @category utils
 */
export const isFinal = (status: VideoStatus): boolean =>
  status === "completed" || status === "failed" || status === "cancelled"

/**
 * The prefix of the ids of videos that a channel's schedule requests (`scheduled:<channel>:<time>`): reserved, so
 * that no request can take the id of a channel's future run.
 *
 * @category constants
 */
export const scheduledPrefix = "scheduled:"

/**
 * A request for a video. `videoId` is the idempotency key: asking twice with the same id makes one video.
 * Without one, the runtime assigns an id.
 *
 * @category models
 */
export class VideoRequest extends Schema.Class<VideoRequest>("@ytempire/domain/Video/VideoRequest")({
  channelId: Ids.ChannelId,
  videoId: Schema.optionalKey(
    Ids.VideoId.check(
      Schema.isMaxLength(128, { message: "videoId must be at most 128 characters" }),
      Schema.makeFilter((id: string) =>
        id.startsWith(scheduledPrefix)
          ? `videoId must not start with "${scheduledPrefix}": those ids belong to channels' scheduled runs`
          : undefined
      )
    )
  ),
  topic: Schema.String.check(
    Schema.isTrimmed({ message: "topic must not start or end with spaces" }),
    Schema.isNonEmpty({ message: "topic must not be empty" }),
    Schema.isMaxLength(300, { message: "topic must be at most 300 characters" }),
    Text.noControlCharacters("topic")
  )
}) {}

/**
 * A file a stage produced, addressed by its content: `path` is relative to the data directory.
 *
 * @category models
 */
export class ArtifactRef extends Schema.Class<ArtifactRef>("@ytempire/domain/Video/ArtifactRef")({
  path: Schema.NonEmptyString,
  sha256: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/, { message: "sha256 must be 64 hex digits" })),
  bytes: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  mediaType: Schema.NonEmptyString
}) {}

/**
 * A failure as recorded on a stage: its tag, its message and whether it was retryable.
 *
 * @category models
 */
export class RecordedError extends Schema.Class<RecordedError>("@ytempire/domain/Video/RecordedError")({
  tag: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/**
 * How an attempt ended.
 *
 * @category models
 */
export const AttemptOutcome = Schema.Literals(["succeeded", "failed", "timed-out"])
/** @category models */
export type AttemptOutcome = typeof AttemptOutcome.Type

/**
 * One try of one provider at a stage. `fallbackReason` says why the chain came to this provider (the previous
 * provider's error, or soft budget control).
 *
 * @category models
 */
export class ProviderAttempt extends Schema.Class<ProviderAttempt>("@ytempire/domain/Video/ProviderAttempt")({
  provider: Schema.String,
  tier: Provider.ProviderTier,
  attempt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  outcome: AttemptOutcome,
  startedAt: Schema.DateTimeUtcFromString,
  endedAt: Schema.DateTimeUtcFromString,
  error: Schema.optionalKey(RecordedError),
  fallbackReason: Schema.optionalKey(Schema.String)
}) {}

/**
 * A stage's state within a video.
 *
 * @category models
 */
export const StageStatus = Schema.Literals(["pending", "running", "completed", "failed", "cancelled"])
/** @category models */
export type StageStatus = typeof StageStatus.Type

/**
 * Everything about one stage of one video: the provider and tier that did it, every attempt with its error,
 * the estimate that was reserved and the actual cost that was committed, when it ran, and what it produced.
 *
 * @category models
 */
export class StageRecord extends Schema.Class<StageRecord>("@ytempire/domain/Video/StageRecord")({
  stage: StageModule.Stage,
  status: StageStatus,
  provider: Schema.optionalKey(Schema.String),
  tier: Schema.optionalKey(Provider.ProviderTier),
  attempts: Schema.Array(ProviderAttempt),
  estimated: Schema.optionalKey(Money.Money),
  cost: Money.Money,
  startedAt: Schema.optionalKey(Schema.DateTimeUtcFromString),
  endedAt: Schema.optionalKey(Schema.DateTimeUtcFromString),
  artifact: Schema.optionalKey(ArtifactRef)
}) {}

/**
 * A video as the pipeline records it. `traceId` is the video's trace (OpenTelemetry's when tracing is on);
 * `spanId` the span of that trace that requested it, under which its workflow starts, however long it waits in
 * its channel's queue.
 *
 * @category models
 */
export class Video extends Schema.Class<Video>("@ytempire/domain/Video/Video")({
  id: Ids.VideoId,
  channelId: Ids.ChannelId,
  tenantId: Ids.TenantId,
  topic: Schema.String,
  status: VideoStatus,
  currentStage: Schema.optionalKey(StageModule.Stage),
  stages: Schema.Array(StageRecord),
  totalCost: Money.Money,
  error: Schema.optionalKey(RecordedError),
  traceId: Schema.optionalKey(Schema.String),
  spanId: Schema.optionalKey(Schema.String),
  requestedAt: Schema.DateTimeUtcFromString,
  updatedAt: Schema.DateTimeUtcFromString,
  completedAt: Schema.optionalKey(Schema.DateTimeUtcFromString)
}) {}

/**
 * What happened to a video, as its progress stream reports it.
 *
 * @category models
 */
export const ProgressEvent = Schema.Literals([
  "queued",
  "started",
  "stage-started",
  "attempt-failed",
  "stage-completed",
  "completed",
  "failed",
  "cancelled"
])
/** @category models */
export type ProgressEvent = typeof ProgressEvent.Type

/**
 * One element of a video's progress stream: the event and the video as it stands after it. The stream ends
 * after a final event (`completed`, `failed` or `cancelled`).
 *
 * @category models
 */
export class VideoProgress extends Schema.Class<VideoProgress>("@ytempire/domain/Video/VideoProgress")({
  event: ProgressEvent,
  stage: Schema.optionalKey(StageModule.Stage),
  video: Video
}) {}

/**
 * No video with this id is visible to the caller.
 *
 * @category errors
 */
export class VideoNotFound extends Schema.TaggedError<VideoNotFound>()("VideoNotFound", {
  videoId: Schema.String
}) {
  override get message(): string {
    return `video ${this.videoId} not found`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// RPC contract

const videoIdPayload = { videoId: Ids.VideoId }

/**
 * A page of videos.
 *
 * @category models
 */
export const VideoPage = Pagination.Page(Video)
/** @category models */
export type VideoPage = typeof VideoPage.Type

/**
 * The video operations: generate (idempotent by `videoId`), get (with stage records), list (filtered, newest
 * first, by cursor), cancel, and watch: a stream of progress that ends when the video is final.
 *
 * @category rpc
 */
export class VideoRpcs extends RpcGroup.make(
  Rpc.make("GenerateVideo", {
    payload: VideoRequest,
    success: Video,
    error: Schema.Union([
      Channel.ChannelNotFound,
      Channel.ChannelPaused,
      Budget.BudgetExceeded,
      Quota.QuotaExhausted,
      Errors.InvalidRequest,
      Errors.Forbidden
    ])
  }),
  Rpc.make("GetVideo", { payload: videoIdPayload, success: Video, error: VideoNotFound }),
  Rpc.make("ListVideos", {
    payload: {
      channelId: Schema.optionalKey(Ids.ChannelId),
      status: Schema.optionalKey(VideoStatus),
      ...Pagination.pageRequestFields
    },
    success: VideoPage,
    error: Schema.Union([Channel.ChannelNotFound, Errors.InvalidRequest])
  }),
  Rpc.make("CancelVideo", {
    payload: videoIdPayload,
    success: Video,
    error: Schema.Union([VideoNotFound, Errors.Forbidden])
  }),
  Rpc.make("WatchVideo", { payload: videoIdPayload, success: VideoProgress, error: VideoNotFound, stream: true })
) {}

/**
 * A stage could not be done: every provider of its chain failed. `attempts` holds each try and its error, as
 * the video's stage record keeps them.
 *
 * @category errors
 */
export class StageFailed extends Schema.TaggedError<StageFailed>()("StageFailed", {
  stage: StageModule.Stage,
  attempts: Schema.Array(ProviderAttempt)
}) {
  override get message(): string {
    const last = this.attempts.at(-1)
    return `every provider of the ${this.stage} stage failed` +
      (last?.error === undefined ? "" : `; last: ${last.provider}: ${last.error.message}`)
  }
}

/**
 * The progress a watcher reports between two snapshots of a video (`previous` absent for the first one): a
 * stage that started or completed, an attempt that failed, the video starting or reaching its final status.
 * Several snapshots may collapse into one (a watcher sees the latest state), so a step may yield several events,
 * in the order they happened; a snapshot that changed nothing a watcher cares about yields none.
 *
 * @category utils
 */
export const progressBetween = (previous: Video | undefined, next: Video): ReadonlyArray<VideoProgress> => {
  const events: Array<VideoProgress> = []
  const push = (event: ProgressEvent, stage?: StageModule.Stage) =>
    events.push(new VideoProgress(stage === undefined ? { event, video: next } : { event, stage, video: next }))
  if (previous === undefined) push(next.status === "queued" ? "queued" : "started")
  else if (previous.status === "queued" && next.status !== "queued") push("started")
  for (const record of next.stages) {
    const before = previous?.stages.find((entry) => entry.stage === record.stage)
    const failedBefore = before?.attempts.filter((attempt) => attempt.outcome !== "succeeded").length ?? 0
    for (const attempt of record.attempts.filter((entry) => entry.outcome !== "succeeded").slice(failedBefore)) {
      if (attempt.error !== undefined) push("attempt-failed", record.stage)
    }
    if (before === undefined && record.status === "running") push("stage-started", record.stage)
    if (record.status === "completed" && before?.status !== "completed") push("stage-completed", record.stage)
  }
  if (isFinal(next.status) && (previous === undefined || !isFinal(previous.status))) {
    push(next.status === "completed" ? "completed" : next.status === "failed" ? "failed" : "cancelled")
  }
  return events
}
