/**
 * Prices and cost functions. The default table is the operations documents' COST_STRUCTURE; configuration may
 * override any price. Costs are pure functions of usage (tokens, characters, images, compute time, bytes), so
 * the estimate that a stage reserves before it runs and the actual cost it commits after are computed the
 * same way, from the same table.
 *
 * Each price is an amount per a whole number of units (`$0.06 per 1,000 tokens`, `$0.50 per 3,600,000
 * GPU-milliseconds`); the cost of a usage item is `amount × quantity / per`, rounded to the micro-dollar with
 * ties to even (see Money), and a usage's cost is the exact sum of its items' costs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Money from "./Money.ts"
import type * as Provider from "./Provider.ts"
import * as Stage from "./Stage.ts"

/**
 * A priced service or resource.
 *
 * @category models
 */
export const PriceKey = Schema.Literals([
  "openai.gpt-4",
  "openai.gpt-3.5-turbo",
  "openai.embeddings",
  "elevenlabs.tts",
  "google.tts",
  "stable-diffusion.image",
  "compute.cpu-hour",
  "compute.gpu-hour",
  "compute.memory-gb-hour",
  "storage.ssd-gb-month",
  "network.bandwidth-gb"
])
/** @category models */
export type PriceKey = typeof PriceKey.Type

/**
 * The unit that a price's usage is counted in.
 *
 * @category models
 */
export const Unit = Schema.Literals([
  "token",
  "character",
  "image",
  "cpu-millisecond",
  "gpu-millisecond",
  "megabyte-second",
  "byte-month",
  "byte"
])
/** @category models */
export type Unit = typeof Unit.Type

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0, { message: "must be a positive integer" }))
const NonNegativeInt = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0, { message: "must be a non-negative integer" })
)

/**
 * `amount` dollars per `per` units of `unit`.
 *
 * @category models
 */
export class Price extends Schema.Class<Price>("@ytempire/domain/Pricing/Price")({
  amount: Money.NonNegative,
  per: PositiveInt,
  unit: Unit
}) {}

const price = (amount: string, per: number, unit: Unit): Price =>
  new Price({ amount: Money.unsafeFromDecimal(amount), per, unit })

const HOUR_MILLIS = 3_600_000
const GIGABYTE = 1_000_000_000

/**
 * A price for every key.
 *
 * @category models
 */
export const PriceTable = Schema.Struct(
  Object.fromEntries(PriceKey.literals.map((key) => [key, Price])) as { readonly [K in PriceKey]: typeof Price }
)
/** @category models */
export type PriceTable = typeof PriceTable.Type

/**
 * The operations documents' price table (COST_STRUCTURE).
 *
 * @category constants
 */
export const defaultTable: PriceTable = {
  "openai.gpt-4": price("0.06", 1_000, "token"),
  "openai.gpt-3.5-turbo": price("0.002", 1_000, "token"),
  "openai.embeddings": price("0.0001", 1_000, "token"),
  "elevenlabs.tts": price("0.0003", 1, "character"),
  "google.tts": price("0.000004", 1, "character"),
  "stable-diffusion.image": price("0.002", 1, "image"),
  "compute.cpu-hour": price("0.05", HOUR_MILLIS, "cpu-millisecond"),
  "compute.gpu-hour": price("0.50", HOUR_MILLIS, "gpu-millisecond"),
  // A gigabyte-hour is 1,000 megabytes for 3,600 seconds.
  "compute.memory-gb-hour": price("0.01", 1_000 * 3_600, "megabyte-second"),
  "storage.ssd-gb-month": price("0.10", GIGABYTE, "byte-month"),
  "network.bandwidth-gb": price("0.02", GIGABYTE, "byte")
}

/**
 * Configured replacements for prices: a key and its new amount, per the same number of the same units as the
 * default (`{ "openai.gpt-4": "0.03" }` is $0.03 per 1,000 tokens). Unknown keys and negative amounts are
 * refused by name.
 *
 * @category models
 */
export const PriceOverrides = Schema.Record(Schema.String, Money.NonNegative).check(
  Schema.makeFilter((overrides) =>
    Object.keys(overrides).filter((key) => !Schema.is(PriceKey)(key)).map((key) => ({
      path: [key],
      issue: `unknown price ${JSON.stringify(key)}; the known prices are ${PriceKey.literals.join(", ")}`
    }))
  )
)
/** @category models */
export type PriceOverrides = typeof PriceOverrides.Type

/**
 * The table with the overridden amounts in place.
 *
 * @category constructors
 */
export const withOverrides = (table: PriceTable, overrides: PriceOverrides): PriceTable => {
  const result: Record<string, Price> = {}
  for (const key of PriceKey.literals) {
    const amount = overrides[key]
    result[key] = amount === undefined ? table[key] : new Price({ ...table[key], amount })
  }
  return result as PriceTable
}

/**
 * A quantity of one priced thing, counted in that price's unit.
 *
 * @category models
 */
export class UsageItem extends Schema.Class<UsageItem>("@ytempire/domain/Pricing/UsageItem")({
  price: PriceKey,
  quantity: NonNegativeInt
}) {}

/**
 * What some work used.
 *
 * @category models
 */
export const Usage = Schema.Array(UsageItem)
/** @category models */
export type Usage = typeof Usage.Type

/**
 * A usage item.
 *
 * @category constructors
 */
export const use = (key: PriceKey, quantity: number): UsageItem => new UsageItem({ price: key, quantity })

/**
 * The cost of one usage item.
 *
 * @category costs
 */
export const itemCost = (item: UsageItem, table: PriceTable = defaultTable): Money.Money => {
  const entry = table[item.price]
  return Money.scale(entry.amount, item.quantity, entry.per)
}

/**
 * The cost of a usage: the exact sum of its items' costs.
 *
 * @category costs
 */
export const cost = (usage: Usage, table: PriceTable = defaultTable): Money.Money =>
  Money.sum(usage.map((item) => itemCost(item, table)))

/**
 * The work expected of one video, from which each stage's estimate is computed before it runs. The defaults
 * follow the operations plan: a ~1,500-character narration from a ~2,000-token script, one thumbnail image,
 * about 6 GPU-minutes per video, about 2 GB moved per video.
 *
 * @category models
 */
export class VideoPlan extends Schema.Class<VideoPlan>("@ytempire/domain/Pricing/VideoPlan")({
  scriptTokens: NonNegativeInt,
  narrationCharacters: NonNegativeInt,
  thumbnailImages: NonNegativeInt,
  imageGpuMillis: NonNegativeInt,
  localModelGpuMillis: NonNegativeInt,
  renderMillis: NonNegativeInt,
  localCpuMillis: NonNegativeInt,
  uploadBytes: NonNegativeInt
}) {}

/**
 * The documents' typical video.
 *
 * @category constants
 */
export const defaultPlan: VideoPlan = new VideoPlan({
  scriptTokens: 2_000,
  narrationCharacters: 1_500,
  thumbnailImages: 1,
  imageGpuMillis: 6_000,
  localModelGpuMillis: 30_000,
  renderMillis: 354_000,
  localCpuMillis: 60_000,
  uploadBytes: 2 * GIGABYTE
})

/**
 * What a stage is expected to use at a provider tier, before it runs:
 * - script: GPT-4 tokens (premium), GPT-3.5 tokens (standard, economy), or local-model GPU time (local);
 * - voice: ElevenLabs characters (premium), Google TTS characters (standard, economy), or CPU time (local);
 * - thumbnail: a Stable Diffusion image and its GPU time (cloud tiers), or CPU time (a local title card);
 * - render: GPU encoding time (CPU time at the local tier);
 * - upload: the bytes sent.
 *
 * @category costs
 */
export const expectedUsage = (
  stage: Stage.Stage,
  tier: Provider.ProviderTier,
  plan: VideoPlan = defaultPlan
): Usage => {
  const local = tier === "local"
  switch (stage) {
    case "script":
      return local
        ? [use("compute.gpu-hour", plan.localModelGpuMillis)]
        : [use(tier === "premium" ? "openai.gpt-4" : "openai.gpt-3.5-turbo", plan.scriptTokens)]
    case "voice":
      return local
        ? [use("compute.cpu-hour", plan.localCpuMillis)]
        : [use(tier === "premium" ? "elevenlabs.tts" : "google.tts", plan.narrationCharacters)]
    case "thumbnail":
      return local
        ? [use("compute.cpu-hour", plan.localCpuMillis)]
        : [use("stable-diffusion.image", plan.thumbnailImages), use("compute.gpu-hour", plan.imageGpuMillis)]
    case "render":
      return [use(local ? "compute.cpu-hour" : "compute.gpu-hour", plan.renderMillis)]
    case "upload":
      return [use("network.bandwidth-gb", plan.uploadBytes)]
  }
}

/**
 * A stage's estimated cost at a tier: what the budget ledger reserves before the stage runs.
 *
 * @category costs
 */
export const estimate = (
  stage: Stage.Stage,
  tier: Provider.ProviderTier,
  plan: VideoPlan = defaultPlan,
  table: PriceTable = defaultTable
): Money.Money => cost(expectedUsage(stage, tier, plan), table)

/**
 * A whole video's estimate at one tier: each stage's estimate and their sum.
 *
 * @category costs
 */
export const videoEstimate = (
  tier: Provider.ProviderTier,
  plan: VideoPlan = defaultPlan,
  table: PriceTable = defaultTable
): {
  readonly stages: ReadonlyArray<{ readonly stage: Stage.Stage; readonly cost: Money.Money }>
  readonly total: Money.Money
} => {
  const stages = Stage.all.map((stage) => ({ stage, cost: estimate(stage, tier, plan, table) }))
  return { stages, total: Money.sum(stages.map((entry) => entry.cost)) }
}
