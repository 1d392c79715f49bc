// Runs the built binary as cron would: a separate process, its own environment, exit code.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseJsonLines, type LogLine } from './logs.ts';

export const BIN = fileURLToPath(new URL('../../bin/package-scheduler.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as JSON log lines; throws when stdout is not JSON lines (read `stdout` for human output). */
  readonly lines: LogLine[];
  events(name: string): LogLine[];
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Called once the process has started, e.g. to signal it. */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  // Only what the test gives: nothing leaks in from the developer's own DATABASE_URL or PG*.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC' };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd: options.cwd ?? '/tmp', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Decoded as a stream: a 64 KB write can end inside a multi-byte character.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Parsed on first use and never guessed: an "expect no events" on output that is not
      // JSON lines fails instead of passing on an empty list.
      let parsed: LogLine[] | undefined;
      const lines = () => (parsed ??= parseJsonLines(stdout));
      resolve({
        code,
        signal,
        stdout,
        stderr,
        get lines() {
          return lines();
        },
        events: (name) => lines().filter((l) => l.event === name),
      });
    });
    options.onSpawn?.(child);
  });
}
