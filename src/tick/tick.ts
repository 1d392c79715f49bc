// One tick: every due activation and deactivation of one packages table, in one transaction.
// runTick is a sequence of named steps over one context (context.ts): open (resolve, clock) →
// lock → apply → record → notify, then the log lines, after COMMIT.
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { query, tryAdvisoryXactLock, withTransaction, type Queryable } from '../db/resources.js';
import { withFields, type Logger } from '../logger.js';
import { displayName } from '../db/sql-fragments.js';
import { recordSkippedStatement } from '../history/history-sql.js';
import type { PackagesTable } from '../table/packages-table.js';
import { apply, preview, type Tick } from './apply.js';
import { citusProblem } from '../citus/apply.js';
import { ChangeSpool } from './change-spool.js';
import { elapsed, openTick, resolveTable, type Changes } from './context.js';
import { logChanges, logCompleted, logSkipped } from './log-lines.js';
import { transactionOptions, type TickOptions } from './options.js';
import { notify, record, recordFailure } from './record.js';
import type { TickResult } from './result.js';

export type { ExpiryMode } from './due-sql.js';
export type { HistorySetting } from '../table/packages-table.js';
export type { PreviewOptions, TickOptions } from './options.js';
export type { Activation, ChangeCounts, Deactivation, SkippedActivation, TickCompleted, TickSkipped, TickResult } from './result.js';
export { LIST_LIMIT, notificationPayload } from './result.js';
export { previewInTransaction, previewTick } from './preview.js';

const LOCK_KEY_PREFIX = 'package-scheduler:';

/** The advisory lock key of a table: one run per table at a time, across hosts. */
export function lockKey(table: Pick<PackagesTable, 'quoted'>): string {
  return LOCK_KEY_PREFIX + table.quoted;
}

type Outcome = { locked: true; table: string } | { locked: false; changes: Changes };

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
  const spool = () =>
    new ChangeSpool({
      directory: options.spoolDirectory ?? tmpdir(),
      memoryBytes: options.spoolMemoryBytes,
      onFileUnavailable: (code) =>
        logger.warn({ event: 'tick.spool_in_memory', code }, 'cannot create a spool file in the temp folder: this large tick keeps its changes in memory'),
    });
  let table: PackagesTable | undefined;
  let who: Tick | undefined;
  // The spool of the statement's records, until logged: closed on every way out.
  let spooled: ChangeSpool | undefined;
  let outcome: Outcome;
  try {
    outcome = await withTransaction(client, transactionOptions(options, options.dryRun), async (): Promise<Outcome> => {
      table = await resolveTable(client, options, { history, logger });
      const unsupported = citusProblem(table, table.citus, !options.dryRun);
      if (unsupported) throw unsupported;
      who = { tableName: displayName(table), runId, runner };
      const tick = await openTick(client, table, options, { runId, dryRun: options.dryRun, spool });
      if (options.dryRun) {
        const changes = await preview(tick);
        spooled = changes.spool;
        return { locked: false, changes };
      }
      if (!(await tryAdvisoryXactLock(client, lockKey(table)))) {
        if (table.history) await query(client, recordSkippedStatement(table.history, who));
        return { locked: true, table: who.tableName };
      }
      const changes = await apply(tick, who);
      spooled = changes.spool;
      await record(client, table, who, changes.result, logger, history?.retentionDays);
      await notify(client, options.notifyChannel, changes.result);
      return { locked: false, changes };
    });
  } catch (error) {
    spooled?.close(); // rolled back (COMMIT itself may have failed): not one of its lines is logged
    if (!options.dryRun && table?.history && who) await recordFailure(client, table.history, who, error, options).catch(() => {});
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
