// How a failed command is reported: one JSON line (the `*.failed` event) and one plain line on
// stderr, both scrubbed of passwords, and the exit code its error class maps to.
import { describeError, exitCodeFor, sqlstateOf } from '../errors.js';
import type { CommandName } from '../config/config.js';
import type { PinoLogger } from './log.js';

export const FAILED_EVENT: Record<CommandName, string> = {
  run: 'tick.failed',
  check: 'check.failed',
  migrate: 'migrate.failed',
  status: 'status.failed',
  history: 'history.failed',
};

/** Carries the failed tick's runId to its tick.failed line. */
export class TickError extends Error {
  constructor(
    readonly runId: string,
    override readonly cause: unknown,
  ) {
    super('tick failed', { cause });
  }
}

export function reportFailure(event: string, error: unknown, logger: PinoLogger, secrets: string[], extra: Record<string, unknown> = {}): number {
  const tick = error instanceof TickError ? { runId: error.runId } : {};
  const cause = error instanceof TickError ? error.cause : error;
  const exitCode = exitCodeFor(cause);
  const message = scrub(describeError(cause), secrets);
  const code = sqlstateOf(cause);
  logger.error({ event, exitCode, ...(code ? { code } : {}), error: message, ...tick, ...extra }, message);
  process.stderr.write(`package-scheduler: ${message}\n`);
  return exitCode;
}

export function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  // A URL with credentials that slipped into a message some other way.
  return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
}
