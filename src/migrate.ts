// `package-scheduler migrate`: adds the scheduling columns and indexes, idempotently.
import { ConfigError, errorCode } from './errors.js';
import type { Queryable } from './db.js';
import { quoteQualified, type QualifiedName } from './identifiers.js';
import type { Logger } from './logger.js';
import { indexState } from './index-state.js';
import { displayName } from './sql/fragments.js';
import { historyDdl } from './sql/history-sql.js';
import { migrationStatements } from './sql/migration-sql.js';
import { locateTable, resolvePackagesTable, type HistorySetting } from './table.js';

export interface MigrateOptions {
  table: QualifiedName;
  /** How long ALTER TABLE may queue for its brief exclusive lock before giving up (75). */
  lockTimeoutMs: number;
  /** Create the run-history tables (default: yes, in the packages table's schema). */
  history?: HistorySetting;
}

export interface MigrateResult {
  table: string;
  addedColumns: string[];
  createdIndexes: string[];
  /** Indexes left INVALID by an interrupted build, dropped and built again. */
  rebuiltIndexes: string[];
  /** Schema of the history tables, when migrate made sure they exist. */
  historySchema?: string;
}

const SCHEDULING_COLUMNS = ['scheduled', 'auto_activate', 'auto_deactivate', 'schedule_date', 'schedule_time'];

/**
 * Runs on a connection outside any transaction: CREATE INDEX CONCURRENTLY refuses to run
 * inside one, and it is what keeps a live CRM table writable while the index builds.
 */
export async function migrate(client: Queryable, options: MigrateOptions, logger: Logger): Promise<MigrateResult> {
  const located = await locateTable(client, options.table);
  const target = { schema: located.schema, name: located.name };
  const display = displayName(located);
  const statements = migrationStatements(target);
  const result: MigrateResult = { table: display, addedColumns: [], createdIndexes: [], rebuiltIndexes: [] };

  await client.query(`SELECT set_config('lock_timeout', $1::text, false)`, [`${options.lockTimeoutMs}ms`]);
  await ownerStep(display, () => client.query(statements.addColumns));
  result.addedColumns = SCHEDULING_COLUMNS.filter((c) => located.columns[c] === undefined);
  for (const column of result.addedColumns) {
    logger.info({ event: 'migrate.column_added', table: display, column }, 'column added');
  }

  for (const index of statements.indexes) {
    const state = await indexState(client, located.schema, index.name);
    if (state === 'valid') continue;
    if (state === 'invalid') {
      await ownerStep(display, () =>
        client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified({ schema: located.schema, name: index.name })}`),
      );
      result.rebuiltIndexes.push(index.name);
    }
    await ownerStep(display, () => client.query(index.sql));
    result.createdIndexes.push(index.name);
    logger.info({ event: 'migrate.index_created', table: display, index: index.name }, 'index created');
  }

  if (options.history !== false) {
    const schema = options.history?.schema ?? located.schema;
    await ownerStep(display, () => client.query(historyDdl(schema)));
    result.historySchema = schema;
  }

  // The columns migrate does not own (is_active, valid_until) and existing columns of the
  // wrong type are reported the same way a tick would report them.
  await resolvePackagesTable(client, target);
  logger.info({ event: 'migrate.completed', ...result }, 'migration complete');
  return result;
}

async function ownerStep<T>(table: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (errorCode(error) === '42501') {
      throw new ConfigError(
        `migrate must run as the owner of ${table} (ALTER TABLE and CREATE INDEX need ownership) with CREATE on the history schema; the tick itself needs only SELECT and UPDATE`,
        { cause: error },
      );
    }
    throw error;
  }
}
