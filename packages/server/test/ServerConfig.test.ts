import { describe, expect, it } from "@effect/vitest"
import * as ServerConfig from "@ytempire/server/ServerConfig"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"

const load = (env: Record<string, string>, overrides: ServerConfig.Overrides = {}) =>
  ServerConfig.load(overrides).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))

const failure = (env: Record<string, string>, overrides: ServerConfig.Overrides = {}) =>
  Effect.flip(load(env, overrides))

const key = `yte_${"A".repeat(43)}`

describe("ServerConfig", () => {
  it.effect("defaults: port 8000 on all interfaces, embedded storage, rate 100/s with a burst of 200", () =>
    Effect.gen(function*() {
      const config = yield* load({})
      expect(config.port).toBe(8000)
      expect(config.host).toBe("0.0.0.0")
      expect(config.storage._tag).toBe("embedded")
      expect(config.rate).toEqual({ perSecond: 100, burst: 200 })
      expect(Duration.toSeconds(config.shutdownTimeout)).toBe(30)
      expect(config.operatorTenant).toBe("operator")
      expect(Option.isNone(config.bootstrapKey)).toBe(true)
    }))

  it.effect("DATABASE_URL selects Postgres; a flag wins over its variable", () =>
    Effect.gen(function*() {
      const config = yield* load({ DATABASE_URL: "postgres://u:pw@db:5432/x", PORT: "9000" }, { port: "9100" })
      expect(config.storage._tag).toBe("postgres")
      expect(config.port).toBe(9100)
      const memory = yield* load({ DATABASE_URL: "postgres://u:pw@db:5432/x" }, { storage: "memory" })
      expect(memory.storage._tag).toBe("memory")
      const withKey = yield* load({ YTEMPIRE_BOOTSTRAP_KEY: key, YTEMPIRE_RATE_LIMIT: "5" })
      expect(Option.map(withKey.bootstrapKey, Redacted.value)).toEqual(Option.some(key))
      expect(withKey.rate).toEqual({ perSecond: 5, burst: 10 })
    }))

  it.effect("a bad value names its variable (or flag) and what was expected", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, ServerConfig.Overrides, string, RegExp]> = [
        [{ PORT: "abc" }, {}, "PORT", /whole number from 1 to 65535/],
        [{ PORT: "70000" }, {}, "PORT", /whole number from 1 to 65535/],
        [{}, { port: "-1" }, "--port", /whole number/],
        [{ YTEMPIRE_STORAGE: "disk" }, {}, "YTEMPIRE_STORAGE", /embedded, postgres, memory/],
        [{ YTEMPIRE_STORAGE: "postgres" }, {}, "DATABASE_URL", /required with the postgres storage/],
        [{ REDIS_URL: "localhost:6379" }, {}, "REDIS_URL", /redis:/],
        [{ YTEMPIRE_GPU: "bogus" }, {}, "YTEMPIRE_GPU", /probe/],
        [{ LOG_LEVEL: "loud" }, {}, "LOG_LEVEL", /trace, debug, info/],
        [{ LOG_FORMAT: "xml" }, {}, "LOG_FORMAT", /text, json/],
        [{ YTEMPIRE_RATE_LIMIT: "0" }, {}, "YTEMPIRE_RATE_LIMIT", /whole number/],
        [{ YTEMPIRE_SHUTDOWN_TIMEOUT: "soon" }, {}, "YTEMPIRE_SHUTDOWN_TIMEOUT", /whole number/],
        [{ YTEMPIRE_OPERATOR_TENANT: "has spaces" }, {}, "YTEMPIRE_OPERATOR_TENANT", /tenant id/],
        [{ YTEMPIRE_BOOTSTRAP_KEY: "short" }, {}, "YTEMPIRE_BOOTSTRAP_KEY", /43 base64url/]
      ]
      for (const [env, overrides, name, expected] of cases) {
        const error = yield* failure(env, overrides)
        expect(error.name, JSON.stringify(env)).toBe(name)
        expect(error.message).toMatch(expected)
        expect(error.message.startsWith(`${name}: `)).toBe(true)
      }
    }))

  it.effect("never repeats a secret in its messages", () =>
    Effect.gen(function*() {
      const database = yield* failure({ DATABASE_URL: "mysql://admin:hunter2@db/x" })
      expect(database.name).toBe("DATABASE_URL")
      expect(database.message).not.toContain("hunter2")
      const redis = yield* failure({ REDIS_URL: "http://:hunter2@cache" })
      expect(redis.message).not.toContain("hunter2")
      const bootstrap = yield* failure({ YTEMPIRE_BOOTSTRAP_KEY: "yte_hunter2" })
      expect(bootstrap.message).not.toContain("hunter2")
    }))
})
