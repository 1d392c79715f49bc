// BENCH_ONLY=tenants: many tenants in one run (docs/tenants.md). Schema-per-tenant tables
// copied from one migrated template (LIKE … INCLUDING ALL: the same partial indexes), then
//  - nothing due, 1,000 tenants: one run over 'tenant_*.special_packages' against 20 one-table
//    runs scaled to 1,000 (what one cron line per tenant costs);
//  - nothing due, 10,000 tenants (BENCH_TENANTS_MAX, default 10000): the per-table cost;
//  - 100 tenants × 1,000 due rows: one run's peak RSS, and each table's tick time against the
//    same tick in a one-table run.
import { timedSpawn } from './timed-spawn.js';

const BATCH = 50;

/** Tenants `${prefix}0000` … as copies of `template` (rows and indexes), BATCH per transaction. */
async function createTenants(client, prefix, from, to, template) {
  for (let start = from; start < to; start += BATCH) {
    const sql = [];
    for (let i = start; i < Math.min(to, start + BATCH); i++) {
      const schema = `${prefix}${String(i).padStart(5, '0')}`;
      sql.push(
        `CREATE SCHEMA ${schema}`,
        `CREATE TABLE ${schema}.special_packages (LIKE public.${template} INCLUDING ALL)`,
        `INSERT INTO ${schema}.special_packages SELECT * FROM public.${template}`,
      );
    }
    await client.query(`BEGIN; ${sql.join('; ')}; COMMIT`);
  }
}

/** A spawned CLI: wall time, peak RSS, and its tick.completed / run.completed lines. */
async function spawnRun(ctx, args, env) {
  let rest = '';
  const ticks = [];
  let summary;
  const { ms, rss } = await timedSpawn(ctx, [ctx.bin, ...args], env, (d) => {
    const lines = (rest + d.toString('utf8')).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (line.includes('"tick.completed"')) ticks.push(JSON.parse(line));
      else if (line.includes('"run.completed"')) summary = JSON.parse(line);
    }
  });
  return { ms, rss, ticks, summary };
}

export async function tenantsBench(ctx) {
  const { client, url, log, median, ms, results, createPackages, withIndexes } = ctx;
  const runs = Math.max(3, Math.min(ctx.RUNS, 5));
  const max = Number(process.env.BENCH_TENANTS_MAX ?? 10_000);
  const env = { DATABASE_URL: url, SCHEDULER_TIMEZONE: 'Europe/Berlin' };
  log('tenants: template');
  await createPackages(client, 'bench_tenant_template', 1000);
  await withIndexes(client, 'bench_tenant_template');
  log('tenants: 1,000 schemas × 1,000 rows');
  await createTenants(client, 'tenant_', 0, 1000, 'bench_tenant_template');
  await client.query('ANALYZE');

  // A and B alternate: one run over every tenant, then 20 one-table runs (different tenants).
  const many = [];
  const single = [];
  for (let i = 0; i < 1 + runs; i++) {
    const a = await spawnRun(ctx, ['run', '--table', 'tenant_*.special_packages'], env);
    if (a.summary?.tables !== 1000 || a.summary.completed !== 1000) throw new Error(`expected 1,000 completed tables, got ${JSON.stringify(a.summary)}`);
    const batch = [];
    for (let j = 0; j < 20; j++) batch.push((await spawnRun(ctx, ['run', '--table', `tenant_${String(i * 20 + j).padStart(5, '0')}.special_packages`], env)).ms);
    if (i > 0) {
      many.push(a.ms);
      single.push(...batch);
    }
  }
  const manyMs = median(many);
  const singleMs = median(single);
  const ratio = (singleMs * 1000) / manyMs;
  results.checks.push({ name: '1,000 tenants, nothing due: one run ≤ 3 s wall', ok: manyMs <= 3000, detail: ms(manyMs) });
  results.checks.push({ name: '1,000 tenants: one run ≥ 50× faster than one run per tenant', ok: ratio >= 50, detail: `${ratio.toFixed(0)}×` });
  const rows = [
    ['1,000', "one run, `--table 'tenant_*.special_packages'` (--concurrency 4)", ms(manyMs), `${(manyMs / 1000).toFixed(2)} ms`, '1.00×'],
    ['1,000', 'one-table runs, median of 20 per round, × 1,000', `${ms(singleMs * 1000)} (${ms(singleMs)} each)`, ms(singleMs), `${ratio.toFixed(0)}× slower`],
  ];

  if (max > 1000) {
    log(`tenants: ${max.toLocaleString('en')} schemas`);
    await createTenants(client, 'tenant_', 1000, max, 'bench_tenant_template');
    await client.query('ANALYZE');
    const big = [];
    for (let i = 0; i < 1 + Math.min(runs, 3); i++) {
      const r = await spawnRun(ctx, ['run', '--table', 'tenant_*.special_packages'], env);
      if (r.summary?.completed !== max) throw new Error(`expected ${max} completed tables, got ${JSON.stringify(r.summary)}`);
      if (i > 0) big.push(r.ms);
    }
    const bigMs = median(big);
    const growth = bigMs / max / (manyMs / 1000);
    results.checks.push({ name: `per-table cost ${max.toLocaleString('en')} / 1,000 tenants ≤ 1.3`, ok: growth <= 1.3, detail: `${growth.toFixed(2)}` });
    rows.push([max.toLocaleString('en'), 'one run, the same pattern', ms(bigMs), `${(bigMs / max).toFixed(2)} ms`, `per table ${growth.toFixed(2)}× the 1,000 figure`]);
  }
  results.sections.push({
    title: `Many tenants, nothing due (schema-per-tenant, 1,000 rows each, indexes migrated; spawned CLI, wall, median of ${runs})`,
    header: ['tenants', 'what', 'wall', 'per table', 'ratio'],
    rows,
  });

  log('tenants: 100 × 1,000 due rows');
  await createTenants(client, 'due_', 0, 100, 'bench_tenant_template');
  const makeDue = () =>
    client.query(`DO $$ DECLARE s text; BEGIN
      FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'due\\_%' LOOP
        EXECUTE format('UPDATE %I.special_packages SET is_active = false, scheduled = true, auto_activate = true, schedule_date = current_date - 1, schedule_time = NULL, valid_until = NULL WHERE id IN (SELECT id FROM %I.special_packages ORDER BY id LIMIT 1000)', s, s);
      END LOOP; END $$`);
  const manyDue = [];
  const oneDue = [];
  let peak = 0;
  for (let i = 0; i < 1 + runs; i++) {
    await makeDue();
    await client.query('VACUUM ANALYZE');
    const a = await spawnRun(ctx, ['run', '--table', 'due_*.special_packages', '--no-history'], env);
    if (a.summary?.activated !== 100_000) throw new Error(`expected 100,000 activations, got ${JSON.stringify(a.summary)}`);
    await makeDue();
    await client.query('VACUUM ANALYZE');
    const b = await spawnRun(ctx, ['run', '--table', 'due_00000.special_packages', '--no-history'], env);
    if (i > 0) {
      manyDue.push({ ms: a.ms, tick: median(a.ticks.map((t) => t.durationMs)) });
      oneDue.push(b.ticks[0].durationMs);
      peak = Math.max(peak, a.rss / 1024 / 1024);
    }
  }
  const perTable = median(manyDue.map((r) => r.tick));
  const one = median(oneDue);
  results.checks.push({ name: '100 tenants × 1,000 due rows: peak RSS ≤ 150 MB', ok: peak <= 150, detail: `${peak.toFixed(0)} MB` });
  results.checks.push({ name: '100 tenants × 1,000 due rows: per-table tick time ≤ 1.5× the one-table figure', ok: perTable / one <= 1.5, detail: `${(perTable / one).toFixed(2)}×` });
  results.sections.push({
    title: `100 tenants × 1,000 due rows (spawned CLI, --no-history, one log line per change; median of ${runs}, peak RSS the max)`,
    header: ['run', 'wall', 'tick time per table (tick.completed durationMs)', 'peak RSS'],
    rows: [
      ["one run, `--table 'due_*.special_packages'` (--concurrency 4, 100,000 changes)", ms(median(manyDue.map((r) => r.ms))), `${ms(perTable)} (${(perTable / one).toFixed(2)}× the one-table figure)`, `${peak.toFixed(0)} MB`],
      ['one-table run of one of them (1,000 changes)', '', ms(one), ''],
    ],
  });
}
