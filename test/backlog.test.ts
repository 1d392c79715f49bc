// A backlog: more changes than a tick keeps in memory. The records wait for COMMIT in a spool
// file (unlinked at once), every change still gets exactly one line after COMMIT, in order, and
// stdout is written in large blocks that are flushed whatever way the process ends.
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LIST_LIMIT, runTick } from '../src/tick/tick.ts';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { recordingLogger, parseJsonLines, type LogLine } from './support/logs.ts';
import { runCli } from './support/cli.ts';
import { tickOptions } from './support/tick-options.ts';
import { expectCompleted } from './support/fixtures.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();

/** `due` activations then `expired` deactivations, with names that are not ASCII. */
async function backlog(due: number, expired: number): Promise<void> {
  await createPackagesTable(db.client);
  await db.client.query(
    `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
     SELECT 'Gesichtsbehandlung für Größe ' || g || ' 💆', true, true, date '2026-01-01', time '09:00' FROM generate_series(1, $1::int) AS g`,
    [due],
  );
  await db.client.query(
    `INSERT INTO special_packages (name, is_active, auto_deactivate, valid_until)
     SELECT 'Maniküre ' || g, true, true, date '2026-01-01' FROM generate_series(1, $1::int) AS g`,
    [expired],
  );
}

async function leftDue(): Promise<number> {
  const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM special_packages WHERE scheduled OR (is_active AND auto_deactivate)`);
  return rows[0]!.n;
}

/** Files this process has open under `dir` (an unlinked one reads "… (deleted)"). */
function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(dir));
}

function expectEveryChangeInOrder(lines: LogLine[], due: number, expired: number, events = { activated: 'package.activated', deactivated: 'package.deactivated' }): void {
  const changes = lines.filter((l) => l.event === events.activated || l.event === events.deactivated);
  expect(changes).toHaveLength(due + expired);
  // All activations, then all deactivations, each in key order: as before the spool.
  expect(changes.slice(0, due).every((l) => l.event === events.activated)).toBe(true);
  expect(changes.slice(0, due).map((l) => Number(l.packageId))).toEqual(Array.from({ length: due }, (_, i) => i + 1));
  expect(changes.slice(due).map((l) => Number(l.packageId))).toEqual(Array.from({ length: expired }, (_, i) => due + i + 1));
  expect(changes[due - 1]).toMatchObject({ name: `Gesichtsbehandlung für Größe ${due} 💆`, dueAt: '2026-01-01T09:00:00', timezone: 'Europe/Berlin' });
  expect(typeof changes[0]!.lateSeconds).toBe('number');
  if (expired > 0) expect(changes.at(-1)).toMatchObject({ name: `Maniküre ${expired}`, validUntil: '2026-01-01', timezone: 'Europe/Berlin' });
}

describe('a backlog larger than the spool keeps in memory', () => {
  it('waits for COMMIT in an unlinked file, then logs every change once, in order, and leaves nothing in the folder', async () => {
    await backlog(3000, 2000);
    const spoolDir = scratchDir('ps-spool');
    const logger = recordingLogger();
    let openDuringLogging: string[] | undefined;
    const info = logger.info;
    logger.info = (fields, message) => {
      openDuringLogging ??= openFilesUnder(spoolDir);
      info(fields, message);
    };
    const result = expectCompleted(await runTick(db.client, tickOptions({ spoolDirectory: spoolDir, spoolMemoryBytes: 64 * 1024 }), logger));
    // The first line was logged while the records were being read back from the file.
    expect(openDuringLogging).toHaveLength(1);
    expect(openDuringLogging![0]).toMatch(/ \(deleted\)$/);
    expect(openFilesUnder(spoolDir)).toEqual([]);
    expect(readdirSync(spoolDir)).toEqual([]);
    expectEveryChangeInOrder(logger.lines, 3000, 2000);
    expect(result.counts).toEqual({ activated: 3000, deactivated: 2000, activationSkipped: 0 });
    expect(result.activated).toHaveLength(LIST_LIMIT);
    expect(result.activated[0]).toMatchObject({ packageId: '1', name: 'Gesichtsbehandlung für Größe 1 💆' });
    expect(result.listsComplete).toBe(false);
    expect(logger.events('tick.completed')[0]).toMatchObject({ activated: 3000, deactivated: 2000 });
    expect(await leftDue()).toBe(0);
  });

  it('a dry run spools the same way and changes nothing', async () => {
    await backlog(1500, 1500);
    const logger = recordingLogger();
    const spoolDir = scratchDir('ps-spool');
    await runTick(db.client, tickOptions({ dryRun: true, spoolDirectory: spoolDir, spoolMemoryBytes: 16 * 1024 }), logger);
    expectEveryChangeInOrder(logger.lines, 1500, 1500, { activated: 'package.would_activate', deactivated: 'package.would_deactivate' });
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(await leftDue()).toBe(3000);
  });

  it('keeps the records in memory, with one warning, when no file can be made', async () => {
    await backlog(2000, 0);
    const logger = recordingLogger();
    const missing = join(scratchDir('ps-spool'), 'not-there');
    await runTick(db.client, tickOptions({ spoolDirectory: missing, spoolMemoryBytes: 16 * 1024 }), logger);
    expect(logger.events('tick.spool_in_memory')).toEqual([expect.objectContaining({ level: 'warn', code: 'ENOENT' })]);
    expectEveryChangeInOrder(logger.lines, 2000, 0);
    expect(await leftDue()).toBe(0);
  });

  it('logs nothing and changes nothing when COMMIT fails after the records were spooled', async () => {
    await backlog(2000, 1000);
    // A deferred constraint trigger fails at COMMIT, after every page was read.
    await db.client.query(`
      CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'P0001'; END $$;
      CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER UPDATE ON special_packages
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();`);
    const logger = recordingLogger();
    const spoolDir = scratchDir('ps-spool');
    await expect(runTick(db.client, tickOptions({ spoolDirectory: spoolDir, spoolMemoryBytes: 16 * 1024 }), logger)).rejects.toMatchObject({ code: 'P0001' });
    expect(logger.lines.filter((l) => l.event?.startsWith('package.'))).toEqual([]);
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(openFilesUnder(spoolDir)).toEqual([]);
    expect(await leftDue()).toBe(3000);
  });

  it('the CLI logs a backlog whole, as JSON lines written in blocks, with TMPDIR as the spool folder', async () => {
    await backlog(20_000, 20_000);
    const tmp = scratchDir('ps-tmpdir');
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, TMPDIR: tmp, SCHEDULER_TIMEZONE: 'Europe/Berlin' }, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectEveryChangeInOrder(r.lines, 20_000, 20_000);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 20_000, deactivated: 20_000 });
    expect(r.lines.at(-1)!.event).toBe('tick.completed');
    // No spool folder left (Node 22+ keeps its own compile cache in TMPDIR too).
    expect(readdirSync(tmp).filter((f) => f.startsWith('package-scheduler-'))).toEqual([]);
    expect(await leftDue()).toBe(0);
  }, 90_000);

  it('names with tabs, newlines, backslashes or a literal \\N, and no name at all, come through the spool unchanged', async () => {
    await createPackagesTable(db.client);
    await db.client.query('ALTER TABLE special_packages ALTER COLUMN name DROP NOT NULL');
    const names = ['tab\there', 'line\nbreak', 'back\\slash', '\\N', '\\t not a tab', 'trailing\\', null, ''];
    await db.client.query(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date) SELECT n, true, true, date '2026-01-01' FROM unnest($1::text[]) AS n`,
      [names],
    );
    const logger = recordingLogger();
    const result = expectCompleted(await runTick(db.client, tickOptions({ spoolDirectory: scratchDir('ps-spool'), spoolMemoryBytes: 1 }), logger));
    expect(logger.events('package.activated').map((l) => l.name ?? null)).toEqual(names.map((n) => n ?? null));
    expect(result.activated.map((a) => a.name ?? null)).toEqual(names);
  });

  it('check counts a backlog and lists the first of each kind', async () => {
    await backlog(LIST_LIMIT + 200, 3);
    const r = await runCli(['check'], { env: { DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`due now: ${LIST_LIMIT + 200} to activate, 3 to deactivate, 0 expired before activation`);
    expect(r.stdout).toContain('  … and 200 more to activate');
    expect(r.stdout.match(/^ {2}activate {4}/gm)).toHaveLength(LIST_LIMIT);
    expect(r.stdout.match(/^ {2}deactivate {2}/gm)).toHaveLength(3);
  });
});

describe('the CLI log buffer', () => {
  const logModule = fileURLToPath(new URL('../dist/cli/log.js', import.meta.url));
  const script = (end: string) => `
    const { makeLogger } = await import(${JSON.stringify(logModule)});
    const logger = await makeLogger('info');
    for (let i = 1; i <= 3000; i++) logger.info({ event: 'line', i }, 'line');
    ${end}`;

  for (const [how, end, status] of [
    ['an uncaught exception', `throw new Error('crash after commit');`, 1],
    ['process.exit()', `process.exit(3);`, 3],
    ['the event loop running dry', ``, 0],
  ] as const) {
    it(`writes every buffered line before the process ends by ${how}`, () => {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script(end)], { encoding: 'utf8' });
      expect(child.status).toBe(status);
      const lines = parseJsonLines(child.stdout);
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    });
  }
});
