// Where to connect: a URL (flag or DATABASE_URL) or libpq's PG* variables, which pg is handed
// explicitly so that a .env file can set them too. Passwords are collected first, so that
// no later message can print one.
import { ConfigError } from '../errors.js';
import type { ConnectionOptions } from '../db/resources.js';
import { invalid, nonEmpty, pick, type Env } from './values.js';

const PG_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;

/**
 * Every password the settings hold, however given (also in a URL too malformed to use, and in
 * the URL that loses to the flag). Known before any other setting is validated.
 */
export function secretsOf(flags: { databaseUrl?: string; heartbeatUrl?: string; listenUrl?: string }, env: Env): string[] {
  const secrets: string[] = [];
  // A heartbeat URL is a secret as a whole: its path is the check's token.
  for (const url of [flags.heartbeatUrl, env.SCHEDULER_HEARTBEAT_URL]) {
    const trimmed = url?.trim();
    if (trimmed) secrets.push(trimmed, trimmed.replace(/\/+$/, ''), ...pathOf(trimmed), ...passwordOf(trimmed));
  }
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  for (const url of [flags.databaseUrl, env.DATABASE_URL, flags.listenUrl, env.SCHEDULER_LISTEN_URL]) {
    const match = url === undefined ? null : /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url.trim());
    if (match?.[1]) secrets.push(match[1], safeDecode(match[1]));
  }
  return secrets;
}

export function connectionOptions(flags: { databaseUrl?: string }, env: Env): Omit<ConnectionOptions, 'connectTimeoutMs'> {
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
    return { connectionString: withPassword(parsed, url, env.PGPASSWORD), ...ssl };
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

// libpq takes PGPASSWORD for a URL without a password. pg reads it from process.env only, so one
// from the .env file or PGPASSWORD_FILE would be lost: it goes into the URL, which pg reads first.
function withPassword(parsed: URL, url: string, password: string | undefined): string {
  if (parsed.password !== '' || password === undefined || password === '') return url;
  const copy = new URL(url);
  copy.password = encodeURIComponent(password);
  return copy.password === '' ? url : copy.toString(); // a URL without a host cannot carry one
}

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

function pathOf(url: string): string[] {
  try {
    const path = new URL(url).pathname.replace(/\/+$/, '');
    return path.length > 1 ? [path] : [];
  } catch {
    return [];
  }
}

// A ping server's password (sent as an Authorization header, see cli/heartbeat.ts).
function passwordOf(url: string): string[] {
  try {
    const password = new URL(url).password;
    return password ? [password, safeDecode(password)] : [];
  } catch {
    return [];
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
