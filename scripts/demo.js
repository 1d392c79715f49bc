// npm run demo: a throwaway PostgreSQL, a sample special_packages table with a package in
// every state, one real tick of the built CLI, and the table before and after.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from './postgres-server.js';

const zone = process.env.SCHEDULER_TIMEZONE || 'Europe/Berlin';
const bin = fileURLToPath(new URL('../bin/package-scheduler.js', import.meta.url));
const started = Date.now();

const server = await startPostgres(process.env, 'DEMO_DATABASE_URL');
const admin = new pg.Client(server.adminUrl);
try {
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS package_scheduler_demo WITH (FORCE)');
  await admin.query('CREATE DATABASE package_scheduler_demo');
  const url = new URL(server.adminUrl);
  url.pathname = '/package_scheduler_demo';
  const db = new pg.Client(url.toString());
  await db.connect();
  // Every date is relative to the database clock in the business zone, so the demo shows the
  // same story whenever it runs.
  await db.query(`
    CREATE TABLE special_packages (
      id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL,
      is_active boolean NOT NULL DEFAULT false, valid_until date, updated_at timestamptz);
  `);
  /** Runs the built CLI against the demo database, as cron would. @param {string[]} args */
  const cli = (args) =>
    spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, DATABASE_URL: url.toString() }, encoding: 'utf8' });
  const migrate = cli(['migrate', '--log-level', 'warn']);
  if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);
  await db.query(
    `WITH l AS (SELECT (now() AT TIME ZONE $1::text) AS now_local)
     INSERT INTO special_packages (name, price, is_active, scheduled, auto_activate, auto_deactivate, schedule_date, schedule_time, valid_until)
     SELECT v.* FROM l, LATERAL (VALUES
       ('Due now: bridal glow',           120.00, false, true,  true,  true,  l.now_local::date, (l.now_local - interval '1 minute')::time, l.now_local::date + 30),
       ('Missed yesterday: spa weekend',   89.00, false, true,  true,  true,  l.now_local::date - 1, time '10:00', l.now_local::date + 7),
       ('Not yet due: spring special',     45.00, false, true,  true,  true,  l.now_local::date + 1, time '09:00', l.now_local::date + 60),
       ('Expired: summer nails',           35.00, true,  false, false, true,  NULL::date, NULL::time, l.now_local::date - 2),
       ('Ends today: still valid',         55.00, true,  false, false, true,  NULL::date, NULL::time, l.now_local::date),
       ('Expired before activation: x-mas', 99.00, false, true,  true,  true,  l.now_local::date - 10, time '08:00', l.now_local::date - 3)
     ) AS v(name, price, is_active, scheduled, auto_activate, auto_deactivate, schedule_date, schedule_time, valid_until)`,
    [zone],
  );
  // Two salons in two zones (--timezone-column salons.time_zone): the same wall-clock schedule,
  // a minute ago by Berlin's clock, is due in Berlin and still hours away in New York. The
  // packages above have no salon, so they use --timezone.
  await db.query(`
    CREATE TABLE salons (id int PRIMARY KEY, name text NOT NULL, time_zone text);
    INSERT INTO salons VALUES (1, 'Berlin Mitte', 'Europe/Berlin'), (2, 'New York SoHo', 'America/New_York');
    ALTER TABLE special_packages ADD COLUMN salon_id int REFERENCES salons (id);`);
  await db.query(
    `WITH l AS (SELECT (now() AT TIME ZONE 'Europe/Berlin') - interval '1 minute' AS berlin)
     INSERT INTO special_packages (name, price, salon_id, scheduled, auto_activate, schedule_date, schedule_time)
     SELECT v.name, 60.00, v.salon, true, true, l.berlin::date, l.berlin::time
       FROM l, (VALUES ('Berlin salon: opening offer', 1), ('New York salon: opening offer', 2)) AS v(name, salon)`,
  );

  /** @param {string} title */
  const show = async (title) => {
    const { rows } = await db.query(
      `SELECT p.id, p.name, coalesce(s.time_zone, $1::text) AS zone, is_active, scheduled,
              to_char(schedule_date, 'YYYY-MM-DD') || coalesce(' ' || to_char(schedule_time, 'HH24:MI'), '') AS schedule,
              to_char(valid_until, 'YYYY-MM-DD') AS valid_until, to_char(updated_at AT TIME ZONE $1::text, 'HH24:MI:SS') AS updated
         FROM special_packages p LEFT JOIN salons s ON s.id = p.salon_id ORDER BY p.id`,
      [zone],
    );
    console.log(`\n${title}`);
    console.table(rows);
  };

  console.log(`package-scheduler demo (PostgreSQL: ${server.kind}; business zone ${zone})`);
  await show('Before the tick:');
  const tick = cli(['run', '--timezone', zone, '--timezone-column', 'salons.time_zone']);
  console.log(`\n$ package-scheduler run --timezone ${zone} --timezone-column salons.time_zone   # exit code ${tick.status}`);
  process.stdout.write(tick.stdout);
  if (tick.stderr) process.stderr.write(tick.stderr);
  await show('After the tick:');
  const report = cli(['status', '--timezone', zone, '--timezone-column', 'salons.time_zone']);
  console.log(`\n$ package-scheduler status --timezone ${zone} --timezone-column salons.time_zone   # exit code ${report.status}`);
  process.stdout.write(report.stdout);
  await db.end();
  console.log(`\ndemo finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (tick.status !== 0) process.exitCode = 1;
} finally {
  await admin.end().catch(() => {});
  await server.stop();
}
