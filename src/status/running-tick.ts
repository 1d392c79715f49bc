// A tick that is still running, for `status`: the session holding the table's advisory lock
// (pg_locks), with its transaction's age by the database clock (pg_stat_activity). A tick that
// has held it longer than a statement may run is stuck: a stopped or frozen run whose session
// the server has not ended yet, or a statement waiting on something.
import { query, type Queryable } from '../db/resources.js';
import { Params } from '../db/params.js';

export interface RunningTick {
  pid: number;
  /** pg_stat_activity's state and wait_event, e.g. "idle in transaction" / "ClientRead". */
  state: string | null;
  waitEvent: string | null;
  /** Seconds since its transaction began; null when this role may not see that session's details. */
  runningSeconds: number | null;
  tooLong: boolean;
}

/** The running tick of the table whose advisory lock key is `key`, if any. */
export async function runningTick(client: Queryable, key: string, tooLongMs: number): Promise<RunningTick | null> {
  const params = new Params();
  // An advisory lock on a bigint key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
  const { rows } = await query<{ pid: number; state: string | null; wait_event: string | null; seconds: number | null }>(
    client,
    params.statement(`
SELECT l.pid, a.state, a.wait_event, extract(epoch FROM now() - a.xact_start)::float8 AS seconds
  FROM pg_locks AS l
  LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(${params.add(key, 'text')}, 0)
 LIMIT 1`),
  );
  const r = rows[0];
  if (!r) return null;
  const seconds = r.seconds === null ? null : Math.round(r.seconds * 10) / 10;
  return { pid: r.pid, state: r.state, waitEvent: r.wait_event, runningSeconds: seconds, tooLong: seconds !== null && seconds * 1000 > tooLongMs };
}

/** The status warning for a tick running too long. */
export function runningTooLongWarning(tick: RunningTick): string {
  const where = [tick.state, tick.waitEvent].filter((s) => s !== null).join(' / ');
  return (
    `a tick has been running too long: ${Math.round(tick.runningSeconds ?? 0)} s holding the table's lock (session ${tick.pid}${where ? `, ${where}` : ''}); ` +
    `every other run skips until it ends. A stopped or frozen run is ended by the server once idle past its limit; SELECT pg_terminate_backend(${tick.pid}) ends it now`
  );
}
