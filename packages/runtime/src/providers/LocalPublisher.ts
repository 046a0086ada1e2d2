/**
 * The offline provider of the `upload` stage (tier `local`): "publishes" a video into a directory instead of to
 * YouTube, counting the YouTube Data API quota the real upload would spend. For video `<id>` it writes
 * `<dataDir>/published/<id>/`:
 *
 * - `video.mp4`: the `render` stage's video;
 * - `thumbnail.png` (or `.jpg`): the `thumbnail` stage's image;
 * - `metadata.json`: the video as a YouTube Data API v3 `videos` resource ({@link VideoResource}): `kind`,
 *   `etag`, `id`, `snippet` (title, description, tags, category, languages, channel title, thumbnail),
 *   `contentDetails`, `status` (privacy, made-for-kids, licence) and `fileDetails` (from ffprobe).
 *
 * The stage's file is a copy of that `metadata.json` at `scratch/publication.json` (`application/json`), with
 * the details `publishedPath`, `quotaUnitsUsed`, `quotaUploadsUsed` and `alreadyPublished`.
 *
 * **Quota.** Publishing is one `videos.insert` and one `thumbnails.set`, admitted together with
 * `Quota.checkAll` against the channel's YouTube account (`channel.youtubeAccount`, or `"default"`), whose
 * quota is the configured {@link Options.accounts} entry or the API's defaults. When the day's quota cannot pay
 * for both, nothing is written and the stage fails with `ProviderUnavailable` (not retryable: the quota comes
 * back only at the next Pacific midnight), its reason naming the bucket and the reset time.
 *
 * **Idempotence.** Every file is written atomically (a temporary sibling renamed into place), `metadata.json`
 * last, so a complete `metadata.json` means a complete publication. Its `etag` is a digest of what was published
 * (the video's and thumbnail's bytes and the metadata). Publishing a video again with the same content finds
 * that record and returns it: nothing is written and no quota is charged. Different content under the same id
 * (a new render, a changed title or privacy) is published again, replacing the files, and charged again.
 *
 * **Gotchas**
 *
 * - The quota ledger is in memory, one per provider (one per `Offline.layer`): a restarted process, or a second
 *   one, starts from an empty day. It models what YouTube would charge; it is not a shared quota pool.
 * - As with YouTube, a publication that fails after its quota was admitted (a full disk) keeps the charge.
 *
 * @since 0.1.0
 */
import { Ids, type Provider, Quota } from "@ytempire/domain"
import {
  DateTime,
  type Duration,
  Effect,
  FileSystem,
  Path,
  Ref,
  Result,
  Schema,
  type Scope,
  Semaphore,
  Stream
} from "effect"
import { createHash } from "node:crypto"
import { pathToFileURL } from "node:url"
import * as Ffmpeg from "../media/Ffmpeg.ts"
import * as PipelineMetrics from "../PipelineMetrics.ts"
import type * as Providers from "../Providers.ts"
import type * as Script from "../Script.ts"
import * as Shared from "./internal/shared.ts"

/**
 * The provider's name.
 *
 * @category constants
 */
export const name = "local-publisher"

/**
 * The provider's tier.
 *
 * @category constants
 */
export const tier = "local" satisfies Provider.ProviderTier

/**
 * The name of the file it writes in the scratch directory.
 *
 * @category constants
 */
export const fileName = "publication.json"

/**
 * The API calls one publication costs: the upload and setting its thumbnail.
 *
 * @category constants
 */
export const calls: ReadonlyArray<Quota.QuotaCall> = ["videos.insert", "thumbnails.set"]

/**
 * The account of a channel without `youtubeAccount`.
 *
 * @category constants
 */
export const defaultAccountId: Ids.AccountId = Ids.AccountId.make("default")

/**
 * The largest thumbnail `thumbnails.set` accepts: 2 MB.
 *
 * @category constants
 */
export const maxThumbnailBytes = 2 * 1024 * 1024

/**
 * YouTube's video category "Education", the default: the offline scripts are explainers.
 *
 * @category constants
 */
export const defaultCategoryId = "27"

/**
 * Who may watch a video.
 *
 * @category models
 */
export const PrivacyStatus = Schema.Literals(["private", "unlisted", "public"])
/** @category models */
export type PrivacyStatus = typeof PrivacyStatus.Type

/**
 * One of a video's thumbnails.
 *
 * @category models
 */
export const Thumbnail = Schema.Struct({
  url: Schema.String,
  width: Schema.optionalKey(Schema.Int),
  height: Schema.optionalKey(Schema.Int)
})

/**
 * A video as the YouTube Data API v3 describes it (the parts `snippet`, `contentDetails`, `status` and
 * `fileDetails`), with the field names and JSON types of the API: 64-bit counts (`fileSize`, `durationMs`,
 * `bitrateBps`) are strings. `id` is the runtime's video id, `etag` the digest of the published content.
 *
 * @category models
 */
export class VideoResource
  extends Schema.Class<VideoResource>("@ytempire/runtime/providers/LocalPublisher/VideoResource")({
    kind: Schema.Literal("youtube#video"),
    etag: Schema.String,
    id: Schema.String,
    snippet: Schema.Struct({
      publishedAt: Schema.String,
      title: Schema.String,
      description: Schema.String,
      thumbnails: Schema.Record(Schema.String, Thumbnail),
      channelTitle: Schema.String,
      tags: Schema.Array(Schema.String),
      categoryId: Schema.String,
      liveBroadcastContent: Schema.String,
      defaultLanguage: Schema.String,
      localized: Schema.Struct({ title: Schema.String, description: Schema.String }),
      defaultAudioLanguage: Schema.String
    }),
    contentDetails: Schema.Struct({
      duration: Schema.String,
      dimension: Schema.String,
      definition: Schema.String,
      caption: Schema.String,
      licensedContent: Schema.Boolean,
      projection: Schema.String
    }),
    status: Schema.Struct({
      uploadStatus: Schema.String,
      privacyStatus: PrivacyStatus,
      license: Schema.String,
      embeddable: Schema.Boolean,
      publicStatsViewable: Schema.Boolean,
      selfDeclaredMadeForKids: Schema.Boolean,
      containsSyntheticMedia: Schema.Boolean
    }),
    fileDetails: Schema.Struct({
      fileName: Schema.String,
      fileSize: Schema.String,
      fileType: Schema.String,
      container: Schema.String,
      videoStreams: Schema.Array(Schema.Struct({
        widthPixels: Schema.Int,
        heightPixels: Schema.Int,
        aspectRatio: Schema.Number,
        codec: Schema.String
      })),
      audioStreams: Schema.Array(Schema.Struct({
        channelCount: Schema.Int,
        codec: Schema.String
      })),
      durationMs: Schema.String,
      bitrateBps: Schema.String
    })
  })
{}

const VideoResourceJson = Schema.fromJsonString(VideoResource, { space: 2 })

/**
 * How the provider publishes:
 *
 * - `dataDir`: the directory under which `published/<videoId>/` is written;
 * - `privacyStatus`: `"private"` when absent;
 * - `categoryId`: YouTube's category id, {@link defaultCategoryId} when absent;
 * - `containsSyntheticMedia`: the `status.containsSyntheticMedia` disclosure, `false` when absent;
 * - `accounts`: the quota of each YouTube account; an account not listed gets the API's defaults
 *   (`new Quota.AccountQuota({ accountId, role: "primary" })`);
 * - `latency`: an artificial delay before each run.
 *
 * @category models
 */
export interface Options {
  readonly dataDir: string
  readonly privacyStatus?: PrivacyStatus | undefined
  readonly categoryId?: string | undefined
  readonly containsSyntheticMedia?: boolean | undefined
  readonly accounts?: ReadonlyArray<Quota.AccountQuota> | undefined
  readonly latency?: Duration.Input | undefined
}

/**
 * A video's duration as ISO 8601, as `contentDetails.duration` gives it: `PT45S`, `PT1M5S`, `PT1H2M10S`.
 *
 * @category utils
 */
export const isoDuration = (seconds: number): string => {
  const total = Math.max(0, Math.round(seconds))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  return `PT${h > 0 ? `${h}H` : ""}${m > 0 ? `${m}M` : ""}${s > 0 || total === 0 ? `${s}S` : ""}`
}

interface ImageInfo {
  readonly extension: "png" | "jpg"
  readonly width?: number
  readonly height?: number
}

// A PNG (with its size, from the IHDR chunk) or a JPEG, the types thumbnails.set accepts.
const imageInfo = (bytes: Uint8Array): ImageInfo | undefined => {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  if (bytes.length >= 24 && png.every((byte, i) => bytes[i] === byte)) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return { extension: "png", width: view.getUint32(16), height: view.getUint32(20) }
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { extension: "jpg" }
  return undefined
}

// What each account has spent today.
type Ledger = ReadonlyMap<Ids.AccountId, Quota.QuotaUsage>

const sha256 = (...parts: ReadonlyArray<string | Uint8Array>): string => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part)
  return hash.digest("hex")
}

/**
 * The provider, with ffprobe (for `fileDetails`) and the file system it uses. Each provider made keeps its own
 * quota ledger, exposed as the `youtube_quota_used` and `youtube_quota_limit` gauges (see `PipelineMetrics`) of
 * each configured or charged account until the scope closes.
 *
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Providers.StageProvider, never, Ffmpeg.Ffmpeg | FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const ffmpeg = yield* Ffmpeg.Ffmpeg
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const who: Shared.Who = { provider: name, stage: "upload" }
    const accounts = new Map((options.accounts ?? []).map((account) => [account.accountId, account]))
    const ledger = yield* Ref.make<Ledger>(new Map())
    const gauges = PipelineMetrics.quotaGauges(yield* Effect.context<never>())
    yield* Effect.addFinalizer(() => Effect.sync(gauges.close))
    const track = (account: Quota.AccountQuota) =>
      gauges.track(account, () => Ref.getUnsafe(ledger).get(account.accountId))
    for (const account of accounts.values()) track(account)
    // Finding an earlier publication, charging the quota and writing are one step per publisher, so that two
    // runs of the same video cannot both pay.
    const lock = yield* Semaphore.make(1)

    const accountOf = (input: Providers.StageInput): Quota.AccountQuota => {
      const accountId = input.channel.youtubeAccount ?? defaultAccountId
      return accounts.get(accountId) ?? new Quota.AccountQuota({ accountId, role: "primary" })
    }

    // Admits both calls or none; the usage is updated atomically.
    const charge = Effect.fnUntraced(function*(account: Quota.AccountQuota) {
      const now = yield* DateTime.now
      const admitted = yield* Ref.modify(
        ledger,
        (usages: Ledger): readonly [Result.Result<Quota.QuotaUsage, Quota.QuotaExhausted>, Ledger] => {
          const result = Quota.checkAll(account, usages.get(account.accountId) ?? Quota.emptyUsage(now), calls, now)
          return Result.isSuccess(result)
            ? [result, new Map(usages).set(account.accountId, result.success)]
            : [result, usages]
        }
      )
      track(account)
      if (Result.isFailure(admitted)) {
        const exhausted = admitted.failure
        return yield* Shared.unavailable(
          who,
          `the YouTube quota of account ${exhausted.accountId} is exhausted: its ${exhausted.bucket} bucket has ` +
            `${Math.max(0, exhausted.limit - exhausted.used)} of ${exhausted.limit} left today and the upload needs ` +
            `${exhausted.needed}; it resets at ${DateTime.formatIso(exhausted.resetsAt)}`,
          false
        )
      }
      return calls.reduce(
        (sum, call) => {
          const cost = Quota.costOf(call, account.model)
          return { units: sum.units + cost.units, uploads: sum.uploads + cost.uploads }
        },
        { units: 0, uploads: 0 }
      )
    })

    const sha256OfFile = (file: string) =>
      Effect.suspend(() => {
        const hash = createHash("sha256")
        return fs.stream(file).pipe(
          Stream.runForEach((chunk) => Effect.sync(() => hash.update(chunk))),
          Effect.map(() => hash.digest("hex")),
          Effect.mapError(Shared.fromPlatform(who, `could not read ${file}`))
        )
      })

    const readFile = (file: string) =>
      fs.readFile(file).pipe(Effect.mapError(Shared.fromPlatform(who, `could not read ${file}`)))

    // The video resource already published under `directory` with this etag, when its files are all there.
    const findPublished = Effect.fnUntraced(function*(directory: string, etag: string) {
      const metadataPath = path.join(directory, "metadata.json")
      const text = yield* fs.readFileString(metadataPath).pipe(Effect.option)
      if (text._tag === "None") return undefined
      const existing = yield* Schema.decodeUnknownEffect(VideoResourceJson)(text.value).pipe(Effect.option)
      if (existing._tag === "None" || existing.value.etag !== etag) return undefined
      const video = yield* fs.stat(path.join(directory, existing.value.fileDetails.fileName)).pipe(Effect.option)
      if (video._tag === "None" || String(video.value.size) !== existing.value.fileDetails.fileSize) return undefined
      return text.value
    })

    const describe = Effect.fnUntraced(function*(
      input: Providers.StageInput,
      script: Script.Script,
      video: { readonly file: string; readonly sha256: string; readonly bytes: number },
      thumbnail: { readonly bytes: Uint8Array; readonly info: ImageInfo; readonly url: string }
    ) {
      const probe = yield* ffmpeg.probe(video.file).pipe(
        Effect.mapError(Shared.fromMedia(who, `could not read the video ${video.file}`))
      )
      const videoStreams = probe.streams.filter((stream) => stream.codecType === "video")
      const audioStreams = probe.streams.filter((stream) => stream.codecType === "audio")
      const [first] = videoStreams
      if (first === undefined) return yield* Shared.unavailable(who, `${video.file} has no video stream`, false)
      const fileSize = video.bytes
      const privacyStatus = options.privacyStatus ?? "private"
      const body = {
        kind: "youtube#video" as const,
        id: input.videoId,
        snippet: {
          title: script.title,
          description: script.description,
          thumbnails: {
            maxres: {
              url: thumbnail.url,
              ...(thumbnail.info.width === undefined ? {} : { width: thumbnail.info.width }),
              ...(thumbnail.info.height === undefined ? {} : { height: thumbnail.info.height })
            }
          },
          channelTitle: input.channel.name,
          tags: script.tags,
          categoryId: options.categoryId ?? defaultCategoryId,
          liveBroadcastContent: "none",
          defaultLanguage: script.language,
          localized: { title: script.title, description: script.description },
          defaultAudioLanguage: script.language
        },
        contentDetails: {
          duration: isoDuration(probe.durationSeconds),
          dimension: "2d",
          definition: (first.height ?? 0) >= 720 ? "hd" : "sd",
          caption: "false",
          licensedContent: false,
          projection: "rectangular"
        },
        status: {
          uploadStatus: "processed",
          privacyStatus,
          license: "youtube",
          embeddable: true,
          publicStatsViewable: true,
          selfDeclaredMadeForKids: false,
          containsSyntheticMedia: options.containsSyntheticMedia ?? false
        },
        fileDetails: {
          fileName: "video.mp4",
          fileSize: String(fileSize),
          fileType: "video",
          container: probe.formatName.split(",")[0] ?? probe.formatName,
          videoStreams: videoStreams.map((stream) => ({
            widthPixels: stream.width ?? 0,
            heightPixels: stream.height ?? 0,
            aspectRatio: stream.width !== undefined && stream.height ? stream.width / stream.height : 0,
            codec: stream.codecName ?? "unknown"
          })),
          audioStreams: audioStreams.map((stream) => ({
            channelCount: stream.channels ?? 0,
            codec: stream.codecName ?? "unknown"
          })),
          durationMs: String(Math.round(probe.durationSeconds * 1000)),
          bitrateBps: String(probe.durationSeconds > 0 ? Math.round((fileSize * 8) / probe.durationSeconds) : 0)
        }
      }
      // The etag covers the published bytes and every field but the publication time.
      const etag = sha256(video.sha256, sha256(thumbnail.bytes), JSON.stringify(body))
      return { body, etag }
    })

    const run = Effect.fn("LocalPublisher.run")(function*(input: Providers.StageInput) {
      yield* Effect.annotateCurrentSpan({ "ytempire.video.id": input.videoId, "ytempire.channel.id": input.channel.id })
      yield* Shared.delay(options.latency)
      const [published, cpuMillis] = yield* Shared.timed(Effect.gen(function*() {
        const script = yield* Shared.readScript(who, fs, input)
        const videoFile = yield* Shared.inputFile(who, fs, input, "render")
        const thumbnailFile = yield* Shared.inputFile(who, fs, input, "thumbnail")
        const directory = path.join(options.dataDir, "published", input.videoId)

        const thumbnailSize = yield* fs.stat(thumbnailFile).pipe(
          Effect.mapError(Shared.fromPlatform(who, `could not read ${thumbnailFile}`))
        )
        if (Number(thumbnailSize.size) > maxThumbnailBytes) {
          return yield* Shared.unavailable(
            who,
            `the thumbnail ${thumbnailFile} has ${thumbnailSize.size} bytes; YouTube accepts at most ${maxThumbnailBytes}`,
            false
          )
        }
        const thumbnailBytes = yield* readFile(thumbnailFile)
        const info = imageInfo(thumbnailBytes)
        if (info === undefined) {
          return yield* Shared.unavailable(who, `the thumbnail ${thumbnailFile} is neither a PNG nor a JPEG`, false)
        }
        const thumbnailName = `thumbnail.${info.extension}`
        const videoSize = yield* fs.stat(videoFile).pipe(
          Effect.mapError(Shared.fromPlatform(who, `could not read ${videoFile}`))
        )
        const videoSha256 = yield* sha256OfFile(videoFile)
        const video = { file: videoFile, sha256: videoSha256, bytes: Number(videoSize.size) }
        const { body, etag } = yield* describe(input, script, video, {
          bytes: thumbnailBytes,
          info,
          url: pathToFileURL(path.join(directory, thumbnailName)).href
        })

        return yield* lock.withPermits(1)(Effect.gen(function*() {
          const existing = yield* findPublished(directory, etag)
          if (existing !== undefined) return { json: existing, directory, units: 0, uploads: 0, already: true }

          const charged = yield* charge(accountOf(input))
          const publishedAt = DateTime.formatIso(yield* DateTime.now)
          const resource = new VideoResource({ ...body, etag, snippet: { publishedAt, ...body.snippet } })
          const json = yield* Schema.encodeEffect(VideoResourceJson)(resource).pipe(
            Effect.mapError((error) => Shared.unavailable(who, `the metadata does not encode: ${error.message}`, false))
          )
          yield* fs.makeDirectory(directory, { recursive: true }).pipe(
            Effect.mapError(Shared.fromPlatform(who, `could not create ${directory}`))
          )
          // A record of other content goes first, so that no record ever describes files it does not match.
          yield* fs.remove(path.join(directory, "metadata.json"), { force: true }).pipe(
            Effect.mapError(Shared.fromPlatform(who, `could not replace the earlier publication in ${directory}`))
          )
          yield* Shared.copyFileAtomically(who, videoFile, path.join(directory, "video.mp4"), fs, path)
          yield* Shared.copyFileAtomically(who, thumbnailFile, path.join(directory, thumbnailName), fs, path)
          yield* Shared.writeFileAtomically(
            who,
            path.join(directory, "metadata.json"),
            new TextEncoder().encode(json),
            fs,
            path
          )
          return { json, directory, units: charged.units, uploads: charged.uploads, already: false }
        }))
      }))

      const output = yield* Shared.scratchFile(who, fs, path, input, fileName)
      yield* Shared.writeFileAtomically(who, output, new TextEncoder().encode(published.json), fs, path)
      const value: Providers.ProducedFile = {
        path: output,
        mediaType: "application/json",
        details: {
          publishedPath: published.directory,
          quotaUnitsUsed: published.units,
          quotaUploadsUsed: published.uploads,
          alreadyPublished: published.already
        }
      }
      return { value, usage: Shared.cpuUsage(cpuMillis) }
    })

    return { name, tier, stage: "upload", run }
  })
