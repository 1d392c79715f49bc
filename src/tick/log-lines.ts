// The tick's log lines, written after COMMIT so that a line always means a change was made.
import type { Logger } from '../logger.js';
import type { ChangeSpool } from './change-spool.js';
import { ChangeKind } from './change-records.js';
import { countsOf, parseChangeLine, type TickCompleted, type TickSkipped } from './result.js';

/**
 * One line per change, then the unknown-zone warnings, letting the event loop run between
 * blocks of lines: in a backlog a batch's lines are written while the next batch's statements
 * run (tick.ts). Resolved once every line is written.
 */
export async function logChanges(result: TickCompleted, spool: ChangeSpool, logger: Logger): Promise<void> {
  await spool.forEachYielding(changeLine(result, logger));
  logUnknownZones(result, logger);
}

// A dry run logs under other event names, so nothing that counts `package.activated`
// lines can ever count a change that was not made. The fields every line of a kind shares are
// bound once; a backlog tick writes a million lines.
function changeLine(result: TickCompleted, logger: Logger): (line: string) => void {
  const { runId, table, dryRun } = result;
  const event = dryRun
    ? { activated: 'package.would_activate', skipped: 'package.would_skip_activation', deactivated: 'package.would_deactivate' }
    : { activated: 'package.activated', skipped: 'package.activation_skipped', deactivated: 'package.deactivated' };
  // A reader of the text alone must not take a dry run's line for a change.
  const text = dryRun
    ? {
        activated: 'would activate the package (dry run)',
        skipped: 'would skip the scheduled activation: the package has already expired (dry run)',
        deactivated: 'would deactivate the package (dry run)',
      }
    : {
        activated: 'package activated',
        skipped: 'scheduled activation skipped: the package had already expired',
        deactivated: 'package deactivated',
      };
  // pino serializes a child's fields once instead of on every line; any other logger gets one
  // object literal per line (a spread per line cost as much as the rest of the loop).
  const bound = logger.child !== undefined;
  const activated = bound ? logger.child!({ runId, event: event.activated, table, dryRun }) : logger;
  const skipped = bound ? logger.child!({ runId, event: event.skipped, table, dryRun }) : logger;
  const deactivated = bound ? logger.child!({ runId, event: event.deactivated, table, dryRun }) : logger;
  return (line) => {
    const { kind, record } = parseChangeLine(line);
    const [packageId, rowName, dueAt, lateSeconds, validUntil, zone] = record;
    const name = rowName ?? undefined;
    const timezone = zone ?? result.timezone;
    if (kind === ChangeKind.activated) {
      const message = text.activated;
      if (bound) activated.info({ packageId, name, dueAt, lateSeconds, timezone }, message);
      else logger.info({ runId, event: event.activated, table, dryRun, packageId, name, dueAt, lateSeconds, timezone }, message);
    } else if (kind === ChangeKind.activationSkipped) {
      const message = text.skipped;
      if (bound) skipped.info({ packageId, name, reason: 'expired', dueAt, validUntil, timezone }, message);
      else logger.info({ runId, event: event.skipped, table, dryRun, packageId, name, reason: 'expired', dueAt, validUntil, timezone }, message);
    } else {
      const message = text.deactivated;
      if (bound) deactivated.info({ packageId, name, validUntil, timezone }, message);
      else logger.info({ runId, event: event.deactivated, table, dryRun, packageId, name, validUntil, timezone }, message);
    }
  };
}

function logUnknownZones(result: TickCompleted, logger: Logger): void {
  const { runId, table, dryRun } = result;
  for (const u of result.timezoneUnknown) {
    logger.warn(
      { runId, event: 'package.timezone_unknown', table, dryRun, packageId: u.packageId, name: u.name, timezone: u.timezone },
      'package left alone: its time zone is not one PostgreSQL knows as an IANA name',
    );
  }
}

export function logCompleted(result: TickCompleted, logger: Logger): void {
  logger.info(
    {
      runId: result.runId,
      event: 'tick.completed',
      table: result.table,
      ...countsOf(result),
      ...(result.timezoneUnknown.length > 0 ? { timezoneUnknown: result.timezoneUnknown.length } : {}),
      dryRun: result.dryRun,
      timezone: result.timezone,
      now: result.now,
      ...(result.maxLateMs === null ? {} : { maxLateMs: result.maxLateMs }),
      transactions: result.transactions,
      ...(result.stopped ? { stopped: result.stopped } : {}),
      durationMs: result.durationMs,
    },
    result.dryRun ? 'dry run: nothing was changed' : 'tick completed',
  );
}

export function logSkipped(result: TickSkipped, logger: Logger): void {
  logger.info({ runId: result.runId, event: 'tick.skipped', reason: result.reason, table: result.table }, 'another run holds the lock for this table');
}
