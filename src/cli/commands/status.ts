// `status`: the report on stdout; with --max-age, also a liveness probe (exit 1 when stale).
import { withConnection } from '../../db/resources.js';
import { ConfigError, ExitCode } from '../../errors.js';
import { status as readStatus } from '../../status/status.js';
import { formatStatus } from '../../status/report.js';
import { statusOptions } from '../options.js';
import { print, type CommandHandler } from './context.js';

/** `status --max-age`: the last successful tick is older than allowed (or never happened). */
export const EXIT_STALE = 1;

export const status: CommandHandler = async (config, context) => {
  if (config.tables) return (await import('../tenants/commands.js')).statusMany(config, context);
  const report = await withConnection(config.connection, (client) => readStatus(client, statusOptions(config)));
  print(context, config.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  const maxAge = config.maxAgeSeconds;
  if (maxAge === undefined) return ExitCode.ok;
  if (!report.historyEnabled) {
    throw new ConfigError('--max-age needs the history tables: run "package-scheduler migrate"');
  }
  const age = report.lastRun?.lastSuccessAgeSeconds;
  if (age === null || age === undefined || age > maxAge) {
    process.stderr.write(
      `package-scheduler: stale: ${age == null ? 'no successful tick recorded' : `last successful tick ${age}s ago`} (--max-age ${maxAge})\n`,
    );
    return EXIT_STALE;
  }
  return ExitCode.ok;
};
