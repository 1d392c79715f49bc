// run --watch: ticks at each package's due instant (never early), wakes on the wake trigger's
// NOTIFY (not on its own updates), survives a killed LISTEN connection, shares the table with a
// second watcher, and stops at once on SIGTERM while sleeping. Packages fall due 2-3 s after the
// test starts, by the database clock; lateness is updated_at (the tick's now()) minus due.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { addAuditTrigger } from './support/fixtures.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { parseJsonLines, type LogLine } from './support/logs.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
// A loaded 2-core machine: the figures that matter come from the benchmark; here, well within a second.
const BOUND_MS = 700;

interface Watcher {
  child: ChildProcess;
  done: Promise<CliResult>;
  lines(): LogLine[];
  stop(): Promise<CliResult>;
}

function watch(args: string[] = [], env: Record<string, string> = {}): Watcher {
  let child!: ChildProcess;
  let out = '';
  const done = runCli(['run', '--watch', '--timezone', 'UTC', '--expiry', 'instant', '--log-level', 'debug', ...args], {
    env: { DATABASE_URL: db.url, ...env },
    onSpawn: (c) => {
      child = c;
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    },
    timeoutMs: 30_000,
  });
  const lines = () => parseJsonLines(out.slice(0, out.lastIndexOf('\n') + 1));
  return {
    get child() {
      return child;
    },
    done,
    lines,
    stop: async () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}

async function until(w: Watcher, what: string, test: (lines: LogLine[]) => boolean, timeoutMs = 8000): Promise<void> {
  await waitUntil(() => test(w.lines()), { what, timeoutMs });
}
const listening = (w: Watcher) => until(w, 'LISTEN in place', (l) => l.some((x) => x.event === 'watch.listening'));
const sleeping = (w: Watcher, n = 1) => until(w, 'the watcher asleep', (l) => l.filter((x) => x.event === 'watch.sleeping').length >= n);

async function table(wakeTrigger: boolean): Promise<void> {
  await createPackagesTable(db.client, { validUntilType: 'timestamptz' });
  const r = await runCli(['migrate', ...(wakeTrigger ? ['--wake-trigger'] : [])], { env: { DATABASE_URL: db.url } });
  expect(r.code).toBe(0);
}

/** A package due for activation `seconds` from now (database clock), in `zone`. */
async function dueIn(seconds: number, zone = 'UTC'): Promise<number> {
  const { rows } = await db.client.query<{ id: number }>(
    `INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
     SELECT true, true, l::date, l::time FROM (SELECT (now() + make_interval(secs => $1)) AT TIME ZONE $2 AS l) AS x RETURNING id`,
    [seconds, zone],
  );
  return rows[0]!.id;
}

/** An active package whose valid_until (timestamptz, --expiry instant) passes `seconds` from now. */
async function expiresIn(seconds: number): Promise<number> {
  const { rows } = await db.client.query<{ id: number }>(
    `INSERT INTO special_packages (is_active, auto_deactivate, valid_until) VALUES (true, true, now() + make_interval(secs => $1)) RETURNING id`,
    [seconds],
  );
  return rows[0]!.id;
}

/** Each package's lateness in ms: updated_at minus its due instant (null while not changed). */
async function lateness(zoneOf: (id: number) => string = () => 'UTC'): Promise<Map<number, number | null>> {
  const { rows } = await db.client.query<{ id: number; schedule_date: string | null; schedule_time: string | null; valid_until: string | null; updated_at: string | null }>(
    'SELECT id, schedule_date::text, schedule_time::text, valid_until::text, updated_at::text FROM special_packages ORDER BY id',
  );
  const out = new Map<number, number | null>();
  for (const r of rows) {
    if (r.updated_at === null) {
      out.set(r.id, null);
      continue;
    }
    const due =
      r.valid_until !== null
        ? `$1::timestamptz`
        : `(($1::date + $2::time) AT TIME ZONE $3::text)`;
    const params = r.valid_until !== null ? [r.valid_until, r.updated_at] : [r.schedule_date, r.schedule_time, zoneOf(r.id), r.updated_at];
    const at = `$${params.length}::timestamptz`;
    const { rows: l } = await db.client.query<{ ms: number }>(`SELECT (extract(epoch FROM ${at} - ${due}) * 1000)::float8 AS ms`, params);
    out.set(r.id, l[0]!.ms);
  }
  return out;
}

async function allChanged(): Promise<void> {
  await waitUntil(async () => (await db.client.query('SELECT 1 FROM special_packages WHERE updated_at IS NULL')).rows.length === 0, {
    what: 'every package changed',
    timeoutMs: 10_000,
  });
}

function expectOnTime(late: Map<number, number | null>): void {
  for (const [id, ms] of late) {
    expect(ms, `package ${id}`).not.toBeNull();
    expect(ms!, `package ${id} early`).toBeGreaterThanOrEqual(0);
    expect(ms!, `package ${id} late`).toBeLessThan(BOUND_MS);
  }
}

describe('run --watch', () => {
  it('activates and deactivates at the due instant, never early, and logs maxLateMs', async () => {
    await table(true);
    await dueIn(2);
    await expiresIn(2.5);
    await dueIn(3);
    const w = watch(['--max-sleep', '60']);
    await allChanged();
    const r = await w.stop();
    expect(r.code).toBe(0);
    expectOnTime(await lateness());
    const completed = r.events('tick.completed').filter((l) => (l.maxLateMs as number | undefined) !== undefined);
    expect(completed.length).toBeGreaterThanOrEqual(2);
    for (const l of completed) expect(l.maxLateMs as number).toBeLessThan(BOUND_MS);
    expect(r.events('watch.wake').map((l) => l.reason)).toContain('due');
  });

  it('wakes on an insert and on an update through the trigger, and never on its own changes', async () => {
    await table(true);
    const far = await dueIn(3600);
    const w = watch(['--max-sleep', '60']);
    await listening(w);
    await sleeping(w, 2);
    await dueIn(2); // inserted while the watcher sleeps for a minute
    await db.client.query(
      `UPDATE special_packages SET (schedule_date, schedule_time) = (SELECT l::date, l::time FROM (SELECT (now() + interval '2.5 s') AT TIME ZONE 'UTC' AS l) AS x) WHERE id = $1`,
      [far],
    );
    await allChanged();
    await new Promise((resolve) => setTimeout(resolve, 500)); // time for a self-wake to show
    const r = await w.stop();
    expectOnTime(await lateness());
    const reasons = r.events('watch.wake').map((l) => l.reason);
    // One wake per edit (the insert, the update), none for the ticks' own two updates.
    expect(reasons.filter((x) => x === 'notified')).toHaveLength(2);
    expect(r.events('package.activated')).toHaveLength(2);
  });

  it('without the trigger, sees an edit within --max-sleep; check says which it is', async () => {
    await table(false);
    const check = await runCli(['check', '--timezone', 'UTC'], { env: { DATABASE_URL: db.url } });
    expect(check.stdout).toContain('no wake trigger');
    const w = watch(['--max-sleep', '2']);
    await listening(w);
    await sleeping(w, 2);
    const id = await dueIn(0);
    await allChanged();
    const r = await w.stop();
    const late = (await lateness()).get(id)!;
    expect(late).toBeLessThan(2000 + BOUND_MS);
    expect(r.events('watch.wake').map((l) => l.reason)).toContain('max-sleep');
    await runCli(['migrate', '--wake-trigger'], { env: { DATABASE_URL: db.url } });
    const after = await runCli(['check', '--timezone', 'UTC'], { env: { DATABASE_URL: db.url } });
    expect(after.stdout).toContain('edits wake run --watch');
  });

  it('a killed LISTEN connection comes back, and the next package is still on time', async () => {
    await table(true);
    const w = watch(['--max-sleep', '60']);
    await listening(w);
    await sleeping(w, 2);
    const killed = await db.client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_listening_channels%' AND pid <> pg_backend_pid()`,
    );
    expect(killed.rows).toHaveLength(1);
    await until(w, 'a second LISTEN', (l) => l.filter((x) => x.event === 'watch.listening').length >= 2);
    await dueIn(2);
    await allChanged();
    const r = await w.stop();
    expect(r.code).toBe(0);
    expect(r.events('watch.listen_failed').length).toBeGreaterThanOrEqual(1);
    expectOnTime(await lateness());
  });

  it('two watchers change each package exactly once', async () => {
    await table(true);
    await addAuditTrigger(db.client);
    await db.client.query(
      `INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
       SELECT true, true, l::date, l::time FROM (SELECT (now() + make_interval(secs => 2 + (i % 3) * 0.3)) AT TIME ZONE 'UTC' AS l FROM generate_series(1, 60) AS i) AS x`,
    );
    const a = watch();
    const b = watch();
    await allChanged();
    const [ra, rb] = await Promise.all([a.stop(), b.stop()]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    const { rows } = await db.client.query<{ n: number }>('SELECT count(*)::int AS n FROM audit GROUP BY package_id HAVING count(*) <> 1');
    expect(rows).toEqual([]);
    const activated = ra.events('package.activated').length + rb.events('package.activated').length;
    expect(activated).toBe(60);
  });

  it('SIGTERM while sleeping: exit 0 within a second', async () => {
    await table(true);
    const w = watch(['--max-sleep', '3600']);
    await listening(w);
    await sleeping(w, 2);
    const sent = Date.now();
    const r = await w.stop();
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'scheduler.stopped' });
  });

  it("per-row zones: each package at its own zone's instant", async () => {
    await table(true);
    await db.client.query(`ALTER TABLE special_packages ADD COLUMN tz text`);
    const zones = new Map<number, string>();
    for (const [zone, s] of [['Asia/Tokyo', 2], ['America/New_York', 2.5], ['Europe/Berlin', 3]] as const) {
      const id = await dueIn(s, zone);
      await db.client.query('UPDATE special_packages SET tz = $1 WHERE id = $2', [zone, id]);
      zones.set(id, zone);
    }
    const w = watch(['--timezone-column', 'tz']);
    await allChanged();
    await w.stop();
    expectOnTime(await lateness((id) => zones.get(id)!));
  });

  it('refuses --watch with --dry-run, --at or --every, and bad --max-sleep or --listen-url: 64 for flags, 78 for variables', async () => {
    const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    for (const args of [
      ['--watch', '--dry-run'],
      ['--watch', '--dry-run', '--at', '2026-01-01T00:00'],
      ['--watch', '--every', '5'],
      ['--watch', '--max-sleep', '0'],
      ['--watch', '--max-sleep', '3601'],
      ['--watch', '--max-sleep', 'abc'],
      ['--watch', '--listen-url', 'not a url'],
      ['--watch', '--table', 'tenant_*.special_packages'], // watch ticks one table: a pattern would watch none
    ]) {
      const r = await runCli(['run', ...args], { env });
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    for (const extra of [{ SCHEDULER_WATCH: 'on', SCHEDULER_EVERY: '5' }, { SCHEDULER_MAX_SLEEP: '0' }, { SCHEDULER_MAX_SLEEP: 'abc' }, { SCHEDULER_LISTEN_URL: 'nope' }, { SCHEDULER_WATCH: 'maybe' }, { SCHEDULER_WATCH: 'on', SCHEDULER_TABLE: 'a,b' }]) {
      const r = await runCli(['run', '--watch'].slice(0, 'SCHEDULER_WATCH' in extra ? 1 : 2), { env: { ...env, ...extra } });
      expect(r.code, JSON.stringify(extra)).toBe(78);
    }
  });

  it('migrate --print --wake-trigger shows the trigger', async () => {
    const r = await runCli(['migrate', '--print', '--wake-trigger']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('CREATE TRIGGER package_scheduler_wake AFTER UPDATE OF');
    expect(r.stdout).toContain("current_setting('package_scheduler.tick', true)");
  });
});
