/**
 * What the settled parts of each reservation add up to, kept on the reservation's row (`settled_micros`), so
 * that settling a part within what the reservation still holds is one guarded statement: the row's update checks
 * `amount_micros - settled_micros >= part` on the row as it is when the statement gets its lock, which a sum over
 * the parts read in the statement's snapshot could not. Every write of a part adds to it in the same statement
 * or transaction.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE budget_reservations
    ADD COLUMN settled_micros bigint NOT NULL DEFAULT 0 CHECK (settled_micros >= 0)
  `
  yield* sql`
    UPDATE budget_reservations AS reservations
    SET settled_micros = parts.total
    FROM (
      SELECT reservation_id, sum(amount_micros) AS total FROM budget_reservation_parts GROUP BY reservation_id
    ) AS parts
    WHERE parts.reservation_id = reservations.reservation_id
  `
})
