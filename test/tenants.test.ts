// Many tenants in one run (docs/tenants.md): table lists and patterns resolved in the catalog
// each run, every table its own tick, one table's failure isolated, shards, the pool's bound.
import { readFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { shardOf } from '../src/tenants/shard.ts';
import { addUpdateTrigger, createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { duePackage, holdTableLock } from './support/fixtures.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'UTC', ...extra });
const PATTERN = 'tenant_*.special_packages';

/** A tenant's schema with its packages table and `due` packages due since 2026-01-01. */
async function createTenant(schema: string, due = 1): Promise<string> {
  await db.client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const table = await createPackagesTable(db.client, { table: `${schema}.special_packages` });
  for (let i = 0; i < due; i++) await insertPackage(db.client, duePackage(), table);
  return table;
}

async function activeCount(table: string): Promise<number> {
  const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE is_active`);
  return rows[0]!.n;
}

const tablesOf = (r: CliResult, event = 'tick.completed') => r.events(event).map((l) => l.table as string).sort();

describe('many tenants in one run', () => {
  beforeEach(async () => {
    const { rows } = await db.client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%' OR nspname = 'crm'`);
    for (const { nspname } of rows) await db.client.query(`DROP SCHEMA ${nspname} CASCADE`);
    await db.client.query('DROP TABLE IF EXISTS public.special_packages CASCADE');
  });

  it('a pattern over several schemas ticks each matched table: its own tick.completed, then run.completed', async () => {
    for (const t of ['tenant_a', 'tenant_b', 'tenant_c']) await createTenant(t, 2);
    // Not matched: another schema, a view, another table name in a tenant's schema.
    await createTenant('crm');
    await db.client.query('CREATE SCHEMA tenant_view; CREATE VIEW tenant_view.special_packages AS SELECT * FROM tenant_a.special_packages');
    await createPackagesTable(db.client, { table: 'tenant_a.special_packages_old' });

    const r = await runCli(['run', '--table', PATTERN], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(tablesOf(r)).toEqual(['tenant_a.special_packages', 'tenant_b.special_packages', 'tenant_c.special_packages']);
    for (const line of r.events('tick.completed')) expect(line.activated).toBe(2);
    // Every change line names its table; each table its own runId.
    expect(r.events('package.activated').map((l) => l.table).sort()).toEqual(tablesOf(r).flatMap((t) => [t, t]));
    expect(new Set(r.events('tick.completed').map((l) => l.runId)).size).toBe(3);
    const [summary] = r.events('run.completed');
    expect(summary).toMatchObject({ tables: 3, completed: 3, skipped: 0, failed: 0, activated: 6, deactivated: 0, activationSkipped: 0, exitCode: 0 });
    expect(typeof summary!.durationMs).toBe('number');
    for (const t of ['tenant_a', 'tenant_b', 'tenant_c']) expect(await activeCount(`${t}.special_packages`)).toBe(2);
    expect(await activeCount('crm.special_packages')).toBe(0);
    expect(await activeCount('tenant_a.special_packages_old')).toBe(0);
  });

  it('patterns in the table part, repeated --table, SCHEDULER_TABLE lists, duplicates counted once', async () => {
    await createTenant('crm');
    await createPackagesTable(db.client, { table: 'crm.spa_packages' });
    await createPackagesTable(db.client, { table: 'crm.other' });
    const byFlag = await runCli(['run', '--dry-run', '--table', 'crm.*_packages', '--table', 'crm.special_packages'], { env: env() });
    expect(byFlag.code).toBe(0);
    expect(tablesOf(byFlag)).toEqual(['crm.spa_packages', 'crm.special_packages']);
    const byEnv = await runCli(['run', '--dry-run'], { env: env({ SCHEDULER_TABLE: 'crm.other, crm.spa_packages' }) });
    expect(byEnv.code).toBe(0);
    expect(tablesOf(byEnv)).toEqual(['crm.other', 'crm.spa_packages']);
  });

  it('a partitioned table matches, its partitions do not', async () => {
    await db.client.query(`CREATE SCHEMA tenant_p`);
    await db.client.query(`
      CREATE TABLE tenant_p.special_packages (
        id int, name text, is_active boolean, scheduled boolean, schedule_date date, schedule_time time,
        auto_activate boolean, auto_deactivate boolean, valid_until date, region int NOT NULL, PRIMARY KEY (id, region)
      ) PARTITION BY LIST (region);
      CREATE TABLE tenant_p.special_packages_1 PARTITION OF tenant_p.special_packages FOR VALUES IN (1);
      CREATE TABLE tenant_p.special_packages_2 PARTITION OF tenant_p.special_packages FOR VALUES IN (2);`);
    const r = await runCli(['run', '--dry-run', '--table', 'tenant_p.*'], { env: env() });
    expect(r.events('run.completed')[0]).toMatchObject({ tables: 1 });
    expect(r.events('run.completed')[0]!.matched).toBe(1);
  });

  it('a tenant created between two runs is in the next run, with no change to the command', async () => {
    await createTenant('tenant_a');
    const first = await runCli(['run', '--table', PATTERN], { env: env() });
    expect(first.events('run.completed')[0]).toMatchObject({ tables: 1, activated: 1 });
    const added = await createTenant('tenant_new', 3);
    const second = await runCli(['run', '--table', PATTERN], { env: env() });
    expect(second.code).toBe(0);
    expect(second.events('run.completed')[0]).toMatchObject({ tables: 2, completed: 2, activated: 3 });
    expect(second.events('tick.completed').find((l) => l.table === 'tenant_new.special_packages')).toMatchObject({ activated: 3 });
    expect(await activeCount(added)).toBe(3);
  });

  it('one broken tenant among good ones: the others change, the broken one is named, the exit code is non-zero', async () => {
    for (const t of ['tenant_a', 'tenant_c']) await createTenant(t);
    const broken = await createTenant('tenant_b');
    await db.client.query(`ALTER TABLE ${broken} DROP COLUMN schedule_time`);
    const r = await runCli(['run', '--table', PATTERN], { env: env() });
    expect(r.code).toBe(78);
    expect(await activeCount('tenant_a.special_packages')).toBe(1);
    expect(await activeCount('tenant_c.special_packages')).toBe(1);
    const [failed] = r.events('tick.failed');
    expect(failed).toMatchObject({ table: 'tenant_b.special_packages', exitCode: 78 });
    expect(failed!.error).toMatch(/schedule_time/);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^package-scheduler: tenant_b\.special_packages: .*schedule_time/)]);
    expect(r.events('run.completed')[0]).toMatchObject({ tables: 3, completed: 2, failed: 1, activated: 2, exitCode: 78, failedTables: ['tenant_b.special_packages'] });
  });

  it('the most severe code wins: a trigger that raises (70) outranks a missing column (78), and neither stops the rest', async () => {
    await createTenant('tenant_a');
    const raising = await createTenant('tenant_b');
    await addUpdateTrigger(db.client, 'tenant_b_rejects', `RAISE EXCEPTION 'CRM says no';`, raising);
    const missing = await createTenant('tenant_c');
    await db.client.query(`ALTER TABLE ${missing} DROP COLUMN auto_activate`);
    const r = await runCli(['run', '--table', PATTERN], { env: env() });
    expect(r.code).toBe(70);
    expect(r.events('tick.failed').map((l) => [l.table, l.exitCode]).sort()).toEqual([
      ['tenant_b.special_packages', 70],
      ['tenant_c.special_packages', 78],
    ]);
    expect(await activeCount('tenant_a.special_packages')).toBe(1);
    expect(await activeCount(raising)).toBe(0); // rolled back: its own transaction only
  });

  it('one tenant locked by another run is skipped, the others are done, exit 0', async () => {
    for (const t of ['tenant_a', 'tenant_b', 'tenant_c']) await createTenant(t);
    const other = await db.connect();
    const release = await holdTableLock(other, 'package-scheduler:"tenant_b"."special_packages"');
    try {
      const r = await runCli(['run', '--table', PATTERN], { env: env() });
      expect(r.code).toBe(0);
      expect(r.events('tick.skipped').map((l) => l.table)).toEqual(['tenant_b.special_packages']);
      expect(tablesOf(r)).toEqual(['tenant_a.special_packages', 'tenant_c.special_packages']);
      expect(r.events('run.completed')[0]).toMatchObject({ tables: 3, completed: 2, skipped: 1, failed: 0 });
      expect(await activeCount('tenant_b.special_packages')).toBe(0);
    } finally {
      await release();
    }
  });

  it('shards 0..n-1 cover every table exactly once, by the documented hash; JOB_COMPLETION_INDEX + SCHEDULER_SHARD_COUNT pick the same', async () => {
    const schemas = Array.from({ length: 12 }, (_, i) => `tenant_${String(i).padStart(2, '0')}`);
    for (const s of schemas) await createTenant(s, 0);
    const all = schemas.map((s) => `${s}.special_packages`);
    const seen: string[] = [];
    for (let k = 0; k < 3; k++) {
      const r = await runCli(['run', '--dry-run', '--table', PATTERN, '--shard', `${k}/3`], { env: env() });
      expect(r.code).toBe(0);
      const mine = tablesOf(r);
      expect(mine).toEqual(all.filter((t) => shardOf(`"${t.replace('.', '"."')}"`, 3) === k));
      expect(r.events('run.completed')[0]).toMatchObject({ tables: mine.length, matched: 12, shard: `${k}/3` });
      const indexed = await runCli(['run', '--dry-run', '--table', PATTERN], { env: env({ JOB_COMPLETION_INDEX: String(k), SCHEDULER_SHARD_COUNT: '3' }) });
      expect(tablesOf(indexed)).toEqual(mine);
      seen.push(...mine);
    }
    expect(seen.sort()).toEqual(all);
    // A table's shard does not depend on what else exists.
    expect(shardOf('"tenant_00"."special_packages"', 3)).toBe(shardOf('"tenant_00"."special_packages"', 3));
  });

  it('never holds more than --concurrency + 1 connections, ticks that many at once, and ends when done', async () => {
    const tables: string[] = [];
    for (let i = 0; i < 6; i++) {
      const table = await createTenant(`tenant_slow${i}`);
      await addUpdateTrigger(db.client, `slow${i}`, 'PERFORM pg_sleep(0.4);', table);
      tables.push(table);
    }
    const counts: number[] = [];
    let done = false;
    const watcher = (async () => {
      const watch = await db.connect();
      while (!done) {
        const { rows } = await watch.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'package-scheduler'`,
        );
        counts.push(rows[0]!.n);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const started = performance.now();
    const r = await runCli(['run', '--table', 'tenant_slow*.special_packages', '--concurrency', '2'], { env: env() });
    const wallMs = performance.now() - started;
    done = true;
    await watcher;
    expect(r.code).toBe(0);
    expect(r.events('run.completed')[0]).toMatchObject({ tables: 6, completed: 6, activated: 6 });
    expect(Math.max(...counts)).toBeLessThanOrEqual(3);
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(2); // two ticks did run at once
    expect(wallMs).toBeLessThan(6 * 400 + 3000); // bounded: and the process did end by itself
    for (const t of tables) expect(await activeCount(t)).toBe(1);
  });

  it('a list or pattern that matches nothing: exit 78, one line naming what was searched', async () => {
    const r = await runCli(['run', '--table', 'nobody_*.special_packages', '--table', 'crm.nothing'], { env: env() });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe('package-scheduler: no table matches --table / SCHEDULER_TABLE (searched: nobody_*.special_packages, crm.nothing)\n');
  });

  it('a literal in a list that does not exist fails as its own table; the rest run', async () => {
    await createTenant('tenant_a');
    const r = await runCli(['run', '--table', 'tenant_a.special_packages,tenant_zz.special_packages'], { env: env() });
    expect(r.code).toBe(78);
    expect(r.events('tick.failed').map((l) => l.table)).toEqual(['tenant_zz.special_packages']);
    expect(await activeCount('tenant_a.special_packages')).toBe(1);
  });

  it('one literal --table logs exactly what it logged before: no run.completed, no pool', async () => {
    await createTenant('tenant_a');
    const r = await runCli(['run', '--table', 'tenant_a.special_packages'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.lines.map((l) => l.event)).toEqual(['package.activated', 'tick.completed']);
  });

  it('migrate migrates every matched table; a failing one is reported and the others are done', async () => {
    for (const t of ['tenant_a', 'tenant_b']) {
      await db.client.query(`CREATE SCHEMA ${t}; CREATE TABLE ${t}.special_packages (id serial PRIMARY KEY, is_active boolean, valid_until date)`);
    }
    const r = await runCli(['migrate', '--table', `${PATTERN},tenant_gone.special_packages`], { env: env() });
    expect(r.code).toBe(78);
    expect(r.events('migrate.completed').map((l) => l.table).sort()).toEqual(['tenant_a.special_packages', 'tenant_b.special_packages']);
    expect(r.events('migrate.failed').map((l) => l.table)).toEqual(['tenant_gone.special_packages']);
    expect(r.events('migrate.summary')[0]).toMatchObject({ tables: 3, completed: 2, failed: 1, exitCode: 78 });
    const { rows } = await db.client.query(`SELECT table_schema FROM information_schema.columns WHERE column_name = 'schedule_date' AND table_schema LIKE 'tenant%' ORDER BY 1`);
    expect(rows.map((row) => row.table_schema)).toEqual(['tenant_a', 'tenant_b']);
  });

  it('check and status report per table; status --max-age fails when any matched table is stale or never ran', async () => {
    for (const t of ['tenant_a', 'tenant_b']) await createTenant(t);
    expect((await runCli(['migrate', '--table', PATTERN], { env: env() })).code).toBe(0);
    expect((await runCli(['run', '--table', PATTERN], { env: env() })).code).toBe(0);

    const check = await runCli(['check', '--json', '--table', PATTERN], { env: env() });
    expect(check.code).toBe(0);
    expect((JSON.parse(check.stdout) as { table: string }[]).map((c) => c.table)).toEqual(['tenant_a.special_packages', 'tenant_b.special_packages']);

    const fresh = await runCli(['status', '--table', PATTERN, '--max-age', '300'], { env: env() });
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('table     tenant_a.special_packages');
    expect(fresh.stdout).toContain('table     tenant_b.special_packages');

    await createTenant('tenant_c');
    expect((await runCli(['migrate', '--table', 'tenant_c.special_packages'], { env: env() })).code).toBe(0);
    const stale = await runCli(['status', '--json', '--table', PATTERN, '--max-age', '300'], { env: env() });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe('package-scheduler: stale: tenant_c.special_packages: no successful tick recorded (--max-age 300)\n');
    expect((JSON.parse(stale.stdout) as unknown[]).length).toBe(3);
  });

  it('--metrics-file: the per-table series with a table label, plus the run totals', async () => {
    await createTenant('tenant_a', 2);
    const broken = await createTenant('tenant_b');
    await db.client.query(`ALTER TABLE ${broken} DROP COLUMN scheduled`);
    const file = join(mkdtempSync(join(tmpdir(), 'ps-tenants-')), 'scheduler.prom');
    const r = await runCli(['run', '--table', PATTERN, '--metrics-file', file], { env: env() });
    expect(r.code).toBe(78);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^package_scheduler_last_run_exit_code\{table="tenant_a.special_packages"\} 0$/m);
    expect(text).toMatch(/^package_scheduler_last_run_exit_code\{table="tenant_b.special_packages"\} 78$/m);
    expect(text).toMatch(/^package_scheduler_last_run_changes\{table="tenant_a.special_packages",action="activated"\} 2$/m);
    expect(text).toMatch(/^package_scheduler_last_success_timestamp_seconds\{table="tenant_a.special_packages"\} \d/m);
    expect(text).not.toMatch(/^package_scheduler_last_success_timestamp_seconds\{table="tenant_b/m);
    expect(text).toMatch(/^package_scheduler_run_exit_code 78$/m);
    expect(text).toMatch(/^package_scheduler_run_tables\{outcome="failed"\} 1$/m);
    expect(text).toMatch(/^package_scheduler_run_changes\{action="activated"\} 2$/m);
  });

  it('--heartbeat-url pings once per run: /start, then the run\'s exit code with its totals', async () => {
    await createTenant('tenant_a');
    const broken = await createTenant('tenant_b');
    await db.client.query(`ALTER TABLE ${broken} DROP COLUMN scheduled`);
    const pings: { method: string; path: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        pings.push({ method: req.method!, path: req.url!, body });
        res.end('OK');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/abc`;
      const r = await runCli(['run', '--table', PATTERN, '--heartbeat-url', base], { env: env() });
      expect(r.code).toBe(78);
      expect(pings).toEqual([
        { method: 'GET', path: '/ping/abc/start', body: '' },
        {
          method: 'POST',
          path: '/ping/abc/78',
          body: 'tables=2 completed=1 skipped=0 failed=1 activated=1 deactivated=0 activation_skipped=0 failed_tables=tenant_b.special_packages\n',
        },
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('--every ticks every matched table each round', async () => {
    for (const t of ['tenant_a', 'tenant_b']) await createTenant(t);
    const r = await runCli(['run', '--table', PATTERN, '--every', '1'], {
      env: env(),
      onSpawn: (child) => {
        void waitUntil(async () => (await activeCount('tenant_a.special_packages')) === 2, { what: 'the second round', timeoutMs: 10_000 }).finally(() => child.kill('SIGTERM'));
        void (async () => {
          await waitUntil(async () => (await activeCount('tenant_a.special_packages')) === 1, { what: 'the first round', timeoutMs: 10_000 });
          for (const t of ['tenant_a', 'tenant_b']) await insertPackage(db.client, duePackage(), `${t}.special_packages`);
        })();
      },
    });
    expect(r.code).toBe(0);
    const rounds = r.events('run.completed');
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    for (const round of rounds) expect(round.tables).toBe(2);
    expect(await activeCount('tenant_b.special_packages')).toBeGreaterThanOrEqual(1);
  });
});

describe('bad input exits before connecting, naming the flag (64) or the variable (78)', () => {
  // Nothing listens on port 1: connecting would be exit 75, not 64/78.
  const unreachable = { DATABASE_URL: 'postgres://u:not-the-password@127.0.0.1:1/db' };
  const flagCases: [string[], RegExp][] = [
    [['--table', ''], /--table/],
    [['--table', '**'], /--table.*\*\*/],
    [['--table', 'tenant-*.special_packages'], /--table.*not a plain identifier/],
    [['--table', 'a.b.*'], /--table/],
    [['--concurrency', '0'], /--concurrency.*out of range/],
    [['--concurrency', '65'], /--concurrency.*out of range/],
    [['--concurrency', 'abc'], /--concurrency/],
    [['--shard', '3/3'], /--shard/],
    [['--shard', '-1/2'], /--shard/],
    [['--shard', '1'], /--shard/],
    [['--shard', 'a/b'], /--shard/],
    [['--shard', '0/1025'], /--shard/],
  ];
  for (const [args, message] of flagCases) {
    it(`run ${args.join(' ')} → 64`, async () => {
      const r = await runCli(['run', ...args], { env: unreachable });
      expect(r.code).toBe(64);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    });
  }

  const envCases: [Record<string, string>, RegExp][] = [
    [{ SCHEDULER_TABLE: 'a,,b' }, /SCHEDULER_TABLE/],
    [{ SCHEDULER_TABLE: '**' }, /SCHEDULER_TABLE/],
    [{ SCHEDULER_CONCURRENCY: '65' }, /SCHEDULER_CONCURRENCY/],
    [{ SCHEDULER_SHARD: '3/3' }, /SCHEDULER_SHARD/],
    [{ SCHEDULER_SHARD_COUNT: '4' }, /JOB_COMPLETION_INDEX/],
    [{ SCHEDULER_SHARD_COUNT: '4', JOB_COMPLETION_INDEX: '4' }, /JOB_COMPLETION_INDEX/],
  ];
  for (const [vars, message] of envCases) {
    it(`${Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(' ')} → 78`, async () => {
      const r = await runCli(['run'], { env: { ...unreachable, ...vars } });
      expect(r.code).toBe(78);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    });
  }

  it('history takes one table: a pattern is 64', async () => {
    const r = await runCli(['history', '--table', PATTERN], { env: unreachable });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--table.*history takes one table/);
  });

  it('migrate --print takes one table: a pattern is 64', async () => {
    const r = await runCli(['migrate', '--print', '--table', PATTERN], { env: unreachable });
    expect(r.code).toBe(64);
  });

  it('the same one-table database behaviour: the pattern error message names the flag and what was typed', async () => {
    const r = await runCli(['run', '--table', 'tenant_*.special packages'], { env: unreachable });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^package-scheduler: invalid --table \/ SCHEDULER_TABLE: /);
  });
});


