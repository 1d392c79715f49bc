// Whether one of the migration's indexes is there and usable. An interrupted CREATE INDEX
// CONCURRENTLY leaves an INVALID index that the planner ignores.
import type { Queryable } from '../db/resources.js';
import { quoteIdent, quoteQualified } from '../table/identifiers.js';
import { indexName, truncatedIndexName, type IndexSpec } from './migration-sql.js';
import { Params } from '../db/params.js';

export type IndexState = 'valid' | 'invalid' | 'missing';

export interface FoundIndex {
  /** The index found, or the name migrate gives it when `state` is missing. */
  name: string;
  state: IndexState;
}

export async function indexState(client: Queryable, schema: string, name: string): Promise<IndexState> {
  const { rows } = await client.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid
       FROM pg_class c
       JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.relname = $1::text AND c.relnamespace = to_regnamespace($2::text)`,
    [name, quoteIdent(schema)],
  );
  return rows[0] === undefined ? 'missing' : rows[0].valid ? 'valid' : 'invalid';
}

/**
 * The index of `table` that serves `spec`, found by what it is, not by its name: a btree
 * on exactly the spec's key columns in that order (no expressions, no INCLUDE columns, so a
 * partition's index can be attached to the parent's) with the spec's predicate. A DBA's
 * index under another name counts, and so does one an older version named
 * `<table><suffix>` that PostgreSQL cut to 63 bytes.
 *
 * A valid one wins, ours first. An invalid plain index counts only under one of our names
 * (migrate rebuilds it; someone else's may be a build still in progress); an invalid index
 * of a partitioned table counts under any name: it only waits for partitions to be attached.
 */
export async function findIndex(client: Queryable, table: { schema: string; name: string }, spec: IndexSpec): Promise<FoundIndex> {
  const name = indexName(table, spec);
  const params = new Params();
  const relation = params.add(quoteQualified(table), 'text');
  const keys = params.add(spec.keys, 'text[]');
  const predicates = params.add(spec.predicates, 'text[]');
  const ours = params.add([name, truncatedIndexName(table, spec)], 'text[]');
  const { rows } = await client.query<{ name: string; valid: boolean }>(
    `SELECT c.relname AS name, i.indisvalid AS valid
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_am am ON am.oid = c.relam
      WHERE i.indrelid = to_regclass(${relation})
        AND i.indislive
        AND am.amname = 'btree'
        AND i.indexprs IS NULL
        AND ARRAY(SELECT a.attname::text
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) = ${keys}
        AND pg_get_expr(i.indpred, i.indrelid) = ANY(${predicates})
        AND (i.indisvalid OR c.relname = ANY(${ours}) OR c.relkind = 'I')
      ORDER BY i.indisvalid DESC, c.relname = ANY(${ours}) DESC, c.relname = ${params.add(name, 'text')} DESC, c.relname
      LIMIT 1`,
    params.values,
  );
  const found = rows[0];
  return found === undefined ? { name, state: 'missing' } : { name: found.name, state: found.valid ? 'valid' : 'invalid' };
}
