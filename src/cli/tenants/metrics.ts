// The metrics file after a run over many tables (format: src/tenants/metrics.ts).
import type { Config } from '../../config/config.js';
import { writeMetricsFile } from '../../monitoring/metrics-file.js';
import { formatRunMetrics, readPreviousSuccess } from '../../tenants/metrics.js';
import { totalsOf, type TableOutcome } from '../../tenants/outcome.js';
import type { CommandContext } from '../commands/context.js';

export function recordRunMetrics(config: Config, context: CommandContext, run: { outcomes: TableOutcome[]; exitCode: number; durationSeconds: number }): void {
  const path = config.metricsFile!;
  const previous = readPreviousSuccess(path);
  const totals = { ...totalsOf(run.outcomes), exitCode: run.exitCode };
  const text = formatRunMetrics({
    version: context.version,
    timezone: config.timezone,
    endedAt: Math.round(Date.now()) / 1000,
    durationSeconds: run.durationSeconds,
    totals,
    outcomes: run.outcomes,
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
