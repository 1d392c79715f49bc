// --metrics-file on a run over many tables: the one-table series, each with its `table` label
// (so an alert written for one table works per tenant), plus the run's totals without one.
import { readFileSync } from 'node:fs';
import { escapeLabel } from '../monitoring/metrics-file.js';
import type { RunTotals, TableOutcome } from './outcome.js';

export interface RunSample {
  version: string;
  timezone: string;
  /** Unix seconds. */
  endedAt: number;
  durationSeconds: number;
  totals: RunTotals;
  outcomes: readonly TableOutcome[];
  /** Each table's last success from the previous file, carried over when it failed this time. */
  previousSuccess: ReadonlyMap<string, number>;
  previousRunSuccess?: number;
}

type Sample = [labels: string, value: number];

function gauge(name: string, help: string, samples: Sample[]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map(([labels, value]) => `${name}${labels ? `{${labels}}` : ''} ${value}`)].join('\n');
}

export function formatRunMetrics(m: RunSample): string {
  const label = (o: TableOutcome) => `table="${escapeLabel(o.table)}"`;
  const each = (value: (o: TableOutcome) => number): Sample[] => m.outcomes.map((o) => [label(o), value(o)]);
  const success: Sample[] = [];
  for (const o of m.outcomes) {
    const at = o.status === 'failed' ? m.previousSuccess.get(o.table) : m.endedAt;
    if (at !== undefined) success.push([label(o), at]);
  }
  const t = m.totals;
  const runSuccess = t.exitCode === 0 ? m.endedAt : m.previousRunSuccess;
  const metrics = [
    gauge('package_scheduler_last_run_timestamp_seconds', 'When the last tick ended, in Unix time.', each(() => m.endedAt)),
    gauge('package_scheduler_last_run_duration_seconds', 'How long the last tick took.', each((o) => o.durationSeconds)),
    gauge('package_scheduler_last_run_exit_code', 'Exit code of the last tick: 0 done or skipped, 70 unexpected, 75 temporary, 78 configuration.', each((o) => o.exitCode)),
    gauge(
      'package_scheduler_last_run_changes',
      'Packages the last tick changed, by action.',
      m.outcomes.flatMap((o): Sample[] => [
        [`${label(o)},action="activated"`, o.counts.activated],
        [`${label(o)},action="deactivated"`, o.counts.deactivated],
        [`${label(o)},action="activation_skipped"`, o.counts.activationSkipped],
      ]),
    ),
    ...(success.length > 0 ? [gauge('package_scheduler_last_success_timestamp_seconds', 'When the last successful tick ended, in Unix time.', success)] : []),
    gauge('package_scheduler_run_timestamp_seconds', 'When the last run over all matched tables ended, in Unix time.', [['', m.endedAt]]),
    gauge('package_scheduler_run_duration_seconds', 'How long the last run over all matched tables took.', [['', m.durationSeconds]]),
    gauge('package_scheduler_run_exit_code', "Exit code of the last run: the most severe of its tables'.", [['', t.exitCode]]),
    gauge('package_scheduler_run_tables', "The last run's tables, by outcome.", [
      ['outcome="completed"', t.completed],
      ['outcome="skipped"', t.skipped],
      ['outcome="failed"', t.failed],
    ]),
    gauge('package_scheduler_run_changes', 'Packages the last run changed over all its tables, by action.', [
      ['action="activated"', t.activated],
      ['action="deactivated"', t.deactivated],
      ['action="activation_skipped"', t.activationSkipped],
    ]),
    ...(runSuccess === undefined ? [] : [gauge('package_scheduler_run_last_success_timestamp_seconds', 'When the last run with exit code 0 ended, in Unix time.', [['', runSuccess]])]),
    gauge('package_scheduler_info', 'Build and settings of the scheduler.', [[`version="${escapeLabel(m.version)}",timezone="${escapeLabel(m.timezone)}"`, 1]]),
  ];
  return `${metrics.join('\n')}\n`;
}

/** Every table's last success in the previous file, and the run's. */
export function readPreviousSuccess(path: string): { tables: Map<string, number>; run?: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { tables: new Map() };
  }
  const tables = new Map<string, number>();
  for (const match of text.matchAll(/^package_scheduler_last_success_timestamp_seconds\{table="((?:[^"\\]|\\.)*)"\} (\S+)$/gm)) {
    const value = Number(match[2]);
    if (Number.isFinite(value)) tables.set(match[1]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)), value);
  }
  const run = Number(/^package_scheduler_run_last_success_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
  return { tables, ...(Number.isFinite(run) ? { run } : {}) };
}
