// `run` over many tables (a list, a pattern, a shard): every table its own tick (its own
// connection from the pool, transaction, lock, clock, history, notification and result), one
// table's failure never stops another, then one `run.completed` line, the metrics file and one
// heartbeat for the whole run. The exit code is the most severe of the tables' (outcome.ts).
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/config.js';
import { ExitCode } from '../../errors.js';
import type { Heartbeat } from '../../monitoring/heartbeat.js';
import { totalsOf, type RunTotals, type TableOutcome } from '../../tenants/outcome.js';
import { runTick } from '../../tick/tick.js';
import { reportFailure } from '../failure.js';
import { tickOptions } from '../options.js';
import type { CommandContext } from '../commands/context.js';
import { forEachTable, reportTableFailure, shardText } from './shared.js';
import type { Queryable } from '../../db/resources.js';

const NO_CHANGES = { activated: 0, deactivated: 0, activationSkipped: 0 };

/** One run over every matched table; returns its exit code (failures are reported here). */
export async function runMany(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const pings = config.heartbeatUrl ? await import('../../monitoring/heartbeat.js') : undefined;
  const heartbeat: Heartbeat | undefined = config.heartbeatUrl ? { url: config.heartbeatUrl, timeoutMs: config.heartbeatTimeoutMs, logger } : undefined;
  if (pings && heartbeat) await pings.pingStart(heartbeat);
  const started = performance.now();
  let outcomes: TableOutcome[] = [];
  let exitCode: number;
  let body: string;
  try {
    const run = await forEachTable(
      config,
      async (client, target): Promise<TableOutcome> => {
        const tableStarted = performance.now();
        const runId = randomUUID();
        try {
          const result = await runTick(client, { ...tickOptions(config, context.version, runId), table: target.table }, logger);
          const counts = result.status === 'completed' ? result.counts : NO_CHANGES;
          return { table: result.table, status: result.status, exitCode: ExitCode.ok, counts, durationSeconds: seconds(tableStarted) };
        } catch (error) {
          // A tenant dropped (offboarded) since the run resolved its tables: nothing to tick.
          if (target.exists && (await droppedSince(client, target))) {
            logger.info({ event: 'tick.skipped', reason: 'dropped', table: target.display, runId }, 'the table was dropped after this run found it');
            return { table: target.display, status: 'skipped', exitCode: ExitCode.ok, counts: NO_CHANGES, durationSeconds: seconds(tableStarted) };
          }
          const code = reportTableFailure('tick.failed', target.display, error, logger, config.secrets, { runId });
          return { table: target.display, status: 'failed', exitCode: code, counts: NO_CHANGES, durationSeconds: seconds(tableStarted) };
        }
      },
      // Only a failure to get a connection reaches here: the tick above reports its own.
      (target, error): TableOutcome => ({
        table: target.display,
        status: 'failed',
        exitCode: reportTableFailure('tick.failed', target.display, error, logger, config.secrets),
        counts: NO_CHANGES,
        durationSeconds: 0,
      }),
    );
    outcomes = run.results.filter((o): o is TableOutcome => o !== undefined);
    const totals = totalsOf(outcomes);
    exitCode = totals.exitCode;
    const notStarted = run.resolved.targets.length - outcomes.length;
    logger.info(
      {
        event: 'run.completed',
        ...totals,
        tables: run.resolved.targets.length,
        ...(notStarted > 0 ? { notStarted } : {}),
        matched: run.resolved.matched,
        ...(config.shard ? { shard: shardText(config) } : {}),
        dryRun: config.dryRun,
        durationMs: Math.round(performance.now() - started),
      },
      totals.failed > 0 ? `run completed: ${totals.failed} of ${run.resolved.targets.length} tables failed` : 'run completed',
    );
    body = summary(totals);
  } catch (error) {
    // Nothing ran: the tables could not be resolved (no database, no match).
    exitCode = reportFailure('run.failed', error, logger, config.secrets);
    body = `failed: could not resolve the tables (exit ${exitCode})\n`;
  }
  const durationSeconds = seconds(started);
  if (config.metricsFile) {
    const { recordRunMetrics } = await import('./metrics.js');
    recordRunMetrics(config, context, { outcomes, exitCode, durationSeconds });
  }
  if (pings && heartbeat) await pings.pingEnd(heartbeat, exitCode, body);
  return exitCode;
}

function summary(t: RunTotals): string {
  return `tables=${t.tables} completed=${t.completed} skipped=${t.skipped} failed=${t.failed} activated=${t.activated} deactivated=${t.deactivated} activation_skipped=${t.activationSkipped}${t.failedTables.length > 0 ? ` failed_tables=${t.failedTables.join(',')}` : ''}\n`;
}

function seconds(since: number): number {
  return Math.round(performance.now() - since) / 1000;
}

/** Whether a table the run found is gone now (the tick's own error is reported if this fails). */
async function droppedSince(client: Queryable, target: { quoted: string }): Promise<boolean> {
  try {
    const { rows } = await client.query<{ gone: boolean }>('SELECT to_regclass($1::text) IS NULL AS gone', [target.quoted]);
    return rows[0]?.gone === true;
  } catch {
    return false;
  }
}
