// `status` (and its --max-age probe) and NOTIFY after ticks with changes.
import type pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { LIST_LIMIT, notificationPayload, runTick } from '../src/tick/tick.ts';
import { historyDdl } from '../src/history/history-sql.ts';
import { addUpdateTrigger, createPackagesTable, dropUpdateTrigger, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { runCli } from './support/cli.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';
import { sleep, waitUntil } from './support/wait.ts';

const db = useTestDatabase();

/** Local wall-clock text for now + offset, in the zone, by the database clock. */
async function localIn(zone: string, offset: string): Promise<{ date: string; time: string }> {
  const { rows } = await db.client.query<{ date: string; time: string }>(
    `SELECT to_char(l, 'YYYY-MM-DD') AS date, to_char(l, 'HH24:MI:SS') AS time
       FROM (SELECT (now() + $2::interval) AT TIME ZONE $1::text AS l) x`,
    [zone, offset],
  );
  return rows[0]!;
}

describe('status', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
    await db.client.query(historyDdl());
  });

  it('--max-age exits 1 before any tick, 0 right after one, and 1 once it is stale', async () => {
    const env = { DATABASE_URL: db.url };
    const never = await runCli(['status', '--max-age', '120'], { env });
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('no successful tick');
    expect((await runCli(['run'], { env })).code).toBe(0);
    const fresh = await runCli(['status', '--max-age', '120'], { env });
    expect(fresh.code).toBe(0);
    await db.client.query(`UPDATE package_scheduler_state SET last_success_at = now() - interval '10 minutes'`);
    const stale = await runCli(['status', '--max-age', '120', '--json'], { env });
    expect(stale.code).toBe(1);
    expect(JSON.parse(stale.stdout).lastRun.lastSuccessAgeSeconds).toBeGreaterThanOrEqual(600);
  });

  it('--max-age exits 78 when there are no history tables to tell', async () => {
    await db.client.query('DROP TABLE package_scheduler_state, package_scheduler_events');
    const r = await runCli(['status', '--max-age', '60'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
  });

  it('--json lists the next changes in the business zone and in order, and overdue rows with a reason', async () => {
    const zone = 'America/New_York';
    const in2h = await localIn(zone, '2 hours');
    const in1h = await localIn(zone, '1 hour');
    const later = await insertPackage(db.client, { name: 'later', scheduled: true, auto_activate: true, schedule_date: in2h.date, schedule_time: in2h.time });
    const sooner = await insertPackage(db.client, { name: 'sooner', scheduled: true, auto_activate: true, schedule_date: in1h.date, schedule_time: in1h.time });
    const today = await localIn(zone, '0 hours');
    const ending = await insertPackage(db.client, { name: 'ends today', is_active: true, auto_deactivate: true, valid_until: today.date });
    const blocked = await insertPackage(db.client, { name: 'blocked', scheduled: true, auto_activate: true, schedule_date: '2026-01-01', valid_until: '2026-01-02' });
    const locked = await insertPackage(db.client, { name: 'locked', scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const broken = await insertPackage(db.client, { name: 'broken', scheduled: true, auto_activate: true, schedule_date: null });

    // A tick runs while an admin holds one due row: that row stays overdue.
    const admin = await db.connect();
    await admin.query('BEGIN');
    await admin.query('SELECT 1 FROM special_packages WHERE id = $1 FOR UPDATE', [locked]);
    await runTick(db.client, tickOptions({ timezone: zone, history: {} }), recordingLogger());
    await admin.query('ROLLBACK');
    await db.client.query(`UPDATE special_packages SET scheduled = true, is_active = false WHERE id = $1`, [blocked]);

    const r = await runCli(['status', '--json', '--timezone', zone], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.timezone).toBe(zone);
    expect(report.nextActivations.map((u: { packageId: string }) => u.packageId)).toEqual([String(sooner), String(later)]);
    expect(report.nextActivations[0]).toMatchObject({ at: `${in1h.date}T${in1h.time}` });
    expect(report.nextActivations[0].inSeconds).toBeGreaterThan(3500);
    expect(report.nextActivations[0].inSeconds).toBeLessThanOrEqual(3600);
    expect(report.nextDeactivations).toEqual([
      expect.objectContaining({ packageId: String(ending), name: 'ends today', at: expect.stringMatching(/T00:00:00$/) }),
    ]);
    const overdue = Object.fromEntries(report.overdue.map((o: { packageId: string; reason: string }) => [o.packageId, o.reason]));
    expect(overdue[String(locked)]).toContain('locked');
    expect(overdue[String(blocked)]).toContain('activation blocked');
    expect(report.misconfigured).toEqual([{ packageId: String(broken), problem: expect.stringContaining('without schedule_date') }]);
    expect(report.lastRun).toMatchObject({ outcome: 'completed', activated: 0, activationSkipped: 1 });

    const text = await runCli(['status', '--timezone', zone], { env: { DATABASE_URL: db.url } });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('next activations:');
    expect(text.stdout).toContain('sooner');
  });
});

describe('--notify', () => {
  let listener: pg.Client;
  const received: string[] = [];

  beforeEach(async () => {
    await createPackagesTable(db.client);
    received.length = 0;
    if (!listener) {
      listener = await db.connect();
      listener.on('notification', (msg) => received.push(msg.payload ?? ''));
      await listener.query('LISTEN package_changes');
    }
  });

  const waitForNotifications = (count: number) => waitUntil(() => received.length >= count, { what: `${count} notifications` });

  it('sends exactly one notification for a tick with changes, none for dry, no-op or rolled-back ticks', async () => {
    const a = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const options = tickOptions({ notifyChannel: 'package_changes' });
    await runTick(db.client, { ...options, dryRun: true }, recordingLogger());
    // rolled back: the CRM rejects the update
    await addUpdateTrigger(db.client, 'reject_all', `RAISE EXCEPTION 'no';`);
    await expect(runTick(db.client, options, recordingLogger())).rejects.toThrow();
    await dropUpdateTrigger(db.client, 'reject_all');
    const real = expectCompleted(await runTick(db.client, options, recordingLogger()));
    await runTick(db.client, options, recordingLogger()); // no-op
    const marker = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-01-01' });
    const second = expectCompleted(await runTick(db.client, options, recordingLogger()));
    await waitForNotifications(2);
    await sleep(100); // room for a stray third notification to arrive
    // Notifications arrive in commit order: nothing came before, between or after these two.
    expect(received.map((p) => JSON.parse(p))).toEqual([
      { table: 'public.special_packages', runId: real.runId, activated: [String(a)], deactivated: [], activationSkipped: [], counts: { activated: 1, deactivated: 0, activationSkipped: 0 }, truncated: false },
      { table: 'public.special_packages', runId: second.runId, activated: [], deactivated: [String(marker)], activationSkipped: [], counts: { activated: 0, deactivated: 1, activationSkipped: 0 }, truncated: false },
    ]);
  });

  it('sends counts with truncated: true when 2,000 ids do not fit in 8000 bytes', async () => {
    await db.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date)
                           SELECT true, true, date '2026-01-01' FROM generate_series(1, 2000)`);
    const result = expectCompleted(await runTick(db.client, tickOptions({ notifyChannel: 'package_changes' }), recordingLogger()));
    expect(result.counts.activated).toBe(2000);
    expect(result.activated).toHaveLength(LIST_LIMIT); // the rest only counted (and logged)
    expect(result.listsComplete).toBe(false);
    await waitForNotifications(1);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!)).toEqual({
      table: 'public.special_packages', runId: result.runId, counts: { activated: 2000, deactivated: 0, activationSkipped: 0 }, truncated: true,
    });
    expect(Buffer.byteLength(notificationPayload(result))).toBeLessThan(8000);
  });

  it('takes the channel from SCHEDULER_NOTIFY_CHANNEL in the CLI', async () => {
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, SCHEDULER_NOTIFY_CHANNEL: 'package_changes' } });
    expect(r.code).toBe(0);
    await waitForNotifications(1);
    expect(JSON.parse(received[0]!)).toMatchObject({ activated: [String(id)] });
  });
});
