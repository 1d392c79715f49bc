// What a tick reports: the typed result, built from the tick statement's rows, and the
// NOTIFY payload made from it.
import { ChangeKind, lateMsOf, parseChangeRecord, type ChangeRecord, type ChangeRow } from './change-records.js';

/** A row left alone because PostgreSQL does not know its zone, or it is not an IANA name. */
export interface UnknownZoneRow {
  packageId: string;
  name?: string;
  timezone: string;
  /** What the row would otherwise be considered for. */
  action: 'activate' | 'deactivate';
}


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

export interface ChangeCounts {
  activated: number;
  deactivated: number;
  activationSkipped: number;
}

export interface TickCompleted {
  status: 'completed';
  runId: string;
  dryRun: boolean;
  table: string;
  timezone: string;
  /** The tick's clock: local time in `timezone` with its UTC offset. */
  now: string;
  /** How many changes of each kind the tick made (or, in a dry run, would make). */
  counts: ChangeCounts;
  /**
   * The changes themselves, in key order: the first `LIST_LIMIT` (1000) of each kind, so a
   * backlog of any size fits in memory. `listsComplete` is false when `counts` is larger;
   * every change still gets its log line.
   */
  activated: Activation[];
  deactivated: Deactivation[];
  activationSkipped: SkippedActivation[];
  listsComplete: boolean;
  /** Per-row zones: rows left alone because PostgreSQL does not know their zone. */
  timezoneUnknown: UnknownZoneRow[];
  /**
   * The largest lateness among the changes, in milliseconds from each change's due instant to
   * the tick's instant (both the database's clock); null when nothing changed.
   */
  maxLateMs: number | null;
  /**
   * How many transactions made the changes: 1 unless the backlog was larger than --max-changes
   * (each transaction committed on its own; the counts and lists are the run's totals).
   */
  transactions: number;
  /** Set when the run stopped between two batches because another run had taken the table's lock. */
  stopped?: 'locked';
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

/** How many changes of each kind a result lists at most. */
export const LIST_LIMIT = 1000;

/** What a result knows before the tick statement runs. */
export type ResultBase = Pick<TickCompleted, 'runId' | 'dryRun' | 'table' | 'timezone' | 'now'>;

/**
 * Builds a TickCompleted from the tick statement's pages: counts every change, lists the
 * first LIST_LIMIT of each kind, and hands every line, as it came, to `keep` (the spool) for the log.
 */
export class ChangeCollector {
  readonly result: TickCompleted;

  constructor(
    base: ResultBase,
    private readonly keep?: (records: string[]) => void,
  ) {
    this.result = {
      status: 'completed',
      ...base,
      counts: { activated: 0, deactivated: 0, activationSkipped: 0 },
      activated: [],
      deactivated: [],
      activationSkipped: [],
      listsComplete: true,
      timezoneUnknown: [],
      maxLateMs: null,
      transactions: 1,
      durationMs: 0,
    };
  }

  addPage(rows: ChangeRow[]): void {
    const { result } = this;
    const lines: string[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const line = rows[i]![0];
      lines[i] = line;
      const kind = kindOf(line);
      const late = lateMsOf(line);
      if (late !== null && (result.maxLateMs === null || late > result.maxLateMs)) result.maxLateMs = late;
      if (kind === ChangeKind.activated) {
        if (result.counts.activated++ < LIST_LIMIT) result.activated.push(toChange(kind, line, result.timezone) as Activation);
      } else if (kind === ChangeKind.activationSkipped) {
        if (result.counts.activationSkipped++ < LIST_LIMIT) result.activationSkipped.push(toChange(kind, line, result.timezone) as SkippedActivation);
      } else if (result.counts.deactivated++ < LIST_LIMIT) {
        result.deactivated.push(toChange(kind, line, result.timezone) as Deactivation);
      }
    }
    result.listsComplete = Math.max(result.counts.activated, result.counts.deactivated, result.counts.activationSkipped) <= LIST_LIMIT;
    this.keep?.(lines);
  }
}

/** A change line (kept as the database sent it) back as its kind and record. */
export function parseChangeLine(line: string): { kind: ChangeKind; record: ChangeRecord } {
  return { kind: kindOf(line), record: parseChangeRecord(line.slice(1)) };
}

// The kind is the line's first character, one digit.
function kindOf(line: string): ChangeKind {
  return (line.charCodeAt(0) - 48) as ChangeKind;
}

function toChange(kind: ChangeKind, line: string, defaultZone: string): Activation | Deactivation | SkippedActivation {
  const [packageId, name, dueAt, lateSeconds, validUntil, zone] = parseChangeRecord(line.slice(1));
  const timezone = zone ?? defaultZone;
  const named = name === null ? {} : { name };
  if (kind === ChangeKind.activated) return { packageId, ...named, dueAt: dueAt!, lateSeconds: lateSeconds!, timezone };
  if (kind === ChangeKind.activationSkipped) return { packageId, ...named, reason: 'expired', dueAt: dueAt!, validUntil: validUntil!, timezone };
  return { packageId, ...named, validUntil: validUntil!, timezone };
}

/** How many changes a result holds (a row can make two). */
export function changesOf(result: TickCompleted): number {
  return result.counts.activated + result.counts.deactivated + result.counts.activationSkipped;
}

/**
 * A run's result after one more batch: the counts added, the lists filled up to LIST_LIMIT (in
 * key order within each batch, batch after batch), the largest lateness; the unknown zones are
 * the latest batch's (every batch finds the same rows, which stay unchanged).
 */
export function addBatch(total: TickCompleted | undefined, batch: TickCompleted): TickCompleted {
  if (total === undefined) return batch;
  const counts = {
    activated: total.counts.activated + batch.counts.activated,
    deactivated: total.counts.deactivated + batch.counts.deactivated,
    activationSkipped: total.counts.activationSkipped + batch.counts.activationSkipped,
  };
  const fill = <T>(a: T[], b: T[]) => (a.length >= LIST_LIMIT ? a : [...a, ...b.slice(0, LIST_LIMIT - a.length)]);
  const late = [total.maxLateMs, batch.maxLateMs].filter((x): x is number => x !== null);
  return {
    ...total,
    counts,
    activated: fill(total.activated, batch.activated),
    deactivated: fill(total.deactivated, batch.deactivated),
    activationSkipped: fill(total.activationSkipped, batch.activationSkipped),
    listsComplete: Math.max(counts.activated, counts.deactivated, counts.activationSkipped) <= LIST_LIMIT,
    timezoneUnknown: batch.timezoneUnknown,
    maxLateMs: late.length === 0 ? null : Math.max(...late),
    transactions: total.transactions + 1,
  };
}

export function countsOf(result: TickCompleted): ChangeCounts {
  return result.counts;
}

// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT = 7999;

/** The NOTIFY payload: every id, or only the counts when the ids would not fit in 8000 bytes. */
export function notificationPayload(result: TickCompleted): string {
  const ids = (list: { packageId: string }[]) => list.map((x) => x.packageId);
  const counts = countsOf(result);
  if (!result.listsComplete) return JSON.stringify({ table: result.table, runId: result.runId, counts, truncated: true });
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
