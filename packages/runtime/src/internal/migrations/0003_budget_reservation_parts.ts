/**
 * The settled parts of budget reservations (`BudgetLedger.settle`): a reservation taken for a whole video is
 * settled stage by stage, one row per part, written in the transaction that moves the part's amount from the
 * reservation's scopes' reserved spend into their committed spend. The primary key makes a settle idempotent;
 * `seq` keeps the parts in the order they were settled.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE budget_reservation_parts (
      reservation_id text NOT NULL REFERENCES budget_reservations (reservation_id),
      part_id text NOT NULL CHECK (part_id <> ''),
      seq bigint GENERATED ALWAYS AS IDENTITY,
      amount_micros bigint NOT NULL CHECK (amount_micros >= 0),
      settled_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (reservation_id, part_id)
    )
  `
})
