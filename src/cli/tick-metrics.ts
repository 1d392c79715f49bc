// The metrics file after a tick: this tick's figures, and the last success carried over from
// the previous file (or the state row) when this tick failed.
import type { Config } from '../config/config.js';
import { withConnection } from '../db/resources.js';
import { readLastSuccess } from '../monitoring/last-success.js';
import type { TickResult } from '../tick/tick.js';
import { historySchemaOf } from './options.js';
import { formatMetrics, readPreviousMetrics, writeMetricsFile } from '../monitoring/metrics-file.js';
import type { CommandContext } from './commands/context.js';

// A failed tick may mean the database is down: asking it for the last success must not
// hold up the next cron run for long.
const STATE_ROW_CONNECT_TIMEOUT_MS = 2000;

export async function recordMetrics(
  config: Config,
  context: CommandContext,
  tick: { result?: TickResult; exitCode: number; durationSeconds: number },
): Promise<void> {
  const path = config.metricsFile!;
  const endedAt = Date.now() / 1000;
  const previous = readPreviousMetrics(path);
  let table = tick.result?.table ?? previous.table;
  let lastSuccessAt = tick.exitCode === 0 ? endedAt : previous.lastSuccessAt;
  if (tick.exitCode !== 0 && (lastSuccessAt === undefined || table === undefined) && config.history !== false) {
    const stored = await lastSuccessFromStateRow(config);
    table ??= stored?.table;
    lastSuccessAt ??= stored?.at;
  }
  const counts = tick.result?.status === 'completed' ? tick.result.counts : undefined;
  const text = formatMetrics({
    table: table ?? configuredName(config),
    version: context.version,
    timezone: config.timezone,
    endedAt: round(endedAt, 3),
    durationSeconds: round(tick.durationSeconds, 4),
    exitCode: tick.exitCode,
    changes: {
      activated: counts?.activated ?? 0,
      deactivated: counts?.deactivated ?? 0,
      activationSkipped: counts?.activationSkipped ?? 0,
    },
    ...(lastSuccessAt === undefined ? {} : { lastSuccessAt: round(lastSuccessAt, 3) }),
    ...(tick.result?.status === 'completed' ? { maxLateSeconds: round((tick.result.maxLateMs ?? 0) / 1000, 6) } : {}),
  });
  try {
    writeMetricsFile(path, text);
  } catch (error) {
    const code = (error as { code?: string }).code;
    context.logger.warn({ event: 'metrics.write_failed', path, code }, `cannot write the metrics file ${path}: ${code ?? 'error'}`);
  }
}

async function lastSuccessFromStateRow(config: Config) {
  const connection = { ...config.connection, connectTimeoutMs: Math.min(config.connection.connectTimeoutMs, STATE_ROW_CONNECT_TIMEOUT_MS) };
  try {
    return await withConnection(connection, (client) =>
      readLastSuccess(client, {
        table: config.table,
        historySchema: historySchemaOf(config),
        lockTimeoutMs: config.lockTimeoutMs,
        statementTimeoutMs: config.statementTimeoutMs,
      }),
    );
  } catch {
    return undefined; // best effort: the database may be what failed
  }
}

function configuredName(config: Config): string {
  return config.table.schema === undefined ? config.table.name : `${config.table.schema}.${config.table.name}`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
