// For check and status: the zones PostgreSQL does not know among all rows with something to
// do (not only the tick's candidates), and those rows as misconfigured.
import type { Queryable } from '../db/resources.js';
import type { MisconfiguredRow } from './misconfigured.js';
import type { ExpiryMode } from '../tick/due-sql.js';
import type { PackagesTable } from '../table/packages-table.js';
import { rowsInZones, unknownZonesOf } from '../tick/zone-guard.js';

const LISTED = 100;

export async function unknownZonesReport(
  client: Queryable,
  table: PackagesTable,
  options: { timezone: string; expiry: ExpiryMode },
): Promise<{ zones: string[]; rows: MisconfiguredRow[] }> {
  if (!table.zone) return { zones: [], rows: [] };
  // 'now' is PostgreSQL's clock (the whole-table scope does not use the instant anyway).
  const clock = { instant: 'now', timezone: options.timezone };
  const zones = await unknownZonesOf(client, table, options.expiry, clock, 'all');
  const rows = await rowsInZones(client, table, options.expiry, clock, zones, 'all', LISTED);
  return {
    zones,
    rows: rows.map((r) => ({ packageId: r.packageId, problem: `unknown time zone "${r.timezone}" (${table.zone!.description}): it will never be changed` })),
  };
}
