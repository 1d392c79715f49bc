// Issue 18, zone defects: a repeated local midnight (#7), zones PostgreSQL reads as POSIX specs
// in rows and the tzdata names --timezone refused (#8), and guidance where users get lost with
// zones (#18). Real PostgreSQL; the built CLI where the defect is in the CLI.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick } from '../src/tick/tick.ts';
import { createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { recordingLogger } from './support/logs.ts';
import { expectCompleted } from './support/fixtures.ts';
import { tickOptions } from './support/tick-options.ts';

const db = useTestDatabase();

/** The day after `day` (YYYY-MM-DD). */
function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

describe('#7 a zone whose local midnight repeats: the local day starts at its first instant', () => {
  // Atlantic/Azores 2026-10-25 and America/Havana 2026-11-01: clocks go back from 01:00 to 00:00.
  const DAYS = [
    ['Atlantic/Azores', '2026-10-25'],
    ['America/Havana', '2026-11-01'],
  ] as const;

  beforeEach(async () => {
    await createPackagesTable(db.client, { validUntilType: 'timestamptz' });
  });

  /** The first of the two instants whose local time is `day` 00:00, asserted from the server's tzdata. */
  async function firstMidnight(zone: string, day: string): Promise<string> {
    const { rows } = await db.client.query<{ first: string; later: string; first_local: string; later_local: string }>(
      `SELECT to_char(first AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS first, to_char(later AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS later,
              (first AT TIME ZONE $1::text)::text AS first_local, (later AT TIME ZONE $1::text)::text AS later_local
         FROM (SELECT ($2::date::timestamp AT TIME ZONE $1::text) - interval '1 hour' AS first, $2::date::timestamp AT TIME ZONE $1::text AS later) AS m`,
      [zone, day],
    );
    const m = rows[0]!;
    // Both instants read as local midnight: the day really does begin twice.
    expect([m.first_local, m.later_local]).toEqual([`${day} 00:00:00`, `${day} 00:00:00`]);
    return m.first;
  }

  for (const [zone, day] of DAYS) {
    it(`${zone} ${day}: valid_until at the first midnight stays on all of ${day} (dry run via the CLI), off the next day`, async () => {
      const validUntil = await firstMidnight(zone, day);
      const id = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: validUntil });
      const at = async (instant: string) => {
        const r = await runCli(['run', '--dry-run', '--at', instant, '--timezone', zone, '--expiry', 'date'], { env: { DATABASE_URL: db.url } });
        expect(r.code).toBe(0);
        return r.events('package.would_deactivate').map((l) => l.packageId);
      };
      expect(await at(`${day}T12:00:00Z`)).toEqual([]);
      expect(await at(validUntil)).toEqual([]); // the day's very first instant
      expect(await at(`${nextDay(day)}T12:00:00Z`)).toEqual([String(id)]);
      expect((await getPackage(db.client, id)).is_active).toBe(true);
    });

    it(`${zone} ${day}: a real tick leaves it on through ${day} and switches it off on the next day; the day before ends on time`, async () => {
      const validUntil = await firstMidnight(zone, day);
      const id = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: validUntil });
      // Valid through the day before: its last second is just before the first midnight.
      const { rows } = await db.client.query<{ v: string }>(`SELECT ($1::timestamptz - interval '1 second')::text AS v`, [validUntil]);
      const dayBefore = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: rows[0]!.v });
      const tick = async (at: string) => expectCompleted(await runTick(db.client, tickOptions({ timezone: zone, at }), recordingLogger()));

      expect((await tick(validUntil)).deactivated.map((d) => d.packageId)).toEqual([String(dayBefore)]);
      expect((await tick(`${day}T12:00:00Z`)).deactivated).toEqual([]);
      expect((await getPackage(db.client, id)).is_active).toBe(true);
      expect((await tick(`${nextDay(day)}T12:00:00Z`)).deactivated.map((d) => d.packageId)).toEqual([String(id)]);
      expect((await getPackage(db.client, id)).is_active).toBe(false);
    });
  }

  it('per-row zones: the same first-instant rule in each row\'s own zone', async () => {
    await db.client.query('ALTER TABLE special_packages ADD COLUMN time_zone text');
    const ids: number[] = [];
    for (const [zone, day] of DAYS) {
      const id = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: await firstMidnight(zone, day) });
      await db.client.query('UPDATE special_packages SET time_zone = $1 WHERE id = $2', [zone, id]);
      ids.push(id);
    }
    const at = async (instant: string) => {
      const r = await runCli(['run', '--dry-run', '--at', instant, '--timezone', 'UTC', '--timezone-column', 'time_zone'], { env: { DATABASE_URL: db.url } });
      expect(r.code).toBe(0);
      return r.events('package.would_deactivate').map((l) => l.packageId);
    };
    expect(await at('2026-10-25T12:00:00Z')).toEqual([]); // Azores's 25th; Havana's package is valid through 1 Nov
    expect(await at('2026-10-26T12:00:00Z')).toEqual([String(ids[0])]);
    expect(await at('2026-11-01T12:00:00Z')).toEqual([String(ids[0])]);
    expect(await at('2026-11-02T12:00:00Z')).toEqual(ids.map(String));
  });
});

describe('#8 zones in rows follow --timezone\'s rule; tzdata names with digits are accepted', () => {
  const AT = '2026-06-10T12:00:00Z';

  beforeEach(async () => {
    await createPackagesTable(db.client);
    await db.client.query('ALTER TABLE special_packages ADD COLUMN time_zone text');
  });

  /** Rows due at AT in their zones, and rows whose zone breaks the rule (each one PostgreSQL alone would change). */
  async function rows() {
    const add = async (name: string, zone: string | null, row: Record<string, unknown>) => {
      const id = await insertPackage(db.client, { name, ...row });
      await db.client.query('UPDATE special_packages SET time_zone = $1 WHERE id = $2', [zone, id]);
      return id;
    };
    const due = (date: string, time: string) => ({ scheduled: true, auto_activate: true, schedule_date: date, schedule_time: time });
    return {
      // 08:00 EDT is 12:00Z: due to the second (08:01 is not yet).
      est: await add('est5edt', 'EST5EDT', due('2026-06-10', '08:00')),
      estEarly: await add('est5edt early', 'EST5EDT', due('2026-06-10', '08:01')),
      berlin: await add('berlin', 'Europe/Berlin', due('2026-06-10', '14:00')),
      tokyo: await add('tokyo', 'Asia/Tokyo', due('2026-06-10', '21:00')),
      fallback: await add('default zone', null, due('2026-06-10', '12:00')),
      expired: await add('expired in berlin', 'Europe/Berlin', { is_active: true, auto_deactivate: true, valid_until: '2026-06-09' }),
      // PostgreSQL reads '+03:00' as UTC-3 (09:00 there): it would activate this at 11:30Z.
      posix: await add('posix offset', '+03:00', due('2026-06-10', '08:30')),
      // 'UTC-167' is read as UTC+167, a week ahead: it would activate this an hour before UTC does,
      // and switch the next one off while its day still runs everywhere but on Kiritimati.
      far: await add('utc-167', 'UTC-167', due('2026-06-10', '13:00')),
      farExpiry: await add('utc-167 expiry', 'UTC-167', { is_active: true, auto_deactivate: true, valid_until: '2026-06-10' }),
      mars: await add('mars', 'Mars/Olympus', due('2026-01-01', '09:00')),
    };
  }

  it('a real tick: the misnamed and unknown zones\' rows are left alone and reported, EST5EDT and the others change', async () => {
    const ids = await rows();
    const log = recordingLogger();
    const result = expectCompleted(await runTick(db.client, tickOptions({ timezone: 'UTC', timezoneColumn: { column: 'time_zone' }, at: AT }), log));
    expect(result.activated.map((a) => [a.packageId, a.timezone]).sort()).toEqual(
      [[ids.est, 'EST5EDT'], [ids.berlin, 'Europe/Berlin'], [ids.tokyo, 'Asia/Tokyo'], [ids.fallback, 'UTC']].map(([id, z]) => [String(id), z]).sort(),
    );
    expect(result.activated.find((a) => a.packageId === String(ids.est))).toMatchObject({ lateSeconds: 0, dueAt: '2026-06-10T08:00:00' });
    expect(result.deactivated.map((d) => d.packageId)).toEqual([String(ids.expired)]);
    expect(result.timezoneUnknown.map((u) => [u.packageId, u.timezone]).sort()).toEqual(
      [[ids.posix, '+03:00'], [ids.far, 'UTC-167'], [ids.farExpiry, 'UTC-167'], [ids.mars, 'Mars/Olympus']].map(([id, z]) => [String(id), z]).sort(),
    );
    expect(log.events('package.timezone_unknown').map((l) => l.packageId).sort()).toEqual([ids.posix, ids.far, ids.farExpiry, ids.mars].map(String).sort());
    for (const id of [ids.posix, ids.far, ids.mars, ids.estEarly]) expect((await getPackage(db.client, id)).is_active).toBe(false);
    expect((await getPackage(db.client, ids.farExpiry)).is_active).toBe(true);
    for (const id of [ids.est, ids.berlin, ids.tokyo, ids.fallback]) expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('the CLI: a dry run and check name the same rows, status lists them as overdue', async () => {
    const ids = await rows();
    const env = { DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC' };
    const flags = ['--timezone-column', 'time_zone'];
    const r = await runCli(['run', '--dry-run', '--at', AT, ...flags], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.would_activate').map((l) => l.packageId).sort()).toEqual([ids.est, ids.berlin, ids.tokyo, ids.fallback].map(String).sort());
    expect(r.events('package.timezone_unknown').map((l) => [l.packageId, l.timezone]).sort()).toEqual(
      [[ids.posix, '+03:00'], [ids.far, 'UTC-167'], [ids.farExpiry, 'UTC-167'], [ids.mars, 'Mars/Olympus']].map(([id, z]) => [String(id), z]).sort(),
    );

    const check = await runCli(['check', '--json', ...flags], { env });
    const report = JSON.parse(check.stdout);
    const bad = [[ids.posix, '+03:00'], [ids.far, 'UTC-167'], [ids.farExpiry, 'UTC-167'], [ids.mars, 'Mars/Olympus']] as const;
    expect(report.misconfigured).toEqual(
      expect.arrayContaining(bad.map(([id, zone]) => ({ packageId: String(id), problem: expect.stringContaining(`unknown time zone "${zone}"`) }))),
    );
    expect(report.misconfigured.filter((m: { problem: string }) => m.problem.includes('time zone'))).toHaveLength(bad.length);
    const status = JSON.parse((await runCli(['status', '--json', ...flags], { env })).stdout);
    expect(status.overdue.map((o: { packageId: string }) => o.packageId)).toEqual(expect.arrayContaining(bad.map(([id]) => String(id))));
    expect(status.nextActivations.map((n: { timezone: string }) => n.timezone)).not.toContain('UTC-167');
  });

  it('--timezone accepts the tzdata names with digits and refuses what PostgreSQL would read as a POSIX spec', async () => {
    const env = { DATABASE_URL: db.url };
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-06-10', schedule_time: '08:00' });
    for (const [zone, dueAt] of [['EST5EDT', AT], ['PST8PDT', '2026-06-10T15:00:00Z'], ['CST6CDT', '2026-06-10T13:00:00Z'], ['MST7MDT', '2026-06-10T14:00:00Z']]) {
      const r = await runCli(['run', '--dry-run', '--at', dueAt!, '--timezone', zone!], { env });
      expect({ zone, code: r.code, stderr: r.stderr }).toEqual({ zone, code: 0, stderr: '' });
      expect(r.events('package.would_activate').map((l) => [l.packageId, l.lateSeconds])).toEqual([[String(id), 0]]);
    }
    for (const zone of ['+03:00', 'UTC-167', 'UTC+3', 'Europe/Berlin+3', 'Etc/GMT+99', 'XST5XDT']) {
      const r = await runCli(['run', '--dry-run', '--timezone', zone], { env });
      expect({ zone, code: r.code }).toEqual({ zone, code: 78 });
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`unknown time zone "${zone}"`)]);
    }
  });
});

describe('#18 guidance with zones', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('--timezone Berlin: one line suggesting Europe/Berlin, exit 78 (run, check, status)', async () => {
    for (const command of ['run', 'check', 'status']) {
      const r = await runCli([command, '--timezone', 'Berlin'], { env: { DATABASE_URL: db.url } });
      expect({ command, code: r.code }).toEqual({ command, code: 78 });
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/unknown time zone "Berlin".*did you mean Europe\/Berlin\?/)]);
    }
    const spaced = await runCli(['run', '--timezone', 'New York'], { env: { DATABASE_URL: db.url } });
    expect(spaced.code).toBe(78);
    expect(spaced.stderr).toContain('did you mean America/New_York?');
  });

  it('without --timezone or SCHEDULER_TIMEZONE: run warns once which zone it uses (the host\'s); check and status name it in their report', async () => {
    const env = { DATABASE_URL: db.url, TZ: 'America/Sao_Paulo' };
    const r = await runCli(['run'], { env });
    expect(r.code).toBe(0);
    expect(r.events('config.timezone_from_host')).toEqual([
      expect.objectContaining({ level: 'warn', timezone: 'America/Sao_Paulo', msg: expect.stringContaining('SCHEDULER_TIMEZONE') }),
    ]);
    expect(r.events('tick.completed')[0]).toMatchObject({ timezone: 'America/Sao_Paulo' });
    const every = await runCli(['run', '--every', '1'], { env, onSpawn: (child) => setTimeout(() => child.kill('SIGTERM'), 2500) });
    expect(every.events('tick.completed').length).toBeGreaterThan(1);
    expect(every.events('config.timezone_from_host')).toHaveLength(1); // once per invocation, not per tick
    for (const command of ['check', 'status']) {
      const c = await runCli([command], { env });
      expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: '' });
      expect(c.stdout).toMatch(/^timezone +America\/Sao_Paulo \(now /m);
    }
    const set = await runCli(['run'], { env: { ...env, SCHEDULER_TIMEZONE: 'Europe/Berlin' } });
    expect(set.events('config.timezone_from_host')).toEqual([]);
  });
});
