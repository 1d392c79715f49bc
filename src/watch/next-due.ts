// Asks the database for a table's next due instant (next-due-sql.ts) in a short read-only
// transaction: the table resolved as the tick resolves it, rows in zones PostgreSQL does not
// know left out (the tick leaves them alone too).
import { errorCode } from '../errors.js';
import { query, withTransaction, type Queryable } from '../db/resources.js';
import { resolveTable } from '../tick/context.js';
import { transactionOptions, type PreviewOptions } from '../tick/options.js';
import { unknownZonesOf } from '../tick/zone-guard.js';
import { nextDueStatement, type NextDueRow } from './next-due-sql.js';
import { managedByCitus } from '../citus/topology.js';
import { ConfigError } from '../errors.js';

export interface NextDue {
  /** UTC ISO 8601, or null: nothing due within the horizon. */
  at: string | null;
  /** Milliseconds from the database's clock to `at` (≤ 0: due already). */
  waitMs: number | null;
}

const INVALID_PARAMETER_VALUE = '22023';

export async function nextDue(
  client: Queryable,
  options: PreviewOptions,
  q: { after: string | null; horizonSeconds?: number },
): Promise<NextDue> {
  return withTransaction(client, transactionOptions(options, true), async () => {
    const table = await resolveTable(client, options, {});
    if (managedByCitus(table.citus)) {
      throw new ConfigError('run --watch does not support tables Citus manages yet (the due instants cannot be planned over distributed rows): run it from cron or with --every');
    }
    const statement = (unknownZones: string[]) =>
      nextDueStatement(table, options.expiry, { ...q, timezone: options.timezone, unknownZones });
    let row: NextDueRow;
    if (!table.zone) {
      row = (await query<NextDueRow>(client, statement([]))).rows[0]!;
    } else {
      await client.query('SAVEPOINT package_scheduler_next_due');
      try {
        row = (await query<NextDueRow>(client, statement([]))).rows[0]!;
      } catch (error) {
        if (errorCode(error) !== INVALID_PARAMETER_VALUE) throw error;
        await client.query('ROLLBACK TO SAVEPOINT package_scheduler_next_due');
        const clock = { instant: q.after ?? new Date(0).toISOString(), timezone: options.timezone };
        const unknown = await unknownZonesOf(client, table, options.expiry, clock, 'all');
        row = (await query<NextDueRow>(client, statement(unknown))).rows[0]!;
      }
    }
    return { at: row.next_due, waitMs: row.wait_ms === null ? null : Number(row.wait_ms) };
  });
}
