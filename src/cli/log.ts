// The process's logger: pino, JSON lines on stdout, written by our own small buffer: a tick
// with a backlog writes its lines in 64 KB writes instead of one write per line, and no line
// waits long or is lost at exit (see LineBuffer).
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger as PinoLogger } from 'pino';

export type { PinoLogger };

const FLUSH_BYTES = 64 * 1024;
const STDOUT = 1;

/**
 * Lines collected in memory and written synchronously: when 64 KB are waiting, when the current
 * burst of lines ends (the next turn of the event loop: a lone line is written at once), and when
 * the process exits, also after an uncaught exception. Nothing asynchronous is ever in flight, so
 * nothing can be cut off by exit.
 */
export class LineBuffer {
  private parts: string[] = [];
  private length = 0;
  private scheduled = false;
  private broken = false;

  constructor(private readonly fd: number = STDOUT) {}

  write(line: string): boolean {
    if (this.broken) return true;
    this.parts.push(line);
    this.length += line.length;
    if (this.length >= FLUSH_BYTES) this.flushSync();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync()).unref();
    }
    return true;
  }

  /** pino's logger.flush() calls this. */
  flush(done?: (error?: Error) => void): void {
    this.flushSync();
    done?.();
  }

  flushSync(): void {
    this.scheduled = false;
    if (this.length === 0) return;
    const bytes = Buffer.from(this.parts.join(''));
    this.parts = [];
    this.length = 0;
    for (let offset = 0; offset < bytes.length && !this.broken; ) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (error) {
        const code = (error as { code?: string }).code;
        // A reader that went away (`| head`): the remaining lines have nowhere to go.
        if (code === 'EPIPE') this.broken = true;
        // stdout inherited non-blocking and full: wait for the reader.
        else if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        else throw error;
      }
    }
  }
}

export async function makeLogger(level: string): Promise<PinoLogger> {
  // The default export is pino itself, both for Node's CommonJS interop and in the bundle.
  const { default: pino } = await import('pino');
  const out = new LineBuffer();
  process.on('exit', () => out.flushSync());
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    out,
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
