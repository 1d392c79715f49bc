// One tick: every due activation and deactivation of one packages table, in one transaction.
import { ConfigError, errorCode } from './errors.js';
import { tryAdvisoryXactLock, withTransaction, type Queryable } from './db.js';
import type { QualifiedName } from './identifiers.js';
import type { Logger } from './logger.js';
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
  /** Dry run only: evaluate as if now were this instant (ISO 8601; with no offset, local to `timezone`). */
  at?: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
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
  reason: 'locked';
  table: string;
  durationMs: number;
}
export type TickResult = TickCompleted | TickSkipped;

const LOCK_KEY_PREFIX = 'package-scheduler:';

/**
 * Runs one tick on an open connection. Logs each change (after COMMIT, so a line always means
 * a change that was made) and returns what happened. Throws on any error, with nothing changed.
 */
export async function runTick(client: Queryable, options: TickOptions, logger: Logger): Promise<TickResult> {
  const started = performance.now();
  const outcome = await withTransaction(
    client,
    { readOnly: options.dryRun, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs },
    async () => {
      const table = await resolvePackagesTable(client, options.table);
      const clock = await readClock(client, options);
      // One run per table at a time, across hosts. A dry run changes nothing and needs no turn.
      if (!options.dryRun && !(await tryAdvisoryXactLock(client, LOCK_KEY_PREFIX + table.quoted))) {
        return { table, locked: true as const };
      }
      const sql = options.dryRun ? previewTickSql(table, options.expiry) : applyTickSql(table, options.expiry);
      const { rows } = await client.query<TickRow>(sql, [clock.instant, options.timezone]);
      return { table, locked: false as const, clock, rows };
    },
  );
  const table = displayName(outcome.table);
  if (outcome.locked) {
    const result: TickSkipped = { status: 'skipped', reason: 'locked', table, durationMs: elapsed(started) };
    logger.info({ event: 'tick.skipped', reason: 'locked', table }, 'another run holds the lock for this table');
    return result;
  }
  const result = summarize(outcome.rows, {
    dryRun: options.dryRun,
    table,
    timezone: options.timezone,
    now: clockText(outcome.clock),
  });
  logChanges(result, logger);
  result.durationMs = elapsed(started);
  logger.info(
    {
      event: 'tick.completed',
      table,
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
  base: Pick<TickCompleted, 'dryRun' | 'table' | 'timezone' | 'now'>,
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
// lines can ever count a change that was not made.
function logChanges(result: TickCompleted, logger: Logger): void {
  const common = { table: result.table, dryRun: result.dryRun };
  const event = result.dryRun
    ? { activated: 'package.would_activate', skipped: 'package.would_skip_activation', deactivated: 'package.would_deactivate' }
    : { activated: 'package.activated', skipped: 'package.activation_skipped', deactivated: 'package.deactivated' };
  for (const a of result.activated) {
    logger.info({ event: event.activated, ...common, ...a }, 'package activated');
  }
  for (const s of result.activationSkipped) {
    logger.info({ event: event.skipped, ...common, ...s }, 'scheduled activation skipped: the package had already expired');
  }
  for (const d of result.deactivated) {
    logger.info({ event: event.deactivated, ...common, ...d }, 'package deactivated');
  }
}

function displayName(table: PackagesTable): string {
  return `${table.schema}.${table.name}`;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
