/**
 * The `ytempire` command line: `serve` (the server), `keys` (API keys), `estimate` (what videos cost), and the
 * client commands.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Auth, Budget, Errors, Ids, Money, Pricing, Provider } from "@ytempire/domain"
import { EmbeddedSql, YtempireRuntime } from "@ytempire/runtime"
import { Clock, Console, Duration, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Path from "node:path"
import * as AlertsCli from "./AlertsCli.ts"
import * as ApiKeys from "./ApiKeys.ts"
import * as ClientCli from "./ClientCli.ts"
import * as Demo from "./Demo.ts"
import * as Server from "./Server.ts"
import * as ServerConfig from "./ServerConfig.ts"
import { version } from "./Version.ts"

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

// ---------------------------------------------------------------------------------------------------------------
// serve

let shutdownRequested = false

/**
 * Whether a signal asked the server to stop: the process then exits 0 once it has stopped, not 130.
 *
 * @category utils
 */
export const isGracefulShutdown = (): boolean => shutdownRequested

/**
 * On SIGTERM or SIGINT: note that the stop is asked for, log it, and give the shutdown `deadline`; past it, the
 * process exits 1 (what was running resumes at the next start). A second signal exits at once.
 */
const onShutdownSignal = (deadline: Duration.Duration) => (signal: NodeJS.Signals) => {
  if (shutdownRequested) {
    process.stderr.write(`ytempire: ${signal} again: exiting now\n`)
    process.exit(1)
  }
  shutdownRequested = true
  process.stderr.write(
    `ytempire: ${signal}: shutting down (stopping intake, then stages at their durable boundary; ` +
      `deadline ${Duration.format(deadline)})\n`
  )
  setTimeout(() => {
    process.stderr.write(`ytempire: the shutdown took longer than ${Duration.format(deadline)}: exiting\n`)
    process.exit(1)
  }, Duration.toMillis(deadline)).unref()
}

const armShutdownDeadline = (deadline: Duration.Duration) =>
  Effect.sync(() => {
    const onSignal = onShutdownSignal(deadline)
    process.once("SIGTERM", onSignal)
    process.once("SIGINT", onSignal)
  })

const optionalText = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const serverFlags = {
  port: optionalText("port", "Port to listen on (PORT; default 8000)"),
  host: optionalText("host", "Interface to listen on (HOST; default 0.0.0.0)"),
  storage: optionalText(
    "storage",
    "embedded (the data directory), postgres (DATABASE_URL) or memory (YTEMPIRE_STORAGE; default: postgres when " +
      "DATABASE_URL is set, else embedded)"
  ),
  dataDir: optionalText("data-dir", "Artifacts, published videos and the embedded database (YTEMPIRE_DATA_DIR)"),
  logFormat: optionalText("log-format", "text or json (LOG_FORMAT; default text)")
}

type ServerFlags = { readonly [K in keyof typeof serverFlags]: Option.Option<string> }

const overridesOf = (flags: ServerFlags): ServerConfig.Overrides => ({
  port: Option.getOrUndefined(flags.port),
  host: Option.getOrUndefined(flags.host),
  storage: Option.getOrUndefined(flags.storage),
  dataDir: Option.getOrUndefined(flags.dataDir),
  logFormat: Option.getOrUndefined(flags.logFormat)
})

const run = Effect.fnUntraced(function*(config: ServerConfig.ServerConfig) {
  const startedAt = yield* Clock.currentTimeMillis
  yield* armShutdownDeadline(config.shutdownTimeout)
  const where = config.storage._tag === "postgres" ? "postgres (DATABASE_URL)" : config.storage._tag
  yield* Effect.logInfo(
    `ytempire ${version} starting on ${config.host}:${config.port}; storage ${where}, data in ` +
      Path.resolve(config.dataDir)
  )
  yield* Layer.launch(Server.layer(config, { startedAt })).pipe(
    Effect.onInterrupt(() => Effect.logInfo("ytempire stopped"))
  )
})

/**
 * `ytempire serve`: the server, until SIGTERM or SIGINT.
 *
 * @category commands
 */
export const serve = Command.make(
  "serve",
  serverFlags,
  Effect.fn("Cli.serve")(function*(flags) {
    const config = yield* ServerConfig.load(overridesOf(flags))
    yield* run(config).pipe(Effect.provide(Server.loggingLayer(config)))
  })
).pipe(Command.withDescription("Run the ytempire server: RPC (/rpc, /rpc/ws), REST (/api/v1), /health and /ready"))

// ---------------------------------------------------------------------------------------------------------------
// keys

/** The SQL database the configuration names (embedded in the data directory, or DATABASE_URL). */
const databaseOf = (config: ServerConfig.ServerConfig) => {
  switch (config.storage._tag) {
    case "postgres":
      return Effect.succeed(PgClient.layer({ url: config.storage.url }))
    case "embedded":
      return Effect.succeed(EmbeddedSql.layer({ dataDir: Path.resolve(config.dataDir) }))
    case "memory":
      return Effect.fail(
        new ServerConfig.InvalidConfiguration({
          name: "--storage",
          message: "memory storage keeps no keys between processes; use a server's bootstrap key " +
            "(YTEMPIRE_BOOTSTRAP_KEY) or embedded/postgres storage"
        })
      )
  }
}

const keysCreate = Command.make(
  "create",
  {
    tenant: Flag.String("tenant").pipe(
      Flag.withDescription("The tenant the key belongs to"),
      Flag.withSchema(Ids.TenantId)
    ),
    role: Flag.Literals("role", Auth.Role.literals).pipe(
      Flag.withDescription("admin (everything, keys included), operator (changes, not keys) or viewer (reads)")
    ),
    name: optionalText("name", "A name to recognise the key by"),
    storage: serverFlags.storage,
    dataDir: serverFlags.dataDir
  },
  Effect.fn("Cli.keysCreate")(function*({ dataDir, name, role, storage, tenant }) {
    const config = yield* ServerConfig.load({
      storage: Option.getOrUndefined(storage),
      dataDir: Option.getOrUndefined(dataDir)
    })
    const database = yield* databaseOf(config)
    const created = yield* Effect.flatMap(
      ApiKeys.ApiKeys,
      (keys) => keys.create(tenant, new Auth.ApiKeyRequest(Option.isSome(name) ? { role, name: name.value } : { role }))
    ).pipe(
      Effect.provide(ApiKeys.ApiKeys.layerSql.pipe(Layer.provide(database)))
    )
    yield* Console.error(
      `created key ${created.key.id} (${created.key.role} of tenant ${created.key.tenantId}); its secret, shown ` +
        `only now:`
    )
    yield* Console.log(created.secret)
  })
).pipe(Command.withDescription("Create an API key in the server's database and print its secret (once)"))

/**
 * `ytempire migrate`: applies every pending migration to the configured database (the runtime's, the cluster's
 * and the server's tables) and exits; `serve` does the same when it starts.
 *
 * @category commands
 */
export const migrate = Command.make(
  "migrate",
  { storage: serverFlags.storage, dataDir: serverFlags.dataDir },
  Effect.fn("Cli.migrate")(function*({ dataDir, storage }) {
    const config = yield* ServerConfig.load({
      storage: Option.getOrUndefined(storage),
      dataDir: Option.getOrUndefined(dataDir)
    })
    const database = yield* databaseOf(config)
    const applied = yield* Effect.gen(function*() {
      const runtime = yield* YtempireRuntime.migrate
      const server = yield* ApiKeys.migrate
      return [...runtime, ...server.map(([id, name]) => `server ${String(id).padStart(4, "0")}_${name}`)]
    }).pipe(Effect.provide(database))
    yield* Console.error(
      applied.length === 0 ? "ytempire migrate: up to date" : `ytempire migrate: applied ${applied.join(", ")}`
    )
  })
).pipe(Command.withDescription("Apply the database migrations (DATABASE_URL, or the embedded data directory)"))

/**
 * `ytempire keys`: API keys, straight in the server's database (for the first key, or with the server stopped
 * when the storage is embedded).
 *
 * @category commands
 */
export const keys = Command.make("keys").pipe(
  Command.withDescription("Manage API keys"),
  Command.withSubcommands([keysCreate])
)

/**
 * The root command.
 *
 * @category commands
 */
export const ytempire = Command.make("ytempire").pipe(
  Command.withDescription("ytempire: an actor-model runtime for an automated YouTube content operation"),
  Command.withSubcommands([
    serve,
    Demo.demo,
    migrate,
    keys,
    ClientCli.channels,
    ClientCli.videos,
    estimate,
    AlertsCli.alerts
  ])
)
