// `package-scheduler history`: the recorded changes, newest first.
import { ConfigError } from '../errors.js';
import { query, withTransaction, type Queryable } from '../db/resources.js';
import type { QualifiedName } from '../table/identifiers.js';
import { displayName, isoUtc } from '../db/sql-fragments.js';
import { Params } from '../db/params.js';
import { resolvePackagesTable } from '../table/packages-table.js';
import { splitTimestamp } from '../config/timestamps.js';

export interface HistoryQuery {
  table: QualifiedName;
  historySchema?: string;
  packageId?: string;
  /** Only events at or after this time (ISO 8601; without an offset, local to `timezone`). */
  since?: string;
  timezone: string;
  limit?: number;
  /** Limits of the read-only transaction (default 5 s and 30 s). */
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
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

/** One read-only transaction whose limits are set before any other statement. */
export async function readHistory(client: Queryable, filter: HistoryQuery): Promise<HistoryEvent[]> {
  const limits = { readOnly: true, lockTimeoutMs: filter.lockTimeoutMs ?? 5000, statementTimeoutMs: filter.statementTimeoutMs ?? 30_000 };
  return withTransaction(client, limits, () => readInTransaction(client, filter));
}

async function readInTransaction(client: Queryable, filter: HistoryQuery): Promise<HistoryEvent[]> {
  const table = await resolvePackagesTable(client, filter.table, { history: true, historySchema: filter.historySchema });
  if (!table.history) {
    throw new ConfigError('no history tables: run "package-scheduler migrate" to create them (ticks record history from then on)');
  }
  const params = new Params();
  const since = filter.since === undefined ? undefined : splitTimestamp(filter.since);
  const conditions = [`packages_table = ${params.add(displayName(table), 'text')}`];
  if (filter.packageId !== undefined) conditions.push(`package_id = ${params.add(filter.packageId, 'text')}`);
  if (since?.instant) conditions.push(`happened_at >= ${params.add(since.instant, 'timestamptz')}`);
  if (since?.local) conditions.push(`happened_at >= (${params.add(since.local, 'timestamp')} AT TIME ZONE ${params.add(filter.timezone, 'text')})`);
  const { rows } = await query<Record<string, string | null>>(
    client,
    params.statement(`SELECT id::text, run_id::text, package_id, action, reason, due_at, valid_until, timezone,
            ${isoUtc('happened_at', true)} AS happened_at
       FROM ${table.history.events}
      WHERE ${conditions.join('\n        AND ')}
      ORDER BY happened_at DESC, id DESC
      LIMIT ${params.add(filter.limit ?? 50, 'int')}`),
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
