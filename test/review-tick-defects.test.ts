// Issue 18, items 1-4 and 6, each against the built CLI on a real PostgreSQL: the clock under a
// database's own DateStyle/TimeZone, composite keys, a CRM trigger's veto, a booking in progress,
// an infinite schedule_date.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addUpdateTrigger, createPackagesTable, getPackage, insertPackage, useTestDatabase, waitForActiveTick } from './support/database.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { duePackage } from './support/fixtures.ts';
import type { LogLine } from './support/logs.ts';

const db = useTestDatabase();
const env = () => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' });
const databaseName = () => new URL(db.url).pathname.slice(1);

/** Sets (or, with undefined, resets) the test database's own defaults: new sessions get them. */
async function databaseSettings(settings: { DateStyle?: string; TimeZone?: string; IntervalStyle?: string } | undefined): Promise<void> {
  if (settings === undefined) {
    await db.client.query(`ALTER DATABASE ${databaseName()} RESET ALL`);
    return;
  }
  for (const [name, value] of Object.entries(settings)) {
    await db.client.query(`ALTER DATABASE ${databaseName()} SET ${name} = '${value}'`);
  }
}

/** A run's log lines without what differs between any two runs (time, pid, host, run id, duration). */
function stable(r: CliResult): LogLine[] {
  return r.lines.map(({ time: _t, pid: _p, hostname: _h, runId: _r, durationMs: _d, ...rest }) => rest as LogLine);
}

describe('the clock under the database\'s own DateStyle and TimeZone (#1)', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client, { validUntilType: 'timestamptz' });
  });
  afterEach(async () => {
    await databaseSettings(undefined);
  });

  it('a package due in two hours (Berlin) is not activated under DateStyle Postgres with Asia/Kolkata, nor does Asia/Jakarta fail the tick', async () => {
    const { rows } = await db.client.query<{ d: string; t: string }>(
      `SELECT to_char(l, 'YYYY-MM-DD') AS d, to_char(l, 'HH24:MI:SS') AS t
         FROM (SELECT (now() + interval '2 hours') AT TIME ZONE 'Europe/Berlin' AS l) AS x`,
    );
    const soon = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: rows[0]!.d, schedule_time: rows[0]!.t });
    for (const TimeZone of ['Asia/Kolkata', 'Asia/Jakarta', 'Asia/Shanghai', 'Asia/Manila']) {
      await databaseSettings({ DateStyle: 'Postgres', TimeZone });
      const dry = await runCli(['run', '--dry-run'], { env: env() });
      expect({ TimeZone, code: dry.code, stderr: dry.stderr, would: dry.events('package.would_activate') }).toEqual({ TimeZone, code: 0, stderr: '', would: [] });
      const r = await runCli(['run'], { env: env() });
      expect({ TimeZone, code: r.code, stderr: r.stderr, activated: r.events('package.activated') }).toEqual({ TimeZone, code: 0, stderr: '', activated: [] });
      expect((await getPackage(db.client, soon)).is_active).toBe(false);
    }
  });

  it('every log line of a tick is the same whatever DateStyle, TimeZone and IntervalStyle the database sets', async () => {
    await insertPackage(db.client, duePackage('2026-05-01'));
    await insertPackage(db.client, { ...duePackage('2026-05-02'), valid_until: '2026-05-01T00:00:00Z' }); // expired before activation
    await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '-infinity' });
    await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-05-30T22:00:00Z' });
    await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: 'infinity' });
    const args = ['run', '--dry-run', '--at', '2026-06-01T12:00:00Z'];
    const reference = await runCli(args, { env: env() });
    expect({ code: reference.code, stderr: reference.stderr }).toEqual({ code: 0, stderr: '' });
    expect(reference.events('package.would_activate')).toEqual([expect.objectContaining({ dueAt: '2026-05-01T09:00:00', lateSeconds: 2_696_400 })]);
    expect(reference.events('package.would_deactivate').map((l) => l.validUntil)).toEqual(['-infinity', '2026-05-30T22:00:00Z']);
    for (const settings of [
      { DateStyle: 'Postgres, DMY', TimeZone: 'Asia/Kolkata', IntervalStyle: 'sql_standard' },
      { DateStyle: 'German', TimeZone: 'Asia/Jakarta', IntervalStyle: 'iso_8601' },
      { DateStyle: 'SQL, MDY', TimeZone: 'America/Chicago', IntervalStyle: 'postgres_verbose' },
    ]) {
      await databaseSettings(settings);
      const r = await runCli(args, { env: env() });
      expect({ settings, code: r.code, stderr: r.stderr }).toEqual({ settings, code: 0, stderr: '' });
      expect(stable(r)).toEqual(stable(reference));
      await databaseSettings(undefined);
    }
  });
});

describe('a composite primary key (#2)', () => {
  const table = 'salon_packages';
  const tableEnv = () => ({ ...env(), SCHEDULER_TABLE: table });
  beforeEach(async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS ${table};
      CREATE TABLE ${table} (
        salon_id int NOT NULL, id int NOT NULL, name text,
        is_active boolean NOT NULL DEFAULT false, scheduled boolean NOT NULL DEFAULT false,
        auto_activate boolean NOT NULL DEFAULT false, auto_deactivate boolean NOT NULL DEFAULT false,
        schedule_date date, schedule_time time, valid_until date,
        PRIMARY KEY (salon_id, id));
      INSERT INTO ${table} (salon_id, id, name, scheduled, auto_activate, schedule_date, schedule_time) VALUES
        (1, 7, 'due', true, true, '2026-01-01', '09:00'),
        (2, 7, 'next year', true, true, (now() AT TIME ZONE 'Europe/Berlin')::date + 365, '09:00');`);
  });
  const activeRows = async () =>
    (await db.client.query(`SELECT salon_id, id FROM ${table} WHERE is_active ORDER BY 1, 2`)).rows;

  it('changes only the due row, not the row of another salon with the same id; logs and history name it by its whole key', async () => {
    expect((await runCli(['migrate'], { env: tableEnv() })).code).toBe(0);
    const r = await runCli(['run'], { env: tableEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => [l.packageId, l.name])).toEqual([['(1,7)', 'due']]);
    expect(await activeRows()).toEqual([{ salon_id: 1, id: 7 }]);
    const { rows } = await db.client.query(`SELECT package_id, action FROM package_scheduler_events WHERE packages_table = 'public.${table}'`);
    expect(rows).toEqual([{ package_id: '(1,7)', action: 'activated' }]);
    const history = await runCli(['history', '--package', '(1,7)', '--json'], { env: tableEnv() });
    expect(JSON.parse(history.stdout).map((e: { packageId: string }) => e.packageId)).toEqual(['(1,7)']);
    expect(JSON.parse((await runCli(['check', '--json'], { env: tableEnv() })).stdout).key).toEqual(['salon_id', 'id']);
    expect((await runCli(['check'], { env: tableEnv() })).stdout).toContain('key        (salon_id, id): package ids are its values in this order');
  });

  it('an admin holding another salon\'s row with the same id locked does not make the tick wait', async () => {
    const admin = await db.connect();
    await admin.query('BEGIN');
    await admin.query(`SELECT * FROM ${table} WHERE salon_id = 2 AND id = 7 FOR UPDATE`);
    try {
      const r = await runCli(['run', '--lock-timeout', '1000', '--no-history'], { env: tableEnv() });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.events('package.activated').map((l) => l.packageId)).toEqual(['(1,7)']);
    } finally {
      await admin.query('ROLLBACK');
    }
    expect(await activeRows()).toEqual([{ salon_id: 1, id: 7 }]);
  });

  it('a table without a primary key is identified by a unique index over NOT NULL columns, or refused (78) with the reason', async () => {
    await db.client.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_pkey`);
    // Nothing unique: an "id" alone would change both salons' rows.
    const refused = await runCli(['run'], { env: tableEnv() });
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain('has no primary key and no unique index over NOT NULL columns');
    expect(await activeRows()).toEqual([]);
    // A partial unique index cannot identify every row.
    await db.client.query(`CREATE UNIQUE INDEX ${table}_partial ON ${table} (salon_id, id) WHERE is_active`);
    expect((await runCli(['run'], { env: tableEnv() })).code).toBe(78);
    await db.client.query(`CREATE UNIQUE INDEX ${table}_key ON ${table} (id, salon_id)`);
    const r = await runCli(['run', '--no-history'], { env: tableEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual(['(7,1)']);
    expect(await activeRows()).toEqual([{ salon_id: 1, id: 7 }]);
  });
});

describe('a CRM trigger that vetoes a change (#3)', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    expect((await runCli(['migrate'], { env: env() })).code).toBe(0);
    await db.client.query('TRUNCATE package_scheduler_events');
  });

  it('is neither logged nor recorded as a change; the other rows of the tick are', async () => {
    const vetoed = await insertPackage(db.client, { ...duePackage(), name: 'vetoed' });
    const rescheduled = await insertPackage(db.client, { ...duePackage(), name: 'rescheduled' });
    const ok = await insertPackage(db.client, { ...duePackage(), name: 'ok' });
    const expiredVetoed = await insertPackage(db.client, { name: 'kept on', is_active: true, auto_deactivate: true, valid_until: '2026-01-01' });
    await addUpdateTrigger(
      db.client,
      'crm_veto',
      `IF NEW.name IN ('vetoed', 'kept on') THEN NEW.is_active := OLD.is_active; END IF;
       IF NEW.name = 'rescheduled' THEN NEW.scheduled := true; END IF;`,
    );
    const r = await runCli(['run'], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual([String(ok)]);
    expect(r.events('package.deactivated')).toEqual([]);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1, deactivated: 0, activationSkipped: 0 });
    const { rows } = await db.client.query('SELECT package_id, action FROM package_scheduler_events ORDER BY id');
    expect(rows).toEqual([{ package_id: String(ok), action: 'activated' }]);
    expect((await getPackage(db.client, vetoed)).is_active).toBe(false);
    expect((await getPackage(db.client, rescheduled)).scheduled).toBe(true);
    expect((await getPackage(db.client, expiredVetoed)).is_active).toBe(true);
  });
});

describe('a booking in progress (#4)', () => {
  let booking: pg.Client;
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await db.client.query('CREATE TABLE bookings (id serial PRIMARY KEY, package_id int NOT NULL REFERENCES special_packages (id))');
    booking = await db.connect();
  });
  afterEach(async () => {
    await booking.query('ROLLBACK').catch(() => {});
    await db.client.query('DROP TABLE IF EXISTS bookings');
  });

  it('an open INSERT of a booking does not hide its package from the tick', async () => {
    const id = await insertPackage(db.client, duePackage());
    await booking.query('BEGIN');
    await booking.query('INSERT INTO bookings (package_id) VALUES ($1)', [id]);
    const r = await runCli(['run', '--no-history'], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual([String(id)]);
    await booking.query('COMMIT');
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('a booking insert does not wait behind a tick that is still running', async () => {
    const id = await insertPackage(db.client, duePackage());
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(2);');
    const tick = runCli(['run', '--no-history'], { env: env() });
    await waitForActiveTick(db.client);
    await booking.query(`SET lock_timeout = '500ms'`);
    await expect(booking.query('INSERT INTO bookings (package_id) VALUES ($1)', [id])).resolves.toMatchObject({ rowCount: 1 });
    const r = await tick;
    expect(r.code).toBe(0);
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual([String(id)]);
  });
});

describe('an infinite schedule_date (#6)', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('is left alone and named by check and status; run, check and status succeed and the other rows change', async () => {
    const first = await insertPackage(db.client, duePackage());
    const never = await insertPackage(db.client, { ...duePackage(), schedule_date: '-infinity' });
    const later = await insertPackage(db.client, { ...duePackage(), schedule_date: 'infinity' });
    const last = await insertPackage(db.client, duePackage());
    const expired = await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '-infinity' });

    const checked = await runCli(['check', '--json'], { env: env() });
    expect({ code: checked.code, stderr: checked.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(checked.stdout);
    expect(report.due.counts).toEqual({ activated: 2, deactivated: 1, activationSkipped: 0 });
    expect(report.misconfigured).toEqual([
      { packageId: String(never), problem: 'schedule_date is -infinity: it will never be activated (set the date it is due on)' },
      { packageId: String(later), problem: 'schedule_date is infinity: it will never be activated (set the date it is due on)' },
    ]);

    const status = await runCli(['status', '--json'], { env: env() });
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(status.stdout).misconfigured.map((m: { packageId: string }) => m.packageId)).toEqual([String(never), String(later)]);

    const r = await runCli(['run'], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.events('package.activated').map((l) => l.packageId)).toEqual([String(first), String(last)]);
    expect(r.events('package.deactivated')).toEqual([expect.objectContaining({ packageId: String(expired), validUntil: '-infinity' })]);
    expect((await getPackage(db.client, never)).scheduled).toBe(true);
    expect((await getPackage(db.client, never)).is_active).toBe(false);
    expect((await getPackage(db.client, later)).is_active).toBe(false);
  });
});
