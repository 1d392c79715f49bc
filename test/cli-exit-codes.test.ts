// The built binary, run as a subprocess, for every exit code it documents.
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  addUpdateTrigger,
  createPackagesTable,
  dropUpdateTrigger,
  getPackage,
  insertPackage,
  useTestDatabase,
  waitForActiveTick,
} from './support/database.ts';
import { runCli } from './support/cli.ts';
import { duePackage, holdTableLock } from './support/fixtures.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();
const due = duePackage();

function urlWith(change: (url: URL) => void): string {
  const url = new URL(db.url);
  change(url);
  return url.toString();
}

describe('exit 0', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('applies due changes, logs one JSON object per line and exits 0', async () => {
    const id = await insertPackage(db.client, due);
    const gone = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-01-01' });
    const r = await runCli(['run', '--timezone', 'Europe/Berlin'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.events('package.activated')).toEqual([expect.objectContaining({ packageId: String(id), dueAt: '2026-01-01T09:00:00' })]);
    expect(r.events('package.deactivated')).toEqual([expect.objectContaining({ packageId: String(gone), validUntil: '2026-01-01' })]);
    expect(r.events('tick.completed')).toEqual([
      expect.objectContaining({ activated: 1, deactivated: 1, activationSkipped: 0, dryRun: false, timezone: 'Europe/Berlin', level: 'info' }),
    ]);
    expect(r.lines.every((l) => typeof l.time === 'string')).toBe(true);
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('runs the default command with no arguments and the run-once alias', async () => {
    const r = await runCli([], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC' } });
    expect(r.code).toBe(0);
    expect(r.events('tick.completed')).toHaveLength(1);
    const alias = await runCli(['run-once'], { env: { DATABASE_URL: db.url } });
    expect(alias.code).toBe(0);
    expect(alias.events('tick.completed')).toHaveLength(1);
  });

  it('exits 0 with tick.skipped when another run holds the lock', async () => {
    const id = await insertPackage(db.client, due);
    const release = await holdTableLock(await db.connect());
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    await release();
    expect(r.code).toBe(0);
    expect(r.events('tick.skipped')).toEqual([expect.objectContaining({ reason: 'locked' })]);
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });

  it('--dry-run reports what would change, under other event names, and changes nothing', async () => {
    const id = await insertPackage(db.client, due);
    const r = await runCli(['run', '--dry-run', '--at', '2026-01-01T09:00:00', '--timezone', 'Europe/Berlin'], {
      env: { DATABASE_URL: db.url },
    });
    expect(r.code).toBe(0);
    expect(r.events('package.would_activate')).toEqual([expect.objectContaining({ packageId: String(id), lateSeconds: 0 })]);
    expect(r.events('package.activated')).toEqual([]);
    expect(r.events('tick.completed')[0]).toMatchObject({ dryRun: true, activated: 1, now: '2026-01-01T09:00:00.000+01:00' });
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: true });
  });

  it('reads settings from --env-file, with the environment taking precedence over it', async () => {
    const dir = scratchDir('ps-env');
    const file = join(dir, 'scheduler.env');
    writeFileSync(file, `DATABASE_URL=${db.url}\nSCHEDULER_TIMEZONE=Asia/Tokyo\n`);
    const fromFile = await runCli(['run', '--env-file', file]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.events('tick.completed')[0]).toMatchObject({ timezone: 'Asia/Tokyo' });
    const envWins = await runCli(['run', '--env-file', file], { env: { SCHEDULER_TIMEZONE: 'America/Denver' } });
    expect(envWins.events('tick.completed')[0]).toMatchObject({ timezone: 'America/Denver' });
    const flagWins = await runCli(['run', '--env-file', file, '--timezone', 'Europe/Paris'], { env: { SCHEDULER_TIMEZONE: 'America/Denver' } });
    expect(flagWins.events('tick.completed')[0]).toMatchObject({ timezone: 'Europe/Paris' });
    // ./.env is read from the working directory when present.
    writeFileSync(join(dir, '.env'), `DATABASE_URL=${db.url}\nSCHEDULER_TIMEZONE=Africa/Cairo\n`);
    const dotEnv = await runCli(['run'], { cwd: dir });
    expect(dotEnv.code).toBe(0);
    expect(dotEnv.stdout.split('\n')[0]).toMatch(/^\{/); // dotenv printed nothing of its own
    expect(dotEnv.events('tick.completed')[0]).toMatchObject({ timezone: 'Africa/Cairo' });
  });

  it('prints help and version with exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('migrate');
    const runHelp = await runCli(['run', '--help']);
    expect(runHelp.stdout).toContain('--dry-run');
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('exit 64: usage errors', () => {
  it.each([
    [['run', '--no-such-flag']],
    [['frobnicate']],
    [['run', '--at', '2026-01-01T09:00:00']],
    [['run', '--dry-run', '--at', 'yesterday']],
    [['run', '--dry-run', '--at', '2026-02-30T09:00:00']],
    [['run', '--expiry', 'sometimes']],
    [['run', '--every', '0']],
    [['run', '--every', 'often']],
    [['run', '--lock-timeout', '-5']],
    [['run', '--statement-timeout', '99999999999999']],
    [['run', '--connect-timeout', '']],
    [['run', '--table', 'special_packages; DROP TABLE special_packages']],
    [['run', '--log-level', 'loud']],
  ])('%j exits 64 with one line on stderr and nothing changed', async (args) => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, due);
    const r = await runCli(args, { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });
});

describe('exit 75: temporary failures', () => {
  let silent: Server | undefined;
  afterAll(() => silent?.close());

  it('exits 75 when nothing listens on the port', async () => {
    const port = await closedPort();
    const r = await runCli(['run'], { env: { DATABASE_URL: `postgres://u:secret-pw@127.0.0.1:${port}/db` } });
    expect(r.code).toBe(75);
    expect(r.events('tick.failed')).toEqual([expect.objectContaining({ exitCode: 75, level: 'error' })]);
    expect(r.stdout + r.stderr).not.toContain('secret-pw');
  });

  it('exits 75 for localhost refusals (an AggregateError over ::1 and 127.0.0.1)', async () => {
    const port = await closedPort();
    const r = await runCli(['run'], { env: { DATABASE_URL: `postgres://u:pw@localhost:${port}/db` } });
    expect(r.code).toBe(75);
  });

  it('exits 75 within --connect-timeout when the server never answers', async () => {
    silent = createServer(() => {}); // accepts, never speaks
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const r = await runCli(['run', '--connect-timeout', '500'], { env: { DATABASE_URL: `postgres://u:pw@127.0.0.1:${port}/db` } });
    expect(r.code).toBe(75);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('exits 75 with nothing committed when the connection is killed mid-tick', async () => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, due);
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(30);');
    const killer = (async () => {
      await waitForActiveTick(db.client);
      const { rows } = await db.client.query(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'package-scheduler'`,
      );
      return rows.length > 0;
    })();
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(await killer).toBe(true);
    expect(r.code).toBe(75);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 75 });
    await dropUpdateTrigger(db.client, 'slow');
    expect((await getPackage(db.client, id)).is_active).toBe(false);
    const next = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(next.code).toBe(0);
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('exits 75 on statement timeout with the SQLSTATE in tick.failed', async () => {
    await createPackagesTable(db.client);
    await insertPackage(db.client, due);
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(5);');
    const r = await runCli(['run', '--statement-timeout', '300'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(75);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 75, code: '57014' });
  });
});

describe('exit 78: configuration errors', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('exits 78 naming both settings when no database is configured', async () => {
    const r = await runCli(['run']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('--database-url');
    expect(r.stderr).toContain('DATABASE_URL');
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 78 });
  });

  it('exits 78 on a wrong password and never prints the password', async () => {
    const url = urlWith((u) => (u.password = 'Wr0ng-P%40ss'));
    const r = await runCli(['run'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(78);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 78, code: '28P01' });
    expect(r.stdout + r.stderr).not.toContain('Wr0ng');
  });

  it('exits 78 when the database does not exist', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: urlWith((u) => (u.pathname = '/no_such_db')) } });
    expect(r.code).toBe(78);
    expect(r.events('tick.failed')[0]).toMatchObject({ code: '3D000' });
  });

  it('exits 78 when the table does not exist', async () => {
    const r = await runCli(['run', '--table', 'no_such_table'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('no_such_table');
  });

  it('exits 78 naming a missing column and the fix', async () => {
    await db.client.query('ALTER TABLE special_packages DROP COLUMN schedule_time');
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('schedule_time is missing');
    expect(r.stderr).toContain('package-scheduler migrate');
  });

  it('exits 78 naming a column of the wrong type, expected and found', async () => {
    await db.client.query('ALTER TABLE special_packages ALTER COLUMN schedule_date TYPE text');
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('schedule_date has type text, expected date');
  });

  it('exits 78 on an unknown time zone, from the flag or the environment', async () => {
    const flag = await runCli(['run', '--timezone', 'Mars/Olympus_Mons'], { env: { DATABASE_URL: db.url } });
    expect(flag.code).toBe(78);
    expect(flag.stderr).toContain('Mars/Olympus_Mons');
    const env = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Nowhere/Else' } });
    expect(env.code).toBe(78);
  });

  it('exits 78 for a bad environment value, naming the variable', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_EXPIRY: 'never' } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('SCHEDULER_EXPIRY');
  });

  it('exits 78 when SCHEDULER_ENV_FILE names a file that does not exist', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_ENV_FILE: '/nonexistent/scheduler.env' } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('/nonexistent/scheduler.env');
  });

  it('fails without running a tick when --env-file names a missing file', async () => {
    // Node 20-26 itself claims a script's --env-file argument and exits 9 when the file is
    // missing (nodejs/node#54232); where it does not, package-scheduler exits 78.
    const r = await runCli(['run', '--env-file', '/nonexistent/scheduler.env'], { env: { DATABASE_URL: db.url } });
    expect([9, 78]).toContain(r.code);
    expect(r.stderr).toContain('/nonexistent/scheduler.env');
    expect(r.events('tick.completed')).toEqual([]);
  });
});

describe('exit 70: anything unexpected', () => {
  it('exits 70 when the CRM rejects the update, with everything rolled back', async () => {
    await createPackagesTable(db.client);
    const a = await insertPackage(db.client, due);
    const b = await insertPackage(db.client, due);
    await addUpdateTrigger(db.client, 'reject_one', `IF NEW.id = ${b} THEN RAISE EXCEPTION 'rejected'; END IF;`);
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(70);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 70, code: 'P0001' });
    expect(r.events('package.activated')).toEqual([]);
    expect((await getPackage(db.client, a)).is_active).toBe(false);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
