// The tick's one clock: the database's now() (or --at in a dry run), seen in the business
// zone. Resolved in its own statement so an unknown zone fails before anything else.
export const CLOCK_SQL = `
SELECT instant::text AS instant,
       to_char(local_now, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS local_now,
       extract(epoch FROM local_now - (instant AT TIME ZONE 'UTC'))::int AS utc_offset_seconds
  FROM (SELECT i AS instant, i AT TIME ZONE $3::text AS local_now
          FROM (SELECT coalesce($1::timestamptz, $2::timestamp AT TIME ZONE $3::text, now()) AS i) AS given) AS clock`;

export interface ClockRow {
  instant: string;
  local_now: string;
  utc_offset_seconds: number;
}
