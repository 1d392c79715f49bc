// `check`: the report on stdout, as text or JSON.
import { check as checkTable } from '../../check/check.js';
import { formatCheckReport } from '../../check/report.js';
import { withConnection } from '../../db/resources.js';
import { ExitCode } from '../../errors.js';
import { checkOptions } from '../options.js';
import { print, type CommandHandler } from './context.js';

export const check: CommandHandler = async (config, context) => {
  if (config.tables) return (await import('../tenants/commands.js')).checkMany(config, context);
  const report = await withConnection(config.connection, (client) => checkTable(client, checkOptions(config)));
  print(context, config.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
  return ExitCode.ok;
};
