// `package-scheduler migrate`: adds the scheduling columns and indexes, idempotently.
import { ConfigError, errorCode } from '../errors.js';
import { explainReadOnly, withSessionLimits, withTransaction, type Queryable } from '../db/resources.js';
import { quoteQualified, type QualifiedName } from '../table/identifiers.js';
import type { Logger } from '../logger.js';
import { displayName } from '../db/sql-fragments.js';
import { historyDdlStatements } from '../history/history-sql.js';
import { addColumnsSql } from './migration-sql.js';
import { ensureIndexes } from './indexes.js';
import { wakeTriggerSql } from './wake-trigger.js';
import { locateTable, resolvePackagesTable, type HistorySetting, type LocatedTable } from '../table/packages-table.js';
import { citusTopology } from '../citus/topology.js';

export interface MigrateOptions {
  table: QualifiedName;
  /** How long ALTER TABLE may queue for its brief exclusive lock before giving up (75). */
  lockTimeoutMs: number;
  /** Limit of each catalog read and ALTER (default 30 s); index builds have none: they take as long as the table needs. */
  statementTimeoutMs?: number;
  /** Create the run-history tables (default: yes, in the packages table's schema). */
  history?: HistorySetting;
  /** Install the wake trigger for `run --watch` (wake-trigger.ts). */
  wakeTrigger?: boolean;
}

export interface MigrateResult {
  table: string;
  addedColumns: string[];
  createdIndexes: string[];
  /** Indexes left INVALID by an interrupted build, dropped and built again. */
  rebuiltIndexes: string[];
  /** Schema of the history tables, when migrate made sure they exist. */
  historySchema?: string;
  /** The wake trigger was installed (or replaced). */
  wakeTrigger?: boolean;
}

const SCHEDULING_COLUMNS = ['scheduled', 'auto_activate', 'auto_deactivate', 'schedule_date', 'schedule_time'];

/**
 * Runs on a connection outside any transaction: CREATE INDEX CONCURRENTLY refuses to run
 * inside one, and it is what keeps a live CRM table writable while the index builds. Every
 * other step is a transaction of its own with SET LOCAL limits; the session lock_timeout the
 * index builds need is reset afterwards, so no setting outlives the command (PgBouncer).
 */
export async function migrate(client: Queryable, options: MigrateOptions, logger: Logger): Promise<MigrateResult> {
  const located = await inTransaction(client, options, () => locateTable(client, options.table));
  // On a Citus worker, DDL on a distributed table fails ("operation is not allowed on this node"):
  // say what to do instead, as run does.
  if (located.citus) {
    const quoted = quoteQualified({ schema: located.schema, name: located.name });
    const topology = await inTransaction(client, options, () => citusTopology(client, quoted));
    if (!topology.coordinator) throw new ConfigError('connected to a Citus worker node: connect to the coordinator to migrate (Citus runs DDL from there)');
  }
  try {
    return await migrateSteps(client, located, options, logger);
  } catch (error) {
    throw ownerError(await explainReadOnly(client, error), displayName(located));
  }
}

async function migrateSteps(client: Queryable, located: LocatedTable, options: MigrateOptions, logger: Logger): Promise<MigrateResult> {
  const target = { schema: located.schema, name: located.name };
  const display = displayName(located);
  const ddl = (sql: string) => inTransaction(client, options, () => client.query(sql));
  const result: MigrateResult = { table: display, addedColumns: [], createdIndexes: [], rebuiltIndexes: [] };

  await ddl(addColumnsSql(target));
  result.addedColumns = SCHEDULING_COLUMNS.filter((c) => located.columns[c] === undefined);
  for (const column of result.addedColumns) {
    logger.info({ event: 'migrate.column_added', table: display, column }, 'column added');
  }

  const built = await withSessionLimits(client, { lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: 0 }, () =>
    ensureIndexes(client, target, located.relkind === 'p', ddl),
  );
  result.createdIndexes = built.created;
  result.rebuiltIndexes = built.rebuilt;
  for (const index of built.created) logger.info({ event: 'migrate.index_created', table: display, index }, 'index created');

  if (options.history !== false) {
    const schema = options.history?.schema ?? located.schema;
    await inTransaction(client, options, async () => {
      for (const statement of historyDdlStatements(schema)) await client.query(statement);
    });
    result.historySchema = schema;
  }

  if (options.wakeTrigger) {
    // On a partitioned table the row trigger is cloned onto each partition, where it would name
    // the partition's channel, and an INSERT into a partition skips the parent's statement
    // trigger: the watcher would be deaf while check says it is not. Refused until that is done.
    if (located.relkind === 'p') {
      throw new ConfigError(`${display} is partitioned: the wake trigger does not support partitioned tables yet; run --watch without it (edits are seen within --max-sleep)`);
    }
    await ddl(wakeTriggerSql(target));
    result.wakeTrigger = true;
  }

  // The columns migrate does not own (is_active, valid_until) and existing columns of the
  // wrong type are reported the same way a tick would report them.
  await inTransaction(client, options, () => resolvePackagesTable(client, target));
  logger.info({ event: 'migrate.completed', ...result }, 'migration complete');
  return result;
}

function inTransaction<T>(client: Queryable, options: MigrateOptions, fn: () => Promise<T>): Promise<T> {
  return withTransaction(client, { lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs ?? 30_000 }, fn);
}

function ownerError(error: unknown, table: string): unknown {
  if (errorCode(error) !== '42501') return error;
  return new ConfigError(
    `migrate must run as the owner of ${table} (ALTER TABLE and CREATE INDEX need ownership) with CREATE on the history schema; the tick itself needs only SELECT and UPDATE`,
    { cause: error },
  );
}
