/**
 * ffmpeg and ffprobe: rendering a video (H.264 and AAC in MP4, 1280×720) from scene images and one narration,
 * and reading a media file's streams and duration. The binaries are the static builds installed from npm
 * (`@ffmpeg-installer/ffmpeg`, `@ffprobe-installer/ffprobe`) unless `YTEMPIRE_FFMPEG` / `YTEMPIRE_FFPROBE` name
 * others; they are located on first use.
 *
 * Every process is scoped to the effect that runs it: interrupting a render stops ffmpeg (SIGTERM, then SIGKILL
 * after three seconds) and removes what it had written, and a render only ever appears at its output path
 * complete.
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { Config, Context, Effect, FileSystem, Layer, Option, Path, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { writeAtomically } from "../internal/atomicFile.ts"
import { InvalidMediaInput, MediaError } from "./MediaError.ts"

/**
 * The frame size of every render: 720p.
 *
 * @category constants
 */
export const frameSize = { width: 1280, height: 720 } as const

/**
 * The frame rate of a render when the request names none.
 *
 * @category constants
 */
export const defaultFps = 30

/**
 * An input file does not exist: a scene's image, the narration, or the file to probe.
 *
 * @category errors
 */
export class MissingInput extends Schema.TaggedError<MissingInput>()("MissingInput", {
  path: Schema.String,
  role: Schema.Literals(["scene", "narration", "probe"])
}) {
  override get message(): string {
    return `the ${this.role === "probe" ? "file to probe" : this.role} ${this.path} does not exist`
  }
}

/**
 * The ffmpeg and ffprobe executables in use.
 *
 * @category models
 */
export class Binaries extends Schema.Class<Binaries>("@ytempire/runtime/media/Ffmpeg/Binaries")({
  ffmpeg: Schema.String,
  ffprobe: Schema.String
}) {}

/**
 * One scene of a video: an image (any size; it is fitted into 1280×720 on black) and its `duration`, which is
 * its share of the video: the durations are scaled so that together they last as long as the narration.
 *
 * @category models
 */
export interface Scene {
  readonly image: string
  readonly duration: number
}

/**
 * A render: scenes in order, the narration (any audio file ffmpeg reads; Speech writes WAV), the output `.mp4`
 * path, and the frame rate (30 when absent).
 *
 * @category models
 */
export interface RenderRequest {
  readonly scenes: ReadonlyArray<Scene>
  readonly narration: string
  readonly output: string
  readonly fps?: number | undefined
}

/**
 * A video that was written.
 *
 * @category models
 */
export class RenderedVideo extends Schema.Class<RenderedVideo>("@ytempire/runtime/media/Ffmpeg/RenderedVideo")({
  path: Schema.String,
  bytes: Schema.Int,
  width: Schema.Int,
  height: Schema.Int,
  fps: Schema.Int,
  frames: Schema.Int,
  durationSeconds: Schema.Number
}) {}

/**
 * One stream of a probed file. `codecType` is ffprobe's (`"video"`, `"audio"`, `"subtitle"`, `"data"`);
 * dimensions are present for video streams, `sampleRate` and `channels` for audio.
 *
 * @category models
 */
export class ProbeStream extends Schema.Class<ProbeStream>("@ytempire/runtime/media/Ffmpeg/ProbeStream")({
  index: Schema.Int,
  codecType: Schema.String,
  codecName: Schema.optionalKey(Schema.String),
  width: Schema.optionalKey(Schema.Int),
  height: Schema.optionalKey(Schema.Int),
  sampleRate: Schema.optionalKey(Schema.Int),
  channels: Schema.optionalKey(Schema.Int),
  durationSeconds: Schema.optionalKey(Schema.Number)
}) {}

/**
 * What ffprobe says about a file: its container (`formatName`, such as `"mov,mp4,m4a,3gp,3g2,mj2"` or
 * `"wav"`), its duration in seconds (0 when ffprobe reports none, as for a still image), its size, and its
 * streams.
 *
 * @category models
 */
export class ProbeResult extends Schema.Class<ProbeResult>("@ytempire/runtime/media/Ffmpeg/ProbeResult")({
  formatName: Schema.String,
  durationSeconds: Schema.Number,
  bytes: Schema.optionalKey(Schema.Int),
  streams: Schema.Array(ProbeStream)
}) {}

/**
 * ffmpeg and ffprobe.
 *
 * @category services
 */
export class Ffmpeg extends Context.Service<Ffmpeg, {
  /** The executables in use, located on first use. */
  readonly binaries: Effect.Effect<Binaries, MediaError>
  /**
   * Renders scenes over the narration into an MP4 (libx264 yuv420p with `+faststart`, AAC 48 kHz stereo) that
   * lasts as long as the narration, written atomically: nothing appears at `output` unless it is complete.
   */
  readonly render: (
    request: RenderRequest
  ) => Effect.Effect<RenderedVideo, MissingInput | InvalidMediaInput | MediaError>
  /** The streams and duration of a media file, from `ffprobe -show_streams -show_format`. */
  readonly probe: (file: string) => Effect.Effect<ProbeResult, MissingInput | MediaError>
}>()("@ytempire/runtime/media/Ffmpeg") {
  /**
   * Ffmpeg with the binaries from `YTEMPIRE_FFMPEG` / `YTEMPIRE_FFPROBE` or the npm packages. Needs a
   * ChildProcessSpawner, a FileSystem and a Path.
   *
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<
    Ffmpeg,
    never,
    ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem | Path.Path
  > = Layer.effect(
    Ffmpeg,
    Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const binaries = yield* Effect.cached(
        Effect.all({
          ffmpeg: locate("ffmpeg", "YTEMPIRE_FFMPEG"),
          ffprobe: locate("ffprobe", "YTEMPIRE_FFPROBE")
        }).pipe(
          Effect.map((paths) => new Binaries(paths)),
          Effect.provideService(FileSystem.FileSystem, fs)
        )
      )

      const exists = (file: string) =>
        fs.exists(file).pipe(
          Effect.mapError((cause) =>
            new MediaError({ tool: "filesystem", message: `could not check whether ${file} exists`, cause })
          )
        )

      const run = (tool: "ffmpeg" | "ffprobe", executable: string, args: ReadonlyArray<string>) =>
        runProcess(tool, executable, args).pipe(Effect.provideService(ChildProcessSpawner.ChildProcessSpawner, spawner))

      const probe = Effect.fn("Ffmpeg.probe")(function*(file: string) {
        yield* Effect.annotateCurrentSpan({ file })
        if (!(yield* exists(file))) return yield* new MissingInput({ path: file, role: "probe" })
        const { ffprobe } = yield* binaries
        const result = yield* run("ffprobe", ffprobe, [
          "-v",
          "error",
          "-print_format",
          "json",
          "-show_streams",
          "-show_format",
          asFileUrl(file)
        ])
        if (result.exitCode !== 0) return yield* exitFailure("ffprobe", result)
        return yield* decodeProbe(result.stdout)
      })

      const render = Effect.fn("Ffmpeg.render")(
        function*(
          request: RenderRequest
        ): Effect.fn.Return<RenderedVideo, MissingInput | InvalidMediaInput | MediaError> {
          const fps = request.fps ?? defaultFps
          yield* Effect.annotateCurrentSpan({ scenes: request.scenes.length, output: request.output, fps })
          yield* validate(request, fps, path)
          if (!(yield* exists(request.narration))) {
            return yield* new MissingInput({ path: request.narration, role: "narration" })
          }
          for (const scene of request.scenes) {
            if (!(yield* exists(scene.image))) return yield* new MissingInput({ path: scene.image, role: "scene" })
          }

          const narration = yield* probe(request.narration)
          const audio = narration.streams.find((stream) => stream.codecType === "audio")
          const seconds = audio?.durationSeconds ?? narration.durationSeconds
          if (audio === undefined || !(seconds > 0)) {
            return yield* new InvalidMediaInput({
              field: "narration",
              message: `${request.narration} has no audio to narrate the video with`
            })
          }

          // Whole frames covering all of the narration: the picture outlasts the sound by under one frame.
          const frames = splitFrames(request.scenes.map((scene) => scene.duration), Math.ceil(seconds * fps - 1e-9))
          const totalFrames = frames.reduce((sum, n) => sum + n, 0)
          const { ffmpeg } = yield* binaries
          yield* Effect.annotateCurrentSpan({ narrationSeconds: seconds, frames: totalFrames })

          yield* writeAtomically(request.output, (temporary) =>
            Effect.gen(function*() {
              const result = yield* run("ffmpeg", ffmpeg, renderArgs(request, frames, fps, totalFrames, temporary))
              if (result.exitCode !== 0) return yield* exitFailure("ffmpeg", result)
            })).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path))

          const info = yield* fs.stat(request.output).pipe(
            Effect.mapError((cause) =>
              new MediaError({ tool: "filesystem", message: `could not read ${request.output} back`, cause })
            )
          )
          return new RenderedVideo({
            path: request.output,
            bytes: Number(info.size),
            width: frameSize.width,
            height: frameSize.height,
            fps,
            frames: totalFrames,
            durationSeconds: totalFrames / fps
          })
        }
      )

      return Ffmpeg.of({ binaries, render, probe })
    })
  )

  /**
   * Ffmpeg with Node's process spawner and file system.
   *
   * @category layers
   */
  static readonly layer: Layer.Layer<Ffmpeg> = Ffmpeg.layerNoDeps.pipe(Layer.provide(NodeServices.layer))
}

// -----------------------------------------------------------------------------
// Locating the binaries
// -----------------------------------------------------------------------------

const locate = Effect.fnUntraced(function*(tool: "ffmpeg" | "ffprobe", variable: string) {
  const fs = yield* FileSystem.FileSystem
  const override = yield* Config.option(Config.NonEmptyString(variable)).pipe(
    Effect.mapError((cause) => new MediaError({ tool, message: `${variable} is not a usable path`, cause }))
  )
  if (Option.isSome(override)) {
    const found = yield* fs.exists(override.value).pipe(Effect.orElseSucceed(() => false))
    if (!found) {
      return yield* new MediaError({ tool, message: `${variable} names ${override.value}, which does not exist` })
    }
    return override.value
  }
  const installed = yield* Effect.tryPromise({
    try: () => tool === "ffmpeg" ? import("@ffmpeg-installer/ffmpeg") : import("@ffprobe-installer/ffprobe"),
    catch: (cause) =>
      new MediaError({
        tool,
        message: `no ${tool}: set ${variable}, or install the ${tool} npm package for this platform`,
        cause
      })
  })
  return installed.default.path
})

// -----------------------------------------------------------------------------
// Running a process
// -----------------------------------------------------------------------------

interface ProcessResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const stderrLimit = 4_000

// Runs a process to its end, collecting stdout and the tail of stderr. The process belongs to the effect's
// scope: interrupting the effect kills it.
const runProcess = (
  tool: "ffmpeg" | "ffprobe",
  executable: string,
  args: ReadonlyArray<string>
): Effect.Effect<ProcessResult, MediaError, ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.scoped(Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(
      ChildProcess.make(executable, [...args], { stdin: "ignore", forceKillAfter: "3 seconds" })
    )
    const [stdout, stderr, exitCode] = yield* Effect.all([
      Stream.mkString(Stream.decodeText(handle.stdout)),
      Stream.runFold(
        Stream.decodeText(handle.stderr),
        () => "",
        (tail, chunk) => (tail + chunk).slice(-stderrLimit)
      ),
      handle.exitCode
    ], { concurrency: "unbounded" })
    return { exitCode: Number(exitCode), stdout, stderr }
  })).pipe(
    Effect.mapError((cause) =>
      new MediaError({ tool, message: `could not run ${executable}: ${cause.message}`, cause })
    )
  )

const exitFailure = (tool: "ffmpeg" | "ffprobe", result: ProcessResult): Effect.Effect<never, MediaError> => {
  const tail = result.stderr.trim().split("\n").slice(-12).join("\n")
  return Effect.fail(
    new MediaError({
      tool,
      message: `${tool} exited with code ${result.exitCode}${tail === "" ? "" : `:\n${tail}`}`
    })
  )
}

// ffmpeg reads "name:rest" as a protocol; the file protocol keeps any path a path.
const asFileUrl = (file: string): string => `file:${file}`

// -----------------------------------------------------------------------------
// Rendering
// -----------------------------------------------------------------------------

const invalid = (field: string, message: string) => Effect.fail(new InvalidMediaInput({ field, message }))

const validate = (
  request: RenderRequest,
  fps: number,
  path: Path.Path
): Effect.Effect<void, InvalidMediaInput> => {
  if (request.scenes.length === 0) return invalid("scenes", "a video needs at least one scene")
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) return invalid("fps", `fps must be 1 to 60, got ${fps}`)
  const bad = request.scenes.findIndex((scene) => !Number.isFinite(scene.duration) || scene.duration <= 0)
  if (bad >= 0) return invalid(`scenes.${bad}.duration`, "a scene's duration must be a positive number")
  if (path.extname(request.output).toLowerCase() !== ".mp4") return invalid("output", "the output must be a .mp4 file")
  return Effect.void
}

/**
 * Splits `total` frames between scenes in proportion to their durations (largest remainders first), giving each
 * scene at least one frame.
 *
 * @category utils
 */
export const splitFrames = (durations: ReadonlyArray<number>, total: number): Array<number> => {
  const count = Math.max(total, durations.length)
  const sum = durations.reduce((a, b) => a + b, 0)
  const exact = durations.map((duration) => (duration / sum) * count)
  const frames = exact.map((value) => Math.max(1, Math.floor(value)))
  let left = count - frames.reduce((a, b) => a + b, 0)
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .toSorted((a, b) => b.remainder - a.remainder || a.index - b.index)
  for (let i = 0; left > 0; i = (i + 1) % order.length, left--) {
    const index = order[i]?.index ?? 0
    frames[index] = (frames[index] ?? 0) + 1
  }
  // Minimums of one frame can overshoot the total; take the excess from the longest scenes.
  while (left < 0) {
    const longest = frames.indexOf(Math.max(...frames))
    frames[longest] = (frames[longest] ?? 1) - 1
    left++
  }
  return frames
}

const renderArgs = (
  request: RenderRequest,
  frames: ReadonlyArray<number>,
  fps: number,
  totalFrames: number,
  output: string
): Array<string> => {
  const { width, height } = frameSize
  // Each image is read once (no pattern, no `-loop 1`, which retries an unreadable image for ever) and its one
  // frame repeated by the loop filter, then retimed to the frame rate.
  const inputs = request.scenes.flatMap((scene) => [
    "-f",
    "image2",
    "-pattern_type",
    "none",
    "-i",
    asFileUrl(scene.image)
  ])
  const audioInput = request.scenes.length
  const fitted = request.scenes.map((_, i) =>
    `[${i}:v]scale=${width}:${height}:force_original_aspect_ratio=decrease,` +
    `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,` +
    `loop=loop=${(frames[i] ?? 1) - 1}:size=1:start=0,setpts=N/(${fps}*TB)[v${i}]`
  )
  const joined = `${request.scenes.map((_, i) => `[v${i}]`).join("")}concat=n=${request.scenes.length}:v=1:a=0[v]`
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    ...inputs,
    "-i",
    asFileUrl(request.narration),
    "-filter_complex",
    [...fitted, joined].join(";"),
    "-map",
    "[v]",
    "-map",
    `${audioInput}:a:0`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-tune",
    "stillimage",
    "-crf",
    "23",
    "-pix_fmt",
    "yuv420p",
    "-r",
    String(fps),
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-ar",
    "48000",
    "-ac",
    "2",
    "-t",
    seconds(totalFrames / fps),
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    asFileUrl(output)
  ]
}

const seconds = (value: number): string => value.toFixed(6)

// -----------------------------------------------------------------------------
// Probing
// -----------------------------------------------------------------------------

const FfprobeOutput = Schema.fromJsonString(Schema.Struct({
  streams: Schema.Array(Schema.Struct({
    index: Schema.Int,
    codec_type: Schema.optionalKey(Schema.String),
    codec_name: Schema.optionalKey(Schema.String),
    width: Schema.optionalKey(Schema.Int),
    height: Schema.optionalKey(Schema.Int),
    sample_rate: Schema.optionalKey(Schema.NumberFromString),
    channels: Schema.optionalKey(Schema.Int),
    duration: Schema.optionalKey(Schema.NumberFromString)
  })),
  format: Schema.Struct({
    format_name: Schema.String,
    duration: Schema.optionalKey(Schema.NumberFromString),
    size: Schema.optionalKey(Schema.NumberFromString)
  })
}))

const decodeProbe = (stdout: string): Effect.Effect<ProbeResult, MediaError> =>
  Schema.decodeUnknownEffect(FfprobeOutput)(stdout).pipe(
    Effect.mapError((cause) =>
      new MediaError({ tool: "ffprobe", message: `unexpected ffprobe output: ${cause.message}`, cause })
    ),
    Effect.map((raw) =>
      new ProbeResult({
        formatName: raw.format.format_name,
        durationSeconds: raw.format.duration ?? 0,
        ...(raw.format.size === undefined ? {} : { bytes: Math.round(raw.format.size) }),
        streams: raw.streams.map((stream) =>
          new ProbeStream({
            index: stream.index,
            codecType: stream.codec_type ?? "unknown",
            ...(stream.codec_name === undefined ? {} : { codecName: stream.codec_name }),
            ...(stream.width === undefined ? {} : { width: stream.width }),
            ...(stream.height === undefined ? {} : { height: stream.height }),
            ...(stream.sample_rate === undefined ? {} : { sampleRate: Math.round(stream.sample_rate) }),
            ...(stream.channels === undefined ? {} : { channels: stream.channels }),
            ...(stream.duration === undefined ? {} : { durationSeconds: stream.duration })
          })
        )
      })
    )
  )
