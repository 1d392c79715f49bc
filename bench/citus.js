// BENCH_ONLY=citus (with CITUS_URL, the lab's coordinator: . /tmp/citus-lab.env): the tick on a
// table distributed by salon_id over 8 shards against the same table on the plain server the
// rest of the benchmark uses. In-process runTick with history, times of the whole tick
// (every statement and round trip), medians; statements counted through a recording client.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runTick } from '../dist/tick/tick.js';
import { migrate } from '../dist/migrate/migrate.js';

const silent = { debug() {}, info() {}, warn() {} };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function build(client, schema, rows, distributed) {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.special_packages (
      salon_id int NOT NULL, id bigint NOT NULL, name text NOT NULL, description text,
      is_active boolean NOT NULL DEFAULT false, valid_until date, updated_at timestamptz, PRIMARY KEY (salon_id, id))`);
  if (distributed) await client.query(`SELECT create_distributed_table('${schema}.special_packages', 'salon_id', shard_count => 8)`);
  await migrate(client, { table: { schema, name: 'special_packages' }, lockTimeoutMs: 60_000 }, silent);
  // The size section's mix: nothing due; some scheduled for the coming months, many active until later.
  await client.query(
    `INSERT INTO ${schema}.special_packages (salon_id, id, name, description, is_active, scheduled, auto_activate, auto_deactivate, schedule_date, schedule_time, valid_until)
     SELECT g % 1000, g, 'package ' || g, repeat('x', 40 + g % 60), k >= 70 AND k < 95, k >= 60 AND k < 70, k >= 60 AND k < 68, k >= 62 AND k < 90,
            CASE WHEN k >= 55 AND k < 70 THEN current_date + 1 + (g % 180) END,
            CASE WHEN k >= 55 AND k < 70 THEN time '09:00' + make_interval(mins => (g % 48) * 15) END,
            CASE WHEN k >= 60 AND k < 95 THEN current_date + 1 + (g % 365) END
       FROM generate_series(1, $1::int) AS g, LATERAL (SELECT ((g::bigint * 7919) % 100)::int AS k) AS mix`,
    [rows],
  );
  await client.query(`VACUUM ANALYZE ${schema}.special_packages`);
}

async function makeDue(client, schema, due) {
  await client.query(`TRUNCATE ${schema}.package_scheduler_events`);
  await client.query(`UPDATE ${schema}.special_packages SET scheduled = true, auto_activate = true, schedule_date = date '2026-01-01', schedule_time = time '09:00',
                             is_active = false, valid_until = NULL WHERE id <= $1`, [due / 2]);
  await client.query(`UPDATE ${schema}.special_packages SET is_active = true, auto_deactivate = true, valid_until = date '2026-01-01', scheduled = false
                       WHERE id > $1 AND id <= $2`, [due / 2, due]);
}

async function tick(client, schema) {
  const statements = [];
  const rec = { query: (text, values) => (statements.push(text), client.query(text, values)) };
  const started = performance.now();
  const result = await runTick(rec, { table: { schema, name: 'special_packages' }, timezone: 'Europe/Berlin', expiry: 'date', dryRun: false, lockTimeoutMs: 5000, statementTimeoutMs: 600_000 }, silent);
  return { ms: performance.now() - started, statements: statements.length, changed: result.counts.activated + result.counts.deactivated };
}

async function measure(client, schema, runs, before) {
  const times = [];
  let last;
  for (let i = 0; i < runs + 1; i++) {
    if (before) await before();
    last = await tick(client, schema);
    if (i > 0) times.push(last.ms);
  }
  return { ms: median(times), statements: last.statements, changed: last.changed };
}

export async function citusBench(plainClient, citusUrl, results, runs, log) {
  const citus = new pg.Client(citusUrl);
  await citus.connect();
  const big = `bench_citus_${randomBytes(3).toString('hex')}`;
  const small = `${big}_small`;
  try {
    const { rows } = await plainClient.query('SHOW server_version');
    log('citus: building 10,000 and 1,000,000 rows over 8 shards, 1,000,000 on the plain server');
    await build(citus, small, 10_000, true);
    await build(citus, big, 1_000_000, true);
    await build(plainClient, big, 1_000_000, false);
    const noopSmall = await measure(citus, small, runs);
    const noopBig = await measure(citus, big, runs);
    const noopPlain = await measure(plainClient, big, runs);
    const dueCitus = await measure(citus, big, Math.min(runs, 5), () => makeDue(citus, big, 10_000));
    const duePlain = await measure(plainClient, big, Math.min(runs, 5), () => makeDue(plainClient, big, 10_000));
    if (dueCitus.changed !== 10_000 || duePlain.changed !== 10_000) throw new Error(`expected 10,000 changes, got ${dueCitus.changed} and ${duePlain.changed}`);
    const f = (x) => `${x.toFixed(1)} ms`;
    results.sections.push({
      title: `Citus 13.2 (coordinator + 2 workers, PostgreSQL 15, distributed by salon_id over 8 shards) against plain PostgreSQL ${rows[0].server_version}: in-process runTick with history, median`,
      header: ['tick', 'Citus', 'plain PostgreSQL', 'statements (Citus / plain)'],
      rows: [
        ['no-op, 10,000 rows', f(noopSmall.ms), '', `${noopSmall.statements} / `],
        ['no-op, 1,000,000 rows', f(noopBig.ms), f(noopPlain.ms), `${noopBig.statements} / ${noopPlain.statements}`],
        ['10,000 due rows (half activations, half deactivations), 1,000,000 rows', f(dueCitus.ms), f(duePlain.ms), `${dueCitus.statements} / ${duePlain.statements}`],
      ],
    });
    results.checks.push({ name: 'Citus: no-op tick at 1M rows ≤ 2× the 10k-row figure', ok: noopBig.ms <= 2 * noopSmall.ms, detail: `${(noopBig.ms / noopSmall.ms).toFixed(2)}×` });
    results.checks.push({ name: 'Citus: 10,000 due rows ≤ 3× the same tick on plain PostgreSQL', ok: dueCitus.ms <= 3 * duePlain.ms, detail: `${(dueCitus.ms / duePlain.ms).toFixed(2)}×` });
  } finally {
    for (const schema of [big, small]) await citus.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await plainClient.query(`DROP SCHEMA IF EXISTS ${big} CASCADE`).catch(() => {});
    await citus.end();
  }
}
