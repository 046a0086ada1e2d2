/**
 * The operation-wide budget limits, changeable while the runtime runs: the global daily and monthly limits, and
 * each tenant's daily limit. The runtime is configured with limits (`PipelineSettings.limits`); this store holds
 * what was changed since, over them:
 *
 * - a global limit that was never set is the configured one (so a new configuration applies after a restart,
 *   unless the limit was set at run time);
 * - a tenant whose daily limit was never set has the configured `tenantDaily` (often none); one set to `None`
 *   has no daily limit, whatever the configuration says.
 *
 * The pipeline's reservations and the channel actors' hard control read the limits here on every video, so
 * `get` is a read of a value in memory. Two layers: `layerMemory` (nothing survives the layer) and `layerSql`
 * (Postgres, shared by every process on the database: each process caches the limits and re-reads what changed
 * at most every `refreshInterval`, 2 seconds unless configured, so a change made by another process applies
 * here within that time; a change made by this process applies here at once).
 *
 * **Gotchas**
 * - A lowered limit applies to new reservations; what is already reserved stays reserved (see `BudgetLedger`).
 * - Storage failures of a write are defects. A failed re-read is logged and the cached limits stay in use until
 *   the next attempt.
 *
 * @since 0.1.0
 */
import { Budget, Ids, Money } from "@ytempire/domain"
import { Clock, Context, Duration, Effect, Layer, Option, Semaphore } from "effect"
import { SqlClient } from "effect/sql"
import * as Migrations from "./internal/migrations.ts"

/**
 * A change of the global limits: the limits present are set, the others stay as they are.
 *
 * @category models
 */
export interface GlobalLimitsUpdate {
  readonly daily?: Money.Money | undefined
  readonly monthly?: Money.Money | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// the limits in memory

/**
 * The limits as this process knows them: the configured ones with the changes over them, and the resolved
 * `BudgetLimits` of every tenant, built when a change arrives so that a read allocates nothing.
 */
const makeState = (configured: Budget.BudgetLimits) => {
  let globalDaily = configured.globalDaily
  let globalMonthly = configured.globalMonthly
  /** The tenants whose daily limit was set: their limit, or `undefined` for none. */
  const tenants = new Map<string, Money.Money | undefined>()
  const limitsWith = (tenantDaily: Money.Money | undefined) =>
    new Budget.BudgetLimits({ globalDaily, globalMonthly, ...(tenantDaily === undefined ? {} : { tenantDaily }) })
  let defaults = limitsWith(configured.tenantDaily)
  const byTenant = new Map<string, Budget.BudgetLimits>()

  return {
    /** The limits of a tenant. */
    get: (tenantId: string): Budget.BudgetLimits => byTenant.get(tenantId) ?? defaults,
    /** The limits of a tenant whose daily limit was never set. */
    defaults: (): Budget.BudgetLimits => defaults,
    /** Sets the global limits (`undefined`: the configured one). */
    setGlobal: (daily: Money.Money | undefined, monthly: Money.Money | undefined) => {
      const nextDaily = daily ?? configured.globalDaily
      const nextMonthly = monthly ?? configured.globalMonthly
      if (nextDaily === globalDaily && nextMonthly === globalMonthly) return
      globalDaily = nextDaily
      globalMonthly = nextMonthly
      defaults = limitsWith(configured.tenantDaily)
      for (const [tenantId, limit] of tenants) byTenant.set(tenantId, limitsWith(limit))
    },
    /** Sets a tenant's daily limit (`undefined`: none). */
    setTenant: (tenantId: string, daily: Money.Money | undefined) => {
      if (tenants.has(tenantId) && tenants.get(tenantId) === daily) return
      tenants.set(tenantId, daily)
      byTenant.set(tenantId, limitsWith(daily))
    }
  }
}

const nonNegative = (limit: Money.Money | undefined, name: string) =>
  limit === undefined || limit >= 0
    ? Effect.void
    : Effect.die(new RangeError(`BudgetLimitsStore: the ${name} limit must not be negative, got ${limit} µUSD`))

const checkGlobal = (update: GlobalLimitsUpdate) =>
  Effect.andThen(nonNegative(update.daily, "global daily"), nonNegative(update.monthly, "global monthly"))

const makeMemory = (configured: Budget.BudgetLimits): BudgetLimitsStore["Service"] => {
  const state = makeState(configured)
  // What was set of the global limits (the rest is the configured one).
  let daily: Money.Money | undefined
  let monthly: Money.Money | undefined
  return {
    get: (tenantId) => Effect.sync(() => state.get(tenantId)),
    setTenantDaily: (tenantId, limit) =>
      Effect.andThen(
        nonNegative(Option.getOrUndefined(limit), "tenant daily"),
        Effect.sync(() => {
          state.setTenant(tenantId, Option.getOrUndefined(limit))
          return state.get(tenantId)
        })
      ),
    setGlobal: (update) =>
      Effect.andThen(
        checkGlobal(update),
        Effect.sync(() => {
          daily = update.daily ?? daily
          monthly = update.monthly ?? monthly
          state.setGlobal(daily, monthly)
          return state.defaults()
        })
      )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SQL

interface LimitRow {
  /** `NULL` for the global row. */
  readonly tenant_id: string | null
  readonly daily_micros: bigint | number | string | null
  readonly monthly_micros: bigint | number | string | null
  readonly version: bigint | number | string
}

const money = (micros: bigint | number | string | null): Money.Money | undefined =>
  micros === null ? undefined : Money.fromMicros(Number(micros))

const micros = (limit: Money.Money | undefined): number | null => limit === undefined ? null : Money.toMicros(limit)

const makeSql = (
  configured: Budget.BudgetLimits,
  refreshInterval: Duration.Input
): Effect.Effect<BudgetLimitsStore["Service"], never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* Effect.orDie(Migrations.run)
    // Column names are ours: keep them whatever name transforms the application's client is configured with.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const state = makeState(configured)
    const intervalMillis = Duration.toMillis(refreshInterval)
    const refreshing = yield* Semaphore.make(1)
    /** The highest version of the tenant rows read so far: later reads ask only for newer rows. */
    let since = 0
    /** When the limits were last read (epoch milliseconds). */
    let readAt = Number.NEGATIVE_INFINITY

    const apply = (rows: ReadonlyArray<LimitRow>) => {
      for (const row of rows) {
        if (row.tenant_id === null) {
          state.setGlobal(money(row.daily_micros), money(row.monthly_micros))
        } else {
          state.setTenant(row.tenant_id, money(row.daily_micros))
          since = Math.max(since, Number(row.version))
        }
      }
    }

    // One statement, so one snapshot: the global row, and the tenant rows written since the last read. Versions
    // are handed out in commit order (see the migration), so a row not yet committed now gets a higher version.
    const read = Effect.suspend(() =>
      sql<LimitRow>`
        SELECT NULL::text AS tenant_id, daily_micros, monthly_micros, version FROM budget_global_limits
        UNION ALL
        SELECT tenant_id, daily_micros, NULL, version FROM budget_tenant_limits WHERE version > ${since}
        ORDER BY version
      `
    )

    const refresh = refreshing.withPermits(1)(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // Another fiber may have read them while this one waited.
      if (now - readAt < intervalMillis) return
      const rows = yield* read.pipe(
        Effect.tapError((error) =>
          Effect.logWarning("BudgetLimitsStore: reading the budget limits failed; keeping the cached ones", error)
        ),
        Effect.option
      )
      if (Option.isSome(rows)) apply(rows.value)
      readAt = now
    }))

    apply(yield* Effect.orDie(read))
    readAt = yield* Clock.currentTimeMillis

    const get = (tenantId: Ids.TenantId): Effect.Effect<Budget.BudgetLimits> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        now - readAt < intervalMillis
          ? Effect.succeed(state.get(tenantId))
          : Effect.map(refresh, () => state.get(tenantId)))

    const setTenantDaily = Effect.fn("BudgetLimitsStore.setTenantDaily")(function*(
      tenantId: Ids.TenantId,
      limit: Option.Option<Money.Money>
    ) {
      const daily = Option.getOrUndefined(limit)
      yield* nonNegative(daily, "tenant daily")
      // Incrementing the counter locks its row until the statement commits: writes are numbered in commit order.
      yield* sql`
        WITH counter AS (
          UPDATE budget_global_limits SET version = version + 1 RETURNING version
        )
        INSERT INTO budget_tenant_limits (tenant_id, daily_micros, version)
        SELECT ${tenantId}::text, ${micros(daily)}::bigint, version FROM counter
        ON CONFLICT (tenant_id) DO UPDATE SET
          daily_micros = excluded.daily_micros,
          version = excluded.version,
          updated_at = now()
      `.pipe(Effect.orDie)
      state.setTenant(tenantId, daily)
      return state.get(tenantId)
    })

    const setGlobal = Effect.fn("BudgetLimitsStore.setGlobal")(function*(update: GlobalLimitsUpdate) {
      yield* checkGlobal(update)
      const rows = yield* sql<LimitRow>`
        UPDATE budget_global_limits SET
          daily_micros = coalesce(${micros(update.daily)}::bigint, daily_micros),
          monthly_micros = coalesce(${micros(update.monthly)}::bigint, monthly_micros),
          version = version + 1,
          updated_at = now()
        RETURNING NULL::text AS tenant_id, daily_micros, monthly_micros, version
      `.pipe(Effect.orDie)
      // Only the global row: the tenant rows are read in version order by `refresh`.
      for (const row of rows) state.setGlobal(money(row.daily_micros), money(row.monthly_micros))
      return state.defaults()
    })

    return BudgetLimitsStore.of({ get, setTenantDaily, setGlobal })
  })

// ---------------------------------------------------------------------------------------------------------------
// service

/**
 * The budget limits in force.
 *
 * @category services
 */
export class BudgetLimitsStore extends Context.Service<BudgetLimitsStore, {
  /** The limits that apply to a tenant's spending now (`tenantDaily`: this tenant's). */
  readonly get: (tenantId: Ids.TenantId) => Effect.Effect<Budget.BudgetLimits>
  /** Sets a tenant's daily limit (`None`: no daily limit); the tenant's limits from now on. */
  readonly setTenantDaily: (
    tenantId: Ids.TenantId,
    limit: Option.Option<Money.Money>
  ) => Effect.Effect<Budget.BudgetLimits>
  /**
   * Sets the global limits present in the update; the limits from now on of a tenant whose daily limit was never
   * set (`tenantDaily`: the configured one).
   */
  readonly setGlobal: (update: GlobalLimitsUpdate) => Effect.Effect<Budget.BudgetLimits>
}>()("@ytempire/runtime/BudgetLimitsStore") {
  /**
   * Limits in memory over the configured ones, for tests and the in-memory mode.
   *
   * @category layers
   */
  static readonly layerMemory = (configured: Budget.BudgetLimits): Layer.Layer<BudgetLimitsStore> =>
    Layer.sync(BudgetLimitsStore)(() => BudgetLimitsStore.of(makeMemory(configured)))

  /**
   * Limits in Postgres (tables `budget_global_limits` and `budget_tenant_limits`) over the configured ones,
   * shared by every process on the database; each process re-reads what changed at most every `refreshInterval`
   * (default 2 seconds), on the first `get` after it. Building the layer applies the runtime's pending
   * migrations and reads the limits.
   *
   * @category layers
   */
  static readonly layerSql = (
    configured: Budget.BudgetLimits,
    options: { readonly refreshInterval?: Duration.Input | undefined } = {}
  ): Layer.Layer<BudgetLimitsStore, never, SqlClient.SqlClient> =>
    Layer.effect(BudgetLimitsStore)(makeSql(configured, options.refreshInterval ?? "2 seconds"))
}
