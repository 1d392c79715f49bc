// `package-scheduler history`: the recorded changes, newest first.
import { ConfigError } from './errors.js';
import type { Queryable } from './db.js';
import type { QualifiedName } from './identifiers.js';
import { resolvePackagesTable } from './table.js';

export interface HistoryQuery {
  table: QualifiedName;
  historySchema?: string;
  packageId?: string;
  /** Only events at or after this time (ISO 8601; without an offset, local to `timezone`). */
  since?: string;
  timezone: string;
  limit?: number;
}

export interface HistoryEvent {
  id: string;
  runId: string;
  packageId: string;
  action: 'activated' | 'deactivated' | 'activation_skipped';
  reason: string | null;
  dueAt: string | null;
  validUntil: string | null;
  timezone: string;
  /** UTC, ISO 8601. */
  happenedAt: string;
}

export async function readHistory(client: Queryable, query: HistoryQuery): Promise<HistoryEvent[]> {
  const table = await resolvePackagesTable(client, query.table, { history: true, historySchema: query.historySchema });
  if (!table.history) {
    throw new ConfigError('no history tables: run "package-scheduler migrate" to create them (ticks record history from then on)');
  }
  const hasOffset = query.since !== undefined && /[T ]\d.*(Z|[+-]\d{2}(:?\d{2})?)$/i.test(query.since);
  const { rows } = await client.query<Record<string, string | null>>(
    `SELECT id::text, run_id::text, package_id, action, reason, due_at, valid_until, timezone,
            to_char(happened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS happened_at
       FROM ${table.history.events}
      WHERE packages_table = $1::text
        AND ($2::text IS NULL OR package_id = $2::text)
        AND ($3::timestamptz IS NULL OR happened_at >= $3::timestamptz)
        AND ($4::timestamp IS NULL OR happened_at >= ($4::timestamp AT TIME ZONE $5::text))
      ORDER BY happened_at DESC, id DESC
      LIMIT $6::int`,
    [
      `${table.schema}.${table.name}`,
      query.packageId ?? null,
      hasOffset ? query.since : null,
      query.since !== undefined && !hasOffset ? query.since : null,
      query.timezone,
      query.limit ?? 50,
    ],
  );
  return rows.map((r) => ({
    id: r.id!,
    runId: r.run_id!,
    packageId: r.package_id!,
    action: r.action as HistoryEvent['action'],
    reason: r.reason ?? null,
    dueAt: r.due_at ?? null,
    validUntil: r.valid_until ?? null,
    timezone: r.timezone!,
    happenedAt: r.happened_at!,
  }));
}
