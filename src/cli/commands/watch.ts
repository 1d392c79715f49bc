// `run --watch`: stays running and ticks at each package's due instant. After every tick it asks
// the database for the next due instant (watch/next-due.ts) and sleeps until then, at most
// --max-sleep, or until the wake trigger reports an edit (watch/listener.ts). Failed ticks are
// retried as with --every; SIGTERM/SIGINT end a sleep at once and let a tick finish, then exit 0.
import { ConfigError, ExitCode, describeError } from '../../errors.js';
import { lostLog } from '../log.js';
import { withConnection } from '../../db/resources.js';
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
const STOP_GRACE_MS = 500;

export async function watch(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const settings = config.watch!;
  const maxSleepMs = settings.maxSleepSeconds * 1000;
  const sleeper = new Sleeper();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    stopping = true;
    // As --every: a second signal (an impatient Ctrl-C) kills the process at once, and the
    // database rolls back a tick that has not committed.
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    sleeper.interrupt('stopping');
    // Ending must not wait on a connection still being opened (a host that does not answer
    // holds it for --connect-timeout): once the loop is done, a second is all it gets.
    setTimeout(() => process.exit(), STOP_GRACE_MS).unref();
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
    // From a short connection of its own, never the work connection (which may be mid-tick).
    (channel, payload) =>
      withConnection(config.connection, async (client) => {
        await client.query('SELECT pg_notify($1::text, $2::text)', [channel, payload]);
      }),
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
      // A log that cannot be written (a full disk) ends the watcher as it ends --every (74).
      const logged = lostLog(logger, ExitCode.ok, failed ? 'the tick failed and was rolled back' : 'the tick committed its changes');
      if (logged !== ExitCode.ok) return logged;
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
          // A table the watcher cannot watch (ConfigError: Citus, say) is the configuration's
          // to fix: 78, as a one-shot run would exit, not a retry every --max-sleep for ever.
          if (error instanceof ConfigError) {
            reportFailure('watch.next_due_failed', error, logger, config.secrets);
            return ExitCode.config;
          }
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
