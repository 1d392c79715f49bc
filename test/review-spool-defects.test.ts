// Issue 18, the spool and the tick's transaction: multi-byte names across the spool's read
// blocks (#9), pruning that must never fail a tick (#5), a full temp folder (#15), and a
// stalled client that must not hold the table's lock forever (#14).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ChangeSpool } from '../src/tick/change-spool.ts';
import { historyDdl } from '../src/history/history-sql.ts';
import { TICK_MARKER } from '../src/tick/tick-sql.ts';
import { addUpdateTrigger, createPackagesTable, dropUpdateTrigger, insertPackage, useTestDatabase, waitForActiveTick } from './support/database.ts';
import { sleep, waitUntil } from './support/wait.ts';
import { duePackage } from './support/fixtures.ts';
import { BIN, runCli } from './support/cli.ts';
import { parseJsonLines } from './support/logs.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();
const READ_BLOCK = 32 * 1024; // the spool's read size: what a character must be able to straddle

/** Every record the spool gives back, in order. */
function roundTrip(records: string[]): string[] {
  const spool = new ChangeSpool({ directory: scratchDir('ps-spool'), memoryBytes: 0 });
  try {
    spool.append(records);
    const back: string[] = [];
    spool.forEach((r) => back.push(r));
    return back;
  } finally {
    spool.close();
  }
}

describe('#9 multi-byte characters in the spool file', () => {
  it('a character straddling a read block boundary comes back whole, at every byte offset', () => {
    for (const char of ['ü', '✨', '💆']) {
      for (let shift = 0; shift < 4; shift++) {
        // One record that fills the block without a newline, and one after a short record.
        const long = `${'a'.repeat(READ_BLOCK - 1 - shift)}${char} tail`;
        const afterShort = ['x', `${'b'.repeat(READ_BLOCK - 3 - shift)}${char} tail`];
        expect(roundTrip([long, 'next'])).toEqual([long, 'next']);
        expect(roundTrip([...afterShort, 'next'])).toEqual([...afterShort, 'next']);
      }
    }
  });

  it('20,000 Cyrillic and emoji records keep every byte', () => {
    const records = Array.from({ length: 20_000 }, (_, i) => `{"name":"Пакет для невесты ✨ ${i + 1}"}`);
    expect(roundTrip(records)).toEqual(records);
  });

  it('the CLI logs 20,000 due packages named in Cyrillic with an emoji, every name exact', async () => {
    await createPackagesTable(db.client);
    await db.client.query(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
       SELECT 'Пакет для невесты ✨ ' || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 20000) AS g`,
    );
    const tmp = scratchDir('ps-tmpdir');
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, TMPDIR: tmp, SCHEDULER_TIMEZONE: 'Europe/Berlin' }, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const activated = r.events('package.activated');
    expect(activated).toHaveLength(20_000);
    expect(activated.filter((l) => String(l.name).includes('\uFFFD'))).toEqual([]);
    expect(activated.map((l) => l.name)).toEqual(Array.from({ length: 20_000 }, (_, i) => `Пакет для невесты ✨ ${i + 1}`));
    expect(activated.map((l) => Number(l.packageId))).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  }, 90_000);
});

describe('#5 pruning old history never delays or fails a tick', () => {
  async function withHistoryAndOldEvents(): Promise<void> {
    await createPackagesTable(db.client);
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
    await db.client.query(historyDdl());
    await insertPackage(db.client, duePackage());
    // Two events past the default 90 days' retention (ids 1 and 2), one recent (id 3).
    await db.client.query(`
      INSERT INTO package_scheduler_events (run_id, packages_table, package_id, action, timezone, happened_at)
      VALUES (gen_random_uuid(), 'public.special_packages', 'old-1', 'activated', 'UTC', now() - interval '200 days'),
             (gen_random_uuid(), 'public.special_packages', 'old-2', 'activated', 'UTC', now() - interval '100 days'),
             (gen_random_uuid(), 'public.special_packages', 'recent', 'activated', 'UTC', now() - interval '1 day')`);
  }

  const oldEvents = async () =>
    (await db.client.query<{ package_id: string }>(`SELECT package_id FROM package_scheduler_events WHERE package_id LIKE 'old-%' ORDER BY id`)).rows.map((r) => r.package_id);

  it('commits the tick while an archiving job holds a row lock on an old event, and prunes the rest', async () => {
    await withHistoryAndOldEvents();
    const archiver = await db.connect();
    await archiver.query('BEGIN');
    await archiver.query(`SELECT id FROM package_scheduler_events WHERE package_id = 'old-1' FOR UPDATE`);
    try {
      const r = await runCli(['run', '--lock-timeout', '300'], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.events('package.activated')).toHaveLength(1);
      expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1 });
    } finally {
      await archiver.query('ROLLBACK');
    }
    expect((await db.client.query(`SELECT is_active FROM special_packages`)).rows).toEqual([{ is_active: true }]);
    expect(await oldEvents()).toEqual(['old-1']); // the locked one waits for a later tick
    const { rows } = await db.client.query(`SELECT last_outcome FROM package_scheduler_state`);
    expect(rows).toEqual([{ last_outcome: 'completed' }]);
  });

  it('a prune that fails (an archive trigger that refuses the DELETE) only warns: the tick commits, exit 0', async () => {
    await withHistoryAndOldEvents();
    await db.client.query(`
      CREATE OR REPLACE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'archive first' USING ERRCODE = 'P0001'; END $$;
      CREATE TRIGGER refuse_delete BEFORE DELETE ON package_scheduler_events FOR EACH ROW EXECUTE FUNCTION refuse_delete();`);
    try {
      const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.events('history.prune_failed')).toEqual([expect.objectContaining({ level: 'warn', code: 'P0001' })]);
      expect(r.events('package.activated')).toHaveLength(1);
      expect((await db.client.query(`SELECT is_active FROM special_packages`)).rows).toEqual([{ is_active: true }]);
      expect(await oldEvents()).toEqual(['old-1', 'old-2']);
      const { rows } = await db.client.query(`SELECT action FROM package_scheduler_events WHERE package_id = '1'`);
      expect(rows).toEqual([{ action: 'activated' }]); // the tick's own event, kept
    } finally {
      await db.client.query('DROP TRIGGER refuse_delete ON package_scheduler_events');
    }
  });

  it('prunes every old event when nothing is locked, and keeps recent ones', async () => {
    await withHistoryAndOldEvents();
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' } });
    expect(r.code).toBe(0);
    expect(await oldEvents()).toEqual([]);
    const { rows } = await db.client.query(`SELECT package_id FROM package_scheduler_events ORDER BY id`);
    expect(rows.map((row) => row.package_id)).toEqual(['recent', '1']);
  });
});

/**
 * A command prefix that runs a program in its own mount namespace with a 64 KB tmpfs mounted
 * on the folder given as its first argument: a real full filesystem, gone when the program ends.
 * Root needs only unshare; elsewhere a user namespace, or (CI runners) passwordless sudo.
 */
function fullFolderPrefix(): string[] {
  const mountThenExec = ['sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$1" && shift && exec "$@"', 'sh'];
  const candidates = [...(process.getuid?.() === 0 ? [['unshare', '-m']] : []), ['unshare', '-rm'], ['sudo', '-n', 'unshare', '-m']];
  const probe = scratchDir('ps-probe');
  for (const candidate of candidates) {
    const r = spawnSync(candidate[0]!, [...candidate.slice(1), ...mountThenExec, probe, 'true'], { stdio: 'ignore' });
    if (r.status === 0) return [...candidate, ...mountThenExec];
  }
  throw new Error('this test needs a small tmpfs: run it as root, with user namespaces, or with passwordless sudo');
}

describe('#15 a full temp folder', () => {
  it('a backlog tick whose spool fills TMPDIR exits 75, says the temp folder is full, and changes nothing', async () => {
    await createPackagesTable(db.client);
    await db.client.query(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
       SELECT 'Package ' || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 20000) AS g`,
    );
    const tmp = scratchDir('ps-full');
    const [command, ...prefix] = fullFolderPrefix();
    const env = { PATH: process.env.PATH ?? '', HOME: '/tmp', TZ: 'UTC', TMPDIR: tmp, DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' };
    // `env` after sudo: sudo would reset the environment the CLI reads its settings from.
    const r = spawnSync(command!, [...prefix, tmp, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, 'run'], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    expect(r.status).toBe(75);
    expect(r.stderr).toMatch(/temp folder .* is full.*nothing was changed/);
    const failed = parseJsonLines(r.stdout).filter((l) => l.event === 'tick.failed');
    expect(failed).toEqual([expect.objectContaining({ exitCode: 75 })]);
    expect(parseJsonLines(r.stdout).filter((l) => l.event === 'package.activated')).toEqual([]);
    const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM special_packages WHERE is_active`);
    expect(rows[0]!.n).toBe(0);
  }, 90_000);
});

describe('#14 a stalled client does not hold the table forever', () => {
  it('a run stopped (SIGSTOP) between two pages is ended by the server once the bound passes, and the next run completes', async () => {
    await createPackagesTable(db.client);
    await db.client.query(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
       SELECT 'Package ' || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 5000) AS g`,
    );
    // Row 1 takes a second, so the run can be stopped while its statement runs: the server
    // then sends the first page to a client that no longer reads.
    await addUpdateTrigger(db.client, 'slow_first', 'IF NEW.id = 1 THEN PERFORM pg_sleep(1); END IF;');
    const env = { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' };
    const args = ['run', '--statement-timeout', '6000'];
    let stalled: ChildProcess | undefined;
    const first = runCli(args, { env, timeoutMs: 60_000, onSpawn: (child) => (stalled = child) });
    try {
      await waitForActiveTick(db.client, 10_000);
      stalled!.kill('SIGSTOP');
      // The statement has finished; the session waits for the stopped client's next message.
      let stalledState: string | undefined;
      await waitUntil(
        async () => {
          const { rows } = await db.client.query<{ state: string }>(
            `SELECT state FROM pg_stat_activity WHERE wait_event = 'ClientRead' AND starts_with(query, $1::text)`,
            [TICK_MARKER],
          );
          stalledState = rows[0]?.state;
          return stalledState !== undefined;
        },
        { what: 'the stopped run to wait on its client', timeoutMs: 10_000 },
      );
      const blocked = await runCli(args, { env });
      expect(blocked.events('tick.skipped')).toHaveLength(1);
      // status names it once it has run longer than a statement may (here 1 s).
      await sleep(1200);
      const report = await runCli(['status', '--statement-timeout', '1000'], { env });
      expect(report.code).toBe(0);
      expect(report.stdout).toMatch(/warning +a tick has been running too long: \d+ s holding the table's lock \(session \d+, idle in transaction \/ ClientRead\)/);
      const json = await runCli(['status', '--json', '--statement-timeout', '1000'], { env });
      expect(JSON.parse(json.stdout).runningTick).toMatchObject({ state: 'idle in transaction', waitEvent: 'ClientRead', tooLong: true });
      const calm = await runCli(['status', '--json'], { env }); // the default statement timeout, 30 s: not too long yet
      expect(JSON.parse(calm.stdout)).toMatchObject({ runningTick: { tooLong: false }, warnings: [] });
      // Within the bound (the statement timeout: 6 s here) the server ends the stalled session.
      const started = Date.now();
      let completed: Record<string, unknown> | undefined;
      while (completed === undefined && Date.now() - started < 20_000) {
        const r = await runCli(args, { env });
        expect(r.code).toBe(0);
        completed = r.events('tick.completed')[0];
        if (completed === undefined) await sleep(500);
      }
      expect(completed).toMatchObject({ activated: 5000 });
      // Outside any statement (not `active`, where no timeout fires): what lets the bound apply.
      expect(stalledState).toBe('idle in transaction');
      const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM special_packages WHERE is_active`);
      expect(rows[0]!.n).toBe(5000);
    } finally {
      stalled?.kill('SIGKILL');
      stalled?.kill('SIGCONT');
      await first;
      await dropUpdateTrigger(db.client, 'slow_first');
    }
  }, 90_000);
});
