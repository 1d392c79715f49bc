// One tick: every due activation and deactivation of one packages table, in one transaction.
// runTick is a sequence of named steps over one context (context.ts): open (resolve, clock) →
// lock → apply → record → notify, then the log lines, after COMMIT.
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { awaitInTransaction, query, tryAdvisoryXactLock, withTransaction, type Queryable } from '../db/resources.js';
import { withFields, type Logger } from '../logger.js';
import { displayName } from '../db/sql-fragments.js';
import { recordSkippedStatement } from '../history/history-sql.js';
import type { PackagesTable } from '../table/packages-table.js';
import { apply, preview, type Tick } from './apply.js';
import { citusProblem } from '../citus/apply.js';
import { managedByCitus } from '../citus/topology.js';
import { ChangeSpool } from './change-spool.js';
import { elapsed, openTick, resolveTable, type Changes } from './context.js';
import { errorCode, sqlstateOf } from '../errors.js';
import { logChanges, logCompleted, logSkipped } from './log-lines.js';
import { transactionOptions, type TickOptions } from './options.js';
import { notify, record, recordFailure } from './record.js';
import { addBatch, changesOf, type TickCompleted, type TickResult } from './result.js';

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

// `more`: the batch was full, so more due rows may be waiting for the next one.
type Outcome = { locked: true; table: string } | { locked: false; changes: Changes; instant: string; more: boolean };

/** --max-changes' default: a backlog of more due rows takes several transactions. */
export const DEFAULT_MAX_CHANGES = 100_000;

const QUERY_CANCELED = '57014';

/**
 * Runs one tick on an open connection. Logs each change (after COMMIT, so a line always means
 * a change that was made) and returns what happened. Throws on any error, with nothing of the
 * failed transaction changed.
 *
 * A backlog of more than `maxChanges` due rows is applied in consecutive transactions (batches),
 * each all-or-nothing and logged after its own COMMIT, all at the instant the first one read:
 * the first reads the database's clock, the later ones are given that instant (as `at`). The
 * table's advisory lock is transaction-scoped, so each batch takes it again with the same key;
 * if another run holds it by then, this run stops there (tick.skipped semantics for the rest:
 * the other run carries on). A failed batch leaves the committed ones in place and throws.
 */
export async function runTick(client: Queryable, options: TickOptions, baseLogger: Logger): Promise<TickResult> {
  const started = performance.now();
  const runId = options.runId ?? randomUUID();
  const maxRows = options.maxChanges ?? DEFAULT_MAX_CHANGES;
  let total: TickCompleted | undefined;
  let at = options.at;
  // The committed batch whose lines are being written while the next batch runs: the database
  // works on the next batch while this process writes the last one's lines (after its COMMIT).
  // The next batch commits only once they are all written (a slow reader of stdout: it waits in
  // its transaction, keeping it from looking idle), and what it logs waits for them.
  let logging: Promise<void> | undefined;
  for (;;) {
    const before = logging;
    const batchOptions = { ...options, at, runId };
    const batch = settled(before === undefined
      ? runBatch(client, batchOptions, baseLogger, maxRows, total)
      : runBatch(client, batchOptions, heldBack(baseLogger, before), maxRows, total, () => awaitInTransaction(client, before)));
    // Lines that could not be written fail this batch too, before its COMMIT: the error is theirs.
    if (before) await before.catch(async (error: unknown) => {
      await batch;
      throw error;
    });
    const done = await batch;
    if (!done.ok) throw explained(done.error, options, maxRows, done.ms, total);
    const outcome = done.value;
    if (outcome.locked) {
      const skipped = { status: 'skipped', runId, reason: 'locked', table: outcome.table, durationMs: elapsed(started) } as const;
      logSkipped(skipped, baseLogger);
      if (total === undefined) return skipped;
      total.stopped = 'locked';
      break;
    }
    const { result, spool: records } = outcome.changes;
    total = addBatch(total, result);
    logging = logChanges(result, records, baseLogger).finally(() => records.close());
    if (!outcome.more) {
      await logging;
      break;
    }
    at = outcome.instant;
  }
  total.durationMs = elapsed(started);
  logCompleted(total, baseLogger);
  return total;
}

/**
 * A logger whose lines wait until `until` has settled, then come in order: what the next batch
 * logs (a spool warning, a failure) comes after every line of the batch before it.
 */
function heldBack(logger: Logger, until: Promise<unknown>): Logger {
  let held: (() => void)[] | undefined = [];
  const release = () => {
    const lines = held ?? [];
    held = undefined;
    for (const write of lines) write();
  };
  until.then(release, release);
  const line = (level: 'debug' | 'info' | 'warn'): Logger['info'] => (fields, message) => {
    if (held) held.push(() => logger[level](fields, message));
    else logger[level](fields, message);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn') };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown; ms: number };

// A promise that never rejects: the batch runs while the lines before it are written, and its
// failure is looked at only after them (an unobserved rejection would end the process). `ms`:
// how long the failed batch ran, for the statement-timeout advice.
function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error, ms: elapsed(started) }),
  );
}

/**
 * One transaction of a tick: at most `maxRows` rows changed; `total`, the batches before it.
 * `beforeCommit`: what must succeed before this batch may commit (the last batch's lines).
 */
async function runBatch(
  client: Queryable,
  options: TickOptions & { runId: string },
  baseLogger: Logger,
  maxRows: number,
  total: TickCompleted | undefined,
  beforeCommit?: () => Promise<void>,
): Promise<Outcome> {
  const { runId } = options;
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
  try {
    return await withTransaction(client, transactionOptions(options, options.dryRun), async (): Promise<Outcome> => {
      table = await resolveTable(client, options, { history, logger });
      const unsupported = citusProblem(table, table.citus, !options.dryRun);
      if (unsupported) throw unsupported;
      who = { tableName: displayName(table), runId, runner };
      const tick = await openTick(client, table, options, { runId, dryRun: options.dryRun, spool });
      const instant = tick.clock.instant;
      if (options.dryRun) {
        const changes = await preview(tick);
        spooled = changes.spool;
        return { locked: false, changes, instant, more: false };
      }
      if (!(await tryAdvisoryXactLock(client, lockKey(table)))) {
        if (table.history) await query(client, recordSkippedStatement(table.history, who));
        return { locked: true, table: who.tableName };
      }
      // On Citus the shards' statements take no cap: one transaction, as before (docs/citus.md).
      const batched = !managedByCitus(table.citus);
      if (batched) tick.maxRows = maxRows;
      const changes = await apply(tick, who);
      spooled = changes.spool;
      // The state row counts the run so far: every batch committed, this one included.
      await record(client, table, who, addBatch(total && { ...total }, changes.result), logger, history?.retentionDays);
      await notify(client, options.notifyChannel, changes.result);
      await beforeCommit?.();
      // Fewer changes than the cap: the batch took every unlocked due row (the rows it skipped
      // as locked, or a trigger kept unchanged, wait for the next run), so the loop always ends.
      return { locked: false, changes, instant, more: batched && changesOf(changes.result) >= maxRows };
    });
  } catch (error) {
    spooled?.close(); // rolled back (COMMIT itself may have failed): not one of its lines is logged
    if (!options.dryRun && table?.history && who) await recordFailure(client, table.history, who, error, options).catch(() => {});
    throw error;
  }
}

/**
 * A failed batch's error, said so when it matters: which batches are kept, and, when the tick
 * statement ran into statement_timeout, which setting to raise. The code (and so the exit
 * code) stays the failure's own, on the cause.
 */
function explained(error: unknown, options: TickOptions, maxRows: number, ms: number, total: TickCompleted | undefined): unknown {
  const timedOut = sqlstateOf(error) === QUERY_CANCELED && options.statementTimeoutMs > 0 && ms >= options.statementTimeoutMs;
  const kept = total === undefined ? '' : `; the ${total.transactions} transaction(s) before it committed ${changesOf(total)} changes, which stay (the next run continues)`;
  if (!timedOut && kept === '') return error;
  const batch = total === undefined ? 'the tick' : `transaction ${total.transactions + 1} of the tick`;
  const what = timedOut
    ? `${batch} (at most ${maxRows} rows) ran ${Math.round(ms)} ms and hit statement_timeout (${options.statementTimeoutMs} ms): ` +
      `raise --statement-timeout / SCHEDULER_STATEMENT_TIMEOUT above ${Math.round(ms)}, or lower --max-changes / SCHEDULER_MAX_CHANGES`
    : `${batch} failed`;
  return new TickBatchError(`${what}${kept}`, error);
}

/**
 * A failed batch, explained. It carries the failure's own SQLSTATE or errno as `.code`, so
 * whatever classifies the error by its code (exitCodeFor, a library caller) sees the failure
 * itself; an error whose class decides its exit code (ConfigError …) is found on the cause.
 */
export class TickBatchError extends Error {
  readonly code?: string;
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    const classed = typeof cause === 'object' && cause !== null && typeof (cause as { exitCode?: unknown }).exitCode === 'number';
    const code = classed ? undefined : errorCode(cause);
    if (code !== undefined) this.code = code;
  }
}
