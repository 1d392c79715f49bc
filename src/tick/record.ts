// After the tick statement, in the same transaction: the state row, a batch of retention, and
// the notification; and, after a rollback, the failure in a transaction of its own.
import { describeError, errorCode, sqlstateOf } from '../errors.js';
import { query, withTransaction, type Queryable } from '../db/resources.js';
import type { Logger } from '../logger.js';
import type { HistoryTables, PackagesTable } from '../table/packages-table.js';
import { pruneEventsStatement, recordCompletedStatement, recordFailedStatement } from '../history/history-sql.js';
import type { Tick } from './apply.js';
import { transactionOptions, type TickOptions } from './options.js';
import { countsOf, notificationPayload, type TickCompleted } from './result.js';

const DEFAULT_RETENTION_DAYS = 90;
const PRUNE_BATCH = 1000;

/** The state row and a batch of retention, in the tick's own transaction. */
export async function record(
  client: Queryable,
  table: PackagesTable,
  who: Tick,
  result: TickCompleted,
  logger: Logger,
  retentionDays = DEFAULT_RETENTION_DAYS,
): Promise<void> {
  if (!table.history) return;
  await query(client, recordCompletedStatement(table.history, who, countsOf(result)));
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
export async function notify(client: Queryable, channel: string | undefined, result: TickCompleted): Promise<void> {
  const { activated, deactivated, activationSkipped } = countsOf(result);
  if (channel === undefined || activated + deactivated + activationSkipped === 0) return;
  await client.query('SELECT pg_notify($1::text, $2::text)', [channel, notificationPayload(result)]);
}

/**
 * After a rollback, best effort in its own short transaction: if the database is gone there is
 * nothing to record into, and the tick's own error is what the caller reports either way.
 */
export async function recordFailure(client: Queryable, history: HistoryTables, who: Tick, error: unknown, options: TickOptions): Promise<void> {
  const failure = { code: sqlstateOf(error) ?? errorCode(error) ?? null, message: describeError(error) };
  await withTransaction(client, transactionOptions(options, false), () => query(client, recordFailedStatement(history, who, failure)));
}
