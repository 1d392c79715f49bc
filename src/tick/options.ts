// What a tick is asked to do: the options runTick and previewTick take.
import type { ColumnRef, QualifiedName } from '../table/identifiers.js';
import type { HistorySetting } from '../table/packages-table.js';
import type { Runner } from '../history/history-sql.js';
import type { TransactionOptions } from '../db/resources.js';
import type { ExpiryMode } from './due-sql.js';

export interface TickOptions {
  table: QualifiedName;
  /** IANA zone of the business: schedules and valid_until dates are local to it. */
  timezone: string;
  /** Each row's own zone (a column of the table, or of a table it references); `timezone` where NULL. */
  timezoneColumn?: ColumnRef;
  expiry: ExpiryMode;
  /** Report what a real tick would do; change nothing. */
  dryRun: boolean;
  /** Evaluate as if now were this instant (ISO 8601; with no offset, local to `timezone`). The CLI allows it only with a dry run. */
  at?: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /**
   * The most rows one transaction changes (default 100,000): a larger backlog is applied in
   * several transactions of the same run, all at the instant the first one read.
   */
  maxChanges?: number;
  /** Run history (default: on whenever its tables exist); `false` turns it off. */
  history?: HistorySetting;
  /** pg_notify channel told about every tick that changed something. */
  notifyChannel?: string;
  /** Identifies this tick in logs, history and notifications (default: a random UUID). */
  runId?: string;
  /** Recorded in the state row. */
  runner?: Runner;
  /**
   * Where a large tick's change records wait for COMMIT once they outgrow `spoolMemoryBytes`
   * (default: the OS temp folder). If no file can be made there they stay in memory.
   */
  spoolDirectory?: string;
  /** How much of a tick's change records stay in memory before they go to the file (default 256 KB). */
  spoolMemoryBytes?: number;
}

/** What check and status need to preview a tick: no history, no notification, no run id. */
export type PreviewOptions = Pick<TickOptions, 'table' | 'timezone' | 'timezoneColumn' | 'expiry' | 'at' | 'lockTimeoutMs' | 'statementTimeoutMs'>;

export function transactionOptions(options: Pick<TickOptions, 'lockTimeoutMs' | 'statementTimeoutMs'>, readOnly: boolean): TransactionOptions {
  // A tick that may change rows says so, for the wake trigger (migrate/wake-trigger.ts).
  return { readOnly, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs, markTick: !readOnly };
}
