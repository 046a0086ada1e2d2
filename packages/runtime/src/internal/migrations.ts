/**
 * The runtime's SQL migrations, run by effect's `Migrator` and recorded in `ytempire_migrations`.
 *
 * To add one, write `migrations/NNNN_name.ts` (its default export an `Effect` needing `SqlClient`) and add it
 * to the record below under the key `"NNNN_name"`; ids only grow, and a released migration never changes.
 * Every storage layer runs `run` while it is built: it is idempotent, and concurrent runs (several layers, or
 * several processes) serialise on a lock of the migrations table.
 */
import type { Effect } from "effect"
import { Migrator, type SqlClient, type SqlError } from "effect/sql"
import BudgetLedger0001 from "./migrations/0001_budget_ledger.ts"
import ChannelsAndVideos0002 from "./migrations/0002_channels_and_videos.ts"
import BudgetReservationParts0003 from "./migrations/0003_budget_reservation_parts.ts"
import BudgetReservationSettled0004 from "./migrations/0004_budget_reservation_settled.ts"
import BudgetLimits0005 from "./migrations/0005_budget_limits.ts"

/** The table in which applied migrations are recorded. */
export const table = "ytempire_migrations"

/** All migrations, keyed `<id>_<name>`. */
export const loader: Migrator.Loader = Migrator.fromRecord({
  "0001_budget_ledger": BudgetLedger0001,
  "0002_channels_and_videos": ChannelsAndVideos0002,
  "0003_budget_reservation_parts": BudgetReservationParts0003,
  "0004_budget_reservation_settled": BudgetReservationSettled0004,
  "0005_budget_limits": BudgetLimits0005
})

/** Applies the pending migrations; the ids and names of those it applied. */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({ loader, table })
