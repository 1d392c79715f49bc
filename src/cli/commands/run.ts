// `run`: one tick on its own connection (or a loop of them with --every; see loop.ts), each
// observed: heartbeat start, the tick, the metrics file, heartbeat end. Monitoring never
// changes the tick's exit code.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withConnection } from '../../db/resources.js';
import { ExitCode, exitCodeFor } from '../../errors.js';
import { runTick, type TickResult } from '../../tick/tick.js';
import type { Config } from '../../config/config.js';
import { TickError, scrub } from '../failure.js';
import type { Heartbeat } from '../../monitoring/heartbeat.js';
import { tickOptions } from '../options.js';
import type { CommandContext, CommandHandler } from './context.js';

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

export const run: CommandHandler = async (config, context) => {
  if (config.watch !== undefined) {
    const { watch } = await import('./watch.js');
    return watch(config, context);
  }
  if (config.everySeconds !== undefined) {
    const { loop } = await import('./loop.js');
    return loop(config, context);
  }
  await untilTickEnds(context, () => observedTick(config, context));
  return ExitCode.ok;
};

/**
 * One-shot mode and signals: the first SIGTERM/SIGINT lets the tick in progress finish (or roll
 * back; it is bounded by statement_timeout) instead of killing it, so `docker stop` on a
 * container where this is PID 1 (which ignores unhandled SIGTERM) ends it promptly and the
 * same way everywhere. A second signal kills the process as usual.
 */
async function untilTickEnds<T>(context: CommandContext, tick: () => Promise<T>): Promise<T> {
  const signals = ['SIGTERM', 'SIGINT'] as const;
  const stop = (signal: NodeJS.Signals) => {
    context.logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    for (const s of signals) process.off(s, stop);
  };
  for (const s of signals) process.on(s, stop);
  try {
    return await tick();
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}
