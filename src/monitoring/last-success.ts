// When the last successful tick of a table ended, from the state row (for --metrics-file
// after a failure, when no previous file says it).
import { query, withTransaction, type Queryable } from '../db/resources.js';
import type { QualifiedName } from '../table/identifiers.js';
import { displayName } from '../db/sql-fragments.js';
import { Params } from '../db/params.js';
import { resolvePackagesTable } from '../table/packages-table.js';

/** Unix seconds, and the table's display name; undefined without history or a success. */
export async function readLastSuccess(
  client: Queryable,
  options: { table: QualifiedName; historySchema?: string; lockTimeoutMs: number; statementTimeoutMs: number },
): Promise<{ table: string; at?: number }> {
  return withTransaction(client, { readOnly: true, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs }, async () => {
    const table = await resolvePackagesTable(client, options.table, { history: true, historySchema: options.historySchema });
    if (!table.history) return { table: displayName(table) };
    const params = new Params();
    const { rows } = await query<{ at: number | null }>(
      client,
      params.statement(`SELECT extract(epoch FROM last_success_at)::float8 AS at FROM ${table.history.state} WHERE packages_table = ${params.add(displayName(table), 'text')}`),
    );
    return { table: displayName(table), at: rows[0]?.at ?? undefined };
  });
}
