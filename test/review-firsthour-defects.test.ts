// Issue 18, first hour as a new user (#12, #17, #18): the built binary against a real PostgreSQL.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { duePackage, expiredPackage } from './support/fixtures.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();

describe('#17 a settings file that does not exist', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it(`exits 78 with one line of ours on Node ${process.version} (--settings-file: Node does not claim it)`, async () => {
    const r = await runCli(['run', '--settings-file', '/nonexistent/scheduler.env'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe('package-scheduler: --settings-file / SCHEDULER_ENV_FILE: /nonexistent/scheduler.env does not exist\n');
    expect(r.events('tick.failed')).toEqual([expect.objectContaining({ exitCode: 78 })]);
    expect(r.events('tick.completed')).toEqual([]);
  });

  it('reads an existing --settings-file, and refuses it together with the old --env-file (64)', async () => {
    const id = await insertPackage(db.client, duePackage());
    const file = join(scratchDir('settings'), 'scheduler.env');
    writeFileSync(file, `DATABASE_URL=${db.url}\nSCHEDULER_TIMEZONE=Asia/Tokyo\n`);
    const r = await runCli(['run', '--settings-file', file]);
    expect(r.code).toBe(0);
    expect(r.events('package.activated')).toEqual([expect.objectContaining({ packageId: String(id), timezone: 'Asia/Tokyo' })]);
    const both = await runCli(['run', '--settings-file', file, '--env-file', file]);
    expect(both.code).toBe(64);
    expect(both.stderr).toContain('--settings-file');
  });
});

describe('#18 guidance', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('names an unknown command and suggests the one meant (64), instead of "too many arguments for \'run\'"', async () => {
    const r = await runCli(['statuss'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(64);
    expect(r.stderr).toBe("error: unknown command 'statuss'\n(Did you mean status?)\n");
    expect(r.stdout).toBe('');
    const nothingClose = await runCli(['--table', 'special_packages', 'frobnicate'], { env: { DATABASE_URL: db.url } });
    expect(nothingClose.code).toBe(64);
    expect(nothingClose.stderr).toBe("error: unknown command 'frobnicate'\n");
  });

  it('check counts active packages past valid_until whose auto_deactivate is off ("will stay on"), with a hint', async () => {
    const off = await insertPackage(db.client, { is_active: true, auto_deactivate: false, valid_until: '2026-01-01' });
    const unset = await insertPackage(db.client, { is_active: true, auto_deactivate: null, valid_until: '2025-06-30' });
    await insertPackage(db.client, expiredPackage); // a tick switches this one off
    await insertPackage(db.client, { is_active: true, auto_deactivate: false, valid_until: 'infinity' });
    await insertPackage(db.client, { is_active: true, auto_deactivate: false, valid_until: '2999-01-01' });
    await insertPackage(db.client, { is_active: false, auto_deactivate: false, valid_until: '2026-01-01' });
    await insertPackage(db.client, { is_active: true, auto_deactivate: false, valid_until: null });
    const env = { DATABASE_URL: db.url };
    const r = await runCli(['check', '--json', '--timezone', 'UTC'], { env });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.stayingOn).toEqual({ count: 2, packageIds: [String(off), String(unset)] });
    const warning = (report.warnings as string[]).filter((w) => w.includes('will stay on'));
    expect(warning).toEqual([expect.stringContaining(`2 active packages are past valid_until with auto_deactivate off: they will stay on (${off}, ${unset})`)]);
    expect(warning[0]).toContain('SET auto_deactivate = true');
    const text = await runCli(['check', '--timezone', 'UTC'], { env });
    expect(text.stdout).toContain(`warning    ${warning[0]}`);
    // Nothing to report: no line, a zero count.
    await db.client.query('UPDATE special_packages SET auto_deactivate = true');
    const clean = JSON.parse((await runCli(['check', '--json', '--timezone', 'UTC'], { env })).stdout);
    expect(clean.stayingOn).toEqual({ count: 0, packageIds: [] });
    expect((clean.warnings as string[]).filter((w) => w.includes('will stay on'))).toEqual([]);
  });

  it('dry-run lines say "would", never the text of a real change', async () => {
    await insertPackage(db.client, duePackage());
    await insertPackage(db.client, { ...duePackage(), valid_until: '2025-12-31' });
    await insertPackage(db.client, expiredPackage);
    const r = await runCli(['run', '--dry-run', '--timezone', 'UTC'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    const messages = ['package.would_activate', 'package.would_skip_activation', 'package.would_deactivate'].map((event) => {
      const lines = r.events(event);
      expect(lines).toHaveLength(1);
      return String(lines[0]!.msg);
    });
    for (const message of messages) expect(message).toMatch(/^would .*\(dry run\)$/);
    expect(messages[0]).toBe('would activate the package (dry run)');
    const real = await runCli(['run', '--timezone', 'UTC'], { env: { DATABASE_URL: db.url } });
    expect(real.events('package.activated')[0]!.msg).toBe('package activated');
  });
});

describe('#12 long table names: index names that fit, stay distinct and are found again', () => {
  /** `prefix` padded with `x` to exactly `bytes` bytes of UTF-8. */
  function nameOf(prefix: string, bytes: number): string {
    return prefix + 'x'.repeat(bytes - Buffer.byteLength(prefix));
  }
  const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

  async function createTable(name: string, partitionedBy?: string): Promise<void> {
    await db.client.query(`DROP TABLE IF EXISTS ${quoted(name)} CASCADE;
      CREATE TABLE ${quoted(name)} (id int, salon_id int NOT NULL DEFAULT 1, name text, is_active boolean DEFAULT false,
        valid_until date, PRIMARY KEY (id, salon_id))${partitionedBy ? ` PARTITION BY LIST (${partitionedBy})` : ''}`);
  }

  async function indexesOf(name: string): Promise<{ name: string; valid: boolean; def: string }[]> {
    const { rows } = await db.client.query<{ name: string; valid: boolean; def: string }>(
      `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary ORDER BY 1`,
      [quoted(name)],
    );
    return rows;
  }

  async function expectMigratedTwice(table: string): Promise<string[]> {
    const env = { DATABASE_URL: db.url };
    const first = await runCli(['migrate', '--no-history', '--table', quoted(table)], { env });
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    const built = await indexesOf(table);
    expect(built).toHaveLength(2);
    expect(built.every((i) => i.valid)).toBe(true);
    expect(built.map((i) => /WHERE \((.*)\)$/.exec(i.def)?.[1]).sort()).toEqual(['is_active AND auto_deactivate', 'scheduled AND auto_activate']);
    const names = built.map((i) => i.name);
    for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect([...first.events('migrate.completed')[0]!.createdIndexes as string[]].sort()).toEqual(names);

    const second = await runCli(['migrate', '--no-history', '--table', quoted(table)], { env });
    expect(second.code).toBe(0);
    expect(second.events('migrate.index_created')).toEqual([]);
    expect(second.events('migrate.completed')[0]).toMatchObject({ createdIndexes: [], rebuiltIndexes: [] });
    expect(await indexesOf(table)).toEqual(built);

    const checked = await runCli(['check', '--json', '--timezone', 'UTC', '--table', quoted(table)], { env });
    expect(checked.code).toBe(0);
    const report = JSON.parse(checked.stdout) as { indexes: { name: string; state: string }[]; warnings: string[] };
    expect(report.indexes.map((i) => i.state)).toEqual(['valid', 'valid']);
    expect(report.indexes.map((i) => i.name).sort()).toEqual(names);
    expect(report.warnings.filter((w) => w.startsWith('index '))).toEqual([]);
    return names;
  }

  for (const [what, table] of [
    ['the longest name PostgreSQL allows (63 bytes)', nameOf('special_packages_of_the_salon_chain_', 63)],
    ['59 characters, where both cut names used to be the same', nameOf('special_packages_', 59)],
    ['60 characters', nameOf('special_packages_', 60)],
    ['45 characters, cut by PostgreSQL but distinct', nameOf('special_packages_', 45)],
    ['non-ASCII, 63 bytes (not characters)', nameOf('особые_пакеты_салона_', 63)],
    ['non-ASCII, 62 bytes: a clip inside a two-byte letter', nameOf('особые_пакеты_салона_красоты', 62).replace(/x+$/, (x) => 'я'.repeat(x.length / 2))],
  ] as const) {
    it(`migrates a table named with ${what} once, then creates nothing; check finds both`, async () => {
      await createTable(table);
      expect(Buffer.byteLength(table)).toBeGreaterThanOrEqual(45);
      await expectMigratedTwice(table);
      await db.client.query(`DROP TABLE ${quoted(table)}`);
    });
  }

  it('keeps the names of a short table unchanged', async () => {
    const table = nameOf('special_packages_', 42);
    await createTable(table);
    expect(await expectMigratedTwice(table)).toEqual([`${table}_due_activation_idx`, `${table}_due_deactivation_idx`]);
  });

  it('counts the indexes an older version built under names PostgreSQL cut, and a DBA\'s own under any name', async () => {
    const table = nameOf('special_packages_', 52);
    await createTable(table);
    await runCli(['migrate', '--no-history', '--table', quoted(table)], { env: { DATABASE_URL: db.url } });
    for (const index of await indexesOf(table)) await db.client.query(`DROP INDEX ${quoted(index.name)}`);
    expect(await indexesOf(table)).toEqual([]);
    // What the old migrate left: CREATE INDEX with the long name, which PostgreSQL cut.
    await db.client.query(`CREATE INDEX ${quoted(`${table}_due_activation_idx`)} ON ${quoted(table)} (schedule_date, schedule_time) WHERE scheduled AND auto_activate;
      CREATE INDEX dba_expiry ON ${quoted(table)} (valid_until) WHERE auto_deactivate AND is_active`);
    const before = await indexesOf(table);
    expect(before.map((i) => i.name)).toEqual(['dba_expiry', `${table}_due_activation_idx`.slice(0, 63)]);
    const r = await runCli(['migrate', '--no-history', '--table', quoted(table)], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.events('migrate.completed')[0]).toMatchObject({ createdIndexes: [], rebuiltIndexes: [] });
    expect(await indexesOf(table)).toEqual(before);
    const checked = JSON.parse((await runCli(['check', '--json', '--timezone', 'UTC', '--table', quoted(table)], { env: { DATABASE_URL: db.url } })).stdout);
    expect(checked.indexes).toEqual([
      { name: `${table}_due_activation_idx`.slice(0, 63), state: 'valid' },
      { name: 'dba_expiry', state: 'valid' },
    ]);
  });

  it('indexes a partitioned table with long names: ON ONLY, each partition, ATTACH; the second run creates nothing', async () => {
    const table = nameOf('special_packages_', 60);
    const part = (n: number) => nameOf(`special_packages_salon_${n}_`, 63);
    await createTable(table, 'salon_id');
    for (const n of [1, 2]) await db.client.query(`CREATE TABLE ${quoted(part(n))} PARTITION OF ${quoted(table)} FOR VALUES IN (${n})`);
    const env = { DATABASE_URL: db.url };
    const first = await runCli(['migrate', '--no-history', '--table', quoted(table)], { env });
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.events('migrate.index_created')).toHaveLength(6);
    const { rows } = await db.client.query<{ parent: string | null; valid: boolean }>(
      `SELECT (SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = i.indexrelid) AS parent, i.indisvalid AS valid
         FROM pg_index i WHERE i.indrelid IN (to_regclass($1), to_regclass($2), to_regclass($3)) AND NOT i.indisprimary`,
      [quoted(table), quoted(part(1)), quoted(part(2))],
    );
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.valid)).toBe(true);
    expect(rows.filter((r) => r.parent !== null)).toHaveLength(4);
    const again = await runCli(['migrate', '--no-history', '--table', quoted(table)], { env });
    expect(again.code).toBe(0);
    expect(again.events('migrate.index_created')).toEqual([]);
    const checked = JSON.parse((await runCli(['check', '--json', '--timezone', 'UTC', '--table', quoted(table)], { env })).stdout);
    expect(checked.indexes.map((i: { state: string }) => i.state)).toEqual(['valid', 'valid']);
  });
});
