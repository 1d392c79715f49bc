// Least privilege: a real tick as a role holding only the documented grants.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { historyDdl } from '../src/history/history-sql.ts';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';

const db = useTestDatabase();
const role = `scheduler_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(6).toString('hex')}`;
let url: string;

describe('least privilege', () => {
  beforeAll(async () => {
    await createPackagesTable(db.client);
    await db.client.query(historyDdl());
    // Exactly the grants the README documents, nothing more.
    await db.client.query(`
      CREATE ROLE ${role} LOGIN PASSWORD '${password}';
      GRANT SELECT, UPDATE (is_active, scheduled, updated_at) ON special_packages TO ${role};
      GRANT SELECT, INSERT, UPDATE ON package_scheduler_state TO ${role};
      GRANT SELECT, INSERT, DELETE ON package_scheduler_events TO ${role};`);
    const u = new URL(db.url);
    u.username = role;
    u.password = password;
    url = u.toString();
  });
  // Roles belong to the whole server, not to this file's database.
  afterAll(async () => {
    await db.client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  });

  it('runs a real tick, with history and notifications, holding only the documented grants', async () => {
    const a = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const d = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-01-01' });
    const r = await runCli(['run', '--notify', 'package_changes'], { env: { DATABASE_URL: url } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await getPackage(db.client, a)).toMatchObject({ is_active: true, scheduled: false });
    expect(await getPackage(db.client, d)).toMatchObject({ is_active: false });
    const { rows } = await db.client.query('SELECT count(*)::int AS n FROM package_scheduler_events');
    expect(rows[0].n).toBe(2);
    const status = await runCli(['status', '--max-age', '60'], { env: { DATABASE_URL: url } });
    expect(status.code).toBe(0);
    const check = await runCli(['check'], { env: { DATABASE_URL: url } });
    expect(check.code).toBe(0);
  });

  it('cannot write any other column: the job could not overwrite an admin edit even if it tried', async () => {
    const { rows } = await db.client.query(
      `SELECT has_column_privilege($1, 'special_packages', 'name', 'UPDATE') AS name,
              has_column_privilege($1, 'special_packages', 'valid_until', 'UPDATE') AS valid_until,
              has_column_privilege($1, 'special_packages', 'is_active', 'UPDATE') AS is_active`,
      [role],
    );
    expect(rows[0]).toEqual({ name: false, valid_until: false, is_active: true });
  });

  it('migrate as this role exits 78 and says it needs the owner', async () => {
    const r = await runCli(['migrate'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('owner');
    expect(r.stdout + r.stderr).not.toContain(password);
  });

  it('a tick without UPDATE on the table exits 78 naming the privilege problem', async () => {
    await db.client.query(`REVOKE UPDATE (is_active, scheduled, updated_at) ON special_packages FROM ${role}`);
    await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const r = await runCli(['run'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(78);
    expect(r.events('tick.failed')[0]).toMatchObject({ code: '42501' });
    expect(r.stderr).toContain('permission denied');
    await db.client.query(`GRANT UPDATE (is_active, scheduled, updated_at) ON special_packages TO ${role}`);
  });
});
