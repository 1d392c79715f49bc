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
