// The process's logger: pino, JSON lines on stdout, written synchronously so the last line
// before exit is never lost in a buffer.
import { hostname } from 'node:os';
import type { Logger as PinoLogger } from 'pino';

export type { PinoLogger };

export async function makeLogger(level: string): Promise<PinoLogger> {
  // The default export is pino itself, both for Node's CommonJS interop and in the bundle.
  const { default: pino } = await import('pino');
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

/** Where Node's process warnings go: the logger once there is one, stderr before that. */
export interface WarningRoute {
  logger?: PinoLogger;
}

// Node prints process warnings (pg's sslmode notice, for one) as several lines on stderr;
// they become one JSON line instead, so stderr keeps its one-line-per-error promise.
export function routeWarnings(): WarningRoute {
  const route: WarningRoute = {};
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    const message = warning.message.replace(/\s*\n\s*/g, ' ');
    if (route.logger) route.logger.warn({ event: 'node.warning', warning: warning.name, code: (warning as { code?: string }).code }, message);
    else process.stderr.write(`package-scheduler: warning: ${message}\n`);
  });
  return route;
}
