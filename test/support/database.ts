// A fresh database per test file, and helpers to build packages tables in it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { TICK_MARKER } from '../../src/tick/tick-sql.ts';
import { waitUntil } from './wait.ts';

export interface TestDatabase {
  url: string;
  /** A connected client for fixtures and assertions. */
  client: pg.Client;
  /** A new connected client (closed after the file). */
  connect(): Promise<pg.Client>;
}

// Keep DATE/TIMESTAMP as the text PostgreSQL sent, as the tool does.
for (const oid of [1082, 1083, 1114, 1184]) pg.types.setTypeParser(oid, (v: string) => v);

/** Registers beforeAll/afterAll hooks; use the returned object inside tests. */
export function useTestDatabase(): TestDatabase {
  const name = `ps_test_${randomBytes(6).toString('hex')}`;
  const clients: pg.Client[] = [];
  const db = {} as TestDatabase;
  beforeAll(async () => {
    const adminUrl = inject('adminUrl');
    const admin = await connectClient(adminUrl);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    db.url = url.toString();
    db.connect = async () => {
      const c = await connectClient(db.url);
      clients.push(c);
      return c;
    };
    db.client = await db.connect();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    const admin = await connectClient(inject('adminUrl'));
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  return db;
}

/**
 * A connected client. pg waits for ever on a connect that gets no answer; a connect that
 * takes over 15 s (a stalled container network) is given up and tried once more, so it
 * fails with its reason instead of a bare hook timeout.
 */
async function connectClient(url: string): Promise<pg.Client> {
  for (let attempt = 1; ; attempt++) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
    c.on('error', () => {});
    try {
      await c.connect();
      return c;
    } catch (error) {
      await c.end().catch(() => {});
      if (attempt === 2) throw new Error(`cannot connect to the test server: ${(error as Error).message}`, { cause: error });
      process.stderr.write(`[test-postgres] connect attempt ${attempt} failed (${(error as Error).message}); trying again\n`);
    }
  }
}

export interface TableShape {
  table?: string;
  validUntilType?: 'date' | 'timestamp' | 'timestamptz';
  withName?: boolean;
  updatedAt?: 'timestamptz' | 'timestamp' | 'none';
}

/** Creates (or re-creates) a packages table in the CRM's shape. */
export async function createPackagesTable(client: pg.ClientBase, shape: TableShape = {}): Promise<string> {
  const table = shape.table ?? 'special_packages';
  await dropTable(client, table);
  await client.query(`
    CREATE TABLE ${table} (
      id serial PRIMARY KEY,
      ${shape.withName === false ? '' : "name text NOT NULL DEFAULT 'package',"}
      price numeric(10,2) NOT NULL DEFAULT 0,
      is_active boolean DEFAULT false,
      scheduled boolean DEFAULT false,
      schedule_date date,
      schedule_time time,
      auto_activate boolean DEFAULT false,
      auto_deactivate boolean DEFAULT false,
      valid_until ${shape.validUntilType ?? 'date'}
      ${shape.updatedAt === 'none' ? '' : `, updated_at ${shape.updatedAt ?? 'timestamptz'}`}
    )`);
  return table;
}

/**
 * DROP TABLE … CASCADE, waiting at most 20 s for its lock: a test that left a session holding
 * a lock on the table then fails with the holders named, instead of a bare hook timeout.
 */
async function dropTable(client: pg.ClientBase, table: string): Promise<void> {
  try {
    await client.query(`BEGIN; SET LOCAL lock_timeout = '20s'; DROP TABLE IF EXISTS ${table} CASCADE; COMMIT`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if ((error as { code?: string }).code !== '55P03') throw error;
    const { rows } = await client.query(
      `SELECT l.pid, l.mode, a.state, a.backend_type, a.application_name, a.wait_event, left(a.query, 200) AS query
         FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)
        WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    throw new Error(`DROP TABLE ${table} waited 20 s for its lock; locks held by others: ${JSON.stringify(rows)}`, { cause: error });
  }
}

export interface PackageRow {
  name?: string;
  is_active?: boolean | null;
  scheduled?: boolean | null;
  schedule_date?: string | null;
  schedule_time?: string | null;
  auto_activate?: boolean | null;
  auto_deactivate?: boolean | null;
  valid_until?: string | null;
  updated_at?: string | null;
}

export async function insertPackage(client: pg.ClientBase, row: PackageRow, table = 'special_packages'): Promise<number> {
  const columns = Object.keys(row);
  const values = Object.values(row);
  const sql =
    columns.length === 0
      ? `INSERT INTO ${table} DEFAULT VALUES RETURNING id`
      : `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`;
  const { rows } = await client.query<{ id: number }>(sql, values);
  return rows[0]!.id;
}

export interface StoredPackage {
  id: number;
  is_active: boolean | null;
  scheduled: boolean | null;
  updated_at?: string | null;
  [column: string]: unknown;
}

export async function getPackage(client: pg.ClientBase, id: number, table = 'special_packages'): Promise<StoredPackage> {
  const { rows } = await client.query<StoredPackage>(`SELECT * FROM ${table} WHERE id = $1`, [id]);
  return rows[0]!;
}

/**
 * A BEFORE UPDATE trigger standing in for the CRM's own: `body` (PL/pgSQL, NEW is the row)
 * runs for every row a tick updates, e.g. to sleep or to raise. Replaces one of the same name.
 */
export async function addUpdateTrigger(client: pg.ClientBase, name: string, body: string, table = 'special_packages'): Promise<void> {
  await client.query(`
    CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN ${body} RETURN NEW; END $$;
    DROP TRIGGER IF EXISTS ${name} ON ${table};
    CREATE TRIGGER ${name} BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}();`);
}

export async function dropUpdateTrigger(client: pg.ClientBase, name: string, table = 'special_packages'): Promise<void> {
  await client.query(`DROP TRIGGER IF EXISTS ${name} ON ${table}`);
}

/** Waits until a CLI process's tick statement is running (e.g. asleep in a trigger), found by its marker. */
export async function waitForActiveTick(client: pg.ClientBase, timeoutMs = 5000): Promise<void> {
  await waitUntil(
    async () =>
      (
        await client.query(`SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, $1::text)`, [TICK_MARKER])
      ).rows.length > 0,
    { what: 'the tick statement to start', timeoutMs },
  );
}
