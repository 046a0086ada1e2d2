/**
 * The runtime's GPU wiring: a provider that declares GPU work runs under a VRAM lease of the configured
 * scheduler, the lease is back when the attempt ends, and a request no GPU can hold falls back to the next
 * provider of the chain with the refusal on the stage record.
 */
import { describe, expect, it } from "@effect/vitest"
import { GpuJobSpec, Ids, Pricing, type Stage } from "@ytempire/domain"
import type { Device } from "@ytempire/gpu"
import { Providers, YtempireRuntime } from "@ytempire/runtime"
import { Effect, Layer, Option, Schema, Stream } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const acme = Schema.decodeSync(Ids.TenantId)("acme")

const device: Device.GpuDevice = {
  id: Schema.decodeSync(Ids.GpuDeviceId)("gpu0"),
  index: 0,
  name: "rtx5090",
  uuid: "GPU-test-0",
  totalMiB: 32768,
  headroomMiB: 1024,
  usableMiB: 31744,
  encoderSessions: 8,
  encoderEngines: 3
}

const thumbnailSpec = (vramMiB: number) =>
  new GpuJobSpec.GpuJobSpec({ kind: "image", vramMiB, estimatedSeconds: 6, computeShare: 1, priority: "normal" })

/** What the GPU provider was given: its lease. */
interface Seen {
  readonly lease: Device.GpuLease | undefined
}

const bytes = (stage: Stage.Stage, name: string) => (input: Providers.StageInput) =>
  Effect.succeed({
    value: { bytes: new TextEncoder().encode(`${stage} by ${name} for ${input.videoId}`), mediaType: "text/plain" },
    usage: [Pricing.use("compute.cpu-hour", 1)]
  })

const cpu = (stage: Stage.Stage): Providers.StageProvider => ({
  stage,
  name: `cpu-${stage}`,
  tier: "local",
  run: bytes(stage, "cpu")
})

/** The five chains; the thumbnail chain is a GPU provider asking for `vramMiB`, then a CPU one. */
const providers = (vramMiB: number, seen: Array<Seen>) =>
  Layer.mergeAll(
    Layer.succeed(Providers.ThumbnailArtist)({
      providers: [
        {
          stage: "thumbnail",
          name: "gpu-thumbnail",
          tier: "local",
          gpu: thumbnailSpec(vramMiB),
          run: (input) =>
            Effect.suspend(() => {
              seen.push({ lease: input.gpu })
              return bytes("thumbnail", "gpu")(input)
            })
        },
        cpu("thumbnail")
      ]
    }),
    Layer.succeed(Providers.ScriptWriter)({ providers: [cpu("script")] }),
    Layer.succeed(Providers.Narrator)({ providers: [cpu("voice")] }),
    Layer.succeed(Providers.Renderer)({ providers: [cpu("render")] }),
    Layer.succeed(Providers.Publisher)({ providers: [cpu("upload")] })
  )

/** One video through a memory runtime whose scheduler has one RTX 5090; the finished video and the scheduler. */
const produce = () =>
  Effect.gen(function*() {
    const ytempire = yield* YtempireRuntime.Ytempire
    yield* ytempire.registerChannel(acme, { id: "art", name: "Art", niche: "art", language: "en", style: "calm" })
    const requested = yield* ytempire.requestVideo(acme, { channelId: "art", topic: "Ink and paper" })
    const final = yield* ytempire.watchVideo(acme, requested.id).pipe(Stream.runLast, Effect.map(Option.getOrThrow))
    const status = yield* ytempire.gpuStatus
    expect(status.devices.map((each) => [each.id, each.usableMiB])).toEqual([["gpu0", 31744]])
    return { final, leasedAfter: status.devices[0]!.leasedMiB }
  })

const run = (vramMiB: number, seen: Array<Seen>) =>
  Effect.suspend(() =>
    produce().pipe(Effect.provide(YtempireRuntime.layerWithProviders({
      dataDir: mkdtempSync(join(tmpdir(), "ytempire-gpu-leases-")),
      storage: { _tag: "memory" },
      messagePollInterval: "50 millis",
      gpu: { devices: [device] }
    }, providers(vramMiB, seen))))
  )

describe("GPU leases in the pipeline", () => {
  it.live("a GPU provider runs under a lease on the configured device, given back when it is done", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const { final, leasedAfter } = yield* run(9216, seen)
      expect(final.status).toBe("completed")
      expect(seen).toHaveLength(1)
      expect(seen[0]!.lease?.device.id).toBe("gpu0")
      expect(seen[0]!.lease?.vramMiB).toBe(9216)
      expect(leasedAfter).toBe(0)
      const thumbnail = final.stages.find((record) => record.stage === "thumbnail")!
      expect(thumbnail.provider).toBe("gpu-thumbnail")
    }))

  it.live("a request larger than any GPU falls back to the next provider, with the refusal recorded", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const { final, leasedAfter } = yield* run(65536, seen)
      expect(final.status).toBe("completed")
      expect(seen).toEqual([])
      expect(leasedAfter).toBe(0)
      const thumbnail = final.stages.find((record) => record.stage === "thumbnail")!
      expect(thumbnail.provider).toBe("cpu-thumbnail")
      expect(thumbnail.attempts.map((attempt) => [attempt.provider, attempt.outcome])).toEqual([
        ["gpu-thumbnail", "failed"],
        ["cpu-thumbnail", "succeeded"]
      ])
      expect(thumbnail.attempts[0]!.error?.message).toMatch(/GPU request too large: the image job needs 65536 MiB/)
      expect(thumbnail.attempts[0]!.error?.retryable).toBe(false)
    }))
})
