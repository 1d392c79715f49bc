// run --watch's settings: the switch, --max-sleep and --listen-url, validated before anything
// connects. A bad flag is 64, a bad variable 78 (values.ts); --watch with a one-shot or --every
// setting is refused the same way (78 only when every conflicting setting is a variable).
import { ConfigError, UsageError } from '../errors.js';
import type { ConnectionOptions } from '../db/resources.js';
import { connectionOptions } from './connection.js';
import { integer, invalid, nonEmpty, oneOf, pick, type Env, type Sourced } from './values.js';

export interface WatchSettings {
  /** Tick at least this often, also when nothing is due (seconds, 1–3600). */
  maxSleepSeconds: number;
  /** Where the LISTEN connection goes; undefined: the database connection's settings. */
  listen?: Omit<ConnectionOptions, 'connectTimeoutMs'>;
}

export const DEFAULT_MAX_SLEEP_SECONDS = 60;
const MAX_SLEEP_LIMIT = 3600;

export function watchSettings(
  flags: { watch?: boolean; maxSleep?: string; listenUrl?: string },
  env: Env,
  others: { dryRun: boolean; at: boolean; every: Sourced | undefined },
): WatchSettings | undefined {
  const fromEnv = oneOf(nonEmpty(pick(undefined, env, { env: 'SCHEDULER_WATCH' })), ['on', 'off'] as const, 'off', true);
  // Values are checked whether or not --watch is on: a typo must not wait for the day it is used.
  const maxSleepSeconds = integer(
    nonEmpty(pick(flags.maxSleep, env, { flag: '--max-sleep', env: 'SCHEDULER_MAX_SLEEP' })),
    DEFAULT_MAX_SLEEP_SECONDS, 1, MAX_SLEEP_LIMIT, 'seconds',
  );
  const listenSource = nonEmpty(pick(flags.listenUrl, env, { flag: '--listen-url', env: 'SCHEDULER_LISTEN_URL' }));
  // The same URL rules as --database-url, the message naming --listen-url.
  const listen = listenSource && listenConnection(listenSource, env);
  const on = flags.watch === true || fromEnv === 'on';
  if (!on) return undefined;
  const conflict = others.dryRun ? '--dry-run' : others.at ? '--at' : others.every ? (others.every.from === 'flag' ? '--every' : 'SCHEDULER_EVERY') : undefined;
  if (conflict !== undefined) {
    const watch = flags.watch === true ? '--watch' : 'SCHEDULER_WATCH=on';
    const message = `${watch} cannot be combined with ${conflict} (--watch ticks at each due instant; --every on a fixed period; --dry-run and --at are one-shot)`;
    throw flags.watch !== true && conflict === 'SCHEDULER_EVERY' ? new ConfigError(message) : new UsageError(message);
  }
  return { maxSleepSeconds, ...(listen ? { listen } : {}) };
}

function listenConnection(source: Sourced, env: Env): Omit<ConnectionOptions, 'connectTimeoutMs'> {
  try {
    return connectionOptions({ databaseUrl: source.value }, { PGSSLMODE: env.PGSSLMODE });
  } catch (error) {
    // connectionOptions names --database-url; say which setting it was, never echoing the value.
    const problem = error instanceof Error ? error.message.replace(/^invalid [^:]+: /, '') : 'not a valid URL';
    throw invalid(source, problem);
  }
}
