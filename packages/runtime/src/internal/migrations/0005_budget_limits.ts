/**
 * The budget limits changed at run time (`BudgetLimitsStore.layerSql`), over the limits the runtime is
 * configured with:
 *
 * - `budget_global_limits`: one row; the operation's daily and monthly limits (`NULL`: the configured one), and
 *   `version`, a counter that every write of either table increments. Incrementing it locks the row until the
 *   writing transaction ends, so writes are numbered in the order they commit.
 * - `budget_tenant_limits`: a tenant's daily limit (`NULL`: none), for tenants whose limit was set; the others
 *   have the configured one. `version` is the counter's value at the row's last write, so that a process re-reads
 *   only the rows written since it last looked.
 *
 * Money columns are integer micro-dollars.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE budget_global_limits (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      daily_micros bigint CHECK (daily_micros >= 0),
      monthly_micros bigint CHECK (monthly_micros >= 0),
      version bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`INSERT INTO budget_global_limits (id) VALUES (true)`
  yield* sql`
    CREATE TABLE budget_tenant_limits (
      tenant_id text COLLATE "C" PRIMARY KEY,
      daily_micros bigint CHECK (daily_micros >= 0),
      version bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`CREATE INDEX budget_tenant_limits_by_version ON budget_tenant_limits (version)`
})
