// Rules 3 and 4: when an active package is switched off, by valid_until's type and --expiry.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick, type TickOptions } from '../src/tick/tick.ts';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';

const db = useTestDatabase();

const active = (validUntil: string | null) => ({ is_active: true, auto_deactivate: true, valid_until: validUntil });

async function isActiveAfter(id: number, options: Partial<TickOptions>): Promise<boolean | null> {
  await runTick(db.client, tickOptions({ dryRun: false, ...options }), recordingLogger());
  return (await getPackage(db.client, id)).is_active;
}

describe('deactivation with a DATE valid_until', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client, { validUntilType: 'date' });
  });

  it('keeps the package on through its last day and switches it off when the next day starts', async () => {
    const id = await insertPackage(db.client, active('2026-06-10'));
    expect(await isActiveAfter(id, { at: '2026-06-10T23:59:59' })).toBe(true);
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-06-11T00:00:00' }), log);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: false });
    expect(log.events('package.deactivated')).toEqual([
      expect.objectContaining({ packageId: String(id), name: 'package', validUntil: '2026-06-10' }),
    ]);
  });

  it('behaves the same in instant mode, since a date has no time of day', async () => {
    const id = await insertPackage(db.client, active('2026-06-10'));
    expect(await isActiveAfter(id, { at: '2026-06-10T23:59:59', expiry: 'instant' })).toBe(true);
    expect(await isActiveAfter(id, { at: '2026-06-11T00:00:00', expiry: 'instant' })).toBe(false);
  });

  it('never deactivates without is_active, auto_deactivate or valid_until, counting NULL as false', async () => {
    const ids: number[] = [];
    for (const row of [
      { ...active('2026-06-01'), auto_deactivate: false },
      { ...active('2026-06-01'), auto_deactivate: null },
      { ...active(null) },
      { ...active('2026-06-01'), is_active: null },
    ]) {
      ids.push(await insertPackage(db.client, row));
    }
    const result = await runTick(db.client, tickOptions({ at: '2026-06-20T12:00:00' }), recordingLogger());
    expect(expectCompleted(result).deactivated).toEqual([]);
    const { rows } = await db.client.query('SELECT id, is_active FROM special_packages ORDER BY id');
    expect(rows).toEqual([
      { id: ids[0], is_active: true },
      { id: ids[1], is_active: true },
      { id: ids[2], is_active: true },
      { id: ids[3], is_active: null },
    ]);
  });

  it('deactivates packages whose end was days ago (catch-up)', async () => {
    const id = await insertPackage(db.client, active('2026-01-01'));
    expect(await isActiveAfter(id, { at: '2026-06-20T12:00:00' })).toBe(false);
  });
});

describe('deactivation with a TIMESTAMP valid_until', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client, { validUntilType: 'timestamp' });
  });

  it('date mode: valid through the whole calendar day of valid_until', async () => {
    const id = await insertPackage(db.client, active('2026-06-10 08:00:00'));
    expect(await isActiveAfter(id, { at: '2026-06-10T23:59:59' })).toBe(true);
    expect(await isActiveAfter(id, { at: '2026-06-11T00:00:00' })).toBe(false);
  });

  it('instant mode: switched off at valid_until itself, not a second before', async () => {
    const id = await insertPackage(db.client, active('2026-06-10 08:00:00'));
    expect(await isActiveAfter(id, { at: '2026-06-10T08:00:00', expiry: 'instant' })).toBe(true);
    expect(await isActiveAfter(id, { at: '2026-06-10T08:00:01', expiry: 'instant' })).toBe(false);
  });

  it('reports valid_until as local ISO text, not a host-zone Date', async () => {
    const id = await insertPackage(db.client, active('2026-06-10 08:00:00'));
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-06-12T00:00:00' }), log);
    expect(log.events('package.deactivated')).toEqual([expect.objectContaining({ packageId: String(id), validUntil: '2026-06-10T08:00:00' })]);
  });
});

describe('deactivation with a TIMESTAMPTZ valid_until', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client, { validUntilType: 'timestamptz' });
  });

  it('date mode: valid through the calendar day of valid_until in the business zone', async () => {
    // 22:30 UTC on June 10 is already June 11 in Berlin (UTC+2): valid through June 11 there.
    const id = await insertPackage(db.client, active('2026-06-10T22:30:00Z'));
    expect(await isActiveAfter(id, { at: '2026-06-11T23:59:59', timezone: 'Europe/Berlin' })).toBe(true);
    expect(await isActiveAfter(id, { at: '2026-06-12T00:00:00', timezone: 'Europe/Berlin' })).toBe(false);
  });

  it('instant mode: switched off right after valid_until, whatever the zone', async () => {
    const id = await insertPackage(db.client, active('2026-06-10T22:30:00Z'));
    expect(await isActiveAfter(id, { at: '2026-06-10T22:30:00Z', expiry: 'instant', timezone: 'America/New_York' })).toBe(true);
    expect(await isActiveAfter(id, { at: '2026-06-10T22:30:01Z', expiry: 'instant', timezone: 'America/New_York' })).toBe(false);
  });

  it('reports valid_until as UTC ISO text', async () => {
    await insertPackage(db.client, active('2026-06-10T22:30:00+02:00'));
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-06-20T00:00:00' }), log);
    expect(log.events('package.deactivated')[0]).toMatchObject({ validUntil: '2026-06-10T20:30:00Z' });
  });
});

describe('a package that is both active and expired before its scheduled activation', () => {
  it('consumes the schedule and switches the package off in the same tick', async () => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, {
      is_active: true,
      auto_deactivate: true,
      valid_until: '2026-06-05',
      scheduled: true,
      auto_activate: true,
      schedule_date: '2026-06-04',
    });
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-06-10T12:00:00' }), log);
    expect(await getPackage(db.client, id)).toMatchObject({ is_active: false, scheduled: false });
    expect(log.events('package.activation_skipped')).toHaveLength(1);
    expect(log.events('package.deactivated')).toHaveLength(1);
    expect(log.events('package.activated')).toHaveLength(0);
  });
});
