// `migrate` and `check`, through the binary and the library API.
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { migrationSql } from '../src/migrate/migration-sql.ts';
import { createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';

const db = useTestDatabase();

async function columns(table = 'special_packages'): Promise<Record<string, string>> {
  const { rows } = await db.client.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1`,
    [table],
  );
  return Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
}

async function indexes(table = 'special_packages'): Promise<{ name: string; valid: boolean; def: string }[]> {
  const { rows } = await db.client.query<{ name: string; valid: boolean; def: string }>(
    `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND NOT i.indisprimary ORDER BY 1`,
    [table],
  );
  return rows;
}

describe('migrate', () => {
  beforeEach(async () => {
    // The CRM's table before scheduling existed: no scheduling columns at all.
    await db.client.query(`DROP TABLE IF EXISTS special_packages CASCADE;
      CREATE TABLE special_packages (id serial PRIMARY KEY, name text, is_active boolean DEFAULT true,
                                     valid_until date, updated_at timestamp);
      INSERT INTO special_packages (name) VALUES ('existing')`);
  });

  it('adds the five columns and two partial indexes, then is a no-op the second time', async () => {
    const first = await runCli(['migrate'], { env: { DATABASE_URL: db.url } });
    expect(first.code).toBe(0);
    expect(await columns()).toMatchObject({
      scheduled: 'boolean', auto_activate: 'boolean', auto_deactivate: 'boolean',
      schedule_date: 'date', schedule_time: 'time without time zone',
    });
    const { rows } = await db.client.query('SELECT scheduled, auto_activate, auto_deactivate FROM special_packages');
    expect(rows).toEqual([{ scheduled: false, auto_activate: false, auto_deactivate: false }]);
    const built = await indexes();
    expect(built.map((i) => [i.name, i.valid])).toEqual([
      ['special_packages_due_activation_idx', true],
      ['special_packages_due_deactivation_idx', true],
    ]);
    expect(built[0]!.def).toContain('WHERE (scheduled AND auto_activate)');
    expect(first.events('migrate.completed')[0]).toMatchObject({
      addedColumns: ['scheduled', 'auto_activate', 'auto_deactivate', 'schedule_date', 'schedule_time'],
      createdIndexes: ['special_packages_due_activation_idx', 'special_packages_due_deactivation_idx'],
    });

    const second = await runCli(['migrate'], { env: { DATABASE_URL: db.url } });
    expect(second.code).toBe(0);
    expect(second.events('migrate.completed')[0]).toMatchObject({ addedColumns: [], createdIndexes: [] });
    // And a tick works on the migrated table.
    const tick = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(tick.code).toBe(0);
  });

  it('rebuilds an index an interrupted CONCURRENTLY build left invalid', async () => {
    await runCli(['migrate'], { env: { DATABASE_URL: db.url } });
    await db.client.query(`UPDATE pg_index SET indisvalid = false
                            WHERE indexrelid = 'special_packages_due_activation_idx'::regclass`);
    const r = await runCli(['migrate'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.events('migrate.completed')[0]).toMatchObject({ rebuiltIndexes: ['special_packages_due_activation_idx'] });
    expect((await indexes()).every((i) => i.valid)).toBe(true);
  });

  it('works on a schema-qualified table with a quoted name', async () => {
    await db.client.query(`CREATE SCHEMA IF NOT EXISTS crm; DROP TABLE IF EXISTS crm."Promo Packages";
      CREATE TABLE crm."Promo Packages" (id int PRIMARY KEY, is_active boolean, valid_until timestamptz)`);
    const r = await runCli(['migrate', '--table', 'crm."Promo Packages"'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(Object.keys(await columns('Promo Packages'))).toContain('schedule_time');
    const tick = await runCli(['run', '--table', 'crm."Promo Packages"'], { env: { DATABASE_URL: db.url } });
    expect(tick.code).toBe(0);
    expect(tick.events('tick.completed')[0]).toMatchObject({ table: 'crm.Promo Packages' });
  });

  it('--print prints the SQL without a database and changes nothing', async () => {
    const r = await runCli(['migrate', '--print']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(new URL('../sql/add_package_scheduling.sql', import.meta.url), 'utf8'));
    expect(Object.keys(await columns())).not.toContain('scheduled');
  });

  it('ships sql/add_package_scheduling.sql identical to what migrate runs', () => {
    const shipped = readFileSync(new URL('../sql/add_package_scheduling.sql', import.meta.url), 'utf8');
    expect(shipped).toBe(migrationSql({ name: 'special_packages' }));
  });

  it('exits 78 naming the grant when the role does not own the table', async () => {
    const role = `scheduler_ro_${Date.now()}`;
    await db.client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'ro-secret'; GRANT SELECT ON special_packages TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'ro-secret';
    const r = await runCli(['migrate'], { env: { DATABASE_URL: url.toString() } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('owner');
    expect(r.stdout + r.stderr).not.toContain('ro-secret');
    await db.client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  });
});

describe('check', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('reports what is due, misconfigured rows and missing indexes, and exits 0', async () => {
    const due = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const noDate = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: null });
    const noEnd = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: null });
    const r = await runCli(['check', '--json'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.due.activated.map((a: { packageId: string }) => a.packageId)).toEqual([String(due)]);
    expect(report.misconfigured).toEqual([
      { packageId: String(noDate), problem: expect.stringContaining('without schedule_date') },
      { packageId: String(noEnd), problem: expect.stringContaining('without valid_until') },
    ]);
    expect(report.indexes.map((i: { state: string }) => i.state)).toEqual(['missing', 'missing']);
    // check changes nothing
    const { rows } = await db.client.query('SELECT is_active FROM special_packages WHERE id = $1', [due]);
    expect(rows[0].is_active).toBe(false);

    const text = await runCli(['check'], { env: { DATABASE_URL: db.url } });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('due now: 1 to activate');
    expect(text.stdout).toContain('misconfigured rows: 2');
  });

  it('exits 78 for a zone PostgreSQL does not know and for a broken table', async () => {
    const zone = await runCli(['check', '--timezone', 'Atlantis/Capital'], { env: { DATABASE_URL: db.url } });
    expect(zone.code).toBe(78);
    await db.client.query('ALTER TABLE special_packages DROP COLUMN auto_activate');
    const table = await runCli(['check'], { env: { DATABASE_URL: db.url } });
    expect(table.code).toBe(78);
    expect(table.stderr).toContain('auto_activate');
  });
});
