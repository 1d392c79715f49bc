// Exit codes follow sysexits(3), so cron wrappers and monitoring can tell "try again next
// minute" (75) from "a human must fix the configuration" (78).
export const ExitCode = {
  ok: 0,
  usage: 64,
  software: 70,
  ioError: 74,
  tempFail: 75,
  config: 78,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A bad flag or argument: the command line itself is wrong. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.usage;
  override name = 'UsageError';
}

/** The environment is wrong: no database, unknown table/column/zone, failed authentication. */
export class ConfigError extends Error {
  readonly exitCode = ExitCode.config;
  override name = 'ConfigError';
}

/** stdout (the log or a report) cannot be written: a full disk, /dev/full, an I/O error. */
export class IoError extends Error {
  readonly exitCode = ExitCode.ioError;
  override name = 'IoError';
}

/** Worth retrying unchanged: the database is down, slow, busy or dropped the connection. */
export class TemporaryError extends Error {
  readonly exitCode = ExitCode.tempFail;
  override name = 'TemporaryError';
}

// SQLSTATE classes and codes that mean "the same run will work later".
const TEMPORARY_SQLSTATE_CLASSES = new Set([
  '08', // connection exception
  '53', // insufficient resources (too many connections, disk full)
  '57', // operator intervention: query_canceled (statement_timeout), admin_shutdown, cannot_connect_now
  '40', // transaction rollback: serialization_failure, deadlock_detected
  '58', // system error (I/O)
]);
// lock_not_available, object_in_use, read_only_sql_transaction, idle_in_transaction_session_timeout,
// transaction_timeout (PostgreSQL 17: a DBA's limit on the whole transaction, like statement_timeout)
const TEMPORARY_SQLSTATES = new Set(['55P03', '55006', '25006', '25P03', '25P04']);

// SQLSTATEs that no retry will fix.
const CONFIG_SQLSTATE_CLASSES = new Set([
  '28', // invalid authorization: bad password, no pg_hba entry
  '3D', // invalid catalog name: the database does not exist
  '3F', // invalid schema name
]);
const CONFIG_SQLSTATES = new Set([
  '42P01', // undefined_table
  '42703', // undefined_column
  '42501', // insufficient_privilege
  '42883', // undefined_function (e.g. an extension missing)
]);

// errno codes from the socket layer; ENOTFOUND means the name does not exist (a typo),
// while EAI_AGAIN is a resolver that did not answer this time.
const TEMPORARY_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'EAI_AGAIN',
]);
const CONFIG_ERRNO = new Set(['ENOTFOUND', 'ENOENT', 'EACCES']);

// The server's TLS certificate was refused: Node's hostname check and OpenSSL's verification
// results (X509_V_ERR_* without the prefix). The same certificate fails every minute until a
// human renews it, trusts its CA (sslrootcert) or fixes the host name: configuration, not 75.
const TLS_CERTIFICATE_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/** The code of a refused TLS certificate on an error or its causes, if that is what it is. */
export function tlsCertificateCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
    const code = errorCode(e);
    if (code !== undefined && TLS_CERTIFICATE_CODES.has(code)) return code;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** Maps any error to the exit code the CLI reports, by class and `.code`, never by message. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof TemporaryError || error instanceof IoError) {
    return error.exitCode;
  }
  const code = errorCode(error);
  if (code !== undefined) {
    if (TEMPORARY_ERRNO.has(code) || TEMPORARY_SQLSTATES.has(code)) return ExitCode.tempFail;
    if (CONFIG_ERRNO.has(code) || CONFIG_SQLSTATES.has(code) || TLS_CERTIFICATE_CODES.has(code)) return ExitCode.config;
    if (/^[0-9A-Z]{5}$/.test(code)) {
      const cls = code.slice(0, 2);
      if (TEMPORARY_SQLSTATE_CLASSES.has(cls)) return ExitCode.tempFail;
      if (CONFIG_SQLSTATE_CLASSES.has(cls)) return ExitCode.config;
    }
  }
  // `localhost` resolves to ::1 and 127.0.0.1; when both refuse, net rejects with an
  // AggregateError whose own code may be missing: the members say what happened.
  if (error instanceof AggregateError && error.errors.length > 0) {
    const codes = error.errors.map(exitCodeFor);
    if (codes.includes(ExitCode.tempFail)) return ExitCode.tempFail;
    return codes[0] ?? ExitCode.software;
  }
  if (error instanceof Error && error.cause !== undefined && error.cause !== error) {
    return exitCodeFor(error.cause);
  }
  return ExitCode.software;
}

/** The SQLSTATE or errno code of an error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
  }
  return undefined;
}

/** The first SQLSTATE found on an error or its causes, for the `code` field of tick.failed. */
export function sqlstateOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
    const code = errorCode(e);
    if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** A one-line description: the message, plus the underlying cause where it adds something. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let text = error.message || error.name;
  if (error instanceof AggregateError && error.errors.length > 0) {
    const inner = [...new Set(error.errors.map((e) => describeError(e)))].join('; ');
    text = text ? `${text}: ${inner}` : inner;
  }
  const cause = error.cause;
  if (cause instanceof Error && cause !== error) {
    const inner = describeError(cause);
    if (inner && !text.includes(inner)) text = `${text}: ${inner}`;
  }
  return text.replace(/\s*\n\s*/g, ' ');
}
