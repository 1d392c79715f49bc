// Rows and situations several test files need: due and expired packages, another run holding
// the table lock, an audit trigger that counts every update.
import type pg from 'pg';
import { expect } from 'vitest';
import type { TickCompleted, TickResult } from '../../src/tick/tick.ts';

/** Due for activation since 2026-01-01 09:00 local, whatever the zone. */
export function duePackage(date = '2026-01-01') {
  return { scheduled: true, auto_activate: true, schedule_date: date, schedule_time: '09:00:00' };
}

/** Active, auto_deactivate, valid until a day long past. */
export const expiredPackage = { is_active: true, auto_deactivate: true, valid_until: '2026-01-01' };

/**
 * The advisory lock key of public.special_packages, written out rather than computed: versions
 * running side by side during an upgrade must agree on it, so a change must fail a test.
 */
export const TABLE_LOCK_KEY = 'package-scheduler:"public"."special_packages"';

/**
 * Opens a transaction on `client` holding the table's advisory lock, as a running tick does.
 * Returns the function that releases it.
 */
export async function holdTableLock(client: pg.ClientBase, key = TABLE_LOCK_KEY): Promise<() => Promise<void>> {
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [key]);
  return async () => void (await client.query('ROLLBACK'));
}

/** Records every UPDATE of the packages table in `audit`, to prove each package changes exactly once. */
export async function addAuditTrigger(client: pg.ClientBase): Promise<void> {
  await client.query(`
    DROP TABLE IF EXISTS audit;
    CREATE TABLE audit (package_id int, is_active boolean, scheduled boolean);
    CREATE OR REPLACE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO audit VALUES (NEW.id, NEW.is_active, NEW.scheduled); RETURN NEW; END $$;
    CREATE TRIGGER audit_change AFTER UPDATE ON special_packages FOR EACH ROW EXECUTE FUNCTION audit_change();`);
}

/** Bulk rows: `due` packages due since 2026-01-01 09:00, `expired` active ones past valid_until. */
export async function insertMany(client: pg.ClientBase, counts: { due: number; expired: number }): Promise<void> {
  await client.query(
    `INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
     SELECT true, true, date '2026-01-01', time '09:00' FROM generate_series(1, $1::int)`,
    [counts.due],
  );
  await client.query(
    `INSERT INTO special_packages (is_active, auto_deactivate, valid_until)
     SELECT true, true, date '2026-01-01' FROM generate_series(1, $1::int)`,
    [counts.expired],
  );
}

/** Asserts the tick completed (not skipped) and narrows the type. */
export function expectCompleted(result: TickResult): TickCompleted {
  expect(result.status).toBe('completed');
  return result as TickCompleted;
}
