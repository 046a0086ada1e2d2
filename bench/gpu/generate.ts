/**
 * Writes the simulator's three shipped workloads, deterministically (a fixed seed): run it again and the files
 * come out byte for byte the same.
 *
 *   node bench/gpu/generate.ts        (writes bench/gpu/mvp-day.json, month12-day.json, burst.json)
 *
 * The job mix follows the operations plan and the domain's presets. Every video has a thumbnail (SDXL,
 * `GpuJobSpec.sdxlThumbnail`: 9 GiB, 6 s, the whole GPU, 10 s to load) and a 1080p NVENC render after it
 * (`GpuJobSpec.nvencRender1080p`: 2 GiB, 354 s for a typical video at a quarter of the compute, one encoder
 * session; scaled by the video's length, 0.75–1.25×). At the default tier the script and the voice come from
 * cloud providers; one video in five runs at the local tier, where a local Llama 3.1 8B (Q4, 6 GiB with its KV
 * cache, half of the compute: decoding one sequence is bound by memory bandwidth) writes the script first for
 * `Pricing.defaultPlan.localModelGpuMillis` (30 s), and the thumbnail waits for it. That is about 6 GPU-minutes
 * per video, the plan's figure.
 *
 * - `mvp-day.json`: the MVP server (one RTX 5090) and the MVP volume: 250 channels, 50 of them with a video
 *   today, requested by the morning schedule tick over its first hour (as their cloud script and voice steps
 *   finish).
 * - `month12-day.json`: the 12-month volume, 1,000 videos from 400 channels (a few prolific ones), requested
 *   hour by hour through the day with a daytime peak, on two RTX 5090s (the plan's 6-month hardware; its
 *   12-month A100s have no NVENC encoder for the renders).
 * - `burst.json`: the same 1,000 videos requested within 10 minutes, on the same two GPUs.
 *
 * Channels keep one priority class (5 % critical, 15 % high, 60 % normal, 20 % low).
 */
import { GpuJobSpec, Pricing } from "@ytempire/domain"
import { writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

/** mulberry32: a small seeded generator, so the files are reproducible. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const rtx5090 = { name: "rtx5090", vramMiB: 32_768, headroomMiB: 1024, encoderSessions: 8, encoderEngines: 3 }

const priorities = ["critical", "high", "normal", "low"] as const
type PriorityClass = (typeof priorities)[number]

const channelPriority = (draw: number): PriorityClass =>
  draw < 0.05 ? "critical" : draw < 0.2 ? "high" : draw < 0.8 ? "normal" : "low"

interface Video {
  readonly id: string
  readonly channel: string
  readonly priority: PriorityClass
  readonly local: boolean
  readonly length: number
  readonly thumbnailSeconds: number
  readonly scriptSeconds: number
}

interface Job {
  readonly id: string
  readonly video: string
  readonly channel: string
  readonly priority: PriorityClass
  readonly kind: GpuJobSpec.GpuJobKind
  readonly arrivalS: number
  readonly vramMiB: number
  readonly durationS: number
  readonly computeShare: number
  readonly model?: string
  readonly modelLoadS?: number
  readonly encoderSessions?: number
  readonly after?: ReadonlyArray<string>
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits

const thumbnail = GpuJobSpec.sdxlThumbnail
const render = GpuJobSpec.nvencRender1080p
const scriptSeconds = Pricing.defaultPlan.localModelGpuMillis / 1000

const jobsOf = (video: Video, arrivalS: number): ReadonlyArray<Job> => {
  const common = { video: video.id, channel: video.channel, priority: video.priority, arrivalS: round(arrivalS) }
  const script: ReadonlyArray<Job> = video.local
    ? [{
      id: `${video.id}-script`,
      ...common,
      kind: "llm",
      vramMiB: 6 * 1024,
      durationS: round(video.scriptSeconds),
      computeShare: 0.5,
      model: "llama-3.1-8b-instruct-q4",
      modelLoadS: 5
    }]
    : []
  return [
    ...script,
    {
      id: `${video.id}-thumbnail`,
      ...common,
      kind: thumbnail.kind,
      vramMiB: thumbnail.vramMiB,
      durationS: round(video.thumbnailSeconds),
      computeShare: thumbnail.computeShare,
      model: thumbnail.modelKey!,
      modelLoadS: thumbnail.modelLoadSeconds,
      ...(video.local ? { after: [`${video.id}-script`] } : {})
    },
    {
      id: `${video.id}-render`,
      ...common,
      kind: render.kind,
      vramMiB: render.vramMiB,
      durationS: round(render.estimatedSeconds * video.length),
      computeShare: render.computeShare,
      encoderSessions: render.encoderSessions,
      after: [`${video.id}-thumbnail`]
    }
  ]
}

/** `count` videos from `channels` channels; `prolific` of the channels make several videos each. */
const makeVideos = (
  next: () => number,
  count: number,
  channels: number,
  pick: (next: () => number) => number
): ReadonlyArray<Video> => {
  const classes = Array.from({ length: channels }, () => channelPriority(next()))
  return Array.from({ length: count }, (_, i) => {
    const channel = pick(next)
    return {
      id: `v${String(i + 1).padStart(4, "0")}`,
      channel: `c${String(channel + 1).padStart(3, "0")}`,
      priority: classes[channel]!,
      local: next() < 0.2,
      length: 0.75 + 0.5 * next(),
      thumbnailSeconds: thumbnail.estimatedSeconds * (0.9 + 0.2 * next()),
      scriptSeconds: scriptSeconds * (0.8 + 0.4 * next())
    }
  })
}

const write = (file: string, devices: ReadonlyArray<typeof rtx5090>, jobs: ReadonlyArray<Job>) => {
  const sorted = jobs.toSorted((a, b) => a.arrivalS - b.arrivalS || a.id.localeCompare(b.id))
  const text = `{"devices": ${JSON.stringify(devices)},\n"jobs": [\n${
    sorted.map((job) => JSON.stringify(job)).join(",\n")
  }\n]}\n`
  writeFileSync(join(here, file), text)
  process.stderr.write(`wrote bench/gpu/${file}: ${devices.length} GPUs, ${jobs.length} jobs\n`)
}

// The MVP day: 50 distinct channels out of 250, each one video, over the first hour.
{
  const next = random(50)
  const used = new Set<number>()
  const videos = makeVideos(next, 50, 250, (draw) => {
    for (;;) {
      const channel = Math.floor(draw() * 250)
      if (!used.has(channel)) {
        used.add(channel)
        return channel
      }
    }
  })
  write("mvp-day.json", [rtx5090], videos.flatMap((video) => jobsOf(video, next() * 3600)))
}

// The 12-month day and its burst: 1,000 videos from 400 channels, a few of them prolific (a Zipf-like draw).
{
  const next = random(1000)
  const weights = Array.from({ length: 400 }, (_, i) => 1 / (i + 1) ** 0.8)
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  const videos = makeVideos(next, 1000, 400, (draw) => {
    let target = draw() * total
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i]!
      if (target <= 0) return i
    }
    return weights.length - 1
  })
  // Hourly schedule ticks, more of them in the daytime (weight 1 at night up to 2 mid-afternoon).
  const hourWeights = Array.from({ length: 24 }, (_, h) => 1.5 - 0.5 * Math.cos(((h - 3) / 24) * 2 * Math.PI))
  const hourTotal = hourWeights.reduce((sum, weight) => sum + weight, 0)
  const hourOf = (draw: number) => {
    let target = draw * hourTotal
    for (let h = 0; h < 24; h++) {
      target -= hourWeights[h]!
      if (target <= 0) return h
    }
    return 23
  }
  const day = videos.map((video) => ({ video, arrivalS: hourOf(next()) * 3600 + next() * 1800 }))
  const burst = videos.map((video) => ({ video, arrivalS: next() * 600 }))
  write("month12-day.json", [rtx5090, rtx5090], day.flatMap(({ arrivalS, video }) => jobsOf(video, arrivalS)))
  write("burst.json", [rtx5090, rtx5090], burst.flatMap(({ arrivalS, video }) => jobsOf(video, arrivalS)))
}
