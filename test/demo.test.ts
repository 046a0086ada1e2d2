/**
 * The embedded demo, as a user runs it: `ytempire demo --channels 3 --data-dir DIR --json` in a child
 * process (the default embedded storage), then once more on the same data directory.
 *
 * The first run produces three videos with the offline providers (about 25 s on two quiet cores); the second finds
 * them done in the embedded database and reports them again without producing anything. Between and after the
 * runs, the test reads the videos' records from the data directory's database itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Ids, Money, Video } from "@ytempire/domain"
import { EmbeddedSql, Ffmpeg, VideoRepository } from "@ytempire/runtime"
import { Effect, Layer, Schema } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("..", import.meta.url))

const DemoOutput = Schema.Struct({
  videos: Schema.Array(Schema.Struct({
    id: Ids.VideoId,
    channelId: Schema.String,
    status: Schema.String,
    mp4: Schema.NullOr(Schema.String),
    published: Schema.NullOr(Schema.String),
    stages: Schema.Array(Schema.Struct({
      stage: Schema.String,
      provider: Schema.NullOr(Schema.String),
      tier: Schema.NullOr(Schema.String),
      cost: Schema.String
    })),
    totalCost: Schema.String
  })),
  totalCost: Schema.String
})
type DemoOutput = typeof DemoOutput.Type

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly millis: number
  /** The stdout lines that are a demo result (parsed leniently, so that one bad line does not hide the rest). */
  readonly results: ReadonlyArray<DemoOutput>
}

const parseResult = (line: string): ReadonlyArray<DemoOutput> => {
  try {
    return [Schema.decodeUnknownSync(DemoOutput)(JSON.parse(line))]
  } catch {
    return []
  }
}

const runDemo = (dataDir: string): Promise<Run> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(
      process.execPath,
      ["packages/server/src/bin.ts", "demo", "--channels", "3", "--data-dir", dataDir, "--json"],
      // A run that hangs is killed, so that the test reports its output instead of timing out.
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], timeout: 180_000, killSignal: "SIGKILL" }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({
        code,
        stdout,
        stderr,
        millis: performance.now() - started,
        results: stdout.split("\n").flatMap(parseResult)
      }))
  })

/** Every file under `dir`: its path relative to `dir`, size and modification time. */
const snapshot = (dir: string): Record<string, string> => {
  const files: Record<string, string> = {}
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name)
      if (entry.isDirectory()) walk(path)
      else {
        const info = statSync(path)
        files[relative(dir, path)] = `${info.size} bytes, modified ${info.mtimeMs}`
      }
    }
  }
  if (existsSync(dir)) walk(dir)
  return files
}

const micros = (decimal: string): number => Money.toMicros(Money.unsafeFromDecimal(decimal))

const dataDir = mkdtempSync(join(tmpdir(), "ytempire-demo-test-"))
let first: Run
let second: Run
let producedFiles: Record<string, string>
let filesAfterRerun: Record<string, string>
/** The videos' records (encoded) in the data directory's database, after each run. */
let recordsAfterFirst: ReadonlyArray<typeof Video.Video.Encoded>
let recordsAfterSecond: ReadonlyArray<typeof Video.Video.Encoded>

/** The only result of a run, failing the test with the run's output when there is not exactly one. */
const resultOf = (run: Run): DemoOutput => {
  if (run.code !== 0 || run.results.length !== 1) {
    throw new Error(
      `the demo exited with ${run.code} and printed ${run.results.length} results\n` +
        `stdout:\n${run.stdout}\nstderr:\n${run.stderr.slice(-4000)}`
    )
  }
  return run.results[0]!
}

/**
 * The records of the videos a run reported, read from the data directory's embedded database (free to open here
 * once the run has ended; closed again before this resolves).
 */
const readRecords = (run: Run): Promise<ReadonlyArray<typeof Video.Video.Encoded>> =>
  Effect.runPromise(
    VideoRepository.VideoRepository.pipe(
      Effect.flatMap((videos) => Effect.forEach(run.results[0]?.videos ?? [], (video) => videos.get(video.id))),
      Effect.map(Schema.encodeSync(Schema.Array(Video.Video))),
      Effect.provide(VideoRepository.VideoRepository.layerSql.pipe(Layer.provide(EmbeddedSql.layer({ dataDir }))))
    )
  )

beforeAll(async () => {
  first = await runDemo(dataDir)
  producedFiles = { ...snapshot(join(dataDir, "artifacts")), ...snapshot(join(dataDir, "published")) }
  recordsAfterFirst = await readRecords(first)
  second = await runDemo(dataDir)
  filesAfterRerun = { ...snapshot(join(dataDir, "artifacts")), ...snapshot(join(dataDir, "published")) }
  recordsAfterSecond = await readRecords(second)
  console.log(`demo: first run ${Math.round(first.millis)} ms, second run ${Math.round(second.millis)} ms`)
}, 420_000)

afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe("npm run demo (embedded storage)", () => {
  it("exits 0 and prints exactly one line on stdout, the JSON result", () => {
    for (const run of [first, second]) {
      expect(run.code, run.stderr.slice(-4000)).toBe(0)
      const lines = run.stdout.split("\n").filter((line) => line.trim() !== "")
      // Progress and logs belong on stderr: a consumer pipes stdout into a JSON parser.
      expect(lines, `stdout, which begins:\n${lines.slice(0, 5).join("\n")}`).toHaveLength(1)
      expect(parseResult(lines[0]!)).toHaveLength(1)
    }
  })

  it("completes three videos, each costing the sum of its stages, and reports the sum of the videos", () => {
    const result = resultOf(first)
    expect(result.videos).toHaveLength(3)
    expect(new Set(result.videos.map((video) => video.id)).size).toBe(3)
    for (const video of result.videos) {
      expect(video.status).toBe("completed")
      expect(video.stages.map((stage) => stage.stage)).toEqual(["script", "voice", "thumbnail", "render", "upload"])
      for (const stage of video.stages) expect(stage.provider).not.toBeNull()
      const stageSum = video.stages.reduce((sum, stage) => sum + micros(stage.cost), 0)
      expect(micros(video.totalCost)).toBe(stageSum)
      expect(stageSum).toBeGreaterThan(0)
    }
    const all = result.videos.flatMap((video) => video.stages).reduce((sum, stage) => sum + micros(stage.cost), 0)
    expect(micros(result.totalCost)).toBe(all)
  })

  it.live("renders each video as a playable H.264 + AAC MP4 as long as its narration", () =>
    Effect.gen(function*() {
      const result = resultOf(first)
      const ffmpeg = yield* Ffmpeg.Ffmpeg
      expect(recordsAfterFirst.map((record) => record.id)).toEqual(result.videos.map((video) => video.id))
      for (const [index, reported] of result.videos.entries()) {
        expect(reported.mp4).not.toBeNull()
        const mp4 = reported.mp4!
        expect(existsSync(mp4)).toBe(true)
        const probe = yield* ffmpeg.probe(mp4)
        const videoStreams = probe.streams.filter((stream) => stream.codecType === "video")
        const audioStreams = probe.streams.filter((stream) => stream.codecType === "audio")
        expect(videoStreams.map((stream) => stream.codecName)).toEqual(["h264"])
        expect(audioStreams.map((stream) => stream.codecName)).toEqual(["aac"])
        expect(videoStreams[0]).toMatchObject({ width: 1280, height: 720 })

        // The narration: the voice stage's artifact, as the video's record holds it.
        const record = recordsAfterFirst[index]!
        const voice = record.stages.find((stage) => stage.stage === "voice")
        expect(voice?.artifact?.mediaType).toBe("audio/wav")
        const narration = yield* ffmpeg.probe(join(dataDir, voice!.artifact!.path))
        expect(narration.durationSeconds).toBeGreaterThan(1)
        expect(Math.abs(probe.durationSeconds - narration.durationSeconds)).toBeLessThanOrEqual(
          0.1 * narration.durationSeconds
        )
        // The record agrees with what the demo printed.
        expect(record.stages.find((stage) => stage.stage === "render")?.artifact?.path).toBe(relative(dataDir, mp4))
      }
    }).pipe(Effect.provide(Ffmpeg.Ffmpeg.layer)), 60_000)

  it("publishes each video into published/<videoId>/ with its MP4, thumbnail and metadata", () => {
    const result = resultOf(first)
    for (const video of result.videos) {
      const directory = join(dataDir, "published", video.id)
      expect(video.published).toBe(directory)
      expect(readdirSync(directory).toSorted()).toEqual(["metadata.json", "thumbnail.png", "video.mp4"])
      expect(statSync(join(directory, "video.mp4")).size).toBe(statSync(video.mp4!).size)
      const metadata = JSON.parse(readFileSync(join(directory, "metadata.json"), "utf8"))
      expect(metadata).toMatchObject({
        kind: "youtube#video",
        id: video.id,
        fileDetails: { fileName: "video.mp4", videoStreams: [{ codec: "h264" }], audioStreams: [{ codec: "aac" }] }
      })
      expect(metadata.snippet.title.length).toBeGreaterThan(0)
    }
  })

  it("on a second run returns the same videos without producing them again", () => {
    const before = resultOf(first)
    const after = resultOf(second)
    expect(after).toEqual(before)
    expect(micros(after.totalCost)).toBe(micros(before.totalCost))
    // Nothing produced again: the records are untouched (every stage's times and provider attempts as the first
    // run left them), and no artifact or published file is new or rewritten.
    expect(recordsAfterFirst).toHaveLength(3)
    expect(recordsAfterSecond).toEqual(recordsAfterFirst)
    expect(Object.keys(producedFiles).length).toBeGreaterThan(0)
    expect(filesAfterRerun).toEqual(producedFiles)
  })
})
