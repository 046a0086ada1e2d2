/**
 * Fast stand-ins for the five stage chains, for tests of the pipeline and the channel actor: each provider
 * writes a small file naming its stage, the video and the stages it saw, and reports usage at its tier's
 * price. A provider can be made to fail, or to wait at a gate until the test opens it.
 */
import { Pricing, Provider, type Stage } from "@ytempire/domain"
import { Providers } from "@ytempire/runtime"
import { Deferred, Effect, Layer, Ref } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export type Behaviour = "ok" | "fatal"

export const make = Effect.gen(function*() {
  const calls = yield* Ref.make<ReadonlyArray<string>>([])
  const behaviours = yield* Ref.make<Partial<Record<string, Behaviour>>>({})
  const gates = yield* Ref.make<Partial<Record<string, Deferred.Deferred<void>>>>({})
  const provider = (
    stage: Stage.Stage,
    name: string,
    tier: Provider.ProviderTier,
    usage: Pricing.Usage
  ): Providers.StageProvider => ({
    stage,
    name,
    tier,
    run: (input) =>
      Effect.gen(function*() {
        yield* Ref.update(calls, (list) => [...list, name])
        const gate = (yield* Ref.get(gates))[name]
        if (gate !== undefined) yield* Deferred.await(gate)
        const behaviour = (yield* Ref.get(behaviours))[name] ?? "ok"
        if (behaviour === "fatal") {
          return yield* new Provider.ProviderUnavailable({ provider: name, stage, reason: "broken", retryable: false })
        }
        const path = join(input.scratch, `${stage}.txt`)
        mkdirSync(input.scratch, { recursive: true })
        writeFileSync(path, `${stage} of ${input.videoId} after ${Object.keys(input.inputs).join(",")}`)
        return { value: { path, mediaType: "text/plain" }, usage }
      })
  })
  /** Makes `name` wait until the returned effect is run. */
  const hold = (name: string) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Ref.update(gates, (all) => ({ ...all, [name]: gate }))
      return Effect.andThen(
        Deferred.succeed(gate, undefined),
        Ref.update(gates, (all) => ({ ...all, [name]: undefined }))
      )
    })
  const layer = Layer.mergeAll(
    Layer.succeed(Providers.ScriptWriter)({
      providers: [
        provider("script", "gpt-4", "premium", [Pricing.use("openai.gpt-4", 2_000)]),
        provider("script", "gpt-3.5", "economy", [Pricing.use("openai.gpt-3.5-turbo", 2_000)])
      ]
    }),
    Layer.succeed(Providers.Narrator)({
      providers: [provider("voice", "google-tts", "standard", [Pricing.use("google.tts", 1_500)])]
    }),
    Layer.succeed(Providers.ThumbnailArtist)({
      providers: [provider("thumbnail", "card", "local", [Pricing.use("compute.cpu-hour", 1_000)])]
    }),
    Layer.succeed(Providers.Renderer)({
      providers: [provider("render", "ffmpeg", "local", [Pricing.use("compute.cpu-hour", 60_000)])]
    }),
    Layer.succeed(Providers.Publisher)({
      providers: [provider("upload", "publisher", "local", [Pricing.use("network.bandwidth-gb", 1_000_000)])]
    })
  )
  return { calls, behaviours, hold, layer }
})

export type FakeProviders = Effect.Success<typeof make>
