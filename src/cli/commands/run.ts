// `run`: one observed tick (see observed-tick.ts), or a loop of them with --every (loop.ts).
import { ExitCode } from '../../errors.js';
import { lostLog } from '../log.js';
import type { CommandContext, CommandHandler } from './context.js';
import { MANY_TABLES_OUTCOME, observedTick, tickOutcome } from './observed-tick.js';

export const run: CommandHandler = async (config, context) => {
  if (config.watch !== undefined) {
    const { watch } = await import('./watch.js');
    return watch(config, context);
  }
  if (config.everySeconds !== undefined) {
    const { loop } = await import('./loop.js');
    return loop(config, context);
  }
  // Many tables (a list, a pattern, a shard): src/cli/tenants/run.ts; one table stays as it was.
  if (config.tables) {
    const code = await untilTickEnds(context, async () => (await import('../tenants/run.js')).runMany(config, context));
    return lostLog(context.logger, code, MANY_TABLES_OUTCOME);
  }
  const result = await untilTickEnds(context, () => observedTick(config, context));
  return lostLog(context.logger, ExitCode.ok, tickOutcome(result));
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
