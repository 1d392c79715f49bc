// What a tick reports: the typed result, built from the tick statement's rows, and the
// NOTIFY payload made from it.
import type { TickRow } from './sql/tick-sql.js';
import type { UnknownZoneRow } from './zone-guard.js';

export type { UnknownZoneRow } from './zone-guard.js';

/** `timezone`: the zone the row was evaluated in (its own, or the default); `dueAt` is local to it. */
export interface Activation {
  packageId: string;
  name?: string;
  dueAt: string;
  lateSeconds: number;
  timezone: string;
}
export interface Deactivation {
  packageId: string;
  name?: string;
  validUntil: string;
  timezone: string;
}
export interface SkippedActivation {
  packageId: string;
  name?: string;
  reason: 'expired';
  dueAt: string;
  validUntil: string;
  timezone: string;
}

export interface TickCompleted {
  status: 'completed';
  runId: string;
  dryRun: boolean;
  table: string;
  timezone: string;
  /** The tick's clock: local time in `timezone` with its UTC offset. */
  now: string;
  activated: Activation[];
  deactivated: Deactivation[];
  activationSkipped: SkippedActivation[];
  /** Per-row zones: rows left alone because PostgreSQL does not know their zone. */
  timezoneUnknown: UnknownZoneRow[];
  durationMs: number;
}
export interface TickSkipped {
  status: 'skipped';
  runId: string;
  reason: 'locked';
  table: string;
  durationMs: number;
}
export type TickResult = TickCompleted | TickSkipped;

export function summarize(
  rows: TickRow[],
  base: Pick<TickCompleted, 'runId' | 'dryRun' | 'table' | 'timezone' | 'now'>,
  timezoneUnknown: UnknownZoneRow[] = [],
): TickCompleted {
  const result: TickCompleted = { status: 'completed', ...base, activated: [], deactivated: [], activationSkipped: [], timezoneUnknown, durationMs: 0 };
  for (const row of rows) {
    const name = row.name === null ? {} : { name: row.name };
    const timezone = row.timezone ?? base.timezone;
    if (row.activate) {
      result.activated.push({ packageId: row.package_id, ...name, dueAt: row.due_at!, lateSeconds: Number(row.late_seconds), timezone });
    }
    if (row.skip_activation) {
      result.activationSkipped.push({ packageId: row.package_id, ...name, reason: 'expired', dueAt: row.due_at!, validUntil: row.valid_until!, timezone });
    }
    if (row.deactivate) {
      result.deactivated.push({ packageId: row.package_id, ...name, validUntil: row.valid_until!, timezone });
    }
  }
  return result;
}

export function countsOf(result: TickCompleted): { activated: number; deactivated: number; activationSkipped: number } {
  return { activated: result.activated.length, deactivated: result.deactivated.length, activationSkipped: result.activationSkipped.length };
}

// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT = 7999;

/** The NOTIFY payload: every id, or only the counts when the ids would not fit in 8000 bytes. */
export function notificationPayload(result: TickCompleted): string {
  const ids = (list: { packageId: string }[]) => list.map((x) => x.packageId);
  const counts = countsOf(result);
  const full = JSON.stringify({
    table: result.table,
    runId: result.runId,
    activated: ids(result.activated),
    deactivated: ids(result.deactivated),
    activationSkipped: ids(result.activationSkipped),
    counts,
    truncated: false,
  });
  if (Buffer.byteLength(full) <= NOTIFY_PAYLOAD_LIMIT) return full;
  return JSON.stringify({ table: result.table, runId: result.runId, counts, truncated: true });
}
