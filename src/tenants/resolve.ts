// The tables a list of names and patterns stands for, read from the catalog at the start of
// every run: a tenant created after the crontab was written is in the next run.
import { ConfigError } from '../errors.js';
import { withTransaction, type Queryable } from '../db/resources.js';
import { quoteQualified, type QualifiedName } from '../table/identifiers.js';
import type { TableEntry } from './patterns.js';
import { shardOf, type Shard } from './shard.js';

/** A table to work on: resolved (schema known), or a literal the catalog does not have. */
export interface Target {
  table: QualifiedName;
  /** `"schema"."table"`: the name the shard hash and the advisory lock key are computed from. */
  quoted: string;
  /** `schema.table` for logs, or the name as given when the catalog has no such table. */
  display: string;
  /** False for a literal the catalog does not have: its tick fails as a one-table run would. */
  exists: boolean;
}

export interface Resolved {
  /** Every table the entries match, before sharding. */
  matched: number;
  /** This shard's tables, in name order. */
  targets: Target[];
}

// Patterns: plain and partitioned tables, never their partitions (relispartition), never the
// system schemas. A pattern without a schema matches the tables visible on the search_path, as
// an unqualified name would. Literals: to_regclass, exactly the one-table resolution; what they
// name is checked by the tick itself (a view, a missing table: that table fails, as it does today).
const RESOLVE_SQL = `
SELECT n.nspname::text AS schema, c.relname::text AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   -- nor the scheduler's own history tables, which a schema-wide pattern ('tenant_1.*') would match
   AND c.relname NOT IN ('package_scheduler_state', 'package_scheduler_events')
   AND EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS p(schema_like, name_like)
                WHERE c.relname LIKE p.name_like
                  AND CASE WHEN p.schema_like IS NULL THEN pg_table_is_visible(c.oid) ELSE n.nspname LIKE p.schema_like END)
UNION ALL
SELECT n.nspname::text, coalesce(c.relname::text, l.quoted)
  FROM unnest($3::text[]) AS l(quoted)
  LEFT JOIN pg_class c ON c.oid = to_regclass(l.quoted)
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace`;

interface Row {
  /** NULL: a literal the catalog does not have (name is then the quoted name as given). */
  schema: string | null;
  name: string;
}

export interface ResolveLimits {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export async function resolveTargets(client: Queryable, entries: readonly TableEntry[], shard: Shard | undefined, limits: ResolveLimits): Promise<Resolved> {
  const patterns = entries.filter((e): e is Extract<TableEntry, { kind: 'pattern' }> => e.kind === 'pattern');
  const literals = entries.filter((e): e is Extract<TableEntry, { kind: 'literal' }> => e.kind === 'literal');
  const { rows } = await withTransaction(client, { readOnly: true, ...limits }, () =>
    client.query<Row>(RESOLVE_SQL, [
      patterns.map((p) => p.schemaLike ?? null),
      patterns.map((p) => p.nameLike),
      literals.map((l) => quoteQualified(l.table)),
    ]),
  );
  const byName = new Map<string, Target>();
  const missing = new Map(literals.map((l) => [quoteQualified(l.table), l]));
  for (const row of rows) {
    const target = row.schema === null ? missingTarget(missing.get(row.name)!) : resolvedTarget(row.schema, row.name);
    byName.set(target.quoted, target);
  }
  // Some literal must exist, or some pattern match: a list that names nothing is a configuration error.
  if (![...byName.values()].some((t) => t.exists)) {
    throw new ConfigError(`no table matches --table / SCHEDULER_TABLE (searched: ${entries.map((e) => e.text).join(', ')})`);
  }
  const all = [...byName.values()].sort((a, b) => (a.quoted < b.quoted ? -1 : a.quoted > b.quoted ? 1 : 0));
  const targets = shard === undefined ? all : all.filter((t) => shardOf(t.quoted, shard.count) === shard.index);
  return { matched: all.length, targets };
}

function resolvedTarget(schema: string, name: string): Target {
  const table = { schema, name };
  return { table, quoted: quoteQualified(table), display: `${schema}.${name}`, exists: true };
}

function missingTarget(entry: Extract<TableEntry, { kind: 'literal' }>): Target {
  return { table: entry.table, quoted: quoteQualified(entry.table), display: entry.text, exists: false };
}
