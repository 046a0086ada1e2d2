import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Budget, Ids, Money } from "@ytempire/domain"
import { BudgetLedger, EmbeddedSql } from "@ytempire/runtime"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Schema, Scope, Stream } from "effect"
import { ClusterWorkflowEngine, SingleRunner } from "effect/cluster"
import { Digest } from "effect/crypto"
import { Migrator, SqlClient, SqlError } from "effect/sql"
import { Activity, Workflow } from "effect/workflow"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

// ---------------------------------------------------------------------------------------------------------------
// data directories: one initdb for the file (seconds), then a copy of it per test (milliseconds)

const root = mkdtempSync(join(tmpdir(), "ytempire-embedded-sql-"))
const template = join(root, "template")
let dirs = 0

/** A data directory of its own for a test, holding an empty database. */
const freshDir = (): string => {
  const dir = join(root, `db-${++dirs}`)
  cpSync(join(template, "pgdata"), join(dir, "pgdata"), { recursive: true })
  return dir
}

const timed = async <A>(label: string, run: () => Promise<A>): Promise<A> => {
  const start = performance.now()
  const result = await run()
  console.log(`EmbeddedSql: ${label} in ${Math.round(performance.now() - start)} ms`)
  return result
}

beforeAll(async () => {
  // The layer on a directory that does not exist yet: it creates it and runs initdb.
  await timed(
    "new data directory (initdb)",
    () => Effect.runPromise(Effect.scoped(Layer.build(EmbeddedSql.layer({ dataDir: template }))))
  )
  await timed(
    "open an existing data directory",
    () => Effect.runPromise(Effect.scoped(Layer.build(EmbeddedSql.layer({ dataDir: freshDir() }))))
  )
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

const embedded = (dataDir: string = freshDir()) => EmbeddedSql.layer({ dataDir })

const numbers = (rows: ReadonlyArray<{ readonly n: number }>) => rows.map((row) => row.n)

// ---------------------------------------------------------------------------------------------------------------

describe("EmbeddedSql", () => {
  it.live("runs statements with parameters, sql.in, inserts and json, and returns what PgClient returns", () =>
    Effect.gen(function*() {
      const sql = yield* EmbeddedSql.EmbeddedSql
      expect(sql.onDialectOrElse({ pg: () => "pg", orElse: () => "other" })).toBe("pg")
      expect(sql.driver).toBe("pglite")
      yield* sql`
        CREATE TABLE items (
          id int8 PRIMARY KEY, name text NOT NULL, doc jsonb, made timestamptz NOT NULL, day date, price numeric
        )
      `
      const made = new Date("2026-11-22T10:11:12.345Z")
      yield* sql`INSERT INTO items ${
        sql.insert([
          { id: 1n, name: "one", doc: sql.json({ tags: ["a", "b"], n: 1 }), made, day: "2026-11-22", price: "1.50" },
          { id: 2n ** 60n, name: "big", doc: sql.json("just a string"), made, day: null, price: null },
          { id: 3, name: "three", doc: null, made, day: null, price: null }
        ])
      }`
      const rows = yield* sql`SELECT * FROM items ORDER BY id`
      expect(rows).toStrictEqual([
        { id: 1n, name: "one", doc: { tags: ["a", "b"], n: 1 }, made, day: "2026-11-22", price: "1.50" },
        { id: 3n, name: "three", doc: null, made, day: null, price: null },
        { id: 2n ** 60n, name: "big", doc: "just a string", made, day: null, price: null }
      ])
      expect(numbers(yield* sql<{ n: number }>`SELECT id::int4 AS n FROM items WHERE id IN ${sql.in([1, 3])}`))
        .toStrictEqual([1, 3])
      expect(yield* sql`SELECT id FROM items WHERE id IN ${sql.in([])}`).toStrictEqual([])
      expect(yield* sql`SELECT name FROM items WHERE doc->>'n' = ${"1"} AND made = ${made}`).toStrictEqual([
        { name: "one" }
      ])
      expect(yield* sql`SELECT ${1} + ${2} AS sum, ${[1n, 2n]}::int8[] AS ids, ${true} AS yes`.values)
        .toStrictEqual([[3, [1n, 2n], true]])
      yield* sql`UPDATE items SET ${sql.update({ name: "uno" })} WHERE id = ${1n}`
      expect(yield* sql`SELECT name FROM items WHERE id = 1`.unprepared).toStrictEqual([{ name: "uno" }])

      // A plain object is no parameter (on PgClient neither): JSON goes through sql.json.
      const notJson = yield* Effect.flip(sql`SELECT ${{ a: 1 } as unknown as string} AS o`)
      expect(notJson.reason._tag).toBe("UnknownError")
      // Errors are classified by their SQLSTATE.
      const duplicate = yield* Effect.flip(sql`INSERT INTO items (id, name, made) VALUES (1, 'again', now())`)
      expect(duplicate.reason).toMatchObject({ _tag: "UniqueViolation", constraint: "items_pkey" })
      expect((yield* Effect.flip(sql`SELEC 1`)).reason._tag).toBe("SqlSyntaxError")
    }).pipe(Effect.provide(embedded())))

  it.live("applies PgClient's name transforms", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE ${sql("videoStages")} (${sql("videoId")} text, ${sql("stageName")} text, meta jsonb)`
      yield* sql`INSERT INTO ${sql("videoStages")} ${sql.insert({ videoId: "v1", stageName: "script" })}`
      expect(yield* sql`SELECT * FROM video_stages`).toStrictEqual([{ videoId: "v1", stageName: "script", meta: null }])
      expect(yield* sql`SELECT * FROM video_stages`.withoutTransform).toStrictEqual([
        { video_id: "v1", stage_name: "script", meta: null }
      ])
    }).pipe(Effect.provide(EmbeddedSql.layer({
      dataDir: freshDir(),
      transformQueryNames: (name) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`),
      transformResultNames: (name) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase())
    }))))

  it.live("streams rows whose consumer runs statements of its own, and reserves the connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE seen (n int NOT NULL)`
      const streamed = yield* sql<{ n: number }>`SELECT generate_series(1, 5) AS n`.stream.pipe(
        Stream.mapEffect((row) => Effect.as(sql`INSERT INTO seen VALUES (${row.n * 10})`, row.n)),
        Stream.runCollect
      )
      expect(streamed).toStrictEqual([1, 2, 3, 4, 5])
      expect(numbers(yield* sql<{ n: number }>`SELECT n FROM seen ORDER BY n`)).toStrictEqual([10, 20, 30, 40, 50])

      const reserved = yield* Effect.scoped(Effect.gen(function*() {
        const connection = yield* sql.reserve
        // Session state stays with the reserved connection: nobody else runs in between.
        yield* connection.executeRaw("SET search_path TO pg_catalog", [])
        const path = yield* connection.executeValues("SHOW search_path", [])
        yield* connection.executeRaw("RESET search_path", [])
        return path
      }))
      expect(reserved).toStrictEqual([["pg_catalog"]])
    }).pipe(Effect.provide(embedded())))

  it.live("rolls back failed transactions and nested savepoints, and refuses to commit an aborted one", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (n int NOT NULL)`
      const ns = Effect.map(sql<{ n: number }>`SELECT n FROM t ORDER BY n`, numbers)

      expect(
        yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (1)`, Effect.fail("boom"))))
      )
        .toBe("boom")
      expect(yield* ns).toStrictEqual([])

      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (2)`
        const inner = sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (3)`, Effect.fail("inner")))
        expect(yield* Effect.flip(inner)).toBe("inner")
        yield* sql.withTransaction(sql.withTransaction(sql`INSERT INTO t VALUES (4)`))
        expect(yield* ns).toStrictEqual([2, 4])
      }))
      expect(yield* ns).toStrictEqual([2, 4])

      // A statement failed and its error was swallowed: Postgres aborted the transaction, and COMMIT says so.
      const aborted = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (5)`
        yield* Effect.ignore(sql`SELECT 1/0`)
      })))
      expect(SqlError.isSqlError(aborted) && aborted.reason.message).toContain("COMMIT rolled back")
      expect(yield* ns).toStrictEqual([2, 4])
    }).pipe(Effect.provide(embedded())))

  it.live("queues transactions from many fibers on the one connection, never interleaving them", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE counter (n int NOT NULL)`
      yield* sql`INSERT INTO counter VALUES (0)`
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        () =>
          sql.withTransaction(Effect.gen(function*() {
            const [row] = yield* sql<{ n: number }>`SELECT n FROM counter`
            yield* Effect.yieldNow
            yield* sql`UPDATE counter SET n = ${row!.n + 1}`
          })),
        { concurrency: "unbounded", discard: true }
      )
      expect(numbers(yield* sql<{ n: number }>`SELECT n FROM counter`)).toStrictEqual([50])

      // A statement of another fiber waits for the open transaction instead of joining it (and being rolled back
      // with it).
      yield* sql`CREATE TABLE log (note text NOT NULL)`
      const open = yield* Deferred.make<void>()
      const transaction = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO log VALUES ('in the transaction')`
        yield* Deferred.succeed(open, undefined)
        yield* Effect.sleep("100 millis")
        return yield* Effect.fail("roll back")
      })).pipe(Effect.flip, Effect.forkChild)
      yield* Deferred.await(open)
      const outside = yield* Effect.forkChild(sql`INSERT INTO log VALUES ('outside')`)
      expect(yield* Fiber.join(transaction)).toBe("roll back")
      yield* Fiber.join(outside)
      expect(yield* sql`SELECT note FROM log`).toStrictEqual([{ note: "outside" }])
    }).pipe(Effect.provide(embedded())))

  it.live("delivers notifications to listeners", () =>
    Effect.gen(function*() {
      const sql = yield* EmbeddedSql.EmbeddedSql
      const received = yield* sql.listen("events").pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      // LISTEN has run once the listener's first pull took the connection.
      yield* Effect.sleep("50 millis")
      yield* sql.notify("events", "one")
      yield* sql.withTransaction(sql.notify("events", "two"))
      expect(yield* Fiber.join(received)).toStrictEqual(["one", "two"])
    }).pipe(Effect.provide(embedded())))

  it.live("keeps its data across a restart, and locks the directory to one user at a time", () =>
    Effect.gen(function*() {
      const dataDir = freshDir()
      yield* Effect.gen(function*() {
        const sql = yield* EmbeddedSql.EmbeddedSql
        yield* sql`CREATE TABLE notes (id int8 PRIMARY KEY, body jsonb NOT NULL)`
        yield* sql.withTransaction(sql`INSERT INTO notes VALUES (1, ${sql.json({ kept: true })})`)
        expect(existsSync(join(dataDir, "lock"))).toBe(true)
        // A second layer on the same directory, while this one has it open.
        const second = yield* Effect.flip(Effect.scoped(Layer.build(embedded(dataDir))))
        expect(second).toBeInstanceOf(EmbeddedSql.DataDirectoryInUse)
      }).pipe(Effect.provide(embedded(dataDir)))
      expect(existsSync(join(dataDir, "lock"))).toBe(false)

      const rows = yield* SqlClient.SqlClient.pipe(
        Effect.flatMap((sql) => sql`SELECT id, body FROM notes`),
        Effect.provide(embedded(dataDir))
      )
      expect(rows).toStrictEqual([{ id: 1n, body: { kept: true } }])

      // A lock of a running process (our parent stands in for another ytempire) keeps us out.
      writeFileSync(join(dataDir, "lock"), `${process.ppid}\n`)
      const locked = yield* Effect.flip(Effect.scoped(Layer.build(embedded(dataDir))))
      expect(locked).toStrictEqual(new EmbeddedSql.DataDirectoryInUse({ dataDir, pid: process.ppid }))
      expect(existsSync(join(dataDir, "lock"))).toBe(true)
    }))

  it.live("keeps committed data through a crash of its process, and takes over the dead process's lock", () =>
    Effect.gen(function*() {
      const dataDir = freshDir()
      const module = fileURLToPath(new URL("../src/EmbeddedSql.ts", import.meta.url))
      // The child commits one row, then is killed (SIGKILL) in the middle of a second transaction.
      const script = `
        import { Effect } from "effect"
        import { SqlClient } from "effect/sql"
        import * as EmbeddedSql from ${JSON.stringify(module)}
        const program = Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql\`CREATE TABLE crash (note text NOT NULL)\`
          yield* sql.withTransaction(sql\`INSERT INTO crash VALUES ('committed')\`)
          yield* sql.withTransaction(Effect.andThen(
            sql\`INSERT INTO crash VALUES ('in flight')\`,
            Effect.sync(() => process.kill(process.pid, "SIGKILL"))
          ))
        })
        Effect.runPromise(Effect.provide(program, EmbeddedSql.layer({ dataDir: process.argv[1] })))
      `
      const exitSignal = yield* Effect.promise(async () => {
        const child = spawn(process.execPath, ["--input-type=module", "--no-warnings", "-e", script, dataDir], {
          cwd: fileURLToPath(new URL("..", import.meta.url)),
          stdio: ["ignore", "inherit", "inherit"]
        })
        const [, signal] = await once(child, "exit")
        return signal as string | null
      })
      expect(exitSignal).toBe("SIGKILL")
      expect(existsSync(join(dataDir, "lock"))).toBe(true)

      const rows = yield* SqlClient.SqlClient.pipe(
        Effect.flatMap((sql) => sql`SELECT note FROM crash`),
        Effect.provide(embedded(dataDir))
      )
      expect(rows).toStrictEqual([{ note: "committed" }])
    }))

  it.live("runs effect's Migrator", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const migrate = Migrator.make({})({
        loader: Migrator.fromRecord({
          "1_create_channels": Effect.flatMap(
            SqlClient.SqlClient,
            (migration) => migration`CREATE TABLE channels (id text PRIMARY KEY, name text NOT NULL)`
          ),
          "2_add_handle": Effect.flatMap(SqlClient.SqlClient, (migration) =>
            migration`ALTER TABLE channels ADD COLUMN handle text`)
        })
      })
      expect(yield* migrate).toStrictEqual([[1, "create_channels"], [2, "add_handle"]])
      expect(yield* migrate).toStrictEqual([])
      yield* sql`INSERT INTO channels ${sql.insert({ id: "c1", name: "One", handle: "@one" })}`
      expect(yield* sql`SELECT migration_id, name FROM effect_sql_migrations ORDER BY migration_id`).toStrictEqual([
        { migration_id: 1, name: "create_channels" },
        { migration_id: 2, name: "add_handle" }
      ])
    }).pipe(Effect.provide(embedded())))

  it.live("runs the budget ledger's reserve and commit, and keeps them across a restart", () =>
    Effect.gen(function*() {
      const dataDir = freshDir()
      const scope = Budget.ChannelDayScope.make({ channelId: Ids.ChannelId.make("embedded"), day: "2026-11-22" })
      const limit = { scope, limit: Option.some(Money.fromCents(100)) }
      const ledgerOn = BudgetLedger.BudgetLedger.layerSql.pipe(Layer.provide(embedded(dataDir)))
      yield* Effect.gen(function*() {
        const ledger = yield* BudgetLedger.BudgetLedger
        const reserved = yield* ledger.reserve({
          reservationId: "v1/script",
          scopes: [limit],
          amount: Money.fromCents(60)
        })
        expect(reserved.replayed).toBe(false)
        yield* ledger.commit("v1/script", Money.fromCents(25))
        const refused = yield* Effect.flip(
          ledger.reserve({ reservationId: "v1/voice", scopes: [limit], amount: Money.fromCents(80) })
        )
        expect(refused).toBeInstanceOf(Budget.BudgetExceeded)
      }).pipe(Effect.provide(ledgerOn))
      const [status] = yield* Effect.flatMap(BudgetLedger.BudgetLedger, (ledger) => ledger.status([scope])).pipe(
        Effect.provide(ledgerOn)
      )
      expect(status).toMatchObject({ committed: Money.fromCents(25), reserved: Money.zero })
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// a durable workflow on effect/cluster over the embedded database

const runs: Array<string> = []
const thirdStarted = { deferred: undefined as Deferred.Deferred<void> | undefined, block: false }

const ThreeSteps = Workflow.make("EmbeddedSqlThreeSteps", {
  payload: { id: Schema.String },
  success: Schema.String,
  idempotencyKey: ({ id }) => id
})

const step = (name: string, id: string, before: Effect.Effect<void> = Effect.void) =>
  Activity.make({
    name,
    success: Schema.String,
    execute: Effect.andThen(
      before,
      Effect.sync(() => {
        runs.push(`${id}:${name}`)
        return `${name}(${id})`
      })
    )
  })

const ThreeStepsLive = ThreeSteps.toLayer(Effect.fnUntraced(function*({ id }) {
  const script = yield* step("script", id)
  const voice = yield* step("voice", id)
  const render = yield* step(
    "render",
    id,
    Effect.suspend(() => {
      if (!thirdStarted.block) return Effect.void
      return Effect.andThen(Deferred.succeed(thirdStarted.deferred!, undefined), Effect.never)
    })
  )
  return [script, voice, render].join(" → ")
}))

/**
 * The workflow, its engine and a single runner with SQL runner storage, all on the database in `dataDir`. A
 * shutdown gives a running workflow 200 ms (instead of 15 s) to finish before it stops it.
 */
const clusterOn = (dataDir: string) =>
  ThreeStepsLive.pipe(
    Layer.provideMerge(ClusterWorkflowEngine.layer),
    Layer.provideMerge(
      SingleRunner.layer({ runnerStorage: "sql", shardingConfig: { entityTerminationTimeout: "200 millis" } })
    ),
    Layer.provide(Digest.layerWebCrypto),
    Layer.provide(embedded(dataDir))
  )

describe("EmbeddedSql with effect/cluster", () => {
  it.live("a durable workflow returns its stored result after a restart without running its activities again", () =>
    Effect.gen(function*() {
      const dataDir = freshDir()
      const first = yield* ThreeSteps.execute({ id: "done" }).pipe(Effect.provide(clusterOn(dataDir)))
      expect(first).toBe("script(done) → voice(done) → render(done)")
      expect(runs.filter((run) => run.startsWith("done:"))).toStrictEqual(["done:script", "done:voice", "done:render"])

      const again = yield* ThreeSteps.execute({ id: "done" }).pipe(Effect.provide(clusterOn(dataDir)))
      expect(again).toBe(first)
      expect(runs.filter((run) => run.startsWith("done:"))).toHaveLength(3)
    }))

  it.live("a workflow stopped by a shutdown in its third activity resumes there after the restart", () =>
    Effect.gen(function*() {
      const dataDir = freshDir()
      thirdStarted.deferred = yield* Deferred.make<void>()
      thirdStarted.block = true
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(clusterOn(dataDir), scope)
      yield* Effect.forkDetach(Effect.provideContext(ThreeSteps.execute({ id: "stopped" }), context))
      yield* Deferred.await(thirdStarted.deferred)
      expect(runs.filter((run) => run.startsWith("stopped:"))).toStrictEqual(["stopped:script", "stopped:voice"])
      yield* Scope.close(scope, Exit.void)

      thirdStarted.block = false
      const result = yield* ThreeSteps.execute({ id: "stopped" }).pipe(Effect.provide(clusterOn(dataDir)))
      expect(result).toBe("script(stopped) → voice(stopped) → render(stopped)")
      expect(runs.filter((run) => run.startsWith("stopped:"))).toStrictEqual([
        "stopped:script",
        "stopped:voice",
        "stopped:render"
      ])
    }))
})
