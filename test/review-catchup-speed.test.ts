// Regressions found by the adversarial reviews of the catch-up speed work (issue 23): a row
// edited during the tick statement (which a narrowing of the UPDATE by ctid missed), lateness
// near the timestamp range's end, and a batch's lines written while the next batch runs.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { runTick } from '../src/tick/tick.ts';
import type { Logger } from '../src/logger.ts';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { BIN, runCli } from './support/cli.ts';
import { tickOptions } from './support/tick-options.ts';

const db = useTestDatabase();
const role = `ps_review_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(6).toString('hex')}`;

afterAll(async () => {
  await db.client.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => {});
});

async function sixDue(): Promise<void> {
  await createPackagesTable(db.client);
  await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
    SELECT true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 6)`);
}

const active = async () => (await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM special_packages WHERE is_active`)).rows[0]!.n;

describe('the catch-up statement under real sessions', () => {
  it('a due row another session updates and commits while the tick statement runs is still changed, and the backlog goes on', async () => {
    await sixDue();
    // A row-security policy (forced, for a role that is not superuser) that sleeps 2 s while the
    // tick's scan passes row 1: another session updates row 2 and commits meanwhile, after the
    // statement's snapshot and before its row lock. The lock then holds row 2's newest version.
    await db.client.query(`
      CREATE TABLE slow_flag (on_ boolean); INSERT INTO slow_flag VALUES (true);
      CREATE FUNCTION slow_at(id int) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF id = 1 AND (SELECT on_ FROM slow_flag) AND current_setting('application_name') <> 'other' THEN PERFORM pg_sleep(2); END IF;
        RETURN true;
      END $$;
      CREATE ROLE ${role} LOGIN PASSWORD '${password}';
      GRANT SELECT, UPDATE ON special_packages TO ${role};
      GRANT SELECT ON slow_flag TO ${role};
      ALTER TABLE special_packages ENABLE ROW LEVEL SECURITY;
      ALTER TABLE special_packages FORCE ROW LEVEL SECURITY;
      CREATE POLICY slow ON special_packages USING (slow_at(id));`);
    const u = new URL(db.url);
    u.username = role;
    u.password = password;
    const tick = runCli(['run', '--timezone', 'UTC', '--no-history', '--max-changes', '3'], { env: { DATABASE_URL: u.toString() }, timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const other = await db.connect();
    await other.query(`SET application_name = 'other'`);
    await other.query(`UPDATE special_packages SET name = 'edited' WHERE id = 2`);
    await other.end();
    const r = await tick;
    await db.client.query('UPDATE slow_flag SET on_ = false');
    expect(r.code, r.stderr).toBe(0);
    expect(r.events('tick.completed')).toEqual([expect.objectContaining({ activated: 6 })]);
    expect(await active()).toBe(6);
    expect(r.events('package.activated').map((l) => l.packageId).sort()).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('a valid_until at the very start of the timestamp range neither fails the tick nor loses maxLateMs', async () => {
    await createPackagesTable(db.client);
    await db.client.query(`ALTER TABLE special_packages ALTER COLUMN valid_until TYPE timestamp`);
    await db.client.query(`INSERT INTO special_packages (is_active, auto_deactivate, valid_until)
      VALUES (true, true, timestamp '2026-01-01 00:00'), (true, true, timestamp '4714-11-24 00:00:00 BC')`);
    const r = await runCli(['run', '--timezone', 'Europe/Berlin', '--expiry', 'instant', '--no-history'], { env: { DATABASE_URL: db.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.events('tick.completed')).toEqual([expect.objectContaining({ deactivated: 2, maxLateMs: expect.any(Number) })]);
    expect(await db.client.query(`SELECT count(*)::int AS n FROM special_packages WHERE is_active`).then((x) => x.rows[0].n)).toBe(0);
  });
});

describe("a batch's lines, written while the next batch runs", () => {
  it('a logger that fails keeps the next batch from committing: no change without its line', async () => {
    await sixDue();
    let changeLines = 0;
    const logged: unknown[] = [];
    const failing: Logger = {
      debug() {},
      warn() {},
      info(fields) {
        if (String(fields.event).startsWith('package.')) {
          if (++changeLines === 3) throw new Error('log sink failed');
          logged.push(fields.packageId);
        }
      },
    };
    // Three batches of two: the third change line (batch 2's first) fails while batch 3 runs.
    await expect(runTick(db.client, tickOptions({ timezone: 'UTC', maxChanges: 2, history: false }), failing)).rejects.toThrow('log sink failed');
    expect(logged).toEqual(['1', '2']);
    // Batches 1 and 2 committed (2's lines were being written); batch 3 rolled back.
    expect(await active()).toBe(4);
    const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`);
    expect(rows[0]!.n).toBe(0);
  });

  it("what the next batch logs (a spool warning) comes after every line of the batch before", async () => {
    await createPackagesTable(db.client);
    await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
      SELECT true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 60000)`);
    const order: string[] = [];
    // A slow log sink (0.05 ms a line, 1 s a batch of 20,000 in ten blocks of pages): batch 2
    // starts, and warns, long before batch 1's lines are out.
    const slow: Logger = {
      debug() {},
      info(fields) {
        const until = performance.now() + 0.05;
        while (performance.now() < until);
        order.push(String(fields.event));
      },
      warn(fields) {
        order.push(String(fields.event));
      },
    };
    const r = await runTick(
      db.client,
      tickOptions({ timezone: 'UTC', maxChanges: 20_000, history: false, spoolDirectory: '/nonexistent/folder', spoolMemoryBytes: 1 }),
      slow,
    );
    expect(r).toMatchObject({ status: 'completed', activated: expect.any(Array) });
    const warnings = order.flatMap((event, i) => (event === 'tick.spool_in_memory' ? [i] : []));
    // One warning per batch with changes (the fourth finds none), each right after the 300 lines of the batch before it.
    expect(warnings).toEqual([0, 20_001, 40_002]);
    expect(order.at(-1)).toBe('tick.completed');
  });

  it('a slow reader of stdout: the next batch waits in its open transaction without being ended as idle', async () => {
    await createPackagesTable(db.client);
    // 3,000 due with long names: batch 1's 2,000 lines are ~4.6 MB, read at ~500 KB/s (~9 s),
    // while batch 2 (1,000 rows) waits to commit; its session's idle limit is 5 s (--statement-timeout 5000).
    await db.client.query(`INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
      SELECT repeat('n', 2000) || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 3000) g`);
    const child = spawn(process.execPath, [BIN, 'run', '--timezone', 'UTC', '--no-history', '--max-changes', '2000', '--statement-timeout', '5000'], {
      env: { PATH: process.env.PATH, HOME: '/tmp', DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), d.length / 500);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(await active()).toBe(3000);
    const lines = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; transactions?: number });
    expect(lines.filter((l) => l.event === 'package.activated')).toHaveLength(3000);
    expect(lines.at(-1)).toMatchObject({ event: 'tick.completed', transactions: 2 });
  }, 90_000);
});
