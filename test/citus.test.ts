// package-scheduler on a real Citus cluster (../shared/citus-lab: a coordinator and two workers).
// TEST_CITUS_URL is the coordinator; each test works in its own schema. Without it these tests
// are skipped, saying why; with REQUIRE_CITUS=1 (CI) a missing TEST_CITUS_URL fails the run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';

const CITUS_URL = process.env.TEST_CITUS_URL;
const SKIP_REASON = 'skipped: TEST_CITUS_URL is not set (a Citus coordinator, e.g. ../shared/citus-lab/setup.sh && . /tmp/citus-lab.env && export TEST_CITUS_URL=$CITUS_URL)';

for (const oid of [1082, 1083, 1114, 1184]) pg.types.setTypeParser(oid, (v: string) => v);

describe.runIf(!CITUS_URL && process.env.REQUIRE_CITUS === '1')('Citus tests required (REQUIRE_CITUS=1)', () => {
  it('has TEST_CITUS_URL', () => {
    expect(CITUS_URL, 'REQUIRE_CITUS=1 but TEST_CITUS_URL is not set: the Citus tests would not run').toBeDefined();
  });
});

describe.skipIf(!CITUS_URL)(`on Citus${CITUS_URL ? '' : ` (${SKIP_REASON})`}`, () => {
  let client: pg.Client;
  const others: pg.Client[] = [];
  const schemas: string[] = [];
  const url = CITUS_URL!;
  const env = () => ({ DATABASE_URL: url, SCHEDULER_TIMEZONE: 'UTC' });

  beforeAll(async () => {
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    for (const other of others) await other.end().catch(() => {});
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await client?.end();
  });

  async function connect(to = url): Promise<pg.Client> {
    const other = new pg.Client({ connectionString: to });
    await other.connect();
    others.push(other);
    return other;
  }

  async function newSchema(options: { distributed?: boolean; name?: string } = {}): Promise<string> {
    const schema = options.name ?? `citus_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    if (options.distributed) {
      await client.query('SET citus.enable_schema_based_sharding = on');
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query('RESET citus.enable_schema_based_sharding');
    } else {
      await client.query(`CREATE SCHEMA ${schema}`);
    }
    return schema;
  }

  /** `<schema>.salons` (reference) and `<schema>.special_packages` distributed by salon_id, migrated. */
  async function salonChain(salons = 16): Promise<string> {
    const schema = await newSchema();
    await client.query(`
      CREATE TABLE ${schema}.salons (id int PRIMARY KEY, time_zone text);
      SELECT create_reference_table('${schema}.salons');
      INSERT INTO ${schema}.salons SELECT g, NULL FROM generate_series(1, ${salons}) g;
      CREATE TABLE ${schema}.special_packages (
        salon_id int NOT NULL REFERENCES ${schema}.salons (id), id int NOT NULL, name text,
        is_active boolean NOT NULL DEFAULT false, valid_until date, updated_at timestamptz,
        PRIMARY KEY (salon_id, id));
      SELECT create_distributed_table('${schema}.special_packages', 'salon_id');`);
    const migrated = await runCli(['migrate', '--table', `${schema}.special_packages`], { env: env() });
    expect(migrated.code, migrated.stderr).toBe(0);
    return schema;
  }

  /** Every package of every salon due (scheduled yesterday, UTC). */
  async function allDue(schema: string, perSalon = 2): Promise<number> {
    const { rowCount } = await client.query(`
      INSERT INTO ${schema}.special_packages (salon_id, id, name, scheduled, auto_activate, schedule_date)
      SELECT s.id, i, 'p' || i, true, true, (now() AT TIME ZONE 'UTC')::date - 1
        FROM ${schema}.salons s, generate_series(1, ${perSalon}) i`);
    return rowCount!;
  }

  async function counts(schema: string): Promise<{ active: number; events: number }> {
    const { rows } = await client.query<{ active: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM ${schema}.special_packages WHERE is_active) AS active,
              (SELECT count(*)::int FROM ${schema}.package_scheduler_events) AS events`,
    );
    return rows[0]!;
  }

  /** The workers' URLs, from the coordinator's node list. */
  async function workerUrl(port: number): Promise<string> {
    const u = new URL(url);
    u.port = String(port);
    return u.toString();
  }

  it('applies due rows on every shard in one transaction; a failure on one worker rolls back every shard', async () => {
    const schema = await salonChain();
    const due = await allDue(schema);
    const table = `${schema}.special_packages`;
    // The shard of each salon, and where it lives; the tick visits the shards in the order of
    // their smallest salon id: the failure goes on the shard visited last, so others changed first.
    const { rows: shards } = await client.query<{ shardid: string; nodeport: number; first: number }>(
      `SELECT s.shardid::text, p.nodeport, min(g) AS first
         FROM generate_series(1, 16) g
         JOIN pg_dist_shard s ON s.shardid = get_shard_id_for_distribution_column($1::regclass, g)
         JOIN pg_dist_shard_placement p ON p.shardid = s.shardid
        GROUP BY 1, 2 ORDER BY first`,
      [table],
    );
    expect(shards.length).toBeGreaterThan(4);
    expect(new Set(shards.map((s) => s.nodeport)).size).toBe(2); // both workers hold due rows
    const last = shards.at(-1)!;
    // The function is created through the coordinator (Citus refuses DDL on a worker), the
    // trigger on that one shard, on its worker.
    await client.query(`CREATE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure on this worker'; END $$`);
    const worker = await connect(await workerUrl(last.nodeport));
    const shardTable = `${schema}.special_packages_${last.shardid}`;
    await worker.query(`CREATE TRIGGER refuse BEFORE UPDATE ON ${shardTable} FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`);

    const failed = await runCli(['run', '--table', table], { env: env() });
    expect(failed.code).toBe(70);
    expect(failed.stderr).toContain('injected failure on this worker');
    expect(await counts(schema)).toEqual({ active: 0, events: 0 });
    const { rows: state } = await client.query(`SELECT last_outcome FROM ${schema}.package_scheduler_state`);
    expect(state).toEqual([{ last_outcome: 'failed' }]);

    await worker.query(`DROP TRIGGER refuse ON ${shardTable}`);
    const ok = await runCli(['run', '--table', table], { env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.events('tick.completed')[0]).toMatchObject({ activated: due, deactivated: 0 });
    expect(ok.events('package.activated')).toHaveLength(due);
    expect(await counts(schema)).toEqual({ active: due, events: due });
    const { rows: spread } = await client.query<{ n: number }>(
      `SELECT count(DISTINCT get_shard_id_for_distribution_column($1::regclass, salon_id))::int AS n FROM ${table} WHERE is_active AND updated_at IS NOT NULL`,
      [table],
    );
    expect(spread[0]!.n).toBe(shards.length);
  });

  it('skips a row another transaction holds locked, without waiting, while the rest of its salon changes', async () => {
    const schema = await salonChain(8);
    const due = await allDue(schema, 3);
    const table = `${schema}.special_packages`;
    const admin = await connect();
    await admin.query('BEGIN');
    await admin.query(`SELECT * FROM ${table} WHERE salon_id = 7 AND id = 1 FOR UPDATE`);
    const started = Date.now();
    const r = await runCli(['run', '--table', table, '--lock-timeout', '60000'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: due - 1 });
    const { rows } = await client.query(`SELECT id, is_active FROM ${table} WHERE salon_id = 7 ORDER BY id`);
    expect(rows).toEqual([{ id: 1, is_active: false }, { id: 2, is_active: true }, { id: 3, is_active: true }]);
    await admin.query('ROLLBACK');
    const next = await runCli(['run', '--table', table], { env: env() });
    expect(next.events('package.activated').map((l) => l.packageId)).toEqual(['(7,1)']);
  });

  it('takes each row’s zone from the reference table, leaving rows in an unknown zone alone', async () => {
    const schema = await salonChain(3);
    const table = `${schema}.special_packages`;
    // (A CASE, not an array subscript: Citus 13.2.2 crashes on `SET col = (ARRAY[…])[id]` of a reference table.)
    await client.query(`UPDATE ${schema}.salons SET time_zone = CASE id WHEN 1 THEN 'Pacific/Kiritimati' WHEN 2 THEN 'America/Los_Angeles' ELSE 'Mars/Olympus' END`);
    // The same wall-clock time for all three: an hour ago in Kiritimati (UTC+14), hours ahead in Los Angeles.
    await client.query(`
      INSERT INTO ${table} (salon_id, id, scheduled, auto_activate, schedule_date, schedule_time)
      SELECT s, 1, true, true, l::date, l::time
        FROM generate_series(1, 3) s, (SELECT (now() - interval '1 hour') AT TIME ZONE 'Pacific/Kiritimati' AS l) x`);
    // The default zone alone would activate all three.
    const r = await runCli(['run', '--table', table, '--timezone', 'Pacific/Kiritimati', '--timezone-column', `${schema}.salons.time_zone`], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.events('package.activated')).toEqual([expect.objectContaining({ packageId: '(1,1)', timezone: 'Pacific/Kiritimati' })]);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1 });
    const { rows } = await client.query(`SELECT salon_id, is_active FROM ${table} ORDER BY salon_id`);
    expect(rows.map((x) => x.is_active)).toEqual([true, false, false]);
    const { rows: events } = await client.query(`SELECT package_id, timezone FROM ${schema}.package_scheduler_events`);
    expect(events).toEqual([{ package_id: '(1,1)', timezone: 'Pacific/Kiritimati' }]);
  });

  it('records history, status and history --package, and notifies after COMMIT', async () => {
    const schema = await salonChain(4);
    const due = await allDue(schema, 1);
    const table = `${schema}.special_packages`;
    const listener = await connect();
    const received: string[] = [];
    listener.on('notification', (n) => received.push(n.payload ?? ''));
    await listener.query(`LISTEN ${schema}`);
    const r = await runCli(['run', '--table', table, '--notify', schema], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!)).toMatchObject({ table, counts: { activated: due }, activated: ['(1,1)', '(2,1)', '(3,1)', '(4,1)'] });
    const status = await runCli(['status', '--table', table, '--json'], { env: env() });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).lastRun).toMatchObject({ outcome: 'completed', activated: due });
    const history = await runCli(['history', '--table', table, '--package', '(3,1)', '--json'], { env: env() });
    expect(history.code, history.stderr).toBe(0);
    const events = JSON.parse(history.stdout) as { action: string; packageId: string }[];
    expect(events).toEqual([expect.objectContaining({ action: 'activated', packageId: '(3,1)' })]);
  });

  it('migrates a distributed table: columns and partial indexes on every shard, an invalid index rebuilt', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`CREATE TABLE ${table} (salon_id int NOT NULL, id int NOT NULL, is_active boolean NOT NULL DEFAULT false, valid_until date, PRIMARY KEY (salon_id, id));
                        SELECT create_distributed_table('${table}', 'salon_id');`);
    const first = await runCli(['migrate', '--table', table], { env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.events('migrate.completed')[0]).toMatchObject({ createdIndexes: ['special_packages_due_activation_idx', 'special_packages_due_deactivation_idx'] });
    const perShard = async () =>
      (await client.query<{ result: string }>(
        `SELECT result FROM run_command_on_shards($1::regclass, $$SELECT count(*) FILTER (WHERE indisvalid AND indpred IS NOT NULL) || '/' ||
            (SELECT count(*) FROM pg_attribute WHERE attrelid = '%1$s'::regclass AND attname IN ('scheduled', 'schedule_time') AND NOT attisdropped)
            FROM pg_index WHERE indrelid = '%1$s'::regclass$$)`,
        [table],
      )).rows.map((r) => r.result);
    expect(await perShard()).toEqual(Array(8).fill('2/2'));
    await client.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = '${schema}.special_packages_due_activation_idx'::regclass`);
    const again = await runCli(['migrate', '--table', table], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.events('migrate.completed')[0]).toMatchObject({ rebuiltIndexes: ['special_packages_due_activation_idx'] });
    const { rows } = await client.query(`SELECT indisvalid FROM pg_index WHERE indrelid = $1::regclass AND indpred IS NOT NULL`, [table]);
    expect(rows).toEqual([{ indisvalid: true }, { indisvalid: true }]);
    expect(await perShard()).toEqual(Array(8).fill('2/2'));
    const check = await runCli(['check', '--table', table, '--json'], { env: env() });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout).citus).toMatchObject({ kind: 'distributed', distributionColumn: 'salon_id', shardCount: 8, coordinator: true });
  });

  it('refuses a run connected to a worker (78, one line), and a reference table as the packages table', async () => {
    const schema = await salonChain(2);
    await allDue(schema, 1);
    const { rows: nodes } = await client.query<{ nodeport: number }>(`SELECT nodeport FROM pg_dist_node WHERE groupid > 0 ORDER BY nodeport LIMIT 1`);
    const onWorker = await runCli(['run', '--table', `${schema}.special_packages`], { env: { ...env(), DATABASE_URL: await workerUrl(nodes[0]!.nodeport) } });
    expect(onWorker.code).toBe(78);
    expect(onWorker.stderr.trim().split('\n')).toEqual([expect.stringContaining('connect to the coordinator')]);
    expect((await counts(schema)).active).toBe(0);

    await client.query(`CREATE TABLE ${schema}.shared_packages (id int PRIMARY KEY, is_active boolean NOT NULL DEFAULT false, valid_until date);
                        SELECT create_reference_table('${schema}.shared_packages')`);
    expect((await runCli(['migrate', '--table', `${schema}.shared_packages`, '--no-history'], { env: env() })).code).toBe(0);
    for (const command of ['run', 'check']) {
      const r = await runCli([command, '--table', `${schema}.shared_packages`], { env: env() });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain('is a Citus reference table');
    }
  });

  it('two concurrent runs change each row once; a run finding the coordinator lock taken skips', async () => {
    const schema = await salonChain(16);
    const due = await allDue(schema, 20);
    const table = `${schema}.special_packages`;
    const [a, b] = await Promise.all([runCli(['run', '--table', table], { env: env() }), runCli(['run', '--table', table], { env: env() })]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const activated = [a, b].flatMap((r) => r.events('package.activated').map((l) => l.packageId));
    expect(activated).toHaveLength(due);
    expect(new Set(activated).size).toBe(due);
    expect(await counts(schema)).toEqual({ active: due, events: due });

    await client.query(`UPDATE ${table} SET is_active = false, scheduled = true`);
    const holder = await connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))`, [`package-scheduler:"${schema}"."special_packages"`]);
    const skipped = await runCli(['run', '--table', table], { env: env() });
    expect(skipped.code).toBe(0);
    expect(skipped.events('tick.skipped')[0]).toMatchObject({ reason: 'locked' });
    await holder.query('ROLLBACK');
  });

  it('ticks each distributed schema (schema-based sharding) on its own through a --table pattern, history colocated in the schema', async () => {
    const prefix = `tenant_${randomBytes(3).toString('hex')}`;
    const tenants = [await newSchema({ distributed: true, name: `${prefix}_a` }), await newSchema({ distributed: true, name: `${prefix}_b` })];
    for (const [i, schema] of tenants.entries()) {
      await client.query(`CREATE TABLE ${schema}.special_packages (id int PRIMARY KEY, name text, is_active boolean NOT NULL DEFAULT false, valid_until date)`);
      await client.query(`INSERT INTO ${schema}.special_packages (id) SELECT g FROM generate_series(1, ${i + 2}) g`);
    }
    const pattern = `${prefix}_*.special_packages`;
    const migrated = await runCli(['migrate', '--table', pattern], { env: env() });
    expect(migrated.code, migrated.stderr).toBe(0);
    for (const [i, schema] of tenants.entries()) {
      await client.query(`UPDATE ${schema}.special_packages SET scheduled = true, auto_activate = true, schedule_date = (now() AT TIME ZONE 'UTC')::date - 1 WHERE id <= ${i + 2}`);
    }
    const { rows: placed } = await client.query(
      `SELECT logicalrelid::text AS name FROM pg_dist_partition WHERE logicalrelid::text LIKE ANY($1::text[]) ORDER BY 1`,
      [tenants.map((t) => `${t}.%`)],
    );
    expect(placed).toHaveLength(6); // each schema's packages, state and events tables live on its node
    // One run over the pattern: each schema its own tick (and transaction), as on plain PostgreSQL.
    const run = await runCli(['run', '--table', pattern], { env: env() });
    expect(run.code, run.stderr).toBe(0);
    const completed = run.events('tick.completed').map((l) => [l.table, l.activated]).sort();
    expect(completed).toEqual(tenants.map((schema, i) => [`${schema}.special_packages`, i + 2]));
    expect(run.events('run.completed')[0]).toMatchObject({ tables: 2, completed: 2, failed: 0, activated: 5 });
    for (const [i, schema] of tenants.entries()) expect(await counts(schema)).toEqual({ active: i + 2, events: i + 2 });
    const check = await runCli(['check', '--table', `${tenants[0]}.special_packages`], { env: env() });
    expect(check.stdout).toContain('citus      Citus distributed schema (schema-based sharding), 1 shard');
  });

  it('leaves a plain table on the coordinator to the plain statement', async () => {
    const schema = await newSchema();
    const table = `${schema}.special_packages`;
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, is_active boolean NOT NULL DEFAULT false, valid_until date)`);
    expect((await runCli(['migrate', '--table', table], { env: env() })).code).toBe(0);
    await client.query(`INSERT INTO ${table} (id, scheduled, auto_activate, schedule_date) VALUES (1, true, true, '2020-01-01')`);
    const r = await runCli(['run', '--table', table], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1 });
    const check = await runCli(['check', '--table', table], { env: env() });
    expect(check.stdout).toContain('local table of this node (not distributed by Citus)');
  });
});
