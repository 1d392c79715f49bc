// --timezone-column: where each package's own IANA zone is. Either a text column of the
// packages table, or a text column of another table the packages table references through
// exactly one single-column foreign key (salons.time_zone via special_packages.salon_id).
// Resolved from the catalog once per run; every problem is a ConfigError (78).
import { ConfigError } from '../errors.js';
import { query, type Queryable } from '../db/resources.js';
import { quoteIdent, quoteQualified, type ColumnRef } from './identifiers.js';
import { displayName } from '../db/sql-fragments.js';
import { Params } from '../db/params.js';

/** How the tick's SQL reaches a row's zone; NULL where the row (or its referenced row) has none. */
export interface ZoneSource {
  /** A SQL expression over the packages table `p` (and `z`, the joined table). */
  expression: string;
  /** `LEFT JOIN … AS z ON …`, or '' for a column of the packages table. */
  join: string;
  /** For messages and reports: `special_packages.time_zone` or `salons.time_zone`. */
  description: string;
  /** The joined table, quoted (`table.column` references only). */
  table?: string;
}

const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name']);
const FLAG = '--timezone-column / SCHEDULER_TIMEZONE_COLUMN';

export async function resolveZoneColumn(
  client: Queryable,
  packages: { schema: string; name: string; columns: Record<string, string> },
  ref: ColumnRef,
): Promise<ZoneSource> {
  const packagesName = displayName(packages);
  if (ref.table === undefined) {
    checkType(packages.columns[ref.column], `${packagesName}.${ref.column}`);
    return { expression: `p.${quoteIdent(ref.column)}`, join: '', description: `${packagesName}.${ref.column}` };
  }
  const params = new Params();
  const { rows } = await query<TargetRow>(
    client,
    params.statement(`
SELECT n.nspname AS schema, c.relname AS name,
       (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attname = ${params.add(ref.column, 'text')} AND a.attnum > 0 AND NOT a.attisdropped) AS column_type,
       (SELECT coalesce(json_agg(json_build_object('name', k.conname, 'from', fa.attname, 'to', ta.attname) ORDER BY k.conname), '[]')
          FROM pg_constraint k
          JOIN pg_attribute fa ON fa.attrelid = k.conrelid AND fa.attnum = k.conkey[1]
          JOIN pg_attribute ta ON ta.attrelid = k.confrelid AND ta.attnum = k.confkey[1]
         WHERE k.contype = 'f' AND k.conrelid = to_regclass(${params.add(quoteQualified(packages), 'text')})
           AND k.confrelid = c.oid AND cardinality(k.conkey) = 1) AS foreign_keys
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = to_regclass(${params.add(quoteQualified(ref.table), 'text')})`),
  );
  const target = rows[0];
  const given = ref.table.schema === undefined ? ref.table.name : `${ref.table.schema}.${ref.table.name}`;
  if (!target) throw new ConfigError(`${FLAG}: table "${given}" does not exist (or is not on the search_path)`);
  const targetName = displayName(target);
  checkType(target.column_type ?? undefined, `${targetName}.${ref.column}`);
  const keys = target.foreign_keys;
  if (keys.length === 0) {
    throw new ConfigError(
      `${FLAG}: ${packagesName} has no single-column foreign key to ${targetName}, so its rows cannot be matched to a zone; ` +
        `add one (ALTER TABLE ${packagesName} ADD FOREIGN KEY (<column>) REFERENCES ${targetName}) or name a zone column of ${packagesName}`,
    );
  }
  if (keys.length > 1) {
    throw new ConfigError(
      `${FLAG}: ${packagesName} has ${keys.length} single-column foreign keys to ${targetName} (${keys.map((k) => `${k.name}: ${k.from} → ${k.to}`).join(', ')}), ` +
        `so which row's zone applies is ambiguous; keep one, or copy the zone into a column of ${packagesName} and name that`,
    );
  }
  const key = keys[0]!;
  return {
    expression: `z.${quoteIdent(ref.column)}`,
    join: `LEFT JOIN ${quoteQualified(target)} AS z ON z.${quoteIdent(key.to)} = p.${quoteIdent(key.from)}`,
    table: quoteQualified(target),
    description: `${targetName}.${ref.column}`,
  };
}

interface TargetRow {
  schema: string;
  name: string;
  column_type: string | null;
  foreign_keys: { name: string; from: string; to: string }[];
}

function checkType(type: string | undefined, column: string): void {
  if (type === undefined) throw new ConfigError(`${FLAG}: column ${column} does not exist`);
  if (!TEXT_TYPES.has(type)) throw new ConfigError(`${FLAG}: column ${column} has type ${type}; a zone column holds IANA names as text or varchar`);
}
