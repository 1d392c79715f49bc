// withConnection: one pg.Client, connected with a timeout, always closed; connect errors
// classified (configuration 78, temporary 75) by their codes.
import pg from 'pg';
import { ConfigError, TemporaryError, errorCode, exitCodeFor, ExitCode, tlsCertificateCode } from '../errors.js';
import { types } from './query.js';

export interface ConnectionOptions {
  /** A libpq-style URL; when absent, host/port/user/password/database (from PG* variables) are used. */
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** Milliseconds to wait for the server to accept the connection (pg's default waits forever). */
  connectTimeoutMs: number;
  applicationName?: string;
  /** From PGSSLMODE, as pg maps it; an sslmode in the URL takes precedence. */
  ssl?: boolean | { rejectUnauthorized: false };
}

const END_GRACE_MS = 2000;

/** pg's settings for a connection: also those of every connection in a pool (src/tenants/pool.ts). */
export function clientConfig(options: ConnectionOptions): pg.ClientConfig {
  return {
    connectionString: options.connectionString,
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    connectionTimeoutMillis: options.connectTimeoutMs,
    application_name: options.applicationName ?? 'package-scheduler',
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    types,
  };
}

export async function withConnection<T>(options: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const connection = await openConnection(options);
  try {
    return await connection.run(fn);
  } finally {
    await closeClient(connection.client);
  }
}

/** An open client, and `run`, which reports a connection lost mid-query as temporary (75). */
export interface OpenConnection {
  client: pg.Client;
  run<T>(fn: (client: pg.Client) => Promise<T>): Promise<T>;
}

/**
 * Opens a client as withConnection does (the caller closes it with closeClient). `keepAlive`:
 * TCP keepalive for connections that stay open between ticks (run --watch).
 */
export async function openConnection(options: ConnectionOptions, extra: { keepAlive?: boolean } = {}): Promise<OpenConnection> {
  const client = new pg.Client({ ...clientConfig(options), ...(extra.keepAlive ? { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } : {}) });
  // Without a listener, a connection dropped between queries is an uncaught 'error' event
  // that kills the process with a stack trace; the failing query reports it instead.
  let lost: unknown;
  client.on('error', (error) => {
    lost = error;
  });
  const askedForPassword = watchPasswordRequests(client);
  try {
    await client.connect();
  } catch (error) {
    await closeClient(client);
    throw connectError(error, askedForPassword() && !hasPassword(client) ? client.user : undefined);
  }
  const run = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    try {
      return await fn(client);
    } catch (error) {
      // pg reports a connection that died mid-query without any code; what we saw on the
      // socket says it was lost, which is temporary however the message reads.
      if (lost !== undefined && errorCode(error) === undefined) {
        throw new TemporaryError('the database connection was lost', { cause: lost });
      }
      throw error;
    }
  };
  return { client, run };
}

// The server's requests for a password. pg fails them with a plain Error (SASL: "client password
// must be a string") or a TypeError (MD5, cleartext) when it has no password at all: that is the
// configuration, never a reason to retry, and it is told by what happened, not by the message.
const PASSWORD_REQUESTS = ['authenticationCleartextPassword', 'authenticationMD5Password', 'authenticationSASL'];

function watchPasswordRequests(client: pg.Client): () => boolean {
  let asked = false;
  const connection = (client as unknown as { connection: import('node:events').EventEmitter }).connection;
  for (const event of PASSWORD_REQUESTS) connection.once(event, () => (asked = true));
  return () => asked;
}

/** Whether pg had a password to answer with (the URL, PGPASSWORD, or a ~/.pgpass entry it found). */
function hasPassword(client: pg.Client): boolean {
  const password = (client as unknown as { password?: unknown }).password;
  return typeof password === 'function' || (typeof password === 'string' && password !== '');
}

/** `passwordMissingFor`: the user the server wanted a password for, when none was given. */
/**
 * The pool's client (src/tenants/pool.ts): a failed connect carries what withConnection sees
 * itself, whether the server asked for a password pg did not have, and its socket is cut at
 * once (a handshake left half-done would keep the process alive until authentication_timeout).
 */
export class PooledClient extends pg.Client {
  passwordMissingFor?: string;

  // pg's own overloads (a promise, or a callback) are kept as they are: pg-pool uses the callback.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override connect(callback?: any): any {
    const self = this as unknown as pg.Client;
    const asked = watchPasswordRequests(self);
    const failed = (error: unknown) => {
      if (asked() && !hasPassword(self)) this.passwordMissingFor = self.user;
      (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      return error;
    };
    if (callback) return super.connect((error: Error | null) => (error ? callback(failed(error)) : callback(null, this)));
    return super.connect().catch((error: unknown) => {
      throw failed(error);
    });
  }
}

export function connectError(error: unknown, passwordMissingFor?: string): Error {
  if (passwordMissingFor !== undefined) {
    return new ConfigError(
      `the server asks for a password for user "${passwordMissingFor}" and none is set: put it in the URL, or set PGPASSWORD or PGPASSWORD_FILE`,
      { cause: error },
    );
  }
  const certificate = tlsCertificateCode(error);
  if (certificate !== undefined) {
    return new ConfigError(
      `the database server's TLS certificate is not accepted (${certificate}): trust its CA with sslrootcert in the URL, fix the host name or renew the certificate`,
      { cause: error },
    );
  }
  const exit = exitCodeFor(error);
  if (exit === ExitCode.config) {
    return new ConfigError('cannot connect to the database', { cause: error });
  }
  // Timeouts and sockets closed during the handshake come from pg without a code; a connect
  // that failed for a reason we cannot name is retried, as a database that is down would be.
  return new TemporaryError('cannot connect to the database', { cause: error });
}

// A half-open socket must not keep the process alive: ask politely, then cut it.
export async function closeClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = client.end().catch(() => {});
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, END_GRACE_MS);
    timer.unref();
  });
  await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  stream?.destroy();
}
