// DATABASE_URL_FILE and PGPASSWORD_FILE: secrets as files, the convention of the official
// database images and of Docker and Kubernetes secrets.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPackagesTable, insertPackage, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { duePackage } from './support/fixtures.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();

function secretFile(content: string): string {
  const file = join(scratchDir('ps-secret'), 'secret');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

describe('secrets from files', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('DATABASE_URL_FILE: the URL read from the file, trailing newline trimmed', async () => {
    await insertPackage(db.client, duePackage());
    const r = await runCli(['run'], { env: { DATABASE_URL_FILE: secretFile(`${db.url}\n`) } });
    expect(r.code).toBe(0);
    expect(r.events('package.activated')).toHaveLength(1);
  });

  it('PGPASSWORD_FILE with the libpq variables', async () => {
    const u = new URL(db.url);
    const env = {
      PGHOST: u.hostname,
      PGPORT: u.port,
      PGUSER: decodeURIComponent(u.username),
      PGDATABASE: u.pathname.slice(1),
      PGPASSWORD_FILE: secretFile(`${decodeURIComponent(u.password)}\n`),
    };
    const r = await runCli(['run'], { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('X and X_FILE both set is 78 naming both', async () => {
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, DATABASE_URL_FILE: secretFile(db.url) } });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe('package-scheduler: both DATABASE_URL and DATABASE_URL_FILE are set; set only one\n');
    const p = await runCli(['run'], { env: { PGHOST: 'x', PGPASSWORD: 'a', PGPASSWORD_FILE: secretFile('b') } });
    expect(p.stderr).toBe('package-scheduler: both PGPASSWORD and PGPASSWORD_FILE are set; set only one\n');
  });

  it('a missing or unreadable file is 78 naming the variable, before connecting', async () => {
    const dir = scratchDir('ps-secret');
    const r = await runCli(['run'], { env: { DATABASE_URL_FILE: join(dir, 'nope') } });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`package-scheduler: DATABASE_URL_FILE: cannot read ${join(dir, 'nope')} (ENOENT)\n`);
    const folder = await runCli(['run'], { env: { PGHOST: '127.0.0.1', PGPASSWORD_FILE: dir } });
    expect(folder.code).toBe(78);
    expect(folder.stderr).toBe(`package-scheduler: PGPASSWORD_FILE: cannot read ${dir} (EISDIR)\n`);
  });

  it('the content is never printed, also when it is wrong', async () => {
    const u = new URL(db.url);
    u.password = 'file-secret-9c41';
    const r = await runCli(['run'], { env: { DATABASE_URL_FILE: secretFile(`${u}\n`) } });
    expect(r.code).toBe(78); // authentication failed
    expect(r.stdout + r.stderr).not.toContain('file-secret-9c41');
    const garbage = await runCli(['run'], { env: { DATABASE_URL_FILE: secretFile('not a url file-secret-9c41') } });
    expect(garbage.code).toBe(78);
    expect(garbage.stdout + garbage.stderr).not.toContain('file-secret-9c41');
  });
});
