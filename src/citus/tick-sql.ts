// The tick statement in the form Citus can run: the same due rows (due-sql.ts), decisions,
// UPDATE and change records as tick/tick-sql.ts, with two differences Citus imposes.
// 1. Row locks (FOR NO KEY UPDATE … SKIP LOCKED) only in a query that targets one shard: on a
//    distributed table, `scope` limits the statement to the distribution values of one shard
//    (`salon_id = ANY($n)`), in the due rows and in the UPDATE alike, so Citus routes the
//    whole statement to that shard.
// 2. A modifying statement's RETURNING may hold only immutable expressions (to_char and ::text
//    casts are stable): the UPDATE returns the bare values, and the report columns are computed
//    over them in the next CTE, under the names `p` and `d` the shared SQL expects.
import type { PackagesTable } from '../table/packages-table.js';
import { keyColumnsSql, keyMatchSql } from '../table/key-sql.js';
import { quoteIdent } from '../table/identifiers.js';
import { recordEventsCte } from '../history/history-sql.js';
import { Params, type Statement } from '../db/params.js';
import { changeRecordsSql } from '../tick/change-records.js';
import { clockRefs, decisionsSql, dueRowsSql, type ExpiryMode, type TickClock } from '../tick/due-sql.js';
import { reportColumnsSql, setChangesSql, tickMarker, type EventRecording } from '../tick/tick-sql.js';

/** The distribution values of one shard, as text (cast to the column's type in SQL). */
export interface ShardScope {
  column: string;
  type: string;
  values: string[];
}

/** The columns of the updated row (`p`) and of its decision (`d`) that the report reads. */
function carriedColumns(table: PackagesTable): { p: string[]; d: string[] } {
  const p = [...table.key, ...(table.nameColumn ? [table.nameColumn] : []), 'valid_until', 'is_active', 'scheduled'];
  return { p: [...new Set(p)], d: ['activate', 'skip_activation', 'deactivate', 'due_local', 'zone'] };
}

export function citusApplyStatement(table: PackagesTable, expiry: ExpiryMode, clock: TickClock, history?: EventRecording, shard?: ShardScope): Statement {
  const params = new Params();
  const c = clockRefs(params, table, clock);
  const scope = shard && `p.${quoteIdent(shard.column)} = ANY(${params.add(shard.values, `${shard.type}[]`)})`;
  const recorded = history
    ? `, ${recordEventsCte(history.tables, { runId: params.add(history.runId, 'uuid'), tableName: params.add(history.tableName, 'text'), defaultZone: c.defaultZone })}`
    : '';
  const carried = carriedColumns(table);
  const returned = [...carried.p.map((col, i) => `p.${col} AS p_${i}`), ...carried.d.map((col, i) => `d.${col} AS d_${i}`)];
  const asP = carried.p.map((col, i) => `u.p_${i} AS ${col}`).join(', ');
  const asD = carried.d.map((col, i) => `u.d_${i} AS ${col}`).join(', ');
  return params.statement(`${tickMarker(table)}
WITH due AS (${dueRowsSql(table, expiry, c, { scope })}
), decisions AS (${decisionsSql(table)}
), updated AS (
  UPDATE ${table.quoted} AS p
     SET ${setChangesSql(table)}
    FROM decisions AS d
   WHERE ${scope ? `${scope} AND ` : ''}${keyMatchSql(table, 'p', 'd', 'key_')}
  RETURNING ${returned.join(', ')}
), changed AS (
  SELECT ${keyColumnsSql(table, 'p', 'sort_')},${reportColumnsSql(table, expiry, c, true)}
    FROM updated AS u
   CROSS JOIN LATERAL (SELECT ${asP}) AS p
   CROSS JOIN LATERAL (SELECT ${asD}) AS d
)${recorded}
${changeRecordsSql(table)}`);
}

/**
 * The read-only statement that finds where the due rows are: their distribution values, one
 * array per shard (no row locks, so Citus may run it on every shard at once).
 */
export function dueShardsStatement(table: PackagesTable, expiry: ExpiryMode, clock: TickClock, column: string): Statement {
  const params = new Params();
  const c = clockRefs(params, table, clock);
  // The distribution column is in every unique key of a distributed table (Citus requires it),
  // so the due rows carry it as one of their key columns.
  const carried = `key_${table.keyNames.indexOf(column) + 1}`;
  const relation = params.add(table.quoted, 'text');
  return params.statement(`${tickMarker(table)}
SELECT array_agg(v.value::text ORDER BY v.value) AS "values"
  FROM (SELECT DISTINCT due.${carried} AS value FROM (${dueRowsSql(table, expiry, c, false)}) AS due) AS v
 GROUP BY get_shard_id_for_distribution_column(${relation}::regclass, v.value)
 ORDER BY 1`);
}
