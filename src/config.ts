// One typed configuration, built and validated before anything connects.
// Precedence: command-line flag > environment variable > .env file > default.
// Pure: the caller passes in the environment (process.env merged over the .env file).
import { ConfigError, UsageError } from './errors.js';
import { parseQualifiedName, type QualifiedName } from './identifiers.js';
import type { ConnectionOptions } from './db.js';
import type { ExpiryMode } from './sql/tick-sql.js';

export type Env = Record<string, string | undefined>;

/** Flag values as commander hands them over: strings, or booleans for switches. */
export interface Flags {
  databaseUrl?: string;
  table?: string;
  timezone?: string;
  expiry?: string;
  dryRun?: boolean;
  at?: string;
  every?: string;
  connectTimeout?: string;
  lockTimeout?: string;
  statementTimeout?: string;
  logLevel?: string;
  /** commander's `--no-history` sets this to false. */
  history?: boolean;
  historySchema?: string;
  historyDays?: string;
  notify?: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  connection: ConnectionOptions;
  /** Strings to scrub from anything printed: the password, however it was given. */
  secrets: string[];
  table: QualifiedName;
  timezone: string;
  expiry: ExpiryMode;
  dryRun: boolean;
  at?: string;
  everySeconds?: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  logLevel: LogLevel;
  /** `false` with --no-history; otherwise where history lives and how long it is kept. */
  history: false | { schema?: string; retentionDays: number };
  notifyChannel?: string;
}

export const DEFAULTS = {
  table: 'special_packages',
  expiry: 'date' as ExpiryMode,
  connectTimeoutMs: 10_000,
  lockTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
  logLevel: 'info' as LogLevel,
  historyDays: 90,
};

// PostgreSQL's timeouts are int4 milliseconds.
const MAX_MS = 2_147_483_647;
const MAX_EVERY_SECONDS = 86_400;

interface Setting {
  flag?: string;
  env?: string;
}

/** Where a value came from, so an error names what the user actually typed. */
interface Sourced {
  value: string;
  from: 'flag' | 'env';
  setting: Setting;
}

function pick(flagValue: string | undefined, env: Env, setting: Setting): Sourced | undefined {
  if (flagValue !== undefined) return { value: flagValue, from: 'flag', setting };
  const envValue = setting.env === undefined ? undefined : env[setting.env];
  if (envValue !== undefined) return { value: envValue, from: 'env', setting };
  return undefined;
}

function names(setting: Setting): string {
  return [setting.flag, setting.env].filter(Boolean).join(' / ');
}

function invalid(source: Sourced, problem: string): Error {
  const message = `invalid ${names(source.setting)}: ${problem}`;
  return source.from === 'flag' ? new UsageError(message) : new ConfigError(message);
}

function nonEmpty(source: Sourced | undefined): Sourced | undefined {
  if (source !== undefined && source.value.trim() === '') throw invalid(source, 'empty value');
  return source;
}

function integer(source: Sourced | undefined, fallback: number, min: number, max: number, unit: string): number {
  if (source === undefined) return fallback;
  const text = source.value.trim();
  if (!/^\d+$/.test(text)) throw invalid(source, `"${source.value}" is not a whole number of ${unit}`);
  const n = Number(text);
  if (n < min || n > max) throw invalid(source, `${text} is out of range (${min} to ${max} ${unit})`);
  return n;
}

export interface BuildOptions {
  /** The host's IANA zone, the default business zone (asked for only when no zone is set). */
  hostTimezone: () => string;
  /** Settings only `run` has; other commands ignore them. */
  command: 'run' | 'check' | 'migrate' | 'status' | 'history';
}

export function buildConfig(flags: Flags, env: Env, options: BuildOptions): Config {
  const connection = connectionOptions(flags, env);
  const connectTimeoutMs = integer(
    nonEmpty(pick(flags.connectTimeout, env, { flag: '--connect-timeout', env: 'SCHEDULER_CONNECT_TIMEOUT' })),
    DEFAULTS.connectTimeoutMs, 1, MAX_MS, 'milliseconds',
  );
  const lockTimeoutMs = integer(
    nonEmpty(pick(flags.lockTimeout, env, { flag: '--lock-timeout', env: 'SCHEDULER_LOCK_TIMEOUT' })),
    DEFAULTS.lockTimeoutMs, 1, MAX_MS, 'milliseconds',
  );
  const statementTimeoutMs = integer(
    nonEmpty(pick(flags.statementTimeout, env, { flag: '--statement-timeout', env: 'SCHEDULER_STATEMENT_TIMEOUT' })),
    DEFAULTS.statementTimeoutMs, 1, MAX_MS, 'milliseconds',
  );

  const table = tableSetting(flags, env);

  const zoneSource = nonEmpty(pick(flags.timezone, env, { flag: '--timezone', env: 'SCHEDULER_TIMEZONE' }));
  const timezone = zoneSource?.value.trim() ?? options.hostTimezone();
  if (!isKnownZone(timezone)) {
    // An unknown zone is a configuration problem whichever way it was given.
    throw new ConfigError(`unknown time zone "${timezone}" (${names({ flag: '--timezone', env: 'SCHEDULER_TIMEZONE' })}); use an IANA name such as Europe/Berlin`);
  }

  const expirySource = nonEmpty(pick(flags.expiry, env, { flag: '--expiry', env: 'SCHEDULER_EXPIRY' }));
  const expiry = (expirySource?.value.trim() ?? DEFAULTS.expiry) as ExpiryMode;
  if (expiry !== 'date' && expiry !== 'instant') throw invalid(expirySource!, `"${expirySource!.value}" is not "date" or "instant"`);

  const levelSource = nonEmpty(pick(flags.logLevel, env, { flag: '--log-level', env: 'LOG_LEVEL' }));
  const logLevel = (levelSource?.value.trim().toLowerCase() ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(levelSource!, `"${levelSource!.value}" is not one of ${LOG_LEVELS.join(', ')}`);

  const dryRun = flags.dryRun === true;
  let at: string | undefined;
  if (flags.at !== undefined) {
    const source: Sourced = { value: flags.at, from: 'flag', setting: { flag: '--at' } };
    if (!dryRun) throw new UsageError('--at is only allowed with --dry-run (a real tick always uses the database clock)');
    const problem = checkTimestamp(flags.at.trim());
    if (problem) throw invalid(source, problem);
    at = flags.at.trim();
  }

  let everySeconds: number | undefined;
  if (options.command === 'run') {
    const everySource = nonEmpty(pick(flags.every, env, { flag: '--every', env: 'SCHEDULER_EVERY' }));
    if (everySource !== undefined) {
      everySeconds = integer(everySource, 0, 1, MAX_EVERY_SECONDS, 'seconds');
      if (dryRun) throw new UsageError('--every cannot be combined with --dry-run');
    }
  }

  const history = historySettings(flags, env);

  const notifySource = nonEmpty(pick(flags.notify, env, { flag: '--notify', env: 'SCHEDULER_NOTIFY_CHANNEL' }));
  const notifyChannel = notifySource?.value.trim();
  if (notifySource !== undefined && (Buffer.byteLength(notifyChannel!) > 63 || /[\u0000-\u001f]/.test(notifyChannel!))) {
    throw invalid(notifySource, 'a channel name is at most 63 bytes without control characters');
  }

  return {
    connection: { ...connection, connectTimeoutMs },
    secrets: secretsOf(flags, env),
    table,
    timezone,
    expiry,
    dryRun,
    at,
    everySeconds,
    lockTimeoutMs,
    statementTimeoutMs,
    logLevel,
    history,
    notifyChannel,
  };
}

/** The packages table, parsed as PostgreSQL would; `migrate --print` needs only this and history. */
export function tableSetting(flags: Flags, env: Env): QualifiedName {
  const source = nonEmpty(pick(flags.table, env, { flag: '--table', env: 'SCHEDULER_TABLE' }));
  const table = parseQualifiedName(source?.value ?? DEFAULTS.table);
  if (typeof table === 'string') throw invalid(source!, table);
  return table;
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
  const switchSource = nonEmpty(pick(undefined, env, { env: 'SCHEDULER_HISTORY' }));
  if (switchSource !== undefined && !['on', 'off'].includes(switchSource.value.trim())) {
    throw invalid(switchSource, `"${switchSource.value}" is not "on" or "off"`);
  }
  const off = flags.history === false || switchSource?.value.trim() === 'off';
  return off ? false : { schema, retentionDays };
}

// libpq's variables, used when no URL is given; pg is handed them explicitly so that a
// .env file can set them too.
const PG_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;

// PGSSLMODE as pg reads it from process.env, but also from a .env file. pg has no fallback to
// plain text: "prefer" behaves like "require".
function sslFromMode(env: Env): Pick<ConnectionOptions, 'ssl'> {
  const mode = env.PGSSLMODE;
  if (mode === undefined || mode === '') return {};
  if (mode === 'disable' || mode === 'allow') return { ssl: false };
  if (['prefer', 'require', 'verify-ca', 'verify-full'].includes(mode)) return { ssl: true };
  if (mode === 'no-verify') return { ssl: { rejectUnauthorized: false } };
  throw new ConfigError(`invalid PGSSLMODE: "${mode}" (disable, prefer, require, verify-ca, verify-full or no-verify)`);
}

/**
 * Every password the settings hold, however given (also in a URL too malformed to use, and in
 * the URL that loses to the flag), so that no message can print one. Known before any other
 * setting is validated.
 */
export function secretsOf(flags: Pick<Flags, 'databaseUrl'>, env: Env): string[] {
  const secrets: string[] = [];
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  for (const url of [flags.databaseUrl, env.DATABASE_URL]) {
    const match = url === undefined ? null : /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url.trim());
    if (match?.[1]) secrets.push(match[1], safeDecode(match[1]));
  }
  return secrets;
}

function connectionOptions(flags: Flags, env: Env): Omit<ConnectionOptions, 'connectTimeoutMs'> {
  const ssl = sslFromMode(env);
  const urlSource = nonEmpty(pick(flags.databaseUrl, env, { flag: '--database-url', env: 'DATABASE_URL' }));
  if (urlSource !== undefined) {
    const url = urlSource.value.trim();
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // Never echo the value: it may hold a password.
      throw invalid(urlSource, 'not a valid URL (expected postgres://user:password@host:port/database)');
    }
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      throw invalid(urlSource, `unsupported scheme "${parsed.protocol}" (expected postgres:// or postgresql://)`);
    }
    return { connectionString: url, ...ssl };
  }
  const given = PG_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== '');
  if (given.length === 0) {
    throw new ConfigError(
      'no database configured: pass --database-url or set DATABASE_URL (or the libpq variables PGHOST, PGUSER, PGDATABASE…)',
    );
  }
  const port = env.PGPORT === undefined || env.PGPORT === '' ? undefined : Number(env.PGPORT);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new ConfigError(`invalid PGPORT: "${env.PGPORT}" is not a port number`);
  }
  return {
    host: env.PGHOST || undefined,
    port,
    user: env.PGUSER || undefined,
    password: env.PGPASSWORD || undefined,
    database: env.PGDATABASE || undefined,
    ...ssl,
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// An IANA-shaped name: Area/Location[/Sub], a single word (UTC, CET) or Etc/GMT±N. POSIX
// specs such as "UTC+3" are refused: PostgreSQL would accept them with the sign inverted.
// Whether the zone exists is PostgreSQL's call (unknown → exit 78); ICU is not consulted,
// because starting it costs ~13 ms on every cron run.
const ZONE_SHAPE = /^(?:Etc\/GMT[+-]\d{1,2}|[A-Za-z][A-Za-z_-]*(?:\/[A-Za-z][A-Za-z0-9_+-]*){0,2})$/;

function isKnownZone(zone: string): boolean {
  return zone.length <= 64 && ZONE_SHAPE.test(zone);
}

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Returns a problem with an ISO 8601 timestamp, or undefined when it is a real date and time. */
export function checkTimestamp(text: string): string | undefined {
  const m = ISO_TIMESTAMP.exec(text);
  if (!m) return `"${text}" is not an ISO 8601 timestamp such as 2026-12-01T09:00 or 2026-12-01T09:00:00+01:00`;
  const [year, month, day, hour = '0', minute = '0', second = '0'] = m.slice(1).map((v) => v ?? undefined) as string[];
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1 || probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d) {
    return `"${text}" is not a real calendar date`;
  }
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return `"${text}" is not a real time of day`;
  return undefined;
}
