// One tick: every due activation and deactivation of one packages table, in one transaction.
// runTick is a sequence of named steps: resolve → clock → lock → apply → record → notify,
// then the log lines, after COMMIT.
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { ChangeSpool } from './change-spool.js';
import { ConfigError, describeError, errorCode, sqlstateOf } from '../errors.js';
import { query, readPages, tryAdvisoryXactLock, withTransaction, type Queryable } from '../db/resources.js';
import type { ColumnRef, QualifiedName } from '../table/identifiers.js';
import { withFields, type Logger } from '../logger.js';
import { clockStatement, type ClockRow } from './clock-sql.js';
import { displayName } from '../db/sql-fragments.js';
import {
  pruneEventsStatement,
  recordCompletedStatement,
  recordFailedStatement,
  recordSkippedStatement,
  type Runner,
} from '../history/history-sql.js';
import type { Statement } from '../db/params.js';
import { applyTickStatement, previewTickStatement, type ChangeRow, type ExpiryMode, type TickClock } from './tick-sql.js';
import { resolvePackagesTable, type HistorySetting, type HistoryTables, type PackagesTable } from '../table/packages-table.js';
import { logChanges, logCompleted, logSkipped } from './log-lines.js';
import { ChangeCollector, countsOf, notificationPayload, type ResultBase, type TickCompleted, type TickResult } from './result.js';
import { rowsInZones, withUnknownZonesLeftOut } from './zone-guard.js';
import { unknownZoneMessage } from '../config/zone-name.js';

export type { ExpiryMode } from './tick-sql.js';
export type { HistorySetting } from '../table/packages-table.js';
export type { Activation, ChangeCounts, Deactivation, SkippedActivation, TickCompleted, TickSkipped, TickResult } from './result.js';
export { LIST_LIMIT, notificationPayload } from './result.js';

export interface TickOptions {
  table: QualifiedName;
  /** IANA zone of the business: schedules and valid_until dates are local to it. */
  timezone: string;
  /** Each row's own zone (a column of the table, or of a table it references); `timezone` where NULL. */
  timezoneColumn?: ColumnRef;
  expiry: ExpiryMode;
  /** Report what a real tick would do; change nothing. */
  dryRun: boolean;
  /** Evaluate as if now were this instant (ISO 8601; with no offset, local to `timezone`). The CLI allows it only with a dry run. */
  at?: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** Run history (default: on whenever its tables exist); `false` turns it off. */
  history?: HistorySetting;
  /** pg_notify channel told about every tick that changed something. */
  notifyChannel?: string;
  /** Identifies this tick in logs, history and notifications (default: a random UUID). */
  runId?: string;
  /** Recorded in the state row. */
  runner?: Runner;
  /**
   * Where a large tick's change records wait for COMMIT once they outgrow `spoolMemoryBytes`
   * (default: the OS temp folder). If no file can be made there they stay in memory.
   */
  spoolDirectory?: string;
  /** How much of a tick's change records stay in memory before they go to the file (default 256 KB). */
  spoolMemoryBytes?: number;
}

/** What check and status need to preview a tick: no history, no notification, no run id. */
export type PreviewOptions = Pick<TickOptions, 'table' | 'timezone' | 'timezoneColumn' | 'expiry' | 'at' | 'lockTimeoutMs' | 'statementTimeoutMs'>;

const LOCK_KEY_PREFIX = 'package-scheduler:';
const DEFAULT_RETENTION_DAYS = 90;
const PRUNE_BATCH = 1000;
/** Rows per round trip when reading the tick statement's result. */
const PAGE_ROWS = 2000;

/** The advisory lock key of a table: one run per table at a time, across hosts. */
export function lockKey(table: Pick<PackagesTable, 'quoted'>): string {
  return LOCK_KEY_PREFIX + table.quoted;
}

type Outcome = { locked: true; table: string } | { locked: false; changes: Changes };

/** A tick's result and the spool that holds its change records until they are logged. */
interface Changes<S extends ChangeSpool | undefined = ChangeSpool> {
  result: TickCompleted;
  spool: S;
}

/**
 * Runs one tick on an open connection. Logs each change (after COMMIT, so a line always means
 * a change that was made) and returns what happened. Throws on any error, with nothing changed.
 */
export async function runTick(client: Queryable, options: TickOptions, baseLogger: Logger): Promise<TickResult> {
  const started = performance.now();
  const runId = options.runId ?? randomUUID();
  const runner = options.runner ?? { version: 'unknown', host: hostname() };
  const history = options.history === false ? undefined : (options.history ?? {});
  const logger = withFields(baseLogger, { runId });
  let table: PackagesTable | undefined;
  let outcome: Outcome;
  const spool = () =>
    new ChangeSpool({
      directory: options.spoolDirectory ?? tmpdir(),
      memoryBytes: options.spoolMemoryBytes,
      onFileUnavailable: (code) =>
        logger.warn({ event: 'tick.spool_in_memory', code }, 'cannot create a spool file in the temp folder: this large tick keeps its changes in memory'),
    });
  // The spool of the statement's records, until logged: closed on every way out.
  let spooled: ChangeSpool | undefined;
  try {
    outcome = await withTransaction(client, transactionOptions(options, options.dryRun), async (): Promise<Outcome> => {
      table = await resolve(client, options, history !== undefined, history?.schema, logger);
      const clock = await readClock(client, options);
      const tick = { tableName: displayName(table), runId, runner };
      const base = { runId, table: tick.tableName, dryRun: options.dryRun, timezone: options.timezone, now: clockText(clock) };
      if (options.dryRun) {
        const changes = await preview(client, table, options, clock, base, spool);
        spooled = changes.spool;
        return { locked: false, changes };
      }
      if (!(await tryAdvisoryXactLock(client, lockKey(table)))) {
        if (table.history) await query(client, recordSkippedStatement(table.history, tick));
        return { locked: true, table: tick.tableName };
      }
      const changes = await apply(client, table, options, clock, tick, base, spool);
      spooled = changes.spool;
      await record(client, table, tick, changes.result, logger, history?.retentionDays);
      await notify(client, options.notifyChannel, changes.result);
      return { locked: false, changes };
    });
  } catch (error) {
    spooled?.close(); // rolled back (COMMIT itself may have failed): not one of its lines is logged
    if (!options.dryRun && table?.history) await recordFailure(client, table, { tableName: displayName(table), runId, runner }, error, options).catch(() => {});
    throw error;
  }
  if (outcome.locked) {
    const skipped = { status: 'skipped', runId, reason: 'locked', table: outcome.table, durationMs: elapsed(started) } as const;
    logSkipped(skipped, baseLogger);
    return skipped;
  }
  const { result, spool: records } = outcome.changes;
  try {
    logChanges(result, records, baseLogger);
  } finally {
    records.close();
  }
  result.durationMs = elapsed(started);
  logCompleted(result, baseLogger);
  return result;
}

type Tick = { tableName: string; runId: string; runner: Runner };

/** The tick statement: changes the due rows (and, with history, records one event per change). */
async function apply(
  client: Queryable,
  table: PackagesTable,
  options: TickOptions,
  clock: ClockRow,
  tick: Tick,
  base: ResultBase,
  spool: () => ChangeSpool,
): Promise<Changes> {
  const recording = table.history && { tables: table.history, ...tick };
  const { value, unknown } = await withUnknownZonesLeftOut(client, table, options.expiry, tickClock(clock, options), (unknownZones) =>
    collect(client, applyTickStatement(table, options.expiry, tickClock(clock, options, unknownZones), recording), base, spool()),
  );
  value.result.timezoneUnknown = unknown;
  return value;
}

/** Reads a tick statement's changes page by page: counted and listed in the result, every record spooled. */
async function collect<S extends ChangeSpool | undefined>(client: Queryable, statement: Statement, base: ResultBase, spool: S): Promise<Changes<S>> {
  const collector = new ChangeCollector(base, spool && ((records) => spool.append(records)));
  try {
    await readPages<ChangeRow>(client, statement, PAGE_ROWS, (rows) => collector.addPage(rows));
  } catch (error) {
    spool?.close();
    throw error;
  }
  return { result: collector.result, spool };
}

/** The state row and a batch of retention, in the tick's own transaction. */
async function record(
  client: Queryable,
  table: PackagesTable,
  tick: Tick,
  result: TickCompleted,
  logger: Logger,
  retentionDays = DEFAULT_RETENTION_DAYS,
): Promise<void> {
  if (!table.history) return;
  await query(client, recordCompletedStatement(table.history, tick, countsOf(result)));
  await prune(client, table.history, retentionDays, logger);
}

/**
 * Retention is housekeeping: it must never fail the tick's changes. It runs under a savepoint,
 * and whatever stops it (a statement timeout, a role without DELETE on the events) rolls back
 * only the prune, with a warning; the next tick tries again. Old events locked by someone else
 * are skipped by the statement itself, so it never waits on them either.
 */
async function prune(client: Queryable, history: HistoryTables, retentionDays: number, logger: Logger): Promise<void> {
  await client.query('SAVEPOINT package_scheduler_prune');
  try {
    await query(client, pruneEventsStatement(history, retentionDays, PRUNE_BATCH));
  } catch (error) {
    try {
      await client.query('ROLLBACK TO SAVEPOINT package_scheduler_prune');
    } catch {
      throw error; // the connection is gone: nothing of the tick can be kept, and this is why
    }
    logger.warn(
      { event: 'history.prune_failed', code: sqlstateOf(error) ?? errorCode(error) ?? null, error: describeError(error) },
      'old history events were not deleted this tick (the next tick tries again); the changes are kept',
    );
  }
  await client.query('RELEASE SAVEPOINT package_scheduler_prune');
}

/** pg_notify after a tick with changes; PostgreSQL delivers it only if the transaction commits. */
async function notify(client: Queryable, channel: string | undefined, result: TickCompleted): Promise<void> {
  const { activated, deactivated, activationSkipped } = countsOf(result);
  if (channel === undefined || activated + deactivated + activationSkipped === 0) return;
  await client.query('SELECT pg_notify($1::text, $2::text)', [channel, notificationPayload(result)]);
}

/** What a tick would do now (or at `options.at`): read-only, logs nothing, records nothing. */
export async function previewTick(client: Queryable, options: PreviewOptions): Promise<TickCompleted> {
  return withTransaction(client, transactionOptions(options, true), () => previewInTransaction(client, options));
}

/** previewTick's work, for callers (check, status) already inside their own read-only transaction. */
export async function previewInTransaction(client: Queryable, options: PreviewOptions, unknownZones?: string[]): Promise<TickCompleted> {
  const started = performance.now();
  const table = await resolve(client, options, false, undefined);
  const clock = await readClock(client, options);
  const base = { runId: randomUUID(), dryRun: true, table: displayName(table), timezone: options.timezone, now: clockText(clock) };
  // Nothing is logged: the result's counts and lists are all check and status report.
  const { result } = await preview(client, table, options, clock, base, () => undefined, unknownZones);
  result.durationMs = elapsed(started);
  return result;
}

function transactionOptions(options: Pick<TickOptions, 'lockTimeoutMs' | 'statementTimeoutMs'>, readOnly: boolean) {
  return { readOnly, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs };
}

async function resolve(
  client: Queryable,
  options: Pick<TickOptions, 'table' | 'timezoneColumn'>,
  history: boolean,
  historySchema: string | undefined,
  logger?: Logger,
): Promise<PackagesTable> {
  const table = await resolvePackagesTable(client, options.table, { history, historySchema, timezoneColumn: options.timezoneColumn });
  if (history && table.history === undefined) {
    logger?.debug({ event: 'history.off', table: displayName(table) }, 'no history tables: run "package-scheduler migrate" to keep run history');
  }
  return table;
}

async function readClock(client: Queryable, options: Pick<TickOptions, 'timezone' | 'at'>): Promise<ClockRow> {
  try {
    return (await query<ClockRow>(client, clockStatement(options.timezone, options.at))).rows[0]!;
  } catch (error) {
    // invalid_parameter_value: the only parameter here PostgreSQL can reject that way is the zone.
    if (errorCode(error) === '22023') throw new ConfigError(unknownZoneMessage(options.timezone), { cause: error });
    throw error;
  }
}

/** The dry run's changes; `unknownZones` when the caller already knows them (check, status). */
async function preview<S extends ChangeSpool | undefined>(
  client: Queryable,
  table: PackagesTable,
  options: PreviewOptions,
  clock: ClockRow,
  base: ResultBase,
  spool: () => S,
  unknownZones?: string[],
): Promise<Changes<S>> {
  const statement = (zones: string[]) => previewTickStatement(table, options.expiry, tickClock(clock, options, zones));
  if (unknownZones !== undefined) {
    const changes = await collect(client, statement(unknownZones), base, spool());
    changes.result.timezoneUnknown = await rowsInZones(client, table, options.expiry, tickClock(clock, options), unknownZones, 'candidates');
    return changes;
  }
  const { value, unknown } = await withUnknownZonesLeftOut(client, table, options.expiry, tickClock(clock, options), (zones) =>
    collect(client, statement(zones), base, spool()),
  );
  value.result.timezoneUnknown = unknown;
  return value;
}

function tickClock(clock: ClockRow, options: Pick<TickOptions, 'timezone'>, unknownZones: string[] = []): TickClock {
  return { instant: clock.instant, timezone: options.timezone, unknownZones };
}

/**
 * After a rollback, best effort in its own short transaction: if the database is gone there is
 * nothing to record into, and the tick's own error is what the caller reports either way.
 */
async function recordFailure(
  client: Queryable,
  table: PackagesTable,
  tick: Tick,
  error: unknown,
  options: TickOptions,
): Promise<void> {
  const failure = { code: sqlstateOf(error) ?? errorCode(error) ?? null, message: describeError(error) };
  await withTransaction(client, transactionOptions(options, false), () => query(client, recordFailedStatement(table.history!, tick, failure)));
}

function clockText(clock: ClockRow): string {
  const offset = clock.utc_offset_seconds;
  const abs = Math.abs(offset);
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600) / 60)).padStart(2, '0');
  return `${clock.local_now}${offset < 0 ? '-' : '+'}${hh}:${mm}`;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
