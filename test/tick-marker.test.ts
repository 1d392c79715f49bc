// A DBA looking at pg_stat_activity sees which table a running tick works on: the statement
// starts with a comment naming it, quoted as the tick quotes it, before any other text.
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { addUpdateTrigger, createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { duePackage } from './support/fixtures.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();

async function runningTickQuery(): Promise<string> {
  let query = '';
  await waitUntil(
    async () => {
      const { rows } = await db.client.query<{ query: string }>(
        `SELECT query FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, '/* package-scheduler:tick ')`,
      );
      query = rows[0]?.query ?? '';
      return query !== '';
    },
    { what: 'the tick statement to run', timeoutMs: 10_000 },
  );
  return query;
}

describe('the tick statement marker', () => {
  afterEach(async () => {
    await db.client.query('DROP SCHEMA IF EXISTS "CRM tenant" CASCADE');
  });

  it('names the table at the very start of the statement, within the first bytes pg_stat_activity keeps', async () => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, duePackage());
    await addUpdateTrigger(db.client, 'slow_tick', 'PERFORM pg_sleep(1.5);');
    const run = runCli(['run', '--timezone', 'UTC', '--no-history'], { env: { DATABASE_URL: db.url } });
    const query = await runningTickQuery();
    expect(query.startsWith('/* package-scheduler:tick "public"."special_packages" */\n')).toBe(true);
    const result = await run;
    expect(result.code).toBe(0);
    expect(result.events('package.activated').map((l) => l.packageId)).toEqual([String(id)]);
  });

  it('keeps a table name holding comment delimiters inside the comment (the tick still runs)', async () => {
    await db.client.query('CREATE SCHEMA "CRM tenant"');
    const table = '"CRM tenant"."promo/*x*/packages"';
    await createPackagesTable(db.client, { table });
    const id = await insertPackage(db.client, duePackage(), table);
    await addUpdateTrigger(db.client, 'slow_tick', 'PERFORM pg_sleep(1.5);', table);
    const run = runCli(['run', '--timezone', 'UTC', '--no-history', '--table', table], { env: { DATABASE_URL: db.url } });
    const query = await runningTickQuery();
    expect(query.startsWith('/* package-scheduler:tick "CRM tenant"."promo/ *x* /packages" */\n')).toBe(true);
    const result = await run;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.events('package.activated').map((l) => l.packageId)).toEqual([String(id)]);
    expect(result.events('tick.completed')[0]?.table).toBe('CRM tenant.promo/*x*/packages');
  });
});
