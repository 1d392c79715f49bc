// --metrics-file: the Prometheus text exposition format, for node_exporter's textfile
// collector. Replaced atomically (a temp file in the same folder, then rename) so the
// collector never reads half a file.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface MetricsSample {
  table: string;
  version: string;
  timezone: string;
  /** Unix seconds. */
  endedAt: number;
  durationSeconds: number;
  exitCode: number;
  changes: { activated: number; deactivated: number; activationSkipped: number };
  /** Unix seconds of the last successful tick, when one is known. */
  lastSuccessAt?: number;
  /** The largest lateness among the last tick's changes, in seconds (0 without changes). */
  maxLateSeconds?: number;
}

/** Label values per the exposition format: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatMetrics(m: MetricsSample): string {
  const table = `table="${escapeLabel(m.table)}"`;
  const gauge = (name: string, help: string, samples: [labels: string, value: number][]) =>
    [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map(([labels, value]) => `${name}{${labels}} ${value}`)].join('\n');
  const metrics = [
    gauge('package_scheduler_last_run_timestamp_seconds', 'When the last tick ended, in Unix time.', [[table, m.endedAt]]),
    gauge('package_scheduler_last_run_duration_seconds', 'How long the last tick took.', [[table, m.durationSeconds]]),
    gauge('package_scheduler_last_run_exit_code', 'Exit code of the last tick: 0 done or skipped, 70 unexpected, 75 temporary, 78 configuration.', [
      [table, m.exitCode],
    ]),
    gauge('package_scheduler_last_run_changes', 'Packages the last tick changed, by action.', [
      [`${table},action="activated"`, m.changes.activated],
      [`${table},action="deactivated"`, m.changes.deactivated],
      [`${table},action="activation_skipped"`, m.changes.activationSkipped],
    ]),
  ];
  if (m.maxLateSeconds !== undefined) {
    metrics.push(
      gauge('package_scheduler_last_run_max_late_seconds', 'The largest lateness among the changes of the last tick, from each due instant (database clock).', [
        [table, m.maxLateSeconds],
      ]),
    );
  }
  if (m.lastSuccessAt !== undefined) {
    metrics.push(gauge('package_scheduler_last_success_timestamp_seconds', 'When the last successful tick ended, in Unix time.', [[table, m.lastSuccessAt]]));
  }
  metrics.push(
    gauge('package_scheduler_info', 'Build and settings of the scheduler.', [
      [`${table},version="${escapeLabel(m.version)}",timezone="${escapeLabel(m.timezone)}"`, 1],
    ]),
  );
  return `${metrics.join('\n')}\n`;
}

// Created, never opened: O_EXCL fails on anything already at the name, a symlink planted there
// included (O_NOFOLLOW says so once more), and the random name cannot be guessed in advance. In a
// folder other users can write to, a predictable name followed through a link would let them
// have the run overwrite and chmod a file of its user's.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Atomic: readers see the old file or the new one, never a part of either. */
export function writeMetricsFile(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  // Only a file this call created is removed: when the open fails, whatever is there is not ours.
  const fd = openSync(temp, CREATE_NEW, 0o644);
  try {
    try {
      fchmodSync(fd, 0o644); // whatever the umask: the collector runs as another user
      const bytes = Buffer.from(text);
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** What the previous file said: the last success and the table label, if it has them. */
export function readPreviousMetrics(path: string): { lastSuccessAt?: number; table?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const success = /^package_scheduler_last_success_timestamp_seconds\{table="((?:[^"\\]|\\.)*)"\} (\S+)$/m.exec(text);
  const any = /^package_scheduler_last_run_timestamp_seconds\{table="((?:[^"\\]|\\.)*)"\} /m.exec(text);
  const value = success ? Number(success[2]) : NaN;
  const label = success?.[1] ?? any?.[1];
  return {
    ...(Number.isFinite(value) ? { lastSuccessAt: value } : {}),
    ...(label !== undefined ? { table: label.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) } : {}),
  };
}
