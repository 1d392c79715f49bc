// Clock and data edge cases: one instant per tick, extreme dates, 24:00, leap days,
// infinite valid_until. No crash, and a result the README documents.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick, type TickCompleted } from '../src/tick/tick.ts';
import { status } from '../src/status/status.ts';
import { addUpdateTrigger, createPackagesTable, dropUpdateTrigger, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';

const db = useTestDatabase();
const scheduled = (date: string, time: string | null = '09:00:00') => ({ scheduled: true, auto_activate: true, schedule_date: date, schedule_time: time });
const active = (validUntil: string) => ({ is_active: true, auto_deactivate: true, valid_until: validUntil });

async function tick(at?: string): Promise<TickCompleted> {
  return expectCompleted(await runTick(db.client, tickOptions({ at }), recordingLogger()));
}

describe('one instant per tick', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('a row that falls due while a slow tick runs waits for the next tick; every change carries the same timestamp', async () => {
    const { rows } = await db.client.query<{ d: string; t: string }>(
      `SELECT to_char(l, 'YYYY-MM-DD') AS d, to_char(l, 'HH24:MI:SS.US') AS t
         FROM (SELECT (clock_timestamp() + interval '1500 milliseconds') AT TIME ZONE 'Europe/Berlin' AS l) x`,
    );
    const slow = await insertPackage(db.client, scheduled('2026-01-01'));
    await insertPackage(db.client, scheduled('2026-01-02'));
    const soon = await insertPackage(db.client, scheduled(rows[0]!.d, rows[0]!.t));
    await addUpdateTrigger(db.client, 'slow', `IF NEW.id = ${slow} THEN PERFORM pg_sleep(2.5); END IF;`);
    const result = await tick();
    expect(result.activated.map((a) => Number(a.packageId)).sort()).not.toContain(soon);
    expect(result.activated).toHaveLength(2);
    const { rows: stamps } = await db.client.query(`SELECT DISTINCT updated_at FROM special_packages WHERE updated_at IS NOT NULL`);
    expect(stamps).toHaveLength(1);
    await dropUpdateTrigger(db.client, 'slow');
    const next = await tick();
    expect(next.activated.map((a) => Number(a.packageId))).toEqual([soon]);
  });

  it('a tick whose clock reads 23:59:59.9 applies that day\'s rules to every row, however long it runs', async () => {
    const endsToday = await insertPackage(db.client, active('2026-06-10'));
    const endedYesterday = await insertPackage(db.client, active('2026-06-09'));
    const startsAtMidnight = await insertPackage(db.client, scheduled('2026-06-11', '00:00:00'));
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(0.3);');
    const result = await tick('2026-06-10T23:59:59.9');
    expect(result.now).toBe('2026-06-10T23:59:59.900+02:00');
    expect(result.deactivated.map((d) => Number(d.packageId))).toEqual([endedYesterday]);
    expect((await getPackage(db.client, endsToday)).is_active).toBe(true);
    expect((await getPackage(db.client, startsAtMidnight)).is_active).toBe(false);
    await dropUpdateTrigger(db.client, 'slow');
  });
});

describe('extreme and unusual values', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('activates a schedule from year 1, never one in year 5874897 (the last date), and does not crash', async () => {
    const ancient = await insertPackage(db.client, scheduled('0001-01-01'));
    const farFuture = await insertPackage(db.client, scheduled('4000-01-01'));
    const lastDate = await insertPackage(db.client, scheduled('5874897-12-31', '23:59:59'));
    // Also due for deactivation, so the tick reads the row and must not compute its due time.
    const lastDateActive = await insertPackage(db.client, { ...scheduled('5874897-12-31', '23:59:59'), ...active('2026-01-01') });
    const result = await tick('2026-06-10T12:00:00');
    expect(result.activated.map((a) => Number(a.packageId))).toEqual([ancient]);
    expect(result.deactivated.map((d) => Number(d.packageId))).toEqual([lastDateActive]);
    expect(result.activated[0]!.dueAt).toBe('0001-01-01T09:00:00');
    expect(result.activated[0]!.lateSeconds).toBeGreaterThan(63_000_000_000);
    expect((await getPackage(db.client, farFuture)).is_active).toBe(false);
    expect((await getPackage(db.client, lastDate)).is_active).toBe(false);
    // status lists upcoming changes without tripping over the out-of-range one
    const report = await status(db.client, { table: { name: 'special_packages' }, timezone: 'Europe/Berlin', expiry: 'date', lockTimeoutMs: 5000, statementTimeoutMs: 30000 });
    expect(report.nextActivations.map((u) => Number(u.packageId))).toEqual([farFuture]);
  });

  it('deactivates a package that ended in year 1 and keeps one valid until year 9999', async () => {
    const old = await insertPackage(db.client, active('0001-12-31'));
    const lasting = await insertPackage(db.client, active('9999-12-31'));
    const result = await tick('2026-06-10T12:00:00');
    expect(result.deactivated).toEqual([expect.objectContaining({ packageId: String(old), validUntil: '0001-12-31' })]);
    expect((await getPackage(db.client, lasting)).is_active).toBe(true);
  });

  it('reads schedule_time 24:00:00 as midnight at the end of schedule_date', async () => {
    const id = await insertPackage(db.client, scheduled('2026-06-09', '24:00:00'));
    expect((await tick('2026-06-09T23:59:59')).activated).toEqual([]);
    const result = await tick('2026-06-10T00:00:00');
    expect(result.activated).toEqual([expect.objectContaining({ packageId: String(id), dueAt: '2026-06-10T00:00:00', lateSeconds: 0 })]);
  });

  it('handles a leap day in schedules and expiry', async () => {
    const starts = await insertPackage(db.client, scheduled('2028-02-29', '09:00:00'));
    const ends = await insertPackage(db.client, active('2028-02-29'));
    expect((await tick('2028-02-29T08:59:59')).activated).toEqual([]);
    const onTheDay = await tick('2028-02-29T23:59:59');
    expect(onTheDay.activated.map((a) => Number(a.packageId))).toEqual([starts]);
    expect(onTheDay.deactivated).toEqual([]);
    expect((await tick('2028-03-01T00:00:00')).deactivated.map((d) => Number(d.packageId))).toEqual([ends]);
  });

  for (const type of ['date', 'timestamp', 'timestamptz'] as const) {
    it(`${type} valid_until: infinity never passes, -infinity always has`, async () => {
      await createPackagesTable(db.client, { validUntilType: type });
      const forever = await insertPackage(db.client, active('infinity'));
      const never = await insertPackage(db.client, active('-infinity'));
      const scheduledForever = await insertPackage(db.client, { ...scheduled('2026-01-01'), valid_until: 'infinity' });
      const result = await tick('2026-06-10T12:00:00');
      expect(result.deactivated).toEqual([expect.objectContaining({ packageId: String(never), validUntil: '-infinity' })]);
      expect(result.activated.map((a) => Number(a.packageId))).toEqual([scheduledForever]);
      expect((await getPackage(db.client, forever)).is_active).toBe(true);
      const report = await status(db.client, { table: { name: 'special_packages' }, timezone: 'Europe/Berlin', expiry: 'date', lockTimeoutMs: 5000, statementTimeoutMs: 30000 });
      expect(report.nextDeactivations).toEqual([]);
    });
  }
});
