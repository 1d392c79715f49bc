// The tick as one statement. Parameters: $1 the tick's instant (timestamptz), $2 the
// business zone. Identifiers come from resolvePackagesTable, already quoted.
//
// L = $1 seen in the zone (a local timestamp), D = L's date. Every comparison is written so
// the migration's partial indexes can serve it (see sql/add_package_scheduling.sql).
import type { HistoryTables, PackagesTable } from '../table.js';
import { recordEventsCte } from './history-sql.js';

export type ExpiryMode = 'date' | 'instant';

const L = `($1::timestamptz AT TIME ZONE $2::text)`;
const D = `(${L})::date`;

/** "valid_until has passed" (rule 4), as a range condition on the bare column. */
export function validUntilPassedSql(type: PackagesTable['validUntilType'], mode: ExpiryMode): string {
  if (type === 'date') return `p.valid_until < ${D}`;
  if (type === 'timestamp') {
    // date mode: valid_until::date < D  <=>  valid_until < D 00:00
    return mode === 'instant' ? `p.valid_until < ${L}` : `p.valid_until < ${D}::timestamp`;
  }
  // timestamptz, date mode: its local date < D  <=>  it is before the first instant of D in the zone
  return mode === 'instant'
    ? `p.valid_until < $1::timestamptz`
    : `p.valid_until < (${D}::timestamp AT TIME ZONE $2::text)`;
}

/** The wall-clock time in the zone from which valid_until counts as passed (for `status`). */
export function deactivationDueLocalSql(type: PackagesTable['validUntilType'], mode: ExpiryMode): string {
  const at =
    type === 'date'
      ? `(p.valid_until + 1)::timestamp`
      : type === 'timestamp'
        ? mode === 'instant' ? `p.valid_until` : `(p.valid_until::date + 1)::timestamp`
        : mode === 'instant' ? `(p.valid_until AT TIME ZONE $2::text)` : `((p.valid_until AT TIME ZONE $2::text)::date + 1)::timestamp`;
  // infinity never passes; dates past the timestamp range would raise instead of sorting last.
  return `(CASE WHEN isfinite(p.valid_until) AND p.valid_until < '294276-01-01' THEN ${at} END)`;
}

/** valid_until as log text; `infinity` and `-infinity` stay themselves (to_char gives NULL). */
export function validUntilTextSql(type: PackagesTable['validUntilType']): string {
  const formatted =
    type === 'date'
      ? `to_char(p.valid_until, 'YYYY-MM-DD')`
      : type === 'timestamp'
        ? `to_char(p.valid_until, 'YYYY-MM-DD"T"HH24:MI:SS')`
        : `to_char(p.valid_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
  return `CASE WHEN isfinite(p.valid_until) THEN ${formatted} ELSE p.valid_until::text END`;
}

/**
 * The rows a tick acts on, with what to do to each. In a real run the rows are locked with
 * SKIP LOCKED: a row an admin is editing is left for the next tick, never waited on.
 */
function dueRowsSql(table: PackagesTable, expiry: ExpiryMode, lockRows: boolean): string {
  const passed = validUntilPassedSql(table.validUntilType, expiry);
  const dueLocal = `(p.schedule_date + coalesce(p.schedule_time, time '00:00'))`;
  // CASE fixes the order: date + time is computed only for dates up to today, so a schedule_date
  // beyond the timestamp range (year 294276) never raises "timestamp out of range".
  const activationDue = `p.scheduled AND p.auto_activate AND p.schedule_date <= ${D}
                         AND CASE WHEN p.schedule_date <= ${D} THEN ${dueLocal} <= ${L} ELSE false END`;
  const deactivationDue = `p.is_active AND p.auto_deactivate AND ${passed}`;
  return `
  SELECT p.${table.keyColumn} AS key,
         (${activationDue}) IS TRUE AS activation_due,
         (p.valid_until IS NOT NULL AND ${passed}) IS TRUE AS expired,
         (${deactivationDue}) IS TRUE AS deactivation_due,
         CASE WHEN p.schedule_date <= ${D} THEN ${dueLocal} END AS due_local
    FROM ${table.quoted} AS p
   WHERE (${activationDue})
      OR (${deactivationDue})${lockRows ? `
     FOR UPDATE OF p SKIP LOCKED` : ''}`;
}

// What each due row becomes (rules 1-3). A row can be both expired-before-activation and
// deactivated: it is already active, its schedule is consumed and it is switched off.
const DECISIONS_SQL = `
  SELECT key, due_local,
         activation_due AND NOT expired AS activate,
         activation_due AND expired AS skip_activation,
         deactivation_due AS deactivate
    FROM due`;

function reportColumnsSql(table: PackagesTable): string {
  return `
         p.${table.keyColumn}::text AS package_id,
         ${table.nameColumn ? `p.${table.nameColumn}::text` : 'NULL::text'} AS name,
         d.activate, d.skip_activation, d.deactivate,
         to_char(d.due_local, 'YYYY-MM-DD"T"HH24:MI:SS') AS due_at,
         -- Real seconds since the due instant. An ambiguous wall-clock time (the repeated hour
         -- when DST ends) converts to its later occurrence, but activates at the first: not late.
         CASE WHEN d.activate OR d.skip_activation
              THEN greatest(0, floor(extract(epoch FROM $1::timestamptz - (d.due_local AT TIME ZONE $2::text))))::bigint END AS late_seconds,
         ${validUntilTextSql(table.validUntilType)} AS valid_until`;
}

/**
 * The real tick: lock due rows, update them, and report each change. With history, the same
 * statement records one event per change (extra parameters: $3 run id, $4 table name).
 */
export function applyTickSql(table: PackagesTable, expiry: ExpiryMode, history?: HistoryTables): string {
  return `
WITH due AS (${dueRowsSql(table, expiry, true)}
), decisions AS (${DECISIONS_SQL}
), changed AS (
  UPDATE ${table.quoted} AS p
     SET is_active = CASE WHEN d.activate THEN true WHEN d.deactivate THEN false ELSE p.is_active END,
         scheduled = CASE WHEN d.activate OR d.skip_activation THEN false ELSE p.scheduled END${table.hasUpdatedAt ? `,
         updated_at = now()` : ''}
    FROM decisions AS d
   WHERE p.${table.keyColumn} = d.key
  RETURNING p.${table.keyColumn} AS sort_key,${reportColumnsSql(table)}
)${history ? `, ${recordEventsCte(history)}` : ''}
SELECT * FROM changed ORDER BY sort_key`;
}

/** The dry run: the same selection and decisions, read-only and without row locks. */
export function previewTickSql(table: PackagesTable, expiry: ExpiryMode): string {
  return `
WITH due AS (${dueRowsSql(table, expiry, false)}
), decisions AS (${DECISIONS_SQL}
)
SELECT p.${table.keyColumn} AS sort_key,${reportColumnsSql(table)}
  FROM decisions AS d
  JOIN ${table.quoted} AS p ON p.${table.keyColumn} = d.key
 ORDER BY sort_key`;
}

export interface TickRow {
  sort_key: unknown;
  package_id: string;
  name: string | null;
  activate: boolean;
  skip_activation: boolean;
  deactivate: boolean;
  due_at: string | null;
  late_seconds: string | null; // bigint arrives as text
  valid_until: string | null;
}
