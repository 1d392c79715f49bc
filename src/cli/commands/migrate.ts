// `migrate` (and `migrate --print`, which needs no database).
import { withConnection } from '../../db/resources.js';
import { ExitCode } from '../../errors.js';
import { migrate as applyMigration } from '../../migrate/migrate.js';
import { migrationSql } from '../../migrate/migration-sql.js';
import { wakeTriggerSql } from '../../migrate/wake-trigger.js';
import { historySettings, tableSetting, type Env, type Flags } from '../../config/config.js';
import { migrateOptions } from '../options.js';
import { writeReport, type CommandHandler } from './context.js';

export const migrate: CommandHandler = async (config, context) => {
  if (config.tables) return (await import('../tenants/commands.js')).migrateMany(config, context);
  const { logger } = context;
  await withConnection(config.connection, (client) => applyMigration(client, migrateOptions(config), logger));
  return ExitCode.ok;
};

/** Only the table and history settings, validated as for a run; no connection settings needed. */
export async function printMigration(flags: Flags, env: Env): Promise<number> {
  const table = tableSetting(flags, env);
  const history = historySettings(flags, env);
  writeReport(migrationSql(table, history === false ? null : (history.schema ?? table.schema)));
  if (flags.wakeTrigger) writeReport(`\nBEGIN;\n${wakeTriggerSql(table)}COMMIT;\n`);
  return ExitCode.ok;
}
