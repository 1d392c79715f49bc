// node bench/breakdown.js > /dev/null: where a big catch-up's time goes (docs/performance.md).
// One table of BREAKDOWN_ROWS (default 1,000,000) due activations, no history; every
// measurement runs in a transaction that is rolled back, then VACUUM, so each sees the same
// table. A and B alternate, BREAKDOWN_RUNS (default 3) times each; medians are printed on
// stderr (stdout takes the log lines, so send it to /dev/null as cron would a file).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { startPostgres } from '../scripts/postgres-server.js';
import { migrate } from '../dist/migrate/migrate.js';
import { resolvePackagesTable } from '../dist/table/packages-table.js';
import { applyTickStatement } from '../dist/tick/tick-sql.js';
import { readPages } from '../dist/db/query.js';
import { ChangeSpool } from '../dist/tick/change-spool.js';
import { ChangeCollector } from '../dist/tick/result.js';
import { logChanges } from '../dist/tick/log-lines.js';
import { makeLogger } from '../dist/cli/log.js';

const ROWS = Number(process.env.BREAKDOWN_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BREAKDOWN_RUNS ?? 3);
const say = (...a) => console.error('[breakdown]', ...a);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const FLOOR = `UPDATE special_packages SET is_active = true, scheduled = false, updated_at = now()
 WHERE scheduled AND auto_activate AND schedule_date <= current_date RETURNING id, name`;

const server = await startPostgres(process.env, 'BENCH_DATABASE_URL');
const admin = new pg.Client(server.adminUrl);
await admin.connect();
const dbName = `ps_breakdown_${randomBytes(4).toString('hex')}`;
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(server.adminUrl);
url.pathname = `/${dbName}`;
const client = new pg.Client(url.toString());
await client.connect();
try {
  await client.query(`CREATE TABLE special_packages (id serial PRIMARY KEY, name text NOT NULL, is_active boolean DEFAULT false,
    scheduled boolean DEFAULT false, schedule_date date, schedule_time time, auto_activate boolean DEFAULT false,
    auto_deactivate boolean DEFAULT false, valid_until date, updated_at timestamptz)`);
  await client.query(`INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
    SELECT 'package ' || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, $1::int) g`, [ROWS]);
  await migrate(client, { table: { name: 'special_packages' }, lockTimeoutMs: 5000, history: false }, { debug() {}, info() {}, warn() {} });
  await client.query('VACUUM ANALYZE special_packages');
  const table = await resolvePackagesTable(client, { name: 'special_packages' }, {});
  const { rows: [{ instant }] } = await client.query(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS instant`);
  const tick = (maxRows) => applyTickStatement(table, 'date', { instant, timezone: 'UTC' }, undefined, maxRows);
  const rolledBack = async (fn) => {
    await client.query('BEGIN');
    const started = performance.now();
    let extra;
    try {
      extra = await fn();
    } finally {
      var took = performance.now() - started;
      await client.query('ROLLBACK');
      await client.query('VACUUM special_packages');
    }
    return { ms: took, extra };
  };
  const explain = async (text, values) =>
    (await rolledBack(async () => (await client.query(`EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) ${text}`, values)).rows.map((r) => r['QUERY PLAN']).join('\n'))).extra;
  const psql = (sql) => {
    const started = performance.now();
    const r = spawnSync('psql', [url.toString(), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'BEGIN', '-c', sql, '-c', 'ROLLBACK'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(String(r.stderr));
    const took = performance.now() - started;
    spawnSync('psql', [url.toString(), '-X', '-q', '-c', 'VACUUM special_packages']);
    return took;
  };
  const inline = (s) => {
    // psql takes no parameters: the tick statement with its values written in.
    let text = s.text;
    s.values.forEach((v, i) => (text = text.replaceAll(new RegExp(`\\$${i + 1}(?!\\d)`, 'g'), `'${Array.isArray(v) ? `{${v.join(',')}}` : v}'`)));
    return text;
  };

  const ONLY = process.env.BREAKDOWN_ONLY?.split(',');
  const wanted = (part) => !ONLY || ONLY.includes(part);
  const execution = async (text, values) => Number(/Execution Time: ([\d.]+)/.exec(await explain(text, values))[1]);
  if (wanted('parts')) {
    // The tick statement taken apart, database side: each variant's EXPLAIN ANALYZE execution time.
    const full = tick();
    const dueStart = full.text.indexOf('WITH due AS (') + 'WITH due AS ('.length;
    const dueSql = full.text.slice(dueStart, full.text.indexOf('\n), decisions AS ('));
    const unsorted = full.text.replace(/\n ORDER BY a\.kind, c\.sort_1$/, '');
    const variants = {
      floor: [FLOOR, []],
      dueNoLocks: [`SELECT count(*) FROM (${dueSql.replace(/FOR NO KEY UPDATE OF p SKIP LOCKED/, '')}) AS d`, full.values],
      dueLocked: [`SELECT count(*) FROM (${dueSql}) AS d`, full.values],
      // The UPDATE with its join, RETURNING only the key; then with the report columns but no record text.
      updateOnly: [`${full.text.slice(0, full.text.indexOf('RETURNING '))}RETURNING p.id\n)\nSELECT count(*) FROM changed`, full.values],
      updateReport: [`${full.text.slice(0, full.text.indexOf('\nSELECT a.kind::text'))}\nSELECT count(*) FROM changed`, full.values],
      tickUnsorted: [unsorted, full.values],
      tick: [full.text, full.values],
    };
    if (unsorted === full.text) throw new Error('the ORDER BY was not found');
    const p = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const [k, [text, values]] of Object.entries(variants)) p[k].push(await execution(text, values));
      say(`parts run ${i + 1}: ${Object.entries(p).map(([k, v]) => `${k} ${v.at(-1).toFixed(0)} ms`).join(', ')}`);
    }
    say('parts medians: ' + Object.entries(p).map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`).join(', '));
  }
  if (wanted('cli')) {
    // End to end through the binary (history off, lines to /dev/null): the default batches against one transaction.
    const reset = async () => {
      await client.query('UPDATE special_packages SET scheduled = true, is_active = false, updated_at = NULL');
      await client.query('VACUUM special_packages');
    };
    const cli = (args) => {
      const started = performance.now();
      const r = spawnSync(process.execPath, [new URL('../bin/package-scheduler.js', import.meta.url).pathname, 'run', '--timezone', 'UTC', '--no-history', '--statement-timeout', '600000', ...args],
        { env: { PATH: process.env.PATH, DATABASE_URL: url.toString() }, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(String(r.stderr));
      return performance.now() - started;
    };
    const c = { batched: [], oneTransaction: [] };
    for (let i = 0; i < RUNS; i++) {
      await reset();
      c.batched.push(cli([]));
      await reset();
      c.oneTransaction.push(cli(['--max-changes', String(ROWS)]));
      say(`cli run ${i + 1}: batched (100000) ${c.batched.at(-1).toFixed(0)} ms, one transaction ${c.oneTransaction.at(-1).toFixed(0)} ms`);
    }
    say(`cli medians: batched ${median(c.batched).toFixed(0)} ms, one transaction ${median(c.oneTransaction).toFixed(0)} ms`);
  }
  if (wanted('batches')) {
    // One batched run with its lines kept: when each batch's first line was written (after its COMMIT).
    await client.query('UPDATE special_packages SET scheduled = true, is_active = false, updated_at = NULL');
    await client.query('VACUUM special_packages');
    const started = Date.now();
    const r = spawnSync(process.execPath, [new URL('../bin/package-scheduler.js', import.meta.url).pathname, 'run', '--timezone', 'UTC', '--no-history'],
      { env: { PATH: process.env.PATH, DATABASE_URL: url.toString() }, maxBuffer: 1 << 30, encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const changes = lines.filter((l) => l.event === 'package.activated');
    const firsts = [];
    for (let i = 0; i < changes.length; i += 100_000) firsts.push(Date.parse(changes[i].time) - started);
    const done = lines.find((l) => l.event === 'tick.completed');
    say(`batches: first line of each batch at ${firsts.map((t) => `${(t / 1000).toFixed(1)} s`).join(', ')}; tick.completed ${JSON.stringify({ transactions: done.transactions, durationMs: done.durationMs })}`);
  }
  if (wanted('split')) await split();
  async function split() {
  say(`rows ${ROWS}, runs ${RUNS}, load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  say('EXPLAIN floor:\n' + (await explain(FLOOR, [])));
  say('EXPLAIN tick (one batch):\n' + (await explain(tick().text, tick().values)));
  say('EXPLAIN tick (LIMIT 100000):\n' + (await explain(tick(100_000).text, tick(100_000).values)));

  const logger = await makeLogger('info');
  const t = { floorPsql: [], tickPsql: [], readOnly: [], readSpool: [], log: [] };
  for (let i = 0; i < RUNS; i++) {
    t.floorPsql.push(psql(FLOOR));
    t.tickPsql.push(psql(inline(tick())));
    // The portal reads alone (rows counted, nothing kept), then with the collector and spool.
    t.readOnly.push((await rolledBack(() => readPages(client, tick(), 2000, () => {}))).ms);
    const spool = new ChangeSpool({ directory: tmpdir() });
    const collector = new ChangeCollector({ runId: 'x', dryRun: false, table: 'special_packages', timezone: 'UTC', now: instant }, (r) => spool.append(r));
    t.readSpool.push((await rolledBack(() => readPages(client, tick(), 2000, (rows) => collector.addPage(rows)))).ms);
    const started = performance.now();
    await logChanges(collector.result, spool, logger);
    logger.flush();
    t.log.push(performance.now() - started);
    spool.close();
    say(`run ${i + 1}: ${Object.entries(t).map(([k, v]) => `${k} ${v.at(-1).toFixed(0)} ms`).join(', ')}`);
  }
  say('medians: ' + Object.entries(t).map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`).join(', '));
  }
} finally {
  await client.end();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await server.stop();
}
