// The process's logger: pino, JSON lines on stdout, written by our own small buffer: a tick
// with a backlog writes its lines in 64 KB writes instead of one write per line, and no line
// waits long or is lost at exit (see LineBuffer).
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger as PinoLogger } from 'pino';
import { ExitCode } from '../errors.js';

export type { PinoLogger };

const BUFFER_BYTES = 64 * 1024;
const STDOUT = 1;
// UTF-8 takes at most 3 bytes per UTF-16 code unit.
const MAX_BYTES_PER_CHAR = 3;

/**
 * Lines encoded into one reused 64 KB buffer and written synchronously: when the next line would
 * not fit, when the current burst of lines ends (the next turn of the event loop, so a lone line
 * is written at once), and when the process exits, also after an uncaught exception. Nothing
 * asynchronous is ever in flight, so exit cannot cut anything off. The line strings die at once:
 * a backlog of a million lines leaves no garbage behind them in the JS heap.
 */
export class LineBuffer {
  private readonly buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private scheduled = false;
  private broken = false;
  /** Why stdout stopped taking lines (ENOSPC, EIO…), for the command to report once it ends. */
  failure: Error | undefined;

  constructor(private readonly fd: number = STDOUT) {}

  write(line: string): boolean {
    if (this.broken) return true;
    if (this.used + line.length * MAX_BYTES_PER_CHAR > BUFFER_BYTES) {
      this.flushSync();
      // A line longer than the buffer (a huge error message) goes out on its own.
      if (line.length * MAX_BYTES_PER_CHAR > BUFFER_BYTES) {
        this.writeAll(Buffer.from(line));
        return true;
      }
    }
    this.used += this.buffer.write(line, this.used);
    if (!this.scheduled) {
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
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    this.writeAll(this.buffer.subarray(0, used));
  }

  // Never throws: a log write fails inside pino's call, often mid-tick or in a timer, where a
  // throw would be an uncaught exception. A full disk is kept and reported when the command ends.
  private writeAll(bytes: Buffer): void {
    if (this.broken) return;
    try {
      // A reader that went away (`run | head`): the remaining lines have nowhere to go, and the
      // changes they describe are committed. That is a lost log like a full disk, reported the
      // same way (exit 74, one stderr line); only a report's reader may leave early (print).
      if (writeFully(this.fd, bytes) === 'closed') {
        this.broken = true;
        this.failure = Object.assign(new Error('EPIPE: the reader of stdout closed the pipe'), { code: 'EPIPE' });
      }
    } catch (error) {
      this.broken = true;
      this.failure = error as Error;
    }
  }
}

/**
 * Writes all of `bytes` synchronously; 'closed' when the reader went away (EPIPE). Any other
 * error (ENOSPC: a full disk or /dev/full; EIO) is thrown.
 */
export function writeFully(fd: number, bytes: Buffer): 'done' | 'closed' {
  for (let offset = 0; offset < bytes.length; ) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EPIPE') return 'closed';
      // stdout inherited non-blocking and full: wait for the reader.
      if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      else throw error;
    }
  }
  return 'done';
}

const buffers = new WeakMap<object, LineBuffer>();

export async function makeLogger(level: string): Promise<PinoLogger> {
  // The default export is pino itself, both for Node's CommonJS interop and in the bundle.
  const { default: pino } = await import('pino');
  const out = new LineBuffer();
  process.on('exit', () => out.flushSync());
  const logger = pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    out,
  );
  buffers.set(logger, out);
  return logger;
}

/**
 * Flushes the logger and returns, once, the error that stopped its lines reaching stdout (a
 * reader that went away is not one). The caller reports it: see lostLog.
 */
export function takeLogFailure(logger: PinoLogger): Error | undefined {
  const out = buffers.get(logger);
  if (!out) return undefined;
  out.flushSync();
  const failure = out.failure;
  out.failure = undefined;
  return failure;
}

/**
 * When the log could not be written (a full disk), one line on stderr saying what was lost and
 * what did happen (`outcome`: the tick committed…), and exit 74 (EX_IOERR); else `exitCode`.
 */
export function lostLog(logger: PinoLogger, exitCode: number, outcome?: string): number {
  const failure = takeLogFailure(logger);
  if (failure === undefined) return exitCode;
  process.stderr.write(`package-scheduler: cannot write the log to stdout: ${failure.message}${outcome ? `; ${outcome}` : ''}\n`);
  return exitCode === ExitCode.ok ? ExitCode.ioError : exitCode;
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
