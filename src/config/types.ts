// The typed configuration: the flags as commander hands them over, and the Config every
// command gets, built and validated by buildConfig (config.ts).
import type { ColumnRef, QualifiedName } from '../table/identifiers.js';
import type { ConnectionOptions } from '../db/resources.js';
import type { ExpiryMode } from '../tick/due-sql.js';
import type { TableEntry } from '../tenants/patterns.js';
import type { Shard } from '../tenants/shard.js';
import type { WatchSettings } from './watch.js';

export type CommandName = 'run' | 'check' | 'migrate' | 'status' | 'history';

/** Flag values as commander hands them over: strings, or booleans for switches. */
export interface Flags {
  databaseUrl?: string;
  /** Repeatable: commander collects every --table into a list. */
  table?: string | string[];
  concurrency?: string;
  shard?: string;
  timezone?: string;
  expiry?: string;
  dryRun?: boolean;
  at?: string;
  every?: string;
  connectTimeout?: string;
  lockTimeout?: string;
  statementTimeout?: string;
  maxChanges?: string;
  logLevel?: string;
  /** commander's `--no-history` sets this to false. */
  history?: boolean;
  historySchema?: string;
  historyDays?: string;
  notify?: string;
  envFile?: string;
  print?: boolean;
  json?: boolean;
  limit?: string;
  maxAge?: string;
  package?: string;
  since?: string;
  metricsFile?: string;
  heartbeatUrl?: string;
  heartbeatTimeout?: string;
  timezoneColumn?: string;
  watch?: boolean;
  maxSleep?: string;
  listenUrl?: string;
  wakeTrigger?: boolean;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  command: CommandName;
  connection: ConnectionOptions;
  /** Strings to scrub from anything printed: the password, however it was given. */
  secrets: string[];
  /** The one table, when `tables` is not set (with `tables`, the first literal or the default: unused). */
  table: QualifiedName;
  /**
   * run, migrate, check, status: set when the command works on many tables (a list, a pattern
   * or a shard; src/tenants/); the one-table path never sees it.
   */
  tables?: TableEntry[];
  /** How many tables at once on the many-tables path (default 4). */
  concurrency: number;
  /** This process's shard of the matched tables. */
  shard?: Shard;
  /** The default business zone: every row's, or the rows' whose own zone is NULL. */
  timezone: string;
  /** Neither --timezone nor SCHEDULER_TIMEZONE was set: `timezone` is the host's (worth a warning). */
  timezoneFromHost: boolean;
  /** run, check, status: where each row's own zone is (--timezone-column). */
  timezoneColumn?: ColumnRef;
  expiry: ExpiryMode;
  dryRun: boolean;
  at?: string;
  everySeconds?: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** run, check: the most rows one transaction of a tick changes (a larger backlog takes several). */
  maxChanges: number;
  logLevel: LogLevel;
  /** `false` with --no-history; otherwise where history lives and how long it is kept. */
  history: false | { schema?: string; retentionDays: number };
  notifyChannel?: string;
  /** check, status, history: print JSON instead of a table. */
  json: boolean;
  /** status: upcoming changes of each kind (default 10); history: events (default 50). */
  limit: number;
  /** status --max-age: exit 1 when the last success is older than this. */
  maxAgeSeconds?: number;
  /** history --since, a checked ISO 8601 timestamp. */
  since?: string;
  /** history --package. */
  packageId?: string;
  /** run: Prometheus text file, replaced atomically after each tick. */
  metricsFile?: string;
  /** run: heartbeat base URL (Healthchecks-style: /start, then /<exit code>). */
  heartbeatUrl?: string;
  heartbeatTimeoutMs: number;
  /** run --watch: the watcher's settings (config/watch.ts); undefined otherwise. */
  watch?: WatchSettings;
  /** migrate --wake-trigger. */
  wakeTrigger: boolean;
}
