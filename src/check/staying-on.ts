// For check: active packages past their valid_until that no tick will switch off, because
// auto_deactivate is off. Often meant (valid_until only informs), often not: the owner decides.
import type { Queryable } from '../db/resources.js';
import { packagesFromSql, validUntilPassedSql, type ClockRefs, type ExpiryMode } from '../tick/due-sql.js';
import { Params } from '../db/params.js';
import type { PackagesTable } from '../table/packages-table.js';
import { carriedKeySql, keyColumnsSql, packageIdSql } from '../table/key-sql.js';
import { managedByCitus } from '../citus/topology.js';

export interface StayingOn {
  count: number;
  /** The first few, by id, to look at. */
  packageIds: string[];
}

const LISTED = 5;

/**
 * "Passed" is the tick's own rule (--expiry, each row's zone), against the transaction's
 * now(); rows in a zone PostgreSQL does not know are left out (check reports them already).
 */
export async function findStayingOn(
  client: Queryable,
  table: PackagesTable,
  options: { timezone: string; expiry: ExpiryMode },
  unknownZones: string[],
): Promise<StayingOn> {
  const params = new Params();
  const defaultZone = params.add(options.timezone, 'text');
  const zone = table.zone ? `coalesce(${table.zone.expression}, ${defaultZone})` : defaultZone;
  // A table Citus manages: wall-clock comparisons (due-sql.ts, ClockRefs.wallClock).
  const clock: ClockRefs = { instant: 'now()', zone, defaultZone, ...(managedByCitus(table.citus) ? { wallClock: true } : {}) };
  let passed = validUntilPassedSql(table.validUntilType, options.expiry, clock);
  if (table.zone) passed = `CASE WHEN ${zone} = ANY(${params.add(unknownZones, 'text[]')}) THEN false ELSE (${passed}) END`;
  const { rows } = await client.query<{ count: string; package_ids: string[] | null }>(
    `SELECT count(*) AS count, (array_agg(package_id ORDER BY ${carriedKeySql(table, 's', 'key_')}))[1:${LISTED}] AS package_ids
       FROM (SELECT ${keyColumnsSql(table, 'p', 'key_')}, ${packageIdSql(table)} AS package_id
               FROM ${packagesFromSql(table)}
              WHERE p.is_active AND p.auto_deactivate IS NOT TRUE AND p.valid_until IS NOT NULL AND (${passed}) IS TRUE) AS s`,
    params.values,
  );
  return { count: Number(rows[0]?.count ?? 0), packageIds: rows[0]?.package_ids ?? [] };
}

/** The warning line check prints for them, with what to do. */
export function stayingOnWarning(found: StayingOn, display: string): string | undefined {
  if (found.count === 0) return undefined;
  const more = found.count > found.packageIds.length ? ', …' : '';
  return `${found.count} active package${found.count === 1 ? ' is' : 's are'} past valid_until with auto_deactivate off: ${found.count === 1 ? 'it' : 'they'} will stay on (${found.packageIds.join(', ')}${more}); to have ticks switch them off: UPDATE ${display} SET auto_deactivate = true WHERE …`;
}
