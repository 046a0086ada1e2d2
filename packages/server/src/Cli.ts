/**
 * The `ytempire` command line. Today it plans costs (`ytempire estimate`); `serve`, `demo`, `migrate`, `keys`
 * and the client commands arrive with the server issue.
 *
 * @since 0.1.0
 */
import { Budget, Errors, Money, Pricing, Provider } from "@ytempire/domain"
import { Console, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"

const decodeOverrides = (pairs: Record<string, string>) =>
  Schema.decodeUnknownEffect(Pricing.PriceOverrides)(pairs).pipe(
    Effect.mapError((error) => {
      const invalid = Errors.InvalidRequest.fromSchemaError(error)
      return new Errors.InvalidRequest({
        message: `--price ${invalid.field ?? ""}: ${invalid.message.split("\n")[0]}`
      })
    })
  )

/**
 * `ytempire estimate`: what one video costs at each provider tier with the configured prices, and how many
 * videos a day the daily and monthly budgets cover.
 *
 * @category commands
 */
export const estimate = Command.make(
  "estimate",
  {
    videosPerDay: Flag.Int("videos-per-day").pipe(
      Flag.withDescription("Videos produced per day (the operations plan's MVP is 50)"),
      Flag.withSchema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))),
      Flag.withDefault(50)
    ),
    narrationCharacters: Flag.Int("narration-chars").pipe(
      Flag.withDescription("Characters of narration per video"),
      Flag.withSchema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))),
      Flag.withDefault(Pricing.defaultPlan.narrationCharacters)
    ),
    scriptTokens: Flag.Int("script-tokens").pipe(
      Flag.withDescription("Language-model tokens per script"),
      Flag.withSchema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10_000_000 }))),
      Flag.withDefault(Pricing.defaultPlan.scriptTokens)
    ),
    prices: Flag.KeyValuePair("price").pipe(
      Flag.withDescription("Override a price, e.g. --price openai.gpt-4=0.03 (dollars per the default unit)"),
      Flag.withDefault({})
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON line"), Flag.withDefault(false))
  },
  Effect.fn("Cli.estimate")(function*({ json, narrationCharacters, prices, scriptTokens, videosPerDay }) {
    const table = Pricing.withOverrides(Pricing.defaultTable, yield* decodeOverrides(prices))
    const plan = new Pricing.VideoPlan({ ...Pricing.defaultPlan, narrationCharacters, scriptTokens })
    const daily = Budget.defaults.daily
    const monthly = Budget.defaults.monthly
    const tiers = yield* Effect.try({
      try: () => planTiers(),
      // Money refuses to leave the safe-integer range (about $9 billion) rather than lose precision.
      catch: () =>
        new Errors.InvalidRequest({ message: "the prices and quantities given make amounts too large to add up" })
    })
    function planTiers() {
      return Provider.tiers.map((tier) => {
        const { stages, total } = Pricing.videoEstimate(tier, plan, table)
        const perDay = Money.multiply(total, videosPerDay)
        return {
          tier,
          stages,
          total,
          perDay,
          perMonth: Money.multiply(perDay, 30),
          videosPerDailyBudget: total === 0 ? null : Math.floor(daily / total),
          meetsTarget: total <= Budget.defaults.costPerVideoTarget
        }
      })
    }
    if (json) {
      const dollars = Money.toDecimal
      return yield* Console.log(JSON.stringify({
        videosPerDay,
        dailyBudget: dollars(daily),
        monthlyBudget: dollars(monthly),
        costPerVideoTarget: dollars(Budget.defaults.costPerVideoTarget),
        tiers: tiers.map((entry) => ({
          tier: entry.tier,
          perVideo: dollars(entry.total),
          stages: Object.fromEntries(entry.stages.map(({ cost, stage }) => [stage, dollars(cost)])),
          perDay: dollars(entry.perDay),
          perMonth: dollars(entry.perMonth),
          videosPerDailyBudget: entry.videosPerDailyBudget,
          meetsTarget: entry.meetsTarget
        }))
      }))
    }
    yield* Console.log(
      `One video (${plan.scriptTokens} script tokens, ${plan.narrationCharacters} narration characters), ` +
        `${videosPerDay} a day; budgets ${Money.format(daily)}/day, ${Money.format(monthly)}/month, ` +
        `target ${Money.format(Budget.defaults.costPerVideoTarget)}/video`
    )
    for (const entry of tiers) {
      const stages = entry.stages.map(({ cost, stage }) => `${stage} ${Money.format(cost)}`).join(", ")
      yield* Console.log(
        `${entry.tier.padEnd(8)} ${Money.format(entry.total).padStart(10)}/video ` +
          `${entry.meetsTarget ? "(meets target)" : "(over target) "}  ${Money.format(entry.perDay)}/day  ` +
          `${Money.format(entry.perMonth)}/30 days  ${entry.videosPerDailyBudget ?? "unlimited"} videos fit the ` +
          `daily budget  [${stages}]`
      )
    }
  })
).pipe(Command.withDescription("Estimate what a video costs at each provider tier, and what the budgets cover"))

/**
 * The root command.
 *
 * @category commands
 */
export const ytempire = Command.make("ytempire").pipe(
  Command.withDescription("ytempire: an actor-model runtime for an automated YouTube content operation"),
  Command.withSubcommands([estimate])
)
