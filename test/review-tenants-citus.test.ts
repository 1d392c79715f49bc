// Set-ups a review of many tenants and Citus found breaking the promise: no password over a
// pool, a tenant dropped mid-run, metrics in an outage, schema-wide patterns, char(n)
// distribution, distributed zone tables, migrate on a worker, lock timeouts on the shards.
// Plain-PostgreSQL tests use the per-file database; the Citus ones need TEST_CITUS_URL.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addUpdateTrigger, createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { duePackage } from './support/fixtures.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC', ...extra });

async function createTenant(schema: string, due = 1): Promise<string> {
  await db.client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const table = await createPackagesTable(db.client, { table: `${schema}.special_packages` });
  for (let i = 0; i < due; i++) await insertPackage(db.client, duePackage(), table);
  return table;
}

describe('review: many tenants (issue 20)', () => {
  beforeEach(async () => {
    const { rows } = await db.client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rvt%'`);
    for (const { nspname } of rows) await db.client.query(`DROP SCHEMA ${nspname} CASCADE`);
  });

  // D3. The pool path does not watch for the server's password request (withConnection does):
  // a missing password is 75 instead of 78, and the half-open SASL handshake is never closed,
  // so the process only ends when the server gives up (authentication_timeout, 60 s default).
  it('a pattern run with no password set: 78 at once, as one table gets (observed: 75 after 60 s)', async () => {
    for (const t of ['rvt_a', 'rvt_b']) await createTenant(t);
    const noPassword = new URL(db.url);
    expect(noPassword.password, 'the test server must ask for a password').not.toBe('');
    noPassword.password = '';
    const single = await runCli(['run', '--table', 'rvt_a.special_packages'], { env: env({ DATABASE_URL: noPassword.toString() }) });
    expect(single.code).toBe(78); // the one-table path: correct
    const started = Date.now();
    const many = await runCli(['run', '--table', 'rvt_*.special_packages'], { env: env({ DATABASE_URL: noPassword.toString() }), timeoutMs: 90_000 });
    const took = Date.now() - started;
    expect({ code: many.code, endedWithin10s: took < 10_000 }).toEqual({ code: 78, endedWithin10s: true });
  }, 100_000);

  // D4. A tenant dropped (offboarded) after the run resolved the pattern fails as a missing
  // table: exit 78 ("set --table / SCHEDULER_TABLE"), which the sharded manifest's FailIndex
  // rule turns into a failed Job, for a run in which nothing was wrong.
  it('a pattern-matched tenant dropped between resolution and its tick is not a configuration failure', async () => {
    for (const t of ['rvt_a', 'rvt_b', 'rvt_c']) await createTenant(t);
    await addUpdateTrigger(db.client, 'rvt_slow', 'PERFORM pg_sleep(1.5);', 'rvt_a.special_packages');
    const running = runCli(['run', '--table', 'rvt_*.special_packages', '--concurrency', '1'], { env: env() });
    // While rvt_a's tick sleeps in its trigger, rvt_b is offboarded.
    await waitUntil(async () => (await db.client.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name = 'package-scheduler'`)).rowCount === 1, { what: 'the first tenant to sleep in its trigger', timeoutMs: 10_000 });
    await db.client.query('DROP SCHEMA rvt_b CASCADE');
    const r = await running;
    expect(r.events('tick.completed').map((l) => l.table).sort()).toEqual(['rvt_a.special_packages', 'rvt_c.special_packages']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' }); // observed: 78, "tenant rvt_b … does not exist … set --table"
  });

  // D6. For one table a failure before the table is resolved keeps last_success from the previous
  // file (docs/monitoring.md). Over many tables a run that cannot resolve (database down) writes a
  // file with no per-table series at all: the documented PackageSchedulerNotSucceeding alert
  // (time() - package_scheduler_last_success_timestamp_seconds > 300) goes silent in an outage.
  it('--metrics-file: a run that cannot reach the database keeps every table’s last success', async () => {
    for (const t of ['rvt_a', 'rvt_b']) await createTenant(t);
    const file = join(mkdtempSync(join(tmpdir(), 'rvt-')), 'scheduler.prom');
    const ok = await runCli(['run', '--table', 'rvt_*.special_packages', '--metrics-file', file], { env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    const before = readFileSync(file, 'utf8').match(/^package_scheduler_last_success_timestamp_seconds\{.*$/gm);
    expect(before).toHaveLength(2);
    const down = await runCli(['run', '--table', 'rvt_*.special_packages', '--metrics-file', file, '--connect-timeout', '1000'], {
      env: env({ DATABASE_URL: 'postgres://postgres:x@127.0.0.1:1/nowhere' }),
    });
    expect(down.code).toBe(75);
    const after = readFileSync(file, 'utf8').match(/^package_scheduler_last_success_timestamp_seconds\{.*$/gm);
    expect(after).toEqual(before); // observed: null (the series are gone)
  });

  // D7 (low). A pattern over a tenant's schema also matches the scheduler's own history tables,
  // which then fail every run with 78 (a missing is_active column…).
  it('a schema-wide pattern does not tick the scheduler’s own history tables', async () => {
    await createTenant('rvt_a');
    expect((await runCli(['migrate', '--table', 'rvt_a.special_packages'], { env: env() })).code).toBe(0);
    const r = await runCli(['run', '--table', 'rvt_a.*'], { env: env() });
    expect(r.events('tick.failed').map((l) => l.table)).toEqual([]); // observed: rvt_a.package_scheduler_events, rvt_a.package_scheduler_state
    expect(r.code).toBe(0);
  });

});

const CITUS_URL = process.env.TEST_CITUS_URL;

describe.skipIf(!CITUS_URL)(`review: Citus (issue 21)${CITUS_URL ? '' : ' (skipped: TEST_CITUS_URL is not set)'}`, () => {
  let client: pg.Client;
  const schemas: string[] = [];
  const cenv = (extra: Record<string, string> = {}) => ({ DATABASE_URL: CITUS_URL!, SCHEDULER_TIMEZONE: 'UTC', ...extra });

  beforeAll(async () => {
    client = new pg.Client({ connectionString: CITUS_URL });
    await client.connect();
  });
  afterAll(async () => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await client?.end();
  });

  async function newSchema(): Promise<string> {
    const schema = `rvc_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    await client.query(`CREATE SCHEMA ${schema}`);
    return schema;
  }

  // D1 (lost changes). The shard scope casts the distribution values to
  // `format_type(atttypid, NULL)[]`, which for char(n) is `character[]`, i.e. char(1)[]:
  // 'S1' becomes 'S', the per-shard statement matches nothing, and the tick reports
  // activated: 0 with exit 0, every minute, forever.
  it('a char(n) distribution column: every due row is activated', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`CREATE TABLE ${table} (salon char(8) NOT NULL, id int NOT NULL, is_active boolean NOT NULL DEFAULT false, valid_until date, PRIMARY KEY (salon, id));
                        SELECT create_distributed_table('${table}', 'salon')`);
    const migrated = await runCli(['migrate', '--table', table], { env: cenv() });
    expect(migrated.code, migrated.stderr).toBe(0);
    await client.query(`INSERT INTO ${table} (salon, id, scheduled, auto_activate, schedule_date)
                        SELECT 'S' || s, 1, true, true, (now() AT TIME ZONE 'UTC')::date - 1 FROM generate_series(1, 20) s`);
    const r = await runCli(['run', '--table', table], { env: cenv() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 20 }); // observed: activated 0
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE is_active`);
    expect(rows[0]!.n).toBe(20); // observed: 0
  });

  // D2. Per-row zones through a *distributed* salons table colocated with the packages (Citus's
  // multi-tenant model): check and --dry-run say all is well (16 due, exit 0), every real tick
  // fails 70 "could not run distributed query with FOR UPDATE/SHARE commands", and status
  // blames "its row was locked by another transaction".
  it('per-row zones through a colocated distributed zone table: the tick works, or check refuses it', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`
      CREATE TABLE ${schema}.salons (id int PRIMARY KEY, time_zone text);
      SELECT create_distributed_table('${schema}.salons', 'id');
      INSERT INTO ${schema}.salons SELECT g, 'Europe/Berlin' FROM generate_series(1, 8) g;
      CREATE TABLE ${table} (salon_id int NOT NULL REFERENCES ${schema}.salons (id), id int NOT NULL, name text,
        is_active boolean NOT NULL DEFAULT false, valid_until date, updated_at timestamptz, PRIMARY KEY (salon_id, id));
      SELECT create_distributed_table('${table}', 'salon_id', colocate_with => '${schema}.salons');`);
    expect((await runCli(['migrate', '--table', table], { env: cenv() })).code).toBe(0);
    await client.query(`INSERT INTO ${table} (salon_id, id, scheduled, auto_activate, schedule_date)
                        SELECT s, 1, true, true, (now() AT TIME ZONE 'UTC')::date - 2 FROM generate_series(1, 8) s`);
    const zone = ['--timezone-column', `${schema}.salons.time_zone`];
    const check = await runCli(['check', '--table', table, ...zone], { env: cenv() });
    const run = await runCli(['run', '--table', table, ...zone], { env: cenv() });
    // Either it works, or check says it will not (observed: check 0, run 70 0A000).
    expect({ check: check.code === 0, run: run.code }).toEqual(check.code === 0 ? { check: true, run: 0 } : { check: false, run: run.code });
  });

  // D9 (low). migrate connected to a worker: exit 70 "operation is not allowed on this node" (an
  // unexpected failure), where run says 78 "connect to the coordinator".
  it('migrate connected to a worker: 78 with one line saying to connect to the coordinator', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`CREATE TABLE ${table} (salon_id int NOT NULL, id int NOT NULL, is_active boolean NOT NULL DEFAULT false, valid_until date, PRIMARY KEY (salon_id, id));
                        SELECT create_distributed_table('${table}', 'salon_id')`);
    const { rows } = await client.query<{ nodeport: number }>(`SELECT nodeport FROM pg_dist_node WHERE groupid > 0 ORDER BY nodeport LIMIT 1`);
    const worker = new URL(CITUS_URL!);
    worker.port = String(rows[0]!.nodeport);
    const r = await runCli(['migrate', '--table', table], { env: cenv({ DATABASE_URL: worker.toString() }) });
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('coordinator')]); // observed: "operation is not allowed on this node"
    expect(r.code).toBe(78); // observed: 70
  });

  // D5. lock_timeout is SET LOCAL on the coordinator only (citus.propagate_set_commands is 'none'):
  // a lock held on a shard, on its worker, makes the tick wait for the whole statement_timeout
  // (observed: 15 s and 57014) instead of --lock-timeout (1 s, 55P03), holding every other
  // shard's row locks meanwhile.
  it('--lock-timeout holds for a lock on a worker’s shard', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`CREATE TABLE ${table} (salon_id int NOT NULL, id int NOT NULL, is_active boolean NOT NULL DEFAULT false, valid_until date, PRIMARY KEY (salon_id, id));
                        SELECT create_distributed_table('${table}', 'salon_id')`);
    expect((await runCli(['migrate', '--table', table, '--no-history'], { env: cenv() })).code).toBe(0);
    await client.query(`INSERT INTO ${table} (salon_id, id, scheduled, auto_activate, schedule_date) SELECT s, 1, true, true, current_date - 2 FROM generate_series(1, 8) s`);
    const { rows } = await client.query<{ shardid: string; nodeport: number }>(
      `SELECT s.shardid::text, p.nodeport FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
        WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, 1)`,
      [table],
    );
    const worker = new URL(CITUS_URL!);
    worker.port = String(rows[0]!.nodeport);
    const holder = new pg.Client({ connectionString: worker.toString() });
    await holder.connect();
    try {
      await holder.query('SET citus.enable_manual_changes_to_shards = on');
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${table}_${rows[0]!.shardid} IN ACCESS EXCLUSIVE MODE`);
      const started = Date.now();
      const r = await runCli(['run', '--table', table, '--lock-timeout', '1000', '--statement-timeout', '15000'], { env: cenv(), timeoutMs: 30_000 });
      const took = Date.now() - started;
      expect(r.code).toBe(75);
      expect({ code: r.events('tick.failed')[0]?.code, within5s: took < 5000 }).toEqual({ code: '55P03', within5s: true });
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  }, 40_000);
});
