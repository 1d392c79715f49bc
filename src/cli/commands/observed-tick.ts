// One tick on its own connection, observed: heartbeat start, the tick, the metrics file,
// heartbeat end. Monitoring never changes the tick's exit code. Shared by run and its --every loop.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withConnection } from '../../db/resources.js';
import { ExitCode, exitCodeFor } from '../../errors.js';
import { runTick, type TickResult } from '../../tick/tick.js';
import type { Config } from '../../config/config.js';
import { TickError, scrub } from '../failure.js';
import type { Heartbeat } from '../../monitoring/heartbeat.js';
import { tickOptions } from '../options.js';
import type { CommandContext } from './context.js';

/** Runs `fn` on a connection: by default a new one, closed after it. */
export type Connect = <T>(fn: (client: pg.Client) => Promise<T>) => Promise<T>;

// A new connection per tick, also in --every mode: see docs/design.md ("Connections");
// --watch passes its own, kept open (watch/work-connection.ts).
async function tickOnce(config: Config, context: CommandContext, connect: Connect): Promise<TickResult> {
  const runId = randomUUID();
  try {
    return await connect((client) => runTick(client, tickOptions(config, context.version, runId), context.logger));
  } catch (error) {
    throw new TickError(runId, error);
  }
}

/** One tick with its pings and metrics; returns the tick's result or throws its TickError. */
export async function observedTick(
  config: Config,
  context: CommandContext,
  connect: Connect = (fn) => withConnection(config.connection, fn),
): Promise<TickResult> {
  // Loaded only when asked for: a plain cron run does not pay for them at start-up.
  const pings = config.heartbeatUrl ? await import('../../monitoring/heartbeat.js') : undefined;
  const heartbeat: Heartbeat | undefined = config.heartbeatUrl
    ? { url: config.heartbeatUrl, timeoutMs: config.heartbeatTimeoutMs, logger: context.logger }
    : undefined;
  if (pings && heartbeat) await pings.pingStart(heartbeat);
  const started = performance.now();
  let result: TickResult | undefined;
  let failure: TickError | undefined;
  try {
    result = await tickOnce(config, context, connect);
  } catch (error) {
    failure = error as TickError;
  }
  const durationSeconds = (performance.now() - started) / 1000;
  const exitCode = failure ? exitCodeFor(failure.cause) : ExitCode.ok;
  if (config.metricsFile) {
    const { recordMetrics } = await import('../tick-metrics.js');
    await recordMetrics(config, context, { result, exitCode, durationSeconds });
  }
  if (pings && heartbeat) await pings.pingEnd(heartbeat, exitCode, scrub(pingBody(result, failure), config.secrets));
  if (failure) throw failure;
  return result!;
}

function pingBody(result: TickResult | undefined, failure: TickError | undefined): string {
  if (failure) {
    const cause = failure.cause;
    return `failed: ${cause instanceof Error ? cause.message : String(cause)}\n`;
  }
  if (result?.status === 'skipped') return 'skipped: another run holds the lock for this table\n';
  const { counts } = result as Extract<TickResult, { status: 'completed' }>;
  return `activated=${counts.activated} deactivated=${counts.deactivated} activation_skipped=${counts.activationSkipped}\n`;
}

/** What a tick did, for the line that says its log was lost: its changes stand all the same. */
export function tickOutcome(result: TickResult): string {
  if (result.status === 'skipped') return 'the tick was skipped (another run held the lock)';
  if (result.dryRun) return 'the dry run changed nothing';
  const { activated, deactivated, activationSkipped } = result.counts;
  return `the tick committed ${activated + deactivated + activationSkipped} changes (activated ${activated}, deactivated ${deactivated}, activation skipped ${activationSkipped})`;
}

/** What a run over many tables did, for the one line of a log that could not be written. */
export const MANY_TABLES_OUTCOME = "each table's tick committed or rolled back on its own (run.completed says which)";

/** One round of --every: one tick, or one run over many tables (which reports its own failures); what it did. */
export async function observedRound(config: Config, context: CommandContext): Promise<string> {
  if (!config.tables) return tickOutcome(await observedTick(config, context));
  await (await import('../tenants/run.js')).runMany(config, context);
  return MANY_TABLES_OUTCOME;
}
