/**
 * The narrow logger the core writes to: pino's `logger.info(object, message)` shape, so a
 * pino logger fits, and so does anything else with these three methods.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message?: string): void;
  info(fields: Record<string, unknown>, message?: string): void;
  warn(fields: Record<string, unknown>, message?: string): void;
  /** Optional (pino has it): a logger with `fields` on every line, serialized once. */
  child?(fields: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
};

/** A logger that adds `fields` to every line (e.g. the tick's runId), before the line's own. */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  // pino serializes a child's fields once, not on every line: it matters for a million lines.
  if (logger.child) return logger.child(fields);
  return {
    debug: (f, m) => logger.debug({ ...fields, ...f }, m),
    info: (f, m) => logger.info({ ...fields, ...f }, m),
    warn: (f, m) => logger.warn({ ...fields, ...f }, m),
  };
}
