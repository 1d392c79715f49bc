import type { Config } from '../../config/config.js';
import type { PinoLogger } from '../log.js';

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
  process.stdout.write(text);
}
