/**
 * Instant stand-ins for the five stage chains, for benchmarks of the runtime's own overhead: each stage has one
 * provider, which hands back a few bytes naming its stage and the video (stored as the stage's artifact file)
 * and reports a fixed usage. No latency, no failures, so what a benchmark measures is the pipeline around the providers.
 */
import { Pricing, type Provider, type Stage } from "@ytempire/domain"
import { Providers } from "@ytempire/runtime"
import { Effect, Layer } from "effect"

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
    Effect.sync(() => ({
      value: { bytes: new TextEncoder().encode(`${stage} of ${input.videoId}`), mediaType: "text/plain" },
      usage
    }))
})

/** The five stage chains, one instant provider each. */
export const layer: Layer.Layer<
  Providers.ScriptWriter | Providers.Narrator | Providers.ThumbnailArtist | Providers.Renderer | Providers.Publisher
> = Layer.mergeAll(
  Layer.succeed(Providers.ScriptWriter)({
    providers: [provider("script", "instant-script", "standard", [Pricing.use("openai.gpt-3.5-turbo", 2_000)])]
  }),
  Layer.succeed(Providers.Narrator)({
    providers: [provider("voice", "instant-voice", "standard", [Pricing.use("google.tts", 1_500)])]
  }),
  Layer.succeed(Providers.ThumbnailArtist)({
    providers: [provider("thumbnail", "instant-thumbnail", "local", [Pricing.use("compute.cpu-hour", 1_000)])]
  }),
  Layer.succeed(Providers.Renderer)({
    providers: [provider("render", "instant-render", "local", [Pricing.use("compute.cpu-hour", 60_000)])]
  }),
  Layer.succeed(Providers.Publisher)({
    providers: [provider("upload", "instant-upload", "local", [Pricing.use("network.bandwidth-gb", 1_000_000)])]
  })
)
