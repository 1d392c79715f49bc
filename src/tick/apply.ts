// The tick statement's two forms, each behind the zone guard: apply (the real tick: lock,
// update, record events) and preview (the dry run, check and status: read-only, no locks).
import type { ChangeSpool } from './change-spool.js';
import { collect, tickClock, type Changes, type TickContext } from './context.js';
import type { Runner } from '../history/history-sql.js';
import { applyTickStatement, previewTickStatement } from './tick-sql.js';
import { rowsInZones, withUnknownZonesLeftOut } from './zone-guard.js';
import { applyOnCitus } from '../citus/apply.js';
import { managedByCitus } from '../citus/topology.js';

/** Who a real tick is, as the state row, history events and notifications name it. */
export type Tick = { tableName: string; runId: string; runner: Runner };

/** The tick statement: changes the due rows (and, with history, records one event per change). */
export async function apply(tick: TickContext<ChangeSpool>, who: Tick): Promise<Changes> {
  const { table, options } = tick;
  const recording = table.history && { tables: table.history, ...who };
  if (managedByCitus(table.citus)) return applyOnCitus(tick, table.citus, recording);
  const { value, unknown } = await withUnknownZonesLeftOut(tick, (unknownZones) =>
    collect(tick, applyTickStatement(table, options.expiry, tickClock(tick, unknownZones), recording, tick.maxRows)),
  );
  value.result.timezoneUnknown = unknown;
  return value;
}

/** The dry run's changes; `unknownZones` when the caller already knows them (check, status). */
export async function preview<S extends ChangeSpool | undefined>(tick: TickContext<S>, unknownZones?: string[]): Promise<Changes<S>> {
  const { table, options } = tick;
  const statement = (zones: string[]) => previewTickStatement(table, options.expiry, tickClock(tick, zones));
  if (unknownZones !== undefined) {
    const changes = await collect(tick, statement(unknownZones));
    changes.result.timezoneUnknown = await rowsInZones(tick.client, table, options.expiry, tickClock(tick), unknownZones, 'candidates');
    return changes;
  }
  const { value, unknown } = await withUnknownZonesLeftOut(tick, (zones) => collect(tick, statement(zones)));
  value.result.timezoneUnknown = unknown;
  return value;
}
