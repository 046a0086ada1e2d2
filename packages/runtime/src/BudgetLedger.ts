/**
 * The budget ledger: money moves reserve → commit/release against budget scopes (a video, a channel's day, a
 * tenant's day, the operation's day and month), and a limited scope never holds more than its limit.
 *
 * - **reserve** takes an estimate in all of its scopes in one atomic step, or in none, and answers the control
 *   level (normal / soft / hard) so that the caller can choose cheaper provider tiers. It is idempotent by
 *   reservation id (`${videoId}` for a whole video, `${videoId}/${stage}` for one stage): a pipeline resumed after
 *   a crash re-runs it and gets the same reservation back.
 * - **commit** records the actual cost and frees the rest of the estimate; **release** frees all of it. Both are
 *   idempotent.
 * - **settle** records the actual cost of one part of a reservation (a stage of a video reserved whole) and keeps
 *   the rest reserved, so that a video funded at its start is never starved by other videos halfway through. It
 *   is idempotent by (reservation id, part id). A reservation settled in parts is closed with **release**, which
 *   frees what remains and keeps the parts committed; **commit** on it is a defect (see {@link BudgetLedger}).
 * - **Threshold alerts**: when committed plus reserved spend in a scope first reaches 50 / 80 / 90 / 100 % of its
 *   limit, a {@link ThresholdCrossed} event is published, once per scope row (a scope includes its period, so
 *   once per day or month), in ascending order per scope. Which thresholds were emitted is stored with the
 *   scope, so a restart does not emit them again.
 * - **Metrics**: each write tells the `budget_spent_dollars`, `budget_reserved_dollars` and `budget_limit_dollars`
 *   gauges (`PipelineMetrics.budgetGauges`) the rows it left, once it is durable; they are read at export.
 *
 * **Invariant**: for every limited scope, `committed + reserved ≤ limit` at every instant, under any concurrency
 * and any interruption. The memory layer changes its state in one synchronous step per operation (which no other
 * fiber can interleave with, and no interruption can split); the SQL layer runs each operation in one
 * transaction that locks the scope rows in key order, and the database checks the invariant itself.
 *
 * **Gotchas**
 * - Limits travel with each reservation (`ScopeLimit`): the ledger records the limit of the last successful
 *   reservation in a scope, and enforces that one on commits and settles. A lowered limit takes effect at the next reserve.
 * - A reservation id that already exists returns the existing reservation, even if the new request names other
 *   scopes or another amount: the first request wins. Likewise a part settled again keeps its first amount.
 * - Settling never frees money: what a part does not use of the remainder stays reserved for the parts after it,
 *   and only `release` gives back what the parts did not use.
 * - Threshold events are delivered in-process, after the change is durable, to the subscribers present then.
 *   With the SQL layer, alerts are an outbox: an alert recorded by a process that died before publishing it is
 *   published with the next alert of any process on the same database, and each alert is published by exactly
 *   one process (the one that takes it from the outbox).
 *
 * @since 0.1.0
 */
import { Budget, Money } from "@ytempire/domain"
import { Array as Arr, Context, Effect, Layer, Option, PubSub, Result, Schema, Semaphore, Stream } from "effect"
import type { Scope } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import * as Migrations from "./internal/migrations.ts"
import * as PipelineMetrics from "./PipelineMetrics.ts"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * A scope to reserve in, with the limit that applies to it now (`None`: unlimited, tracked only).
 *
 * @category models
 */
export interface ScopeLimit {
  readonly scope: Budget.BudgetScope
  readonly limit: Option.Option<Money.Money>
}

/**
 * A request to reserve `amount` in every one of `scopes`.
 *
 * @category models
 */
export interface ReserveRequest {
  /** Stable across retries and restarts, e.g. `${videoId}` (a whole video) or `${videoId}/${stage}`. */
  readonly reservationId: string
  readonly scopes: ReadonlyArray<ScopeLimit>
  readonly amount: Money.Money
}

/**
 * Where a reservation is: holding its amount, committed at its actual cost, or released.
 *
 * @category models
 */
export const ReservationState = Schema.Literals(["reserved", "committed", "released"])
/** @category models */
export type ReservationState = typeof ReservationState.Type

/**
 * One settled part of a reservation: `amount` moved into committed spend in every scope of the reservation.
 *
 * @category models
 */
export class SettledPart extends Schema.Class<SettledPart>("@ytempire/runtime/BudgetLedger/SettledPart")({
  partId: Schema.String,
  amount: Money.Money
}) {}

/**
 * What an open reservation still holds: its amount less what its parts settled, never below zero; nothing once
 * it is committed or released.
 */
const remainingOf = (state: ReservationState, amount: Money.Money, settled: Money.Money): Money.Money =>
  state === "reserved" ? Money.max(Money.zero, Money.subtract(amount, settled)) : Money.zero

/**
 * A reservation: `amount` held in each of `scopes` until it is committed whole (at `actual`), or settled part by
 * part (`parts`, in the order they were settled) and then released, or released unused.
 *
 * A reservation with parts is never `committed`: it stays `reserved` (open) while parts are settled, and becomes
 * `released` when the caller closes it; its parts stay committed either way.
 *
 * @category models
 */
export class Reservation extends Schema.Class<Reservation>("@ytempire/runtime/BudgetLedger/Reservation")({
  reservationId: Schema.String,
  scopes: Schema.Array(Budget.BudgetScope),
  amount: Money.Money,
  state: ReservationState,
  actual: Schema.optionalKey(Money.Money),
  parts: Schema.Array(SettledPart)
}) {
  /** What the settled parts committed, in total (committed in every scope of the reservation). */
  get settled(): Money.Money {
    return Money.sum(this.parts.map((part) => part.amount))
  }

  /** What the reservation still holds in each of its scopes: `amount − settled` (at least 0) while open. */
  get remaining(): Money.Money {
    return remainingOf(this.state, this.amount, this.settled)
  }
}

/**
 * The answer to `reserve`: the reservation, the strictest control level over its scopes after reserving, and
 * whether it already existed (a replayed request, which reserved nothing more).
 *
 * @category models
 */
export interface Reserved {
  readonly reservation: Reservation
  readonly level: Budget.ControlLevel
  readonly replayed: boolean
}

/**
 * The answer to `settle`: the reservation after it (its `parts`, `settled` and `remaining`), the part as recorded
 * (its first amount, for a replay), the strictest control level over the reservation's scopes, and whether the
 * part was settled before (a replayed request, which changed nothing).
 *
 * @category models
 */
export interface Settled {
  readonly reservation: Reservation
  readonly part: SettledPart
  readonly level: Budget.ControlLevel
  readonly replayed: boolean
}

/**
 * Committed plus reserved spend in `scope` reached `threshold` (0.5, 0.8, 0.9 or 1) of `limit`. Published once
 * per scope row (so once per period), in ascending order of threshold per scope.
 *
 * @category models
 */
export class ThresholdCrossed extends Schema.TaggedClass<ThresholdCrossed>()("ThresholdCrossed", {
  scope: Budget.BudgetScope,
  threshold: Schema.Number,
  spent: Money.Money,
  limit: Money.Money
}) {}

// ---------------------------------------------------------------------------------------------------------------
// errors

/**
 * The ledger's storage failed (the database is unreachable, or a statement failed). Nothing was half-applied:
 * every operation is one transaction, and all of them are idempotent, so the caller may retry.
 *
 * @category errors
 */
export class LedgerUnavailable extends Schema.TaggedError<LedgerUnavailable>()("LedgerUnavailable", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  /** Storage failures are transient; the operations are idempotent. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `budget ledger unavailable (${this.operation})`
  }
}

/**
 * `commit` or `settle` named a reservation that does not exist.
 *
 * @category errors
 */
export class ReservationNotFound extends Schema.TaggedError<ReservationNotFound>()("ReservationNotFound", {
  reservationId: Schema.String
}) {
  /** The id is wrong; retrying does not help. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `no budget reservation ${JSON.stringify(this.reservationId)}`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the rules, shared by both layers

/** One scope row: what the ledger keeps per scope and period. */
interface ScopeRow {
  readonly key: string
  readonly scope: Budget.BudgetScope
  /** The limit of the last successful reservation; the one commits are held to. */
  readonly limit: Option.Option<Money.Money>
  readonly committed: Money.Money
  readonly reserved: Money.Money
  /** The highest alert threshold emitted in this row, in percent (0: none); those below it were emitted too. */
  readonly alertedPercent: number
}

/** The rows an operation writes, and the alerts it owes. */
interface Plan {
  readonly rows: ReadonlyArray<ScopeRow>
  readonly alerts: ReadonlyArray<ThresholdCrossed>
}

const freshRow = (scope: Budget.BudgetScope): ScopeRow => ({
  key: Budget.scopeKey(scope),
  scope,
  limit: Option.none(),
  committed: Money.zero,
  reserved: Money.zero,
  alertedPercent: 0
})

const percentOf = (threshold: number): number => Math.round(threshold * 100)

/** Tells the budget gauges the rows a durable write left. */
const observe = (gauges: PipelineMetrics.BudgetGauges, rows: ReadonlyArray<ScopeRow>): void => {
  for (const row of rows) gauges.written(row.scope, row.committed, row.reserved, Option.getOrUndefined(row.limit))
}

/** The budget gauges of a ledger built in the current context, removed when its scope closes. */
const makeGauges = Effect.gen(function*() {
  const gauges = PipelineMetrics.budgetGauges(yield* Effect.context<never>())
  yield* Effect.addFinalizer(() => Effect.sync(gauges.close))
  return gauges
})

const spentOf = (row: ScopeRow): Money.Money => Money.add(row.committed, row.reserved)

const levelOf = (row: ScopeRow): Budget.ControlLevel =>
  Option.match(row.limit, {
    onNone: () => "normal",
    onSome: (limit) => Budget.controlLevel(spentOf(row), limit)
  })

const strictestOf = (rows: ReadonlyArray<ScopeRow>): Budget.ControlLevel => Budget.strictest(rows.map(levelOf))

/**
 * A row with new amounts and limit, and the alerts now due: every threshold that its spend reaches and that was
 * not emitted before in this row. (Measuring from zero rather than from the previous spend also catches a
 * threshold that a lowered limit jumped over.)
 */
const moveRow = (
  row: ScopeRow,
  committed: Money.Money,
  reserved: Money.Money,
  limit: Option.Option<Money.Money>
): { readonly row: ScopeRow; readonly alerts: ReadonlyArray<ThresholdCrossed> } => {
  const next: ScopeRow = { ...row, committed, reserved, limit }
  if (Option.isNone(limit)) return { row: next, alerts: [] }
  const spent = spentOf(next)
  const due = Budget.crossedThresholds(Money.zero, spent, limit.value).filter((threshold) =>
    percentOf(threshold) > row.alertedPercent
  )
  if (due.length === 0) return { row: next, alerts: [] }
  return {
    row: { ...next, alertedPercent: Math.max(row.alertedPercent, ...due.map(percentOf)) },
    alerts: due.map((threshold) => new ThresholdCrossed({ scope: row.scope, threshold, spent, limit: limit.value }))
  }
}

const collect = (
  moves: ReadonlyArray<{ readonly row: ScopeRow; readonly alerts: ReadonlyArray<ThresholdCrossed> }>
): Plan => ({ rows: moves.map((move) => move.row), alerts: moves.flatMap((move) => move.alerts) })

/** Reserve `amount` in every row (each with its requested limit), or fail naming the first that has no room. */
const planReserve = (
  entries: ReadonlyArray<{ readonly row: ScopeRow; readonly limit: Option.Option<Money.Money> }>,
  amount: Money.Money
): Result.Result<Plan, Budget.BudgetExceeded> => {
  for (const { limit, row } of entries) {
    if (Option.isSome(limit) && !Budget.admits(limit.value, row.committed, row.reserved, amount)) {
      return Result.fail(
        new Budget.BudgetExceeded({ scope: row.scope, limit: limit.value, committed: row.committed, needed: amount })
      )
    }
  }
  return Result.succeed(
    collect(entries.map(({ limit, row }) => moveRow(row, row.committed, Money.add(row.reserved, amount), limit)))
  )
}

/**
 * Charge `actual` to the committed spend of every row, taking `freed` (at most what the reservation holds) out of
 * its reserved spend. A commit frees all it holds (its amount, or zero once released); a settle frees what it
 * uses of it, `min(remaining, actual)`, and leaves the rest reserved.
 *
 * The rule: up to the freed amount, a charge always succeeds (it never raises spend). The excess of `actual` over
 * it must fit, like a new reservation, in every limited scope (`committed + reserved − freed + actual ≤ limit`);
 * otherwise the charge fails with `BudgetExceeded` (`needed` is the excess) and changes nothing, so the
 * reservation still holds what it held and the caller can charge a capped amount or release it.
 */
const planCharge = (
  rows: ReadonlyArray<ScopeRow>,
  freed: Money.Money,
  actual: Money.Money
): Result.Result<Plan, Budget.BudgetExceeded> => {
  const excess = Money.subtract(actual, freed)
  if (excess > 0) {
    for (const row of rows) {
      if (Option.isSome(row.limit) && !Budget.admits(row.limit.value, row.committed, row.reserved, excess)) {
        return Result.fail(
          new Budget.BudgetExceeded({
            scope: row.scope,
            limit: row.limit.value,
            committed: row.committed,
            needed: excess
          })
        )
      }
    }
  }
  return Result.succeed(
    collect(
      rows.map((row) => moveRow(row, Money.add(row.committed, actual), Money.subtract(row.reserved, freed), row.limit))
    )
  )
}

const planRelease = (rows: ReadonlyArray<ScopeRow>, held: Money.Money): Plan =>
  collect(rows.map((row) => moveRow(row, row.committed, Money.subtract(row.reserved, held), row.limit)))

/** The scopes of a request, each once (the first mention wins), in the order given. */
const distinctScopes = (
  scopes: ReadonlyArray<ScopeLimit>
): ReadonlyArray<ScopeLimit & { readonly key: string }> => {
  const seen = new Set<string>()
  const result: Array<ScopeLimit & { readonly key: string }> = []
  for (const entry of scopes) {
    const key = Budget.scopeKey(entry.scope)
    if (seen.has(key)) continue
    seen.add(key)
    result.push({ ...entry, key })
  }
  return result
}

const requireAmount = (name: string, amount: Money.Money): Effect.Effect<void> =>
  Number.isSafeInteger(amount) && amount >= 0
    ? Effect.void
    : Effect.die(new RangeError(`BudgetLedger: ${name} must be a non-negative amount, got ${amount} µUSD`))

const requirePartId = (partId: string): Effect.Effect<void> =>
  partId.length > 0 ? Effect.void : Effect.die(new RangeError("BudgetLedger: a part id must not be empty"))

/** `commit` on a reservation that has settled parts: the caller mixed the two ways to settle a reservation. */
const committedInParts = (reservationId: string): Error =>
  new Error(
    `BudgetLedger: reservation ${JSON.stringify(reservationId)} is settled in parts; ` +
      "settle its last part and release it instead of committing it"
  )

/** `settle` on a reservation committed whole: its cost is recorded, it has no parts left to settle. */
const settledWhole = (reservationId: string): Error =>
  new Error(`BudgetLedger: reservation ${JSON.stringify(reservationId)} was committed whole; it has no parts to settle`)

/** The part of `parts` named `partId`, if it was settled. */
const findPart = (parts: ReadonlyArray<SettledPart>, partId: string): SettledPart | undefined =>
  parts.find((part) => part.partId === partId)

const makeReservation = (
  reservationId: string,
  rows: ReadonlyArray<ScopeRow>,
  amount: Money.Money,
  state: ReservationState,
  actual: Option.Option<Money.Money>,
  parts: ReadonlyArray<SettledPart>
): Reservation =>
  new Reservation({
    reservationId,
    scopes: rows.map((row) => row.scope),
    amount,
    state,
    ...(Option.isSome(actual) ? { actual: actual.value } : {}),
    parts
  })

const toStatus = (row: ScopeRow, limit: Option.Option<Money.Money>): Budget.BudgetStatus => {
  const withLimit: ScopeRow = { ...row, limit }
  return new Budget.BudgetStatus({
    scope: row.scope,
    committed: row.committed,
    reserved: row.reserved,
    level: levelOf(withLimit),
    ...(Option.isSome(limit) ? { limit: limit.value } : {})
  })
}

/** A status request: a bare scope (report the recorded limit) or a scope with the limit to report against. */
const statusEntry = (
  entry: Budget.BudgetScope | ScopeLimit
): { readonly scope: Budget.BudgetScope; readonly limit: Option.Option<Option.Option<Money.Money>> } =>
  "_tag" in entry
    ? { scope: entry, limit: Option.none() }
    : { scope: entry.scope, limit: Option.some(entry.limit) }

// ---------------------------------------------------------------------------------------------------------------
// memory

const makeMemory: Effect.Effect<BudgetLedger["Service"], never, Scope.Scope> = Effect.gen(function*() {
  const pubsub = yield* PubSub.unbounded<ThresholdCrossed>()
  yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
  const gauges = yield* makeGauges
  const rows = new Map<string, ScopeRow>()
  const reservations = new Map<string, Reservation>()

  const rowOf = (scope: Budget.BudgetScope): ScopeRow => rows.get(Budget.scopeKey(scope)) ?? freshRow(scope)

  // Every change below happens inside one synchronous `Effect.suspend` thunk: JavaScript runs it to the end
  // before any other fiber runs, and an interruption can only land before or after it. Plans are computed
  // before anything is written, and the alerts are published in the same step, so they come out in order.
  const apply = (plan: Plan): void => {
    for (const row of plan.rows) rows.set(row.key, row)
    observe(gauges, plan.rows)
    for (const alert of plan.alerts) PubSub.publishUnsafe(pubsub, alert)
  }

  const reserve = Effect.fn("BudgetLedger.reserve")(function*(request: ReserveRequest) {
    yield* requireAmount("amount", request.amount)
    yield* Effect.annotateCurrentSpan("ytempire.cost_usd", Money.toDollars(request.amount))
    const entries = distinctScopes(request.scopes)
    return yield* Effect.suspend((): Effect.Effect<Reserved, Budget.BudgetExceeded> => {
      const existing = reservations.get(request.reservationId)
      if (existing !== undefined) {
        return Effect.succeed({ reservation: existing, level: strictestOf(existing.scopes.map(rowOf)), replayed: true })
      }
      const plan = planReserve(
        entries.map((entry) => ({ row: rowOf(entry.scope), limit: entry.limit })),
        request.amount
      )
      if (Result.isFailure(plan)) return Effect.fail(plan.failure)
      const reservation = makeReservation(
        request.reservationId,
        plan.success.rows,
        request.amount,
        "reserved",
        Option.none(),
        []
      )
      apply(plan.success)
      reservations.set(reservation.reservationId, reservation)
      return Effect.succeed({ reservation, level: strictestOf(plan.success.rows), replayed: false })
    })
  })

  const commit = Effect.fn("BudgetLedger.commit")(function*(reservationId: string, actual: Money.Money) {
    yield* requireAmount("actual", actual)
    return yield* Effect.suspend((): Effect.Effect<Reservation, Budget.BudgetExceeded | ReservationNotFound> => {
      const existing = reservations.get(reservationId)
      if (existing === undefined) return Effect.fail(new ReservationNotFound({ reservationId }))
      if (existing.state === "committed") return Effect.succeed(existing)
      if (existing.parts.length > 0) return Effect.die(committedInParts(reservationId))
      const plan = planCharge(existing.scopes.map(rowOf), existing.remaining, actual)
      if (Result.isFailure(plan)) return Effect.fail(plan.failure)
      const reservation = makeReservation(
        reservationId,
        plan.success.rows,
        existing.amount,
        "committed",
        Option.some(actual),
        []
      )
      apply(plan.success)
      reservations.set(reservationId, reservation)
      return Effect.succeed(reservation)
    })
  })

  const settle = Effect.fn("BudgetLedger.settle")(
    function*(reservationId: string, partId: string, actual: Money.Money) {
      yield* requirePartId(partId)
      yield* requireAmount("actual", actual)
      return yield* Effect.suspend((): Effect.Effect<Settled, Budget.BudgetExceeded | ReservationNotFound> => {
        const existing = reservations.get(reservationId)
        if (existing === undefined) return Effect.fail(new ReservationNotFound({ reservationId }))
        const recorded = findPart(existing.parts, partId)
        if (recorded !== undefined) {
          const level = strictestOf(existing.scopes.map(rowOf))
          return Effect.succeed({ reservation: existing, part: recorded, level, replayed: true })
        }
        if (existing.state === "committed") return Effect.die(settledWhole(reservationId))
        const plan = planCharge(existing.scopes.map(rowOf), Money.min(existing.remaining, actual), actual)
        if (Result.isFailure(plan)) return Effect.fail(plan.failure)
        const part = new SettledPart({ partId, amount: actual })
        const reservation = makeReservation(
          reservationId,
          plan.success.rows,
          existing.amount,
          existing.state,
          Option.none(),
          [...existing.parts, part]
        )
        apply(plan.success)
        reservations.set(reservationId, reservation)
        return Effect.succeed({ reservation, part, level: strictestOf(plan.success.rows), replayed: false })
      })
    }
  )

  const release = Effect.fn("BudgetLedger.release")(function*(reservationId: string) {
    return yield* Effect.sync((): Option.Option<Reservation> => {
      const existing = reservations.get(reservationId)
      if (existing === undefined) return Option.none()
      if (existing.state !== "reserved") return Option.some(existing)
      const plan = planRelease(existing.scopes.map(rowOf), existing.remaining)
      const reservation = makeReservation(
        reservationId,
        plan.rows,
        existing.amount,
        "released",
        Option.none(),
        existing.parts
      )
      apply(plan)
      reservations.set(reservationId, reservation)
      return Option.some(reservation)
    })
  })

  const status = Effect.fn("BudgetLedger.status")(function*(scopes: ReadonlyArray<Budget.BudgetScope | ScopeLimit>) {
    return yield* Effect.sync(() =>
      scopes.map((entry) => {
        const { limit, scope } = statusEntry(entry)
        const row = rowOf(scope)
        return toStatus(row, Option.getOrElse(limit, () => row.limit))
      })
    )
  })

  return {
    reserve,
    commit,
    settle,
    release,
    status,
    thresholdCrossings: Stream.fromPubSub(pubsub),
    subscribe: PubSub.subscribe(pubsub)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// SQL

interface ScopeRecord {
  readonly scope_key: string
  readonly scope: unknown
  readonly limit_micros: bigint | number | null
  readonly committed_micros: bigint | number
  readonly reserved_micros: bigint | number
  readonly alerted_percent: number
}

interface ReservationRecord {
  readonly reservation_id: string
  readonly scope_keys: ReadonlyArray<string>
  readonly amount_micros: bigint | number
  readonly state: string
  readonly actual_micros: bigint | number | null
}

interface PartRecord {
  readonly part_id: string
  readonly amount_micros: bigint | number
}

interface AlertRecord {
  readonly scope: unknown
  readonly threshold_percent: number
  readonly spent_micros: bigint | number
  readonly limit_micros: bigint | number
}

/** What a transaction returns: its answer, whether it recorded alerts to publish, and the rows it wrote. */
interface Outcome<A> {
  readonly value: A
  readonly alerted: boolean
  readonly written?: ReadonlyArray<ScopeRow>
}

/** A scope row as a one-statement operation returns it (null columns when it joined no scope row). */
interface ScopeColumns {
  readonly scope_key: string | null
  readonly scope: unknown
  readonly limit_micros: bigint | number | null
  readonly committed_micros: bigint | number
  readonly reserved_micros: bigint | number
  readonly alerted_percent: number
}

/** A row of the one-statement settle or release: a scope row, and its reservation. */
interface SettleRecord extends ScopeColumns {
  readonly scope_keys: ReadonlyArray<string>
  readonly amount_micros: bigint | number
  readonly settled_micros: bigint | number
  readonly earlier_parts: unknown
}

const micros = (value: bigint | number | string): Money.Money => Money.fromMicros(Number(value))

/** A row of the one-statement reserve: a scope row, and how many alerts the statement recorded. */
interface ReserveRecord extends ScopeColumns {
  readonly alerts: bigint | number | string
}

/** `[[partId, amount], …]` as JSON (text, or parsed by the driver) into parts. */
const parsePartList = (value: unknown): ReadonlyArray<SettledPart> => {
  const list = (typeof value === "string" ? JSON.parse(value) : value) as ReadonlyArray<readonly [string, number]>
  return list.map(([partId, amount]) => new SettledPart({ partId, amount: micros(amount) }))
}

const decodeScope = Schema.decodeUnknownEffect(Budget.BudgetScope)
const encodeScope = Schema.encodeEffect(Budget.BudgetScope)
const decodeState = Schema.decodeUnknownEffect(ReservationState)

const toRow = (record: ScopeRecord): Effect.Effect<ScopeRow> =>
  Effect.map(decodeScope(record.scope), (scope) => ({
    key: record.scope_key,
    scope,
    limit: record.limit_micros === null ? Option.none() : Option.some(micros(record.limit_micros)),
    committed: micros(record.committed_micros),
    reserved: micros(record.reserved_micros),
    alertedPercent: record.alerted_percent
  })).pipe(Effect.orDie)

/** A SQL failure as `LedgerUnavailable`; the ledger's own errors pass through. */
const unavailable = <E>(
  operation: string,
  error: E | SqlError.SqlError
): Exclude<E, SqlError.SqlError> | LedgerUnavailable =>
  SqlError.isSqlError(error)
    ? new LedgerUnavailable({ operation, cause: error })
    : error as Exclude<E, SqlError.SqlError>

/** Transaction failures worth running the transaction again for: nothing of it was applied. */
const isTransient = (error: unknown): boolean =>
  SqlError.isSqlError(error) &&
  (error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError")

/** The scope rows of a one-statement operation's records, in the order of `keys`. */
const rowsFromRecords = (keys: ReadonlyArray<string>, records: ReadonlyArray<ScopeColumns>) => {
  const byKey = new Map(records.flatMap((record) => record.scope_key === null ? [] : [[record.scope_key, record]]))
  return Effect.forEach(keys, (key) => {
    const record = byKey.get(key)
    return record === undefined
      ? Effect.die(new Error(`BudgetLedger: the row of scope ${key} is missing`))
      : toRow(record as ScopeRecord)
  })
}

const makeSql: Effect.Effect<BudgetLedger["Service"], LedgerUnavailable, SqlClient.SqlClient | Scope.Scope> = Effect
  .gen(function*() {
    yield* Migrations.run.pipe(Effect.mapError((cause) => new LedgerUnavailable({ operation: "migrate", cause })))
    // Column names are ours: keep them whatever name transforms the application's client is configured with.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const pubsub = yield* PubSub.unbounded<ThresholdCrossed>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    const publishing = yield* Semaphore.make(1)
    const gauges = yield* makeGauges

    const selectScopes = (keys: ReadonlyArray<string>, lock: boolean) =>
      sql<ScopeRecord>`
        SELECT scope_key, scope, limit_micros, committed_micros, reserved_micros, alerted_percent
        FROM budget_scopes
        WHERE scope_key = ANY(${keys}::text[])
        ORDER BY scope_key
        ${sql.literal(lock ? "FOR UPDATE" : "")}
      `

    /** The rows of `keys`, in that order; with `lock`, locked in key order (the order every transaction uses). */
    const rowsOf = Effect.fnUntraced(function*(keys: ReadonlyArray<string>, lock: boolean) {
      const records = yield* selectScopes(keys, lock)
      const byKey = new Map(records.map((record) => [record.scope_key, record]))
      return yield* Effect.forEach(keys, (key) => {
        const record = byKey.get(key)
        return record === undefined
          ? Effect.die(new Error(`BudgetLedger: the row of scope ${key} is missing`))
          : toRow(record)
      })
    })

    const writePlan = Effect.fnUntraced(function*(plan: Plan) {
      // One statement for all the rows (each round trip costs more than the work), as one JSON parameter.
      if (plan.rows.length > 0) {
        const planned = JSON.stringify(plan.rows.map((row) => ({
          scope_key: row.key,
          limit_micros: Option.getOrNull(row.limit),
          committed_micros: row.committed,
          reserved_micros: row.reserved,
          alerted_percent: row.alertedPercent
        })))
        yield* sql`
          UPDATE budget_scopes AS scopes SET
            limit_micros = planned.limit_micros,
            committed_micros = planned.committed_micros,
            reserved_micros = planned.reserved_micros,
            alerted_percent = planned.alerted_percent,
            updated_at = now()
          FROM jsonb_to_recordset(${planned}::jsonb) AS planned (
            scope_key text, limit_micros bigint, committed_micros bigint, reserved_micros bigint, alerted_percent integer
          )
          WHERE scopes.scope_key = planned.scope_key
        `
      }
      const alerts = plan.alerts.map((alert) => ({
        scope_key: Budget.scopeKey(alert.scope),
        threshold_percent: percentOf(alert.threshold),
        spent_micros: BigInt(alert.spent),
        limit_micros: BigInt(alert.limit)
      }))
      if (!Arr.isArrayNonEmpty(alerts)) return false
      const inserted = yield* sql`
        INSERT INTO budget_alerts ${sql.insert(alerts)}
        ON CONFLICT (scope_key, threshold_percent) DO NOTHING
        RETURNING alert_id
      `
      return inserted.length > 0
    })

    const findReservation = (reservationId: string, lock: boolean) =>
      Effect.map(
        sql<ReservationRecord>`
          SELECT reservation_id, scope_keys, amount_micros, state, actual_micros
          FROM budget_reservations
          WHERE reservation_id = ${reservationId}
          ${sql.literal(lock ? "FOR UPDATE" : "")}
        `,
        (records) => Option.fromNullishOr(records[0])
      )

    /** The settled parts of a reservation, in the order they were settled. */
    const partsOf = (reservationId: string) =>
      Effect.map(
        sql<PartRecord>`
          SELECT part_id, amount_micros
          FROM budget_reservation_parts
          WHERE reservation_id = ${reservationId}
          ORDER BY seq
        `,
        (records) =>
          records.map((record) => new SettledPart({ partId: record.part_id, amount: micros(record.amount_micros) }))
      )

    const toReservation = Effect.fnUntraced(function*(
      record: ReservationRecord,
      rows: ReadonlyArray<ScopeRow>,
      parts: ReadonlyArray<SettledPart>
    ) {
      const state = yield* Effect.orDie(decodeState(record.state))
      return makeReservation(
        record.reservation_id,
        rows,
        micros(record.amount_micros),
        state,
        record.actual_micros === null ? Option.none() : Option.some(micros(record.actual_micros)),
        parts
      )
    })

    /**
     * Takes every unpublished alert (of any process: a crash may have left some) and publishes them in the order
     * they were recorded. Alerts of one scope are recorded under its row lock, so that order is the order of
     * their thresholds; serialising the flushes keeps it in the PubSub. Failing to publish fails nothing: the
     * alerts wait for the next flush.
     */
    const flush = publishing.withPermit(Effect.gen(function*() {
      const records = yield* sql<AlertRecord>`
        WITH taken AS (
          UPDATE budget_alerts SET published_at = now()
          WHERE published_at IS NULL
          RETURNING alert_id, scope_key, threshold_percent, spent_micros, limit_micros
        )
        SELECT taken.alert_id, scopes.scope, taken.threshold_percent, taken.spent_micros, taken.limit_micros
        FROM taken JOIN budget_scopes AS scopes USING (scope_key)
        ORDER BY taken.alert_id
      `
      const alerts = yield* Effect.forEach(
        records,
        (record) =>
          Effect.map(decodeScope(record.scope), (scope) =>
            new ThresholdCrossed({
              scope,
              threshold: record.threshold_percent / 100,
              spent: micros(record.spent_micros),
              limit: micros(record.limit_micros)
            }))
      )
      yield* PubSub.publishAll(pubsub, alerts)
    })).pipe(
      Effect.catchCause((cause) => Effect.logWarning("BudgetLedger: threshold alerts left for the next flush", cause))
    )

    /**
     * Runs `body` in one transaction (again after a deadlock or serialisation failure, which applied nothing),
     * then publishes the alerts it recorded. An interruption may stop the transaction, which then rolls back, but
     * not the publication once it has committed. SQL failures become `LedgerUnavailable`.
     */
    const transact = <A, E>(
      operation: string,
      body: Effect.Effect<Outcome<A>, E | SqlError.SqlError>
    ): Effect.Effect<A, Exclude<E, SqlError.SqlError> | LedgerUnavailable> =>
      Effect.uninterruptibleMask((restore) =>
        restore(Effect.retry(sql.withTransaction(body), { times: 3, while: isTransient })).pipe(
          Effect.tap((outcome) => {
            if (outcome.written !== undefined) observe(gauges, outcome.written)
            return outcome.alerted ? flush : Effect.void
          }),
          Effect.map((outcome) => outcome.value)
        )
      ).pipe(Effect.mapError((error) => unavailable(operation, error)))

    /**
     * Creates the missing rows of `entries`' scopes, empty and unlimited. In key order, like rows are locked, so
     * two requests creating the same rows cannot wait for each other crosswise.
     */
    const insertScopeRows = Effect.fnUntraced(function*(
      entries: ReadonlyArray<{
        readonly key: string
        readonly scope: Budget.BudgetScope
      }>
    ) {
      const fresh = yield* Effect.forEach(
        entries,
        (entry) => Effect.map(Effect.orDie(encodeScope(entry.scope)), (scope) => ({ scope_key: entry.key, scope }))
      )
      if (fresh.length === 0) return
      yield* sql`
        INSERT INTO budget_scopes (scope_key, scope)
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(fresh)}::jsonb) AS fresh (scope_key text, scope jsonb)
        ORDER BY scope_key
        ON CONFLICT (scope_key) DO NOTHING
      `
    })

    const reserveIn = Effect.fnUntraced(function*(
      request: ReserveRequest,
      entries: ReadonlyArray<ScopeLimit & { readonly key: string }>
    ) {
      const keys = entries.map((entry) => entry.key)
      // The reservation row first: a concurrent request with the same id waits here for this one to finish.
      const inserted = yield* sql`
        INSERT INTO budget_reservations (reservation_id, scope_keys, amount_micros)
        VALUES (${request.reservationId}, ${keys}::text[], ${BigInt(request.amount)})
        ON CONFLICT (reservation_id) DO NOTHING
        RETURNING reservation_id
      `
      if (inserted.length === 0) {
        const found = yield* findReservation(request.reservationId, false)
        if (Option.isNone(found)) {
          return yield* Effect.die(new Error(`BudgetLedger: reservation ${request.reservationId} vanished`))
        }
        const rows = yield* rowsOf(found.value.scope_keys, false)
        const reservation = yield* toReservation(found.value, rows, yield* partsOf(request.reservationId))
        const value: Reserved = { reservation, level: strictestOf(rows), replayed: true }
        return { value, alerted: false }
      }
      yield* insertScopeRows(entries)
      const rows = yield* rowsOf(keys, true)
      const plan = planReserve(entries.map((entry, i) => ({ row: rows[i]!, limit: entry.limit })), request.amount)
      if (Result.isFailure(plan)) return yield* Effect.fail(plan.failure)
      const alerted = yield* writePlan(plan.success)
      const reservation = makeReservation(
        request.reservationId,
        plan.success.rows,
        request.amount,
        "reserved",
        Option.none(),
        []
      )
      const value: Reserved = { reservation, level: strictestOf(plan.success.rows), replayed: false }
      return { value, alerted, written: plan.success.rows }
    })

    // Every operation on an existing reservation locks its row first, then the rows of its scopes (in key
    // order): operations on one reservation run one after the other, and see its parts as the last one left them.

    const commitIn = Effect.fnUntraced(function*(reservationId: string, actual: Money.Money) {
      const found = yield* findReservation(reservationId, true)
      if (Option.isNone(found)) return yield* Effect.fail(new ReservationNotFound({ reservationId }))
      const record = found.value
      if (record.state === "committed") {
        const rows = yield* rowsOf(record.scope_keys, false)
        return { value: yield* toReservation(record, rows, []), alerted: false }
      }
      const parts = yield* partsOf(reservationId)
      if (parts.length > 0) return yield* Effect.die(committedInParts(reservationId))
      const rows = yield* rowsOf(record.scope_keys, true)
      const held = record.state === "reserved" ? micros(record.amount_micros) : Money.zero
      const plan = planCharge(rows, held, actual)
      if (Result.isFailure(plan)) return yield* Effect.fail(plan.failure)
      const alerted = yield* writePlan(plan.success)
      yield* sql`
        UPDATE budget_reservations
        SET state = 'committed', actual_micros = ${BigInt(actual)}, settled_at = now()
        WHERE reservation_id = ${reservationId}
      `
      const reservation = makeReservation(
        reservationId,
        plan.success.rows,
        micros(record.amount_micros),
        "committed",
        Option.some(actual),
        []
      )
      return { value: reservation, alerted, written: plan.success.rows }
    })

    const settleIn = Effect.fnUntraced(function*(reservationId: string, partId: string, actual: Money.Money) {
      const found = yield* findReservation(reservationId, true)
      if (Option.isNone(found)) return yield* Effect.fail(new ReservationNotFound({ reservationId }))
      const record = found.value
      const parts = yield* partsOf(reservationId)
      const recorded = findPart(parts, partId)
      if (recorded !== undefined) {
        const rows = yield* rowsOf(record.scope_keys, false)
        const reservation = yield* toReservation(record, rows, parts)
        const value: Settled = { reservation, part: recorded, level: strictestOf(rows), replayed: true }
        return { value, alerted: false }
      }
      const state = yield* Effect.orDie(decodeState(record.state))
      if (state === "committed") return yield* Effect.die(settledWhole(reservationId))
      const rows = yield* rowsOf(record.scope_keys, true)
      const remaining = remainingOf(state, micros(record.amount_micros), Money.sum(parts.map((part) => part.amount)))
      const plan = planCharge(rows, Money.min(remaining, actual), actual)
      if (Result.isFailure(plan)) return yield* Effect.fail(plan.failure)
      const alerted = yield* writePlan(plan.success)
      yield* sql`
        INSERT INTO budget_reservation_parts (reservation_id, part_id, amount_micros)
        VALUES (${reservationId}, ${partId}, ${BigInt(actual)})
      `
      yield* sql`
        UPDATE budget_reservations SET settled_micros = settled_micros + ${BigInt(actual)}
        WHERE reservation_id = ${reservationId}
      `
      const part = new SettledPart({ partId, amount: actual })
      const reservation = yield* toReservation(record, plan.success.rows, [...parts, part])
      const value: Settled = { reservation, part, level: strictestOf(plan.success.rows), replayed: false }
      return { value, alerted, written: plan.success.rows }
    })

    const releaseIn = Effect.fnUntraced(function*(reservationId: string) {
      const found = yield* findReservation(reservationId, true)
      if (Option.isNone(found)) return { value: Option.none<Reservation>(), alerted: false }
      const record = found.value
      const parts = yield* partsOf(reservationId)
      const lock = record.state === "reserved"
      const rows = yield* rowsOf(record.scope_keys, lock)
      if (!lock) return { value: Option.some(yield* toReservation(record, rows, parts)), alerted: false }
      const amount = micros(record.amount_micros)
      const plan = planRelease(rows, remainingOf("reserved", amount, Money.sum(parts.map((part) => part.amount))))
      const alerted = yield* writePlan(plan)
      yield* sql`
        UPDATE budget_reservations SET state = 'released', settled_at = now()
        WHERE reservation_id = ${reservationId}
      `
      return {
        value: Option.some(makeReservation(reservationId, plan.rows, amount, "released", Option.none(), parts)),
        alerted,
        written: plan.rows
      }
    })

    /**
     * The common reserve, in one statement after the scope rows are ensured: a new reservation. Each row gets the
     * request's limit and the amount; the database's check of the invariant refuses a row without room (the
     * statement then fails and applied nothing), and the alerts due are recorded as the transaction would record
     * them. `None` for the other cases (a replay, no room): the
     * transaction decides those, with the exact `BudgetExceeded`.
     */
    const reserveExisting = Effect.fnUntraced(function*(
      request: ReserveRequest,
      entries: ReadonlyArray<ScopeLimit & { readonly key: string }>
    ) {
      const keys = entries.map((entry) => entry.key)
      const amount = BigInt(request.amount)
      const requested = JSON.stringify(entries.map((entry) => ({
        scope_key: entry.key,
        limit_micros: Option.getOrNull(entry.limit)
      })))
      const thresholds = Budget.alertThresholds.map(percentOf)
      // Rows a period's first reservation needs (and a video's own scope, always new), created beforehand: rows
      // created in the statement itself would be invisible to it. An empty row with no limit is what a scope
      // without reservations is, so one left behind by a refused reservation changes nothing.
      yield* insertScopeRows(entries)
      const records = yield* sql<ReserveRecord>`
        WITH reservation AS (
          INSERT INTO budget_reservations (reservation_id, scope_keys, amount_micros)
          SELECT ${request.reservationId}, ${keys}::text[], ${amount}
          WHERE (SELECT count(*) FROM budget_scopes WHERE scope_key = ANY(${keys}::text[])) = ${keys.length}
          ON CONFLICT (reservation_id) DO NOTHING
          RETURNING reservation_id
        ),
        requested AS (
          SELECT * FROM jsonb_to_recordset(${requested}::jsonb) AS requested (scope_key text, limit_micros bigint)
        ),
        -- Locked in key order, like every transaction of the ledger locks them (no deadlocks).
        locked AS (
          SELECT scopes.scope_key, scopes.committed_micros + scopes.reserved_micros + ${amount} AS spent_micros,
            scopes.alerted_percent
          FROM budget_scopes AS scopes, reservation
          WHERE scopes.scope_key = ANY(${keys}::text[])
          ORDER BY scopes.scope_key
          FOR UPDATE OF scopes
        ),
        -- Thresholds reached, measured like Budget.reached: a zero limit is reached by any spend.
        reached AS (
          SELECT locked.scope_key, threshold, locked.spent_micros, requested.limit_micros
          FROM locked
          JOIN requested USING (scope_key)
          CROSS JOIN unnest(${thresholds}::integer[]) AS threshold
          WHERE requested.limit_micros IS NOT NULL
            AND threshold > locked.alerted_percent
            AND CASE WHEN requested.limit_micros = 0 THEN locked.spent_micros > 0
              ELSE locked.spent_micros * 100 >= requested.limit_micros * threshold END
        ),
        moved AS (
          UPDATE budget_scopes AS scopes SET
            reserved_micros = scopes.reserved_micros + ${amount},
            limit_micros = requested.limit_micros,
            alerted_percent = GREATEST(
              scopes.alerted_percent,
              coalesce((SELECT max(threshold) FROM reached WHERE reached.scope_key = scopes.scope_key), 0)
            ),
            updated_at = now()
          FROM locked JOIN requested USING (scope_key)
          WHERE scopes.scope_key = locked.scope_key
          RETURNING ${scopeColumns}
        ),
        alerted AS (
          INSERT INTO budget_alerts (scope_key, threshold_percent, spent_micros, limit_micros)
          SELECT scope_key, threshold, spent_micros, limit_micros FROM reached
          ORDER BY scope_key, threshold
          ON CONFLICT (scope_key, threshold_percent) DO NOTHING
          RETURNING alert_id
        )
        SELECT moved.*, (SELECT count(*) FROM alerted) AS alerts
        FROM moved
      `
      if (records.length === 0) return Option.none<Outcome<Reserved>>()
      const rows = yield* rowsFromRecords(keys, records)
      observe(gauges, rows)
      const reservation = makeReservation(request.reservationId, rows, request.amount, "reserved", Option.none(), [])
      return Option.some<Outcome<Reserved>>({
        value: { reservation, level: strictestOf(rows), replayed: false },
        alerted: Number(records[0]!.alerts) > 0
      })
    })

    const reserve = Effect.fn("BudgetLedger.reserve")(function*(request: ReserveRequest) {
      yield* requireAmount("amount", request.amount)
      yield* Effect.annotateCurrentSpan("ytempire.cost_usd", Money.toDollars(request.amount))
      const entries = distinctScopes(request.scopes)
      const fast = yield* reserveExisting(request, entries).pipe(
        // A failed statement applied nothing: a scope without room, or a concurrent reservation of the same id.
        Effect.catchTag("SqlError", () => Effect.succeedNone)
      )
      if (Option.isSome(fast)) {
        if (fast.value.alerted) yield* flush
        return fast.value.value
      }
      return yield* transact("reserve", reserveIn(request, entries))
    })

    const commit = Effect.fn("BudgetLedger.commit")(function*(reservationId: string, actual: Money.Money) {
      yield* requireAmount("actual", actual)
      return yield* transact("commit", commitIn(reservationId, actual))
    })

    // Fragments of the one-statement operations: the scope columns they return (`ScopeColumns`), and a
    // reservation's settled parts as `[[partId, amount], …]` JSON, in the order they were settled.
    const scopeColumns = sql.literal(
      "scopes.scope_key, scopes.scope, scopes.limit_micros, scopes.committed_micros, scopes.reserved_micros, " +
        "scopes.alerted_percent"
    )
    const partsAsJson = (reservationId: string) =>
      sql`(
        SELECT coalesce(json_agg(json_build_array(parts.part_id, parts.amount_micros) ORDER BY parts.seq), '[]')
        FROM budget_reservation_parts AS parts WHERE parts.reservation_id = ${reservationId}
      )`

    /**
     * The common settle, in one statement: a new part of an open reservation that still holds at least the
     * part's amount. It frees exactly what it charges, so no scope's spend changes (no limit can be passed, no
     * threshold crossed) and the scope rows need no checks, only their updates. The reservation row's guard is
     * evaluated on the row as it is once locked. `None` when the part is not that case (a replay, an excess, a
     * closed or unknown reservation): the transaction decides those.
     */
    const settleWithin = Effect.fnUntraced(function*(reservationId: string, partId: string, actual: Money.Money) {
      const amount = BigInt(actual)
      const records = yield* sql<SettleRecord>`
        WITH reservation AS (
          UPDATE budget_reservations SET settled_micros = settled_micros + ${amount}
          WHERE reservation_id = ${reservationId}
            AND state = 'reserved'
            AND amount_micros - settled_micros >= ${amount}
            AND NOT EXISTS (
              SELECT 1 FROM budget_reservation_parts WHERE reservation_id = ${reservationId} AND part_id = ${partId}
            )
          RETURNING reservation_id, scope_keys, amount_micros, settled_micros
        ),
        part AS (
          INSERT INTO budget_reservation_parts (reservation_id, part_id, amount_micros)
          SELECT reservation_id, ${partId}, ${amount} FROM reservation
          RETURNING reservation_id
        ),
        -- The scope rows are locked in key order, like every transaction of the ledger locks them, so that
        -- concurrent settles and reservations never wait for each other crosswise (a deadlock).
        locked AS (
          SELECT scopes.scope_key FROM budget_scopes AS scopes, reservation, part
          WHERE scopes.scope_key = ANY(reservation.scope_keys)
          ORDER BY scopes.scope_key
          FOR UPDATE OF scopes
        ),
        moved AS (
          UPDATE budget_scopes AS scopes SET
            committed_micros = scopes.committed_micros + ${amount},
            reserved_micros = scopes.reserved_micros - ${amount},
            updated_at = now()
          FROM locked
          WHERE scopes.scope_key = locked.scope_key
          RETURNING ${scopeColumns}
        )
        SELECT moved.*, reservation.scope_keys, reservation.amount_micros, reservation.settled_micros,
          ${partsAsJson(reservationId)} AS earlier_parts
        FROM reservation CROSS JOIN part LEFT JOIN moved ON true
      `
      const first = records[0]
      if (first === undefined) return Option.none<Settled>()
      const rows = yield* rowsFromRecords(first.scope_keys, records)
      observe(gauges, rows)
      const part = new SettledPart({ partId, amount: actual })
      // The statement's snapshot shows the parts settled before it began; a part settled concurrently on the
      // same reservation (which the guard above accounted for) is missing there, so read them again then.
      const earlier = parsePartList(first.earlier_parts)
      const parts = Money.add(Money.sum(earlier.map((each) => each.amount)), actual) === micros(first.settled_micros)
        ? [...earlier, part]
        : yield* partsOf(reservationId)
      const reservation = makeReservation(
        reservationId,
        rows,
        micros(first.amount_micros),
        "reserved",
        Option.none(),
        parts
      )
      return Option.some<Settled>({ reservation, part, level: strictestOf(rows), replayed: false })
    })

    const settle = Effect.fn("BudgetLedger.settle")(
      function*(reservationId: string, partId: string, actual: Money.Money) {
        yield* requirePartId(partId)
        yield* requireAmount("actual", actual)
        const fast = yield* settleWithin(reservationId, partId, actual).pipe(
          // A failed statement applied nothing (a concurrent replay of the same part meets the primary key).
          Effect.catchTag("SqlError", () => Effect.succeedNone)
        )
        if (Option.isSome(fast)) return fast.value
        return yield* transact("settle", settleIn(reservationId, partId, actual))
      }
    )

    /**
     * The common release, in one statement: an open reservation gives back what it still holds (its amount less
     * its settled parts) in every scope. Spend only falls, so no limit or threshold needs checking. `None` when
     * the reservation is not open (already closed, or unknown): the transaction answers those.
     */
    const releaseOpen = Effect.fnUntraced(function*(reservationId: string) {
      const records = yield* sql<SettleRecord>`
        WITH reservation AS (
          UPDATE budget_reservations SET state = 'released', settled_at = now()
          WHERE reservation_id = ${reservationId} AND state = 'reserved'
          RETURNING reservation_id, scope_keys, amount_micros, settled_micros,
            GREATEST(amount_micros - settled_micros, 0) AS held_micros
        ),
        locked AS (
          SELECT scopes.scope_key FROM budget_scopes AS scopes, reservation
          WHERE scopes.scope_key = ANY(reservation.scope_keys)
          ORDER BY scopes.scope_key
          FOR UPDATE OF scopes
        ),
        moved AS (
          UPDATE budget_scopes AS scopes SET
            reserved_micros = scopes.reserved_micros - reservation.held_micros,
            updated_at = now()
          FROM locked, reservation
          WHERE scopes.scope_key = locked.scope_key
          RETURNING ${scopeColumns}
        )
        SELECT moved.*, reservation.scope_keys, reservation.amount_micros, reservation.settled_micros,
          ${partsAsJson(reservationId)} AS earlier_parts
        FROM reservation LEFT JOIN moved ON true
      `
      const first = records[0]
      if (first === undefined) return Option.none<Reservation>()
      const rows = yield* rowsFromRecords(first.scope_keys, records)
      observe(gauges, rows)
      // A reservation is closed only by its id's row lock: no part can have been settled concurrently.
      const parts = parsePartList(first.earlier_parts)
      return Option.some(
        makeReservation(reservationId, rows, micros(first.amount_micros), "released", Option.none(), parts)
      )
    })

    const release = Effect.fn("BudgetLedger.release")(function*(reservationId: string) {
      const fast = yield* releaseOpen(reservationId).pipe(Effect.catchTag("SqlError", () => Effect.succeedNone))
      if (Option.isSome(fast)) return fast
      return yield* transact("release", releaseIn(reservationId))
    })

    const status = Effect.fn("BudgetLedger.status")(function*(scopes: ReadonlyArray<Budget.BudgetScope | ScopeLimit>) {
      const entries = scopes.map(statusEntry)
      const records = yield* selectScopes(entries.map((entry) => Budget.scopeKey(entry.scope)), false).pipe(
        Effect.mapError((cause) => new LedgerUnavailable({ operation: "status", cause }))
      )
      const byKey = new Map(records.map((record) => [record.scope_key, record]))
      return yield* Effect.forEach(entries, ({ limit, scope }) => {
        const record = byKey.get(Budget.scopeKey(scope))
        const current = record === undefined ? Effect.succeed(freshRow(scope)) : toRow(record)
        return Effect.map(current, (row) => toStatus(row, Option.getOrElse(limit, () => row.limit)))
      })
    })

    return {
      reserve,
      commit,
      settle,
      release,
      status,
      thresholdCrossings: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub)
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * The budget ledger.
 *
 * **When to use**: every paid step reserves its estimate before it runs (in all of its scopes, from
 * `Budget.scopesFor` and `Budget.limitFor`), commits its actual cost after, and releases the reservation when
 * it did not run. Work made of several paid steps that is worth nothing unless all of them run (a video) reserves
 * its whole estimate once, settles each step's actual cost as a part, and releases the reservation at the end
 * (or when it stops early), which frees what the parts did not use.
 *
 * **Gotchas**
 * - A reservation is settled either whole (`commit`) or in parts (`settle` … `release`), never both: `commit`
 *   on a reservation with settled parts, and `settle` on one committed whole, are defects (they die).
 * - `settle` keeps a reservation open, still holding its remainder, until it is released: a caller that never
 *   releases keeps that remainder out of every scope of the reservation until the period ends.
 *
 * @category services
 */
export class BudgetLedger extends Context.Service<BudgetLedger, {
  /**
   * Reserves `amount` in all the given scopes in one atomic step, or fails with `BudgetExceeded` naming the first
   * limited scope without room and reserves nothing. An id that exists already returns that reservation.
   */
  readonly reserve: (request: ReserveRequest) => Effect.Effect<Reserved, Budget.BudgetExceeded | LedgerUnavailable>
  /**
   * Records the actual cost in every scope of the reservation and frees the rest of its estimate; a second commit
   * is a no-op. Up to the estimate a commit always succeeds; the excess of a cost above it must fit in every
   * limited scope, else `BudgetExceeded` (`needed`: the excess) and nothing changes, the estimate still held.
   * A commit after a release charges the whole cost under the same rule.
   *
   * A reservation with settled parts cannot be committed (a defect): settle its last part and release it.
   */
  readonly commit: (
    reservationId: string,
    actual: Money.Money
  ) => Effect.Effect<Reservation, Budget.BudgetExceeded | ReservationNotFound | LedgerUnavailable>
  /**
   * Settles one part of a reservation: moves `actual` from what it still holds (`remaining`) into committed
   * spend, in every one of its scopes at once, and keeps it open with the rest reserved. Idempotent by
   * `(reservationId, partId)`: a part settled before changes nothing and answers `replayed`, with the amount it
   * was first settled at. Up to what remains, a settle always succeeds; the excess above it must fit in every
   * limited scope, else `BudgetExceeded` (`needed`: the excess) and nothing changes. On a released reservation
   * the whole part is excess (a late cost is still recorded). A defect on a reservation committed whole.
   */
  readonly settle: (
    reservationId: string,
    partId: string,
    actual: Money.Money
  ) => Effect.Effect<Settled, Budget.BudgetExceeded | ReservationNotFound | LedgerUnavailable>
  /**
   * Frees what an open reservation still holds and closes it (`released`): all of its estimate, or, for one
   * settled in parts, the remainder, its parts staying committed. A no-op for one already committed or released,
   * `None` for an unknown id.
   */
  readonly release: (reservationId: string) => Effect.Effect<Option.Option<Reservation>, LedgerUnavailable>
  /**
   * Where each scope stands: its limit (the one given, or else the one recorded at its last reservation),
   * committed and reserved spend, and control level.
   */
  readonly status: (
    scopes: ReadonlyArray<Budget.BudgetScope | ScopeLimit>
  ) => Effect.Effect<ReadonlyArray<Budget.BudgetStatus>, LedgerUnavailable>
  /** The threshold alerts from now on, as a stream (it subscribes when it starts running). */
  readonly thresholdCrossings: Stream.Stream<ThresholdCrossed>
  /** A subscription to the threshold alerts, live from the moment it is taken until its scope closes. */
  readonly subscribe: Effect.Effect<PubSub.Subscription<ThresholdCrossed>, never, Scope.Scope>
}>()("@ytempire/runtime/BudgetLedger") {
  /**
   * The ledger in memory, for tests and the embedded single-process mode without storage. Nothing survives the
   * layer.
   *
   * @category layers
   */
  static readonly layerMemory: Layer.Layer<BudgetLedger> = Layer.effect(BudgetLedger, makeMemory)

  /**
   * The ledger in a SQL database (Postgres), shared by every process that uses it. Building the layer applies
   * the runtime's pending migrations (recorded in `ytempire_migrations`).
   *
   * @category layers
   */
  static readonly layerSql: Layer.Layer<BudgetLedger, LedgerUnavailable, SqlClient.SqlClient> = Layer.effect(
    BudgetLedger,
    makeSql
  )
}
