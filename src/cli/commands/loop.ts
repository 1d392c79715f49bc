// `run --every N`: a long-running process for hosts without cron. A failed tick is logged and
// the next one tries again; SIGTERM/SIGINT let the current tick finish (or roll back), then exit 0.
// A second signal ends the process at once, as in one-shot mode (see run.ts).
import { ExitCode } from '../../errors.js';
import type { Config } from '../../config/config.js';
import { reportFailure } from '../failure.js';
import { lostLog } from '../log.js';
import type { CommandContext } from './context.js';
import { observedRound } from './observed-tick.js';

export async function loop(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const periodMs = config.everySeconds! * 1000;
  let stopping = false;
  let wake = () => {};
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    stopping = true;
    // Node's default comes back: a second signal (an impatient Ctrl-C) kills the process, and
    // the database rolls back a tick that has not committed.
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    wake();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  logger.info({ event: 'scheduler.started', everySeconds: config.everySeconds }, 'ticking');
  try {
    while (!stopping) {
      const started = Date.now();
      let outcome = 'the tick failed and was rolled back';
      try {
        outcome = await observedRound(config, context);
      } catch (error) {
        reportFailure('tick.failed', error, logger, config.secrets, { retrying: true });
      }
      // A log that cannot be written (a full disk) ends the loop: ticks nobody can see are
      // worse than a process its supervisor restarts and reports.
      const logged = lostLog(logger, ExitCode.ok, outcome);
      if (logged !== ExitCode.ok) return logged;
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
