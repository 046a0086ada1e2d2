/**
 * The server's configuration: environment variables, overridden by command-line flags. Every value is checked
 * before anything starts; a bad one stops start-up with an `InvalidConfiguration` naming the variable (or flag)
 * and what it expected. Secrets (`DATABASE_URL`, `REDIS_URL`, `YTEMPIRE_BOOTSTRAP_KEY`) are kept `Redacted`, so
 * they never reach a log.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `PORT` | 8000 | the HTTP port |
 * | `HOST` | 0.0.0.0 | the interface to listen on |
 * | `DATABASE_URL` | (none: embedded) | a Postgres URL; without it, an embedded Postgres in the data directory |
 * | `YTEMPIRE_STORAGE` | from `DATABASE_URL` | `embedded`, `postgres` or `memory` (nothing kept) |
 * | `YTEMPIRE_DATA_DIR` | ./ytempire-data | artifacts, published videos and the embedded database |
 * | `REDIS_URL` | (none) | Redis for the rate limiter shared by servers, checked by /ready |
 * | `YTEMPIRE_GPU` | probe | `probe`, `none`, a preset (`rtx5090`, `rtx5090x2`) or `probe:<preset>` |
 * | `LOG_LEVEL` | info (or `--log-level`) | trace, debug, info, warn, error, fatal or none |
 * | `LOG_FORMAT` | text | `json` for one JSON object per line |
 * | `YTEMPIRE_RATE_LIMIT` | 100 | requests per second per API key |
 * | `YTEMPIRE_RATE_BURST` | 2 × the rate | requests at once per key |
 * | `YTEMPIRE_SHUTDOWN_TIMEOUT` | 30 | seconds a shutdown may take before the process gives up and exits 1 |
 * | `YTEMPIRE_OPERATOR_TENANT` | operator | the tenant whose admins may change the global budget limits |
 * | `YTEMPIRE_BOOTSTRAP_KEY` | (none) | an API key (`yte_…`) made an admin of the operator tenant at start |
 * | `YTEMPIRE_PROVIDER_LATENCY_MS` | 0 | an artificial latency of every offline provider (demos, fault tests) |
 *
 * The standard `OTEL_*` variables are read by the tracing setup, not here.
 *
 * @since 0.1.0
 */
import { Ids } from "@ytempire/domain"
import { Inventory } from "@ytempire/gpu"
import type { YtempireRuntime } from "@ytempire/runtime"
import { Config, Duration, Effect, type LogLevel, Option, Redacted, References, Result, Schema } from "effect"
import * as RateLimiter from "./RateLimiter.ts"

/**
 * A configuration value that cannot be used: `name` is the variable or flag, `message` what was expected.
 *
 * @category errors
 */
export class InvalidConfiguration extends Schema.TaggedError<InvalidConfiguration>()("InvalidConfiguration", {
  name: Schema.String,
  message: Schema.String
}) {}

/**
 * The server's settings.
 *
 * @category models
 */
export interface ServerConfig {
  readonly port: number
  readonly host: string
  readonly storage: YtempireRuntime.Storage
  readonly dataDir: string
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly gpu: Inventory.GpuSetting
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: "text" | "json"
  readonly rate: RateLimiter.Rate
  readonly shutdownTimeout: Duration.Duration
  readonly operatorTenant: Ids.TenantId
  readonly bootstrapKey: Option.Option<Redacted.Redacted<string>>
  readonly providerLatency: Duration.Duration
}

/**
 * Values given on the command line; each replaces its variable.
 *
 * @category models
 */
export interface Overrides {
  readonly port?: string | undefined
  readonly host?: string | undefined
  readonly storage?: string | undefined
  readonly dataDir?: string | undefined
  readonly logLevel?: string | undefined
  readonly logFormat?: string | undefined
}

const logLevels: ReadonlyArray<LogLevel.LogLevel> = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"]

const raw = (name: string) => Config.option(Config.String(name))

const invalid = (name: string, expected: string, value: string) =>
  new InvalidConfiguration({ name, message: `${name}: expected ${expected}, got ${JSON.stringify(value)}` })

const integer = (
  name: string,
  value: string,
  minimum: number,
  maximum: number
): Effect.Effect<number, InvalidConfiguration> => {
  const n = Number(value.trim())
  return /^\s*\d+\s*$/.test(value) && n >= minimum && n <= maximum
    ? Effect.succeed(n)
    : Effect.fail(invalid(name, `a whole number from ${minimum} to ${maximum}`, value))
}

const choice = <A extends string>(
  name: string,
  value: string,
  options: ReadonlyArray<A>
): Effect.Effect<A, InvalidConfiguration> => {
  const found = options.find((option) => option.toLowerCase() === value.trim().toLowerCase())
  return found === undefined ? Effect.fail(invalid(name, `one of ${options.join(", ")}`, value)) : Effect.succeed(found)
}

const url = (
  name: string,
  value: string,
  protocols: ReadonlyArray<string>
): Effect.Effect<Redacted.Redacted<string>, InvalidConfiguration> => {
  try {
    const parsed = new URL(value)
    if (protocols.includes(parsed.protocol)) return Effect.succeed(Redacted.make(value))
  } catch {
    // reported below, without the value: a URL may hold a password
  }
  return Effect.fail(
    new InvalidConfiguration({ name, message: `${name}: expected a URL starting with ${protocols.join(" or ")}` })
  )
}

// A flag wins over its variable, and is named as the flag in messages.
const pick = (flag: string | undefined, flagName: string, variable: Option.Option<string>, variableName: string) =>
  flag !== undefined
    ? Option.some({ name: flagName, value: flag })
    : Option.map(variable, (value) => ({ name: variableName, value }))
const empty = (value: Option.Option<{ name: string; value: string }>) =>
  Option.filter(value, (entry) => entry.value.trim() !== "")

/**
 * Reads and checks the configuration: the environment (through effect's `ConfigProvider`), then the flags.
 *
 * @category constructors
 */
export const load = Effect.fn("ServerConfig.load")(
  function*(overrides: Overrides) {
    const env = {
      port: yield* raw("PORT"),
      host: yield* raw("HOST"),
      databaseUrl: yield* raw("DATABASE_URL"),
      storage: yield* raw("YTEMPIRE_STORAGE"),
      dataDir: yield* raw("YTEMPIRE_DATA_DIR"),
      redisUrl: yield* raw("REDIS_URL"),
      gpu: yield* raw("YTEMPIRE_GPU"),
      logLevel: yield* raw("LOG_LEVEL"),
      logFormat: yield* raw("LOG_FORMAT"),
      rateLimit: yield* raw("YTEMPIRE_RATE_LIMIT"),
      rateBurst: yield* raw("YTEMPIRE_RATE_BURST"),
      shutdownTimeout: yield* raw("YTEMPIRE_SHUTDOWN_TIMEOUT"),
      operatorTenant: yield* raw("YTEMPIRE_OPERATOR_TENANT"),
      bootstrapKey: yield* raw("YTEMPIRE_BOOTSTRAP_KEY"),
      providerLatency: yield* raw("YTEMPIRE_PROVIDER_LATENCY_MS")
    }
    const port = yield* Option.match(empty(pick(overrides.port, "--port", env.port, "PORT")), {
      onNone: () => Effect.succeed(8000),
      onSome: ({ name, value }) => integer(name, value, 1, 65535)
    })
    const host = Option.match(empty(pick(overrides.host, "--host", env.host, "HOST")), {
      onNone: () => "0.0.0.0",
      onSome: ({ value }) => value.trim()
    })
    const databaseUrl = yield* Option.match(Option.filter(env.databaseUrl, (value) => value.trim() !== ""), {
      onNone: () => Effect.succeedNone,
      onSome: (value) => Effect.asSome(url("DATABASE_URL", value.trim(), ["postgres:", "postgresql:"]))
    })
    const storageKind = yield* Option.match(
      empty(pick(overrides.storage, "--storage", env.storage, "YTEMPIRE_STORAGE")),
      {
        onNone: () => Effect.succeed(Option.isSome(databaseUrl) ? "postgres" as const : "embedded" as const),
        onSome: ({ name, value }) => choice(name, value, ["embedded", "postgres", "memory"] as const)
      }
    )
    let storage: YtempireRuntime.Storage
    if (storageKind === "postgres") {
      if (Option.isNone(databaseUrl)) {
        return yield* new InvalidConfiguration({
          name: "DATABASE_URL",
          message: "DATABASE_URL: required with the postgres storage (a URL such as postgres://user@host:5432/db)"
        })
      }
      storage = { _tag: "postgres", url: databaseUrl.value }
    } else {
      storage = { _tag: storageKind }
    }
    const dataDir = Option.match(empty(pick(overrides.dataDir, "--data-dir", env.dataDir, "YTEMPIRE_DATA_DIR")), {
      onNone: () => "./ytempire-data",
      onSome: ({ value }) => value.trim()
    })
    const redisUrl = yield* Option.match(Option.filter(env.redisUrl, (value) => value.trim() !== ""), {
      onNone: () => Effect.succeedNone,
      onSome: (value) => Effect.asSome(url("REDIS_URL", value.trim(), ["redis:", "rediss:"]))
    })
    const gpuText = Option.getOrElse(Option.filter(env.gpu, (value) => value.trim() !== ""), () => "probe")
    const gpu = yield* Result.match(Inventory.parseSetting(gpuText), {
      onFailure: () => Effect.fail(invalid("YTEMPIRE_GPU", Inventory.validSettings.join(" | "), gpuText)),
      onSuccess: Effect.succeed
    })
    const logLevel = yield* Option.match(empty(pick(overrides.logLevel, "--log-level", env.logLevel, "LOG_LEVEL")), {
      // The CLI's global --log-level flag sets the reference; without LOG_LEVEL that one stands.
      onNone: (): Effect.Effect<LogLevel.LogLevel, InvalidConfiguration> => Effect.service(References.MinimumLogLevel),
      onSome: ({ name, value }): Effect.Effect<LogLevel.LogLevel, InvalidConfiguration> =>
        choice(name, value === "warning" ? "warn" : value, logLevels).pipe(
          Effect.mapError(() => invalid(name, "one of trace, debug, info, warn, error, fatal, none", value))
        )
    })
    const logFormat = yield* Option.match(
      empty(pick(overrides.logFormat, "--log-format", env.logFormat, "LOG_FORMAT")),
      {
        onNone: () => Effect.succeed("text" as const),
        onSome: ({ name, value }) => choice(name, value, ["text", "json"] as const)
      }
    )
    const perSecond = yield* Option.match(empty(pick(undefined, "", env.rateLimit, "YTEMPIRE_RATE_LIMIT")), {
      onNone: () => Effect.succeed(100),
      onSome: ({ name, value }) => integer(name, value, 1, 1_000_000)
    })
    const burst = yield* Option.match(empty(pick(undefined, "", env.rateBurst, "YTEMPIRE_RATE_BURST")), {
      onNone: () => Effect.succeed(perSecond * 2),
      onSome: ({ name, value }) => integer(name, value, 1, 10_000_000)
    })
    const shutdownSeconds = yield* Option.match(
      empty(pick(undefined, "", env.shutdownTimeout, "YTEMPIRE_SHUTDOWN_TIMEOUT")),
      { onNone: () => Effect.succeed(30), onSome: ({ name, value }) => integer(name, value, 1, 3600) }
    )
    const operatorText = Option.getOrElse(Option.filter(env.operatorTenant, (v) => v.trim() !== ""), () => "operator")
    const operatorTenant = yield* Schema.decodeUnknownEffect(Ids.TenantId)(operatorText.trim()).pipe(
      Effect.mapError(() =>
        invalid("YTEMPIRE_OPERATOR_TENANT", "a tenant id (letters, digits, '.', '_', ':', '-')", operatorText)
      )
    )
    const bootstrapKey = yield* Option.match(Option.filter(env.bootstrapKey, (value) => value.trim() !== ""), {
      onNone: () => Effect.succeedNone,
      onSome: (value) =>
        /^yte_[A-Za-z0-9_-]{43}$/.test(value.trim())
          ? Effect.succeedSome(Redacted.make(value.trim()))
          : Effect.fail(
            new InvalidConfiguration({
              name: "YTEMPIRE_BOOTSTRAP_KEY",
              message: "YTEMPIRE_BOOTSTRAP_KEY: expected \"yte_\" and 43 base64url characters (256 random bits)"
            })
          )
    })
    const latencyMillis = yield* Option.match(
      empty(pick(undefined, "", env.providerLatency, "YTEMPIRE_PROVIDER_LATENCY_MS")),
      { onNone: () => Effect.succeed(0), onSome: ({ name, value }) => integer(name, value, 0, 3_600_000) }
    )
    return {
      port,
      host,
      storage,
      dataDir,
      redisUrl,
      gpu,
      logLevel,
      logFormat,
      rate: { perSecond, burst },
      shutdownTimeout: Duration.seconds(shutdownSeconds),
      operatorTenant,
      bootstrapKey,
      providerLatency: Duration.millis(latencyMillis)
    } satisfies ServerConfig
  },
  Effect.mapError((error) =>
    error._tag === "ConfigError" ? new InvalidConfiguration({ name: "environment", message: error.message }) : error
  )
)
