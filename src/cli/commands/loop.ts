// `run --every N`: a long-running process for hosts without cron. A failed tick is logged and
// the next one tries again; SIGTERM/SIGINT let the current tick finish (or roll back), then exit 0.
import { ExitCode } from '../../errors.js';
import type { Config } from '../../config/config.js';
import { reportFailure } from '../failure.js';
import type { CommandContext } from './context.js';
import { observedRound } from './run.js';

export async function loop(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const periodMs = config.everySeconds! * 1000;
  let stopping = false;
  let wake = () => {};
  const stop = (signal: NodeJS.Signals) => {
    if (!stopping) logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    stopping = true;
    wake();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  logger.info({ event: 'scheduler.started', everySeconds: config.everySeconds }, 'ticking');
  try {
    while (!stopping) {
      const started = Date.now();
      try {
        await observedRound(config, context);
      } catch (error) {
        reportFailure('tick.failed', error, logger, config.secrets, { retrying: true });
      }
      const wait = periodMs - (Date.now() - started);
      if (stopping || wait <= 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  logger.info({ event: 'scheduler.stopped' }, 'stopped');
  return ExitCode.ok;
}
