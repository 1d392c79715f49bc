// Hostile and bad input: one clear line, the documented exit code, nothing executed,
// and never a password in any output.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();
const SECRET = 'S3cr3t-Pa55';
let id: number;

function withPassword(url: string, password = SECRET): string {
  const u = new URL(url);
  u.password = password;
  return u.toString();
}

function expectCleanFailure(r: CliResult, codes: number[]): void {
  expect(codes).toContain(r.code);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout + r.stderr).not.toContain(SECRET);
  expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(SECRET));
}

describe('hostile and bad input', () => {
  beforeAll(async () => {
    await createPackagesTable(db.client);
    id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
  });

  // The URL points at the real database with its real password, so a run that got as far as
  // a tick would have changed the package. All but the unknown zone (PostgreSQL's call, made
  // before any change) are refused before connecting.
  it.each([
    ['unknown zone', ['--timezone', 'Mars/Olympus'], [78]],
    ['POSIX zone with inverted sign', ['--timezone', 'UTC+3'], [78]],
    ['negative timeout', ['--lock-timeout', '-1'], [64]],
    ['non-numeric timeout', ['--statement-timeout', 'soon'], [64]],
    ['huge timeout', ['--connect-timeout', '9'.repeat(400)], [64]],
    ['zero interval', ['--every', '0'], [64]],
    ['huge interval', ['--every', '99999999'], [64]],
    ['malformed --at', ['--dry-run', '--at', '2026-13-45T99:99'], [64]],
    ['unknown expiry', ['--expiry', 'whenever'], [64]],
    ['empty table name', ['--table', ''], [64]],
    ['empty zone', ['--timezone', ''], [64]],
    ['quote injection', ['--table', `special_packages' OR '1'='1`], [64]],
    ['statement injection', ['--table', 'special_packages; DROP TABLE special_packages'], [64]],
    ['comment injection', ['--table', 'special_packages--'], [64]],
    ['block comment', ['--table', 'special_packages/**/'], [64]],
    ['Cyrillic look-alike', ['--table', 'ѕpecial_packages'], [64]],
    ['three-part name', ['--table', 'otherdb.public.special_packages'], [64]],
    ['unterminated quote', ['--table', '"special_packages'], [64]],
    ['bad notify channel', ['--notify', 'x'.repeat(100)], [64]],
  ])('%s: refused with one line, nothing changed', async (_name, args, codes) => {
    const r = await runCli(['run', ...(args as string[])], { env: { DATABASE_URL: db.url } });
    expectCleanFailure(r, codes as number[]);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: true });
  });

  it.each([
    ['SCHEDULER_TABLE', { SCHEDULER_TABLE: "x'; DROP TABLE special_packages; --" }],
    ['SCHEDULER_LOCK_TIMEOUT', { SCHEDULER_LOCK_TIMEOUT: '1e3' }],
    ['SCHEDULER_EVERY', { SCHEDULER_EVERY: '-60' }],
    ['SCHEDULER_EXPIRY', { SCHEDULER_EXPIRY: '' }],
    ['SCHEDULER_HISTORY', { SCHEDULER_HISTORY: 'maybe' }],
    ['PGSSLMODE', { PGSSLMODE: 'sometimes' }],
  ])('a bad %s exits 78 naming it', async (name, extra) => {
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, ...extra } });
    expectCleanFailure(r, [78]);
    expect(r.stderr).toContain(name);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false });
  });

  it('the table still exists after every injection attempt', async () => {
    const { rows } = await db.client.query(`SELECT to_regclass('special_packages') IS NOT NULL AS present`);
    expect(rows[0].present).toBe(true);
  });
});

describe('a password never appears in any output', () => {
  it('wrong password (authentication failure)', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: withPassword(db.url) } });
    expectCleanFailure(r, [78]);
  });

  it('unreachable host', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: `postgres://app:${SECRET}@127.0.0.1:9/crm` } });
    expectCleanFailure(r, [75]);
  });

  it('DNS failure', async () => {
    const r = await runCli(['run', '--connect-timeout', '3000'], { env: { DATABASE_URL: `postgres://app:${SECRET}@no-such-host.invalid:5432/crm` } });
    expectCleanFailure(r, [75, 78]);
  });

  it('SSL failure: sslmode=require in the URL is honoured', async () => {
    // The TLS request fails before authentication, on a server without TLS.
    const r = await runCli(['run'], { env: { DATABASE_URL: `${withPassword(db.url)}?sslmode=require` } });
    expectCleanFailure(r, [75]);
  });

  it('PGSSLMODE=require is honoured, from the environment and from a .env file', async () => {
    const u = new URL(db.url);
    const pgEnv = { PGHOST: u.hostname, PGPORT: u.port, PGUSER: u.username, PGPASSWORD: SECRET, PGDATABASE: u.pathname.slice(1) };
    const fromEnv = await runCli(['run'], { env: { ...pgEnv, PGSSLMODE: 'require' } });
    expectCleanFailure(fromEnv, [75]);
    const dir = scratchDir('ps-ssl');
    writeFileSync(join(dir, '.env'), `PGSSLMODE=require\n`);
    // The server's own password, whatever TEST_DATABASE_URL or the harness gave it.
    const password = decodeURIComponent(u.password);
    const fromFile = await runCli(['run'], { env: { ...pgEnv, PGPASSWORD: password }, cwd: dir });
    expect(fromFile.code).toBe(75);
    // and without it, the same settings connect (the server has no SSL)
    const plain = await runCli(['run'], { env: { ...pgEnv, PGPASSWORD: password, PGSSLMODE: 'disable' } });
    expect(plain.code).toBe(0);
  });

  it('missing table, with a password that authenticates', async () => {
    const role = `hostile_${Date.now()}`;
    await db.client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${SECRET}'`);
    const u = new URL(withPassword(db.url));
    u.username = role;
    const r = await runCli(['run', '--table', 'nope'], { env: { DATABASE_URL: u.toString() } });
    await db.client.query(`DROP ROLE ${role}`);
    expectCleanFailure(r, [78]);
    expect(r.stderr).toContain('"nope" does not exist');
  });

  it('a malformed URL', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: `postgres://app:${SECRET}@[::1` } });
    expectCleanFailure(r, [78]);
  });
});
