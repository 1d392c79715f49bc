// Catch-up: a backlog larger than --max-changes is applied in consecutive transactions of one
// run, each all-or-nothing and logged after its own COMMIT, all at the first one's instant. A
// failed batch keeps the committed ones; rows an admin holds are skipped and end the loop.
import { describe, expect, it } from 'vitest';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';

const db = useTestDatabase();
const ROWS = 2500;

/** ROWS packages due since 2026-01-01 09:00, and an audit of every update with its transaction. */
async function backlog(): Promise<void> {
  await createPackagesTable(db.client);
  await db.client.query(
    `INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
     SELECT true, true, date '2026-01-01', time '09:00' FROM generate_series(1, $1::int)`,
    [ROWS],
  );
  await db.client.query(`
    DROP TABLE IF EXISTS audit;
    CREATE TABLE audit (package_id int, xid bigint);
    CREATE OR REPLACE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO audit VALUES (NEW.id, txid_current()); RETURN NEW; END $$;
    CREATE TRIGGER audit_change AFTER UPDATE ON special_packages FOR EACH ROW EXECUTE FUNCTION audit_change();`);
}

/**
 * A BEFORE UPDATE trigger that does `action` on the `nth` row the tick updates, counted across
 * transactions by a sequence (not rolled back): with --max-changes 1000, row 1500 is in batch 2.
 */
async function onNthUpdate(nth: number, action: string): Promise<void> {
  await db.client.query(`
    DROP SEQUENCE IF EXISTS updates; CREATE SEQUENCE updates;
    CREATE OR REPLACE FUNCTION nth_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF nextval('updates') = ${nth} THEN ${action}; END IF; RETURN NEW; END $$;
    CREATE TRIGGER nth_update BEFORE UPDATE ON special_packages FOR EACH ROW EXECUTE FUNCTION nth_update();`);
}

async function one<T>(sql: string): Promise<T> {
  return (await db.client.query(sql)).rows[0] as T;
}

const stillDue = () => one<{ n: number }>(`SELECT count(*)::int AS n FROM special_packages WHERE scheduled`).then((r) => r.n);
const audited = () => one<{ rows: number; distinct: number; xids: number }>(
  `SELECT count(*)::int AS rows, count(DISTINCT package_id)::int AS distinct, count(DISTINCT xid)::int AS xids FROM audit`,
);
const auditedIds = async () => (await db.client.query<{ id: string }>(`SELECT package_id::text AS id FROM audit ORDER BY 1`)).rows.map((r) => r.id);
const run = (args: string[] = [], env: Record<string, string> = {}) =>
  runCli(['run', '--timezone', 'UTC', '--max-changes', '1000', ...args], { env: { DATABASE_URL: db.url, ...env }, timeoutMs: 60_000 });

describe('a backlog over --max-changes', () => {
  it('completes in consecutive transactions, every row changed once, all at the same instant', async () => {
    await backlog();
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(await stillDue()).toBe(0);
    // Three transactions of the database (1000, 1000, 500), every row updated exactly once.
    expect(await audited()).toEqual({ rows: ROWS, distinct: ROWS, xids: 3 });
    const lines = r.events('package.activated').map((l) => l.packageId as string);
    expect(lines).toHaveLength(ROWS);
    expect([...lines].sort()).toEqual(await auditedIds());
    expect(r.events('tick.completed')).toEqual([expect.objectContaining({ activated: ROWS, deactivated: 0, transactions: 3 })]);
    // One instant: the first transaction's clock, not each batch's own now().
    const stamps = await one<{ n: number; at: string }>(`SELECT count(DISTINCT updated_at)::int AS n, min(updated_at)::text AS at FROM special_packages`);
    expect(stamps.n).toBe(1);
    // Every line's lateness is measured from the same instant too.
    expect(new Set(r.events('package.activated').map((l) => l.lateSeconds)).size).toBe(1);
    // A batch's lines are written while the next batch runs, yet never mixed with its lines:
    // the lines come batch by batch (three runs of transaction ids), tick.completed last.
    const xidOf = new Map((await db.client.query<{ id: string; xid: string }>(`SELECT package_id::text AS id, xid::text AS xid FROM audit`)).rows.map((a) => [a.id, a.xid]));
    const runs = lines.map((id) => xidOf.get(id)).filter((xid, i, all) => i === 0 || xid !== all[i - 1]);
    expect(runs).toHaveLength(3);
    expect(r.lines.at(-1)).toMatchObject({ event: 'tick.completed' });
  });

  it('a normal tick, fewer due rows than the cap, is one transaction', async () => {
    await backlog();
    const r = await run(['--max-changes', String(ROWS + 1)]);
    expect(r.code, r.stderr).toBe(0);
    expect(await audited()).toEqual({ rows: ROWS, distinct: ROWS, xids: 1 });
    expect(r.events('tick.completed')).toEqual([expect.objectContaining({ activated: ROWS, transactions: 1 })]);
  });

  it('a failure in the second batch keeps the first, leaves the rest, exits 70; the next run finishes', async () => {
    await backlog();
    await onNthUpdate(1500, `RAISE EXCEPTION 'the CRM refuses this row'`);
    const r = await run();
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/transaction 2 of the tick failed.*1000 changes, which stay.*the CRM refuses this row/);
    expect(r.events('tick.failed')).toEqual([expect.objectContaining({ exitCode: 70, code: 'P0001' })]);
    expect(r.events('tick.completed')).toEqual([]);
    // The first batch committed, nothing of the second; lines for the committed batch only.
    expect(await audited()).toEqual({ rows: 1000, distinct: 1000, xids: 1 });
    expect(await stillDue()).toBe(ROWS - 1000);
    const lines = r.events('package.activated').map((l) => l.packageId as string);
    expect([...lines].sort()).toEqual(await auditedIds());
    // Every line of the committed batch is written before the failure is said.
    expect(r.lines.at(-1)).toMatchObject({ event: 'tick.failed' });

    await db.client.query('DROP TRIGGER nth_update ON special_packages');
    const next = await run();
    expect(next.code, next.stderr).toBe(0);
    expect(await stillDue()).toBe(0);
    expect(await audited()).toEqual({ rows: ROWS, distinct: ROWS, xids: 3 });
    expect(next.events('tick.completed')).toEqual([expect.objectContaining({ activated: ROWS - 1000, transactions: 2 })]);
  });

  it('when every remaining due row is locked by an admin, the run ends with them skipped', async () => {
    await backlog();
    const admin = await db.connect();
    await admin.query('BEGIN');
    await admin.query('SELECT id FROM special_packages WHERE id > 1000 FOR UPDATE');
    try {
      const r = await run();
      expect(r.code, r.stderr).toBe(0);
      // Batch 1 took the 1000 free rows (a full batch); batch 2 found only locked rows: done.
      expect(r.events('tick.completed')).toEqual([expect.objectContaining({ activated: 1000, transactions: 2 })]);
    } finally {
      await admin.query('ROLLBACK');
    }
    expect(await stillDue()).toBe(ROWS - 1000);
    const next = await run();
    expect(next.events('tick.completed')).toEqual([expect.objectContaining({ activated: ROWS - 1000, transactions: 2 })]);
    expect(await audited()).toEqual({ rows: ROWS, distinct: ROWS, xids: 3 });
  });

  it('a batch that hits statement_timeout says which setting to raise and how long it ran', async () => {
    await backlog();
    await onNthUpdate(1500, 'PERFORM pg_sleep(3)');
    const r = await run(['--statement-timeout', '1500']);
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/transaction 2 of the tick \(at most 1000 rows\) ran \d+ ms and hit statement_timeout \(1500 ms\)/);
    expect(r.stderr).toContain('--statement-timeout / SCHEDULER_STATEMENT_TIMEOUT');
    expect(r.stderr).toContain('--max-changes / SCHEDULER_MAX_CHANGES');
    expect(r.events('tick.failed')).toEqual([expect.objectContaining({ exitCode: 75, code: '57014' })]);
    expect(await stillDue()).toBe(ROWS - 1000);
  });

  it('refuses bad --max-changes (64) and SCHEDULER_MAX_CHANGES (78) before connecting', async () => {
    const nowhere = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    for (const bad of ['0', 'abc', '10000001', '-5', '']) {
      const r = await runCli(['run', '--max-changes', bad], { env: nowhere });
      expect(r.code, `--max-changes ${bad}`).toBe(64);
      expect(r.stderr).toContain('--max-changes');
    }
    for (const bad of ['0', '1.5', '10000001', ' ']) {
      const r = await runCli(['run'], { env: { ...nowhere, SCHEDULER_MAX_CHANGES: bad } });
      expect(r.code, `SCHEDULER_MAX_CHANGES=${bad}`).toBe(78);
      expect(r.stderr).toContain('SCHEDULER_MAX_CHANGES');
    }
    const check = await runCli(['check', '--max-changes', '0'], { env: nowhere });
    expect(check.code).toBe(64);
  });

  it('check warns when the due backlog is larger than one batch', async () => {
    await backlog();
    const over = await runCli(['check', '--timezone', 'UTC', '--json', '--max-changes', '1000'], { env: { DATABASE_URL: db.url } });
    expect(over.code, over.stderr).toBe(0);
    const warnings = (JSON.parse(over.stdout) as { warnings: string[] }).warnings;
    expect(warnings).toContainEqual(expect.stringMatching(/^2500 changes are due, more than one transaction of a run makes \(--max-changes \/ SCHEDULER_MAX_CHANGES 1000\)/));
    const under = await runCli(['check', '--timezone', 'UTC', '--json'], { env: { DATABASE_URL: db.url, SCHEDULER_MAX_CHANGES: '2500' } });
    expect((JSON.parse(under.stdout) as { warnings: string[] }).warnings.filter((w) => w.includes('--max-changes'))).toEqual([]);
  });
});
