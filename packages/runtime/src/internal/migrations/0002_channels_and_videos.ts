/**
 * The channel and video repositories' tables. Each row holds its record as the domain Schema encodes it
 * (`record`), beside the columns that queries filter and sort on, which are copied from the record on every
 * write.
 *
 * - `channels`: listed per tenant, oldest first.
 * - `videos`: listed newest request first, by tenant, channel or status: `requested_at DESC, seq DESC`, where
 *   `seq` numbers the rows in the order they were inserted, so that requests made in the same millisecond are
 *   listed in the order they came (the channel entity takes its queue oldest first from that order). `version`
 *   counts the writes of a row (1 after the insert), so that a watcher re-reading a row after a notification
 *   can tell a new state from one it has seen.
 *
 * Ids are ASCII (`Ids`), compared bytewise (`COLLATE "C"`), as JavaScript compares them.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE channels (
      id text COLLATE "C" PRIMARY KEY,
      tenant_id text COLLATE "C" NOT NULL,
      status text NOT NULL,
      record jsonb NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )
  `
  yield* sql`CREATE INDEX channels_by_tenant ON channels (tenant_id, created_at, id)`
  yield* sql`
    CREATE TABLE videos (
      id text COLLATE "C" PRIMARY KEY,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      tenant_id text COLLATE "C" NOT NULL,
      channel_id text COLLATE "C" NOT NULL,
      status text NOT NULL,
      record jsonb NOT NULL,
      version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
      requested_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )
  `
  yield* sql`CREATE INDEX videos_by_tenant ON videos (tenant_id, requested_at DESC, seq DESC)`
  yield* sql`CREATE INDEX videos_by_channel ON videos (channel_id, requested_at DESC, seq DESC)`
  yield* sql`CREATE INDEX videos_by_status ON videos (status, requested_at DESC, seq DESC)`
})
