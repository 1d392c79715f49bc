// Resource wrappers: each acquires one thing and releases it in `finally`.
import pg from 'pg';
import { ConfigError, TemporaryError, errorCode, exitCodeFor, ExitCode } from '../errors.js';
import { Portal } from './portal.js';
import type { Statement } from './params.js';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Runs a statement built with sql/params.ts. */
export function query<R extends object = Record<string, unknown>>(client: Queryable, statement: Statement) {
  return client.query<R>(statement.text, statement.values);
}

/**
 * Runs a statement and hands its rows to `onPage` (as arrays, in the statement's column order)
 * `pageSize` at a time, so a result of any size never sits in memory whole. It is one extended-
 * protocol portal: PostgreSQL runs the statement once (a data-modifying one to completion, its
 * RETURNING rows kept server-side) and sends the rows as they are asked for. Each page is its
 * own round trip ended by Sync, so a client that stops reading leaves its session idle in
 * transaction, where idle_in_transaction_session_timeout ends it (see portal.ts).
 */
export async function readPages<R extends unknown[]>(client: Queryable, statement: Statement, pageSize: number, onPage: (rows: R[]) => void): Promise<void> {
  const portal = new Portal(client, statement.text, statement.values, types);
  // An error from read() has ended the portal already; only an error of our own (from onPage)
  // leaves it open to be closed.
  try {
    for (;;) {
      const rows = (await portal.read(pageSize)) as R[];
      if (rows.length > 0) onPage(rows);
      if (portal.done) return;
    }
  } finally {
    await portal.close().catch(() => {}); // only after onPage threw: that error is the one to report
  }
}

// pg turns DATE/TIMESTAMP/TIMESTAMPTZ into JS Dates in the *host's* zone. All time logic
// lives in SQL; whatever reaches JS stays the text PostgreSQL sent.
const TEXT_TYPES = new Set([1082, 1083, 1114, 1184, 1266]); // date, time, timestamp, timestamptz, timetz
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (TEXT_TYPES.has(oid)) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface ConnectionOptions {
  /** A libpq-style URL; when absent, host/port/user/password/database (from PG* variables) are used. */
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** Milliseconds to wait for the server to accept the connection (pg's default waits forever). */
  connectTimeoutMs: number;
  applicationName?: string;
  /** From PGSSLMODE, as pg maps it; an sslmode in the URL takes precedence. */
  ssl?: boolean | { rejectUnauthorized: false };
}

const END_GRACE_MS = 2000;

export async function withConnection<T>(options: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const connection = await openConnection(options);
  try {
    return await connection.run(fn);
  } finally {
    await closeClient(connection.client);
  }
}

/** An open client, and `run`, which reports a connection lost mid-query as temporary (75). */
export interface OpenConnection {
  client: pg.Client;
  run<T>(fn: (client: pg.Client) => Promise<T>): Promise<T>;
}

/**
 * Opens a client as withConnection does (the caller closes it with closeClient). `keepAlive`:
 * TCP keepalive for connections that stay open between ticks (run --watch).
 */
export async function openConnection(options: ConnectionOptions, extra: { keepAlive?: boolean } = {}): Promise<OpenConnection> {
  const client = new pg.Client({
    connectionString: options.connectionString,
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    connectionTimeoutMillis: options.connectTimeoutMs,
    application_name: options.applicationName ?? 'package-scheduler',
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    types,
    ...(extra.keepAlive ? { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } : {}),
  });
  // Without a listener, a connection dropped between queries is an uncaught 'error' event
  // that kills the process with a stack trace; the failing query reports it instead.
  let lost: unknown;
  client.on('error', (error) => {
    lost = error;
  });
  try {
    await client.connect();
  } catch (error) {
    await closeClient(client);
    throw connectError(error);
  }
  const run = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    try {
      return await fn(client);
    } catch (error) {
      // pg reports a connection that died mid-query without any code; what we saw on the
      // socket says it was lost, which is temporary however the message reads.
      if (lost !== undefined && errorCode(error) === undefined) {
        throw new TemporaryError('the database connection was lost', { cause: lost });
      }
      throw error;
    }
  };
  return { client, run };
}

function connectError(error: unknown): Error {
  const exit = exitCodeFor(error);
  if (exit === ExitCode.config) {
    return new ConfigError('cannot connect to the database', { cause: error });
  }
  // Timeouts and sockets closed during the handshake come from pg without a code; a connect
  // that failed for a reason we cannot name is retried, as a database that is down would be.
  return new TemporaryError('cannot connect to the database', { cause: error });
}

// A half-open socket must not keep the process alive: ask politely, then cut it.
export async function closeClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = client.end().catch(() => {});
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, END_GRACE_MS);
    timer.unref();
  });
  await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  stream?.destroy();
}

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
 * bound when statement_timeout is off). The client only ever idles between its own round trips.
 */
export const IDLE_FLOOR_MS = 5000;
export const IDLE_WITHOUT_STATEMENT_TIMEOUT_MS = 60_000;

function idleLimit(options: TransactionOptions): string {
  const statement = options.statementTimeoutMs ?? 0;
  const idle = statement === 0 ? IDLE_WITHOUT_STATEMENT_TIMEOUT_MS : Math.max(statement, IDLE_FLOOR_MS);
  return `; SET LOCAL idle_in_transaction_session_timeout = ${milliseconds(idle)}`;
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
  const begin =
    `${options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; SET LOCAL statement_timeout = ${milliseconds(options.statementTimeoutMs)}; ` +
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
 * Takes a transaction-scoped advisory lock without waiting. Released by COMMIT/ROLLBACK,
 * which withTransaction always issues (or the server, when the connection dies).
 */
export async function tryAdvisoryXactLock(client: Queryable, key: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_xact_lock(hashtextextended($1::text, 0)) AS locked',
    [key],
  );
  return rows[0]?.locked === true;
}
