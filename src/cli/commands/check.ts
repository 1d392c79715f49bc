// `check`: the report on stdout, as text or JSON.
import { check as checkTable } from '../../check.js';
import { formatCheckReport } from '../../check-report.js';
import { withConnection } from '../../db.js';
import { ExitCode } from '../../errors.js';
import { checkOptions } from '../options.js';
import type { CommandHandler } from './context.js';

export const check: CommandHandler = async (config) => {
  const report = await withConnection(config.connection, (client) => checkTable(client, checkOptions(config)));
  process.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
  return ExitCode.ok;
};
