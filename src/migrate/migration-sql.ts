// The schema change `package-scheduler migrate` applies, and `sql/add_package_scheduling.sql`
// ships for DBAs (a test keeps the file identical to migrationSql() for the default table).
import { createHash } from 'node:crypto';
import { clipIdentifier, MAX_IDENTIFIER_BYTES, quoteIdent, quoteQualified, type QualifiedName } from '../table/identifiers.js';
import { historyDdl } from '../history/history-sql.js';

/** The two partial indexes a tick needs: which rows, in which order. */
export interface IndexSpec {
  suffix: string;
  columns: string;
  where: string;
  /** The key columns, in order: with `predicates`, how an existing index is recognised. */
  keys: readonly string[];
  /** `where` as pg_get_expr prints it back, its terms in either order. */
  predicates: readonly string[];
}

export const INDEXES: readonly IndexSpec[] = [
  {
    suffix: '_due_activation_idx',
    columns: '(schedule_date, schedule_time)',
    where: 'scheduled AND auto_activate',
    keys: ['schedule_date', 'schedule_time'],
    predicates: ['(scheduled AND auto_activate)', '(auto_activate AND scheduled)'],
  },
  {
    suffix: '_due_deactivation_idx',
    columns: '(valid_until)',
    where: 'is_active AND auto_deactivate',
    keys: ['valid_until'],
    predicates: ['(is_active AND auto_deactivate)', '(auto_deactivate AND is_active)'],
  },
];

/**
 * `<table><suffix>` when it fits in 63 bytes (existing installs keep their index names).
 * Longer, PostgreSQL would cut it, and from ~59 bytes of table name both indexes would be
 * cut to the same name: the table name is clipped instead and a hash of the whole name keeps
 * the result distinct per table, e.g. `<first 35 bytes>_1a2b3c4d_due_activation_idx`.
 */
export function indexName(table: Pick<QualifiedName, 'name'>, spec: IndexSpec): string {
  const plain = `${table.name}${spec.suffix}`;
  if (Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = createHash('sha256').update(table.name).digest('hex').slice(0, 8);
  const room = MAX_IDENTIFIER_BYTES - Buffer.byteLength(spec.suffix) - hash.length - 1;
  return `${clipIdentifier(table.name, room)}_${hash}${spec.suffix}`;
}

/** The name PostgreSQL gave `<table><suffix>` before names were derived (cut to 63 bytes). */
export function truncatedIndexName(table: Pick<QualifiedName, 'name'>, spec: IndexSpec): string {
  return clipIdentifier(`${table.name}${spec.suffix}`, MAX_IDENTIFIER_BYTES);
}

/**
 * CONCURRENTLY for a plain table or a partition (no long lock, no transaction); ON ONLY for a
 * partitioned table, whose index is created invalid and becomes valid once every partition's
 * index is attached (PostgreSQL cannot build a partitioned index concurrently).
 */
export function createIndexSql(table: QualifiedName, spec: IndexSpec, how: 'concurrently' | 'only'): string {
  const name = quoteIdent(indexName(table, spec));
  return how === 'concurrently'
    ? `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name}\n  ON ${quoteQualified(table)} ${spec.columns}\n  WHERE ${spec.where};`
    : `CREATE INDEX IF NOT EXISTS ${name}\n  ON ONLY ${quoteQualified(table)} ${spec.columns}\n  WHERE ${spec.where};`;
}

export function attachIndexSql(parentIndex: QualifiedName, childIndex: QualifiedName): string {
  return `ALTER INDEX ${quoteQualified(parentIndex)} ATTACH PARTITION ${quoteQualified(childIndex)};`;
}

export function addColumnsSql(table: QualifiedName): string {
  return `ALTER TABLE ${quoteQualified(table)}
  ADD COLUMN IF NOT EXISTS scheduled boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_activate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_deactivate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS schedule_date date,
  ADD COLUMN IF NOT EXISTS schedule_time time;`;
}

/** The whole migration as one script; `historySchema: null` leaves the history tables out. */
export function migrationSql(table: QualifiedName, historySchema: string | null | undefined = table.schema): string {
  return `-- package-scheduler: scheduling columns and the partial indexes that keep a tick cheap.
-- Idempotent. Run it outside a transaction (psql without --single-transaction):
-- CREATE INDEX CONCURRENTLY builds without blocking the CRM's writes.
-- Adding a column with a constant default only changes the catalog (PostgreSQL 11+).
-- If an index build was interrupted, PostgreSQL leaves it INVALID and IF NOT EXISTS will
-- not rebuild it: DROP INDEX CONCURRENTLY it and run this again (package-scheduler migrate does).
-- A partitioned table (PARTITION BY …) cannot take CREATE INDEX CONCURRENTLY. For one,
-- package-scheduler migrate builds each index the way PostgreSQL documents instead:
--   CREATE INDEX IF NOT EXISTS <index> ON ONLY <table> (…) WHERE …;   -- invalid for now
--   -- for each partition: CREATE INDEX CONCURRENTLY IF NOT EXISTS <partition>_due_…_idx
--   --                     ON <partition> (…) WHERE …;
--   ALTER INDEX <index> ATTACH PARTITION <partition>_due_…_idx;
-- and the parent index becomes valid once every partition's index is attached.

${addColumnsSql(table)}

-- Serves activation (rule 1): rows with scheduled AND auto_activate, by due date.
${createIndexSql(table, INDEXES[0]!, 'concurrently')}

-- Serves deactivation (rule 3): active rows with auto_deactivate, by valid_until.
${createIndexSql(table, INDEXES[1]!, 'concurrently')}
${historySchema === null ? '' : `
-- Run history for "package-scheduler status" and "history" (leave out with migrate --no-history).
${historyDdl(historySchema)}
`}`;
}
