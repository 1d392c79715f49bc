import type { Config } from '../../config/config.js';
import { IoError } from '../../errors.js';
import { writeFully, type PinoLogger } from '../log.js';

/** What every command gets besides its Config. */
export interface CommandContext {
  logger: PinoLogger;
  version: string;
}

/** A command: returns the exit code; throws to have the failure reported and mapped. */
export type CommandHandler = (config: Config, context: CommandContext) => Promise<number>;

/** Writes a report to stdout after any log line still buffered, so the two keep their order. */
export function print(context: CommandContext, text: string): void {
  context.logger.flush();
  writeReport(text);
}

/**
 * Synchronously, so that a failed write is an error here rather than an unhandled 'error' event
 * later. A reader that stops early (`history | head -1`) is not a failure: the rest of the report
 * is dropped and the command ends as it would have (exit 0), as `git log | head` does its job.
 */
export function writeReport(text: string): void {
  try {
    writeFully(1, Buffer.from(text));
  } catch (error) {
    throw new IoError('cannot write the report to stdout', { cause: error });
  }
}
