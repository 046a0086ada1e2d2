/**
 * The embedded default storage: an effect/sql `SqlClient` on PGlite (Postgres compiled to WebAssembly) that keeps
 * its database in a directory, so ytempire runs with no database server and keeps its state across restarts.
 *
 * It speaks the Postgres dialect: statements are compiled by `@effect/sql-pg`'s compiler, parameters are typed the
 * way `PgClient` types them and results come back as `PgClient` returns them, so the same SQL — including effect's
 * `Migrator` and effect/cluster's `SqlMessageStorage` / `SqlRunnerStorage`, which pick their Postgres SQL through
 * `onDialectOrElse` — runs on it and on a Postgres server.
 *
 * **When to use**: when `DATABASE_URL` is not set. On a server, use `@effect/sql-pg`'s `PgClient.layer` instead;
 * the layers above the `SqlClient` are the same.
 *
 * **Gotchas**
 *
 * - PGlite has one connection. Transactions and reserved connections hold it from their start to their end, and
 *   every other statement, stream and transaction waits for it: a statement never runs inside another fiber's
 *   transaction. A fiber that holds it (inside `withTransaction`, or with a `reserve`d connection) and then waits
 *   for work that needs a connection of its own (a statement without the transaction in its context, a `listen`)
 *   waits forever, where a pool would have handed out a second connection.
 * - One process at a time: `<dataDir>/lock` names the process that has the directory open, and a second process
 *   (or a second layer in the same process) fails with `DataDirectoryInUse` instead of corrupting it.
 * - A statement runs to its end once PGlite has it: interrupting the fiber waits for it. PGlite runs queries on
 *   the JavaScript thread, so a long statement also holds up the rest of the process.
 * - Creating a new data directory runs `initdb`, which takes seconds (about 2–6 s); opening an existing one takes
 *   a few hundred milliseconds.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { PGlite } from "@electric-sql/pglite"
import { Context, Effect, Layer, Predicate, Queue, Schema, Scope, Semaphore, Stream } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlConnection, SqlError, Statement } from "effect/sql"
import * as Fs from "node:fs"
import * as Path from "node:path"

// ---------------------------------------------------------------------------------------------------------------
// models and errors

const TypeId = "~@ytempire/runtime/EmbeddedSql"

/**
 * How to open the embedded database.
 *
 * @category models
 */
export interface Options {
  /**
   * The directory that holds the database: created when missing, the Postgres files in `<dataDir>/pgdata` and the
   * process lock in `<dataDir>/lock`.
   */
  readonly dataDir: string
  /** Attributes added to every statement's span. */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** Renames result columns, as `PgClient`'s option of the same name. */
  readonly transformResultNames?: ((str: string) => string) | undefined
  /** Renames identifiers in statements, as `PgClient`'s option of the same name. */
  readonly transformQueryNames?: ((str: string) => string) | undefined
  /** Whether the name transforms also apply inside JSON values (default true), as on `PgClient`. */
  readonly transformJson?: boolean | undefined
}

/**
 * The embedded client: a `SqlClient` with the Postgres extras of `PgClient`.
 *
 * @category models
 */
export interface EmbeddedSqlClient extends SqlClient.SqlClient {
  readonly [TypeId]: typeof TypeId
  /** The data directory, as given. */
  readonly dataDir: string
  /** A `jsonb` parameter: `sql\`INSERT INTO t (doc) VALUES (${sql.json(doc)})\``. */
  readonly json: (value: unknown) => Statement.Fragment
  /**
   * The payloads sent to `channel` with `NOTIFY` or `notify`, from when the stream starts until it ends. Starting
   * and ending it runs `LISTEN` / `UNLISTEN`, which wait for the connection like any statement.
   */
  readonly listen: (channel: string) => Stream.Stream<string, SqlError.SqlError>
  /** `pg_notify(channel, payload)`; inside a transaction the listeners get it when it commits. */
  readonly notify: (channel: string, payload: string) => Effect.Effect<void, SqlError.SqlError>
}

/**
 * The data directory is open in another process (or in another layer of this process). Two databases writing the
 * same files would corrupt them, so the second one does not start.
 *
 * @category errors
 */
export class DataDirectoryInUse extends Schema.TaggedError<DataDirectoryInUse>()("DataDirectoryInUse", {
  dataDir: Schema.String,
  pid: Schema.Number
}) {
  override get message(): string {
    return `The data directory ${this.dataDir} is in use by process ${this.pid} (see ${
      Path.join(this.dataDir, "lock")
    }; remove it if that process is not ytempire)`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// errors of PGlite as SqlError

const classifySqlState = (
  code: string | undefined,
  constraint: unknown,
  props: { readonly cause: unknown; readonly message: string; readonly operation: string }
): SqlError.SqlErrorReason => {
  if (code !== undefined) {
    if (code.startsWith("08")) return new SqlError.ConnectionError(props)
    if (code.startsWith("28")) return new SqlError.AuthenticationError(props)
    if (code === "42501") return new SqlError.AuthorizationError(props)
    if (code.startsWith("42")) return new SqlError.SqlSyntaxError(props)
    if (code === "23505") {
      const name = typeof constraint === "string" && constraint.trim() !== "" ? constraint.trim() : "unknown"
      return new SqlError.UniqueViolation({ ...props, constraint: name })
    }
    if (code.startsWith("23")) return new SqlError.ConstraintError(props)
    if (code === "40P01") return new SqlError.DeadlockError(props)
    if (code === "40001") return new SqlError.SerializationError(props)
    if (code === "55P03") return new SqlError.LockTimeoutError(props)
    if (code === "57014") return new SqlError.StatementTimeoutError(props)
  }
  return new SqlError.UnknownError(props)
}

const stringProperty = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] : undefined

/** A failure of PGlite as a `SqlError`, classified by its SQLSTATE like `PgClient` classifies them. */
const toSqlError = (cause: unknown, operation: string): SqlError.SqlError =>
  new SqlError.SqlError({
    reason: classifySqlState(
      stringProperty(cause, "code"),
      Predicate.hasProperty(cause, "constraint") ? cause.constraint : undefined,
      {
        cause,
        message: `EmbeddedSql: ${stringProperty(cause, "message") ?? "failed"}`,
        operation
      }
    )
  })

const encodingError = (message: string): SqlError.SqlError =>
  new SqlError.SqlError({
    reason: new SqlError.UnknownError({
      cause: new Error(message),
      message: `EmbeddedSql: ${message}`,
      operation: "bind"
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// parameters: typed like PgClient types them

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

interface Bound {
  readonly oid: number
  readonly value: unknown
}

/** The type `PgClient` gives a scalar parameter (0: let the server infer it from the statement, as for strings). */
const inferScalar = (value: unknown): Bound | string => {
  if (PgTypes.isParameter(value)) return value
  if (value === null || value === undefined) return { oid: 0, value: null }
  switch (typeof value) {
    case "boolean":
      return { oid: PgTypes.OID.bool, value }
    case "bigint":
      return { oid: PgTypes.OID.int8, value }
    case "number":
      if (Number.isInteger(value)) {
        if (value >= INT32_MIN && value <= INT32_MAX) return { oid: PgTypes.OID.int4, value }
        if (Number.isSafeInteger(value)) return { oid: PgTypes.OID.int8, value: BigInt(value) }
      }
      return { oid: PgTypes.OID.float8, value }
    case "string":
      return { oid: 0, value }
  }
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? "Cannot bind an invalid Date" : { oid: PgTypes.OID.timestamptz, value }
  }
  if (value instanceof Uint8Array) return { oid: PgTypes.OID.bytea, value }
  if (value instanceof Int8Array) {
    return { oid: PgTypes.OID.bytea, value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) }
  }
  return `Cannot infer a PostgreSQL type for ${String(value)} (use sql.json for JSON values)`
}

const inferParameter = (value: unknown): Bound | string => {
  if (!Array.isArray(value)) return inferScalar(value)
  // Let the server infer the type of an empty array from the statement, as for strings.
  if (value.length === 0) return { oid: 0, value: "{}" }
  let elementOid: number | undefined
  const values: Array<unknown> = []
  for (const element of value as ReadonlyArray<unknown>) {
    if (Array.isArray(element)) return "Nested array parameters are not supported"
    const bound = inferScalar(element)
    if (typeof bound === "string") return bound
    values.push(bound.value)
    if (bound.value === null) continue
    // A string binds untyped, but an array names its element type.
    const oid = bound.oid === 0 ? PgTypes.OID.text : bound.oid
    if (elementOid === undefined) elementOid = oid
    else if (elementOid !== oid) return "Array parameter elements must have the same inferred type"
  }
  if (elementOid === undefined) return "Cannot infer the type of an array containing only null values"
  const arrayOid = PgTypes.arrayOidFor(elementOid)
  return arrayOid === undefined
    ? `No array type known for element type ${elementOid}`
    : { oid: arrayOid, value: values }
}

/** JSON goes to PGlite as text: its own JSON serializer would send a string value unquoted. */
const jsonText = (value: unknown): string | undefined =>
  JSON.stringify(value, (_, v: unknown) => typeof v === "bigint" ? v.toString() : v)

/** The values and parameter types of one statement, for `PGlite.query`. */
const bind = (params: ReadonlyArray<unknown>): {
  readonly values: Array<unknown>
  readonly types: Array<number>
} | SqlError.SqlError => {
  const values: Array<unknown> = []
  const types: Array<number> = []
  for (const param of params) {
    const bound = inferParameter(param)
    if (typeof bound === "string") return encodingError(bound)
    let value = bound.value
    if ((bound.oid === PgTypes.OID.json || bound.oid === PgTypes.OID.jsonb) && value !== null && value !== undefined) {
      const text = jsonText(value)
      if (text === undefined) return encodingError(`Cannot encode ${String(value)} as JSON`)
      value = text
    }
    values.push(value)
    types.push(bound.oid)
  }
  return { values, types }
}

// ---------------------------------------------------------------------------------------------------------------
// results: decoded like PgClient decodes them

const timestampPattern =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/

/**
 * A `timestamp` (wall-clock fields as the UTC fields of the Date, as PgClient does) or `timestamptz` in the ISO
 * output style, to the millisecond (truncated). `infinity` and `-infinity` become an invalid Date, as on PgClient.
 */
const parseTimestamp = (text: string): Date => {
  const match = timestampPattern.exec(text)
  // A conversion of a value read from the database, not a clock read.
  const date = new Date(0)
  if (match === null) {
    date.setTime(Number.NaN)
    return date
  }
  const [, year, month, day, hours, minutes, seconds, fraction, sign, offsetHours, offsetMinutes, offsetSeconds, bc] =
    match
  date.setUTCFullYear(bc === undefined ? Number(year) : 1 - Number(year), Number(month) - 1, Number(day))
  date.setUTCHours(Number(hours), Number(minutes), Number(seconds), Number((fraction ?? "").padEnd(3, "0").slice(0, 3)))
  if (sign !== undefined) {
    const offset = Number(offsetHours) * 3600 + Number(offsetMinutes ?? 0) * 60 + Number(offsetSeconds ?? 0)
    date.setTime(date.getTime() - (sign === "-" ? -offset : offset) * 1000)
  }
  return date
}

const micros = (hours: string, minutes: string, seconds: string, fraction: string | undefined): bigint =>
  ((BigInt(hours) * 60n + BigInt(minutes)) * 60n + BigInt(seconds)) * 1_000_000n +
  BigInt((fraction ?? "").padEnd(6, "0").slice(0, 6))

const timePattern = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/

/** A `time` as microseconds since midnight, as PgClient returns it. */
const parseTime = (text: string): bigint | string => {
  const match = timePattern.exec(text)
  return match === null ? text : micros(match[1]!, match[2]!, match[3]!, match[4])
}

const timetzPattern = /^(\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::(\d\d))?(?::\d\d)?$/

/** A `timetz` with its zone as `+HH:MM`, as PgClient writes it. */
const parseTimetz = (text: string): string => {
  const match = timetzPattern.exec(text)
  return match === null ? text : `${match[1]}${match[2]}:${match[3] ?? "00"}`
}

const intervalPattern =
  /^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d+))?)?$/

/** An `interval` (IntervalStyle `postgres`, the default) as `{ months, days, microseconds }`, as PgClient. */
const parseInterval = (text: string): PgTypes.Interval | string => {
  const match = intervalPattern.exec(text)
  if (match === null) return text
  const [, years, months, days, sign, hours, minutes, seconds, fraction] = match
  const time = hours === undefined ? 0n : micros(hours, minutes!, seconds!, fraction)
  return {
    months: Number(years ?? 0) * 12 + Number(months ?? 0),
    days: Number(days ?? 0),
    microseconds: sign === "-" ? -time : time
  }
}

/** Where PGlite's text decoders differ from PgClient's; PGlite derives the array decoders from these. */
const parsers = {
  [PgTypes.OID.int8]: (text: string) => BigInt(text),
  [PgTypes.OID.date]: (text: string) => text,
  [PgTypes.OID.time]: parseTime,
  [PgTypes.OID.timetz]: parseTimetz,
  [PgTypes.OID.timestamp]: parseTimestamp,
  [PgTypes.OID.timestamptz]: parseTimestamp,
  [PgTypes.OID.interval]: parseInterval
}

const hexOctets = Array.from({ length: 256 }, (_, octet) => octet.toString(16).padStart(2, "0"))

/** `bytea` as hex; a string (a parameter of an untyped position) goes as given, as on PgClient. */
const serializers = {
  [PgTypes.OID.bytea]: (value: unknown) => {
    if (!(value instanceof Uint8Array)) return String(value)
    let hex = "\\x"
    for (const octet of value) hex += hexOctets[octet]
    return hex
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the connection

type TransformRows = (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

interface QueryResult {
  readonly rows: Array<any>
  readonly command?: string | undefined
  readonly affectedRows?: number | undefined
  readonly rowCount?: number | undefined
  readonly fields: ReadonlyArray<{ readonly name: string; readonly dataTypeID: number }>
}

/**
 * PGlite's one connection. Every call runs to its end once started (PGlite cannot cancel a query); who may call it
 * when is the business of the lock in `make`.
 */
const makeConnection = (pglite: PGlite): SqlConnection.Connection & {
  readonly query: (
    sql: string,
    params: ReadonlyArray<unknown>,
    operation: string,
    rowMode?: "array" | "object"
  ) => Effect.Effect<QueryResult, SqlError.SqlError>
} => {
  const query = (sql: string, params: ReadonlyArray<unknown>, operation: string, rowMode?: "array" | "object") =>
    Effect.suspend(() => {
      const bound = bind(params)
      if (SqlError.isSqlError(bound)) return Effect.fail(bound)
      return Effect.tryPromise({
        try: () =>
          pglite.query<any>(sql, bound.values, {
            rowMode: rowMode ?? "object",
            paramTypes: bound.types
          }) as Promise<QueryResult>,
        catch: (cause) => toSqlError(cause, operation)
      })
    }).pipe(Effect.uninterruptible)
  const rows = (sql: string, params: ReadonlyArray<unknown>, operation: string, transformRows: TransformRows) =>
    Effect.map(
      query(sql, params, operation),
      (result) => transformRows === undefined ? result.rows : transformRows(result.rows)
    )
  const values = (sql: string, params: ReadonlyArray<unknown>, operation: string) =>
    Effect.map(query(sql, params, operation, "array"), (result) => result.rows as ReadonlyArray<ReadonlyArray<unknown>>)
  return {
    query,
    execute: (sql, params, transformRows) => rows(sql, params, "execute", transformRows),
    executeRaw: (sql, params) => query(sql, params, "executeRaw"),
    // PGlite has no cursors: the stream reads all the rows, then emits them.
    executeStream: (sql, params, transformRows) =>
      Stream.fromArrayEffect(rows(sql, params, "executeStream", transformRows)),
    executeValues: (sql, params) => values(sql, params, "executeValues"),
    // PGlite prepares every statement as the unnamed statement: prepared and unprepared are the same.
    executeValuesUnprepared: (sql, params) => values(sql, params, "executeValuesUnprepared"),
    executeUnprepared: (sql, params, transformRows) => rows(sql, params, "executeUnprepared", transformRows)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the data directory's lock

/** The data directories this process has open. */
const openHere = new Set<string>()

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return Predicate.hasProperty(error, "code") && error.code === "EPERM"
  }
}

/**
 * Takes `<dataDir>/lock` for this process: fails when a running process (or this one, in another layer) holds
 * it; takes over the lock of a process that has ended (a crash).
 */
const takeLock = (dataDir: string): Effect.Effect<void, DataDirectoryInUse | SqlError.SqlError, Scope.Scope> => {
  const key = Path.resolve(dataDir)
  const file = Path.join(key, "lock")
  const take = Effect.try({
    try: (): DataDirectoryInUse | undefined => {
      if (openHere.has(key)) return new DataDirectoryInUse({ dataDir, pid: process.pid })
      Fs.mkdirSync(key, { recursive: true })
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          Fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" })
          openHere.add(key)
          return undefined
        } catch (error) {
          if (!Predicate.hasProperty(error, "code") || error.code !== "EEXIST") throw error
        }
        const pid = Number.parseInt(Fs.readFileSync(file, "utf8"), 10)
        // Our own pid in a lock we do not hold: a process before us had it (pids repeat across containers).
        if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
          return new DataDirectoryInUse({ dataDir, pid })
        }
        Fs.rmSync(file, { force: true })
      }
      throw new Error(`cannot take ${file}`)
    },
    catch: (cause) =>
      new SqlError.SqlError({
        reason: new SqlError.ConnectionError({
          cause,
          message: `EmbeddedSql: cannot lock the data directory ${dataDir}`,
          operation: "open"
        })
      })
  })
  const release = Effect.sync(() => openHere.delete(key)).pipe(
    Effect.andThen(Effect.try(() => {
      if (Fs.readFileSync(file, "utf8").trim() === String(process.pid)) Fs.rmSync(file, { force: true })
    })),
    Effect.ignore
  )
  return Effect.acquireRelease(
    Effect.flatMap(take, (inUse) => inUse === undefined ? Effect.void : Effect.fail(inUse)),
    () => release
  )
}

// ---------------------------------------------------------------------------------------------------------------
// the client

/** The `jsonb` parameter of `PgClient`'s compiler, so that it binds as on a Postgres server. */
const json = (value: unknown): Statement.Fragment =>
  Statement.fragment([Statement.custom<PgClient.PgCustom>("PgJson")(value)])

/**
 * Opens (creating it when missing) the database in `options.dataDir` and builds the client on it; closing the
 * scope closes the database and releases the directory.
 *
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<EmbeddedSqlClient, SqlError.SqlError | DataDirectoryInUse, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    yield* takeLock(options.dataDir)
    const pgdata = Path.join(Path.resolve(options.dataDir), "pgdata")
    const pglite = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await Fs.promises.mkdir(pgdata, { recursive: true })
          return await PGlite.create(pgdata, { parsers, serializers })
        },
        catch: (cause) =>
          new SqlError.SqlError({
            reason: new SqlError.ConnectionError({
              cause,
              message: `EmbeddedSql: cannot open the database in ${pgdata}`,
              operation: "open"
            })
          })
      }),
      // PGlite finishes the statement it runs, then shuts Postgres down; an open transaction is rolled back.
      (pg) => Effect.promise(() => pg.close()).pipe(Effect.ignoreCause)
    )
    const connection = makeConnection(pglite)

    // The one connection is leased to one user at a time: a transaction or a reserved connection from start to
    // end, any other statement for its own run.
    const lock = yield* Semaphore.make(1)
    const lease: Effect.Effect<SqlConnection.Connection, never, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
      Effect.as(restore(lock.takeScoped(1)), connection)
    )
    const borrower: SqlConnection.Borrower = (f) => lock.withPermit(f(connection))
    // Outside a transaction each call takes the lock for itself, so that a stream (read at once) does not hold the
    // connection while its consumer runs statements of its own.
    const shared: SqlConnection.Connection = {
      execute: (sql, params, transformRows) => lock.withPermit(connection.execute(sql, params, transformRows)),
      executeRaw: (sql, params) => lock.withPermit(connection.executeRaw(sql, params)),
      executeStream: (sql, params, transformRows) =>
        Stream.fromArrayEffect(
          lock.withPermit(Effect.map(connection.query(sql, params, "executeStream"), (result) =>
            transformRows === undefined ? result.rows : transformRows(result.rows)))
        ),
      executeValues: (sql, params) => lock.withPermit(connection.executeValues(sql, params)),
      executeValuesUnprepared: (sql, params) => lock.withPermit(connection.executeValuesUnprepared(sql, params)),
      executeUnprepared: (sql, params, transformRows) =>
        lock.withPermit(connection.executeUnprepared(sql, params, transformRows))
    }

    const compiler = PgClient.makeCompiler(options.transformQueryNames, options.transformJson)
    const transformRows = options.transformResultNames
      ? Statement.defaultTransforms(options.transformResultNames, options.transformJson).array
      : undefined

    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(shared),
      borrower,
      transactionAcquirer: lease,
      compiler,
      // effect/cluster's SqlRunnerStorage keeps its shard locks on the shared client for this driver, instead of
      // reserving the only connection.
      driver: "pglite",
      prepareTransactionControls: true,
      // Postgres answers COMMIT of a failed transaction with ROLLBACK.
      commit: (conn) =>
        Effect.flatMap(
          conn.executeRaw("COMMIT", []),
          (result) =>
            Predicate.hasProperty(result, "command") && result.command === "ROLLBACK"
              ? Effect.fail(
                new SqlError.SqlError({
                  reason: new SqlError.UnknownError({
                    cause: new Error("COMMIT rolled back an aborted transaction"),
                    message: "EmbeddedSql: COMMIT rolled back an aborted transaction",
                    operation: "commit"
                  })
                })
              )
              : Effect.void
        ),
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "postgresql"],
        ["db.namespace", "postgres"],
        ["ytempire.embedded.data_dir", options.dataDir]
      ],
      transformRows
    })

    const listen = (channel: string): Stream.Stream<string, SqlError.SqlError> =>
      Stream.callback<string, SqlError.SqlError>((queue) =>
        Effect.acquireRelease(
          lock.withPermit(
            Effect.tryPromise({
              try: () => pglite.listen(channel, (payload) => Queue.offerUnsafe(queue, payload)),
              catch: (cause) => toSqlError(cause, "listen")
            }).pipe(Effect.uninterruptible)
          ),
          (unlisten) => lock.withPermit(Effect.tryPromise(() => unlisten()).pipe(Effect.uninterruptible, Effect.ignore))
        )
      )

    const notify = (channel: string, payload: string): Effect.Effect<void, SqlError.SqlError> =>
      Effect.asVoid(client`SELECT pg_notify(${channel}, ${payload})`.withoutTransform)

    return Object.assign(client, {
      [TypeId]: TypeId as typeof TypeId,
      dataDir: options.dataDir,
      json,
      listen,
      notify
    })
  })

/**
 * The embedded client's service.
 *
 * @category services
 */
export class EmbeddedSql extends Context.Service<EmbeddedSql, EmbeddedSqlClient>()("@ytempire/runtime/EmbeddedSql") {
  /**
   * `EmbeddedSql` and `SqlClient` on the database in `options.dataDir` (see {@link layer}).
   *
   * @category layers
   */
  static readonly layer = (
    options: Options
  ): Layer.Layer<EmbeddedSql | SqlClient.SqlClient, SqlError.SqlError | DataDirectoryInUse> => layer(options)
}

/**
 * `EmbeddedSql` and `SqlClient` on the database in `options.dataDir`, created when missing and closed with the
 * layer. Fails with `DataDirectoryInUse` when another process (or layer) has the directory open, and with a
 * `SqlError` (`ConnectionError`) when the database cannot be opened.
 *
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<EmbeddedSql | SqlClient.SqlClient, SqlError.SqlError | DataDirectoryInUse> =>
  Layer.effectContext(
    Effect.map(make(options), (client) =>
      Context.make(EmbeddedSql, client).pipe(
        Context.add(SqlClient.SqlClient, client)
      ))
  ).pipe(Layer.provide(Reactivity.layer))
