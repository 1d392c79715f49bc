// Faults: a killed connection, a killed process, a stopped server. Nothing is ever
// half-applied, and the next run completes.
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivatePostgres } from '../scripts/postgres-server.js';
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
import { duePackage } from './support/fixtures.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
const due = duePackage();

describe('faults', () => {
  it('SIGKILL mid-tick commits nothing; the server notices and the next run completes', async () => {
    await createPackagesTable(db.client);
    const ids = [await insertPackage(db.client, due), await insertPackage(db.client, due)];
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(30);');
    let child!: ChildProcess;
    const run = runCli(['run'], { env: { DATABASE_URL: db.url }, onSpawn: (c) => (child = c) });
    await waitForActiveTick(db.client);
    child.kill('SIGKILL');
    const killed = await run;
    expect(killed.signal).toBe('SIGKILL');
    // client_connection_check_interval: the orphaned backend gives up within about a second,
    // rolling back and releasing the table lock, instead of sleeping on for 30 s.
    await waitUntil(
      async () => (await db.client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'package-scheduler'`)).rows.length === 0,
      { what: 'the killed tick\'s backend to roll back and exit', timeoutMs: 10_000, intervalMs: 50 },
    );
    for (const id of ids) expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: true });
    await dropUpdateTrigger(db.client, 'slow');
    const next = await runCli(['run'], { env: { DATABASE_URL: db.url } });
    expect(next.code).toBe(0);
    expect(next.events('package.activated')).toHaveLength(2);
  });

  it('a lock timeout on the table exits 75 and changes nothing', async () => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, due);
    const ddl = await db.connect();
    await ddl.query('BEGIN');
    await ddl.query('LOCK TABLE special_packages IN ACCESS EXCLUSIVE MODE');
    const r = await runCli(['run', '--lock-timeout', '200'], { env: { DATABASE_URL: db.url } });
    await ddl.query('ROLLBACK');
    expect(r.code).toBe(75);
    expect(r.events('tick.failed')[0]).toMatchObject({ code: '55P03' });
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });
});

describe('PostgreSQL stopped and started again', () => {
  let server: Awaited<ReturnType<typeof startPrivatePostgres>>;
  let url: string;

  beforeAll(async () => {
    server = await startPrivatePostgres();
    const admin = new pg.Client(server.adminUrl);
    await admin.connect();
    await createPackagesTable(admin);
    await insertPackage(admin, due);
    await admin.end();
    url = server.adminUrl;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('exits 75 within --connect-timeout while the server is down, and completes once it is back', async () => {
    await server.pause();
    const started = Date.now();
    const down = await runCli(['run', '--connect-timeout', '2000'], { env: { DATABASE_URL: url } });
    expect(down.code).toBe(75);
    expect(Date.now() - started).toBeLessThan(2000 + 3000); // the timeout plus Node's start-up
    expect(down.stdout + down.stderr).not.toContain(decodeURIComponent(new URL(url).password)); // no credentials echoed
    await server.resume();
    const up = await runCli(['run'], { env: { DATABASE_URL: url } });
    expect(up.code).toBe(0);
    expect(up.events('package.activated')).toHaveLength(1);
  });

  it('in --every mode, keeps going across a restart and exits 0 on SIGTERM', async () => {
    let child!: ChildProcess;
    let out = '';
    const run = runCli(['run', '--every', '1', '--connect-timeout', '1000'], {
      env: { DATABASE_URL: url },
      onSpawn: (c) => {
        child = c;
        c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      },
      timeoutMs: 30_000,
    });
    const waitFor = (needle: string, count: number) =>
      waitUntil(() => out.split(needle).length - 1 >= count, { what: `${count} × ${needle} in the output`, timeoutMs: 10_000 });
    await waitFor('"tick.completed"', 1);
    await server.pause();
    await waitFor('"tick.failed"', 1);
    await server.resume();
    const admin = new pg.Client(server.adminUrl);
    await admin.connect();
    const id = await insertPackage(admin, due);
    await waitFor(`"packageId":"${id}"`, 1);
    await admin.end();
    child.kill('SIGTERM');
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 75, retrying: true });
    expect(r.events('package.activated').map((l) => l.packageId)).toContain(String(id));
  });
});
