// A logger that records what the core logs, for assertions (the core's narrow interface).
import type { Logger } from '../../src/logger.ts';

export interface LogLine {
  level: 'debug' | 'info' | 'warn';
  event?: string;
  [field: string]: unknown;
}

export function recordingLogger(): Logger & { lines: LogLine[]; events(name: string): LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: LogLine['level']) => (fields: Record<string, unknown>) => {
    lines.push({ level, ...fields });
  };
  return {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    events: (name) => lines.filter((l) => l.event === name),
  };
}

/** Parses a process's stdout as JSON lines; fails loudly on any line that is not JSON. */
export function parseJsonLines(stdout: string): LogLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}
