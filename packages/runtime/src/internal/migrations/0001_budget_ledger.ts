/**
 * The budget ledger's tables: one row per scope and period, one per reservation, and the threshold alerts
 * (emitted once per scope row; `published_at` is the outbox mark).
 *
 * Money columns are integer micro-dollars (`bigint`). The `budget_scopes_within_limit` check is the ledger's
 * invariant, enforced by the database as a last line of defence: a bug that would over-commit a limited scope
 * fails its transaction instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE budget_scopes (
      scope_key text PRIMARY KEY,
      scope jsonb NOT NULL,
      limit_micros bigint CHECK (limit_micros >= 0),
      committed_micros bigint NOT NULL DEFAULT 0 CHECK (committed_micros >= 0),
      reserved_micros bigint NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
      alerted_percent integer NOT NULL DEFAULT 0 CHECK (alerted_percent BETWEEN 0 AND 100),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT budget_scopes_within_limit
        CHECK (limit_micros IS NULL OR committed_micros + reserved_micros <= limit_micros)
    )
  `
  yield* sql`
    CREATE TABLE budget_reservations (
      reservation_id text PRIMARY KEY,
      scope_keys text[] NOT NULL,
      amount_micros bigint NOT NULL CHECK (amount_micros >= 0),
      state text NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'committed', 'released')),
      actual_micros bigint CHECK (actual_micros >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      settled_at timestamptz,
      CONSTRAINT budget_reservations_actual_when_committed CHECK ((state = 'committed') = (actual_micros IS NOT NULL))
    )
  `
  // Open reservations by age, for a sweeper of reservations abandoned by a crashed caller.
  yield* sql`CREATE INDEX budget_reservations_open ON budget_reservations (created_at) WHERE state = 'reserved'`
  yield* sql`
    CREATE TABLE budget_alerts (
      alert_id bigserial PRIMARY KEY,
      scope_key text NOT NULL REFERENCES budget_scopes (scope_key),
      threshold_percent integer NOT NULL CHECK (threshold_percent BETWEEN 1 AND 100),
      spent_micros bigint NOT NULL,
      limit_micros bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz,
      CONSTRAINT budget_alerts_once UNIQUE (scope_key, threshold_percent)
    )
  `
  yield* sql`CREATE INDEX budget_alerts_unpublished ON budget_alerts (alert_id) WHERE published_at IS NULL`
})
