// Rules 1, 2, 5 and 10: when a scheduled package is switched on, and when it is not.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick, type TickOptions } from '../src/tick/tick.ts';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';

const db = useTestDatabase();
const TZ = 'Europe/Berlin';

const options = (extra: Partial<TickOptions> = {}) => tickOptions({ timezone: TZ, ...extra });

const scheduled = (date: string, time: string | null = '09:00:00') => ({
  scheduled: true,
  auto_activate: true,
  schedule_date: date,
  schedule_time: time,
});

describe('activation', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('activates a package exactly at its due time and not one second before', async () => {
    const id = await insertPackage(db.client, scheduled('2026-06-10', '09:00:00'));
    const before = await runTick(db.client, options({ at: '2026-06-10T08:59:59' }), recordingLogger());
    expect(expectCompleted(before).activated).toEqual([]);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: true, updated_at: null });

    const log = recordingLogger();
    const at = await runTick(db.client, options({ at: '2026-06-10T09:00:00' }), log);
    expect(expectCompleted(at).activated.map((a) => a.packageId)).toEqual([String(id)]);
    const row = await getPackage(db.client, id);
    expect(row).toMatchObject({ is_active: true, scheduled: false });
    expect(row.updated_at).not.toBeNull();
    expect(log.events('package.activated')).toEqual([
      expect.objectContaining({ packageId: String(id), name: 'package', dueAt: '2026-06-10T09:00:00', lateSeconds: 0 }),
    ]);
  });

  it('catches up on a package whose day was missed and reports how late it is', async () => {
    const id = await insertPackage(db.client, scheduled('2026-06-08', '23:30:00'));
    const log = recordingLogger();
    await runTick(db.client, options({ at: '2026-06-10T00:30:00' }), log);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: true, scheduled: false });
    expect(log.events('package.activated')[0]).toMatchObject({ dueAt: '2026-06-08T23:30:00', lateSeconds: 25 * 3600 });
  });

  it('treats a missing schedule_time as midnight', async () => {
    const id = await insertPackage(db.client, scheduled('2026-06-10', null));
    await runTick(db.client, options({ at: '2026-06-09T23:59:59' }), recordingLogger());
    expect((await getPackage(db.client, id)).is_active).toBe(false);
    await runTick(db.client, options({ at: '2026-06-10T00:00:00' }), recordingLogger());
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('never activates without scheduled, auto_activate or schedule_date, counting NULL as false', async () => {
    const ids: number[] = [];
    for (const row of [
      { ...scheduled('2026-06-01'), scheduled: false },
      { ...scheduled('2026-06-01'), scheduled: null },
      { ...scheduled('2026-06-01'), auto_activate: false },
      { ...scheduled('2026-06-01'), auto_activate: null },
      { ...scheduled('2026-06-01'), schedule_date: null },
    ]) {
      ids.push(await insertPackage(db.client, row));
    }
    const result = await runTick(db.client, options({ at: '2026-06-10T12:00:00' }), recordingLogger());
    expect(expectCompleted(result).activated).toEqual([]);
    for (const id of ids) expect((await getPackage(db.client, id)).is_active).toBe(false);
  });

  it('consumes the schedule without activating a package that expired before its activation', async () => {
    const id = await insertPackage(db.client, { ...scheduled('2026-06-05'), valid_until: '2026-06-07' });
    const log = recordingLogger();
    const result = await runTick(db.client, options({ at: '2026-06-10T12:00:00' }), log);
    const completed = expectCompleted(result);
    expect([completed.activated.length, completed.activationSkipped.length]).toEqual([0, 1]);
    const row = await getPackage(db.client, id);
    expect(row).toMatchObject({ is_active: false, scheduled: false });
    expect(row.updated_at).not.toBeNull();
    expect(log.events('package.activation_skipped')).toEqual([
      expect.objectContaining({ packageId: String(id), reason: 'expired', validUntil: '2026-06-07' }),
    ]);
  });

  it('activates a package whose valid_until is today: it is valid through that whole day', async () => {
    const id = await insertPackage(db.client, { ...scheduled('2026-06-05'), valid_until: '2026-06-10' });
    await runTick(db.client, options({ at: '2026-06-10T23:59:59' }), recordingLogger());
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: true, scheduled: false });
  });

  it('changes nothing and logs zero counts on an immediate second run', async () => {
    await insertPackage(db.client, scheduled('2026-06-01'));
    await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-06-01' });
    const first = await runTick(db.client, options(), recordingLogger());
    expect(expectCompleted(first).activated.length + expectCompleted(first).deactivated.length).toBe(2);
    const { rows: snapshot } = await db.client.query('SELECT * FROM special_packages ORDER BY id');
    const log = recordingLogger();
    const second = await runTick(db.client, options(), log);
    const again = expectCompleted(second);
    expect([again.activated, again.deactivated, again.activationSkipped]).toEqual([[], [], []]);
    expect(log.events('tick.completed')[0]).toMatchObject({ activated: 0, deactivated: 0, activationSkipped: 0 });
    const { rows: after } = await db.client.query('SELECT * FROM special_packages ORDER BY id');
    expect(after).toEqual(snapshot);
  });

  it('leaves updated_at alone on a table that has no such column', async () => {
    await createPackagesTable(db.client, { updatedAt: 'none', withName: false });
    const id = await insertPackage(db.client, scheduled('2026-06-01'));
    const log = recordingLogger();
    await runTick(db.client, options(), log);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: true, scheduled: false });
    expect(log.events('package.activated')[0]!.name).toBeUndefined(); // pino leaves undefined fields out of the JSON
  });
});
