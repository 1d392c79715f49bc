// status: the next activations and deactivations, in each row's zone (its own with per-row
// zones, else the default). Rows whose zone PostgreSQL does not know are left out here; status
// reports them as overdue instead.
import { query, type Queryable } from '../db/resources.js';
import { isoLocal } from '../db/sql-fragments.js';
import { carriedKeySql, keyColumnsSql, keyListSql, packageIdAndNameSql } from '../table/key-sql.js';
import { Params } from '../db/params.js';
import { deactivationDueLocalSql, packagesFromSql, validUntilTextSql, zoneSql, type ExpiryMode } from '../tick/due-sql.js';
import type { PackagesTable } from '../table/packages-table.js';

export interface Upcoming {
  packageId: string;
  name?: string;
  /** Wall-clock time in `timezone`. */
  at: string;
  inSeconds: number;
  /** The zone the row is evaluated in. */
  timezone: string;
}

interface Zones {
  timezone: string;
  unknownZones: string[];
}

interface UpcomingRow {
  package_id: string;
  name: string | null;
  at: string;
  in_seconds: string;
  timezone: string;
}

/** `known(condition)` is false, and `knownValue(value)` NULL, for rows in an unknown zone (CASE keeps AT TIME ZONE away from it). */
function zoneGuard(params: Params, table: PackagesTable, zones: Zones) {
  const zone = zoneSql(params, table, zones.timezone);
  if (!table.zone) return { zone, known: (condition: string) => condition, knownValue: (value: string) => value };
  const unknown = params.add(zones.unknownZones, 'text[]');
  return {
    zone,
    known: (condition: string) => `CASE WHEN ${zone} = ANY(${unknown}) THEN false ELSE (${condition}) END`,
    knownValue: (value: string) => `CASE WHEN ${zone} = ANY(${unknown}) THEN NULL ELSE ${value} END`,
  };
}

function upcoming(rows: UpcomingRow[]): Upcoming[] {
  return rows.map((r) => ({
    packageId: r.package_id,
    ...(r.name === null ? {} : { name: r.name }),
    at: r.at,
    inSeconds: Number(r.in_seconds),
    timezone: r.timezone,
  }));
}

export async function nextActivations(client: Queryable, table: PackagesTable, zones: Zones, limit: number): Promise<Upcoming[]> {
  // NULL past the timestamp range (year 294276) instead of an error: such rows are not listed.
  const due = `(CASE WHEN p.schedule_date < date '294276-01-01' THEN p.schedule_date + coalesce(p.schedule_time, time '00:00') END)`;
  const params = new Params();
  const { zone, known } = zoneGuard(params, table, zones);
  // One zone: the index order is the time order. Per-row zones: order by the instant.
  const order = table.zone ? 'in_seconds' : 'p.schedule_date, p.schedule_time NULLS FIRST';
  const { rows } = await query<UpcomingRow>(
    client,
    params.statement(`SELECT ${packageIdAndNameSql(table)}, ${isoLocal(due)} AS at, ${zone} AS timezone,
            ceil(extract(epoch FROM (${due} AT TIME ZONE ${zone}) - now()))::bigint AS in_seconds
       FROM ${packagesFromSql(table)}
      WHERE p.scheduled AND p.auto_activate${table.zone ? ` AND p.schedule_date >= (now() AT TIME ZONE 'UTC')::date - 1` : ''}
        AND ${known(`p.schedule_date >= (now() AT TIME ZONE ${zone})::date AND ${due} > (now() AT TIME ZONE ${zone})`)}
      ORDER BY ${order}, ${keyListSql(table)}
      LIMIT ${params.add(limit, 'int')}`),
  );
  return upcoming(rows);
}

export async function nextDeactivations(client: Queryable, table: PackagesTable, zones: Zones & { expiry: ExpiryMode }, limit: number): Promise<Upcoming[]> {
  const params = new Params();
  const { zone, knownValue } = zoneGuard(params, table, zones);
  const at = deactivationDueLocalSql(table.validUntilType, zones.expiry, zone);
  const { rows } = await query<UpcomingRow>(
    client,
    params.statement(`SELECT package_id, name, timezone, ${isoLocal('at')} AS at,
            ceil(extract(epoch FROM (at AT TIME ZONE timezone) - now()))::bigint AS in_seconds
       FROM (SELECT ${packageIdAndNameSql(table)}, ${keyColumnsSql(table, 'p', 'key_')}, ${zone} AS timezone,
                    ${knownValue(at)} AS at, ${validUntilTextSql(table.validUntilType)} AS valid_until
               FROM ${packagesFromSql(table)}
              WHERE p.is_active AND p.auto_deactivate AND p.valid_until IS NOT NULL) AS d
      WHERE CASE WHEN at IS NULL THEN false ELSE at > (now() AT TIME ZONE timezone) END
      ORDER BY ${table.zone ? 'in_seconds' : 'at'}, ${carriedKeySql(table, 'd', 'key_')}
      LIMIT ${params.add(limit, 'int')}`),
  );
  return upcoming(rows);
}
