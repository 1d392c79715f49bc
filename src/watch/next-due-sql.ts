// The next due instant of one packages table: the earliest activation or expiry instant after a
// given instant, built from due-sql.ts's definitions (the very expressions the tick compares
// with its clock), so the watcher can never sleep past what the tick would change.
import type { PackagesTable } from '../table/packages-table.js';
import { Params, type Statement } from '../db/params.js';
import { activationInstantSql, clockRefs, expiryInstantSql, packagesFromSql, type ExpiryMode } from '../tick/due-sql.js';

export interface NextDueQuery {
  /** Instants after this one count (ISO 8601; null: the statement's now()). The last tick's instant, so a row that fell due while the tick ran is not passed over. */
  after: string | null;
  /** Look this many seconds ahead at most (the watcher's --max-sleep); undefined: no limit (status). */
  horizonSeconds?: number;
  timezone: string;
  /** Per-row zones PostgreSQL does not know: their rows have no instant. */
  unknownZones?: string[];
}

export interface NextDueRow {
  /** UTC, ISO 8601 with microseconds; null when nothing is due within the horizon. */
  next_due: string | null;
  /** next_due minus the database's clock_timestamp(), in milliseconds (negative: already due). */
  wait_ms: number | null;
}

export function nextDueStatement(table: PackagesTable, expiry: ExpiryMode, q: NextDueQuery): Statement {
  const params = new Params();
  // The clock's instant reference is `after` (NULL: now()); the zone is the tick's (clockRefs).
  const c = clockRefs(params, table, { instant: q.after as string, timezone: q.timezone, unknownZones: q.unknownZones ?? [] });
  const after = `coalesce(${c.instant}, now())`;
  const known = (instant: string) => (c.perRow ? `CASE WHEN ${c.zone} = ANY(${c.perRow.unknownZones}) THEN NULL ELSE ${instant} END` : instant);
  // Only rows whose instant can fall inside the horizon are looked at (the partial indexes serve
  // these ranges): no zone's wall clock is more than 14 hours ahead of UTC or 12 behind.
  const horizon = q.horizonSeconds === undefined ? undefined : `(${after} + make_interval(secs => ${params.add(q.horizonSeconds, 'int')}))`;
  const fromDate = `((${after} AT TIME ZONE 'UTC')::date - 2)`;
  const toDate = horizon && `((${horizon} AT TIME ZONE 'UTC')::date + 2)`;
  const dates = `p.schedule_date >= ${fromDate}${toDate ? ` AND p.schedule_date <= ${toDate}` : ''}`;
  const validUntil =
    table.validUntilType === 'date'
      ? `p.valid_until >= ${fromDate} - 1${toDate ? ` AND p.valid_until <= ${toDate}` : ''}`
      : table.validUntilType === 'timestamp'
        ? `p.valid_until >= ${fromDate}::timestamp - interval '1 day'${toDate ? ` AND p.valid_until <= ${toDate}::timestamp` : ''}`
        : `p.valid_until >= ${after} - interval '3 days'${horizon ? ` AND p.valid_until <= ${horizon} + interval '3 days'` : ''}`;
  return params.statement(`
SELECT to_char(n.next AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS next_due,
       (extract(epoch FROM n.next - clock_timestamp()) * 1000)::float8 AS wait_ms
  FROM (SELECT min(u.instant) AS next
          FROM (SELECT ${known(activationInstantSql(c.zone))} AS instant
                  FROM ${packagesFromSql(table)}
                 WHERE p.scheduled AND p.auto_activate AND ${dates}
                UNION ALL
                SELECT ${known(expiryInstantSql(table.validUntilType, expiry, c.zone))}
                  FROM ${packagesFromSql(table)}
                 WHERE p.is_active AND p.auto_deactivate AND ${validUntil}) AS u
         WHERE u.instant > ${after}) AS n`);
}
