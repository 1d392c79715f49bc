// Rules 6-8: one transaction, never waiting on the CRM's row locks, one run per table.
import { beforeEach, describe, expect, it } from 'vitest';
import { runTick, type TickResult } from '../src/tick/tick.ts';
import { exitCodeFor } from '../src/errors.ts';
import { addUpdateTrigger, createPackagesTable, getPackage, insertPackage, useTestDatabase } from './support/database.ts';
import { recordingLogger } from './support/logs.ts';
import { tickOptions } from './support/tick-options.ts';
import { addAuditTrigger, insertMany, duePackage, expectCompleted, expiredPackage, holdTableLock } from './support/fixtures.ts';

const db = useTestDatabase();
const due = duePackage();
const expired = expiredPackage;

describe('concurrency and atomicity', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
  });

  it('skips a row an admin holds locked, without waiting, and handles it on the next tick', async () => {
    const locked = await insertPackage(db.client, due);
    const free = await insertPackage(db.client, due);
    const admin = await db.connect();
    await admin.query('BEGIN');
    await admin.query(`UPDATE special_packages SET name = 'edited by admin' WHERE id = $1`, [locked]);

    const started = performance.now();
    const first = await runTick(db.client, tickOptions({ lockTimeoutMs: 60_000 }), recordingLogger());
    const waitedMs = performance.now() - started;
    expect(expectCompleted(first).activated.map((a) => a.packageId)).toEqual([String(free)]);
    expect(waitedMs).toBeLessThan(5_000); // would be the full 60 s lock_timeout if it waited
    expect((await getPackage(db.client, locked)).is_active).toBe(false);

    await admin.query('COMMIT');
    const second = await runTick(db.client, tickOptions(), recordingLogger());
    expect(expectCompleted(second).activated.map((a) => a.packageId)).toEqual([String(locked)]);
    expect(await getPackage(db.client, locked)).toMatchObject({ is_active: true, name: 'edited by admin' });
  });

  it('changes nothing and reports skipped while another run holds the table lock', async () => {
    const id = await insertPackage(db.client, due);
    const release = await holdTableLock(await db.connect());
    const log = recordingLogger();
    const result = await runTick(db.client, tickOptions(), log);
    expect(result).toMatchObject({ status: 'skipped', reason: 'locked', table: 'public.special_packages' });
    expect(log.events('tick.skipped')).toEqual([expect.objectContaining({ reason: 'locked' })]);
    expect((await getPackage(db.client, id)).is_active).toBe(false);
    await release();
  });

  it('two runs at once change each package exactly once', async () => {
    await addAuditTrigger(db.client);
    await insertMany(db.client, { due: 300, expired: 300 });
    const [a, b] = await Promise.all([db.connect(), db.connect()]);
    const results: TickResult[] = await Promise.all([
      runTick(a, tickOptions(), recordingLogger()),
      runTick(b, tickOptions(), recordingLogger()),
    ]);
    const activated = results.flatMap((r) => (r.status === 'completed' ? r.activated.map((x) => x.packageId) : []));
    const deactivated = results.flatMap((r) => (r.status === 'completed' ? r.deactivated.map((x) => x.packageId) : []));
    expect(activated).toHaveLength(300);
    expect(new Set(activated).size).toBe(300);
    expect(deactivated).toHaveLength(300);
    const { rows } = await db.client.query<{ n: string; distinct_ids: string }>(
      'SELECT count(*) AS n, count(DISTINCT package_id) AS distinct_ids FROM audit',
    );
    expect(rows[0]).toEqual({ n: '600', distinct_ids: '600' });
  });

  it('rolls back every change when a statement fails half-way', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await insertPackage(db.client, i % 2 === 0 ? due : expired));
    // The CRM's own trigger rejects one row: nothing of the tick may stay behind.
    await addUpdateTrigger(db.client, 'reject_one', `IF NEW.id = ${ids[3]} THEN RAISE EXCEPTION 'rejected by the CRM' USING ERRCODE = 'P0001'; END IF;`);
    const { rows: before } = await db.client.query('SELECT * FROM special_packages ORDER BY id');
    const log = recordingLogger();
    const error = await runTick(db.client, tickOptions(), log).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'P0001' });
    expect(exitCodeFor(error)).toBe(70);
    const { rows: after } = await db.client.query('SELECT * FROM special_packages ORDER BY id');
    expect(after).toEqual(before);
    expect(log.lines.filter((l) => l.event?.startsWith('package.'))).toEqual([]);
    // The connection is usable again: the transaction was closed.
    const { rows } = await db.client.query<{ in_tx: boolean }>(`SELECT now() <> statement_timestamp() AS in_tx`);
    expect(rows[0]!.in_tx).toBe(false);
  });

  it('gives up with a temporary error when a statement runs past statement_timeout, changing nothing', async () => {
    const id = await insertPackage(db.client, due);
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(2);');
    const error = await runTick(db.client, tickOptions({ statementTimeoutMs: 200 }), recordingLogger()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '57014' });
    expect(exitCodeFor(error)).toBe(75);
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });

  it('gives up with a temporary error when the table is locked past lock_timeout', async () => {
    const id = await insertPackage(db.client, due);
    const ddl = await db.connect();
    await ddl.query('BEGIN');
    await ddl.query('LOCK TABLE special_packages IN ACCESS EXCLUSIVE MODE');
    const error = await runTick(db.client, tickOptions({ lockTimeoutMs: 200 }), recordingLogger()).catch((e: unknown) => e);
    await ddl.query('ROLLBACK');
    expect(error).toMatchObject({ code: '55P03' });
    expect(exitCodeFor(error)).toBe(75);
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });
});
