// Load: many copies of the job at once, and a soak against an admin who keeps editing.
import { describe, expect, it } from 'vitest';
import { runTick } from '../src/tick/tick.ts';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { runCli } from './support/cli.ts';
import { tickOptions } from './support/tick-options.ts';
import { addAuditTrigger, insertMany } from './support/fixtures.ts';

const db = useTestDatabase();

describe('load', () => {
  it('16 concurrent runs against 5,000 due packages change each exactly once and log it exactly once', async () => {
    await createPackagesTable(db.client);
    await addAuditTrigger(db.client);
    await insertMany(db.client, { due: 2500, expired: 2500 });
    const runs = await Promise.all(Array.from({ length: 16 }, () => runCli(['run'], { env: { DATABASE_URL: db.url }, timeoutMs: 60_000 })));
    expect(runs.map((r) => r.code)).toEqual(Array(16).fill(0));
    const changeLines = runs.flatMap((r) => [...r.events('package.activated'), ...r.events('package.deactivated')]);
    const ids = changeLines.map((l) => l.packageId);
    expect(ids).toHaveLength(5000);
    expect(new Set(ids).size).toBe(5000);
    // Every run either did the work or stood aside; nobody failed.
    const outcomes = runs.map((r) => (r.events('tick.completed').length ? 'completed' : r.events('tick.skipped').length ? 'skipped' : 'other'));
    expect(outcomes).not.toContain('other');
    const { rows } = await db.client.query<{ n: number; distinct_ids: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT package_id)::int AS distinct_ids FROM audit',
    );
    expect(rows[0]).toEqual({ n: 5000, distinct_ids: 5000 });
    const { rows: left } = await db.client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM special_packages WHERE scheduled OR (is_active AND auto_deactivate)`,
    );
    expect(left[0]!.n).toBe(0);
  }, 90_000);
});

// The soak: ticks in a loop while an "admin" edits packages the way the CRM does. After every
// tick, check the invariants. SOAK_SECONDS sets its length (default 4 s in npm test).
describe('soak', () => {
  it('never activates early, leaves nothing due except rows an admin touched, and loses no admin edit', async () => {
    const seconds = Number(process.env.SOAK_SECONDS ?? 4);
    const zone = 'Europe/Berlin';
    await createPackagesTable(db.client);
    // Every change the scheduler makes is recorded with what the row looked like before.
    await db.client.query(`
      CREATE TABLE scheduler_changes (package_id int, old_scheduled boolean, old_active boolean, new_active boolean,
                                      due_local timestamp, at_local timestamp);
      CREATE FUNCTION record_scheduler() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('application_name') = 'soak-scheduler' THEN
          INSERT INTO scheduler_changes VALUES (NEW.id, OLD.scheduled, OLD.is_active, NEW.is_active,
            OLD.schedule_date + coalesce(OLD.schedule_time, '00:00'), now() AT TIME ZONE '${zone}');
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER record_scheduler AFTER UPDATE ON special_packages FOR EACH ROW EXECUTE FUNCTION record_scheduler();
      INSERT INTO special_packages (name, price) SELECT 'p' || g, g FROM generate_series(1, 200) AS g;`);
    const scheduler = await db.connect();
    await scheduler.query(`SET application_name = 'soak-scheduler'`);
    const admin = await db.connect();

    // What the admin last committed for the columns only the admin writes.
    const committed = new Map<number, { name: string; price: string; valid_until: string | null; auto_activate: boolean; auto_deactivate: boolean }>();
    const touched = new Set<number>();
    let stop = false;
    let edits = 0;
    let holding: number | undefined; // the row the admin has locked right now
    const rand = (n: number) => Math.floor(Math.random() * n);
    const adminLoop = (async () => {
      while (!stop) {
        const id = 1 + rand(200);
        holding = id;
        touched.add(id);
        const offsetSeconds = rand(40) - 20; // schedules around "now", in the past and the future
        const validDays = rand(5) - 2;
        await admin.query('BEGIN');
        const { rows } = await admin.query(
          `UPDATE special_packages
              SET name = 'edit ' || $2::int, price = $2::int % 1000,
                  scheduled = CASE WHEN $2::int % 3 = 0 THEN true ELSE scheduled END,
                  schedule_date = ((now() + make_interval(secs => $3::int)) AT TIME ZONE '${zone}')::date,
                  schedule_time = ((now() + make_interval(secs => $3::int)) AT TIME ZONE '${zone}')::time,
                  auto_activate = $2::int % 4 <> 0, auto_deactivate = $2::int % 5 <> 0,
                  valid_until = CASE WHEN $2::int % 2 = 0 THEN ((now() AT TIME ZONE '${zone}')::date + $4::int) END,
                  is_active = CASE WHEN $2::int % 7 = 0 THEN NOT coalesce(is_active, false) ELSE is_active END
            WHERE id = $1 RETURNING name, price::text, to_char(valid_until, 'YYYY-MM-DD') AS valid_until, auto_activate, auto_deactivate`,
          [id, edits, offsetSeconds, validDays],
        );
        await new Promise((r) => setTimeout(r, rand(15))); // an admin holding the row a moment
        await admin.query('COMMIT');
        holding = undefined;
        committed.set(id, rows[0]);
        edits++;
      }
    })();

    const deadline = Date.now() + seconds * 1000;
    let ticks = 0;
    try {
      while (Date.now() < deadline) {
        touched.clear();
        if (holding !== undefined) touched.add(holding); // locked since before this tick
        const result = await runTick(scheduler, tickOptions({ timezone: zone, history: false }), recordingLogger());
        ticks++;
        if (result.status !== 'completed') continue;
        // Nothing due at the tick's instant is left, except rows the admin touched meanwhile.
        const left = await runTick(scheduler, tickOptions({ timezone: zone, dryRun: true, at: result.now, history: false }), recordingLogger());
        if (left.status === 'completed') {
          const undone = [...left.activated, ...left.deactivated, ...left.activationSkipped].map((x) => Number(x.packageId));
          expect(undone.filter((id) => !touched.has(id))).toEqual([]);
        }
      }
    } finally {
      stop = true;
      await adminLoop;
    }

    // Never activated before its due time (in the business zone, by the tick's clock).
    const { rows: early } = await db.client.query(
      `SELECT * FROM scheduler_changes WHERE old_scheduled AND new_active AND NOT coalesce(old_active, false) AND due_local > at_local`,
    );
    expect(early).toEqual([]);
    // No admin edit lost or overwritten: the job only ever writes is_active, scheduled, updated_at.
    const { rows: final } = await db.client.query(
      `SELECT id, name, price::text, to_char(valid_until, 'YYYY-MM-DD') AS valid_until, auto_activate, auto_deactivate FROM special_packages`,
    );
    for (const row of final) {
      const expected = committed.get(row.id);
      if (expected) expect({ id: row.id, ...expected }).toEqual({ id: row.id, name: row.name, price: row.price, valid_until: row.valid_until, auto_activate: row.auto_activate, auto_deactivate: row.auto_deactivate });
    }
    expect(ticks).toBeGreaterThan(5);
    expect(edits).toBeGreaterThan(20);
    const { rows: changes } = await db.client.query<{ n: number }>('SELECT count(*)::int AS n FROM scheduler_changes');
    expect(changes[0]!.n).toBeGreaterThan(0); // the scheduler really did work during the soak
  }, 120_000);
});
