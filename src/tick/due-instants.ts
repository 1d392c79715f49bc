// The due instants (timestamptz): when a row's schedule or its expiry comes, in the row's zone,
// exactly at DST gaps and repeats. The tick compares them near the boundary (due-sql.ts), the
// watcher sleeps until the next one (watch/next-due-sql.ts), and each change's lateness counts from it.
import type { PackagesTable } from '../table/packages-table.js';

/** Rule 4's two readings of valid_until (README): through its whole local day, or to the instant. */
export type ExpiryMode = 'date' | 'instant';

/**
 * The first instant at which the zone's wall clock reads `localTime` or later: the instant a
 * rule stated in wall-clock time falls due. A plain AT TIME ZONE is not that instant twice a
 * year: for a time in the hour skipped in spring (02:30) it answers 03:30, while the clock reads
 * 02:30-or-later from 03:00 on; for a time in the repeated autumn hour it answers the second
 * occurrence, while the first one is when the clock first reads it. So: the conversion when the
 * clock really reads that time then, the earlier occurrence when there is one (the offset a day
 * before), and inside a skipped hour the transition itself, found second by second (only rows
 * scheduled in that hour pay for it). NULL for NULL.
 */
export function firstInstantAtOrAfterSql(localTime: string, zone: string): string {
  return `(SELECT CASE
           WHEN (v.c1 AT TIME ZONE v.z) = v.l
           THEN CASE WHEN (v.e AT TIME ZONE v.z) = v.l AND v.e < v.c1 THEN v.e ELSE v.c1 END
           ELSE (SELECT min(s) FROM generate_series(date_trunc('second', v.c1 - ((v.c1 AT TIME ZONE v.z) - v.l)), v.c1, interval '1 second') AS s
                  WHERE (s AT TIME ZONE v.z) >= v.l)
         END
    FROM (SELECT w.l, w.z, w.c1,
                 (w.l - (((w.c1 - interval '1 day') AT TIME ZONE w.z) - ((w.c1 - interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' AS e
            FROM (SELECT x.l, x.z, x.l AT TIME ZONE x.z AS c1 FROM (SELECT (${localTime})::timestamp AS l, (${zone})::text AS z) AS x) AS w) AS v)`;
}

// Far from the timestamp range's ends, where the conversions above cannot overflow.
export const SAFE_DATES = `BETWEEN date '4000-01-01 BC' AND date '294000-01-01'`;

/**
 * Rule 1's due instant (timestamptz): schedule_date + schedule_time in the row's zone, as the
 * first instant the clock reads it. The tick compares it with its instant (dueRowsSql), and the
 * watcher sleeps until the earliest one (watch/next-due-sql.ts): one definition for both.
 */
export function activationInstantSql(zone: string): string {
  const dueLocal = `(p.schedule_date + coalesce(p.schedule_time, time '00:00'))`;
  return `(CASE WHEN p.schedule_date ${SAFE_DATES} THEN ${firstInstantAtOrAfterSql(dueLocal, zone)} END)`;
}

/**
 * Rule 4's instant (timestamptz): the first instant at which valid_until counts as passed under
 * --expiry, in the row's zone. "Passed" is strict (valid_until < now), hence the microsecond in
 * instant mode: at valid_until itself the package is still valid. NULL for infinity and NULL.
 */
export function expiryInstantSql(type: PackagesTable['validUntilType'], mode: ExpiryMode, zone: string): string {
  const finite = `isfinite(p.valid_until)`;
  if (type === 'timestamptz' && mode === 'instant') return `(CASE WHEN ${finite} THEN p.valid_until + interval '1 microsecond' END)`;
  const localTime =
    type === 'date'
      ? `(p.valid_until + 1)::timestamp`
      : type === 'timestamp'
        ? mode === 'instant' ? `(p.valid_until + interval '1 microsecond')` : `(p.valid_until::date + 1)::timestamp`
        : `((p.valid_until AT TIME ZONE ${zone})::date + 1)::timestamp`;
  const safe = type === 'date' ? `p.valid_until ${SAFE_DATES}` : `p.valid_until::date ${SAFE_DATES}`;
  return `(CASE WHEN ${finite} AND ${safe} THEN ${firstInstantAtOrAfterSql(localTime, zone)} END)`;
}

