// Per-row zones and zones PostgreSQL does not know ('Mars/Olympus', 'EST5EDT+junk'): one such
// row must not stop the others. The tick statement runs optimistically behind a savepoint; if
// PostgreSQL rejects a zone (22023), the zones in play are tested one by one, and the statement
// runs again leaving those rows alone. Zones that break --timezone's rule ('+03:00', 'UTC-167',
// config/zone-name.ts) PostgreSQL would accept, misread: the tick statement never uses them
// (clockRefs), and one more statement finds their rows to report them as unknown.
import { errorCode } from '../errors.js';
import { query, type Queryable } from '../db/resources.js';
import { keyListSql, packageIdSql } from '../table/key-sql.js';
import { Params } from '../db/params.js';
import { candidateSql, packagesFromSql, zoneSql, type ExpiryMode, type TickClock } from './due-sql.js';
import type { PackagesTable } from '../table/packages-table.js';
import { isZoneName, ZONE_NAME_PATTERN } from '../config/zone-name.js';
import { tickClock, type TickContext } from './context.js';
import type { UnknownZoneRow } from './result.js';
export type { UnknownZoneRow } from './result.js';


const INVALID_PARAMETER_VALUE = '22023';
const SAVEPOINT = 'package_scheduler_zones';

/**
 * Runs `run(unknownZones)` (which sends the statement and consumes its rows); with per-row
 * zones, runs it once more without the rows whose zone is unknown, and returns those rows too.
 * A failed first run must leave nothing behind: `run` starts afresh each time.
 */
export async function withUnknownZonesLeftOut<T>(
  tick: Pick<TickContext, 'client' | 'table' | 'options' | 'clock'>,
  run: (unknownZones: string[]) => Promise<T>,
): Promise<{ value: T; unknown: UnknownZoneRow[] }> {
  const { client, table } = tick;
  const expiry = tick.options.expiry;
  const clock = tickClock(tick);
  if (!table.zone) return { value: await run([]), unknown: [] };
  await client.query(`SAVEPOINT ${SAVEPOINT}`);
  let value: T;
  try {
    value = await run([]);
  } catch (error) {
    if (errorCode(error) !== INVALID_PARAMETER_VALUE) throw error;
    await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    const unknownZones = await unknownZonesOf(client, table, expiry, clock, 'candidates');
    if (unknownZones.length === 0) throw error; // not a zone after all
    const value = await run(unknownZones);
    return { value, unknown: await rowsInZones(client, table, expiry, clock, unknownZones, 'candidates') };
  }
  // The statement left the misnamed zones' rows alone; they are reported like unknown zones.
  const misnamed = await zonesOf(client, table, expiry, clock, 'candidates', true);
  return { value, unknown: await rowsInZones(client, table, expiry, clock, misnamed, 'candidates') };
}

/**
 * The zones among the rows (the tick's candidates, or all rows for check and status) that
 * PostgreSQL rejects, each tested behind its own savepoint.
 */
export async function unknownZonesOf(
  client: Queryable,
  table: PackagesTable,
  expiry: ExpiryMode,
  clock: TickClock,
  which: 'candidates' | 'all',
): Promise<string[]> {
  if (!table.zone) return [];
  const rows = await zonesOf(client, table, expiry, clock, which, false);
  const unknown: string[] = [];
  for (const zone of rows) {
    if (!isZoneName(zone)) {
      unknown.push(zone); // never shown to PostgreSQL, which might accept it as a POSIX spec
      continue;
    }
    await client.query(`SAVEPOINT ${SAVEPOINT}_test`);
    try {
      await client.query('SELECT now() AT TIME ZONE $1::text', [zone]);
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}_test`);
    } catch (error) {
      if (errorCode(error) !== INVALID_PARAMETER_VALUE) throw error;
      await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}_test`);
      unknown.push(zone);
    }
  }
  return unknown.sort();
}

/** The distinct zones in scope; `misnamedOnly`: only those that break the zone-name rule. */
async function zonesOf(
  client: Queryable,
  table: PackagesTable,
  expiry: ExpiryMode,
  clock: TickClock,
  which: 'candidates' | 'all',
  misnamedOnly: boolean,
): Promise<string[]> {
  const params = new Params();
  const zone = zoneSql(params, table, clock.timezone);
  const misnamed = misnamedOnly ? ` AND NOT ((${zone}) COLLATE "C" ~* ${params.add(ZONE_NAME_PATTERN, 'text')})` : '';
  const { rows } = await query<{ zone: string }>(
    client,
    params.statement(`SELECT DISTINCT ${zone} AS zone FROM ${packagesFromSql(table)} WHERE ${scope(params, table, expiry, clock, which)}${misnamed}`),
  );
  return rows.map((r) => r.zone).sort();
}

/** The rows (candidates or all, at most `limit`) whose zone is one of `zones`. */
export async function rowsInZones(
  client: Queryable,
  table: PackagesTable,
  expiry: ExpiryMode,
  clock: TickClock,
  zones: string[],
  which: 'candidates' | 'all',
  limit = 100_000,
): Promise<UnknownZoneRow[]> {
  if (zones.length === 0) return [];
  const params = new Params();
  const zone = zoneSql(params, table, clock.timezone);
  const { rows } = await query<{ package_id: string; name: string | null; timezone: string; action: UnknownZoneRow['action'] }>(
    client,
    params.statement(`SELECT ${packageIdSql(table)} AS package_id, ${table.nameColumn ? `p.${table.nameColumn}::text` : 'NULL::text'} AS name,
            ${zone} AS timezone,
            CASE WHEN p.scheduled AND p.auto_activate THEN 'activate' ELSE 'deactivate' END AS action
       FROM ${packagesFromSql(table)}
      WHERE ${zone} = ANY(${params.add(zones, 'text[]')}) AND ${scope(params, table, expiry, clock, which)}
      ORDER BY ${keyListSql(table)}
      LIMIT ${params.add(limit, 'int')}`),
  );
  return rows.map((r) => ({ packageId: r.package_id, ...(r.name === null ? {} : { name: r.name }), timezone: r.timezone, action: r.action }));
}

function scope(params: Params, table: PackagesTable, expiry: ExpiryMode, clock: TickClock, which: 'candidates' | 'all'): string {
  if (which === 'all') return '((p.scheduled AND p.auto_activate) OR (p.is_active AND p.auto_deactivate))';
  const candidates = candidateSql(table, expiry, params.add(clock.instant, 'timestamptz'));
  return `((${candidates.activation}) OR (${candidates.deactivation}))`;
}
