// A/B cold start: a no-op tick (10,000 rows, nothing due) by a previous build and by this one,
// alternating, against one embedded server, so both see the same machine noise.
// AB_BEFORE=/path/to/old/checkout (built, with its own node_modules) node bench/ab-cold-start.js
import { spawnSync } from 'node:child_process';
import { startPostgres } from '../scripts/postgres-server.js';
import pg from 'pg';
const server = await startPostgres({ ...process.env, TEST_POSTGRES: 'embedded' });
const c = new pg.Client(server.adminUrl); await c.connect();
await c.query(`CREATE TABLE special_packages (id serial PRIMARY KEY, name text, is_active boolean DEFAULT false, scheduled boolean DEFAULT false, schedule_date date, schedule_time time, auto_activate boolean DEFAULT false, auto_deactivate boolean DEFAULT false, valid_until date, updated_at timestamptz)`);
await c.query(`INSERT INTO special_packages (name) SELECT 'p' || g FROM generate_series(1, 10000) g`);
await c.end();
if (!process.env.AB_BEFORE) throw new Error('set AB_BEFORE to a built checkout of the previous version');
const bins = { before: `${process.env.AB_BEFORE}/bin/package-scheduler.js`, after: new URL('../bin/package-scheduler.js', import.meta.url).pathname };
const times = { before: [], after: [] };
const env = { PATH: process.env.PATH, HOME: '/tmp', DATABASE_URL: server.adminUrl, SCHEDULER_TIMEZONE: 'UTC', SCHEDULER_HISTORY: 'off' };
for (let i = 0; i < 2; i++) for (const b of Object.keys(bins)) spawnSync(process.execPath, [bins[b], 'run'], { env });
const N = Number(process.env.N ?? 25);
for (let i = 0; i < N; i++) for (const b of (i % 2 ? ['before', 'after'] : ['after', 'before'])) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [bins[b], 'run'], { env });
  if (r.status !== 0) throw new Error(b + ': ' + r.stderr);
  times[b].push(performance.now() - t);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
console.log(`no-op tick, ${N} alternating runs each: before ${med(times.before).toFixed(1)} ms, after ${med(times.after).toFixed(1)} ms, ratio ${(med(times.after) / med(times.before)).toFixed(3)}`);
await server.stop();
