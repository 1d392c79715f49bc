// Run history: the state row, retention and runId on every line.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick } from '../src/tick/tick.ts';
import { historyDdl } from '../src/history/history-sql.ts';
import { addUpdateTrigger, createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { runCli } from './support/cli.ts';
import { tickOptions } from './support/tick-options.ts';
import { duePackage, expiredPackage, holdTableLock } from './support/fixtures.ts';

const db = useTestDatabase();
const due = duePackage;
const expired = expiredPackage;

async function events() {
  const { rows } = await db.client.query(
    `SELECT run_id::text, packages_table, package_id, action, reason, due_at, valid_until, timezone
       FROM package_scheduler_events ORDER BY package_id::int, action`,
  );
  return rows;
}

describe('run history', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
    await db.client.query(historyDdl());
  });

  it('records exactly the changes of a tick, one event per action, with the run id', async () => {
    const a = await insertPackage(db.client, due());
    const d = await insertPackage(db.client, expired);
    const s = await insertPackage(db.client, { ...due('2025-12-01'), valid_until: '2025-12-15' });
    await insertPackage(db.client, due('2099-01-01')); // not due: no event
    const result = await runTick(db.client, tickOptions(), recordingLogger());
    expect(await events()).toEqual([
      { run_id: result.runId, packages_table: 'public.special_packages', package_id: String(a), action: 'activated', reason: null, due_at: '2026-01-01T09:00:00', valid_until: null, timezone: 'Europe/Berlin' },
      { run_id: result.runId, packages_table: 'public.special_packages', package_id: String(d), action: 'deactivated', reason: null, due_at: null, valid_until: '2026-01-01', timezone: 'Europe/Berlin' },
      { run_id: result.runId, packages_table: 'public.special_packages', package_id: String(s), action: 'activation_skipped', reason: 'expired', due_at: '2025-12-01T09:00:00', valid_until: '2025-12-15', timezone: 'Europe/Berlin' },
    ]);
    const { rows: state } = await db.client.query('SELECT * FROM package_scheduler_state');
    expect(state).toEqual([
      expect.objectContaining({
        packages_table: 'public.special_packages', last_run_id: result.runId, last_outcome: 'completed',
        last_activated: 1, last_deactivated: 1, last_activation_skipped: 1, last_error_code: null,
      }),
    ]);
    expect(state[0].last_success_at).not.toBeNull();
  });

  it('leaves no events behind from a rolled-back tick, and records the failure in the state row', async () => {
    const bad = await insertPackage(db.client, due());
    await insertPackage(db.client, due());
    await addUpdateTrigger(db.client, 'reject_one', `IF NEW.id = ${bad} THEN RAISE EXCEPTION 'rejected by the CRM' USING ERRCODE = 'P0001'; END IF;`);
    await expect(runTick(db.client, tickOptions({ runId: '00000000-0000-4000-8000-000000000001' }), recordingLogger())).rejects.toMatchObject({ code: 'P0001' });
    expect(await events()).toEqual([]);
    const { rows } = await db.client.query('SELECT last_outcome, last_error_code, last_error_message, last_run_id::text, last_success_at FROM package_scheduler_state');
    expect(rows).toEqual([
      { last_outcome: 'failed', last_error_code: 'P0001', last_error_message: 'rejected by the CRM', last_run_id: '00000000-0000-4000-8000-000000000001', last_success_at: null },
    ]);
  });

  it('keeps one state row per table after 100 ticks', async () => {
    for (let i = 0; i < 100; i++) await runTick(db.client, tickOptions(), recordingLogger());
    const { rows } = await db.client.query('SELECT count(*)::int AS n FROM package_scheduler_state');
    expect(rows[0].n).toBe(1);
  });

  it('deletes only events older than --history-days', async () => {
    await db.client.query(`
      INSERT INTO package_scheduler_events (run_id, packages_table, package_id, action, timezone, happened_at)
      SELECT gen_random_uuid(), 'public.special_packages', g::text, 'activated', 'UTC', now() - make_interval(days => g)
        FROM generate_series(1, 40) AS g`);
    await runTick(db.client, tickOptions({ history: { retentionDays: 30 } }), recordingLogger());
    const { rows } = await db.client.query<{ n: number; oldest: number }>(
      `SELECT count(*)::int AS n, max(package_id::int) AS oldest FROM package_scheduler_events`,
    );
    expect(rows[0]).toEqual({ n: 29, oldest: 29 }); // days 1..29 kept; 30..40 are older than 30 days
  });

  it('records a run that found the table lock taken as skipped, without waiting', async () => {
    await runTick(db.client, tickOptions(), recordingLogger());
    const release = await holdTableLock(await db.connect());
    const skipped = await runTick(db.client, tickOptions(), recordingLogger());
    await release();
    expect(skipped.status).toBe('skipped');
    const { rows } = await db.client.query('SELECT last_outcome, last_run_id::text FROM package_scheduler_state');
    expect(rows).toEqual([{ last_outcome: 'skipped', last_run_id: skipped.runId }]);
  });

  it('--no-history records nothing even though the tables exist', async () => {
    await insertPackage(db.client, due());
    const r = await runCli(['run', '--no-history'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.events('package.activated')).toHaveLength(1);
    expect(await events()).toEqual([]);
    const { rows } = await db.client.query('SELECT count(*)::int AS n FROM package_scheduler_state');
    expect(rows[0].n).toBe(0);
  });

  it('puts the same runId on every log line of a tick, including tick.failed', async () => {
    await insertPackage(db.client, due());
    await insertPackage(db.client, expired);
    // The zone is set: without it run also warns, before the tick, that it uses the host's zone.
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC' } });
    const ids = new Set(r.lines.map((l) => l.runId));
    expect(r.lines.length).toBe(3);
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await db.client.query('SELECT DISTINCT run_id::text FROM package_scheduler_events');
    expect(rows).toEqual([{ run_id: [...ids][0] }]);

    const failed = await runCli(['run', '--table', 'missing_table'], { env: { DATABASE_URL: db.url } });
    expect(failed.events('tick.failed')[0]!.runId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('says once, at debug level, that history is off when the tables do not exist', async () => {
    await db.client.query('DROP TABLE package_scheduler_state, package_scheduler_events');
    await insertPackage(db.client, due());
    const r = await runCli(['run', '--log-level', 'debug'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.events('history.off')).toEqual([expect.objectContaining({ level: 'debug' })]);
    expect(r.events('package.activated')).toHaveLength(1);
  });
});

describe('--history-schema', () => {
  it('migrate creates the history tables there and ticks record into them', async () => {
    await createPackagesTable(db.client);
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events; DROP SCHEMA IF EXISTS audit CASCADE; CREATE SCHEMA audit');
    const migrated = await runCli(['migrate', '--history-schema', 'audit'], { env: { DATABASE_URL: db.url } });
    expect(migrated.code).toBe(0);
    expect(migrated.events('migrate.completed')[0]).toMatchObject({ historySchema: 'audit' });
    const id = await insertPackage(db.client, due());
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_HISTORY_SCHEMA: 'audit' } });
    expect(r.code).toBe(0);
    const { rows } = await db.client.query('SELECT package_id, action FROM audit.package_scheduler_events');
    expect(rows).toEqual([{ package_id: String(id), action: 'activated' }]);
    const { rows: publicTables } = await db.client.query(`SELECT to_regclass('public.package_scheduler_events') AS t`);
    expect(publicTables[0].t).toBeNull();
  });
});

describe('history command', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
    await db.client.query(historyDdl());
  });

  it('lists one package\'s events newest first, and filters by --since', async () => {
    const id = await insertPackage(db.client, { ...due('2026-01-01'), auto_deactivate: true, valid_until: '2026-01-02' });
    const other = await insertPackage(db.client, due('2026-01-01'));
    await runTick(db.client, tickOptions({ at: '2026-01-01T10:00:00' }), recordingLogger()); // activates both
    await db.client.query(`UPDATE package_scheduler_events SET happened_at = happened_at - interval '1 hour'`);
    await runTick(db.client, tickOptions({ at: '2026-01-03T10:00:00' }), recordingLogger()); // deactivates id
    const r = await runCli(['history', '--package', String(id), '--json'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.map((e: { action: string; packageId: string }) => [e.packageId, e.action])).toEqual([
      [String(id), 'deactivated'],
      [String(id), 'activated'],
    ]);
    const all = JSON.parse((await runCli(['history', '--json'], { env: { DATABASE_URL: db.url } })).stdout);
    expect(all).toHaveLength(3);
    expect(all.some((e: { packageId: string }) => e.packageId === String(other))).toBe(true);
    const { rows } = await db.client.query<{ t: string }>(`SELECT to_char((now() - interval '30 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t`);
    const recent = JSON.parse((await runCli(['history', '--since', rows[0]!.t, '--json'], { env: { DATABASE_URL: db.url } })).stdout);
    expect(recent.map((e: { action: string }) => e.action)).toEqual(['deactivated']);
    const text = await runCli(['history'], { env: { DATABASE_URL: db.url } });
    expect(text.stdout).toContain('activated');
  });

  it('exits 78 with the fix when there are no history tables', async () => {
    await db.client.query('DROP TABLE package_scheduler_state, package_scheduler_events');
    const r = await runCli(['history'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('package-scheduler migrate');
  });
});
