// The schema change `package-scheduler migrate` applies, and `sql/add_package_scheduling.sql`
// ships for DBAs (a test keeps the file identical to migrationSql() for the default table).
import { quoteIdent, quoteQualified, type QualifiedName } from '../identifiers.js';
import { historyDdl } from './history-sql.js';

export function activationIndexName(table: QualifiedName): string {
  return `${table.name}_due_activation_idx`;
}
export function deactivationIndexName(table: QualifiedName): string {
  return `${table.name}_due_deactivation_idx`;
}

export interface MigrationStatements {
  addColumns: string;
  /** CREATE INDEX CONCURRENTLY cannot run in a transaction: one statement each. */
  indexes: { name: string; sql: string }[];
}

export function migrationStatements(table: QualifiedName): MigrationStatements {
  const qualified = quoteQualified(table);
  return {
    addColumns: `ALTER TABLE ${qualified}
  ADD COLUMN IF NOT EXISTS scheduled boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_activate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_deactivate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS schedule_date date,
  ADD COLUMN IF NOT EXISTS schedule_time time;`,
    indexes: [
      {
        name: activationIndexName(table),
        sql: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(activationIndexName(table))}
  ON ${qualified} (schedule_date, schedule_time)
  WHERE scheduled AND auto_activate;`,
      },
      {
        name: deactivationIndexName(table),
        sql: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(deactivationIndexName(table))}
  ON ${qualified} (valid_until)
  WHERE is_active AND auto_deactivate;`,
      },
    ],
  };
}

/** The whole migration as one script; `historySchema: null` leaves the history tables out. */
export function migrationSql(table: QualifiedName, historySchema: string | null | undefined = table.schema): string {
  const m = migrationStatements(table);
  return `-- package-scheduler: scheduling columns and the partial indexes that keep a tick cheap.
-- Idempotent. Run it outside a transaction (psql without --single-transaction):
-- CREATE INDEX CONCURRENTLY builds without blocking the CRM's writes.
-- Adding a column with a constant default only changes the catalog (PostgreSQL 11+).
-- If an index build was interrupted, PostgreSQL leaves it INVALID and IF NOT EXISTS will
-- not rebuild it: DROP INDEX CONCURRENTLY it and run this again (package-scheduler migrate does).

${m.addColumns}

-- Serves activation (rule 1): rows with scheduled AND auto_activate, by due date.
${m.indexes[0]!.sql}

-- Serves deactivation (rule 3): active rows with auto_deactivate, by valid_until.
${m.indexes[1]!.sql}
${historySchema === null ? '' : `
-- Run history for "package-scheduler status" and "history" (leave out with migrate --no-history).
${historyDdl(historySchema)}
`}`;
}
