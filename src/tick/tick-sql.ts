// The tick as one statement: the due rows (due-sql.ts) locked, decided, updated and reported
// as change records (change-records.ts), with history events in the same statement.
import type { HistoryTables, PackagesTable } from '../table/packages-table.js';
import { isoLocal } from '../db/sql-fragments.js';
import { keyColumnsSql, keyMatchSql, packageIdAndNameSql } from '../table/key-sql.js';
import { recordEventsCte } from '../history/history-sql.js';
import { Params, type Statement } from '../db/params.js';
import { changeRecordsSql } from './change-records.js';
import { clockRefs, decisionsSql, dueRowsSql, validUntilTextSql, type ClockRefs, type ExpiryMode, type TickClock } from './due-sql.js';
import { lateMsSql, lateSecondsSql } from './lateness-sql.js';

/**
 * How the tick statement starts, in pg_stat_activity and pg_stat_statements; tickMarker adds
 * the table's name. pg_stat_activity.query is cut at track_activity_query_size (1 KB by
 * default), so the name is at the very start, not only after the CTEs.
 */
export const TICK_MARKER = '/* package-scheduler:tick ';

// The marker is a comment holding the table's name quoted as the tick quotes it. A quoted name
// may hold the characters that open or close a comment (PostgreSQL nests comments): a space
// splits each such pair, so the comment always ends where it should.
export function tickMarker(table: Pick<PackagesTable, 'quoted'>): string {
  return `${TICK_MARKER}${table.quoted.replaceAll('*/', '* /').replaceAll('/*', '/ *')} */`;
}

/**
 * What is reported of each row. `updated`: in the UPDATE's RETURNING, where `p` is the row as
 * stored, after the CRM's BEFORE UPDATE triggers: a change a trigger undid (is_active kept, the
 * schedule set again) is not reported, logged, counted or recorded, because it was not made.
 * `lateness` false: no late_ms (Citus plans the due instants' correlated subqueries only where
 * the whole statement goes to one shard, not over the rows the shards returned).
 */
export function reportColumnsSql(table: PackagesTable, expiry: ExpiryMode, c: ClockRefs, updated: boolean, lateness = !c.wallClock): string {
  const changes = updated
    ? `d.activate AND p.is_active IS TRUE AND p.scheduled IS NOT TRUE AS activate,
         d.skip_activation AND p.scheduled IS NOT TRUE AS skip_activation,
         d.deactivate AND p.is_active IS NOT TRUE AS deactivate`
    : 'd.activate, d.skip_activation, d.deactivate';
  return `
         ${packageIdAndNameSql(table)},
         ${changes},
         ${isoLocal('d.due_local')} AS due_at,
         ${lateSecondsSql(c)} AS late_seconds,
         ${validUntilTextSql(table.validUntilType)} AS valid_until,
         d.zone AS timezone,
         ${lateness ? lateMsSql(table, expiry, c) : 'NULL::numeric'} AS late_ms`;
}

/**
 * The UPDATE's SET list: what each decision (`d`) does to its row (`p`). `stamp`: updated_at's
 * value; the tick's instant, so every batch of a backlog stamps the same time (in a one-batch
 * tick it is the transaction's now(), which the clock read).
 */
export function setChangesSql(table: PackagesTable, stamp = 'now()'): string {
  return `is_active = CASE WHEN d.activate THEN true WHEN d.deactivate THEN false ELSE p.is_active END,
         scheduled = CASE WHEN d.activate OR d.skip_activation THEN false ELSE p.scheduled END${table.hasUpdatedAt ? `,
         updated_at = ${stamp}` : ''}`;
}

export interface EventRecording {
  tables: HistoryTables;
  runId: string;
  /** The packages table's display name, as history rows name it. */
  tableName: string;
}

/**
 * The real tick: lock due rows, update them, and report each change. With history, the same
 * statement records one event per change.
 *
 * The UPDATE finds each locked row by key (a join of the decisions to the table). Narrowing it
 * to the locked rows first was tried and dropped (docs/performance.md): by ctid it missed rows
 * another session had just updated (a ctid names the newest version, which the snapshot cannot
 * see); by `key = ANY (locked keys)` the planner, which guesses ten keys, could pick a nested
 * loop over every locked row for each (a unique index of another collation, stale statistics).
 * The join alone degrades gracefully, and measured within the noise of the key narrowing.
 */
export function applyTickStatement(table: PackagesTable, expiry: ExpiryMode, clock: TickClock, history?: EventRecording, maxRows?: number): Statement {
  const params = new Params();
  const c = clockRefs(params, table, clock);
  const limit = maxRows === undefined ? undefined : params.add(maxRows, 'int');
  const recorded = history
    ? `, ${recordEventsCte(history.tables, { runId: params.add(history.runId, 'uuid'), tableName: params.add(history.tableName, 'text'), defaultZone: c.defaultZone })}`
    : '';
  return params.statement(`${tickMarker(table)}
WITH due AS (${dueRowsSql(table, expiry, c, { limit })}
), decisions AS (${decisionsSql(table)}
), changed AS (
  UPDATE ${table.quoted} AS p
     SET ${setChangesSql(table, c.instant)}
    FROM decisions AS d
   WHERE ${keyMatchSql(table, 'p', 'd', 'key_')}
  RETURNING ${keyColumnsSql(table, 'p', 'sort_')},${reportColumnsSql(table, expiry, c, true)}
)${recorded}
${changeRecordsSql(table)}`);
}

/** The dry run: the same selection and decisions, read-only and without row locks. */
export function previewTickStatement(table: PackagesTable, expiry: ExpiryMode, clock: TickClock): Statement {
  const params = new Params();
  const c = clockRefs(params, table, clock);
  return params.statement(`${tickMarker(table)}
WITH due AS (${dueRowsSql(table, expiry, c, false)}
), decisions AS (${decisionsSql(table)}
), changed AS (
  SELECT ${keyColumnsSql(table, 'p', 'sort_')},${reportColumnsSql(table, expiry, c, false)}
    FROM decisions AS d
    JOIN ${table.quoted} AS p ON ${keyMatchSql(table, 'p', 'd', 'key_')}
)
${changeRecordsSql(table)}`);
}

