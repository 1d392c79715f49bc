// What is due, defined once: the rules as SQL conditions over the packages table `p`, used by
// the tick statement (tick-sql.ts), its zone guard, check and status. Identifiers come from
// resolvePackagesTable, already quoted; the instant and the zone arrive as parameter references
// (see db/params.ts).
//
// L = the instant seen in the zone (a local timestamp), D = L's date. Every comparison is
// written so the migration's partial indexes can serve it (see sql/add_package_scheduling.sql).
import type { PackagesTable } from '../table/packages-table.js';
import { isoLocal, isoUtc } from '../db/sql-fragments.js';
import { carriedKeySql, keyColumnsSql } from '../table/key-sql.js';
import type { Params } from '../db/params.js';
import { ZONE_NAME_PATTERN } from '../config/zone-name.js';

import { activationInstantSql, expiryInstantSql, type ExpiryMode } from './due-instants.js';
import { managedByCitus } from '../citus/topology.js';
export { activationInstantSql, expiryInstantSql, firstInstantAtOrAfterSql, SAFE_DATES, type ExpiryMode } from './due-instants.js';

/**
 * The tick's clock in SQL: a reference to its instant (timestamptz), and the zone of the row
 * being evaluated: the default zone's reference or, with per-row zones, an expression over
 * the row. `unknownZones` (per-row only) references a text[] of zones to leave alone.
 */
export interface ClockRefs {
  instant: string;
  zone: string;
  /** The default zone's reference (`zone` itself without per-row zones). */
  defaultZone: string;
  perRow?: { unknownZones: string };
  /**
   * Compare wall-clock times only, never the due instants (Citus: their correlated subqueries
   * cannot be planned over distributed rows). The same rule: a wall clock passes a time exactly
   * at that time's first instant (a skipped time: when the clock jumps past it; a repeated
   * one: at its first occurrence), which is what the instants compute for the watcher.
   */
  wallClock?: boolean;
}

const local = (c: ClockRefs) => `(${c.instant} AT TIME ZONE ${c.zone})`;
/** D: the tick's instant's date in the zone. */
export const localDate = (c: ClockRefs) => `(${local(c)})::date`;

/**
 * "valid_until has passed" (rule 4): a range condition on the bare column (so the partial index
 * serves it) that is exact two days or more into the past, and within those two days the rule
 * itself: the expiry instant (expiryInstantSql) has come.
 */
export function validUntilPassedSql(type: PackagesTable['validUntilType'], mode: ExpiryMode, c: ClockRefs): string {
  if (c.wallClock) return validUntilRangeSql(type, mode, c);
  return `${validUntilRangeSql(type, mode, c)}
                         AND CASE WHEN ${farPastSql(type, c)} THEN true ELSE ${expiryInstantSql(type, mode, c.zone)} <= ${c.instant} END`;
}

/** valid_until two days or more before D: passed at any time of that day, in any mode. */
export function farPastSql(type: PackagesTable['validUntilType'], c: ClockRefs): string {
  if (type === 'date') return `p.valid_until < ${localDate(c)} - 2`;
  if (type === 'timestamp') return `p.valid_until < ${local(c)} - interval '2 days'`;
  return `p.valid_until < ${c.instant} - interval '2 days'`;
}

function validUntilRangeSql(type: PackagesTable['validUntilType'], mode: ExpiryMode, c: ClockRefs): string {
  if (type === 'date') return `p.valid_until < ${localDate(c)}`;
  if (type === 'timestamp') {
    // date mode: valid_until::date < D  <=>  valid_until < D 00:00
    return mode === 'instant' ? `p.valid_until < ${local(c)}` : `p.valid_until < ${localDate(c)}::timestamp`;
  }
  if (mode === 'instant') return `p.valid_until < ${c.instant}`;
  // timestamptz, date mode: its local date < D. Where local midnight repeats (Atlantic/Azores
  // and America/Havana when DST ends), "D 00:00 AT TIME ZONE" is the later of its two instants,
  // an hour after D began: the range alone would expire a package valid through D in D's first
  // hour. The range serves the index; the date test, on the few rows in it, is the rule itself.
  return `p.valid_until < (${localDate(c)}::timestamp AT TIME ZONE ${c.zone})
                         AND (p.valid_until AT TIME ZONE ${c.zone})::date < ${localDate(c)}`;
}

/** The wall-clock time in the zone from which valid_until counts as passed (for `status`). */
export function deactivationDueLocalSql(type: PackagesTable['validUntilType'], mode: ExpiryMode, zone: string): string {
  const at =
    type === 'date'
      ? `(p.valid_until + 1)::timestamp`
      : type === 'timestamp'
        ? mode === 'instant' ? `p.valid_until` : `(p.valid_until::date + 1)::timestamp`
        : mode === 'instant' ? `(p.valid_until AT TIME ZONE ${zone})` : `((p.valid_until AT TIME ZONE ${zone})::date + 1)::timestamp`;
  // infinity never passes; dates past the timestamp range would raise instead of sorting last.
  return `(CASE WHEN isfinite(p.valid_until) AND p.valid_until < '294276-01-01' THEN ${at} END)`;
}

/** valid_until as log text; `infinity` and `-infinity` stay themselves (to_char gives NULL). */
export function validUntilTextSql(type: PackagesTable['validUntilType']): string {
  const formatted =
    type === 'date'
      ? `to_char(p.valid_until, 'YYYY-MM-DD')`
      : type === 'timestamp'
        ? isoLocal('p.valid_until')
        : isoUtc('p.valid_until');
  return `CASE WHEN isfinite(p.valid_until) THEN ${formatted} ELSE p.valid_until::text END`;
}

/**
 * Per-row zones only: conditions on the bare columns that every due row meets whatever its
 * zone, because no zone's local time is later than UTC + 14 hours. They let the partial
 * indexes narrow the candidates before the exact comparison in each row's zone.
 */
export function candidateSql(table: PackagesTable, expiry: ExpiryMode, instant: string): { activation: string; deactivation: string } {
  // No zone is ahead of UTC by more than 14 hours (Pacific/Kiritimati): no local time is later.
  const latestLocal = `((${instant} AT TIME ZONE 'UTC') + interval '14 hours')`;
  const latestDate = `(${latestLocal})::date`;
  const deactivation =
    table.validUntilType === 'date'
      ? `p.valid_until < ${latestDate}`
      : table.validUntilType === 'timestamp'
        ? expiry === 'instant' ? `p.valid_until < ${latestLocal}` : `p.valid_until < ${latestDate}::timestamp`
        : `p.valid_until < ${instant}`; // a local day starts at or before now, in any zone
  return {
    activation: `p.scheduled AND p.auto_activate AND p.schedule_date <= ${latestDate}`,
    deactivation: `p.is_active AND p.auto_deactivate AND ${deactivation}`,
  };
}

/** The packages table with what per-row zones need joined to it, as `p` (and `z`). */
export function packagesFromSql(table: PackagesTable): string {
  return `${table.quoted} AS p${table.zone?.join ? ` ${table.zone.join}` : ''}`;
}

/**
 * The rows a tick acts on, with what to do to each. In a real run the rows are locked with
 * SKIP LOCKED: a row an admin is editing is left for the next tick, never waited on. The lock
 * is FOR NO KEY UPDATE, the one the UPDATE of non-key columns takes anyway: FOR UPDATE would
 * conflict with the KEY SHARE lock of a customer's open INSERT of a booking that references the
 * package (SKIP LOCKED would hide the package), and would make such inserts wait for the tick.
 * `lock`, a real tick's: `scope`, a further condition on `p` (on Citus, the distribution values of
 * one shard); `limit`, a reference to the most rows to take (--max-changes): one transaction's
 * share of a backlog. LIMIT sits below the row locks in the plan (Limit over LockRows), so a row
 * SKIP LOCKED passes over does not count: a batch is short only when no more unlocked due rows
 * exist. A row is one decision (its activation and its deactivation together), so any subset of
 * the due rows is a whole set of decisions; the rows a batch leaves are due at the same instant
 * in the next.
 */
export interface DueLock {
  scope?: string;
  limit?: string;
}

export function dueRowsSql(table: PackagesTable, expiry: ExpiryMode, c: ClockRefs, lock: DueLock | false): string {
  const { scope, limit } = lock || {};
  const passed = validUntilPassedSql(table.validUntilType, expiry, c);
  const D = localDate(c);
  const dueLocal = `(p.schedule_date + coalesce(p.schedule_time, time '00:00'))`;
  // CASE fixes the order: date + time is computed only for dates up to today, so a schedule_date
  // beyond the timestamp range (year 294276) never raises "timestamp out of range".
  // An infinite schedule_date is no date a package can be due on: '-infinity' is never due
  // (check names the row), as 'infinity' is not; its due instant and lateness would be infinite.
  // Two days or more before D, any time of day has come; on D-1 and D, the due instant decides.
  const activationExact = c.wallClock
    ? `p.schedule_date <= ${D} AND p.schedule_date > date '-infinity'
                         AND CASE WHEN p.schedule_date <= ${D} THEN ${dueLocal} <= ${local(c)} ELSE false END`
    : `p.schedule_date <= ${D} AND p.schedule_date > date '-infinity'
                         AND CASE WHEN p.schedule_date < ${D} - 1 THEN true
                                  WHEN p.schedule_date <= ${D} THEN ${activationInstantSql(c.zone)} <= ${c.instant}
                                  ELSE false END`;
  let activationDue = `p.scheduled AND p.auto_activate AND ${activationExact}`;
  let deactivationDue = `p.is_active AND p.auto_deactivate AND ${passed}`;
  let expired = `p.valid_until IS NOT NULL AND ${passed}`;
  if (c.perRow) {
    // A zone PostgreSQL does not know would fail the whole statement: such rows are left
    // alone (CASE keeps AT TIME ZONE from ever seeing their zone) and reported by the caller.
    const known = (condition: string) => `CASE WHEN ${c.zone} = ANY(${c.perRow!.unknownZones}) THEN false ELSE (${condition}) END`;
    const candidates = candidateSql(table, expiry, c.instant);
    activationDue = `${candidates.activation} AND ${known(activationExact)}`;
    deactivationDue = `${candidates.deactivation} AND ${known(passed)}`;
    expired = `p.valid_until IS NOT NULL AND ${known(passed)}`;
  }
  const due = `(${activationDue})
      OR (${deactivationDue})`;
  // One zone: every row's is the default, which the caller knows; only per-row zones travel.
  return `
  SELECT ${keyColumnsSql(table, 'p', 'key_')},
         ${c.perRow ? c.zone : 'NULL::text'} AS zone,
         (${activationDue}) IS TRUE AS activation_due,
         (${expired}) IS TRUE AS expired,
         (${deactivationDue}) IS TRUE AS deactivation_due,
         CASE WHEN (${activationDue}) IS TRUE THEN ${dueLocal} END AS due_local
    FROM ${packagesFromSql(table)}
   WHERE ${scope ? `(${scope}) AND (${due})` : due}${limit ? `
   LIMIT ${limit}` : ''}${lock ? `
     FOR NO KEY UPDATE OF p SKIP LOCKED` : ''}`;
}

// What each due row becomes (rules 1-3). A row can be both expired-before-activation and
// deactivated: it is already active, its schedule is consumed and it is switched off.
export function decisionsSql(table: PackagesTable): string {
  return `
  SELECT ${carriedKeySql(table, 'due', 'key_')}, zone, due_local,
         activation_due AND NOT expired AS activate,
         activation_due AND expired AS skip_activation,
         deactivation_due AS deactivate
    FROM due`;
}

export interface TickClock {
  /** The tick's instant: ISO 8601 UTC text (clock.ts), read the same under any session settings. */
  instant: string;
  /** The default zone (every row's, without per-row zones). */
  timezone: string;
  /** Per-row zones (table.zone): the zones found unknown, whose rows are left alone. */
  unknownZones?: string[];
}

/** Adds the clock's parameters; the zone becomes the row's own where the table has per-row zones. */
export function clockRefs(params: Params, table: PackagesTable, clock: TickClock): ClockRefs {
  const instant = params.add(clock.instant, 'timestamptz');
  const defaultZone = params.add(clock.timezone, 'text');
  // A table Citus manages: wall-clock comparisons (see ClockRefs.wallClock).
  const wallClock = managedByCitus(table.citus) ? { wallClock: true } : {};
  if (!table.zone) return { instant, zone: defaultZone, defaultZone, ...wallClock };
  // A row's zone obeys --timezone's rule (zone-name.ts): one PostgreSQL would read as a POSIX
  // spec ('+03:00' as UTC-3, 'UTC-167') becomes NULL here, so no condition on its row can be
  // true and it is never changed (zone-guard.ts reports it with the unknown zones).
  const given = `coalesce(${table.zone.expression}, ${defaultZone})`;
  // COLLATE "C": a zone column with a nondeterministic (case-insensitive) collation cannot take a regular expression.
  const zone = `(CASE WHEN (${given}) COLLATE "C" ~* ${params.add(ZONE_NAME_PATTERN, 'text')} THEN ${given} END)`;
  return { instant, zone, defaultZone, ...wallClock, perRow: { unknownZones: params.add(clock.unknownZones ?? [], 'text[]') } };
}

/** The zone a row is evaluated in: its own (per-row zones) or else the default. */
export function zoneSql(params: Params, table: PackagesTable, timezone: string): string {
  const fallback = params.add(timezone, 'text');
  return table.zone ? `coalesce(${table.zone.expression}, ${fallback})` : fallback;
}

