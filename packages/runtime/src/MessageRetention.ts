/**
 * Retention for effect/cluster's SQL message storage. `SqlMessageStorage` keeps every persisted message
 * (`<prefix>_messages`) and every reply (`<prefix>_replies`) forever; this job deletes the ones that are finished
 * and older than a retention period (default 7 days), in bounded batches, on PostgreSQL (and on
 * {@link EmbeddedSql}, which is PostgreSQL too).
 *
 * **What the tables hold.** A persisted request is a row of kind 0 whose `id` is its request id (a Snowflake) and
 * whose `request_id` is the same id; `AckChunk` (kind 1) and `Interrupt` (kind 2) rows point at their request
 * through `request_id`. `message_id` is the request's deduplication key (`<entity type>/<entity id>/<tag>/<primary
 * key>`, or its SHA-256 when longer than 255 characters) under a unique index: a second message with the same key
 * is not stored, its sender gets the first one's reply. A reply row points at its request through `request_id`;
 * the request's final reply is the one of kind 0 (`WithExit`, one per request), and saving it sets `processed` on
 * every row of the request in the same transaction. There is no column that records when a row was written or
 * finished (`last_read` is when a runner last claimed an unprocessed row, `deliver_at` when a scheduled one is
 * due), so ages come from the ids: every message and reply id is a Snowflake, whose top bits are the milliseconds
 * at which its runner made it. A request's id is when it was sent, its `WithExit` reply's id is when it finished.
 *
 * **The rule.** With `cutoff` the smallest Snowflake of `now - retention`, a request is deleted, together with
 * every row whose `request_id` is its id (its acks and interrupts) and all its replies, when
 *
 * 1. it is processed, its id is below `cutoff` (sent before it), and it has a `WithExit` reply whose id is below
 *    `cutoff` (it finished before it): a caller waiting for its reply, or a caller polling for it, has had the
 *    whole retention period to read it;
 * 2. no row of the request is unprocessed (an interrupt or ack not handled yet);
 * 3. for a message of a workflow execution (entity type `Workflow/<name>`, the entity id is the execution id: its
 *    `run` request, its activities, deferreds and resumes) or of its durable clocks (`Workflow/-/DurableClock`,
 *    same entity id): the execution is not live, i.e. its `run` request holds a final result (`Complete`, or a
 *    failed exit; not `Suspended`) that it got before `cutoff`, or it has no `run` request (found by its
 *    `message_id`). A finished execution's journal is of no more use: executing it again returns the stored result
 *    while the `run` row exists. Batches take the newest requests first, so the `run` request, sent before the rest
 *    of its execution, goes with or after its journal.
 *
 * Replies whose request no longer exists (orphans) are deleted once their own id is below `cutoff`.
 *
 * **Never deleted.** An unprocessed message (including a scheduled one, due later); a request without a final
 * reply (a caller may be waiting for it); any row of a workflow execution that is running or suspended (waiting
 * for a durable clock, a deferred or a child): its activities' and deferreds' replies are its journal, replayed
 * when it resumes, and their rows deduplicate the activities, deferreds and clocks it sends again while
 * replaying. Deleting them would run its activities again, or lose the execution (its wake-up would find nothing to
 * resume).
 *
 * **The trade-off: deduplication lasts as long as the retention.** Deleting a request deletes its `message_id`,
 * so the same message sent again after that is a new message and runs again: a workflow executed again with an
 * idempotency key whose execution was deleted runs again from the start, `RequestVideo` for a video id is
 * handled again. That is why the retention is days, far longer than any retry, redelivery or caller wait, and
 * why ytempire's own idempotency must hold beyond it: videos are keyed by video id in the video repository, budget
 * reservations by reservation id in the ledger, artifacts are content-addressed. Rows needed for deduplication
 * *inside* a live execution (rule 3) are kept however old they are.
 *
 * **Cost.** Each candidate is checked with index lookups only (primary keys, `request_id`, the unique `message_id`),
 * and candidates come in primary-key order (newest below the cutoff first), each batch starting below the last
 * one, so a run reads each row once and a batch costs about `batchSize` lookups whatever the size of the tables
 * (about 20 ms per 1,000 requests on a table of 280,000 rows). The plan's estimated cost is far above
 * `jit_above_cost`, and JIT-compiling it takes seconds where running it takes milliseconds, so each batch runs in
 * a short transaction with `SET LOCAL jit = off`.
 *
 * **Locks.** Each batch is one statement (delete up to `batchSize` requests with their rows and replies, atomically)
 * that locks the requests it deletes with `FOR UPDATE SKIP LOCKED`: it never waits for a row a runner holds, and
 * two runners running the job at the same time do not block each other. The job yields between batches.
 *
 * **Gotchas**
 * - The retention must be far longer than any caller takes to read a result. A caller on another runner reads its
 *   reply by polling storage; the caller of a workflow that suspended re-reads its result on the workflow's
 *   `suspendedRetrySchedule` (up to a minute apart by default), and `Workflow.poll` reads it from these tables. Once
 *   deleted, `poll` answers `None` (as for an execution that never ran) and a caller still waiting executes the
 *   workflow again. A retention of 0 deletes results as soon as they are written: it is for tests.
 * - Messages of a workflow execution that has no `run` request (a deferred completed for an execution that has not
 *   started yet, a wake-up that came after its execution was deleted) count as finished: an execution started more
 *   than the retention period after such a deferred was completed would not find its result.
 * - A request with an ack or interrupt that stays unprocessed after its final reply is kept with it.
 * - `tablePrefix` must be the prefix given to `SqlMessageStorage` (default `cluster`, the one `SingleRunner` and
 *   `SqlMessageStorage.layer` use).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { MachineId, Snowflake } from "effect/cluster"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * What to delete, and how.
 *
 * @category models
 */
export interface Options {
  /** How long a finished message and its replies are kept after it finished (default 7 days). */
  readonly retention?: Duration.Input | undefined
  /** Requests deleted per statement, with their rows and replies (default 1,000). */
  readonly batchSize?: number | undefined
  /** The table prefix given to `SqlMessageStorage` (default `cluster`: `cluster_messages`, `cluster_replies`). */
  readonly tablePrefix?: string | undefined
}

/**
 * The periodic job's options: those of {@link run}, and how often it runs.
 *
 * @category models
 */
export interface LayerOptions extends Options {
  /** The pause between the end of a run and the start of the next (default 1 hour). */
  readonly every?: Duration.Input | undefined
}

/**
 * What a run deleted.
 *
 * @category models
 */
export interface Deleted {
  /** Message rows deleted: requests with their acks and interrupts. */
  readonly messagesDeleted: number
  /** Reply rows deleted: those of the deleted requests, and orphans. */
  readonly repliesDeleted: number
  /** Statements that deleted messages (each at most `batchSize` requests). */
  readonly batches: number
}

/**
 * The defaults of {@link Options} and {@link LayerOptions}.
 *
 * @category constants
 */
export const defaults = {
  retention: Duration.days(7),
  every: Duration.hours(1),
  batchSize: 1_000,
  tablePrefix: "cluster"
} as const

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * A statement of the retention job failed (the database is unreachable, the tables do not exist yet, or the
 * client is not PostgreSQL). Each batch is atomic, so a failed run deleted whole batches or nothing; running it
 * again continues where it stopped.
 *
 * @category errors
 */
export class MessageRetentionError extends Schema.TaggedError<MessageRetentionError>()("MessageRetentionError", {
  tablePrefix: Schema.String,
  cause: Schema.Defect()
}) {
  /** Storage failures are transient, and a run is idempotent. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `message retention failed on ${this.tablePrefix}_messages / ${this.tablePrefix}_replies`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the job

interface Resolved {
  readonly retention: Duration.Duration
  readonly batchSize: number
  readonly tablePrefix: string
}

const resolve = (options: Options | undefined): Effect.Effect<Resolved> =>
  Effect.suspend(() => {
    const retention = Duration.fromInputUnsafe(options?.retention ?? defaults.retention)
    const batchSize = options?.batchSize ?? defaults.batchSize
    const tablePrefix = options?.tablePrefix ?? defaults.tablePrefix
    if (!Duration.isFinite(retention) || Duration.isNegative(retention)) {
      return Effect.die(new RangeError(`MessageRetention: retention must be finite and not negative`))
    }
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      return Effect.die(new RangeError(`MessageRetention: batchSize must be a positive integer, got ${batchSize}`))
    }
    return Effect.succeed({ retention, batchSize, tablePrefix })
  })

/** The smallest Snowflake made at `millis`: every id below it was made earlier. */
const snowflakeAt = (millis: number): Snowflake.Snowflake =>
  Snowflake.make({ machineId: MachineId.make(0), sequence: 0, timestamp: Math.floor(millis) })

const clockEntityType = "Workflow/-/DurableClock"

/**
 * Deletes the finished messages older than the retention and their replies, then orphan replies, in batches of
 * `batchSize` requests, until none is left. See the module's documentation for the rule.
 *
 * **When to use**: from an operator command or a test; in a server, use {@link layer}.
 *
 * @category jobs
 */
export const run = Effect.fn("MessageRetention.run")(
  function*(options?: Options): Effect.fn.Return<Deleted, MessageRetentionError, SqlClient.SqlClient> {
    const { batchSize, retention, tablePrefix } = yield* resolve(options)
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    if (sql.onDialectOrElse({ pg: () => false, orElse: () => true })) {
      return yield* new MessageRetentionError({
        tablePrefix,
        cause: new Error("MessageRetention runs on PostgreSQL only")
      })
    }
    const now = yield* Clock.currentTimeMillis
    const cutoff = String(snowflakeAt(now - Duration.toMillis(retention)))
    yield* Effect.annotateCurrentSpan({ tablePrefix, cutoff })

    const messages = sql(`${tablePrefix}_messages`)
    const replies = sql(`${tablePrefix}_replies`)
    const limit = sql.literal(String(batchSize))
    const below = (column: string) => sql`${sql.literal(column)} < ${cutoff}::int8`

    // The execution a workflow's message belongs to: its entity type is `Workflow/<name>` and its entity id the
    // execution id; a durable clock's entity id is the execution id too, and its payload names the workflow.
    const executionType = sql`CASE WHEN m.entity_type = ${clockEntityType}
      THEN 'Workflow/' || (m.payload::json ->> 'workflowName') ELSE m.entity_type END`
    // The message_id of the execution's run request, as SqlMessageStorage writes it: the composed key, or its SHA-256
    // (hex) when it is longer than 255 characters. Both forms are looked up, so that a difference in how the length
    // is counted can never make a live execution look absent (digests have no "/", composed keys always do).
    const runKey = sql`(${executionType} || '/' || m.entity_id || '/run/')`
    const runMessageIds = sql`(${runKey}, encode(sha256(convert_to(${runKey}, 'UTF8')), 'hex'))`
    // Whether the run request `w` is not finished before the cutoff with a final result (`Complete`, or a failed
    // exit), i.e. it is running, suspended, or finished too recently. Scalar subqueries on unique keys, so that
    // Postgres looks each one up by index instead of hashing every run and reply (and parsing their JSON) per batch.
    const liveRun = sql`NOT (
      w.kind = 0 AND w.tag = 'run' AND w.processed AND COALESCE((
        SELECT (we.payload::json ->> '_tag') = 'Failure' OR (we.payload::json -> 'value' ->> '_tag') = 'Complete'
        FROM ${replies} we
        WHERE we.request_id = w.id AND we.kind = 0 AND ${below("we.id")}
      ), FALSE)
    )`

    // A batch: up to `batchSize` requests below `upper`, newest first, with their rows and replies. It answers the
    // lowest id it deleted, where the next batch starts: the rows it passed over were kept for a reason, and are not
    // looked at again until the next run.
    const deleteBatch = (upper: string) =>
      sql<{ readonly requests: number; readonly messages: number; readonly replies: number; readonly lowest: string }>`
      WITH doomed AS (
        SELECT m.id FROM ${messages} m
        WHERE m.kind = 0
        AND m.processed
        AND m.id < ${upper}::int8
        AND EXISTS (
          SELECT 1 FROM ${replies} e WHERE e.request_id = m.id AND e.kind = 0 AND ${below("e.id")}
        )
        AND NOT EXISTS (
          SELECT 1 FROM ${messages} p WHERE p.request_id = m.id AND NOT p.processed
        )
        AND (m.entity_type NOT LIKE 'Workflow/%' OR NOT COALESCE((
          SELECT bool_or(${liveRun}) FROM ${messages} w WHERE w.message_id IN ${runMessageIds}
        ), FALSE))
        ORDER BY m.id DESC
        LIMIT ${limit}
        FOR UPDATE OF m SKIP LOCKED
      ),
      deleted_replies AS (
        DELETE FROM ${replies} r USING doomed d WHERE r.request_id = d.id RETURNING 1
      ),
      deleted_messages AS (
        DELETE FROM ${messages} x USING doomed d WHERE x.request_id = d.id RETURNING 1
      )
      SELECT
        (SELECT count(*) FROM doomed)::int4 AS requests,
        (SELECT count(*) FROM deleted_messages)::int4 AS messages,
        (SELECT count(*) FROM deleted_replies)::int4 AS replies,
        (SELECT min(id) FROM doomed)::text AS lowest
    `

    const deleteOrphanReplies = (upper: string) =>
      sql<{ readonly replies: number; readonly lowest: string }>`
      WITH doomed AS (
        SELECT r.id FROM ${replies} r
        WHERE r.id < ${upper}::int8
        AND NOT EXISTS (SELECT 1 FROM ${messages} m WHERE m.id = r.request_id)
        ORDER BY r.id DESC
        LIMIT ${limit}
        FOR UPDATE OF r SKIP LOCKED
      ),
      deleted AS (
        DELETE FROM ${replies} r USING doomed d WHERE r.id = d.id RETURNING 1
      )
      SELECT (SELECT count(*) FROM deleted)::int4 AS replies, (SELECT min(id) FROM doomed)::text AS lowest
    `

    // One short transaction per batch, without JIT (see "Cost" in the module's documentation).
    const execute = <A>(statement: Effect.Effect<A, SqlError.SqlError>) =>
      sql`SET LOCAL jit = off`.pipe(
        Effect.andThen(statement),
        sql.withTransaction,
        Effect.mapError((cause) => new MessageRetentionError({ tablePrefix, cause }))
      )

    let messagesDeleted = 0
    let repliesDeleted = 0
    let batches = 0
    let upper = cutoff
    while (true) {
      const [row] = yield* execute(deleteBatch(upper))
      if (row === undefined || row.requests === 0) break
      messagesDeleted += row.messages
      repliesDeleted += row.replies
      batches++
      // a short batch went through all the rows below `upper`
      if (row.requests < batchSize) break
      upper = row.lowest
      yield* Effect.yieldNow
    }
    upper = cutoff
    while (true) {
      const [row] = yield* execute(deleteOrphanReplies(upper))
      if (row === undefined || row.replies === 0) break
      repliesDeleted += row.replies
      if (row.replies < batchSize) break
      upper = row.lowest
      yield* Effect.yieldNow
    }
    return { messagesDeleted, repliesDeleted, batches }
  }
)

/**
 * Runs {@link run} in the background, now and then `every` (default 1 hour) after each run ends, for as long as
 * the layer is in use. A run that deleted something logs a line with the counts; a failed run logs a warning and
 * the next one runs as planned.
 *
 * **Gotchas**: every process that builds this layer runs the job; that is safe (batches skip the rows another
 * process has locked), but one per database is enough.
 *
 * @category layers
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const every = Duration.fromInputUnsafe(options.every ?? defaults.every)
    if (!Duration.isGreaterThan(every, Duration.zero)) {
      return yield* Effect.die(new RangeError(`MessageRetention: every must be positive`))
    }
    const once = run(resolved).pipe(
      Effect.tap((deleted) =>
        deleted.messagesDeleted + deleted.repliesDeleted === 0 ? Effect.void : Effect.logInfo(
          `MessageRetention: deleted ${deleted.messagesDeleted} messages and ${deleted.repliesDeleted} replies ` +
            `older than ${Duration.format(resolved.retention)} in ${deleted.batches} batches`
        ).pipe(Effect.annotateLogs({ ...deleted, tablePrefix: resolved.tablePrefix }))
      ),
      Effect.catch((error) => Effect.logWarning("MessageRetention: run failed, retrying at the next interval", error))
    )
    yield* Effect.forkScoped(Effect.repeat(once, Schedule.spaced(every)))
  }))
