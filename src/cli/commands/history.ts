// `history`: recorded changes on stdout, as text or JSON.
import { withConnection } from '../../db/resources.js';
import { ExitCode } from '../../errors.js';
import { readHistory } from '../../history/history.js';
import { formatHistory } from '../../status/report.js';
import { historyQuery } from '../options.js';
import { print, type CommandHandler } from './context.js';

export const history: CommandHandler = async (config, context) => {
  const events = await withConnection(config.connection, (client) => readHistory(client, historyQuery(config)));
  print(context, config.json ? `${JSON.stringify(events, null, 2)}\n` : formatHistory(events));
  return ExitCode.ok;
};
