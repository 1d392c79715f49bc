// `run --watch`: stays running and ticks at each package's due instant. After every tick it asks
// the database for the next due instant (watch/next-due.ts) and sleeps until then, at most
// --max-sleep, or until the wake trigger reports an edit (watch/listener.ts). Failed ticks are
// retried as with --every; SIGTERM/SIGINT end a sleep at once and let a tick finish, then exit 0.
import { ExitCode, describeError } from '../../errors.js';
import type { Config } from '../../config/config.js';
import { reportFailure, scrub } from '../failure.js';
import type { CommandContext } from './context.js';
import { observedTick } from './observed-tick.js';
import { checkOptions } from '../options.js';
import { WorkConnection } from '../../watch/work-connection.js';
import { WakeListener } from '../../watch/listener.js';
import { Sleeper, type WakeReason } from '../../watch/sleeper.js';
import { nextDue } from '../../watch/next-due.js';

// A failed tick or next-due query: wait this long (then longer), never more than --max-sleep.
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];
// Node's timers may fire a fraction of a millisecond before the duration has passed.
const TIMER_SLACK_MS = 1;

export async function watch(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const settings = config.watch!;
  const maxSleepMs = settings.maxSleepSeconds * 1000;
  const sleeper = new Sleeper();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (!stopping) logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    stopping = true;
    sleeper.interrupt('stopping');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const work = new WorkConnection(config.connection);
  const listenConnection = { ...config.connection, ...(settings.listen ?? {}), connectTimeoutMs: config.connection.connectTimeoutMs };
  const listener = new WakeListener(
    listenConnection,
    config.table,
    logger,
    { notified: () => sleeper.interrupt('notified'), listening: () => sleeper.interrupt('listening') },
    (error) => scrub(describeError(error), config.secrets),
  );
  logger.info({ event: 'scheduler.started', watch: true, maxSleepSeconds: settings.maxSleepSeconds }, 'watching');
  listener.start();
  let failures = 0;
  let reason: WakeReason = 'due';
  try {
    while (!stopping) {
      logger.debug({ event: 'watch.wake', reason }, `woke: ${reason}`);
      let after: string | null = null;
      let failed = false;
      try {
        const result = await observedTick(config, context, (fn) => work.use(fn));
        if (result.status === 'completed') after = instantOf(result.now);
      } catch (error) {
        failed = true;
        reportFailure('tick.failed', error, logger, config.secrets, { retrying: true });
      }
      if (stopping) break;
      let waitMs = maxSleepMs;
      let ending: WakeReason = 'max-sleep';
      if (!failed) {
        try {
          const next = await work.use((client) => nextDue(client, checkOptions(config), { after, horizonSeconds: settings.maxSleepSeconds }));
          if (next.waitMs !== null && next.waitMs < maxSleepMs) {
            waitMs = Math.max(0, Math.ceil(next.waitMs) + TIMER_SLACK_MS);
            ending = 'due';
          }
          logger.debug({ event: 'watch.sleeping', nextDue: next.at, sleepMs: waitMs }, next.at ? `next due at ${next.at}` : 'nothing due within --max-sleep');
          failures = 0;
        } catch (error) {
          failed = true;
          reportFailure('watch.next_due_failed', error, logger, config.secrets, { retrying: true });
        }
      }
      if (failed) {
        waitMs = Math.min(maxSleepMs, RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]!);
        failures++;
        ending = 'max-sleep';
      }
      reason = await sleeper.sleep(waitMs, ending);
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await Promise.all([listener.stop(), work.close()]);
  }
  logger.info({ event: 'scheduler.stopped' }, 'stopped');
  return ExitCode.ok;
}

/**
 * The tick's instant from tick.completed's `now` (local, with offset, to the millisecond), a
 * millisecond earlier: a row due within that millisecond is looked at once more, never skipped.
 */
function instantOf(now: string): string {
  return new Date(Date.parse(now) - 1).toISOString();
}
