// `run`: one tick on its own connection (or a loop of them with --every; see loop.ts).
import { randomUUID } from 'node:crypto';
import { withConnection } from '../../db.js';
import { ExitCode } from '../../errors.js';
import { runTick } from '../../tick.js';
import type { Config } from '../../config.js';
import { TickError } from '../failure.js';
import { tickOptions } from '../options.js';
import type { CommandContext, CommandHandler } from './context.js';

// A new connection per tick, also in --every mode: see docs/design.md ("Connections").
export async function tickOnce(config: Config, context: CommandContext): Promise<void> {
  const runId = randomUUID();
  try {
    await withConnection(config.connection, (client) => runTick(client, tickOptions(config, context.version, runId), context.logger));
  } catch (error) {
    throw new TickError(runId, error);
  }
}

export const run: CommandHandler = async (config, context) => {
  if (config.everySeconds !== undefined) {
    const { loop } = await import('./loop.js');
    return loop(config, context);
  }
  await tickOnce(config, context);
  return ExitCode.ok;
};
