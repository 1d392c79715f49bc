// --every: a long-running process that keeps ticking, survives failed ticks and stops cleanly.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addUpdateTrigger, createPackagesTable, getPackage, insertPackage, useTestDatabase, waitForActiveTick } from './support/database.ts';
import { runCli } from './support/cli.ts';

const db = useTestDatabase();

/** Resolves when the child's stdout has shown `count` lines containing `needle`. */
function waitForOutput(child: ChildProcess, needle: string, count = 1): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString().split(needle).length - 1;
      if (seen >= count) resolve();
    });
  });
}

describe('--every', () => {
  it('ticks repeatedly, logs a failed tick and carries on, and exits 0 on SIGTERM', async () => {
    await db.client.query('DROP TABLE IF EXISTS special_packages');
    let child!: ChildProcess;
    const run = runCli(['run', '--every', '1'], {
      env: { DATABASE_URL: db.url },
      onSpawn: (c) => (child = c),
      timeoutMs: 25_000,
    });
    // The table does not exist yet: the first tick fails, the process stays up.
    await waitForOutput(child, '"tick.failed"');
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    await waitForOutput(child, '"tick.completed"', 2);
    child.kill('SIGTERM');
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.events('tick.failed')[0]).toMatchObject({ exitCode: 78, retrying: true });
    expect(r.events('package.activated')).toEqual([expect.objectContaining({ packageId: String(id) })]);
    expect(r.events('tick.completed').length).toBeGreaterThanOrEqual(2);
    expect(r.lines.at(-1)).toMatchObject({ event: 'scheduler.stopped' });
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('finishes the tick in progress when SIGTERM arrives during it, then exits 0', async () => {
    await createPackagesTable(db.client);
    const id = await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' });
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(1);');
    let child!: ChildProcess;
    const run = runCli(['run', '--every', '60'], { env: { DATABASE_URL: db.url }, onSpawn: (c) => (child = c) });
    await waitForOutput(child, '"scheduler.started"');
    await waitForActiveTick(db.client); // asleep in the trigger, mid-UPDATE
    child.kill('SIGTERM');
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.events('tick.completed')[0]).toMatchObject({ activated: 1 });
    expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('one-shot: SIGTERM mid-tick lets the tick finish whole (as PID 1 in a container would need), then exits 0', async () => {
    await createPackagesTable(db.client);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await insertPackage(db.client, { scheduled: true, auto_activate: true, schedule_date: '2026-01-01' }));
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(0.5);');
    let child!: ChildProcess;
    const run = runCli(['run'], { env: { DATABASE_URL: db.url }, onSpawn: (c) => (child = c) });
    await waitForActiveTick(db.client);
    child.kill('SIGTERM');
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.events('scheduler.stopping')).toEqual([expect.objectContaining({ signal: 'SIGTERM' })]);
    expect(r.events('package.activated')).toHaveLength(3);
    for (const id of ids) expect((await getPackage(db.client, id)).is_active).toBe(true);
  });
});
