// npm run bench, section "catchup" (BENCH_ONLY=catchup): a catch-up against its floors, side by
// side in one run, as issue 23 states them.
// - 1,000,000 due activations: the bare UPDATE … RETURNING id, name through psql (the floor)
//   against the spawned `package-scheduler run`, history off and on, default --max-changes.
// - 10,000 due of 1,000,000 rows, end to end: a node script with pg, one connection, that UPDATE
//   and one JSON line per row (bench/floor-update.js) against `run --no-history`.
// The variants alternate; every run starts from the same table (reset and VACUUM, not timed).
// Every process's stdout is a pipe this process drains, as cron's would be.
import { join } from 'node:path';
import { migrate } from '../dist/migrate/migrate.js';
import { timedCommand } from './timed-spawn.js';

const TABLE = 'bench_catchup';
const BIG = Number(process.env.BENCH_CATCHUP_ROWS ?? 1_000_000);
const SMALL = 10_000;
const floorSql = (table) =>
  `UPDATE ${table} SET is_active = true, scheduled = false, updated_at = now()
    WHERE scheduled AND auto_activate AND schedule_date <= current_date RETURNING id, name`;

/**
 * @param {object} b what bench/run.js shares: client, url, results, log, median, ms, timedSpawn
 *   (spawned Node, with lines counted and peak RSS), bin, root
 */
export async function catchupBench({ client, url, results, log, median, timedSpawn, bin, root }) {
  log('catch-up against its floors');
  const runs = Number(process.env.BENCH_CATCHUP_RUNS ?? 3);
  await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await client.query(`CREATE TABLE ${TABLE} (id serial PRIMARY KEY, name text NOT NULL, is_active boolean DEFAULT false,
    scheduled boolean DEFAULT false, schedule_date date, schedule_time time, auto_activate boolean DEFAULT false,
    auto_deactivate boolean DEFAULT false, valid_until date, updated_at timestamptz)`);
  await client.query(`INSERT INTO ${TABLE} (name, auto_activate, schedule_date, schedule_time)
    SELECT 'package ' || g, true, date '2026-01-01', time '09:00' FROM generate_series(1, $1::int) g`, [BIG]);
  // With the history tables: run (history on) records an event per change.
  await migrate(client, { table: { name: TABLE }, lockTimeoutMs: 5000, history: true }, { debug() {}, info() {}, warn() {} });
  const due = async (n) => {
    await client.query(`TRUNCATE package_scheduler_events`);
    await client.query(`UPDATE ${TABLE} SET is_active = false, scheduled = (id <= $1), updated_at = NULL WHERE is_active OR scheduled <> (id <= $1)`, [n]);
    await client.query(`VACUUM ANALYZE ${TABLE}`);
  };
  const env = { DATABASE_URL: url, SCHEDULER_TIMEZONE: 'UTC' };
  const changed = async () => Number((await client.query(`SELECT count(*) FROM ${TABLE} WHERE is_active AND NOT scheduled`)).rows[0].count);

  /** One measured variant: a label, how to run it once, what it must have changed. */
  const measure = async (n, variants, count) => {
    const times = variants.map(() => []);
    const extra = variants.map(() => ({}));
    for (let i = 0; i < 1 + count; i++) {
      for (const [v, variant] of variants.entries()) {
        await due(n);
        const r = await variant.run();
        const made = await changed();
        if (made !== n) throw new Error(`${variant.label}: ${made} rows changed, expected ${n}`);
        if (r.lines !== undefined && r.lines < n) throw new Error(`${variant.label}: ${r.lines} log lines for ${n} changes`);
        if (i === 0) continue; // the warm-up
        times[v].push(r.ms);
        extra[v].rss = Math.max(extra[v].rss ?? 0, r.rss ?? 0);
        extra[v].transactions = r.transactions ?? extra[v].transactions;
      }
    }
    return variants.map((variant, v) => ({ label: variant.label, median: median(times[v]), ...extra[v] }));
  };
  const ours = (args) => async () => {
    let tail = '';
    const r = await timedSpawn([bin, 'run', '--table', TABLE, '--statement-timeout', '600000', ...args], env, { countLines: true, onChunk: (d) => (tail = (tail + d).slice(-4096)) });
    const completed = tail.trimEnd().split('\n').pop();
    return { ...r, transactions: JSON.parse(completed).transactions };
  };

  log(`  ${BIG.toLocaleString('en')} due, ${runs} runs each`);
  // psql must be on PATH.
  const psql = { label: 'psql', run: () => timedCommand('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', floorSql(TABLE)], { env: process.env }) };
  const [floorBig, noHistory, history] = await measure(BIG, [
    psql,
    { label: 'run --no-history', run: ours(['--no-history']) },
    { label: 'run', run: ours([]) },
  ], runs);
  log(`  ${SMALL.toLocaleString('en')} due of ${BIG.toLocaleString('en')}, ${runs * 3} runs each`);
  const [floorSmall, small] = await measure(SMALL, [
    { label: 'node floor', run: () => timedSpawn([join(root, 'bench/floor-update.js')], { ...env, BENCH_TABLE: TABLE }, { countLines: true }) },
    { label: 'run --no-history', run: ours(['--no-history']) },
  ], runs * 3);

  const s = (x) => `${(x / 1000).toFixed(2)} s`;
  const ratio = (a, b) => a.median / b.median;
  const rows = [
    [`${BIG.toLocaleString('en')} due, history off (${noHistory.transactions} transactions)`, `${s(floorBig.median)} (psql)`, s(noHistory.median), `${ratio(noHistory, floorBig).toFixed(2)}×`, '≤ 1.5×', `${(noHistory.rss / 2 ** 20).toFixed(0)} MB`],
    [`${BIG.toLocaleString('en')} due, history on (${history.transactions} transactions)`, `${s(floorBig.median)} (psql)`, s(history.median), `${ratio(history, floorBig).toFixed(2)}×`, '≤ 2×', `${(history.rss / 2 ** 20).toFixed(0)} MB`],
    [`${SMALL.toLocaleString('en')} due of ${BIG.toLocaleString('en')}, end to end, history off`, `${s(floorSmall.median)} (node script)`, s(small.median), `${ratio(small, floorSmall).toFixed(2)}×`, '≤ 1.4×', `${(small.rss / 2 ** 20).toFixed(0)} MB`],
  ];
  results.checks.push(
    { name: `${BIG.toLocaleString('en')} due, history off: ≤ 1.5× the bare UPDATE through psql`, ok: ratio(noHistory, floorBig) <= 1.5, detail: `${ratio(noHistory, floorBig).toFixed(2)}×` },
    { name: `${BIG.toLocaleString('en')} due, history on: ≤ 2× the bare UPDATE through psql`, ok: ratio(history, floorBig) <= 2, detail: `${ratio(history, floorBig).toFixed(2)}×` },
    { name: `${SMALL.toLocaleString('en')} due end to end: ≤ 1.4× the node floor script`, ok: ratio(small, floorSmall) <= 1.4, detail: `${ratio(small, floorSmall).toFixed(2)}×` },
    { name: `${BIG.toLocaleString('en')} due: peak RSS ≤ 150 MB`, ok: Math.max(noHistory.rss, history.rss) <= 150 * 2 ** 20, detail: `${(Math.max(noHistory.rss, history.rss) / 2 ** 20).toFixed(0)} MB` },
  );
  results.sections.push({
    title: `Catch-up against its floors (one log line per change, stdout a drained pipe; alternating, median of ${runs} (${runs * 3} for 10,000) after a warm-up; default --max-changes)`,
    header: ['work', 'floor', 'package-scheduler', 'ratio', 'target', 'peak RSS'],
    rows,
  });
  await client.query(`DROP TABLE ${TABLE}`);
}
