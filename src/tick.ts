// One tick: every due activation and deactivation of one packages table, in one transaction.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, describeError, errorCode, sqlstateOf } from './errors.js';
import { tryAdvisoryXactLock, withTransaction, type Queryable } from './db.js';
import type { QualifiedName } from './identifiers.js';
import { withFields, type Logger } from './logger.js';
import { pruneEventsSql, recordCompletedSql, recordFailedSql, recordSkippedSql } from './sql/history-sql.js';
import { CLOCK_SQL, type ClockRow } from './sql/clock.js';
import { applyTickSql, previewTickSql, type ExpiryMode, type TickRow } from './sql/tick-sql.js';
import { resolvePackagesTable, type PackagesTable } from './table.js';

export type { ExpiryMode } from './sql/tick-sql.js';

export interface TickOptions {
  table: QualifiedName;
  /** IANA zone of the business: schedules and valid_until dates are local to it. */
  timezone: string;
  expiry: ExpiryMode;
  /** Report what a real tick would do; change nothing. */
  dryRun: boolean;
  /** Evaluate as if now were this instant (ISO 8601; with no offset, local to `timezone`). The CLI allows it only with a dry run. */
  at?: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** Run history (default: on whenever its tables exist); `false` turns it off. */
  history?: false | HistoryOptions;
  /** pg_notify channel told about every tick that changed something. */
  notifyChannel?: string;
  /** Identifies this tick in logs, history and notifications (default: a random UUID). */
  runId?: string;
  /** Recorded in the state row. */
  runner?: { version: string; host: string };
}

export interface HistoryOptions {
  /** Schema of the history tables (default: the packages table's). */
  schema?: string;
  /** Events older than this many days are deleted, a batch per tick (default 90). */
  retentionDays?: number;
}

export interface Activation {
  packageId: string;
  name?: string;
  dueAt: string;
  lateSeconds: number;
}
export interface Deactivation {
  packageId: string;
  name?: string;
  validUntil: string;
}
export interface SkippedActivation {
  packageId: string;
  name?: string;
  reason: 'expired';
  dueAt: string;
  validUntil: string;
}

export interface TickCompleted {
  status: 'completed';
  runId: string;
  dryRun: boolean;
  table: string;
  timezone: string;
  /** The tick's clock: local time in `timezone` with its UTC offset. */
  now: string;
  activated: Activation[];
  deactivated: Deactivation[];
  activationSkipped: SkippedActivation[];
  durationMs: number;
}
export interface TickSkipped {
  status: 'skipped';
  runId: string;
  reason: 'locked';
  table: string;
  durationMs: number;
}
export type TickResult = TickCompleted | TickSkipped;

const LOCK_KEY_PREFIX = 'package-scheduler:';
const DEFAULT_RETENTION_DAYS = 90;
const PRUNE_BATCH = 1000;
// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT = 7999;

/**
 * Runs one tick on an open connection. Logs each change (after COMMIT, so a line always means
 * a change that was made) and returns what happened. Throws on any error, with nothing changed.
 */
export async function runTick(client: Queryable, options: TickOptions, baseLogger: Logger): Promise<TickResult> {
  const started = performance.now();
  const runId = options.runId ?? randomUUID();
  const logger = withFields(baseLogger, { runId });
  const runner = options.runner ?? { version: 'unknown', host: hostname() };
  const history = options.history === false ? undefined : options.history ?? {};
  let table: PackagesTable | undefined;
  let outcome;
  try {
    outcome = await withTransaction(
      client,
      { readOnly: options.dryRun, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs },
      async () => {
        table = await resolvePackagesTable(client, options.table, { history: history !== undefined, historySchema: history?.schema });
        const name = displayName(table);
        if (history !== undefined && table.history === undefined) {
          logger.debug({ event: 'history.off', table: name }, 'no history tables: run "package-scheduler migrate" to keep run history');
        }
        const clock = await readClock(client, options);
        // One run per table at a time, across hosts. A dry run changes nothing and needs no turn.
        if (!options.dryRun && !(await tryAdvisoryXactLock(client, LOCK_KEY_PREFIX + table.quoted))) {
          if (table.history) await client.query(recordSkippedSql(table.history), [name, runId, runner.version, runner.host]);
          return { locked: true as const };
        }
        const recordTo = options.dryRun ? undefined : table.history;
        const { rows } = options.dryRun
          ? await client.query<TickRow>(previewTickSql(table, options.expiry), [clock.instant, options.timezone])
          : await client.query<TickRow>(applyTickSql(table, options.expiry, recordTo), [
              clock.instant,
              options.timezone,
              ...(recordTo ? [runId, name] : []),
            ]);
        const result = summarize(rows, { runId, dryRun: options.dryRun, table: name, timezone: options.timezone, now: clockText(clock) });
        if (recordTo) {
          const counts = [result.activated.length, result.deactivated.length, result.activationSkipped.length];
          await client.query(recordCompletedSql(recordTo), [name, runId, ...counts, runner.version, runner.host]);
          await client.query(pruneEventsSql(recordTo), [history?.retentionDays ?? DEFAULT_RETENTION_DAYS, PRUNE_BATCH]);
        }
        // Delivered by PostgreSQL only if this transaction commits.
        if (!options.dryRun && options.notifyChannel !== undefined && rows.length > 0) {
          await client.query('SELECT pg_notify($1::text, $2::text)', [options.notifyChannel, notificationPayload(result)]);
        }
        return { locked: false as const, result };
      },
    );
  } catch (error) {
    if (!options.dryRun && table?.history) {
      await recordFailure(client, table, runId, runner, error, options).catch(() => {});
    }
    throw error;
  }
  const name = displayName(table!);
  if (outcome.locked) {
    logger.info({ event: 'tick.skipped', reason: 'locked', table: name }, 'another run holds the lock for this table');
    return { status: 'skipped', runId, reason: 'locked', table: name, durationMs: elapsed(started) };
  }
  const result = outcome.result;
  logChanges(result, baseLogger);
  result.durationMs = elapsed(started);
  logger.info(
    {
      event: 'tick.completed',
      table: name,
      activated: result.activated.length,
      deactivated: result.deactivated.length,
      activationSkipped: result.activationSkipped.length,
      dryRun: result.dryRun,
      timezone: result.timezone,
      now: result.now,
      durationMs: result.durationMs,
    },
    result.dryRun ? 'dry run: nothing was changed' : 'tick completed',
  );
  return result;
}

/**
 * After a rollback, best effort in its own short transaction: if the database is gone there is
 * nothing to record into, and the tick's own error is what the caller reports either way.
 */
async function recordFailure(
  client: Queryable,
  table: PackagesTable,
  runId: string,
  runner: { version: string; host: string },
  error: unknown,
  options: TickOptions,
): Promise<void> {
  await withTransaction(client, { lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs }, () =>
    client.query(recordFailedSql(table.history!), [
      displayName(table),
      runId,
      sqlstateOf(error) ?? errorCode(error) ?? null,
      describeError(error),
      runner.version,
      runner.host,
    ]),
  );
}

/** The NOTIFY payload: every id, or only the counts when the ids would not fit in 8000 bytes. */
export function notificationPayload(result: TickCompleted): string {
  const ids = (list: { packageId: string }[]) => list.map((x) => x.packageId);
  const counts = {
    activated: result.activated.length,
    deactivated: result.deactivated.length,
    activationSkipped: result.activationSkipped.length,
  };
  const full = JSON.stringify({
    table: result.table,
    runId: result.runId,
    activated: ids(result.activated),
    deactivated: ids(result.deactivated),
    activationSkipped: ids(result.activationSkipped),
    counts,
    truncated: false,
  });
  if (Buffer.byteLength(full) <= NOTIFY_PAYLOAD_LIMIT) return full;
  return JSON.stringify({ table: result.table, runId: result.runId, counts, truncated: true });
}

async function readClock(client: Queryable, options: TickOptions): Promise<ClockRow> {
  const at = options.at === undefined ? undefined : splitAt(options.at);
  try {
    const { rows } = await client.query<ClockRow>(CLOCK_SQL, [at?.instant ?? null, at?.local ?? null, options.timezone]);
    return rows[0]!;
  } catch (error) {
    // invalid_parameter_value: the only parameter here PostgreSQL can reject that way is the zone.
    if (errorCode(error) === '22023') {
      throw new ConfigError(`unknown time zone "${options.timezone}"`, { cause: error });
    }
    throw error;
  }
}

const HAS_OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/** `--at` with an offset is an instant; without one it is a wall-clock time in the business zone. */
function splitAt(at: string): { instant?: string; local?: string } {
  const hasTime = /[T ]\d/.test(at);
  return hasTime && HAS_OFFSET.test(at) ? { instant: at } : { local: at };
}

function clockText(clock: ClockRow): string {
  const offset = clock.utc_offset_seconds;
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600) / 60)).padStart(2, '0');
  return `${clock.local_now}${sign}${hh}:${mm}`;
}

function summarize(
  rows: TickRow[],
  base: Pick<TickCompleted, 'runId' | 'dryRun' | 'table' | 'timezone' | 'now'>,
): TickCompleted {
  const result: TickCompleted = { status: 'completed', ...base, activated: [], deactivated: [], activationSkipped: [], durationMs: 0 };
  for (const row of rows) {
    const name = row.name === null ? {} : { name: row.name };
    if (row.activate) {
      result.activated.push({ packageId: row.package_id, ...name, dueAt: row.due_at!, lateSeconds: Number(row.late_seconds) });
    }
    if (row.skip_activation) {
      result.activationSkipped.push({ packageId: row.package_id, ...name, reason: 'expired', dueAt: row.due_at!, validUntil: row.valid_until! });
    }
    if (row.deactivate) {
      result.deactivated.push({ packageId: row.package_id, ...name, validUntil: row.valid_until! });
    }
  }
  return result;
}

// A dry run logs under other event names, so nothing that counts `package.activated`
// lines can ever count a change that was not made. One object literal per line (no spreads):
// a 100k-row tick writes 100k lines.
function logChanges(result: TickCompleted, logger: Logger): void {
  const { runId, table, dryRun } = result;
  const event = dryRun
    ? { activated: 'package.would_activate', skipped: 'package.would_skip_activation', deactivated: 'package.would_deactivate' }
    : { activated: 'package.activated', skipped: 'package.activation_skipped', deactivated: 'package.deactivated' };
  for (const a of result.activated) {
    logger.info(
      { runId, event: event.activated, table, dryRun, packageId: a.packageId, name: a.name, dueAt: a.dueAt, lateSeconds: a.lateSeconds },
      'package activated',
    );
  }
  for (const s of result.activationSkipped) {
    logger.info(
      { runId, event: event.skipped, table, dryRun, packageId: s.packageId, name: s.name, reason: s.reason, dueAt: s.dueAt, validUntil: s.validUntil },
      'scheduled activation skipped: the package had already expired',
    );
  }
  for (const d of result.deactivated) {
    logger.info(
      { runId, event: event.deactivated, table, dryRun, packageId: d.packageId, name: d.name, validUntil: d.validUntil },
      'package deactivated',
    );
  }
}

function displayName(table: PackagesTable): string {
  return `${table.schema}.${table.name}`;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
