import { describe, expect, it } from "@effect/vitest"
import { Money, Pricing } from "@ytempire/domain"
import { Schema } from "effect"

const dollars = (money: Money.Money) => Money.toDecimal(money)

describe("Pricing", () => {
  it("prices the documents' worked examples by hand", () => {
    // 1,500 characters × $0.0003 = $0.45
    expect(dollars(Pricing.cost([Pricing.use("elevenlabs.tts", 1_500)]))).toBe("0.45")
    // 2,000 tokens × $0.06 / 1K = $0.12
    expect(dollars(Pricing.cost([Pricing.use("openai.gpt-4", 2_000)]))).toBe("0.12")
    // 2,000 tokens × $0.002 / 1K = $0.004
    expect(dollars(Pricing.cost([Pricing.use("openai.gpt-3.5-turbo", 2_000)]))).toBe("0.004")
    // 1,500 characters × $0.000004 = $0.006
    expect(dollars(Pricing.cost([Pricing.use("google.tts", 1_500)]))).toBe("0.006")
    // 6 GPU-minutes × $0.50 / hour = $0.05
    expect(dollars(Pricing.cost([Pricing.use("compute.gpu-hour", 6 * 60_000)]))).toBe("0.05")
    // 2 GB × $0.02 = $0.04
    expect(dollars(Pricing.cost([Pricing.use("network.bandwidth-gb", 2_000_000_000)]))).toBe("0.04")
    // 10 GB stored for a month × $0.10 = $1.00
    expect(dollars(Pricing.cost([Pricing.use("storage.ssd-gb-month", 10_000_000_000)]))).toBe("1.00")
    // 4 GB of memory for 30 minutes = 2 GB-hours × $0.01 = $0.02
    expect(dollars(Pricing.cost([Pricing.use("compute.memory-gb-hour", 4_000 * 1_800)]))).toBe("0.02")
    // 3 images × $0.002 = $0.006; 1M embedding tokens × $0.0001 / 1K = $0.10
    expect(dollars(Pricing.cost([Pricing.use("stable-diffusion.image", 3)]))).toBe("0.006")
    expect(dollars(Pricing.cost([Pricing.use("openai.embeddings", 1_000_000)]))).toBe("0.10")
  })

  it("sums a usage's items exactly", () => {
    const usage = [
      Pricing.use("openai.gpt-4", 2_000),
      Pricing.use("elevenlabs.tts", 1_500),
      Pricing.use("stable-diffusion.image", 1)
    ]
    expect(dollars(Pricing.cost(usage))).toBe("0.572")
  })

  it("estimates each stage at each tier, cheaper tiers costing less", () => {
    // Premium video with the default plan: $0.12 + $0.45 + ($0.002 + 6 s of GPU) + 354 s of GPU + 2 GB.
    expect(dollars(Pricing.estimate("script", "premium"))).toBe("0.12")
    expect(dollars(Pricing.estimate("voice", "premium"))).toBe("0.45")
    // 6,000 GPU-ms × $0.50 / 3,600,000 = $0.000833… → 833 µUSD; plus the image.
    expect(dollars(Pricing.estimate("thumbnail", "premium"))).toBe("0.002833")
    expect(dollars(Pricing.estimate("render", "premium"))).toBe("0.049167")
    expect(dollars(Pricing.estimate("upload", "premium"))).toBe("0.04")
    expect(dollars(Pricing.estimate("voice", "standard"))).toBe("0.006")
    // A local model's 30 GPU-seconds cost $0.004167: not always cheaper than GPT-3.5's $0.004.
    expect(dollars(Pricing.estimate("script", "local"))).toBe("0.004167")
    for (const stage of ["script", "voice"] as const) {
      expect(Pricing.estimate(stage, "standard")).toBeLessThan(Pricing.estimate(stage, "premium"))
    }
    expect(Pricing.estimate("voice", "local")).toBeLessThan(Pricing.estimate("voice", "standard"))
  })

  it("takes price overrides from configuration, by name, and refuses unknown keys and negative prices", () => {
    const overrides = Schema.decodeUnknownSync(Pricing.PriceOverrides)({ "openai.gpt-4": "0.03", "google.tts": 0 })
    const table = Pricing.withOverrides(Pricing.defaultTable, overrides)
    expect(dollars(Pricing.cost([Pricing.use("openai.gpt-4", 2_000)], table))).toBe("0.06")
    expect(dollars(Pricing.cost([Pricing.use("google.tts", 1_500)], table))).toBe("0.00")
    // Untouched prices keep their defaults.
    expect(dollars(Pricing.cost([Pricing.use("elevenlabs.tts", 1_500)], table))).toBe("0.45")

    expect(() => Schema.decodeUnknownSync(Pricing.PriceOverrides)({ "openai.gpt-5": "1" })).toThrow(/openai\.gpt-5/)
    expect(() => Schema.decodeUnknownSync(Pricing.PriceOverrides)({ "openai.gpt-4": "-1" })).toThrow(
      /must not be negative[\s\S]*openai\.gpt-4/
    )
  })

  it("refuses negative or fractional quantities", () => {
    expect(() => Schema.decodeUnknownSync(Pricing.UsageItem)({ price: "google.tts", quantity: -1 })).toThrow(
      /quantity/
    )
    expect(() => Schema.decodeUnknownSync(Pricing.UsageItem)({ price: "google.tts", quantity: 1.5 })).toThrow(
      /quantity/
    )
  })
})

describe("Pricing.videoEstimate", () => {
  it("adds up a whole video per tier: premium misses the $0.50 target, standard meets it", () => {
    const premium = Pricing.videoEstimate("premium")
    expect(premium.stages.map((entry) => entry.stage)).toEqual(["script", "voice", "thumbnail", "render", "upload"])
    // $0.12 + $0.45 + $0.002833 + $0.049167 + $0.04
    expect(Money.toDecimal(premium.total)).toBe("0.662")
    // $0.004 + $0.006 + $0.002833 + $0.049167 + $0.04
    expect(Money.toDecimal(Pricing.videoEstimate("standard").total)).toBe("0.102")
  })
})
