// `package-scheduler status`: did the scheduler run, what happens next, what is stuck.
import { query, withTransaction, type Queryable } from '../db/resources.js';
import type { ColumnRef, QualifiedName } from '../table/identifiers.js';
export type { Upcoming } from './upcoming.js';
import { findMisconfigured, type MisconfiguredRow } from '../check/misconfigured.js';
import { displayName, isoUtc } from '../db/sql-fragments.js';
import { Params } from '../db/params.js';
import type { ExpiryMode } from '../tick/due-sql.js';
import { nextActivations, nextDeactivations, type Upcoming } from './upcoming.js';
import { unknownZonesReport } from '../check/zone-report.js';
import { rowSecurityWarning } from '../table/row-security.js';
import { resolvePackagesTable, type PackagesTable } from '../table/packages-table.js';
import { lockKey, previewInTransaction, type TickCompleted } from '../tick/tick.js';
import { runningTick, runningTooLongWarning, type RunningTick } from './running-tick.js';
import { nextDueStatement, type NextDueRow } from '../watch/next-due-sql.js';
import { managedByCitus } from '../citus/topology.js';

export interface StatusOptions {
  table: QualifiedName;
  timezone: string;
  timezoneColumn?: ColumnRef;
  expiry: ExpiryMode;
  historySchema?: string;
  /** How many upcoming activations and deactivations to list (default 10). */
  limit?: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export interface LastRun {
  runId: string | null;
  outcome: 'completed' | 'skipped' | 'failed' | null;
  lastTickStartedAt: string | null;
  lastTickFinishedAt: string | null;
  /** The same figures as the metrics file: Unix seconds of the last tick's end and of the last success, and its duration. */
  lastRunTimestampSeconds: number | null;
  lastRunDurationSeconds: number | null;
  lastSuccessTimestampSeconds: number | null;
  /** Seconds since the last tick of any outcome finished, by the database clock. */
  lastTickAgeSeconds: number | null;
  lastSuccessAt: string | null;
  /** Seconds since the last successful tick, by the database clock. */
  lastSuccessAgeSeconds: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  activated: number | null;
  deactivated: number | null;
  activationSkipped: number | null;
  runnerVersion: string | null;
  runnerHost: string | null;
}

export interface Overdue {
  packageId: string;
  name?: string;
  action: 'activate' | 'deactivate' | 'skip_activation';
  reason: string;
  /** The zone the row is evaluated in. */
  timezone: string;
}

export interface StatusReport {
  table: string;
  timezone: string;
  now: string;
  /** False when the history tables do not exist: nothing is known about past runs. */
  historyEnabled: boolean;
  lastRun: LastRun | null;
  /** A tick holding the table's lock right now (tooLong past the statement timeout), or null. */
  runningTick: RunningTick | null;
  nextActivations: Upcoming[];
  nextDeactivations: Upcoming[];
  /** The next due instant of any package (UTC), what `run --watch` sleeps until; null: none. */
  nextDueAt: string | null;
  overdue: Overdue[];
  misconfigured: MisconfiguredRow[];
  /** Conditions that can keep packages from being handled (e.g. row-level security). */
  warnings: string[];
  counts: { scheduled: number; active: number; activeWithAutoDeactivate: number; dueNow: number; misconfigured: number };
}

/** One read-only transaction whose limits are set before any other statement. */
export async function status(client: Queryable, options: StatusOptions): Promise<StatusReport> {
  const limits = { readOnly: true, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs };
  return withTransaction(client, limits, () => statusInTransaction(client, options));
}

async function statusInTransaction(client: Queryable, options: StatusOptions): Promise<StatusReport> {
  const table = await resolvePackagesTable(client, options.table, {
    history: true,
    historySchema: options.historySchema,
    timezoneColumn: options.timezoneColumn,
  });
  const display = displayName(table);
  const limit = options.limit ?? 10;
  const lastRun = table.history ? await readLastRun(client, table, display) : null;
  const zones = await unknownZonesReport(client, table, options);
  const preview = await previewInTransaction(client, options, zones.zones);
  const lastTickAge = lastRun?.lastTickAgeSeconds ?? null;
  const misconfigured = await findMisconfigured(client, table);
  const counts = await countPackages(client, table);
  const running = await runningTick(client, lockKey(table), tooLongMs(options.statementTimeoutMs));
  return {
    table: display,
    timezone: options.timezone,
    now: preview.now,
    historyEnabled: table.history !== undefined,
    lastRun,
    runningTick: running,
    nextActivations: await nextActivations(client, table, { timezone: options.timezone, unknownZones: zones.zones }, limit),
    nextDeactivations: await nextDeactivations(client, table, { timezone: options.timezone, unknownZones: zones.zones, expiry: options.expiry }, limit),
    // Not on a table Citus manages: the due instants' correlated subqueries cannot be planned
    // over distributed rows there (docs/citus.md); the lists above still give the next changes.
    nextDueAt: managedByCitus(table.citus)
      ? null
      : (await query<NextDueRow>(client, nextDueStatement(table, options.expiry, { after: null, timezone: options.timezone, unknownZones: zones.zones }))).rows[0]!.next_due,
    overdue: overdueFrom(preview, lastTickAge),
    misconfigured: [...zones.rows, ...misconfigured.rows],
    warnings: [await rowSecurityWarning(client, table), running?.tooLong ? runningTooLongWarning(running) : undefined].filter(
      (w): w is string => w !== undefined,
    ),
    counts: {
      ...counts,
      dueNow: preview.counts.activated + preview.counts.deactivated + preview.counts.activationSkipped,
      misconfigured: zones.rows.length + misconfigured.total,
    },
  };
}

/** A tick is running too long once it has run longer than a statement may (60 s when unbounded). */
function tooLongMs(statementTimeoutMs: number): number {
  return statementTimeoutMs > 0 ? statementTimeoutMs : 60_000;
}

async function readLastRun(client: Queryable, table: PackagesTable, display: string): Promise<LastRun | null> {
  const params = new Params();
  const { rows } = await query<Record<string, string | number | null>>(
    client,
    params.statement(`SELECT last_run_id::text AS run_id, last_outcome, ${isoUtc('last_tick_finished_at')} AS finished,
            ${isoUtc('last_tick_started_at')} AS started,
            extract(epoch FROM last_tick_finished_at)::float8 AS finished_epoch,
            extract(epoch FROM last_tick_finished_at - last_tick_started_at)::float8 AS duration,
            extract(epoch FROM last_success_at)::float8 AS success_epoch,
            extract(epoch FROM now() - last_tick_finished_at)::float8 AS finished_age,
            ${isoUtc('last_success_at')} AS success,
            floor(extract(epoch FROM now() - last_success_at))::int AS success_age,
            last_error_code, last_error_message, last_activated, last_deactivated, last_activation_skipped,
            runner_version, runner_host
       FROM ${table.history!.state} WHERE packages_table = ${params.add(display, 'text')}`),
  );
  const r = rows[0];
  if (!r) return null;
  return {
    runId: r.run_id as string | null,
    outcome: r.last_outcome as LastRun['outcome'],
    lastTickStartedAt: r.started as string | null,
    lastTickFinishedAt: r.finished as string | null,
    lastRunTimestampSeconds: r.finished_epoch as number | null,
    lastRunDurationSeconds: r.duration as number | null,
    lastSuccessTimestampSeconds: r.success_epoch as number | null,
    lastTickAgeSeconds: r.finished_age as number | null,
    lastSuccessAt: r.success as string | null,
    lastSuccessAgeSeconds: r.success_age as number | null,
    errorCode: r.last_error_code as string | null,
    errorMessage: r.last_error_message as string | null,
    activated: r.last_activated as number | null,
    deactivated: r.last_deactivated as number | null,
    activationSkipped: r.last_activation_skipped as number | null,
    runnerVersion: r.runner_version as string | null,
    runnerHost: r.runner_host as string | null,
  };
}

function overdueFrom(preview: TickCompleted, lastTickAgeSeconds: number | null): Overdue[] {
  const out: Overdue[] = [];
  for (const a of preview.activated) {
    const missed = lastTickAgeSeconds !== null && a.lateSeconds > lastTickAgeSeconds;
    out.push({
      packageId: a.packageId,
      ...(a.name === undefined ? {} : { name: a.name }),
      action: 'activate',
      reason: missed
        ? `due since ${a.dueAt}, not handled by the last tick (its row was locked by another transaction)`
        : `due since ${a.dueAt}, waiting for the next tick`,
      timezone: a.timezone,
    });
  }
  for (const s of preview.activationSkipped) {
    out.push({
      packageId: s.packageId,
      ...(s.name === undefined ? {} : { name: s.name }),
      action: 'skip_activation',
      reason: `activation blocked: due ${s.dueAt} but valid only until ${s.validUntil}; the next tick consumes the schedule`,
      timezone: s.timezone,
    });
  }
  for (const d of preview.deactivated) {
    out.push({
      packageId: d.packageId,
      ...(d.name === undefined ? {} : { name: d.name }),
      action: 'deactivate',
      reason: `valid until ${d.validUntil}, still active: waiting for the next tick`,
      timezone: d.timezone,
    });
  }
  for (const u of preview.timezoneUnknown) {
    out.push({
      packageId: u.packageId,
      ...(u.name === undefined ? {} : { name: u.name }),
      action: u.action,
      reason: `unknown time zone "${u.timezone}": never changed until its zone is fixed`,
      timezone: u.timezone,
    });
  }
  return out;
}

async function countPackages(client: Queryable, table: PackagesTable) {
  const { rows } = await client.query<{ scheduled: string; active: string; auto_off: string }>(
    `SELECT count(*) FILTER (WHERE scheduled AND auto_activate) AS scheduled,
            count(*) FILTER (WHERE is_active) AS active,
            count(*) FILTER (WHERE is_active AND auto_deactivate) AS auto_off
       FROM ${table.quoted}`,
  );
  const r = rows[0]!;
  return { scheduled: Number(r.scheduled), active: Number(r.active), activeWithAutoDeactivate: Number(r.auto_off) };
}
