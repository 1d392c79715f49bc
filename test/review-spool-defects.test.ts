// Issue 18, the spool and the tick's transaction: multi-byte names across the spool's read
// blocks (#9), pruning that must never fail a tick (#5), a full temp folder (#15), and a
// stalled client that must not hold the table's lock forever (#14).
import { describe, expect, it } from 'vitest';
import { ChangeSpool } from '../src/change-spool.ts';
import { createPackagesTable, useTestDatabase } from './support/database.ts';
import { runCli } from './support/cli.ts';
import { scratchDir } from './support/scratch.ts';

const db = useTestDatabase();
const READ_BLOCK = 32 * 1024; // the spool's read size: what a character must be able to straddle

/** Every record the spool gives back, in order. */
function roundTrip(records: string[]): string[] {
  const spool = new ChangeSpool({ directory: scratchDir('ps-spool'), memoryBytes: 0 });
  try {
    spool.append(records);
    const back: string[] = [];
    spool.forEach((r) => back.push(r));
    return back;
  } finally {
    spool.close();
  }
}

describe('#9 multi-byte characters in the spool file', () => {
  it('a character straddling a read block boundary comes back whole, at every byte offset', () => {
    for (const char of ['ü', '✨', '💆']) {
      for (let shift = 0; shift < 4; shift++) {
        // One record that fills the block without a newline, and one after a short record.
        const long = `${'a'.repeat(READ_BLOCK - 1 - shift)}${char} tail`;
        const afterShort = ['x', `${'b'.repeat(READ_BLOCK - 3 - shift)}${char} tail`];
        expect(roundTrip([long, 'next'])).toEqual([long, 'next']);
        expect(roundTrip([...afterShort, 'next'])).toEqual([...afterShort, 'next']);
      }
    }
  });

  it('20,000 Cyrillic and emoji records keep every byte', () => {
    const records = Array.from({ length: 20_000 }, (_, i) => `{"name":"Пакет для невесты ✨ ${i + 1}"}`);
    expect(roundTrip(records)).toEqual(records);
  });

  it('the CLI logs 20,000 due packages named in Cyrillic with an emoji, every name exact', async () => {
    await createPackagesTable(db.client);
    await db.client.query(
      `INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date, schedule_time)
       SELECT 'Пакет для невесты ✨ ' || g, true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 20000) AS g`,
    );
    const tmp = scratchDir('ps-tmpdir');
    const r = await runCli(['run'], { env: { DATABASE_URL: db.url, TMPDIR: tmp, SCHEDULER_TIMEZONE: 'Europe/Berlin' }, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const activated = r.events('package.activated');
    expect(activated).toHaveLength(20_000);
    expect(activated.filter((l) => String(l.name).includes('\uFFFD'))).toEqual([]);
    expect(activated.map((l) => l.name)).toEqual(Array.from({ length: 20_000 }, (_, i) => `Пакет для невесты ✨ ${i + 1}`));
    expect(activated.map((l) => Number(l.packageId))).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  }, 90_000);
});
