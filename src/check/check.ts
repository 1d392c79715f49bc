// `package-scheduler check`: is everything in place, and what would a tick do now?
import { ConfigError } from '../errors.js';
import { query, withTransaction, type Queryable } from '../db/resources.js';
import type { ColumnRef, QualifiedName } from '../table/identifiers.js';
export type { MisconfiguredRow } from './misconfigured.js';
import { INDEXES } from '../migrate/migration-sql.js';
import { findIndex, type IndexState } from '../migrate/index-state.js';
import { findMisconfigured, type MisconfiguredRow } from './misconfigured.js';
import { rowSecurityWarning } from '../table/row-security.js';
import { wakeTriggerInstalledSql } from '../migrate/wake-trigger.js';
import { Params } from '../db/params.js';
import { unknownZonesReport } from './zone-report.js';
import { findStayingOn, stayingOnWarning, type StayingOn } from './staying-on.js';
import { resolvePackagesTable } from '../table/packages-table.js';
import { displayName } from '../db/sql-fragments.js';
import { previewInTransaction, type ExpiryMode, type TickCompleted } from '../tick/tick.js';
import { unknownZoneMessage } from '../config/zone-name.js';
import { citusProblem } from '../citus/apply.js';
import { describeTopology, type CitusTopology } from '../citus/topology.js';

export interface CheckOptions {
  table: QualifiedName;
  timezone: string;
  timezoneColumn?: ColumnRef;
  expiry: ExpiryMode;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** A run's --max-changes: warn when more is due than one of its transactions changes. */
  maxChanges?: number;
}

export interface CheckReport {
  table: string;
  timezone: string;
  /** The columns that identify a package (a composite key's packageId is their values, in this order). */
  key: string[];
  indexes: { name: string; state: IndexState }[];
  warnings: string[];
  due: TickCompleted;
  misconfigured: MisconfiguredRow[];
  misconfiguredCount: number;
  /** Active, valid_until passed, auto_deactivate off: no tick switches them off. */
  stayingOn: StayingOn;
  /** Where the citus extension is installed: what Citus does with the table (topology.ts). */
  citus?: CitusTopology & { description: string };
  /** The wake trigger is installed: edits wake `run --watch` at once (else within --max-sleep). */
  wakeTrigger: boolean;
}

/**
 * Throws ConfigError (78) for problems a tick would fail on; warns for the rest. One read-only
 * transaction whose limits are set before any other statement.
 */
export async function check(client: Queryable, options: CheckOptions): Promise<CheckReport> {
  const limits = { readOnly: true, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs };
  return withTransaction(client, limits, () => checkInTransaction(client, options));
}

async function checkInTransaction(client: Queryable, options: CheckOptions): Promise<CheckReport> {
  const { rows: zone } = await client.query<{ known: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text) AS known',
    [options.timezone],
  );
  if (!zone[0]?.known) throw new ConfigError(unknownZoneMessage(options.timezone, 'not in pg_timezone_names'));

  const table = await resolvePackagesTable(client, options.table, { timezoneColumn: options.timezoneColumn });
  const unsupported = citusProblem(table, table.citus, false);
  if (unsupported) throw unsupported;
  const display = displayName(table);
  const warnings: string[] = [];

  const indexes: CheckReport['indexes'] = [];
  for (const spec of INDEXES) {
    // By definition, as migrate finds them: a DBA's index under another name serves as well.
    const { name, state } = await findIndex(client, table, spec);
    indexes.push({ name, state });
    if (state !== 'valid') warnings.push(`index ${name} is ${state}: ticks scan the whole table; run "package-scheduler migrate"`);
  }
  if (!table.hasUpdatedAt) warnings.push(`${display} has no updated_at timestamp column: changes are not stamped`);
  const hidden = await rowSecurityWarning(client, table);
  if (hidden) warnings.push(hidden);

  const misconfigured = await findMisconfigured(client, table);
  const zones = await unknownZonesReport(client, table, options);
  if (table.zone) warnings.push(`per-row time zones from ${table.zone.description}; ${options.timezone} where it is NULL`);
  for (const zone of zones.zones) warnings.push(`unknown time zone "${zone}" in ${table.zone!.description}: its packages are never changed`);
  const stayingOn = await findStayingOn(client, table, options, zones.zones);
  const stays = stayingOnWarning(stayingOn, display);
  if (stays) warnings.push(stays);

  const due = await previewInTransaction(client, options, zones.zones);
  const backlog = dueChanges(due);
  if (options.maxChanges !== undefined && backlog > options.maxChanges) {
    warnings.push(
      `${backlog} changes are due, more than one transaction of a run makes (--max-changes / SCHEDULER_MAX_CHANGES ${options.maxChanges}): ` +
        `the next run applies them in several transactions at the same instant`,
    );
  }
  const params = new Params();
  const { rows: wake } = await query<{ installed: boolean }>(client, params.statement(wakeTriggerInstalledSql(params.add(table.quoted, 'text'))));
  return {
    table: display,
    timezone: options.timezone,
    key: table.keyNames,
    indexes,
    warnings,
    due,
    misconfigured: [...zones.rows, ...misconfigured.rows],
    misconfiguredCount: zones.rows.length + misconfigured.total,
    stayingOn,
    ...(table.citus ? { citus: { ...table.citus, description: describeTopology(table.citus) } } : {}),
    wakeTrigger: wake[0]?.installed === true,
  };
}

// Changes, not rows: a row can make two (an expired schedule consumed and the package switched
// off), so this is the batch count's upper bound, which is what a warning needs.
function dueChanges(due: TickCompleted): number {
  return due.counts.activated + due.counts.activationSkipped + due.counts.deactivated;
}
