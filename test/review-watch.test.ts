// run --watch where a review found it going deaf, hanging or busy: a partitioned table, a killed
// or idle-timed-out work connection, PgBouncer, a full stdout, signals while connecting, Citus.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import net, { createServer, type Server, type Socket } from 'node:net';
import { closeSync, openSync } from 'node:fs';
import { BIN } from './support/cli.ts';
import { addUpdateTrigger, waitForActiveTick } from './support/database.ts';
import { describe, expect, it } from 'vitest';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { parseJsonLines, type LogLine } from './support/logs.ts';
import { waitUntil } from './support/wait.ts';
import { pgbouncerBinary, startPgBouncer } from './support/pgbouncer.ts';

const db = useTestDatabase();

interface Watcher { child: ChildProcess; done: Promise<CliResult>; lines(): LogLine[]; stop(): Promise<CliResult> }

function watch(args: string[] = [], env: Record<string, string> = {}): Watcher {
  let child!: ChildProcess;
  let out = '';
  const done = runCli(['run', '--watch', '--timezone', 'UTC', '--expiry', 'instant', '--log-level', 'debug', ...args], {
    env: { DATABASE_URL: db.url, ...env },
    onSpawn: (c) => { child = c; c.stdout!.on('data', (d: Buffer) => (out += d.toString())); },
    timeoutMs: 40_000,
  });
  return {
    get child() { return child; },
    done,
    lines: () => parseJsonLines(out.slice(0, out.lastIndexOf('\n') + 1)),
    stop: async () => { child.kill('SIGTERM'); return done; },
  };
}
const until = (w: Watcher, what: string, test: (l: LogLine[]) => boolean, timeoutMs = 10_000) => waitUntil(() => test(w.lines()), { what, timeoutMs });
const listening = (w: Watcher, n = 1) => until(w, 'LISTEN', (l) => l.filter((x) => x.event === 'watch.listening').length >= n);
const sleeping = (w: Watcher, n = 1) => until(w, 'asleep', (l) => l.filter((x) => x.event === 'watch.sleeping').length >= n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `server` on a free local port: the test database's URL with that host, for --listen-url. */
async function listenUrlThrough(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(db.url);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return url.toString();
}

async function plainTable(trigger = true): Promise<void> {
  await createPackagesTable(db.client, { validUntilType: 'timestamptz' });
  expect((await runCli(['migrate', ...(trigger ? ['--wake-trigger'] : [])], { env: { DATABASE_URL: db.url } })).code).toBe(0);
}
/** Lateness (ms) of the activation of row `id`: updated_at minus (schedule_date + schedule_time) in `zone`; null: not changed. */
async function lateMs(id: number, zone = 'UTC', table = 'special_packages'): Promise<number | null> {
  const { rows } = await db.client.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM updated_at - ((schedule_date + schedule_time) AT TIME ZONE $2)) * 1000)::float8 AS ms FROM ${table} WHERE id = $1`, [id, zone]);
  return rows[0]!.ms;
}
async function changed(id: number, timeoutMs: number, table = 'special_packages'): Promise<void> {
  await waitUntil(async () => (await db.client.query(`SELECT 1 FROM ${table} WHERE id = $1 AND updated_at IS NOT NULL`, [id])).rows.length === 1, { what: `package ${id} changed`, timeoutMs });
}
/** schedule_date/time = the wall clock in `zone` `seconds` from now. */
const localIn = (seconds: number, zone: string) => `(SELECT l::date, l::time FROM (SELECT (now() + make_interval(secs => ${seconds})) AT TIME ZONE '${zone}' AS l) AS x)`;

describe('run --watch under hostile conditions', () => {
  it('partitioned table: migrate --wake-trigger is refused (78), so check never claims edits wake the watcher', async () => {
    await db.client.query(`DROP TABLE IF EXISTS pk CASCADE;
      CREATE TABLE pk (id int, region text, name text DEFAULT 'p', price numeric DEFAULT 0, is_active boolean DEFAULT false, scheduled boolean DEFAULT false,
        schedule_date date, schedule_time time, auto_activate boolean DEFAULT false, auto_deactivate boolean DEFAULT false, valid_until timestamptz, updated_at timestamptz,
        PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE pk_eu PARTITION OF pk FOR VALUES IN ('eu'); CREATE TABLE pk_us PARTITION OF pk FOR VALUES IN ('us');`);
    const migrated = await runCli(['migrate', '--table', 'pk', '--wake-trigger'], { env: { DATABASE_URL: db.url } });
    expect(migrated.code).toBe(78);
    expect(migrated.stderr).toContain('partitioned');
    const check = await runCli(['check', '--table', 'pk', '--timezone', 'UTC'], { env: { DATABASE_URL: db.url } });
    expect(check.stdout).not.toContain('edits wake run --watch');
  }, 60_000);

  it('the work connection killed while sleeping: the next due package is still on time (no failed tick)', async () => {
    await plainTable(true);
    const w = watch(['--max-sleep', '60']);
    await listening(w);
    await sleeping(w, 2);
    await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time) SELECT true, true, * FROM ${localIn(3, 'UTC')} AS t`);
    await sleeping(w, 3);
    // e.g. idle_session_timeout, a firewall, a failover: the tick connection dies while idle.
    const killed = await db.client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'package-scheduler' AND query NOT LIKE '%pg_listening_channels%' AND query NOT LIKE '%pg_notify%' AND pid <> pg_backend_pid()`);
    expect(killed.rows).toHaveLength(1);
    const id = (await db.client.query<{ id: number }>('SELECT max(id) AS id FROM special_packages')).rows[0]!.id;
    await changed(id, 15_000);
    const r = await w.stop();
    console.log('killed work conn lateness ms', await lateMs(id), r.events('tick.failed').map((l) => l.error));
    expect(r.events('tick.failed')).toEqual([]); // observed: one tick.failed ("the database connection was lost") at the due instant
    expect(await lateMs(id)).toBeLessThan(700); // observed: ~1000+ ms (the 1 s retry)
  }, 60_000);

  it.skipIf(!pgbouncerBinary())('LISTEN through a PgBouncer transaction pool is detected (watch.listen_failed), not silently deaf', async () => {
    await plainTable(true);
    const bouncer = await startPgBouncer(db.url, { poolMode: 'transaction', poolSize: 1 });
    try {
      const w = watch(['--max-sleep', '15', '--listen-url', bouncer.url]); // the mistake the docs warn about
      // LISTEN "works" there, and the channel is listed, but no notification from another
      // session ever arrives: the probe says so, with what to do, instead of a silent deafness.
      await until(w, 'watch.listen_failed', (l) => l.some((x) => x.event === 'watch.listen_failed'), 20_000);
      const r = await w.stop();
      expect(r.code).toBe(0);
      expect(String(r.events('watch.listen_failed')[0]?.error)).toContain('transaction pooler');
      expect(r.events('watch.listening')).toEqual([]);
    } finally {
      await bouncer.stop();
    }
  }, 60_000);

  it('idle_session_timeout shorter than the sleep: no error-level tick.failed and reconnect churn every few seconds while idle', async () => {
    await plainTable(true);
    const name = new URL(db.url).pathname.slice(1);
    await db.client.query(`ALTER DATABASE ${name} SET idle_session_timeout = '3s'`);
    try {
      const w = watch(['--max-sleep', '60']);
      await listening(w);
      await sleep(12_000); // nothing due: the watcher should just sleep
      const r = await w.stop();
      console.log('idle_session_timeout, 12 s idle: tick.failed', r.events('tick.failed').length, 'listen_failed', r.events('watch.listen_failed').length, 'ticks', r.events('tick.completed').length);
      expect(r.events('tick.failed')).toEqual([]); // observed: 3 (error level, "the database connection was lost")
      expect(r.events('watch.listen_failed').length).toBeLessThanOrEqual(1); // observed: 3, each followed by a tick
    } finally {
      await db.client.query(`ALTER DATABASE ${name} RESET idle_session_timeout`);
    }
  }, 60_000);

  it('run --watch > /dev/full: ends with 74 as run --every does, instead of ticking on with nobody seeing it', async () => {
    await plainTable(true);
    await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time) VALUES (true, true, date '2026-01-01', time '09:00')`);
    const fd = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [BIN, 'run', '--watch', '--timezone', 'UTC', '--max-sleep', '2'], {
        env: { PATH: process.env.PATH ?? '', HOME: '/tmp', TZ: 'UTC', DATABASE_URL: db.url }, cwd: '/tmp', stdio: ['ignore', fd, 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const code = await Promise.race([exited, sleep(8000).then(() => 'still running' as const)]);
      if (code === 'still running') child.kill('SIGKILL');
      console.log('/dev/full: ', code, JSON.stringify(stderr.slice(0, 300)));
      expect(code).toBe(74); // observed: still running after 8 s, four ticks later
    } finally {
      closeSync(fd);
    }
  }, 30_000);

  it('a listener stopped while its LISTEN check is answering sets no further timer: the process ends at once, not 30 s later', async () => {
    // As run --watch > /dev/full did in 1 of 7 runs: the first tick's lost log returned 74 while
    // the listener was still connecting; its connect then scheduled the 30 s check after stop().
    await plainTable(true);
    const listener = new URL('../dist/watch/listener.js', import.meta.url).href;
    const script = `
      import pg from 'pg';
      import { WakeListener } from ${JSON.stringify(listener)};
      const url = process.env.DATABASE_URL;
      const quiet = { debug() {}, info() {}, warn() {} };
      const l = new WakeListener({ connectionString: url, connectTimeoutMs: 5000 }, { name: 'special_packages' }, quiet,
        { notified() {}, listening() { console.log('listening'); } }, undefined,
        async (channel, payload) => {
          const c = new pg.Client(url);
          await c.connect();
          await c.query('SELECT pg_notify($1::text, $2::text)', [channel, payload]);
          await c.end();
          await new Promise((r) => setTimeout(r, 300)); // the probe has come back
          void l.stop().then(() => console.log('stopped'));
        });
      l.start();`;
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, err).toBe(0);
    // 'listening': the connect went on past stop() to where it schedules the next check.
    expect(out.trim().split('\n').sort()).toEqual(['listening', 'stopped']);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 40_000);

  it('a second SIGINT during a slow tick ends the process at once, as in one-shot and --every mode', async () => {
    await plainTable(true);
    await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time) VALUES (true, true, date '2026-01-01', time '09:00')`);
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(8);');
    const w = watch(['--max-sleep', '60']);
    await waitForActiveTick(db.client);
    const started = Date.now();
    w.child.kill('SIGINT');
    await until(w, 'stopping', (l) => l.some((x) => x.event === 'scheduler.stopping'));
    w.child.kill('SIGINT');
    const r = await w.done;
    console.log('second SIGINT: took', Date.now() - started, 'signal', r.signal, 'code', r.code);
    expect(r.signal).toBe('SIGINT');
    expect(Date.now() - started).toBeLessThan(4000); // observed: ~8 s (the second signal is ignored)
  }, 30_000);

  it('SIGTERM while sleeping ends within a second also while the LISTEN connection is still trying to connect', async () => {
    await plainTable(true);
    // A --listen-url host that accepts TCP and never answers (a black-holed pooler, a stuck proxy).
    const held: Socket[] = [];
    const silent = createServer((s) => { held.push(s); s.on('error', () => {}); });
    const listenUrl = await listenUrlThrough(silent);
    try {
      const w = watch(['--max-sleep', '3600', '--listen-url', listenUrl]);
      await sleeping(w, 1);
      await sleep(500);
      const sent = Date.now();
      const r = await w.stop();
      const took = Date.now() - sent;
      console.log('SIGTERM with the listener connecting: took', took, 'code', r.code);
      expect(r.code).toBe(0);
      expect(took).toBeLessThan(1000); // observed: the rest of the connect timeout
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  }, 60_000);

  it('SIGTERM while the LISTEN connection is slow to connect (3 s): the process must still end, not stay up for good', async () => {
    await plainTable(true);
    const target = new URL(db.url);
    const sockets: Socket[] = [];
    const slow = createServer((client) => {
      client.pause();
      setTimeout(() => {
        const server = net.connect(Number(target.port), target.hostname);
        sockets.push(client, server);
        for (const s of [client, server]) s.on('error', () => {});
        client.pipe(server).pipe(client);
        client.resume();
      }, 3000);
    });
    const listenUrl = await listenUrlThrough(slow);
    try {
      const w = watch(['--max-sleep', '3600', '--listen-url', listenUrl]);
      await sleeping(w, 1);
      const sent = Date.now();
      w.child.kill('SIGTERM');
      const r = await Promise.race([w.done, sleep(12_000).then(() => undefined)]);
      console.log('slow listener + SIGTERM: ended?', r !== undefined, 'after', Date.now() - sent, 'ms');
      if (!r) w.child.kill('SIGKILL');
      expect(r, 'still running 12 s after SIGTERM').toBeDefined(); // observed: never ends (LISTEN client and 30 s check timer leak)
    } finally {
      for (const s of sockets) s.destroy();
      slow.close();
    }
  }, 60_000);

  // Code-read, not run here (needs TEST_CITUS_URL): next-due.ts throws ConfigError for a table
  // Citus manages, but watch.ts catches it as watch.next_due_failed {retrying: true} and loops.
  it.runIf(process.env.TEST_CITUS_URL)('a table Citus manages: run --watch exits 78 as docs/watch.md says, not a retry loop', async () => {
    const url = process.env.TEST_CITUS_URL!;
    const pg = (await import('pg')).default;
    const c = new pg.Client(url);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS review_watch CASCADE; CREATE SCHEMA review_watch`);
    await createPackagesTable(c, { table: 'review_watch.special_packages', validUntilType: 'timestamptz' });
    await c.query(`SELECT create_distributed_table('review_watch.special_packages', 'id')`);
    await c.end();
    const r = await runCli(['run', '--watch', '--table', 'review_watch.special_packages', '--timezone', 'UTC'], { env: { DATABASE_URL: url }, timeoutMs: 15_000 });
    expect(r.code).toBe(78);
  }, 30_000);
});
