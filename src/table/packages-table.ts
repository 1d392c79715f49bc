// Resolves the packages table once per run and checks that its columns have the types the
// rules need, before any change is made.
import { ConfigError, errorCode } from '../errors.js';
import type { Queryable } from '../db/resources.js';
import { quoteIdent, quoteQualified, type ColumnRef, type QualifiedName } from './identifiers.js';
import { resolveZoneColumn, type ZoneSource } from './zone-column.js';
import { displayName } from '../db/sql-fragments.js';
import { EVENTS_TABLE, STATE_TABLE, historyTables, type HistoryTables } from '../history/tables.js';
import { citusTopology, type CitusTopology } from '../citus/topology.js';
export { historyTables, type HistoryTables } from '../history/tables.js';

export type ValidUntilType = 'date' | 'timestamp' | 'timestamptz';

export interface PackagesTable {
  schema: string;
  name: string;
  /** `"schema"."name"`, safe to place in SQL. */
  quoted: string;
  /**
   * The quoted columns that identify a row, in the key's order: the primary key (all its
   * columns), or else a unique index over NOT NULL columns. See packageIdSql for the text form.
   */
  key: string[];
  /** The same columns, unquoted (for reports: a composite key's packageId lists values in this order). */
  keyNames: string[];
  /** Quoted `name` column when the table has one. */
  nameColumn?: string;
  validUntilType: ValidUntilType;
  hasUpdatedAt: boolean;
  /** Where run history lives, when its tables exist (see sql/history.ts). */
  history?: HistoryTables;
  /** Each row's own zone (--timezone-column), when set. */
  zone?: ZoneSource;
  /** Where the citus extension is installed: what Citus does with the table (citus/topology.ts). */
  citus?: CitusTopology;
  /** On Citus, with zones from another table: what Citus does with that table. */
  citusZoneTable?: CitusTopology;
}

/** Run history: off, or where its tables live (default: the packages table's schema) and how long events are kept. */
export type HistorySetting = false | { schema?: string; retentionDays?: number };


const FIX_MIGRATE = 'run "package-scheduler migrate" to add it';

interface ColumnRule {
  column: string;
  expected: string[];
  /** How to fix a missing column. */
  fix: string;
}

const REQUIRED: ColumnRule[] = [
  { column: 'is_active', expected: ['boolean'], fix: 'add it: ALTER TABLE … ADD COLUMN is_active boolean NOT NULL DEFAULT false' },
  { column: 'scheduled', expected: ['boolean'], fix: FIX_MIGRATE },
  { column: 'auto_activate', expected: ['boolean'], fix: FIX_MIGRATE },
  { column: 'auto_deactivate', expected: ['boolean'], fix: FIX_MIGRATE },
  { column: 'schedule_date', expected: ['date'], fix: FIX_MIGRATE },
  { column: 'schedule_time', expected: ['time without time zone'], fix: FIX_MIGRATE },
  {
    column: 'valid_until',
    expected: ['date', 'timestamp without time zone', 'timestamp with time zone'],
    fix: 'add it: ALTER TABLE … ADD COLUMN valid_until date',
  },
];
const UPDATED_AT_TYPES = ['timestamp without time zone', 'timestamp with time zone'];

interface CatalogRow {
  schema: string;
  name: string;
  relkind: string;
  columns: Record<string, string>;
  keys: string[][];
  history_schema: string;
  has_history: boolean;
  citus: boolean;
}

// One round trip: the relation, its column types and its primary key.
const RESOLVE_SQL = `
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS relkind,
       (SELECT coalesce(json_object_agg(a.attname, format_type(a.atttypid, NULL)), '{}'::json)
          FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       -- The keys a row can be identified by, the best first: the primary key, else unique
       -- indexes usable as one (valid, immediate, no predicate or expression, NOT NULL columns),
       -- an index on "id" alone first, then the fewest columns. Each key's columns in index order.
       (SELECT coalesce(json_agg(k.columns ORDER BY i.indisprimary DESC, k.columns = ARRAY['id'] DESC,
                                 i.indnkeyatts, i.indexrelid::regclass::text), '[]'::json)
          FROM pg_index i
          CROSS JOIN LATERAL (SELECT array_agg(a.attname::text ORDER BY u.n) AS columns, bool_and(a.attnotnull) AS not_null
                                FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS u(attnum, n)
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum) AS k
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
           AND (i.indisprimary OR (i.indisvalid AND k.not_null))) AS keys,
       h.schema AS history_schema,
       to_regclass(format('%I.%I', h.schema, $3::text)) IS NOT NULL
         AND to_regclass(format('%I.%I', h.schema, $4::text)) IS NOT NULL AS has_history,
       -- Citus: only then does the tick read its catalog (one more statement, citus/topology.ts).
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (SELECT coalesce($2::text, n.nspname::text) AS schema) AS h
 WHERE c.oid = to_regclass($1::text)`;

/** What the catalog says about a table, before resolvePackagesTable checks it is usable. */
export interface LocatedTable {
  schema: string;
  name: string;
  /** 'r' a plain table, 'p' a partitioned one. */
  relkind: 'r' | 'p';
  /** Column name to type, as format_type() spells it. */
  columns: Record<string, string>;
  /** The columns of the keys that identify a row, the best first (see RESOLVE_SQL); empty: none. */
  keys: string[][];
  /** The schema history tables belong in, and whether they exist there. */
  historySchema: string;
  hasHistory: boolean;
  /** Whether the citus extension is installed in the database. */
  citus: boolean;
}

/** Finds the table the way PostgreSQL would (search_path, quoting); ConfigError when absent. */
export async function locateTable(client: Queryable, table: QualifiedName, historySchema?: string): Promise<LocatedTable> {
  const display = table.schema === undefined ? table.name : displayName({ schema: table.schema, name: table.name });
  let rows: CatalogRow[];
  try {
    ({ rows } = await client.query<CatalogRow>(RESOLVE_SQL, [quoteQualified(table), historySchema ?? null, STATE_TABLE, EVENTS_TABLE]));
  } catch (error) {
    // to_regclass raises for names it cannot even parse (cross-database references).
    const code = errorCode(error);
    if (code === '42601' || code === '0A000' || code === '3F000') {
      throw new ConfigError(`invalid table name "${display}"`, { cause: error });
    }
    throw error;
  }
  const row = rows[0];
  if (!row) {
    throw new ConfigError(
      `table "${display}" does not exist (or is not visible on the search_path); set --table / SCHEDULER_TABLE`,
    );
  }
  if (row.relkind !== 'r' && row.relkind !== 'p') {
    throw new ConfigError(`"${display}" is not a table`);
  }
  return {
    schema: row.schema,
    name: row.name,
    relkind: row.relkind as 'r' | 'p',
    columns: row.columns,
    keys: row.keys,
    historySchema: row.history_schema,
    hasHistory: row.has_history,
    citus: row.citus,
  };
}

export interface ResolveOptions {
  /** Look for history tables (in `historySchema`, default: the packages table's schema). */
  history?: boolean;
  historySchema?: string;
  /** Where each row's own zone is (--timezone-column). */
  timezoneColumn?: ColumnRef;
}

export async function resolvePackagesTable(
  client: Queryable,
  table: QualifiedName,
  options: ResolveOptions = {},
): Promise<PackagesTable> {
  const row = await locateTable(client, table, options.historySchema);
  const qualifiedName = displayName(row);
  const problems: string[] = [];
  for (const rule of REQUIRED) {
    const found = row.columns[rule.column];
    if (found === undefined) {
      problems.push(`column ${qualifiedName}.${rule.column} is missing (expected ${rule.expected.join(' or ')}); fix: ${rule.fix}`);
    } else if (!rule.expected.includes(found)) {
      problems.push(
        `column ${qualifiedName}.${rule.column} has type ${found}, expected ${rule.expected.join(' or ')}; ` +
          `fix: ALTER TABLE ${qualifiedName} ALTER COLUMN ${rule.column} TYPE ${rule.expected[0]} ` +
          `(package-scheduler migrate adds missing columns but never changes a type)`,
      );
    }
  }
  const updatedAt = row.columns['updated_at'];
  const hasUpdatedAt = updatedAt !== undefined && UPDATED_AT_TYPES.includes(updatedAt);
  // A column that is not unique (an "id" beside a composite key) would let one row's change
  // reach another's: only a real key identifies a package.
  const key = row.keys[0];
  if (key === undefined) {
    problems.push(
      `table ${qualifiedName} has no primary key and no unique index over NOT NULL columns (without WHERE or expressions) ` +
        `to identify packages by; fix: ALTER TABLE ${qualifiedName} ADD PRIMARY KEY (id)`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  const zone = options.timezoneColumn ? await resolveZoneColumn(client, row, options.timezoneColumn) : undefined;
  const quoted = quoteQualified({ schema: row.schema, name: row.name });
  const citus = row.citus ? await citusTopology(client, quoted) : undefined;
  // Where the zones come from another table on Citus: what Citus does with that one (citusProblem).
  const zoneTable = citus && zone?.table ? await citusTopology(client, zone.table) : undefined;

  return {
    schema: row.schema,
    name: row.name,
    quoted,
    key: key!.map(quoteIdent),
    keyNames: key!,
    nameColumn: row.columns['name'] !== undefined ? quoteIdent('name') : undefined,
    validUntilType: validUntilTypeOf(row.columns['valid_until']!),
    hasUpdatedAt,
    history: options.history && row.hasHistory ? historyTables(row.historySchema) : undefined,
    ...(zone ? { zone } : {}),
    ...(citus ? { citus } : {}),
    ...(zoneTable ? { citusZoneTable: zoneTable } : {}),
  };
}


function validUntilTypeOf(type: string): ValidUntilType {
  if (type === 'date') return 'date';
  if (type === 'timestamp without time zone') return 'timestamp';
  return 'timestamptz';
}
