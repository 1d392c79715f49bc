// The migration's partial indexes, for a plain table (CREATE INDEX CONCURRENTLY) or a
// partitioned one (ON ONLY the parent, each partition CONCURRENTLY, then ATTACH PARTITION:
// PostgreSQL's documented way to index a partitioned table without a long lock).
import type { Queryable } from '../db/resources.js';
import { quoteQualified, type QualifiedName } from '../table/identifiers.js';
import { indexState } from './index-state.js';
import { attachIndexSql, createIndexSql, indexName, INDEXES, type IndexSpec } from './migration-sql.js';
import { Params } from '../db/params.js';

type Table = Required<QualifiedName>;

export interface BuiltIndexes {
  created: string[];
  rebuilt: string[];
}

/** `ddl` runs a statement in a short transaction with the migration's lock_timeout. */
export async function ensureIndexes(
  client: Queryable,
  table: Table,
  partitioned: boolean,
  ddl: (sql: string) => Promise<unknown>,
): Promise<BuiltIndexes> {
  const built: BuiltIndexes = { created: [], rebuilt: [] };
  for (const spec of INDEXES) {
    await ensureIndex(client, table, partitioned, spec, ddl, built);
  }
  return built;
}

/** Makes sure `table` has a valid index for `spec`; returns that index's name. */
async function ensureIndex(
  client: Queryable,
  table: Table,
  partitioned: boolean,
  spec: IndexSpec,
  ddl: (sql: string) => Promise<unknown>,
  built: BuiltIndexes,
  existing?: string,
): Promise<string> {
  const name = existing ?? indexName(table, spec);
  const state = await indexState(client, table.schema, name);
  if (state === 'valid') return name;
  if (!partitioned) {
    if (state === 'invalid') {
      // An interrupted CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS would keep.
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified({ schema: table.schema, name })}`);
      built.rebuilt.push(name);
    }
    await client.query(createIndexSql(table, spec, 'concurrently'));
    built.created.push(name);
    return name;
  }
  // Partitioned: an invalid parent index just means some partitions are not attached yet.
  if (state === 'missing') {
    await ddl(createIndexSql(table, spec, 'only'));
    built.created.push(name);
  }
  for (const partition of await partitionsOf(client, table, name)) {
    const child = { schema: partition.schema, name: partition.name };
    const childIndex = await ensureIndex(client, child, partition.partitioned, spec, ddl, built, partition.attached ?? undefined);
    if (partition.attached === null) {
      await ddl(attachIndexSql({ schema: table.schema, name }, { schema: partition.schema, name: childIndex }));
    }
  }
  return name;
}

interface Partition {
  schema: string;
  name: string;
  partitioned: boolean;
  /** The partition's index already attached to the parent's index, if any. */
  attached: string | null;
}

async function partitionsOf(client: Queryable, table: Table, parentIndex: string): Promise<Partition[]> {
  const params = new Params();
  const parent = params.add(quoteQualified(table), 'text');
  const index = params.add(quoteQualified({ schema: table.schema, name: parentIndex }), 'text');
  const { rows } = await client.query<Partition>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind = 'p' AS partitioned,
            (SELECT ci.relname FROM pg_inherits ii
               JOIN pg_index x ON x.indexrelid = ii.inhrelid
               JOIN pg_class ci ON ci.oid = x.indexrelid
              WHERE ii.inhparent = to_regclass(${index}) AND x.indrelid = c.oid) AS attached
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE i.inhparent = to_regclass(${parent})
      ORDER BY n.nspname, c.relname`,
    params.values,
  );
  return rows;
}
