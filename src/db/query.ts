// Statements and their results: a statement built with params.ts, a result read in pages, and
// the type parsers that keep dates and times as the text PostgreSQL sent.
import pg from 'pg';
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
export const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (TEXT_TYPES.has(oid)) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

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
