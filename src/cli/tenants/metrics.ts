// The metrics file after a run over many tables (format: src/tenants/metrics.ts).
import type { Config } from '../../config/config.js';
import { writeMetricsFile } from '../../monitoring/metrics-file.js';
import { formatRunMetrics, readPreviousSuccess } from '../../tenants/metrics.js';
import { totalsOf, type TableOutcome } from '../../tenants/outcome.js';
import type { CommandContext } from '../commands/context.js';

export function recordRunMetrics(config: Config, context: CommandContext, run: { outcomes: TableOutcome[]; exitCode: number; durationSeconds: number }): void {
  const path = config.metricsFile!;
  const previous = readPreviousSuccess(path);
  // A run that never got to its tables (the database unreachable): the tables of the previous file
  // keep their series, failed with the run's code and their last success, so an alert on
  // last_success sees the outage instead of a series that vanished.
  const outcomes: TableOutcome[] =
    run.outcomes.length > 0 || run.exitCode === 0
      ? run.outcomes
      : [...previous.tables.keys()].map((table) => ({
          table,
          status: 'failed' as const,
          exitCode: run.exitCode,
          counts: { activated: 0, deactivated: 0, activationSkipped: 0 },
          durationSeconds: 0,
        }));
  const totals = { ...totalsOf(outcomes), exitCode: run.exitCode };
  const text = formatRunMetrics({
    version: context.version,
    timezone: config.timezone,
    endedAt: Math.round(Date.now()) / 1000,
    durationSeconds: run.durationSeconds,
    totals,
    outcomes,
    previousSuccess: previous.tables,
    ...(previous.run === undefined ? {} : { previousRunSuccess: previous.run }),
  });
  try {
    writeMetricsFile(path, text);
  } catch (error) {
    const code = (error as { code?: string }).code;
    context.logger.warn({ event: 'metrics.write_failed', path, code }, `cannot write the metrics file ${path}: ${code ?? 'error'}`);
  }
}
