// One typed configuration, built and validated before anything connects.
// Precedence: command-line flag > environment variable > .env file > default.
// Pure: the caller passes in the environment (process.env merged over the .env file).
import { ConfigError, UsageError } from '../errors.js';
import { parseColumnRef, parseQualifiedName, type ColumnRef, type QualifiedName } from '../table/identifiers.js';
import type { ExpiryMode } from '../tick/due-sql.js';
import { checkTimestamp } from './timestamps.js';
import { integer, invalid, names, nonEmpty, oneOf, pick, type Env, type Sourced } from './values.js';
import { connectionOptions, secretsOf } from './connection.js';
import { HEARTBEAT_TIMEOUT_MS, monitoringSettings } from './monitoring.js';
import { isZoneName, unknownZoneMessage } from './zone-name.js';
import { watchSettings } from './watch.js';
import { concurrencySetting, DEFAULT_TABLE, shardSetting, singleTable, tableSelection, type TableSelection } from './tables.js';

export type { Env } from './values.js';
export { secretsOf } from './connection.js';
export { checkTimestamp } from './timestamps.js';

export type { CommandName, Config, Flags, LogLevel } from './types.js';
import type { CommandName, Config, Flags, LogLevel } from './types.js';

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULTS = {
  table: DEFAULT_TABLE,
  expiry: 'date' as ExpiryMode,
  connectTimeoutMs: 10_000,
  lockTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
  maxChanges: 100_000,
  logLevel: 'info' as LogLevel,
  historyDays: 90,
  statusLimit: 10,
  historyLimit: 50,
  heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
};

// PostgreSQL's timeouts are int4 milliseconds.
const MAX_MS = 2_147_483_647;
const MAX_CHANGES = 10_000_000;
const MAX_EVERY_SECONDS = 86_400;
const MAX_AGE_SECONDS = 10 * 365 * 86_400;

export interface BuildOptions {
  /** The host's IANA zone, the default business zone (asked for only when no zone is set). */
  hostTimezone: () => string;
  /** Settings only some commands have; the others ignore them. */
  command: CommandName;
  /** Whether a folder exists (for --metrics-file); injected so this module stays pure. */
  folderExists?: (path: string) => boolean;
}

function milliseconds(flag: string | undefined, env: Env, setting: { flag: string; env: string }, fallback: number): number {
  return integer(nonEmpty(pick(flag, env, setting)), fallback, 1, MAX_MS, 'milliseconds');
}

export function buildConfig(flags: Flags, env: Env, options: BuildOptions): Config {
  const { command } = options;
  const connection = connectionOptions(flags, env);
  const connectTimeoutMs = milliseconds(flags.connectTimeout, env, { flag: '--connect-timeout', env: 'SCHEDULER_CONNECT_TIMEOUT' }, DEFAULTS.connectTimeoutMs);
  const lockTimeoutMs = milliseconds(flags.lockTimeout, env, { flag: '--lock-timeout', env: 'SCHEDULER_LOCK_TIMEOUT' }, DEFAULTS.lockTimeoutMs);
  const statementTimeoutMs = milliseconds(
    flags.statementTimeout, env, { flag: '--statement-timeout', env: 'SCHEDULER_STATEMENT_TIMEOUT' }, DEFAULTS.statementTimeoutMs,
  );
  // One transaction's share of a backlog: small enough to finish within statement_timeout.
  // Only run and check read it (a stray variable does not stop migrate, status or history).
  const maxChangesSource = ['run', 'check'].includes(command)
    ? nonEmpty(pick(flags.maxChanges, env, { flag: '--max-changes', env: 'SCHEDULER_MAX_CHANGES' }))
    : undefined;
  const maxChanges = integer(maxChangesSource, DEFAULTS.maxChanges, 1, MAX_CHANGES, 'changes');
  const manyTables = ['run', 'migrate', 'check', 'status'].includes(command);
  const selection: TableSelection = manyTables ? tableSelection(flags.table, env) : { entries: [], single: singleTable(flags.table, env, command) };
  const concurrency = manyTables ? concurrencySetting(flags.concurrency, env) : 1;
  const shard = manyTables ? shardSetting(flags.shard, env) : undefined;
  // A shard of one literal table is still a selection: the table may not be this shard's.
  const tables = manyTables && (selection.single === undefined || shard !== undefined) ? selection.entries : undefined;
  const table = selection.single ?? { name: DEFAULTS.table };
  const { timezone, fromHost: timezoneFromHost } = timezoneSetting(flags, env, options.hostTimezone);
  const timezoneColumn = ['run', 'check', 'status'].includes(command) ? timezoneColumnSetting(flags, env) : undefined;
  const expiry = oneOf(nonEmpty(pick(flags.expiry, env, { flag: '--expiry', env: 'SCHEDULER_EXPIRY' })), ['date', 'instant'] as const, DEFAULTS.expiry);
  const logLevel = logLevelSetting(flags, env);

  const dryRun = flags.dryRun === true;
  let at: string | undefined;
  if (flags.at !== undefined) {
    if (!dryRun) throw new UsageError('--at is only allowed with --dry-run (a real tick always uses the database clock)');
    at = timestamp({ value: flags.at, from: 'flag', setting: { flag: '--at' } });
  }

  let everySeconds: number | undefined;
  if (command === 'run') {
    const every = everySource(flags, env);
    if (every !== undefined) {
      everySeconds = integer(every, 0, 1, MAX_EVERY_SECONDS, 'seconds');
      if (dryRun) throw new UsageError('--every cannot be combined with --dry-run');
    }
  }

  const watch = command === 'run' ? watchSettings(flags, env, { dryRun, at: flags.at !== undefined, every: everySource(flags, env) }) : undefined;
  if (watch && tables) {
    // One table's next due instant for now (docs/watch.md): a pattern would silently watch none.
    const message = 'run --watch ticks one table: give one --table without * (lists, patterns and --shard run from cron or with --every)';
    throw flags.watch === true && flags.table !== undefined ? new UsageError(message) : new ConfigError(message);
  }

  const history = historySettings(flags, env);
  const notifySource = nonEmpty(pick(flags.notify, env, { flag: '--notify', env: 'SCHEDULER_NOTIFY_CHANNEL' }));
  const notifyChannel = notifySource?.value.trim();
  if (notifySource !== undefined && (Buffer.byteLength(notifyChannel!) > 63 || /[\u0000-\u001f]/.test(notifyChannel!))) {
    throw invalid(notifySource, 'a channel name is at most 63 bytes without control characters');
  }

  const limit =
    command === 'history'
      ? integer(nonEmpty(pick(flags.limit, env, { flag: '--limit' })), DEFAULTS.historyLimit, 1, 100_000, 'events')
      : integer(nonEmpty(pick(flags.limit, env, { flag: '--limit' })), DEFAULTS.statusLimit, 1, 1000, 'packages');
  const maxAgeSource = nonEmpty(pick(flags.maxAge, env, { flag: '--max-age' }));
  const maxAgeSeconds = maxAgeSource === undefined ? undefined : integer(maxAgeSource, 0, 1, MAX_AGE_SECONDS, 'seconds');
  if (maxAgeSeconds !== undefined && history === false) throw new UsageError('--max-age needs run history; drop --no-history');
  const sinceSource = nonEmpty(pick(flags.since, env, { flag: '--since' }));
  const monitoring = command === 'run' ? monitoringSettings(flags, env, options.folderExists) : { heartbeatTimeoutMs: DEFAULTS.heartbeatTimeoutMs };
  const packageSource = nonEmpty(pick(flags.package, env, { flag: '--package' }));

  return {
    command,
    connection: { ...connection, connectTimeoutMs },
    secrets: secretsOf(flags, env),
    table,
    ...(tables ? { tables } : {}),
    concurrency,
    ...(shard ? { shard } : {}),
    timezone,
    timezoneFromHost,
    timezoneColumn,
    expiry,
    dryRun,
    at,
    everySeconds,
    lockTimeoutMs,
    statementTimeoutMs,
    maxChanges,
    logLevel,
    history,
    notifyChannel,
    json: flags.json === true,
    limit,
    maxAgeSeconds,
    since: sinceSource === undefined ? undefined : timestamp(sinceSource),
    packageId: packageSource?.value.trim(),
    ...monitoring,
    watch,
    wakeTrigger: command === 'migrate' && flags.wakeTrigger === true,
  };
}

function everySource(flags: Flags, env: Env): Sourced | undefined {
  return nonEmpty(pick(flags.every, env, { flag: '--every', env: 'SCHEDULER_EVERY' }));
}

function timestamp(source: Sourced): string {
  const text = source.value.trim();
  const problem = checkTimestamp(text);
  if (problem) throw invalid(source, problem);
  return text;
}

/** The packages table, parsed as PostgreSQL would; `migrate --print` needs only this and history. */
export function tableSetting(flags: Flags, env: Env): QualifiedName {
  return singleTable(flags.table, env, 'migrate --print');
}

/** Also used on its own after a failed build, so the failure line honours the requested level. */
export function logLevelSetting(flags: Flags, env: Env): LogLevel {
  return oneOf(nonEmpty(pick(flags.logLevel, env, { flag: '--log-level', env: 'LOG_LEVEL' })), LOG_LEVELS, DEFAULTS.logLevel, true);
}

function timezoneSetting(flags: Flags, env: Env, hostTimezone: () => string): { timezone: string; fromHost: boolean } {
  const setting = { flag: '--timezone', env: 'SCHEDULER_TIMEZONE' };
  const given = nonEmpty(pick(flags.timezone, env, setting))?.value.trim();
  const timezone = given ?? hostTimezone();
  if (!isZoneName(timezone)) {
    // An unknown zone is a configuration problem whichever way it was given.
    throw new ConfigError(unknownZoneMessage(timezone, given === undefined ? `the host's zone; set ${names(setting)}` : names(setting)));
  }
  return { timezone, fromHost: given === undefined };
}

function timezoneColumnSetting(flags: Flags, env: Env): ColumnRef | undefined {
  const source = nonEmpty(pick(flags.timezoneColumn, env, { flag: '--timezone-column', env: 'SCHEDULER_TIMEZONE_COLUMN' }));
  if (source === undefined) return undefined;
  const ref = parseColumnRef(source.value.trim());
  if (typeof ref === 'string') throw invalid(source, ref);
  return ref;
}

export function historySettings(flags: Flags, env: Env): Config['history'] {
  const retentionDays = integer(
    nonEmpty(pick(flags.historyDays, env, { flag: '--history-days', env: 'SCHEDULER_HISTORY_DAYS' })),
    DEFAULTS.historyDays, 1, 36_500, 'days',
  );
  const schemaSource = nonEmpty(pick(flags.historySchema, env, { flag: '--history-schema', env: 'SCHEDULER_HISTORY_SCHEMA' }));
  let schema: string | undefined;
  if (schemaSource !== undefined) {
    const parsed = parseQualifiedName(schemaSource.value.trim());
    if (typeof parsed === 'string') throw invalid(schemaSource, parsed);
    if (parsed.schema !== undefined) throw invalid(schemaSource, 'expected a schema name, not schema.table');
    schema = parsed.name;
  }
  const recording = oneOf(nonEmpty(pick(undefined, env, { env: 'SCHEDULER_HISTORY' })), ['on', 'off'] as const, 'on');
  return flags.history === false || recording === 'off' ? false : { schema, retentionDays };
}
