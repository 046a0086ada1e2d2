import { afterAll, describe, expect, it } from "@effect/vitest"
import { EmbeddedSql, MessageRetention } from "@ytempire/runtime"
import {
  Clock,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  PrimaryKey,
  Schedule,
  Schema
} from "effect"
import {
  ClusterSchema,
  ClusterWorkflowEngine,
  DeliverAt,
  Entity,
  MachineId,
  SingleRunner,
  Snowflake
} from "effect/cluster"
import { Digest } from "effect/crypto"
import { Rpc } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { Activity, DurableClock, DurableDeferred, Workflow } from "effect/workflow"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as PgTest from "./utils/PgTest.ts"

// ---------------------------------------------------------------------------------------------------------------
// cluster traffic: two workflows and a plain entity

/** Activities that ran, as `${id}:${name}`. */
const runs: Array<string> = []
const ranFor = (id: string) => runs.filter((run) => run.startsWith(`${id}:`))

const step = (name: string, id: string) =>
  Activity.make({
    name,
    success: Schema.String,
    execute: Effect.sync(() => {
      runs.push(`${id}:${name}`)
      return `${name}(${id})`
    })
  })

/** Two activities; finishes at once. */
const Make = Workflow.make("RetentionMake", {
  payload: { id: Schema.String },
  success: Schema.String,
  idempotencyKey: ({ id }) => id
})

const MakeLive = Make.toLayer(Effect.fnUntraced(function*({ id }) {
  const script = yield* step("script", id)
  const render = yield* step("render", id)
  return `${script} ${render}`
}))

const Approval = DurableDeferred.make("approval", { success: Schema.String })
/** Completed by the `Gated` workflow when it is about to wait for its approval. */
const awaitingApproval = new Map<string, Deferred.Deferred<void>>()

/** An activity, a durable clock (a scheduled message, then a deferred), then it waits for an approval. */
const Gated = Workflow.make("RetentionGated", {
  payload: { id: Schema.String },
  success: Schema.String,
  idempotencyKey: ({ id }) => id
})

const GatedLive = Gated.toLayer(Effect.fnUntraced(function*({ id }) {
  const before = yield* step("before", id)
  yield* DurableClock.sleep({ name: "pause", duration: "100 millis", inMemoryThreshold: 0 })
  const waiting = awaitingApproval.get(id)
  if (waiting) yield* Deferred.succeed(waiting, undefined)
  const approved = yield* DurableDeferred.await(Approval)
  const after = yield* step("after", id)
  return `${before} ${approved} ${after}`
}))

/** A message delivered at `at` (deduplicated by `id`). */
class Later extends Schema.Class<Later>("RetentionProbe/Later")({ id: Schema.String, at: Schema.DateTimeUtc }) {
  [PrimaryKey.symbol](): string {
    return this.id
  }
  [DeliverAt.symbol](): DateTime.DateTime {
    return this.at
  }
}

const Probe = Entity.make("RetentionProbe", [
  Rpc.make("Add", { payload: { n: Schema.Number }, success: Schema.Number }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Later", { payload: Later }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Hold", { payload: { id: Schema.String } }).annotate(ClusterSchema.Persisted, true)
])

/** `Later` messages delivered, by id. */
const delivered: Array<string> = []
/** `Hold` requests finish when their gate opens. */
const gates = new Map<string, Deferred.Deferred<void>>()

const ProbeLive = Probe.toLayer(Effect.succeed({
  Add: (request) => Effect.succeed(request.payload.n * 2),
  Later: (request) => Effect.sync(() => void delivered.push(request.payload.id)),
  Hold: (request) => {
    const gate = gates.get(request.payload.id)
    return gate ? Deferred.await(gate) : Effect.void
  }
}))

/** The workflows, the entity, the engine and a single runner with SQL storage on `database`. */
const clusterOn = <E>(database: Layer.Layer<SqlClient.SqlClient, E>) =>
  Layer.mergeAll(MakeLive, GatedLive, ProbeLive).pipe(
    Layer.provideMerge(ClusterWorkflowEngine.layer),
    Layer.provideMerge(SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: { entityMessagePollInterval: "50 millis", entityTerminationTimeout: "200 millis" }
    })),
    Layer.provide(Digest.layerWebCrypto),
    Layer.provideMerge(database)
  )

/** On a fresh database: the layer drops and creates it. */
const cluster = clusterOn(PgTest.layer("ytempire_test_retention"))

// ---------------------------------------------------------------------------------------------------------------
// helpers

const eventually = <E, R>(check: Effect.Effect<boolean, E, R>) =>
  check.pipe(
    Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("25 millis") }),
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("timed out waiting") })
  )

/** Runs `effect` with the clock stopped at `millis` (epoch): the job takes its "now" from the clock. */
const clockAt = (millis: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Clock.clockWith((real) => {
    const nanos = BigInt(millis) * BigInt(1_000_000)
    const stopped: Clock.Clock = {
      currentTimeMillisUnsafe: () => millis,
      currentTimeMillis: Effect.succeed(millis),
      currentTimeNanosUnsafe: () => nanos,
      currentTimeNanos: Effect.succeed(nanos),
      monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe(),
      monotonicTimeNanos: real.monotonicTimeNanos,
      sleep: (duration) => real.sleep(duration)
    }
    return Effect.provideService(effect, Clock.Clock, stopped)
  })

/** Runs `effect` with the clock `ahead` of the real one, as if that much time had passed. */
const clockAhead = (ahead: Duration.Input) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => clockAt(now + Duration.toMillis(ahead))(effect))

const emptyTables = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.andThen(sql`DELETE FROM cluster_replies`, sql`DELETE FROM cluster_messages`)
)

interface MessageRow {
  readonly id: bigint
  readonly entity_type: string
  readonly tag: string | null
  readonly processed: boolean
}

const messageRows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<MessageRow>`SELECT id, entity_type, tag, processed FROM cluster_messages ORDER BY id`.withoutTransform
)

const count = (table: "cluster_messages" | "cluster_replies") =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly n: number }>`SELECT count(*)::int4 AS n FROM ${sql(table)}`,
      ([row]) => row!.n
    ))

/** The rows left, as `entity type tag (processed|pending)`, sorted. */
const summary = Effect.map(
  messageRows,
  (rows) => rows.map((row) => `${row.entity_type} ${row.tag} ${row.processed ? "processed" : "pending"}`).toSorted()
)

/** Replies whose request is gone: there must never be any left by the job. */
const orphanReplies = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ readonly n: number }>`
      SELECT count(*)::int4 AS n FROM cluster_replies r
      WHERE NOT EXISTS (SELECT 1 FROM cluster_messages m WHERE m.id = r.request_id)
    `,
    ([row]) => row!.n
  ))

// ---------------------------------------------------------------------------------------------------------------

describe("MessageRetention", () => {
  // One database and one runner for these tests (each starts with empty tables); the live clock, not TestClock.
  it.layer(cluster, { excludeTestServices: true })("on a Postgres server", (test) => {
    test.effect("with retention 0 deletes every finished message with its replies, and nothing that is not finished", () =>
      Effect.gen(function*() {
        yield* emptyTables
        // finished: three workflows (a run and two activities each) and two plain requests
        for (const id of ["a1", "a2", "a3"]) yield* Make.execute({ id })
        const probe = (yield* Probe.client)("probe")
        expect(yield* probe.Add({ n: 1 })).toBe(2)
        expect(yield* probe.Add({ n: 2 })).toBe(4)

        // not finished: a workflow suspended on an approval (after an activity and a durable clock that fired), a
        // message scheduled for later, and a request being handled whose caller waits for its reply
        const approvalAwaited = yield* Deferred.make<void>()
        awaitingApproval.set("g1", approvalAwaited)
        const gatedId = yield* Gated.execute({ id: "g1" }, { discard: true })
        yield* Deferred.await(approvalAwaited)
        yield* eventually(Effect.map(Gated.poll(gatedId), (result) => Option.isSome(result)))
        expect(Option.getOrThrow(yield* Gated.poll(gatedId))._tag).toBe("Suspended")

        const now = yield* DateTime.now
        yield* probe.Later(new Later({ id: "later", at: DateTime.addDuration(now, "1 hour") }), { discard: true })
        const gate = yield* Deferred.make<void>()
        gates.set("held", gate)
        const held = yield* Effect.forkChild(probe.Hold({ id: "held" }))
        yield* eventually(Effect.map(summary, (rows) => rows.includes("RetentionProbe Hold pending")))

        const kept = [
          "RetentionProbe Hold pending",
          "RetentionProbe Later pending",
          "Workflow/-/DurableClock run processed",
          "Workflow/RetentionGated activity processed",
          "Workflow/RetentionGated deferred processed",
          "Workflow/RetentionGated run processed"
        ]
        expect(yield* summary).toStrictEqual([
          ...kept,
          ...Array.from({ length: 2 }, () => "RetentionProbe Add processed"),
          ...Array.from({ length: 6 }, () => "Workflow/RetentionMake activity processed"),
          ...Array.from({ length: 3 }, () => "Workflow/RetentionMake run processed")
        ].toSorted())
        const repliesBefore = yield* count("cluster_replies")

        const deleted = yield* MessageRetention.run({ retention: 0 })
        // 3 × (run + 2 activities) + 2 Add, one reply each
        expect(deleted).toStrictEqual({ messagesDeleted: 11, repliesDeleted: 11, batches: 1 })
        expect(yield* summary).toStrictEqual(kept)
        // the gated workflow's replies (its suspended run, its activity, its clock, the clock's deferred) stay
        expect(yield* count("cluster_replies")).toBe(repliesBefore - 11)
        expect(yield* count("cluster_replies")).toBe(4)
        expect(yield* orphanReplies).toBe(0)

        // What was kept still works: the held caller gets its reply, the scheduled message comes at its time, and the
        // approved workflow resumes from its journal (its first activity does not run again).
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(held)
        // (the scheduled message's hour passes: its time is brought forward in the table)
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE cluster_messages SET deliver_at = ${DateTime.toEpochMillis(now)} WHERE tag = 'Later'`
        yield* eventually(Effect.sync(() => delivered.includes("later")))
        yield* DurableDeferred.succeed(Approval, {
          token: DurableDeferred.tokenFromExecutionId(Approval, { workflow: Gated, executionId: gatedId }),
          value: "approved"
        })
        yield* eventually(
          Effect.map(Gated.poll(gatedId), (result) => Option.isSome(result) && result.value._tag === "Complete")
        )
        expect(yield* Gated.execute({ id: "g1" })).toBe("before(g1) approved after(g1)")
        expect(ranFor("g1")).toStrictEqual(["g1:before", "g1:after"])

        // Now all of it is finished, and goes
        const rest = yield* MessageRetention.run({ retention: 0 })
        expect(rest.messagesDeleted).toBe(kept.length + 2) // + the approval's deferred and the second activity
        expect(yield* count("cluster_messages")).toBe(0)
        expect(yield* count("cluster_replies")).toBe(0)
      }))

    test.effect("deletes nothing younger than the retention, counting from when a message finished", () =>
      Effect.gen(function*() {
        yield* emptyTables
        for (const id of ["b1", "b2"]) yield* Make.execute({ id })
        const probe = (yield* Probe.client)("probe")
        yield* probe.Add({ n: 1 })
        // a request sent at `sent` that finishes 300 ms later
        const gate = yield* Deferred.make<void>()
        gates.set("slow", gate)
        const slow = yield* Effect.forkChild(probe.Hold({ id: "slow" }))
        yield* eventually(Effect.map(summary, (rows) => rows.includes("RetentionProbe Hold pending")))
        const sent = yield* Clock.currentTimeMillis
        yield* Effect.sleep("300 millis")
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(slow)
        const before = [yield* count("cluster_messages"), yield* count("cluster_replies")]
        expect(before).toStrictEqual([8, 8])

        const none = { messagesDeleted: 0, repliesDeleted: 0, batches: 0 }
        expect(yield* MessageRetention.run()).toStrictEqual(none)
        expect(yield* MessageRetention.run().pipe(clockAhead(Duration.subtract(Duration.days(7), Duration.hours(1)))))
          .toStrictEqual(none)
        expect(yield* MessageRetention.run({ retention: "1 hour" }).pipe(clockAhead("59 minutes"))).toStrictEqual(none)
        expect([yield* count("cluster_messages"), yield* count("cluster_replies")]).toStrictEqual(before)

        // An hour after `sent` + 150 ms, everything else is older than an hour, the slow request finished later
        const deleted = yield* MessageRetention.run({ retention: "1 hour" }).pipe(
          clockAt(sent + 150 + Duration.toMillis("1 hour"))
        )
        expect(deleted).toMatchObject({ messagesDeleted: 7, repliesDeleted: 7 })
        expect(yield* summary).toStrictEqual(["RetentionProbe Hold processed"])
        expect(yield* MessageRetention.run().pipe(clockAhead(Duration.sum(Duration.days(7), Duration.minutes(1)))))
          .toMatchObject({ messagesDeleted: 1 })
        expect([yield* count("cluster_messages"), yield* count("cluster_replies")]).toStrictEqual([0, 0])
      }))

    test.effect("deletes orphan replies once they are older than the retention", () =>
      Effect.gen(function*() {
        yield* emptyTables
        const sql = yield* SqlClient.SqlClient
        yield* Make.execute({ id: "o1" })
        const now = yield* DateTime.now
        const idAt = (ago: Duration.Input, sequence: number) =>
          Snowflake.make({
            machineId: MachineId.make(1),
            sequence,
            timestamp: DateTime.toEpochMillis(now) - Duration.toMillis(ago)
          })
        const orphan = (id: Snowflake.Snowflake, requestId: number) =>
          sql`INSERT INTO cluster_replies ${
            sql.insert({ id: String(id), kind: 0, request_id: String(requestId), payload: "{}", sequence: null })
          }`.withoutTransform
        yield* orphan(idAt("2 hours", 0), 42)
        yield* orphan(idAt("10 minutes", 1), 43)
        expect(yield* MessageRetention.run({ retention: "1 hour" })).toStrictEqual({
          messagesDeleted: 0,
          repliesDeleted: 1,
          batches: 0
        })
        expect(yield* orphanReplies).toBe(1)
        expect(yield* count("cluster_messages")).toBe(3)
      }))

    test.effect("pins it: a completed workflow executed again after its rows were deleted runs again", () =>
      Effect.gen(function*() {
        yield* emptyTables
        expect(yield* Make.execute({ id: "r1" })).toBe("script(r1) render(r1)")
        expect(ranFor("r1")).toHaveLength(2)
        // while its rows exist, executing it again returns the stored result
        expect(yield* Make.execute({ id: "r1" })).toBe("script(r1) render(r1)")
        expect(ranFor("r1")).toHaveLength(2)
        const executionId = yield* Make.executionId({ id: "r1" })
        expect(Option.isSome(yield* Make.poll(executionId))).toBe(true)

        expect(yield* MessageRetention.run({ retention: 0 })).toMatchObject({ messagesDeleted: 3 })

        // Its deduplication went with its rows: it is unknown, and the same idempotency key runs it again, from the
        // start. ytempire's activities are idempotent by their own keys (video id, reservation id, content hash),
        // which is what makes this safe; the retention (7 days) keeps it from happening in the retry window.
        expect(yield* Make.poll(executionId)).toStrictEqual(Option.none())
        expect(yield* Make.execute({ id: "r1" })).toBe("script(r1) render(r1)")
        expect(ranFor("r1")).toStrictEqual(["r1:script", "r1:render", "r1:script", "r1:render"])
      }))

    test.effect("deletes in batches: 55 finished messages with batchSize 10 go in 6 statements", () =>
      Effect.gen(function*() {
        yield* emptyTables
        const probe = (yield* Probe.client)("batched")
        yield* Effect.forEach(Array.from({ length: 55 }, (_, n) => n), (n) => probe.Add({ n }), { concurrency: 8 })
        expect(yield* count("cluster_messages")).toBe(55)
        expect(yield* MessageRetention.run({ retention: 0, batchSize: 10 })).toStrictEqual({
          messagesDeleted: 55,
          repliesDeleted: 55,
          batches: 6
        })
        expect([yield* count("cluster_messages"), yield* count("cluster_replies")]).toStrictEqual([0, 0])

        // options that make no sense are defects
        expect(Exit.hasDies(yield* Effect.exit(MessageRetention.run({ batchSize: 0 })))).toBe(true)
        expect(Exit.hasDies(yield* Effect.exit(MessageRetention.run({ retention: Duration.infinity })))).toBe(true)
      }))

    test.effect("the layer deletes by itself every interval, and logs what it deleted", () =>
      Effect.gen(function*() {
        yield* emptyTables
        const lines: Array<string> = []
        const capture = Logger.make((options) => {
          const text = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
          if (text.startsWith("MessageRetention")) lines.push(text)
        })
        const deletedSoFar = () =>
          lines.reduce(
            (sum, line) => {
              const match = /deleted (\d+) messages and (\d+) replies/.exec(line)
              return match
                ? { messages: sum.messages + Number(match[1]), replies: sum.replies + Number(match[2]) }
                : sum
            },
            { messages: 0, replies: 0 }
          )
        // A retention above the time a caller takes to read its reply (a caller whose run was suspended re-reads it on
        // a schedule; with a retention of 0 its result could be gone by then, and it would run the workflow again).
        const retention = MessageRetention.layer({ retention: "300 millis", every: "100 millis" }).pipe(
          Layer.provide(Logger.layer([capture], { mergeWithExisting: false }))
        )
        yield* Effect.gen(function*() {
          for (const id of ["l1", "l2"]) yield* Make.execute({ id })
          expect(yield* count("cluster_messages")).toBe(6)
          yield* eventually(Effect.sync(() => deletedSoFar().messages === 6))
          expect([yield* count("cluster_messages"), yield* count("cluster_replies")]).toStrictEqual([0, 0])
        }).pipe(Effect.provide(retention))

        expect(deletedSoFar()).toStrictEqual({ messages: 6, replies: 6 })
        expect(lines.length).toBeGreaterThan(0)
        for (const line of lines) expect(line).toMatch(/^MessageRetention: deleted \d+ messages and \d+ replies/)
      }))
  })

  describe("on the embedded database", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ytempire-retention-"))
    afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

    it.live("deletes the same rows as on a Postgres server", () =>
      Effect.gen(function*() {
        for (const id of ["e1", "e2"]) yield* Make.execute({ id })
        const probe = (yield* Probe.client)("embedded")
        yield* probe.Add({ n: 1 })
        const now = yield* DateTime.now
        yield* probe.Later(new Later({ id: "embedded-later", at: DateTime.addDuration(now, "1 hour") }), {
          discard: true
        })
        expect(yield* MessageRetention.run({ retention: 0, batchSize: 2 })).toStrictEqual({
          messagesDeleted: 7,
          repliesDeleted: 7,
          batches: 4
        })
        expect(yield* summary).toStrictEqual(["RetentionProbe Later pending"])
        expect(yield* count("cluster_replies")).toBe(0)
      }).pipe(Effect.provide(clusterOn(EmbeddedSql.layer({ dataDir })))))
  })
})
