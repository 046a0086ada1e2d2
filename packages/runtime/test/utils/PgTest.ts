/**
 * A fresh Postgres database per test file, so that test files can run in parallel against the local server.
 *
 * `layer(name)` connects to the `postgres` database, drops `name` (closing its connections) and creates it
 * again, then provides a pooled `PgClient` / `SqlClient` on it. The server is `PGHOST` / `PGPORT` / `PGUSER`
 * (default `127.0.0.1`, `5432`, `postgres`; trust authentication, or `PGPASSWORD`).
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Option } from "effect"
import type { SqlClient, SqlError } from "effect/sql"

const server = Config.all({
  host: Config.String("PGHOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.Port("PGPORT").pipe(Config.withDefault(5432)),
  username: Config.String("PGUSER").pipe(Config.withDefault("postgres")),
  password: Config.option(Config.Redacted("PGPASSWORD"))
})

const isDatabaseName = (name: string) => /^[a-z_][a-z0-9_]{0,62}$/.test(name)

/**
 * A `SqlClient` (and `PgClient`) on a database named `database`, dropped and created anew when the layer is
 * built. `maxConnections` sizes the pool (default 10).
 */
export const layer = (
  database: string,
  options?: { readonly maxConnections?: number }
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError.SqlError | Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    if (!isDatabaseName(database)) return yield* Effect.die(new Error(`not a test database name: ${database}`))
    const { host, password, port, username } = yield* server
    const connection = {
      host,
      port,
      username,
      ...(Option.isSome(password) ? { password: password.value } : {})
    }
    yield* Effect.gen(function*() {
      const admin = yield* PgClient.PgClient
      yield* admin`DROP DATABASE IF EXISTS ${admin(database)} WITH (FORCE)`
      yield* admin`CREATE DATABASE ${admin(database)}`
    }).pipe(Effect.provide(PgClient.layer({ ...connection, database: "postgres", maxConnections: 1 })))
    return PgClient.layer({ ...connection, database, maxConnections: options?.maxConnections ?? 10 })
  }))
