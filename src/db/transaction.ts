// withTransaction and withSessionLimits: a transaction (or a session's limits) set up in its
// first message and always ended, and a read-only refusal explained.
import { TemporaryError, errorCode } from '../errors.js';
import { query, type Queryable } from './query.js';

export interface TransactionOptions {
  readOnly?: boolean;
  /** `SET LOCAL` values: inside the transaction, because PgBouncer rejects startup parameters. */
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  /**
   * Mark the transaction as the scheduler's own (`package_scheduler.tick = on`, local to it), so
   * the wake trigger (migrate/wake-trigger.ts) stays silent for the tick's updates.
   */
  markTick?: boolean;
}

// client_connection_check_interval (PostgreSQL 14+, where the platform supports it) makes the
// server notice within a second that a client died mid-statement (SIGKILL, lost host) and roll
// back, instead of finishing a long statement for nobody while holding the tick's locks.
// Older servers do not have the setting: it is set only where pg_settings lists it.
const CHECK_INTERVAL_SQL = `SELECT set_config(name, '1000', true) FROM pg_settings WHERE name = 'client_connection_check_interval'`;

/** A timeout as a literal for SET: a whole number of milliseconds, checked, never user text. */
function milliseconds(value: number | undefined): string {
  const ms = value ?? 0;
  if (!Number.isSafeInteger(ms) || ms < 0) throw new TypeError(`invalid timeout: ${String(value)} is not a whole number of milliseconds`);
  return String(ms);
}

/**
 * A client that stops mid-transaction (SIGSTOP, a frozen VM) must not hold its locks forever:
 * the server ends a session left idle in the transaction for as long as a statement may run
 * (at least IDLE_FLOOR_MS, so a loaded host's pause between two pages never trips it; a fixed
 * bound when statement_timeout is off). The client idles between its own round trips, and in
 * awaitInTransaction, which keeps saying so.
 */
export const IDLE_FLOOR_MS = 5000;
export const IDLE_WITHOUT_STATEMENT_TIMEOUT_MS = 60_000;

function idleLimit(options: TransactionOptions): string {
  const statement = options.statementTimeoutMs ?? 0;
  const idle = statement === 0 ? IDLE_WITHOUT_STATEMENT_TIMEOUT_MS : Math.max(statement, IDLE_FLOOR_MS);
  // tcp_user_timeout, the same bound, for a client that stops while the server is still sending
  // it a page (a page of long names outgrows the socket buffers): the server then waits in
  // ClientWrite, where no statement or idle timeout can fire, but the kernel gives up on a peer
  // that takes no data for that long and the server ends the session. TCP connections only.
  return `; SET LOCAL idle_in_transaction_session_timeout = ${milliseconds(idle)}; SET LOCAL tcp_user_timeout = ${milliseconds(idle)}`;
}

export async function withTransaction<T>(
  client: Queryable,
  options: TransactionOptions,
  fn: () => Promise<T>,
): Promise<T> {
  // BEGIN and both timeouts go in one simple-query message, before any other work: each SET
  // LOCAL applies to what follows it, so a database-level statement_timeout of a millisecond
  // cannot cancel the transaction before its own limits are in place. Nothing is left on the
  // session (PgBouncer hands the server connection to someone else after COMMIT).
  // DateStyle and IntervalStyle are pinned too: a key or value cast to text (a date key, an
  // infinity) must read the same whatever the database's or role's settings. TimeZone is not:
  // every time rule names its zone, and updated_at of a zone-less type is the CRM's own local time.
  // citus.propagate_set_commands = 'local' comes first: on Citus the SET LOCALs after it reach
  // the workers' shards too (a lock on a shard then times out after --lock-timeout, and the wake
  // trigger sees the tick's mark); elsewhere it is an inert placeholder setting.
  // READ COMMITTED is pinned as well: the tick is built on it (SKIP LOCKED leaves a row an admin
  // holds for the next tick; the state row is upserted after a skipped run may have written it).
  // Under a database's default_transaction_isolation of REPEATABLE READ or SERIALIZABLE, a run
  // that merely found the lock taken would make the running tick fail 40001 and roll back.
  const begin =
    `BEGIN ISOLATION LEVEL READ COMMITTED${options.readOnly ? ' READ ONLY' : ''}; SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL statement_timeout = ${milliseconds(options.statementTimeoutMs)}; ` +
    `SET LOCAL lock_timeout = ${milliseconds(options.lockTimeoutMs)}; SET LOCAL DateStyle = ISO; SET LOCAL IntervalStyle = postgres${idleLimit(options)}` +
    (options.markTick ? '; SET LOCAL package_scheduler.tick = on' : '');
  try {
    await firstMessage(client, begin);
    await client.query(CHECK_INTERVAL_SQL);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {}); // a dead connection rolls back by itself
    throw await explainReadOnly(client, error);
  }
}

// query_canceled. A database- or role-level statement_timeout of a millisecond can fire while
// the first message is still running (the backend descheduled under load), before its own SET
// has taken effect. Nothing has been done yet at that point, so the message is sent once more.
const QUERY_CANCELED = '57014';

async function firstMessage(client: Queryable, text: string): Promise<void> {
  try {
    await client.query(text);
  } catch (error) {
    if (errorCode(error) !== QUERY_CANCELED) throw error;
    await client.query('ROLLBACK').catch(() => {});
    await client.query(text);
  }
}

/**
 * Session limits for statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY),
 * set in one message before them and reset afterwards, so the connection goes back as it came.
 */
export async function withSessionLimits<T>(client: Queryable, limits: Required<Pick<TransactionOptions, 'lockTimeoutMs' | 'statementTimeoutMs'>>, fn: () => Promise<T>): Promise<T> {
  await firstMessage(client, `SET statement_timeout = ${milliseconds(limits.statementTimeoutMs)}; SET lock_timeout = ${milliseconds(limits.lockTimeoutMs)}`);
  try {
    return await fn();
  } finally {
    // lock_timeout first: once statement_timeout is back to the database's own, it applies.
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
  }
}

// read_only_sql_transaction: a hot standby (after a failover that left the URL pointing at the
// old primary) or default_transaction_read_only = on. Usually temporary, never a bug.
const READ_ONLY = '25006';

/** Names the cause of a read-only refusal (75); any other error is returned unchanged. */
export async function explainReadOnly(client: Queryable, error: unknown): Promise<unknown> {
  if (errorCode(error) !== READ_ONLY) return error;
  const standby = await client
    .query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby')
    .then((r) => r.rows[0]?.standby === true, () => false);
  return new TemporaryError(
    standby
      ? 'the database is read-only: it is a hot standby (a failover in progress, or DATABASE_URL points at a replica); nothing was changed'
      : 'the database is read-only (default_transaction_read_only = on, or a hot standby?); nothing was changed',
    { cause: error },
  );
}

/**
 * Waits for `work` (done outside the database) inside an open transaction without the server
 * taking the wait for a stalled client: a `SELECT 1` every `everyMs` keeps the session from
 * being idle as long as this process runs. A process that is stopped sends nothing, and the
 * idle timeout still ends its session. `work`'s failure is thrown.
 */
export async function awaitInTransaction(client: Queryable, work: Promise<void>, everyMs = 1000): Promise<void> {
  let done = false;
  const settled = work.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, everyMs)))]);
    clearTimeout(timer);
    if (!done) await query(client, { text: 'SELECT 1', values: [] });
  }
  await work;
}
