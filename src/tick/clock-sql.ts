// The tick's one clock: the database's now() (or --at in a dry run), seen in the business
// zone. Resolved in its own statement so an unknown zone fails before anything else.
//
// The instant travels to the tick's statements as text, so it is written in a form PostgreSQL
// reads back the same under every DateStyle and TimeZone: ISO 8601 in UTC with microseconds.
// instant::text would follow the session's DateStyle ('Mon Jun 01 17:30:00 2026 IST' under
// Postgres), and its zone abbreviation reads back as another zone (IST as Israel's) or not at all (WIB).
import { splitTimestamp } from '../config/timestamps.js';
import { isoLocal } from '../db/sql-fragments.js';
import { Params, type Statement } from '../db/params.js';

export function clockStatement(timezone: string, at?: string): Statement {
  const params = new Params();
  const given = at === undefined ? { instant: null, local: null } : splitTimestamp(at);
  const instant = params.add(given.instant, 'timestamptz');
  const local = params.add(given.local, 'timestamp');
  const zone = params.add(timezone, 'text');
  return params.statement(`
SELECT to_char(instant AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS instant,
       ${isoLocal('local_now', true)} AS local_now,
       extract(epoch FROM local_now - (instant AT TIME ZONE 'UTC'))::int AS utc_offset_seconds
  FROM (SELECT i AS instant, i AT TIME ZONE ${zone} AS local_now
          FROM (SELECT coalesce(${instant}, ${local} AT TIME ZONE ${zone}, now()) AS i) AS given) AS clock`);
}

export interface ClockRow {
  instant: string;
  local_now: string;
  utc_offset_seconds: number;
}
