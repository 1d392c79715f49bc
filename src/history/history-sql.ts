// Run history: one state row per packages table (upserted every tick, never grows) and one
// event row per change (written by the tick's own statement, so a rolled-back tick leaves
// none). Identifiers come from historyTables(), already quoted.
import { quoteQualified } from '../table/identifiers.js';
import { EVENTS_TABLE, STATE_TABLE, type HistoryTables } from './tables.js';
export { EVENTS_TABLE, STATE_TABLE } from './tables.js';
import { Params, type Statement } from '../db/params.js';


export function historyDdl(schema?: string): string {
  return historyDdlStatements(schema).join(';\n\n') + ';';
}

/**
 * The same DDL, one statement each: Citus, creating a table in a distributed schema, refuses a
 * query string of several commands ("cannot insert multiple commands into a prepared statement").
 */
export function historyDdlStatements(schema?: string): string[] {
  const state = quoteQualified({ schema, name: STATE_TABLE });
  const events = quoteQualified({ schema, name: EVENTS_TABLE });
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
  ON ${events} (happened_at)`.split(/;\n\n/);
}

/**
 * A CTE for the tick statement: one event row per action taken on a row of `changed` (with
 * the zone that row was evaluated in). Takes references to the run id, table name and default zone.
 */
export function recordEventsCte(history: HistoryTables, refs: { runId: string; tableName: string; defaultZone: string }): string {
  return `recorded AS (
  INSERT INTO ${history.events} (run_id, packages_table, package_id, action, reason, due_at, valid_until, timezone)
  SELECT ${refs.runId}, ${refs.tableName}, c.package_id, a.action, a.reason,
         CASE WHEN a.action = 'deactivated' THEN NULL ELSE c.due_at END, c.valid_until, coalesce(c.timezone, ${refs.defaultZone})
    FROM changed AS c
   CROSS JOIN LATERAL (VALUES ('activated', NULL, c.activate),
                              ('activation_skipped', 'expired', c.skip_activation),
                              ('deactivated', NULL, c.deactivate)) AS a(action, reason, applies)
   WHERE a.applies
)`;
}

/** Who ran a tick: recorded in the state row. */
export interface Runner {
  version: string;
  host: string;
}

interface TickIdentity {
  tableName: string;
  runId: string;
  runner: Runner;
}

/**
 * Upserts the state row with exactly the columns given (column → SQL expression; `f.finished`
 * is the end of the tick); the columns not given keep their values, e.g. the last success
 * across a failed tick.
 */
function upsertState(history: HistoryTables, tick: TickIdentity, params: Params, set: Record<string, string>): Statement {
  const columns: Record<string, string> = {
    packages_table: params.add(tick.tableName, 'text'),
    last_run_id: params.add(tick.runId, 'uuid'),
    last_tick_started_at: 'now()',
    last_tick_finished_at: 'f.finished',
    ...set,
    runner_version: params.add(tick.runner.version, 'text'),
    runner_host: params.add(tick.runner.host, 'text'),
  };
  const names = Object.keys(columns);
  return params.statement(`
INSERT INTO ${history.state} AS s (${names.join(', ')})
SELECT ${Object.values(columns).join(', ')}
  FROM (SELECT clock_timestamp() AS finished) AS f -- read once: a success ends when the tick does
ON CONFLICT (packages_table) DO UPDATE
   SET ${names.filter((n) => n !== 'packages_table').map((n) => `${n} = EXCLUDED.${n}`).join(',\n       ')}`);
}

/** Inside the tick's transaction. */
export function recordCompletedStatement(
  history: HistoryTables,
  tick: TickIdentity,
  counts: { activated: number; deactivated: number; activationSkipped: number },
): Statement {
  const params = new Params();
  return upsertState(history, tick, params, {
    last_success_at: 'f.finished',
    last_outcome: `'completed'`,
    last_error_code: 'NULL',
    last_error_message: 'NULL',
    last_activated: params.add(counts.activated, 'int'),
    last_deactivated: params.add(counts.deactivated, 'int'),
    last_activation_skipped: params.add(counts.activationSkipped, 'int'),
  });
}

/** After a rolled-back tick, in its own short transaction. */
export function recordFailedStatement(history: HistoryTables, tick: TickIdentity, error: { code: string | null; message: string }): Statement {
  const params = new Params();
  return upsertState(history, tick, params, {
    last_outcome: `'failed'`,
    last_error_code: params.add(error.code, 'text'),
    last_error_message: params.add(error.message, 'text'),
  });
}

/**
 * A run that found the table lock taken. The lock holder updates the same row, so this
 * never waits for it: if the row is locked, the holder's outcome is the one to keep.
 */
export function recordSkippedStatement(history: HistoryTables, tick: TickIdentity): Statement {
  const params = new Params();
  const tableName = params.add(tick.tableName, 'text');
  return params.statement(`
UPDATE ${history.state} AS s
   SET last_run_id = ${params.add(tick.runId, 'uuid')}, last_tick_started_at = now(), last_tick_finished_at = clock_timestamp(),
       last_outcome = 'skipped', last_error_code = NULL, last_error_message = NULL,
       runner_version = ${params.add(tick.runner.version, 'text')}, runner_host = ${params.add(tick.runner.host, 'text')}
 WHERE s.packages_table = (SELECT packages_table FROM ${history.state}
                            WHERE packages_table = ${tableName} FOR UPDATE SKIP LOCKED)`);
}

/**
 * Retention, a small batch per tick so no tick ever deletes for long. An old event locked by
 * someone else (an archiving job) is skipped, not waited for: a later tick deletes it.
 */
export function pruneEventsStatement(history: HistoryTables, retentionDays: number, batch: number): Statement {
  const params = new Params();
  return params.statement(`
DELETE FROM ${history.events}
 WHERE id IN (SELECT id FROM ${history.events}
               WHERE happened_at < now() - make_interval(days => ${params.add(retentionDays, 'int')})
               ORDER BY happened_at
               LIMIT ${params.add(batch, 'int')}
                 FOR UPDATE SKIP LOCKED)`);
}
