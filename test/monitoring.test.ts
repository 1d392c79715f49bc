// Monitoring that plugs into what operators run: the Prometheus textfile (--metrics-file) and
// Healthchecks-style heartbeat pings (--heartbeat-url), through the built CLI.
import { statSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase, addUpdateTrigger } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { duePackage, expiredPackage, holdTableLock } from './support/fixtures.ts';
import { parseMetrics, valueOf, type Sample } from './support/metrics.ts';
import { scratchDir } from './support/scratch.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
const env = () => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' });
const METRICS = [
  'package_scheduler_last_run_timestamp_seconds',
  'package_scheduler_last_run_duration_seconds',
  'package_scheduler_last_run_exit_code',
  'package_scheduler_last_run_changes',
  // issue 22: the largest lateness among the last tick's changes
  'package_scheduler_last_run_max_late_seconds',
  'package_scheduler_last_success_timestamp_seconds',
  'package_scheduler_info',
];

function readMetrics(path: string): Sample[] {
  return parseMetrics(readFileSync(path, 'utf8'));
}

async function dropHistory() {
  await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
}

describe('--metrics-file', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
  });

  it('after a completed tick: every metric, label and value, in a 0644 file', async () => {
    const dir = scratchDir('ps-metrics');
    const file = join(dir, 'package_scheduler.prom');
    await insertPackage(db.client, duePackage());
    await insertPackage(db.client, duePackage());
    await insertPackage(db.client, expiredPackage);
    const before = Date.now() / 1000;
    const r = await runCli(['run', '--metrics-file', file], { env: env() });
    const after = Date.now() / 1000;
    expect(r.code).toBe(0);
    const m = readMetrics(file);
    expect([...new Set(m.map((s) => s.name))]).toEqual(METRICS);
    expect(m.every((s) => s.labels.table === 'public.special_packages')).toBe(true);
    const ended = valueOf(m, 'package_scheduler_last_run_timestamp_seconds');
    expect(ended).toBeGreaterThanOrEqual(before);
    expect(ended).toBeLessThanOrEqual(after);
    expect(valueOf(m, 'package_scheduler_last_run_duration_seconds')).toBeGreaterThan(0);
    expect(valueOf(m, 'package_scheduler_last_run_duration_seconds')).toBeLessThan(after - before);
    expect(valueOf(m, 'package_scheduler_last_run_exit_code')).toBe(0);
    expect(valueOf(m, 'package_scheduler_last_run_changes', { action: 'activated' })).toBe(2);
    expect(valueOf(m, 'package_scheduler_last_run_changes', { action: 'deactivated' })).toBe(1);
    expect(valueOf(m, 'package_scheduler_last_run_changes', { action: 'activation_skipped' })).toBe(0);
    expect(valueOf(m, 'package_scheduler_last_run_max_late_seconds')).toBeGreaterThan(0);
    expect(valueOf(m, 'package_scheduler_last_success_timestamp_seconds')).toBe(ended);
    const info = m.find((s) => s.name === 'package_scheduler_info')!;
    expect(info).toEqual({
      name: 'package_scheduler_info',
      labels: { table: 'public.special_packages', version: expect.stringMatching(/^\d+\.\d+\.\d+/), timezone: 'Europe/Berlin' },
      value: 1,
    });
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it('a no-op tick and a skipped tick (lock held) are exit code 0 with all three change counts at 0', async () => {
    const file = join(scratchDir('ps-metrics'), 'm.prom');
    expect((await runCli(['run', '--metrics-file', file], { env: env() })).code).toBe(0);
    const noop = readMetrics(file);
    expect(valueOf(noop, 'package_scheduler_last_run_exit_code')).toBe(0);
    expect(noop.filter((s) => s.name === 'package_scheduler_last_run_changes').map((s) => [s.labels.action, s.value])).toEqual([
      ['activated', 0],
      ['deactivated', 0],
      ['activation_skipped', 0],
    ]);
    await insertPackage(db.client, duePackage());
    const release = await holdTableLock(await db.connect());
    const skipped = await runCli(['run', '--metrics-file', file], { env: env() });
    await release();
    expect(skipped.events('tick.skipped')).toHaveLength(1);
    const m = readMetrics(file);
    expect(valueOf(m, 'package_scheduler_last_run_exit_code')).toBe(0);
    expect(valueOf(m, 'package_scheduler_last_run_changes', { action: 'activated' })).toBe(0);
    expect(valueOf(m, 'package_scheduler_last_success_timestamp_seconds')).toBe(valueOf(m, 'package_scheduler_last_run_timestamp_seconds'));
  });

  it('failed ticks (75 and 78, after a valid configuration) write their exit code and keep the previous success', async () => {
    const file = join(scratchDir('ps-metrics'), 'm.prom');
    await runCli(['run', '--metrics-file', file], { env: env() });
    const success = valueOf(readMetrics(file), 'package_scheduler_last_success_timestamp_seconds');

    await insertPackage(db.client, duePackage());
    const ddl = await db.connect();
    await ddl.query('BEGIN; LOCK TABLE special_packages IN ACCESS EXCLUSIVE MODE');
    const busy = await runCli(['run', '--lock-timeout', '200', '--metrics-file', file], { env: env() });
    await ddl.query('ROLLBACK');
    expect(busy.code).toBe(75);
    let m = readMetrics(file);
    expect(valueOf(m, 'package_scheduler_last_run_exit_code')).toBe(75);
    expect(valueOf(m, 'package_scheduler_last_success_timestamp_seconds')).toBe(success);
    expect(valueOf(m, 'package_scheduler_last_run_timestamp_seconds')).toBeGreaterThan(success);
    expect(m.every((s) => s.labels.table === 'public.special_packages')).toBe(true);

    await db.client.query('ALTER TABLE special_packages RENAME COLUMN schedule_time TO starts_at');
    const misconfigured = await runCli(['run', '--metrics-file', file], { env: env() });
    expect(misconfigured.code).toBe(78);
    m = readMetrics(file);
    expect(valueOf(m, 'package_scheduler_last_run_exit_code')).toBe(78);
    expect(valueOf(m, 'package_scheduler_last_success_timestamp_seconds')).toBe(success);
    expect(valueOf(m, 'package_scheduler_last_run_changes', { action: 'activated' })).toBe(0);
  });

  it('with no previous file, a failed tick takes the last success from the state row; without one it leaves the metric out', async () => {
    const dir = scratchDir('ps-metrics');
    expect((await runCli(['migrate'], { env: env() })).code).toBe(0);
    expect((await runCli(['run'], { env: env() })).code).toBe(0);
    const { rows } = await db.client.query<{ at: number }>('SELECT extract(epoch FROM last_success_at)::float8 AS at FROM package_scheduler_state');
    await addUpdateTrigger(db.client, 'reject_all', `RAISE EXCEPTION 'rejected by the CRM';`);
    await insertPackage(db.client, duePackage());
    const file = join(dir, 'fresh.prom');
    const failed = await runCli(['run', '--metrics-file', file], { env: env() });
    expect(failed.code).toBe(70);
    const m = readMetrics(file);
    expect(valueOf(m, 'package_scheduler_last_run_exit_code')).toBe(70);
    expect(valueOf(m, 'package_scheduler_last_success_timestamp_seconds')).toBeCloseTo(rows[0]!.at, 2);

    await dropHistory();
    const none = join(dir, 'none.prom');
    expect((await runCli(['run', '--metrics-file', none], { env: env() })).code).toBe(70);
    expect(readMetrics(none).map((s) => s.name)).not.toContain('package_scheduler_last_success_timestamp_seconds');
  });

  it('a missing folder is 78 before connecting; an unwritable file is one warning and the tick\'s own exit code', async () => {
    const missing = await runCli(['run', '--metrics-file', '/nonexistent-folder/m.prom'], { env: { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db' } });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toBe('package-scheduler: --metrics-file / SCHEDULER_METRICS_FILE: folder /nonexistent-folder does not exist\n');
    // A folder as the file name: the rename fails, the tick does not.
    const dir = scratchDir('ps-metrics');
    await insertPackage(db.client, duePackage());
    const r = await runCli(['run', '--metrics-file', dir], { env: env() });
    expect(r.code).toBe(0);
    expect(r.events('package.activated')).toHaveLength(1);
    expect(r.events('metrics.write_failed')).toEqual([expect.objectContaining({ level: 'warn', path: dir })]);
  });

  it('escapes label values per the exposition format', async () => {
    await db.client.query(`DROP TABLE IF EXISTS "Odd ""Name""\\Table"; CREATE TABLE "Odd ""Name""\\Table" (LIKE special_packages INCLUDING ALL)`);
    const file = join(scratchDir('ps-metrics'), 'm.prom');
    const r = await runCli(['run', '--table', '"Odd ""Name""\\Table"', '--metrics-file', file], { env: env() });
    expect(r.code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('table="public.Odd \\"Name\\"\\\\Table"');
    expect(readMetrics(file)[0]!.labels.table).toBe('public.Odd "Name"\\Table');
  });

  it('a temp file left by a killed writer does not stop the next write', async () => {
    const dir = scratchDir('ps-metrics');
    const file = join(dir, 'm.prom');
    writeFileSync(join(dir, `.m.prom.${process.pid}.tmp`), 'package_scheduler_last_run_exit_code{table="x"} 1');
    expect((await runCli(['run', '--metrics-file', file], { env: env() })).code).toBe(0);
    expect(valueOf(readMetrics(file), 'package_scheduler_last_run_exit_code')).toBe(0);
  });

  // Every tick of --every replaces the file while a reader polls it; no read may ever see a
  // partial file. METRICS_TICKS shortens it (the matrix runs in .ci/run use 5).
  const ticks = Number(process.env.METRICS_TICKS ?? 50);
  it(`is never seen half-written by a reader polling during ${ticks} ticks of --every`, async () => {
    const file = join(scratchDir('ps-metrics'), 'm.prom');
    let child!: ChildProcess;
    let out = '';
    const run = runCli(['run', '--every', '1', '--metrics-file', file], {
      env: env(),
      timeoutMs: (ticks + 30) * 1000,
      onSpawn: (c) => {
        child = c;
        c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      },
    });
    let reads = 0;
    let seenTicks = 0;
    await waitUntil(
      () => {
        if (existsSync(file)) {
          parseMetrics(readFileSync(file, 'utf8')); // throws on a partial file
          reads++;
        }
        seenTicks = out.split('"tick.completed"').length - 1;
        return seenTicks >= ticks;
      },
      { what: `${ticks} ticks`, timeoutMs: (ticks + 20) * 1000, intervalMs: 1 },
    );
    child.kill('SIGTERM');
    expect((await run).code).toBe(0);
    expect(reads).toBeGreaterThan(ticks);
  }, (ticks + 40) * 1000);
});

interface Ping {
  method: string;
  path: string;
  body: string;
}

function recorder(behaviour: 'ok' | 'hang' = 'ok') {
  const pings: Ping[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      pings.push({ method: req.method!, path: req.url!, body });
      if (behaviour === 'ok') res.end('OK');
      // 'hang': never answer
    });
  });
  return {
    pings,
    start: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('--heartbeat-url', () => {
  const token = 'b6e1f3c2-5d4a-4c7e-9f0a-1d2e3f4a5b6c';
  let hc: ReturnType<typeof recorder>;
  let base: string;
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
    hc = recorder();
    base = `${await hc.start()}/ping/${token}`;
  });
  afterEach(async () => {
    await hc.stop();
  });

  const expectNoToken = (r: { stdout: string; stderr: string }) => expect(r.stdout + r.stderr).not.toContain(token);

  it('pings /start, then POSTs /0 with the counts, in that order', async () => {
    await insertPackage(db.client, duePackage());
    const r = await runCli(['run', '--heartbeat-url', base], { env: env() });
    expect(r.code).toBe(0);
    expect(hc.pings).toEqual([
      { method: 'GET', path: `/ping/${token}/start`, body: '' },
      { method: 'POST', path: `/ping/${token}/0`, body: 'activated=1 deactivated=0 activation_skipped=0\n' },
    ]);
    expectNoToken(r);
  });

  it('reports each failure class with its exit code and the error line, never the token', async () => {
    await insertPackage(db.client, duePackage());
    // 70: the CRM's trigger rejects the update
    await addUpdateTrigger(db.client, 'reject_all', `RAISE EXCEPTION 'rejected by the CRM';`);
    const rejected = await runCli(['run', '--heartbeat-url', base], { env: env() });
    await db.client.query('DROP TRIGGER reject_all ON special_packages');
    // 75: the table is locked past lock_timeout
    const ddl = await db.connect();
    await ddl.query('BEGIN; LOCK TABLE special_packages IN ACCESS EXCLUSIVE MODE');
    const busy = await runCli(['run', '--lock-timeout', '200', '--heartbeat-url', base], { env: env() });
    await ddl.query('ROLLBACK');
    // 78: a table that does not exist
    const missing = await runCli(['run', '--table', 'no_such_table', '--heartbeat-url', base], { env: env() });
    expect([rejected.code, busy.code, missing.code]).toEqual([70, 75, 78]);
    expect(hc.pings.map((p) => `${p.method} ${p.path.replace(`/ping/${token}`, '')}`)).toEqual([
      'GET /start', 'POST /70', 'GET /start', 'POST /75', 'GET /start', 'POST /78',
    ]);
    expect(hc.pings[1]!.body).toBe('failed: rejected by the CRM\n');
    expect(hc.pings[5]!.body).toMatch(/^failed: table "no_such_table" does not exist/);
    for (const r of [rejected, busy, missing]) expectNoToken(r);
    expect((await getPackage(db.client, 1)).is_active).toBe(false);
  });

  it('a server that never answers costs at most the timeout per ping and leaves the exit code alone', async () => {
    const hang = recorder('hang');
    const url = `${await hang.start()}/ping/${token}`;
    await insertPackage(db.client, duePackage());
    const started = Date.now();
    const r = await runCli(['run', '--heartbeat-url', url, '--heartbeat-timeout', '500'], { env: env() });
    const took = Date.now() - started;
    await hang.stop();
    expect(r.code).toBe(0);
    expect(r.events('package.activated')).toHaveLength(1);
    expect(took).toBeLessThan(2 * 500 + 3000); // two timed-out pings plus Node and the tick
    expect(r.events('heartbeat.failed').map((l) => [l.ping, l.reason, l.host])).toEqual([
      ['start', 'timeout', new URL(url).host],
      ['0', 'timeout', new URL(url).host],
    ]);
    expectNoToken(r);
  });

  it('a server that refuses costs one warning line per ping, naming only the host', async () => {
    await hc.stop();
    const r = await runCli(['run', '--heartbeat-url', base], { env: env() });
    expect(r.code).toBe(0);
    const warnings = r.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => [l.event, l.ping, l.reason])).toEqual([
      ['heartbeat.failed', 'start', 'ECONNREFUSED'],
      ['heartbeat.failed', '0', 'ECONNREFUSED'],
    ]);
    expectNoToken(r);
    hc = recorder(); // for afterEach
    await hc.start();
  });

  it('refuses a URL that is not http(s): 64 as a flag, 78 as a variable, without echoing it', async () => {
    const flag = await runCli(['run', '--heartbeat-url', `ftp://example.invalid/${token}`], { env: env() });
    expect(flag.code).toBe(64);
    expect(flag.stderr).toBe('package-scheduler: invalid --heartbeat-url / SCHEDULER_HEARTBEAT_URL: not an http:// or https:// URL\n');
    const variable = await runCli(['run'], { env: { ...env(), SCHEDULER_HEARTBEAT_URL: `not a url ${token}` } });
    expect(variable.code).toBe(78);
    expectNoToken(flag);
    expectNoToken(variable);
    expect(hc.pings).toEqual([]);
  });
});

describe('status --json', () => {
  it('carries the figures of the metrics: last run and success as Unix seconds, and the duration', async () => {
    await createPackagesTable(db.client);
    await dropHistory();
    expect((await runCli(['migrate'], { env: env() })).code).toBe(0);
    const before = Date.now() / 1000;
    expect((await runCli(['run'], { env: env() })).code).toBe(0);
    const report = JSON.parse((await runCli(['status', '--json'], { env: env() })).stdout);
    expect(report.lastRun.lastRunTimestampSeconds).toBeGreaterThan(before - 1);
    expect(report.lastRun.lastSuccessTimestampSeconds).toBe(report.lastRun.lastRunTimestampSeconds);
    expect(report.lastRun.lastRunDurationSeconds).toBeGreaterThanOrEqual(0);
    expect(report.lastRun.lastRunDurationSeconds).toBeLessThan(5);
    expect(report.lastRun.lastTickStartedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });
});

