// Salons in several time zones: --timezone-column evaluates each package in its own zone
// (a column of the packages table, or of the salons table it references), with the default
// zone where it has none. Real PostgreSQL, the built CLI, parsed log lines.
import { beforeEach, describe, expect, it } from 'vitest';
import { createPackagesTable, getPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { addAuditTrigger } from './support/fixtures.ts';

const db = useTestDatabase();
const ZONES = ['Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Europe/Berlin', 'America/New_York'];
const env = () => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC' });
const byZone = ['--timezone-column', 'salons.time_zone'];

/** Salons (one per zone, plus one without a zone) and packages that reference them. */
async function salonsAndPackages(validUntilType: 'date' | 'timestamp' | 'timestamptz' = 'date'): Promise<Map<string, number>> {
  await db.client.query('DROP TABLE IF EXISTS special_packages, salons CASCADE');
  await db.client.query('CREATE TABLE salons (id serial PRIMARY KEY, name text NOT NULL, time_zone text)');
  await createPackagesTable(db.client, { validUntilType });
  await db.client.query('ALTER TABLE special_packages ADD COLUMN salon_id int REFERENCES salons (id)');
  const salons = new Map<string, number>();
  for (const zone of [...ZONES, null]) {
    const { rows } = await db.client.query<{ id: number }>('INSERT INTO salons (name, time_zone) VALUES ($1, $2) RETURNING id', [zone ?? 'no zone', zone]);
    salons.set(zone ?? 'null', rows[0]!.id);
  }
  return salons;
}

/** Inserts a package whose columns are SQL expressions over `zone` (the salon's zone as $2). */
async function insertIn(salon: number, zone: string, name: string, columns: Record<string, string>): Promise<number> {
  const names = Object.keys(columns);
  const { rows } = await db.client.query<{ id: number }>(
    `INSERT INTO special_packages (salon_id, name, ${names.join(', ')})
     SELECT $1, $3, ${names.map((n) => columns[n]).join(', ')} FROM (SELECT $2::text AS zone) AS z RETURNING id`,
    [salon, zone, name],
  );
  return rows[0]!.id;
}

const localNow = `(now() AT TIME ZONE zone)`;

describe('--timezone-column through a foreign key (salons.time_zone)', () => {
  beforeEach(async () => {
    await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
  });

  it('activates each package at its due time in its own zone: one minute late yes, one minute early no', async () => {
    const salons = await salonsAndPackages();
    const expected: string[] = [];
    for (const zone of ZONES) {
      const late = await insertIn(salons.get(zone)!, zone, `late ${zone}`, {
        scheduled: 'true', auto_activate: 'true',
        schedule_date: `(${localNow} - interval '1 minute')::date`, schedule_time: `(${localNow} - interval '1 minute')::time`,
      });
      await insertIn(salons.get(zone)!, zone, `early ${zone}`, {
        scheduled: 'true', auto_activate: 'true',
        schedule_date: `(${localNow} + interval '1 minute')::date`, schedule_time: `(${localNow} + interval '1 minute')::time`,
      });
      expected.push(String(late));
    }
    const r = await runCli(['run', ...byZone], { env: env() });
    expect(r.code).toBe(0);
    const lines = r.events('package.activated');
    expect(lines.map((l) => l.packageId).sort()).toEqual(expected.sort());
    expect(Object.fromEntries(lines.map((l) => [l.name, l.timezone]))).toEqual(Object.fromEntries(ZONES.map((z) => [`late ${z}`, z])));
    for (const l of lines) expect(l.lateSeconds).toBeGreaterThanOrEqual(59);
    for (const l of lines) expect(l.lateSeconds).toBeLessThan(120);
    // dueAt is the wall-clock time in the row's zone, whose local dates differ from UTC's
    const { rows } = await db.client.query<{ name: string; due: string }>(
      `SELECT p.name, to_char(p.schedule_date + p.schedule_time, 'YYYY-MM-DD"T"HH24:MI:SS') AS due FROM special_packages p WHERE p.name LIKE 'late %'`,
    );
    expect(Object.fromEntries(lines.map((l) => [l.name, l.dueAt]))).toEqual(Object.fromEntries(rows.map((x) => [x.name, x.due])));
    const { rows: early } = await db.client.query(`SELECT count(*)::int AS n FROM special_packages WHERE name LIKE 'early %' AND NOT is_active`);
    expect(early[0].n).toBe(4);
  });

  for (const type of ['date', 'timestamp', 'timestamptz'] as const) {
    for (const expiry of ['date', 'instant'] as const) {
      it(`deactivates by each row's local date or instant: valid_until ${type}, --expiry ${expiry}`, async () => {
        const salons = await salonsAndPackages(type);
        // [valid_until as an expression over the zone, whether it has passed]
        const cases: [string, string, boolean][] =
          expiry === 'date' || type === 'date'
            ? [
                ['yesterday', type === 'date' ? `${localNow}::date - 1` : type === 'timestamp' ? `(${localNow}::date - 1) + time '23:59'` : `((${localNow}::date - 1) + time '23:59') AT TIME ZONE zone`, true],
                ['today', type === 'date' ? `${localNow}::date` : type === 'timestamp' ? `${localNow}::date + time '00:00:01'` : `(${localNow}::date + time '00:00:01') AT TIME ZONE zone`, false],
              ]
            : [
                ['a minute ago', type === 'timestamp' ? `${localNow} - interval '1 minute'` : `now() - interval '1 minute'`, true],
                ['in a minute', type === 'timestamp' ? `${localNow} + interval '1 minute'` : `now() + interval '1 minute'`, false],
              ];
        const passed: string[] = [];
        for (const zone of ZONES) {
          for (const [label, expression, expected] of cases) {
            const id = await insertIn(salons.get(zone)!, zone, `${label} ${zone}`, { is_active: 'true', auto_deactivate: 'true', valid_until: expression });
            if (expected) passed.push(String(id));
          }
        }
        const r = await runCli(['run', '--expiry', expiry, ...byZone], { env: env() });
        expect(r.code).toBe(0);
        expect(r.events('package.deactivated').map((l) => l.packageId).sort()).toEqual(passed.sort());
        expect(new Set(r.events('package.deactivated').map((l) => l.timezone))).toEqual(new Set(ZONES));
      });
    }
  }

  it('a DST change in one zone while another has none (--dry-run --at)', async () => {
    const salons = await salonsAndPackages();
    // New York springs forward on 2026-03-08 at 02:00 → 03:00 (07:00Z); Tokyo has no DST.
    const ny = await insertIn(salons.get('America/New_York')!, 'America/New_York', 'gap', {
      scheduled: 'true', auto_activate: 'true', schedule_date: `'2026-03-08'`, schedule_time: `'02:30'`,
    });
    await db.client.query(`UPDATE salons SET time_zone = 'Asia/Tokyo' WHERE id = $1`, [salons.get('Europe/Berlin')]);
    const tokyo = await insertIn(salons.get('Europe/Berlin')!, 'Asia/Tokyo', 'tokyo', {
      scheduled: 'true', auto_activate: 'true', schedule_date: `'2026-03-08'`, schedule_time: `'16:30'`,
    });
    const at = async (instant: string) => {
      const r = await runCli(['run', '--dry-run', '--at', instant, ...byZone], { env: env() });
      expect(r.code).toBe(0);
      return r.events('package.would_activate').map((l) => [l.packageId, l.timezone]);
    };
    expect(await at('2026-03-08T06:59:00Z')).toEqual([]); // 01:59 in New York
    expect(await at('2026-03-08T07:00:30Z')).toEqual([[String(ny), 'America/New_York']]); // 03:00:30, the gap has passed
    expect(await at('2026-03-08T07:30:00Z')).toEqual([
      [String(ny), 'America/New_York'],
      [String(tokyo), 'Asia/Tokyo'],
    ]);
  });

  it('a NULL zone, or a missing salon, falls back to --timezone', async () => {
    const salons = await salonsAndPackages();
    const columns = { scheduled: 'true', auto_activate: 'true', schedule_date: `'2026-06-10'`, schedule_time: `'09:00'` };
    const nullZone = await insertIn(salons.get('null')!, 'UTC', 'salon without zone', columns);
    const { rows } = await db.client.query<{ id: number }>(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time) VALUES ('no salon', true, true, '2026-06-10', '09:00') RETURNING id`,
    );
    // 09:00 in Berlin (the default here) is 07:00Z.
    const before = await runCli(['run', '--dry-run', '--at', '2026-06-10T06:59:00Z', '--timezone', 'Europe/Berlin', ...byZone], { env: env() });
    expect(before.events('package.would_activate')).toEqual([]);
    const after = await runCli(['run', '--dry-run', '--at', '2026-06-10T07:00:00Z', '--timezone', 'Europe/Berlin', ...byZone], { env: env() });
    expect(after.events('package.would_activate').map((l) => [l.packageId, l.timezone])).toEqual([
      [String(nullZone), 'Europe/Berlin'],
      [String(rows[0]!.id), 'Europe/Berlin'],
    ]);
  });

  it('an unknown zone: that row is left alone with one warning, the others change, exit 0; check and status name it', async () => {
    const salons = await salonsAndPackages();
    await db.client.query(`UPDATE salons SET time_zone = 'Mars/Olympus' WHERE id = $1`, [salons.get('Pacific/Kiritimati')]);
    await db.client.query(`UPDATE salons SET time_zone = 'EST5EDT+junk' WHERE id = $1`, [salons.get('Pacific/Pago_Pago')]);
    const due = { scheduled: 'true', auto_activate: 'true', schedule_date: `'2026-01-01'`, schedule_time: `'09:00'` };
    const mars = await insertIn(salons.get('Pacific/Kiritimati')!, 'UTC', 'mars', due);
    const junk = await insertIn(salons.get('Pacific/Pago_Pago')!, 'UTC', 'junk', due);
    const berlin = await insertIn(salons.get('Europe/Berlin')!, 'UTC', 'berlin', due);
    const expiredInNy = await insertIn(salons.get('America/New_York')!, 'UTC', 'ny', { is_active: 'true', auto_deactivate: 'true', valid_until: `'2026-01-01'` });

    const r = await runCli(['run', ...byZone], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual([String(berlin)]);
    expect(r.events('package.deactivated').map((l) => l.packageId)).toEqual([String(expiredInNy)]);
    expect(r.events('package.timezone_unknown').map((l) => [l.level, l.packageId, l.timezone])).toEqual([
      ['warn', String(mars), 'Mars/Olympus'],
      ['warn', String(junk), 'EST5EDT+junk'],
    ]);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1, deactivated: 1, timezoneUnknown: 2 });
    expect((await getPackage(db.client, mars)).is_active).toBe(false);
    expect((await getPackage(db.client, junk)).is_active).toBe(false);

    const check = JSON.parse((await runCli(['check', '--json', ...byZone], { env: env() })).stdout);
    expect(check.misconfigured).toEqual([
      { packageId: String(mars), problem: expect.stringContaining('unknown time zone "Mars/Olympus"') },
      { packageId: String(junk), problem: expect.stringContaining('unknown time zone "EST5EDT+junk"') },
    ]);
    const status = JSON.parse((await runCli(['status', '--json', ...byZone], { env: env() })).stdout);
    expect(status.overdue).toEqual([
      expect.objectContaining({ packageId: String(mars), action: 'activate', timezone: 'Mars/Olympus', reason: expect.stringContaining('unknown time zone') }),
      expect.objectContaining({ packageId: String(junk), action: 'activate', timezone: 'EST5EDT+junk' }),
    ]);
  });

  it('history events and status entries carry each row\'s zone; status lists local times in it', async () => {
    const salons = await salonsAndPackages();
    expect((await runCli(['migrate'], { env: env() })).code).toBe(0);
    await insertIn(salons.get('Pacific/Kiritimati')!, 'Pacific/Kiritimati', 'now', { scheduled: 'true', auto_activate: 'true', schedule_date: `'2026-01-01'` });
    const next = await insertIn(salons.get('Pacific/Pago_Pago')!, 'Pacific/Pago_Pago', 'tomorrow', {
      scheduled: 'true', auto_activate: 'true', schedule_date: `${localNow}::date + 1`, schedule_time: `'10:00'`,
    });
    expect((await runCli(['run', ...byZone], { env: env() })).code).toBe(0);
    const { rows } = await db.client.query('SELECT action, timezone FROM package_scheduler_events');
    expect(rows).toEqual([{ action: 'activated', timezone: 'Pacific/Kiritimati' }]);
    const status = JSON.parse((await runCli(['status', '--json', ...byZone], { env: env() })).stdout);
    const { rows: local } = await db.client.query<{ at: string; in_seconds: number }>(
      `SELECT to_char((now() AT TIME ZONE 'Pacific/Pago_Pago')::date + 1 + time '10:00', 'YYYY-MM-DD"T"HH24:MI:SS') AS at,
              extract(epoch FROM (((now() AT TIME ZONE 'Pacific/Pago_Pago')::date + 1 + time '10:00') AT TIME ZONE 'Pacific/Pago_Pago') - now())::float8 AS in_seconds`,
    );
    expect(status.nextActivations).toEqual([
      { packageId: String(next), name: 'tomorrow', at: local[0]!.at, inSeconds: expect.any(Number), timezone: 'Pacific/Pago_Pago' },
    ]);
    expect(Math.abs(status.nextActivations[0].inSeconds - local[0]!.in_seconds)).toBeLessThan(5);
  });

  it('four concurrent runs change each row exactly once', async () => {
    const salons = await salonsAndPackages();
    await addAuditTrigger(db.client);
    for (const zone of ZONES) {
      await db.client.query(
        `INSERT INTO special_packages (salon_id, scheduled, auto_activate, schedule_date, schedule_time)
         SELECT $1, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 100)`,
        [salons.get(zone)],
      );
    }
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(['run', ...byZone], { env: env() })));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(runs.flatMap((r) => r.events('package.activated')).length).toBe(400);
    const { rows } = await db.client.query('SELECT count(*)::int AS n, count(DISTINCT package_id)::int AS ids FROM audit');
    expect(rows[0]).toEqual({ n: 400, ids: 400 });
  });
});

describe('--timezone-column on the packages table, and its configuration errors', () => {
  it('a zone column of the packages table', async () => {
    await createPackagesTable(db.client);
    await db.client.query(`ALTER TABLE special_packages ADD COLUMN tz varchar(64)`);
    const { rows } = await db.client.query<{ id: number }>(
      `INSERT INTO special_packages (tz, scheduled, auto_activate, schedule_date, schedule_time)
       VALUES ('Pacific/Kiritimati', true, true, '2026-06-10', '09:00'), ('Pacific/Pago_Pago', true, true, '2026-06-10', '09:00') RETURNING id`,
    );
    // 09:00 on 10 June is 2026-06-09T19:00Z in Kiritimati (UTC+14) and 2026-06-10T20:00Z in Pago Pago (UTC−11).
    const at = async (instant: string) =>
      (await runCli(['run', '--dry-run', '--at', instant, '--timezone-column', 'tz'], { env: env() })).events('package.would_activate').map((l) => l.packageId);
    expect(await at('2026-06-09T18:59:00Z')).toEqual([]);
    expect(await at('2026-06-09T19:00:00Z')).toEqual([String(rows[0]!.id)]);
    expect(await at('2026-06-10T20:00:00Z')).toEqual([String(rows[0]!.id), String(rows[1]!.id)]);
  });

  it('no foreign key, two foreign keys, a missing column, a non-text column: 78 naming the tables; a malformed reference: 64', async () => {
    await db.client.query('DROP TABLE IF EXISTS special_packages, salons CASCADE');
    await db.client.query('CREATE TABLE salons (id serial PRIMARY KEY, time_zone text, opened int)');
    await createPackagesTable(db.client);
    await db.client.query('ALTER TABLE special_packages ADD COLUMN salon_id int');
    const r = (ref: string) => runCli(['run', '--timezone-column', ref], { env: env() });

    const none = await r('salons.time_zone');
    expect(none.code).toBe(78);
    expect(none.stderr).toMatch(/public\.special_packages has no single-column foreign key to public\.salons.*add one/);

    await db.client.query(`ALTER TABLE special_packages ADD COLUMN owner_salon int REFERENCES salons (id), ADD FOREIGN KEY (salon_id) REFERENCES salons (id)`);
    const two = await r('salons.time_zone');
    expect(two.code).toBe(78);
    expect(two.stderr).toMatch(/has 2 single-column foreign keys to public\.salons \(.*owner_salon → id.*salon_id → id.*\)/);

    await db.client.query('ALTER TABLE special_packages DROP COLUMN owner_salon');
    expect((await r('public.salons.time_zone')).code).toBe(0);
    const missing = await r('salons.zone');
    expect([missing.code, missing.stderr]).toEqual([78, 'package-scheduler: --timezone-column / SCHEDULER_TIMEZONE_COLUMN: column public.salons.zone does not exist\n']);
    const number = await r('salons.opened');
    expect(number.code).toBe(78);
    expect(number.stderr).toContain('column public.salons.opened has type integer');
    const table = await r('nowhere.time_zone');
    expect(table.code).toBe(78);
    expect(table.stderr).toContain('table "nowhere" does not exist');
    const malformed = await r('a.b.c.d');
    expect([malformed.code, malformed.stderr]).toEqual([64, 'package-scheduler: invalid --timezone-column / SCHEDULER_TIMEZONE_COLUMN: expected "column", "table.column" or "schema.table.column"\n']);
    const fromEnv = await runCli(['run'], { env: { ...env(), SCHEDULER_TIMEZONE_COLUMN: 'x;drop' } });
    expect(fromEnv.code).toBe(78);
  });
});
