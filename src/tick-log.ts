// The tick's log lines, written after COMMIT so that a line always means a change was made.
import type { Logger } from './logger.js';
import { countsOf, type TickCompleted, type TickSkipped } from './tick-result.js';

// A dry run logs under other event names, so nothing that counts `package.activated`
// lines can ever count a change that was not made. One object literal per line (no spreads):
// a 100k-row tick writes 100k lines.
export function logChanges(result: TickCompleted, logger: Logger): void {
  const { runId, table, dryRun } = result;
  const event = dryRun
    ? { activated: 'package.would_activate', skipped: 'package.would_skip_activation', deactivated: 'package.would_deactivate' }
    : { activated: 'package.activated', skipped: 'package.activation_skipped', deactivated: 'package.deactivated' };
  for (const a of result.activated) {
    logger.info(
      { runId, event: event.activated, table, dryRun, packageId: a.packageId, name: a.name, dueAt: a.dueAt, lateSeconds: a.lateSeconds, timezone: a.timezone },
      'package activated',
    );
  }
  for (const s of result.activationSkipped) {
    logger.info(
      { runId, event: event.skipped, table, dryRun, packageId: s.packageId, name: s.name, reason: s.reason, dueAt: s.dueAt, validUntil: s.validUntil, timezone: s.timezone },
      'scheduled activation skipped: the package had already expired',
    );
  }
  for (const d of result.deactivated) {
    logger.info(
      { runId, event: event.deactivated, table, dryRun, packageId: d.packageId, name: d.name, validUntil: d.validUntil, timezone: d.timezone },
      'package deactivated',
    );
  }
  for (const u of result.timezoneUnknown) {
    logger.warn(
      { runId, event: 'package.timezone_unknown', table, dryRun, packageId: u.packageId, name: u.name, timezone: u.timezone },
      'package left alone: PostgreSQL does not know its time zone',
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
      durationMs: result.durationMs,
    },
    result.dryRun ? 'dry run: nothing was changed' : 'tick completed',
  );
}

export function logSkipped(result: TickSkipped, logger: Logger): void {
  logger.info({ runId: result.runId, event: 'tick.skipped', reason: result.reason, table: result.table }, 'another run holds the lock for this table');
}
