// The business zone decides what "now" means; the host's zone and clock never do.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick } from '../src/tick/tick.ts';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';

const db = useTestDatabase();

describe('time zones', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('activates the same rows at different instants under two zones', async () => {
    // 2026-06-10 09:00 local: 07:00Z in Berlin (UTC+2), 13:00Z in New York (UTC-4).
    const row = { scheduled: true, auto_activate: true, schedule_date: '2026-06-10', schedule_time: '09:00:00' };
    const id = await insertPackage(db.client, row);
    const preview = async (timezone: string, at: string) => {
      const r = await runTick(db.client, tickOptions({ timezone, at, dryRun: true }), recordingLogger());
      return expectCompleted(r).activated.map((a) => a.packageId);
    };
    expect(await preview('Europe/Berlin', '2026-06-10T06:59:59Z')).toEqual([]);
    expect(await preview('Europe/Berlin', '2026-06-10T07:00:00Z')).toEqual([String(id)]);
    expect(await preview('America/New_York', '2026-06-10T07:00:00Z')).toEqual([]);
    expect(await preview('America/New_York', '2026-06-10T12:59:59Z')).toEqual([]);
    expect(await preview('America/New_York', '2026-06-10T13:00:00Z')).toEqual([String(id)]);
  });

  it('reads --at without an offset as wall-clock time in the business zone', async () => {
    const r = await runTick(db.client, tickOptions({ timezone: 'Asia/Tokyo', at: '2026-06-10T09:00:00', dryRun: true }), recordingLogger());
    expect(expectCompleted(r).now).toBe('2026-06-10T09:00:00.000+09:00');
  });

  it('spring forward: a schedule inside the skipped hour activates when the clock jumps past it', async () => {
    // Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 never happens.
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-03-29', schedule_time: '02:30:00' });
    await runTick(db.client, tickOptions({ at: '2026-03-29T00:59:59Z' }), recordingLogger()); // 01:59:59 CET
    expect((await getPackage(db.client, id)).is_active).toBe(false);
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-03-29T01:00:00Z' }), log); // 03:00:00 CEST
    expect((await getPackage(db.client, id)).is_active).toBe(true);
    expect(log.events('tick.completed')[0]).toMatchObject({ now: '2026-03-29T03:00:00.000+02:00' });
  });

  it('fall back: a schedule in the repeated hour activates at its first occurrence, once', async () => {
    // Europe/Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-10-25', schedule_time: '02:30:00' });
    await runTick(db.client, tickOptions({ at: '2026-10-25T00:29:59Z' }), recordingLogger()); // 02:29:59 CEST
    expect((await getPackage(db.client, id)).is_active).toBe(false);
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-10-25T00:30:00Z' }), log); // 02:30:00 CEST
    expect((await getPackage(db.client, id)).is_active).toBe(true);
    expect(log.events('package.activated')[0]).toMatchObject({ lateSeconds: 0 });
    const again = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-10-25T01:30:00Z' }), again); // 02:30:00 CET
    expect(again.events('package.activated')).toEqual([]);
  });

  it('counts lateness in real seconds across a DST change', async () => {
    // Due 01:00 CET, ticked at 04:00 CEST: three wall-clock hours but two real ones.
    await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-03-29', schedule_time: '01:00:00' });
    const log = recordingLogger();
    await runTick(db.client, tickOptions({ at: '2026-03-29T04:00:00' }), log);
    expect(log.events('package.activated')[0]).toMatchObject({ lateSeconds: 2 * 3600 });
  });

  it('maxLateMs counts from the exact due instant in the last two days, from the plain conversion before', async () => {
    // Europe/Berlin, 2026-03-29 02:30 never happens: the clock jumps from 02:00 CET to 03:00 CEST
    // (01:00Z), the first instant reading 02:30-or-later. AT TIME ZONE reads 02:30 as 03:30 CEST (01:30Z).
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-03-29', schedule_time: '02:30:00' });
    const lateness = async (at: string) => {
      await db.client.query('UPDATE special_packages SET scheduled = true, is_active = false WHERE id = $1', [id]);
      const log = recordingLogger();
      await runTick(db.client, tickOptions({ at }), log);
      expect((await getPackage(db.client, id)).is_active).toBe(true);
      return log.events('tick.completed')[0]?.maxLateMs;
    };
    expect(await lateness('2026-03-29T01:00:30Z')).toBe(30_000); // exact: 30 s after the jump
    expect(await lateness('2026-03-30T01:00:00Z')).toBe(86_400_000); // the day after: still exact
    // A week late: from 01:30Z, half an hour less than from the jump (docs/monitoring.md).
    expect(await lateness('2026-04-05T01:00:00Z')).toBe(7 * 86_400_000 - 1_800_000);
  });

  it('uses the database clock for a real tick, not the host clock', async () => {
    // A package due one minute ago by the database clock, shown in the business zone.
    const { rows } = await db.client.query<{ d: string; t: string }>(
      `SELECT to_char(l, 'YYYY-MM-DD') AS d, to_char(l, 'HH24:MI:SS') AS t
         FROM (SELECT (now() - interval '1 minute') AT TIME ZONE 'Pacific/Kiritimati' AS l) x`,
    );
    const due = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: rows[0]!.d, schedule_time: rows[0]!.t });
    const { rows: later } = await db.client.query<{ d: string; t: string }>(
      `SELECT to_char(l, 'YYYY-MM-DD') AS d, to_char(l, 'HH24:MI:SS') AS t
         FROM (SELECT (now() + interval '1 minute') AT TIME ZONE 'Pacific/Kiritimati' AS l) x`,
    );
    const notYet = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: later[0]!.d, schedule_time: later[0]!.t });
    await runTick(db.client, tickOptions({ timezone: 'Pacific/Kiritimati' }), recordingLogger());
    expect((await getPackage(db.client, due)).is_active).toBe(true);
    expect((await getPackage(db.client, notYet)).is_active).toBe(false);
  });
});
