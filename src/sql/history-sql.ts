// Run history: one state row per packages table (upserted every tick, never grows) and one
// event row per change (written by the tick's own statement, so a rolled-back tick leaves
// none). Identifiers come from historyTables(), already quoted.
import { quoteQualified } from '../identifiers.js';
import type { HistoryTables } from '../table.js';

export function historyDdl(schema?: string): string {
  const state = quoteQualified({ schema, name: 'package_scheduler_state' });
  const events = quoteQualified({ schema, name: 'package_scheduler_events' });
  return `CREATE TABLE IF NOT EXISTS ${state} (
  packages_table          text PRIMARY KEY,
  last_run_id             uuid,
  last_tick_started_at    timestamptz,
  last_tick_finished_at   timestamptz,
  last_success_at         timestamptz,
  last_outcome            text CHECK (last_outcome IN ('completed', 'skipped', 'failed')),
  last_error_code         text,
  last_error_message      text,
  last_activated          integer,
  last_deactivated        integer,
  last_activation_skipped integer,
  runner_version          text,
  runner_host             text
);

CREATE TABLE IF NOT EXISTS ${events} (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id         uuid NOT NULL,
  packages_table text NOT NULL,
  package_id     text NOT NULL,
  action         text NOT NULL CHECK (action IN ('activated', 'deactivated', 'activation_skipped')),
  reason         text,
  due_at         text,
  valid_until    text,
  timezone       text NOT NULL,
  happened_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS package_scheduler_events_package_idx
  ON ${events} (packages_table, package_id, happened_at DESC);

CREATE INDEX IF NOT EXISTS package_scheduler_events_happened_at_idx
  ON ${events} (happened_at);`;
}

/**
 * A CTE for the tick statement: one event row per action taken on a row of `changed`.
 * Parameters: $2 zone, $3 run id, $4 packages table name.
 */
export function recordEventsCte(history: HistoryTables): string {
  return `recorded AS (
  INSERT INTO ${history.events} (run_id, packages_table, package_id, action, reason, due_at, valid_until, timezone)
  SELECT $3::uuid, $4::text, c.package_id, a.action, a.reason,
         CASE WHEN a.action = 'deactivated' THEN NULL ELSE c.due_at END, c.valid_until, $2::text
    FROM changed AS c
   CROSS JOIN LATERAL (VALUES ('activated', NULL, c.activate),
                              ('activation_skipped', 'expired', c.skip_activation),
                              ('deactivated', NULL, c.deactivate)) AS a(action, reason, applies)
   WHERE a.applies
)`;
}

/** $1 table, $2 run id, $3-$5 counts, $6 version, $7 host. Inside the tick's transaction. */
export function recordCompletedSql(history: HistoryTables): string {
  return `
INSERT INTO ${history.state} AS s
       (packages_table, last_run_id, last_tick_started_at, last_tick_finished_at, last_success_at, last_outcome,
        last_error_code, last_error_message, last_activated, last_deactivated, last_activation_skipped,
        runner_version, runner_host)
VALUES ($1::text, $2::uuid, now(), clock_timestamp(), clock_timestamp(), 'completed',
        NULL, NULL, $3::int, $4::int, $5::int, $6::text, $7::text)
ON CONFLICT (packages_table) DO UPDATE
   SET last_run_id = EXCLUDED.last_run_id,
       last_tick_started_at = EXCLUDED.last_tick_started_at,
       last_tick_finished_at = EXCLUDED.last_tick_finished_at,
       last_success_at = EXCLUDED.last_success_at,
       last_outcome = EXCLUDED.last_outcome,
       last_error_code = NULL,
       last_error_message = NULL,
       last_activated = EXCLUDED.last_activated,
       last_deactivated = EXCLUDED.last_deactivated,
       last_activation_skipped = EXCLUDED.last_activation_skipped,
       runner_version = EXCLUDED.runner_version,
       runner_host = EXCLUDED.runner_host`;
}

/**
 * A run that found the table lock taken. The lock holder updates the same row, so this
 * never waits for it: if the row is locked, the holder's outcome is the one to keep.
 * $1 table, $2 run id, $3 version, $4 host.
 */
export function recordSkippedSql(history: HistoryTables): string {
  return `
UPDATE ${history.state} AS s
   SET last_run_id = $2::uuid, last_tick_started_at = now(), last_tick_finished_at = clock_timestamp(),
       last_outcome = 'skipped', last_error_code = NULL, last_error_message = NULL,
       runner_version = $3::text, runner_host = $4::text
 WHERE s.packages_table = (SELECT packages_table FROM ${history.state}
                            WHERE packages_table = $1::text FOR UPDATE SKIP LOCKED)`;
}

/** After a rolled-back tick, in its own short transaction. $1 table, $2 run id, $3 code, $4 message, $5 version, $6 host. */
export function recordFailedSql(history: HistoryTables): string {
  return `
INSERT INTO ${history.state} AS s
       (packages_table, last_run_id, last_tick_started_at, last_tick_finished_at, last_outcome,
        last_error_code, last_error_message, runner_version, runner_host)
VALUES ($1::text, $2::uuid, now(), clock_timestamp(), 'failed', $3::text, $4::text, $5::text, $6::text)
ON CONFLICT (packages_table) DO UPDATE
   SET last_run_id = EXCLUDED.last_run_id,
       last_tick_started_at = EXCLUDED.last_tick_started_at,
       last_tick_finished_at = EXCLUDED.last_tick_finished_at,
       last_outcome = 'failed',
       last_error_code = EXCLUDED.last_error_code,
       last_error_message = EXCLUDED.last_error_message,
       runner_version = EXCLUDED.runner_version,
       runner_host = EXCLUDED.runner_host`;
}

/** Retention, a small batch per tick so no tick ever deletes for long. $1 days, $2 batch size. */
export function pruneEventsSql(history: HistoryTables): string {
  return `
DELETE FROM ${history.events}
 WHERE id IN (SELECT id FROM ${history.events}
               WHERE happened_at < now() - make_interval(days => $1::int)
               ORDER BY happened_at
               LIMIT $2::int)`;
}
