// What each table's work came to, and the one exit code of a run over many tables.
import { ExitCode } from '../errors.js';

/**
 * The run's exit code is the most severe of its tables', in this order (most severe first):
 * 64 usage, 70 software (unexpected: a trigger raised, a bug), 78 configuration (a table a
 * human must fix), 75 temporary (the next run retries), 1 (status --max-age: stale), 0. Every
 * code that a retry cannot fix outranks 75, so a retry policy (a Kubernetes podFailurePolicy
 * that ignores 75) never hides a table that needs a human.
 */
export const SEVERITY: readonly number[] = [ExitCode.usage, ExitCode.software, ExitCode.config, ExitCode.tempFail, 1, ExitCode.ok];

export function mostSevere(codes: Iterable<number>): number {
  let worst: number = ExitCode.ok;
  for (const code of codes) if (rank(code) < rank(worst)) worst = code;
  return worst;
}

// An unknown code (none is expected) ranks just below 70: non-zero, never hidden by a 75.
function rank(code: number): number {
  const i = SEVERITY.indexOf(code);
  return i === -1 ? 1.5 : i;
}

export interface ChangeTotals {
  activated: number;
  deactivated: number;
  activationSkipped: number;
}

/** One table's part of a run: never its change lists (a thousand tenants' lists would not fit). */
export interface TableOutcome {
  table: string;
  status: 'completed' | 'skipped' | 'failed';
  exitCode: number;
  counts: ChangeTotals;
  durationSeconds: number;
}

export interface RunTotals extends ChangeTotals {
  tables: number;
  completed: number;
  skipped: number;
  failed: number;
  exitCode: number;
  /** The first failed tables' names (all of them are in their own tick.failed lines). */
  failedTables: string[];
}

const LISTED_FAILURES = 20;

export function totalsOf(outcomes: readonly TableOutcome[]): RunTotals {
  const totals: RunTotals = { tables: outcomes.length, completed: 0, skipped: 0, failed: 0, activated: 0, deactivated: 0, activationSkipped: 0, exitCode: 0, failedTables: [] };
  for (const o of outcomes) {
    totals[o.status]++;
    totals.activated += o.counts.activated;
    totals.deactivated += o.counts.deactivated;
    totals.activationSkipped += o.counts.activationSkipped;
    if (o.status === 'failed' && totals.failedTables.length < LISTED_FAILURES) totals.failedTables.push(o.table);
  }
  totals.exitCode = mostSevere(outcomes.map((o) => o.exitCode));
  return totals;
}
